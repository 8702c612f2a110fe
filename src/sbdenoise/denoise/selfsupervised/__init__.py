"""Self-supervised denoisers trained on the input itself: the papers' comparisons for SBD.

``blind-spot``
    Noise2Void (Krull et al., CVPR 2019): a UNet trained on random crops in which about 1 % of
    the pixels are replaced by a random neighbour's value, scored only there (:mod:`.masking`).
``blind-spot-es``
    The same with early stopping on held-out noisy data: the last ``max(1, round(n / 8))``
    frames of a stack (5 of 40), or a random 1/8 of the patches of one frame.
``self2self``
    Self2Self (Quan et al., CVPR 2020): per frame, a UNet with dropout trained on Bernoulli
    samples of that frame; the prediction averages ``n_predictions`` dropout samples.
``udvd``
    Unsupervised deep video denoising (Sheth et al., ICCV 2021) in a simpler form: 5 consecutive
    frames as channels, the centre frame N2V-masked (no blind-spot architecture).

All work on the working grid of the SBD network (0.244 A/px: 4 x 4 blocks of 0.061 A pixels),
on counts divided by the frame's mean count, and train for a wall-clock budget (``minutes``, see
:mod:`.methods` for what it covers). They are reached through the method registry
(:func:`sbdenoise.denoise.registry.prepare`), which holds their defaults.

Implementation choice
---------------------
Our own code, not CAREamics. CAREamics 0.3.5 (the version on the package index when this was
written) implements N2V/N2V2 but requires ``torchvision<=0.26.0``, whose wheel requires
``torch==2.11.0`` (this project pins torch 2.13.0, and torchvision fails to import beside it), and
``lightning`` (imported by ``careamics/__init__.py`` through ``CAREamist``), ``bioimageio-core``,
``zarr`` and ``torchmetrics``; it has neither Self2Self nor UDVD, and installing it would replace
torch.
"""

from sbdenoise.denoise.selfsupervised.masking import bernoulli_mask, mask_spacing, n2v_mask
from sbdenoise.denoise.selfsupervised.methods import (
    SELF_SUPERVISED_METHODS,
    Settings,
    TrainedBlindSpot,
    blind_spot_denoise,
    fit_blind_spot,
    held_out_frames,
    method_settings,
    self2self_denoise,
    settings_from_params,
    setup_method,
    udvd_denoise,
)
from sbdenoise.denoise.selfsupervised.training import BestWeights, TrainReport, train_network

__all__ = [
    "SELF_SUPERVISED_METHODS",
    "BestWeights",
    "Settings",
    "TrainReport",
    "TrainedBlindSpot",
    "bernoulli_mask",
    "blind_spot_denoise",
    "fit_blind_spot",
    "held_out_frames",
    "mask_spacing",
    "method_settings",
    "n2v_mask",
    "self2self_denoise",
    "settings_from_params",
    "setup_method",
    "train_network",
    "udvd_denoise",
]
