# Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
"""Scale-out: two processes (gloo, CPU) run weightless.torch.compress with
DistributedDataParallel retraining; both end with identical weights and write
byte-identical files, and no mask or fixed code moves on either rank."""

import os
import pathlib
import socket
import subprocess
import sys

import torch

import weightless

WORKER = pathlib.Path(__file__).resolve().parent / "ddp_worker.py"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_ranks(tmp_path, *extra, world=2):
    """Runs the ranks to completion: [(exit code, output)] (output in files, so that no
    rank blocks on a full pipe while the others wait for it in a collective)."""
    port = str(free_port())
    env = dict(os.environ, GLOO_SOCKET_IFNAME="lo", OMP_NUM_THREADS="1")
    logs = [open(tmp_path / f"rank{r}.log", "w+") for r in range(world)]
    ranks = [subprocess.Popen([sys.executable, str(WORKER), str(r), str(world), port,
                               str(tmp_path), *extra], env=env, stdout=logs[r],
                              stderr=subprocess.STDOUT, text=True) for r in range(world)]
    results = []
    for p, log in zip(ranks, logs):
        code = p.wait(timeout=300)
        log.seek(0)
        results.append((code, log.read()))
        log.close()
    return results


def test_two_ranks_write_identical_files(tmp_path):
    world = 2
    for r, (code, out) in enumerate(run_ranks(tmp_path, world=world)):
        assert code == 0, f"rank {r} failed:\n{out}"
    files = [(tmp_path / f"rank{r}.wl").read_bytes() for r in range(world)]
    assert files[0] == files[1]
    states = [torch.load(tmp_path / f"rank{r}.pt") for r in range(world)]
    assert states[0].keys() == states[1].keys()
    for key in states[0]:
        if key.endswith("_extra_state"):
            continue
        assert torch.equal(states[0][key], states[1][key]), key
    with weightless.open(tmp_path / "rank0.wl") as f:
        assert [f[n].storage for n in ("conv.weight", "fc1.weight", "fc2.weight")] == [
            "packed-codes", "retrieval", "packed-codes"]
        assert f.metadata["world_size"] == 2 and f.verify() == []


def test_ranks_with_different_calibration_are_refused(tmp_path):
    for r, (code, out) in enumerate(run_ranks(tmp_path, "own-calibration")):
        assert code == 3, f"rank {r}:\n{out}"
        assert "built different tables: give every rank the same calibration batch" in out
