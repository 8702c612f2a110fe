"""Two CPU processes with gloo: identical weights on both ranks, files written by rank 0 only."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file

from sbdenoise.training import TrainSpec, run_folder, train
from sbdenoise.training.trainer import LOG_NAME
from tests.training.conftest import tiny_cli_options


def _worker(rank: int, world_size: int, init_file: str, spec_json: str, model: str, out: str):
    """One process of the spawned run; records its final weights and its model-file writes."""
    import sbdenoise.nn.model_file as model_file

    original = model_file.save_model
    calls: list[int] = []

    def counting_save_model(*args, **kwargs):
        calls.append(rank)
        return original(*args, **kwargs)

    model_file.save_model = counting_save_model
    spec = TrainSpec.model_validate_json(spec_json)
    result = train(
        spec,
        model,
        show_progress=False,
        threads=1,
        rank=rank,
        world_size=world_size,
        init_method=f"file://{init_file}",
    )
    state = {k: v.detach().contiguous() for k, v in result.network.state_dict().items()}
    save_file(state, os.path.join(out, f"rank{rank}.safetensors"))
    with open(os.path.join(out, f"rank{rank}.json"), "w") as handle:
        json.dump(
            {"save_model_calls": len(calls), "step": result.step, "psnr": result.best_psnr_db},
            handle,
        )


@pytest.mark.slow
def test_two_gloo_processes_stay_in_sync(tiny_spec, tmp_path):
    spec = tiny_spec.model_copy(update={"steps": 6, "validate_every": 3, "log_every": 1})
    model = tmp_path / "ddp.safetensors"
    mp.spawn(
        _worker,
        args=(2, str(tmp_path / "rendezvous"), spec.model_dump_json(), str(model), str(tmp_path)),
        nprocs=2,
        join=True,
    )
    weights = [load_file(tmp_path / f"rank{r}.safetensors") for r in (0, 1)]
    assert weights[0].keys() == weights[1].keys()
    for name in weights[0]:
        assert torch.equal(weights[0][name], weights[1][name]), name
    # training moved the weights away from the seed's initialisation
    stats = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert stats[0]["step"] == stats[1]["step"] == 6
    assert stats[0]["psnr"] == stats[1]["psnr"]  # validation reduced over both ranks
    assert stats[0]["save_model_calls"] >= 1 and stats[1]["save_model_calls"] == 0
    assert model.exists() and model.with_suffix(".json").exists()
    with open(run_folder(model) / LOG_NAME, newline="") as handle:
        steps = [int(row["step"]) for row in csv.DictReader(handle)]
    assert steps == [1, 2, 3, 4, 5, 6]  # one writer: no duplicated rows


@pytest.mark.slow
def test_torchrun_runs_the_same_command(tiny_spec, tmp_path):
    model = tmp_path / "torchrun.safetensors"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "sbdenoise",
        "train",
        tiny_spec.dataset,
        "-o",
        str(model),
        *tiny_cli_options(4, 2),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 processes (gloo)" in done.stdout
    assert done.stdout.count("Model: ") == 1  # only rank 0 reports
    assert Path(model).exists()
    with open(run_folder(model) / LOG_NAME, newline="") as handle:
        assert [int(row["step"]) for row in csv.DictReader(handle)] == [2, 4]
