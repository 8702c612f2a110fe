"""Noise: Poisson models and the Anscombe transform (:mod:`.models`), whether a frame holds
electron counts (:mod:`.counts`), and gain and offset from the data (:mod:`.check`)."""
