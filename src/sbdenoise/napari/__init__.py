"""napari plugin: open microscope files calibrated in Å, denoise, judge columns, probe the network.

Install with ``pip install 'sbdenoise[napari]'``; napari then finds the plugin through the npe2
manifest ``napari.yaml`` (entry point ``napari.manifest``). It contributes

- a reader (:mod:`sbdenoise.napari.reader`) for every format :func:`sbdenoise.io.read_image`
  reads, giving image layers whose ``scale`` is the pixel size in Å (``units`` say so);
- a widget (:mod:`sbdenoise.napari.widget`) that denoises the selected image layer with any
  method of :mod:`sbdenoise.denoise.registry`, through
  :func:`sbdenoise.denoise.api.denoise_micrograph` (the path of ``sbdenoise denoise``), and adds
  the Poisson log-likelihood-ratio map and every candidate column coloured by its verdict
  (:func:`sbdenoise.analysis.trust.judge_frame`, the path of ``sbdenoise likelihood``);
- for the trained network (``sbd``), a click on a pixel that shows the network's equivalent
  linear filter there (:mod:`sbdenoise.analysis.pixel_filter`, as ``sbdenoise explain``).

Only :mod:`sbdenoise.napari.widget` and the tests import napari itself; the other modules build
plain arrays and layer keyword arguments.
"""
