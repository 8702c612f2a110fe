"""The training loop shared by the self-supervised methods: budget, schedule, early stopping.

Training runs until the wall-clock budget (``minutes``, measured with :func:`time.perf_counter`
from the first step) is spent or ``max_steps`` steps are done, whichever comes first. Adam's
learning rate follows a cosine from ``learning_rate`` down to a tenth of it over the run's
progress, the larger of the fraction of steps done and the fraction of the budget spent. The
forward pass of training runs under bf16 autocast where the CPU has native bf16
(:func:`sbdenoise.training.precision.resolve_precision`); weights, loss and inference stay fp32.
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from rich import get_console
from rich.progress import Progress
from torch import nn

from sbdenoise.progress import progress_columns
from sbdenoise.training.precision import autocast, resolve_precision

__all__ = ["BestWeights", "TrainReport", "progress_enabled", "train_network"]

#: Environment variable that silences the progress bars (the tests set it).
NO_PROGRESS_ENV = "SBDENOISE_NO_PROGRESS"
#: Validations spread over a run with early stopping.
VALIDATIONS = 16
#: Final learning rate as a fraction of the initial one.
FINAL_LR_FRACTION = 0.1


def progress_enabled() -> bool:
    """True on a terminal unless ``SBDENOISE_NO_PROGRESS`` is set (to a non-empty string)."""
    return not os.environ.get(NO_PROGRESS_ENV) and get_console().is_terminal


@dataclass
class BestWeights:
    """Early-stopping bookkeeping: the weights with the lowest validation loss seen so far.

    Attributes
    ----------
    best_loss : float
        Lowest validation loss offered (``inf`` before the first).
    best_step : int
        Training step at which it was reached (-1 before the first).
    history : list of tuple
        ``(step, loss)`` of every validation.
    """

    best_loss: float = math.inf
    best_step: int = -1
    history: list[tuple[int, float]] = field(default_factory=list)
    _state: dict[str, torch.Tensor] | None = field(default=None, repr=False)

    def update(self, step: int, loss: float, network: nn.Module) -> bool:
        """Record a validation; keep a copy of the weights when ``loss`` is a new minimum.

        Returns
        -------
        bool
            True when the weights were kept (strictly lower loss; a NaN loss never is).
        """
        self.history.append((step, float(loss)))
        if not loss < self.best_loss:
            return False
        self.best_loss = float(loss)
        self.best_step = step
        self._state = copy.deepcopy(network.state_dict())
        return True

    def restore(self, network: nn.Module) -> None:
        """Load the kept weights into ``network`` (nothing happens before the first update)."""
        if self._state is not None:
            network.load_state_dict(self._state)


@dataclass
class TrainReport:
    """What a training run did.

    Attributes
    ----------
    steps : int
        Optimiser steps taken.
    seconds : float
        Wall-clock training time, s (validation included).
    stopped_by : str
        ``"budget"`` or ``"max_steps"``.
    precision : str
        ``"bf16"`` or ``"fp32"`` (the forward pass of training).
    final_loss : float
        Mean training loss of the last 10 % of steps.
    best : BestWeights or None
        Early-stopping record when there was a validation.
    budget_seconds : float
        Wall-clock budget the loop was given, s.
    """

    steps: int
    seconds: float
    stopped_by: str
    precision: str
    final_loss: float
    best: BestWeights | None = None
    budget_seconds: float = math.nan

    def as_dict(self) -> dict[str, object]:
        """Plain numbers for reports."""
        out: dict[str, object] = {
            "steps": self.steps,
            "seconds": round(self.seconds, 2),
            "stopped_by": self.stopped_by,
            "precision": self.precision,
            "final_loss": self.final_loss,
            "budget_seconds": round(self.budget_seconds, 2),
        }
        if self.best is not None:
            out["best_step"] = self.best.best_step
            out["best_validation_loss"] = self.best.best_loss
        return out


def train_network(
    network: nn.Module,
    step_loss: Callable[[nn.Module], torch.Tensor],
    *,
    minutes: float,
    max_steps: int | None,
    learning_rate: float,
    description: str = "training",
    validate: Callable[[nn.Module], float] | None = None,
    show_progress: bool | None = None,
) -> TrainReport:
    """Train ``network`` on self-supervised batches until the budget or the step count is spent.

    Parameters
    ----------
    network : torch.nn.Module
        The network, trained in place (on the CPU).
    step_loss : callable
        ``step_loss(network) -> loss``: draws a batch, runs the network and returns the scalar
        loss (called under autocast; the loop does the backward pass and the step).
    minutes : float
        Wall-clock budget of the loop, minutes (validation included). At least one step is
        taken, even with a budget of 0.
    max_steps : int, optional
        Stop after this many steps even if time is left.
    learning_rate : float
        Initial Adam learning rate.
    description : str
        Label of the progress bar.
    validate : callable, optional
        ``validate(network) -> loss`` on held-out data, called before the first step, then
        each time another ``1 / VALIDATIONS`` of the run is done, and after the last step; the
        weights with the lowest loss are restored at the end (early stopping).
    show_progress : bool, optional
        Show a transient rich progress bar (default: :func:`progress_enabled`).

    Returns
    -------
    TrainReport
    """
    device = torch.device("cpu")
    precision = resolve_precision("auto", device)
    budget = max(60.0 * float(minutes), 0.0)
    optimiser = torch.optim.Adam(network.parameters(), lr=learning_rate)
    best = BestWeights() if validate is not None else None
    show = progress_enabled() if show_progress is None else show_progress
    by_steps = max_steps is not None
    total = max_steps if by_steps else max(1, math.ceil(budget))
    label = description if by_steps else f"{description} (s)"
    losses: list[float] = []
    next_validation = 0.0  # the initial weights are validated too
    step = 0
    stopped_by = "budget"
    start = time.perf_counter()
    with Progress(*progress_columns(), transient=True, disable=not show) as progress:
        task = progress.add_task(label, total=total)
        while True:
            elapsed = time.perf_counter() - start
            fraction = min(elapsed / budget, 1.0) if budget > 0 else 1.0
            if by_steps:
                fraction = max(fraction, step / max_steps)  # type: ignore[operator]
            if by_steps and step >= max_steps:  # type: ignore[operator]
                stopped_by = "max_steps"
                break
            if elapsed >= budget and step > 0:
                break
            if best is not None and validate is not None and fraction >= next_validation:
                best.update(step, validate(network), network)
                while next_validation <= fraction:
                    next_validation += 1.0 / VALIDATIONS
            scale = FINAL_LR_FRACTION + (1.0 - FINAL_LR_FRACTION) * 0.5 * (
                1.0 + math.cos(math.pi * fraction)
            )
            for group in optimiser.param_groups:
                group["lr"] = learning_rate * scale
            network.train()
            with autocast(precision, device):
                loss = step_loss(network)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            losses.append(float(loss.detach()))
            step += 1
            completed = step if by_steps else min(time.perf_counter() - start, budget)
            progress.update(task, completed=completed)
        if best is not None and validate is not None:
            best.update(step, validate(network), network)
            best.restore(network)
    seconds = time.perf_counter() - start
    tail = losses[-max(1, len(losses) // 10) :]
    final = float(sum(tail) / len(tail)) if tail else math.nan
    return TrainReport(step, seconds, stopped_by, precision, final, best, budget)
