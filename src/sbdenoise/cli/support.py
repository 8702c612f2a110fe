"""Pieces every CLI module shares: consoles, the one-line error exit, NAME=VALUE parameters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

console = Console()
err_console = Console(stderr=True)

# Options several commands take, declared once.
GainOption = Annotated[
    float | None, typer.Option(help="Detector units per electron of both files (default: counts).")
]
OffsetOption = Annotated[float | None, typer.Option(help="Dark level in detector units.")]
AssumeOption = Annotated[
    bool, typer.Option(help="Use the noisy values as electron counts without checking.")
]
PixelSizeOption = Annotated[
    float | None, typer.Option(help="Pixel size in Å, overriding the files' calibration.")
]
ParamOption = Annotated[
    list[str] | None, typer.Option("--param", "-p", help="Its parameters, NAME=VALUE.")
]
ModelOption = Annotated[
    Path | None, typer.Option(help="Model file of sbd (default: the shipped model).")
]
QuietOption = Annotated[bool, typer.Option(help="No progress bars.")]
QuietBarOption = Annotated[bool, typer.Option(help="No progress bar.")]
MethodOption = Annotated[str, typer.Option(help="Denoising method (see 'sbdenoise methods').")]
MethodParamOption = Annotated[
    list[str] | None, typer.Option("--param", "-p", help="Method parameter NAME=VALUE.")
]
FrameGainOption = Annotated[float | None, typer.Option(help="Detector units per electron.")]


def fail(error: Exception) -> typer.Exit:
    """Print ``error: <message>`` on stderr and return the exit (code 2) to raise."""
    err_console.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


def split_words(values: list[str] | None) -> list[str]:
    """Repeated or comma-separated option values as one list of words (empty when none)."""
    return [word.strip() for value in values or [] for word in value.split(",") if word.strip()]


def parse_params(pairs: list[str] | None) -> dict[str, Any]:
    """Turn ``["sigma=2", "fast=true"]`` into ``{"sigma": 2, "fast": True}`` (JSON values)."""
    params: dict[str, Any] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise typer.BadParameter(f"{pair!r}: expected NAME=VALUE", param_hint="--param")
        name, raw = pair.split("=", 1)
        try:
            value = json.loads(raw.lower() if raw.lower() in ("true", "false", "null") else raw)
        except json.JSONDecodeError:
            value = raw
        params[name.strip()] = value
    return params


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Print library and reader warnings as one readable line, without source locations."""
    err_console.print(f"[yellow]warning:[/] {message}", highlight=False, soft_wrap=True)
