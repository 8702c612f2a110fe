"""sbdenoise: simulation-based denoising of ultra-low-dose atomic-resolution TEM images."""

__version__ = "0.1.0"
