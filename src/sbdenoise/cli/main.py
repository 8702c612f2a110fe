"""Command-line interface: one command per step, each a thin layer over the public API."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from sbdenoise import __version__
from sbdenoise.cli.support import (
    FrameGainOption,
    MethodOption,
    MethodParamOption,
    OffsetOption,
    QuietBarOption,
    console,
    fail,
    parse_params,
    show_warning,
)
from sbdenoise.errors import SbdenoiseError

app = typer.Typer(
    name="sbdenoise",
    help="Simulation-based denoising of ultra-low-dose atomic-resolution TEM images.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        console.print(f"sbdenoise {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print version.")
    ] = False,
) -> None:
    """Simulation-based denoising of ultra-low-dose atomic-resolution TEM images."""
    warnings.showwarning = show_warning


@app.command()
def info(file: Annotated[Path, typer.Argument(help="Image or stack file.")]) -> None:
    """Print shape, dtype, pixel size, units and whether the values look like electron counts."""
    from sbdenoise.fileinfo import describe_file

    try:
        description = describe_file(file)
    except SbdenoiseError as error:
        raise fail(error) from None
    table = Table(show_header=False, box=None)
    for key, value in description.lines():
        table.add_row(f"[bold]{key}[/]", value)
    console.print(table)


@app.command()
def methods() -> None:
    """List the denoising methods with their default parameters and what they need."""
    from sbdenoise.denoise.registry import iter_methods
    from sbdenoise.pretrained import shipped_model_path

    table = Table("method", "kind", "defaults", "needs", "what it does")
    shipped = "shipped model" if shipped_model_path() else "no shipped model yet: --model"
    for method in iter_methods():
        needs = [shipped if word == "model" else word for word in method.needs()]
        defaults = ", ".join(f"{k}={v}" for k, v in method.defaults.items())
        table.add_row(method.name, method.kind, defaults, ", ".join(needs), method.description)
    console.print(table)


@app.command()
def denoise(
    input: Annotated[Path, typer.Argument(help="Frame or stack to denoise (never modified).")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Output file; suffix sets format.")
    ],
    method: MethodOption = "",
    param: MethodParamOption = None,
    pixel_size: Annotated[
        float | None, typer.Option(help="Pixel size in Å, overriding the file's calibration.")
    ] = None,
    gain: FrameGainOption = None,
    offset: OffsetOption = None,
    assume_counts: Annotated[
        bool, typer.Option(help="Use the values as electron counts without checking.")
    ] = False,
    model: Annotated[
        Path | None, typer.Option(help="Model file for --method sbd (default: the shipped one).")
    ] = None,
    quiet: QuietBarOption = False,
) -> None:
    """Denoise a frame or a stack (each frame on its own unless the method is temporal)."""
    from sbdenoise.denoise.api import DEFAULT_METHOD, denoise_file

    try:
        result = denoise_file(
            input,
            output,
            method=method or DEFAULT_METHOD,
            params=parse_params(param),
            pixel_size=pixel_size,
            gain=gain,
            offset=offset,
            assume_counts=assume_counts,
            show_progress=not quiet,
            model=model,
        )
    except (SbdenoiseError, ValueError) as error:
        raise fail(error) from None
    console.print(result.describe(), highlight=False)


@app.command("noise-check")
def noise_check(
    file: Annotated[Path, typer.Argument(help="A stack (best) or a single frame.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="PNG for the plots (default: beside it).")
    ] = None,
) -> None:
    """Estimate gain and offset, plot mean-variance and histogram, say whether data are Poisson."""
    from sbdenoise.io import read_image
    from sbdenoise.noise.check import estimate_noise, plot_noise_check

    try:
        micrograph = read_image(file)
        estimate = estimate_noise(micrograph.data)
    except (SbdenoiseError, ValueError) as error:
        raise fail(error) from None
    png = output or Path.cwd() / f"{Path(file).name}.noise-check.png"
    plot_noise_check(estimate, png, title=Path(file).name)
    console.print(estimate.summary(), highlight=False)
    if not estimate.looks_poisson and estimate.conversion_plausible:
        console.print(
            f"To denoise, convert with --gain {estimate.gain:.4g} --offset {estimate.offset:.5g}.",
            highlight=False,
        )
    elif not estimate.looks_poisson and not estimate.fit_from_one_level:
        console.print(
            "The fitted gain and offset do not describe shot noise at a plausible dose: these "
            "values look processed (summed or normalised), not raw frames.",
            highlight=False,
        )
    console.print(f"Plots: {png}", highlight=False)


@app.command()
def demo(
    output_dir: Annotated[
        Path, typer.Option("--output", "-o", help="Folder for the results.")
    ] = Path("demo_output"),
    size: Annotated[int, typer.Option(help="Frame size in pixels.")] = 512,
    method: Annotated[str, typer.Option(help="Denoising method.")] = "",
    seed: Annotated[int, typer.Option(help="Seed of the Poisson noise.")] = 0,
    source: Annotated[
        str,
        typer.Option(help="pt-ceo2 (multislice, ~15 s) or lattice (synthetic, instant)."),
    ] = "pt-ceo2",
    series: Annotated[
        bool,
        typer.Option(help="Also simulate and analyse a 40-frame drifting series (~4 min)."),
    ] = True,
) -> None:
    """Run the main job: a simulated noisy Pt/CeO2 frame, denoised, with a side-by-side PNG;
    then a simulated in-situ series in which one surface column leaves, analysed as a movie."""
    from sbdenoise.demo import run_demo
    from sbdenoise.denoise.api import DEFAULT_METHOD
    from sbdenoise.series.demo import run_series_demo

    try:
        result = run_demo(
            output_dir, size=size, method=method or DEFAULT_METHOD, seed=seed, source=source
        )
    except (SbdenoiseError, ValueError) as error:
        raise fail(error) from None
    console.print(result.denoise.describe(), highlight=False)
    console.print(
        f"PSNR: noisy {result.psnr_raw:.2f} dB (unclipped) -> "
        f"denoised {result.psnr_denoised:.2f} dB (SSIM {result.ssim_denoised:.3f}). "
        f"Figure: {result.figure_path}",
        highlight=False,
    )
    if not series:
        return
    console.print("Series: simulating 40 drifting frames in which one surface column leaves...")
    try:
        movie = run_series_demo(
            output_dir / "series", method=method or DEFAULT_METHOD, source=source, seed=seed
        )
    except (SbdenoiseError, ValueError) as error:
        raise fail(error) from None
    truth, found = movie.truth, movie.result
    console.print(
        f"Series: drift found within {movie.drift_error_rms:.3f} Å rms of the truth; the column "
        f"that leaves at frame {truth.event_frame} was "
        + ("found, with a real verdict" if movie.event_found else "NOT found")
        + f"; {movie.false_events} other real event(s), false (nothing else changed in the "
        "simulation: a 5 % false discovery rate allows about one in twenty); profile r = "
        f"{found.profiles.r_profile:.3f} (noise ceiling {found.profiles.r_ceiling:.3f}). "
        f"Report: {found.files['report_html']}",
        highlight=False,
    )


from sbdenoise.cli import analysis as _analysis  # noqa: E402  (commands register on app)
from sbdenoise.cli import experiment as _experiment  # noqa: E402
from sbdenoise.cli import export as _export  # noqa: E402
from sbdenoise.cli import fit as _fit  # noqa: E402
from sbdenoise.cli import match as _match  # noqa: E402
from sbdenoise.cli import series as _series  # noqa: E402
from sbdenoise.cli import simulate as _simulate  # noqa: E402
from sbdenoise.cli import train as _train  # noqa: E402

for _group in (_analysis, _simulate, _train, _fit, _export, _series, _match, _experiment):
    _group.register(app)

if __name__ == "__main__":
    app()
