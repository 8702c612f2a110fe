"""Means of networks in weight space: snapshot averages and interpolation towards a start.

Two uses in the training campaign (``campaign/README.md``):

- the uniform mean of a run's kept snapshots (``scripts/average_snapshots.py``), and
- the interpolation between a fine-tuned network and the network it started from
  (``scripts/interpolate_models.py``), the robust fine-tuning of Wortsman et al. (WiSE-FT,
  CVPR 2022): the weights ``(1 - t) * start + t * end`` of a run and its start often keep most of
  the gain of ``end`` while inheriting properties of ``start`` that the run wore away (here, few
  phantom particles in vacuum). A start narrower than the run (a run that widened it with
  :func:`sbdenoise.nn.widen.widen_unet`) is widened again with the run's seed, which rebuilds the
  run's exact initial weights, so the path is the straight line from where the run began.

Every floating-point tensor (parameters and batch-norm running statistics) is averaged in
float64; integer buffers (batch-norm step counters) are taken from the last network. The mean of
two networks' batch-norm statistics is not the statistics of the mean network: far apart on the
line (v12 and run y at 9,500) the interpolated UNet scores below both ends on validation and draws
phantom particles in every vacuum frame until :func:`recalibrate_batch_norm` measures its own
statistics on training crops (what stochastic weight averaging does after averaging).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence

import torch
from torch import nn

from sbdenoise.errors import InputError
from sbdenoise.nn.blocks import batch_norm_layers
from sbdenoise.nn.unet import UNet
from sbdenoise.nn.widen import widen_unet

__all__ = ["interpolate_unets", "mean_state", "recalibrate_batch_norm"]


def mean_state(
    states: Sequence[Mapping[str, torch.Tensor]], weights: Sequence[float] | None = None
) -> dict[str, torch.Tensor]:
    """Weighted mean of state dicts of one architecture.

    Parameters
    ----------
    states : sequence of mapping
        State dicts (``module.state_dict()``) holding the same tensor names and shapes.
    weights : sequence of float, optional
        One non-negative weight per state, summing to one (default: uniform).

    Returns
    -------
    dict
        The mean state dict: floating-point tensors averaged (computed in float64, returned in
        each tensor's own dtype), other tensors copied from the last state.

    Raises
    ------
    InputError
        If fewer than one state is given, the weights do not match the states or are not a
        convex combination, or the states hold different tensors.
    """
    if not states:
        raise InputError("no state dicts to average")
    if weights is None:
        weights = [1.0 / len(states)] * len(states)
    if len(weights) != len(states):
        raise InputError(f"{len(weights)} weights for {len(states)} state dicts")
    if min(weights) < 0 or abs(sum(weights) - 1.0) > 1e-9:
        raise InputError(f"weights must be non-negative and sum to one, got {list(weights)}")
    reference = states[0]
    for index, state in enumerate(states[1:], start=1):
        if set(state) != set(reference):
            raise InputError(f"state dict {index} holds other tensors than the first")
        for key, value in state.items():
            if value.shape != reference[key].shape:
                raise InputError(
                    f"tensor {key!r} is {tuple(value.shape)} in state dict {index} "
                    f"but {tuple(reference[key].shape)} in the first"
                )
    mean: dict[str, torch.Tensor] = {}
    for key, last in states[-1].items():
        if not last.is_floating_point():
            mean[key] = last.clone()
            continue
        pairs = zip(weights, states, strict=True)
        total = sum(float(weight) * state[key].double() for weight, state in pairs)
        mean[key] = total.to(last.dtype)
    return mean


def interpolate_unets(start: UNet, end: UNet, fraction: float, widen_seed: int = 0) -> nn.Module:
    """The UNet ``(1 - fraction) * start + fraction * end`` in weight space.

    Parameters
    ----------
    start : UNet
        The network a run began from (not modified). When it is narrower than ``end`` it is first
        widened with ``widen_seed`` (which must be the run's own ``seed`` for the path to start at
        the run's initial weights).
    end : UNet
        The trained network (not modified); same scales and bias-free setting as ``start``.
    fraction : float
        Position on the line, 0 (``start``) to 1 (``end``).
    widen_seed : int
        Seed of the new channels when ``start`` is widened.

    Returns
    -------
    torch.nn.Module
        A new network of ``end``'s architecture, in eval mode.

    Raises
    ------
    InputError
        If ``fraction`` is outside [0, 1], or the networks differ in scales, bias-free setting or
        are wider at the start than at the end.
    """
    if not 0.0 <= fraction <= 1.0:
        raise InputError(f"the fraction must be in [0, 1], got {fraction}")
    if (start.scales, start.bias_free) != (end.scales, end.bias_free):
        raise InputError(
            f"cannot interpolate a {start.scales}-scale UNet (bias-free {start.bias_free}) and a "
            f"{end.scales}-scale one (bias-free {end.bias_free})"
        )
    if start.base_channels != end.base_channels:
        start = widen_unet(start, end.base_channels, seed=widen_seed)
    result = copy.deepcopy(end)
    result.load_state_dict(
        mean_state([start.state_dict(), end.state_dict()], [1.0 - fraction, fraction])
    )
    return result.eval()


def recalibrate_batch_norm(network: nn.Module, batches: Iterable[torch.Tensor]) -> int:
    """Replace every batch norm's running statistics by their mean over ``batches``.

    Each batch goes through the network in training mode without gradients; the running mean and
    variance of every :class:`torch.nn.BatchNorm2d` (and the running variance of every
    :class:`~sbdenoise.nn.blocks.BiasFreeBatchNorm2d`, which :func:`torch.optim.swa_utils.update_bn`
    does not know) become the plain average of the batches' statistics. Weights are untouched; the
    network is left in eval mode with its layers' momenta restored.

    Parameters
    ----------
    network : torch.nn.Module
        The network (modified in place).
    batches : iterable of torch.Tensor
        Network inputs, ``(batch, 1, h, w)`` in network units, as in training.

    Returns
    -------
    int
        Number of batches used.

    Raises
    ------
    InputError
        If ``batches`` is empty (the statistics are then left as they were).
    """
    norms = batch_norm_layers(network)
    momenta = [module.momentum for module in norms]
    count = 0
    network.train()
    try:
        with torch.no_grad():
            for count, inputs in enumerate(batches, start=1):
                for module in norms:  # the first batch replaces, then a running plain mean
                    module.momentum = 1.0 / count
                network(inputs)
    finally:
        for module, momentum in zip(norms, momenta, strict=True):
            module.momentum = momentum
        network.eval()
    if count == 0:  # nothing ran: the statistics are as they were
        raise InputError("no batches to measure the batch-norm statistics on")
    return count
