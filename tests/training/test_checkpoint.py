"""Checkpoints: pickle-free round trip, atomic writes, exact resumption, kill -9 and rerun."""

from __future__ import annotations

import csv
import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from sbdenoise.training.checkpoint import (
    CHECKPOINT_NAME,
    decode_tree,
    encode_tree,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from sbdenoise.training.trainer import LOG_NAME, run_folder, train
from tests.training.conftest import tiny_cli_options


def _trained_objects(seed: int = 0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3), torch.nn.BatchNorm2d(3))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", patience=0)
    for _ in range(3):
        optimizer.zero_grad()
        model(torch.rand(2, 1, 8, 8)).square().mean().backward()
        optimizer.step()
    scheduler.step(1.0)
    scheduler.step(0.5)  # a plateau: lr reduced, counters moved
    return model, optimizer, scheduler


def test_tree_encoding_round_trip():
    tree = {
        "a": (1, 2.5, "x", None, True),
        "state": {0: {"m": torch.arange(3.0)}, 7: {}},
        "list": [torch.zeros(2, dtype=torch.int64), -math.inf],
    }
    tensors: dict[str, torch.Tensor] = {}
    data = encode_tree(tree, tensors, "t")
    assert all(isinstance(t, torch.Tensor) for t in tensors.values()) and len(tensors) == 2
    back = decode_tree(data, tensors)
    assert back["a"] == tree["a"] and back["list"][1] == -math.inf
    assert set(back["state"]) == {0, 7} and torch.equal(back["state"][0]["m"], torch.arange(3.0))


def test_checkpoint_round_trip_without_pickle(tmp_path):
    model, optimizer, scheduler = _trained_objects()
    path = save_checkpoint(tmp_path / "c.safetensors", model, optimizer, scheduler, {"step": 3})
    with safe_open(str(path), framework="pt") as handle:  # a plain safetensors file
        keys = set(handle.keys())
        assert "sbdenoise" in handle.metadata()
    assert any("exp_avg_sq" in key for key in keys)
    fresh_model, fresh_opt, fresh_sched = _trained_objects(seed=1)
    state = load_checkpoint(path, fresh_model, fresh_opt, fresh_sched)
    assert state == {"step": 3}
    for name, value in model.state_dict().items():
        assert torch.equal(value, fresh_model.state_dict()[name])
    saved, loaded = optimizer.state_dict(), fresh_opt.state_dict()
    assert saved["param_groups"] == loaded["param_groups"]
    for index, moments in saved["state"].items():
        for key, value in moments.items():
            assert torch.equal(value, loaded["state"][index][key])
    assert fresh_sched.state_dict() == scheduler.state_dict()
    assert fresh_opt.param_groups[0]["lr"] == pytest.approx(1e-4)


def test_interrupted_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    model, optimizer, scheduler = _trained_objects()
    path = save_checkpoint(tmp_path / "c.safetensors", model, optimizer, scheduler, {"step": 1})

    def crash(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"torn")
        raise OSError("disk full")

    monkeypatch.setattr("sbdenoise.training.checkpoint.save_file", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, model, optimizer, scheduler, {"step": 2})
    assert read_checkpoint(path)["trainer"] == {"step": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["c.safetensors"]


@pytest.mark.slow
def test_resumed_run_matches_uninterrupted_run(tiny_spec, tmp_path):
    spec = tiny_spec.model_copy(update={"deterministic": True, "steps": 10, "validate_every": 4})
    whole = train(spec, tmp_path / "whole", show_progress=False, threads=1)
    paused = train(spec, tmp_path / "split", show_progress=False, threads=1, stop_at_step=6)
    assert paused.stop_reason == "stop_at_step" and paused.step == 6
    resumed = train(spec, tmp_path / "split", show_progress=False, threads=1)
    assert resumed.resumed_from == 6 and resumed.step == whole.step == 10
    a = read_checkpoint(run_folder(tmp_path / "whole") / CHECKPOINT_NAME)
    b = read_checkpoint(run_folder(tmp_path / "split") / CHECKPOINT_NAME)
    for name, value in a["model"].items():
        assert torch.equal(value, b["model"][name]), name
    for index, moments in a["optimizer"]["state"].items():
        for key, value in moments.items():
            assert torch.equal(value, b["optimizer"]["state"][index][key])
    assert a["trainer"]["best_psnr_db"] == b["trainer"]["best_psnr_db"]
    # the best model file is the same too
    with (
        safe_open(str(whole.model_path), framework="pt") as x,
        safe_open(str(resumed.model_path), framework="pt") as y,
    ):
        for key in x.keys():
            assert torch.equal(x.get_tensor(key), y.get_tensor(key))
    again = train(spec, tmp_path / "split", show_progress=False, threads=1)
    assert again.stop_reason == "already finished" and again.step == 10


@pytest.mark.slow
def test_kill_minus_nine_then_rerun_resumes(tiny_spec, tmp_path):
    model = tmp_path / "killed.safetensors"
    command = [
        sys.executable,
        "-m",
        "sbdenoise",
        "train",
        tiny_spec.dataset,
        "-o",
        str(model),
        *tiny_cli_options(200, 50),
        "--checkpoint-minutes",
        "0.001",
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    checkpoint = run_folder(model) / CHECKPOINT_NAME
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while not checkpoint.exists():
            assert process.poll() is None, process.stdout.read().decode()
            assert time.monotonic() < deadline, "no checkpoint within 90 s"
            time.sleep(0.05)
        time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL
    killed_at = read_checkpoint(checkpoint)["trainer"]["step"]
    assert 0 < killed_at < 200
    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert f"Resuming from step {killed_at}" in rerun.stdout
    assert f"{200 - killed_at} steps in" in rerun.stdout
    final = read_checkpoint(checkpoint)["trainer"]
    assert final["step"] == 200 and final["finished"]
    with open(run_folder(model) / LOG_NAME, newline="") as handle:
        rows = list(csv.DictReader(handle))
    steps = [int(row["step"]) for row in rows]
    assert steps == sorted(set(steps)) and steps[-1] == 200
    assert [int(r["step"]) for r in rows if r["val_psnr_db"]] == [50, 100, 150, 200]
    assert model.exists() and model.with_suffix(".json").exists()


def test_sigterm_writes_a_checkpoint_and_the_rerun_resumes(tiny_spec, tmp_path):
    """A run started in the background ignores Ctrl-C; ``kill PID`` stops it cleanly instead."""
    spec = tiny_spec.model_copy(update={"steps": 100_000, "validate_every": 50})
    model = tmp_path / "terminated.safetensors"
    handler_before = signal.getsignal(signal.SIGTERM)
    timer = threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    try:
        stopped = train(spec, model, show_progress=False, threads=1)
    finally:
        timer.cancel()
    assert signal.getsignal(signal.SIGTERM) is handler_before  # the handler is restored
    assert stopped.stop_reason == "terminated" and 0 < stopped.step < 100_000
    state = read_checkpoint(run_folder(model) / CHECKPOINT_NAME)["trainer"]
    assert state["step"] == stopped.step and not state["finished"]
    resumed = train(spec, model, show_progress=False, threads=1, stop_at_step=stopped.step + 3)
    assert resumed.resumed_from == stopped.step and resumed.step == stopped.step + 3
