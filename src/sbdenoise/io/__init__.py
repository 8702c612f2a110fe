"""Reading and writing microscope images with their calibration."""

from sbdenoise.io.micrograph import Micrograph
from sbdenoise.io.readers import SUPPORTED_READ_SUFFIXES, read_image
from sbdenoise.io.writers import SUPPORTED_WRITE_SUFFIXES, write_image

__all__ = [
    "SUPPORTED_READ_SUFFIXES",
    "SUPPORTED_WRITE_SUFFIXES",
    "Micrograph",
    "read_image",
    "write_image",
]
