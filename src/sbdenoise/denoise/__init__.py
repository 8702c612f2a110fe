"""Denoising: the API shared by the CLI (:mod:`.api`), the method registry (:mod:`.registry`) and
network inference on the working grid (:mod:`.inference`)."""
