"""Pieces every CLI module shares: consoles, the one-line error exit, NAME=VALUE parameters."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.console import Console

console = Console()
err_console = Console(stderr=True)


def fail(error: Exception) -> typer.Exit:
    """Print ``error: <message>`` on stderr and return the exit (code 2) to raise."""
    err_console.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


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
