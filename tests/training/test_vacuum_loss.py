"""The vacuum-weighted loss: flat pixels of the noise-free crop count more."""

from __future__ import annotations

import pytest
import torch

from sbdenoise.training.spec import TrainSpec
from sbdenoise.training.vacuum_loss import edge_band, flat_pixels, weighted_crop_mse


def crop_with_vacuum() -> torch.Tensor:
    """One 64 px crop: flat vacuum on top, a lattice of bright columns below (row 32 on)."""
    yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    lattice = 1.0 + 0.3 * torch.cos(2 * torch.pi * xx / 6) * torch.cos(2 * torch.pi * yy / 6)
    image = torch.where(yy >= 32, lattice, torch.ones_like(lattice))
    return image[None, None]


def test_flat_pixels_are_the_vacuum_not_the_lattice():
    clean = crop_with_vacuum()
    flat = flat_pixels(clean)[0, 0]
    assert flat[:28].all()  # vacuum, away from the lattice's edge
    assert not flat[36:].any()  # the lattice varies by 30 %
    # scale-free: the same crop at another dose has the same vacuum
    assert torch.equal(flat_pixels(7.5 * clean), flat_pixels(clean))


def test_an_invented_blob_in_vacuum_costs_more_with_a_vacuum_weight():
    clean = crop_with_vacuum()
    blob = clean.clone()
    blob[0, 0, 10:13, 20:23] += 0.05  # a faint blob drawn in vacuum
    blur = clean.clone()
    blur[0, 0, 40:43, 20:23] += 0.05  # the same error inside the lattice
    plain = [weighted_crop_mse(x, clean, 1.0).item() for x in (blob, blur)]
    assert plain[0] == pytest.approx(plain[1], rel=1e-4)
    weighted = [weighted_crop_mse(x, clean, 10.0).item() for x in (blob, blur)]
    assert weighted[0] > 5 * weighted[1]
    # weights sum to one per crop: a uniform error keeps its value
    uniform = clean + 0.01
    assert weighted_crop_mse(uniform, clean, 10.0).item() == pytest.approx(1e-4, rel=1e-4)
    with pytest.raises(ValueError, match="vacuum_weight"):
        TrainSpec(dataset="x", vacuum_weight=0.5)


def test_the_edge_band_is_the_lattice_next_to_the_vacuum():
    clean = crop_with_vacuum()
    flat = flat_pixels(clean)
    band = edge_band(flat, 6)[0, 0]
    rows = band.any(dim=1).nonzero().flatten()
    # the band starts where the vacuum stops and reaches 6 px into what is not flat
    first_not_flat = int((~flat[0, 0]).any(dim=1).nonzero()[0])
    assert int(rows[0]) == first_not_flat
    assert int(rows[-1]) == first_not_flat + 5
    assert not (band & flat[0, 0]).any()
    assert not edge_band(flat, 0).any()
    # a crop without vacuum has no band
    lattice_only = clean[:, :, 32:, :]
    assert not edge_band(flat_pixels(lattice_only), 6).any()
    with pytest.raises(ValueError, match="width"):
        edge_band(flat, -1)


def test_a_sharpened_fringe_costs_more_with_an_edge_weight():
    clean = crop_with_vacuum()
    first_not_flat = int((~flat_pixels(clean)[0, 0]).any(dim=1).nonzero()[0])
    fringe = clean.clone()
    fringe[0, 0, first_not_flat : first_not_flat + 2, 20:23] += 0.05  # a peak on the edge
    deep = clean.clone()
    deep[0, 0, 56:58, 20:23] += 0.05  # the same error deep in the lattice
    vacuum_only = [weighted_crop_mse(x, clean, 10.0).item() for x in (fringe, deep)]
    assert vacuum_only[0] == pytest.approx(vacuum_only[1], rel=1e-4)
    banded = [weighted_crop_mse(x, clean, 10.0, 10.0, 6).item() for x in (fringe, deep)]
    assert banded[0] > 5 * banded[1]
    # an edge weight of 1 or a width of 0 is the vacuum-weighted loss
    for x in (fringe, deep):
        plain = weighted_crop_mse(x, clean, 10.0).item()
        assert weighted_crop_mse(x, clean, 10.0, 1.0, 6).item() == plain
        assert weighted_crop_mse(x, clean, 10.0, 10.0, 0).item() == plain
    with pytest.raises(ValueError, match="edge_weight"):
        TrainSpec(dataset="x", edge_weight=0.5)


def _best_constant(targets: torch.Tensor, norm: str) -> float:
    """The constant output with the smallest loss over ``targets``, on a 0.01 grid."""
    levels = torch.linspace(0.0, 1.0, 101)
    losses = [weighted_crop_mse(torch.full_like(targets, float(c)), targets, norm=norm).mean()
              for c in levels]  # fmt: skip
    return float(levels[int(torch.stack(losses).argmin())])


@pytest.mark.parametrize("present", [4, 6])
def test_the_absolute_error_draws_a_column_whole_or_not_at_all(present):
    # ten noise-free crops of one site: a column there in `present` of them, vacuum in the rest
    targets = torch.zeros(10, 1, 8, 8)
    targets[:present, 0, 3:5, 3:5] = 1.0
    site = targets[:, :, 3:5, 3:5]
    # the squared error settles at the share of crops with a column (the mean, a faint column),
    # the absolute error at the more likely of the two (the median: the column whole, or none)
    assert _best_constant(site, "l2") == pytest.approx(present / 10, abs=0.011)
    assert _best_constant(site, "l1") == (1.0 if present > 5 else 0.0)
    with pytest.raises(ValueError, match="norm"):
        weighted_crop_mse(site, site, norm="l3")
    with pytest.raises(ValueError, match="loss_norm"):
        TrainSpec(dataset="x", loss_norm="l3")
