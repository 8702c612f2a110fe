"""Training of the denoisers on simulated data.

Fresh Poisson noise every step on augmented clean crops (:mod:`.data`), Adam with the learning
rate halved on a validation plateau and early stopping (:mod:`.trainer`), pickle-free resumable
checkpoints (:mod:`.checkpoint`), DistributedDataParallel under torchrun (:mod:`.distributed`).
The spec of a run is a :class:`TrainSpec` (:mod:`.spec`).

Examples
--------
>>> from sbdenoise.training import TrainSpec, train          # doctest: +SKIP
>>> spec = TrainSpec(dataset="/data/shipped", steps=20000)     # doctest: +SKIP
>>> result = train(spec, "models/pt_ceo2.safetensors")         # doctest: +SKIP
"""

from __future__ import annotations

from sbdenoise.training.spec import Augmentation, Filters, TrainSpec
from sbdenoise.training.trainer import TrainResult, run_folder, train

__all__ = ["Augmentation", "Filters", "TrainResult", "TrainSpec", "run_folder", "train"]
