# Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
"""One rank of the DDP test (test_ddp.py): the Weightless procedure on a small model with
DistributedDataParallel retraining inside `retrain`, each rank on its own data.

    ddp_worker.py RANK WORLD_SIZE PORT OUT_DIR [own-calibration]

Writes OUT_DIR/rank<R>.wl (the compressed model) and OUT_DIR/rank<R>.pt (its final
state_dict); exits 1 if a mask or an encoded layer's codes moved during training. With
`own-calibration` each rank calibrates on its own data, which encode must refuse (exit 3).
"""

import sys

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

import weightless.torch as wlt


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc1 = nn.Linear(4 * 6 * 6, 32)
        self.fc2 = nn.Linear(32, 3)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(F.relu(self.conv(x)).flatten(1))))


def shard(rank, n=96):
    g = torch.Generator().manual_seed(100 + rank)  # each rank its own examples
    x = torch.randn(n, 1, 8, 8, generator=g)
    return x, (x[:, 0].sum(dim=(1, 2)) > 0).long() + (x[:, 0, 0].sum(dim=1) > 0).long()


def fixed_state(model):
    """Masks and the codes of encoded layers: what training must not move."""
    out = {}
    for key, value in model.state_dict().items():
        if key.endswith("_mask"):
            out[key] = value.clone()
        if key.endswith(".codes"):
            prefix = key[: -len(".codes")]
            extra = model.state_dict(keep_vars=True).get(prefix + "._extra_state")
            if extra is not None and extra["encoded"] is not None:
                out[key] = value.clone()
    return out


def main():
    rank, world, port, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world)
    torch.manual_seed(rank)  # different initial weights: DDP broadcasts rank 0's
    model = Net()
    x, y = shard(rank)
    moved = []

    def retrain(m, phase, steps=8):
        # The parameter set changes at each step of the procedure: wrap and build the
        # optimizer here, after the step.
        before = fixed_state(m)
        ddp = DistributedDataParallel(m)
        optimizer = torch.optim.SGD(ddp.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3)
        for _ in range(steps):
            optimizer.zero_grad()
            F.cross_entropy(ddp(x), y).backward()
            optimizer.step()
        after = fixed_state(m)
        if any(not torch.equal(before[k], after[k]) for k in before):
            moved.append(str(phase))
        with torch.no_grad():
            correct = (m(x).argmax(dim=1) == y).float().sum()
        dist.all_reduce(correct)
        return float(correct) / (world * len(y))

    retrain(model, "dense", steps=20)
    plan = [("conv.weight", dict(keep=0.5, clusters=4)),
            ("fc1.weight", dict(keep=0.1, clusters=8, t=6)),
            ("fc2.weight", dict(keep=0.4, clusters=4))]
    # The same calibration batch on every rank (here: rank 0's first examples).
    calibration = x[:32] if sys.argv[5:] == ["own-calibration"] else shard(0)[0][:32]
    try:
        wlt.compress(model, plan, retrain, calibration=calibration, prune_rounds=2, seeds=4)
    except RuntimeError as e:
        print(f"rank {rank}: {e}", file=sys.stderr)
        return 3
    wlt.save(model, f"{out}/rank{rank}.wl", {"world_size": world})
    torch.save(model.state_dict(), f"{out}/rank{rank}.pt")
    dist.destroy_process_group()
    if moved:
        print(f"rank {rank}: masks or codes moved in {moved}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
