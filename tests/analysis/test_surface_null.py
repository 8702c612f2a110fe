"""The surface null: recalibrated surface p-values, its file beside the model, its simulation."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from scipy import ndimage as ndi
from typer.testing import CliRunner

from sbdenoise.analysis.surface_calibration import (
    calibrate_surface_null,
    collect_surface_candidates,
    facing_p_values,
    resample,
    simulate_surface_null,
    spurious_surface_p_values,
    true_column_positions,
)
from sbdenoise.analysis.surface_null import (
    MIN_SPURIOUS,
    SurfaceNull,
    SurfaceNullLevel,
    method_fingerprint,
    sidecar_path,
    surface_null_for,
)
from sbdenoise.analysis.trust import judge_frame
from sbdenoise.cli import app
from sbdenoise.denoise.registry import prepare
from sbdenoise.errors import InputError
from sbdenoise.simulate.store import SimulatedDataset
from sbdenoise.synthetic import synthetic_lattice

PIXEL = 0.061
SIGMA_PX = 6.0


def table_of(prepared, levels):
    return SurfaceNull(
        fingerprint=method_fingerprint(prepared),
        levels=tuple(levels),
        pixel_size=PIXEL,
        region=2.0,
        source="test",
    )


def test_recalibrated_p_values_are_uniform_for_spurious_candidates_the_raw_ones_are_not():
    # spurious surface candidates whose vacuum p-values pile up near zero (the neighbours' tails
    # make them look significant): a table from one sample recalibrates a fresh one to uniform
    rng = np.random.default_rng(0)
    prepared = prepare("gaussian", {"sigma": SIGMA_PX})
    table = table_of(prepared, [SurfaceNullLevel(121.0, np.sort(rng.beta(0.3, 1.0, 4000)), 80)])
    fresh = rng.beta(0.3, 1.0, 4000)
    recalibrated, level = table.p_values(fresh, 121.0)
    assert level is table.levels[0]
    assert np.mean(fresh <= 0.05) > 0.3  # the vacuum test calls a third of them significant
    assert abs(np.mean(recalibrated <= 0.05) - 0.05) < 0.015
    assert np.all(recalibrated >= fresh)  # never more significant than against vacuum alone
    # the exact empirical rule, and NaN kept
    p, _ = table.p_values(np.array([0.0, np.nan, 1.0]), 121.0)
    assert p[0] == pytest.approx(1 / 4001) and np.isnan(p[1]) and p[2] == 1.0


def test_the_nearest_dose_on_a_log_scale_is_used_and_thin_levels_are_not():
    prepared = prepare("gaussian", {"sigma": SIGMA_PX})
    low = SurfaceNullLevel(40.0, np.linspace(0, 1, 200), 10)
    high = SurfaceNullLevel(400.0, np.linspace(0, 0.01, 200), 10)
    thin = SurfaceNullLevel(121.0, np.zeros(MIN_SPURIOUS - 1), 10)
    table = table_of(prepared, [high, thin, low])
    assert [lv.dose_per_area for lv in table.levels] == [40.0, 121.0, 400.0]
    assert table.level_for(110.0) is low  # 121 is nearer but holds too few candidates
    assert table.level_for(150.0) is high  # log(400/150) < log(150/40)
    with pytest.raises(InputError, match="positive"):
        table.level_for(0.0)
    empty = table_of(prepared, [thin])
    p = np.array([0.01, 0.2])
    unchanged, level = empty.p_values(p, 121.0)
    assert level is None and np.array_equal(unchanged, p)


def test_a_table_is_found_beside_its_model_only_for_the_same_model_and_parameters(tmp_path):
    from sbdenoise.pretrained import shipped_model_path

    shipped = shipped_model_path()
    if shipped is None:
        pytest.skip("no shipped model")
    model = tmp_path / "net.safetensors"
    shutil.copy(shipped, model)
    shutil.copy(shipped.with_suffix(".json"), tmp_path / "net.json")
    plain = prepare("sbd", {"ensemble": 1}, model=model)
    ensembled = prepare("sbd", {"ensemble": 8}, model=model)
    assert surface_null_for(plain) is None  # no file yet
    table = table_of(plain, [SurfaceNullLevel(121.0, np.linspace(0, 1, 100), 5)])
    path = table.save(sidecar_path(model))
    assert path == tmp_path / "net.surface-null.json"
    loaded = surface_null_for(plain)
    assert loaded is not None and np.allclose(loaded.levels[0].p_values, np.linspace(0, 1, 100))
    assert surface_null_for(ensembled) is None  # other parameters: another null
    ensembled_table = table_of(ensembled, [SurfaceNullLevel(121.0, np.full(50, 0.5), 5)])
    ensembled_path = ensembled_table.save(sidecar_path(model, ensemble=8))
    assert ensembled_path == tmp_path / "net.ensemble-8.surface-null.json"
    found = surface_null_for(ensembled)
    assert found is not None and found.levels[0].frames == 5 and len(found.levels[0].p_values) == 50
    assert len(surface_null_for(plain).levels[0].p_values) == 100  # each N keeps its own table
    with pytest.raises(InputError, match="ensemble"):
        sidecar_path(model, ensemble=0)
    model.write_bytes(model.read_bytes()[:-4] + b"\0\0\0\0")  # other weights, same name
    assert not loaded.matches(prepare("sbd", {"ensemble": 1}, model=model))


def test_unreadable_tables_are_refused_with_the_file_named(tmp_path):
    bad = tmp_path / "bad.surface-null.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match=r"bad\.surface-null\.json"):
        SurfaceNull.load(bad)
    bad.write_text(json.dumps({"format": 99}))
    with pytest.raises(InputError, match="format 99"):
        SurfaceNull.load(bad)


@pytest.fixture(scope="module")
def lattice_frame():
    lattice = synthetic_lattice((256, 256), pixel_size=PIXEL)
    counts = np.random.default_rng(3).poisson(lattice.expectation).astype(np.float64)
    return counts, ndi.gaussian_filter(counts, SIGMA_PX)


def test_judge_frame_holds_surface_candidates_to_the_surface_null_and_nothing_else(
    lattice_frame, tmp_path
):
    counts, denoised = lattice_frame
    prepared = prepare("gaussian", {"sigma": SIGMA_PX})
    common = dict(method=prepared, cache=tmp_path, show_progress=False)
    alone = judge_frame(counts, denoised, PIXEL, surface_null=None, **common)
    assert any("no usable surface null" in note for note in alone.notes)
    # spurious surface candidates of this "method" as significant as p = 1e-4 .. 0.02
    strict = table_of(prepared, [SurfaceNullLevel(121.0, np.geomspace(1e-4, 0.02, 400), 20)])
    held = judge_frame(counts, denoised, PIXEL, surface_null=strict, **common)
    facing = alone.fdr_class == "surface"
    assert facing.any() and (~facing).any()
    assert np.array_equal(held.p_value[~facing], alone.p_value[~facing], equal_nan=True)
    assert np.all(held.p_value[facing] >= alone.p_value[facing])
    assert np.any(held.p_value[facing] > alone.p_value[facing])
    supported = lambda r, m: int(np.sum((r.verdict == "supported") & m))  # noqa: E731
    assert supported(held, facing) < supported(alone, facing)
    assert supported(held, ~facing) == supported(alone, ~facing)
    assert any("spurious surface candidates" in note for note in held.notes)
    # a table made for another region or statistic is not applied, and the notes say so
    other_region = judge_frame(counts, denoised, PIXEL, surface_null=strict, region=1.5, **common)
    assert any("not used" in note for note in other_region.notes)
    # a table file of another method is refused, not silently used
    other = table_of(prepare("gaussian", {"sigma": 2.0}), strict.levels)
    with pytest.raises(InputError, match="not with the method"):
        judge_frame(counts, denoised, PIXEL, surface_null=other.save(tmp_path / "o.json"), **common)


def test_the_simulated_null_holds_exactly_the_spurious_candidates_facing_the_vacuum(
    smoke_dataset, tmp_path
):
    data = SimulatedDataset(smoke_dataset)
    prepared = prepare("gaussian", {"sigma": SIGMA_PX})
    indices = data.indices(split="test")[:1]
    table = simulate_surface_null(
        prepared, data, indices, doses=[121.0, 40.0], cache=tmp_path, show_progress=False
    )
    assert [lv.dose_per_area for lv in table.levels] == [40.0, 121.0]
    assert table.fingerprint == method_fingerprint(prepared) and table.pixel_size == pytest.approx(
        float(data.params["pixel_size"][indices[0]])
    )
    # redo one frame as the simulation draws it and pick the candidates independently
    index = int(indices[0])
    pixel = table.pixel_size
    clean = data.image(index) * (121.0 * pixel**2 / float(data.params["dose"][index]))
    from sbdenoise.noise.models import sample_poisson

    noisy = sample_poisson(clean, np.random.default_rng([0, index, 0, 121000])).astype(float)
    # the smoke frames hold too little flat vacuum to find: the simulation gives the known rate
    assert "vacuum rate given in 2 frame(s)" in table.source
    result = judge_frame(
        noisy, prepared.denoise_frame(noisy, pixel), pixel, method=prepared, cache=tmp_path,
        show_progress=False, surface_null=None, vacuum_rate=121.0 * pixel**2,
    )  # fmt: skip
    truth = true_column_positions(data, index)
    distance = np.min(
        np.linalg.norm(result.candidates.positions[:, None] - truth[None], axis=2), axis=1
    )
    wanted = (result.fdr_class == "surface") & (distance > 1.0) & np.isfinite(result.p_value)
    assert wanted.any()
    assert np.allclose(np.sort(result.p_value[wanted]), table.levels[1].p_values)
    assert np.allclose(spurious_surface_p_values(result, truth), result.p_value[wanted])
    # the real ones facing the vacuum (what the null costs in power) are kept apart
    spurious, real = facing_p_values(result, truth)
    tested = (result.fdr_class == "surface") & np.isfinite(result.p_value)
    assert np.allclose(spurious, result.p_value[wanted])
    assert len(real) > 0 and np.allclose(real, result.p_value[tested & (distance <= 0.5)])
    sample = collect_surface_candidates(
        prepared, data, indices, doses=[121.0], cache=tmp_path, show_progress=False
    )
    assert np.allclose(sample.real[(121.0, index, 0)], real)
    assert np.allclose(sample.at(121.0), table.levels[1].p_values)
    with pytest.raises(InputError, match="at least one"):
        simulate_surface_null(prepared, data, [], show_progress=False)
    with pytest.raises(InputError, match="positive"):
        simulate_surface_null(prepared, data, indices, doses=[0.0], show_progress=False)


def test_cli_writes_the_table_and_refuses_a_method_without_a_model_file_and_no_output(
    smoke_dataset, tmp_path, monkeypatch
):
    monkeypatch.setenv("SBDENOISE_NULL_CACHE", str(tmp_path / "null"))
    runner = CliRunner()
    out = tmp_path / "g.surface-null.json"
    args = ["surface-null", str(smoke_dataset), "--method", "gaussian", "--param", "sigma=6",
            "--contrast", "all", "--max-images", "1", "--doses", "121", "--quiet"]  # fmt: skip
    result = runner.invoke(app, [*args, "-o", str(out)])
    assert result.exit_code == 0, result.output
    table = SurfaceNull.load(out)
    assert table.levels[0].dose_per_area == 121.0 and table.levels[0].frames == 1
    refused = runner.invoke(app, args)
    assert refused.exit_code == 2 and "no model file" in refused.output
    bad = runner.invoke(app, [*args, "--doses", "a,b", "-o", str(out)])
    assert bad.exit_code == 2 and "comma-separated" in bad.output
    with pytest.raises(InputError, match="no white images"):
        calibrate_surface_null(smoke_dataset, "gaussian", {"sigma": 6}, split="nosuch", output=out)


def test_resampling_keeps_columns_where_they_are_in_angstrom():
    source, target = 0.0580, 0.0610
    yy, xx = np.mgrid[:300, :300] * source
    centre = np.array([7.3, 9.1])  # angstrom
    image = 0.45 + np.exp(-((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) / (2 * 0.3**2))
    out = resample(image, source, target)
    assert out.shape == (285, 285)  # 299 * 0.058 / 0.061 = 284.3: pixels 0..284 inside
    peak = np.array(ndi.center_of_mass(np.clip(out - 0.45, 0, None))) * target
    assert np.allclose(peak, centre, atol=0.01)
    assert out[0, 0] == pytest.approx(0.45)
    assert np.array_equal(resample(image, source, source), image)
