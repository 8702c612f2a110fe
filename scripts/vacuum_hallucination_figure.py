"""Figure: what a network draws in one simulated vacuum frame (campaign/vacuum_hallucination.png).

    .venv/bin/python scripts/vacuum_hallucination_figure.py NAME=MODEL ... -o FIGURE.png

One Poisson vacuum frame (512 px at 0.061 A/px, 0.45 e-/px; ``--seed`` and ``--frame`` choose it)
denoised by each model, on a +-5 % colour scale around the dose, with the candidate columns of the
trust analysis's rule circled.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import typer

from sbdenoise.analysis.candidates import find_candidates
from sbdenoise.denoise.registry import SBD_METHOD, prepare

DOSE, PIXEL, SIDE = 0.45, 0.061, 512


def main(
    models: Annotated[list[str], typer.Argument(help="NAME=MODEL.safetensors, one per panel.")],
    output: Annotated[Path, typer.Option("-o", help="PNG file.")],
    seed: Annotated[int, typer.Option(help="Seed of the vacuum frames.")] = 5,
    frame: Annotated[int, typer.Option(help="Which frame of that seed (0-based).")] = 3,
) -> None:
    """Denoise one vacuum frame with each model and draw the outputs side by side."""
    rng = np.random.default_rng(seed)
    counts = [rng.poisson(DOSE, (SIDE, SIDE)).astype(np.float32) for _ in range(frame + 1)][-1]
    extent = [0, SIDE * PIXEL / 10, SIDE * PIXEL / 10, 0]
    fig, axes = plt.subplots(
        1, len(models) + 1, figsize=(4 * (len(models) + 1), 4.4), constrained_layout=True
    )
    axes[0].imshow(counts, cmap="gray", extent=extent)
    axes[0].set_title(f"vacuum counts, {DOSE} e-/px")
    image = None
    for ax, item in zip(axes[1:], models, strict=True):
        name, _, path = item.partition("=")
        denoised = prepare(SBD_METHOD, None, model=path).denoise_frame(counts, PIXEL)
        found = find_candidates(denoised.astype(np.float64), PIXEL)
        image = ax.imshow(denoised, cmap="magma", vmin=0.95 * DOSE, vmax=1.05 * DOSE, extent=extent)
        if len(found.positions):
            ax.scatter(
                found.positions[:, 1] / 10,
                found.positions[:, 0] / 10,
                s=40,
                facecolors="none",
                edgecolors="cyan",
                linewidths=1,
            )
        ax.set_title(f"{name}: {len(found.positions)} candidates")
    fig.colorbar(image, ax=axes[1:], shrink=0.8, label=f"denoised, e-/px ({DOSE} ± 5 %)")
    for ax in axes:
        ax.set_xlabel("nm")
    axes[0].set_ylabel("nm")
    fig.suptitle(
        f"One simulated vacuum frame ({SIDE} px, {PIXEL} A/px): a phantom particle's outline "
        "(circles: candidate columns, 3 % prominence)"
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=90)
    print(f"wrote {output}")


if __name__ == "__main__":
    typer.run(main)
