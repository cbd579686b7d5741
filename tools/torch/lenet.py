#!/usr/bin/env python3
# Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
"""lenet.py: wl-train's reference run (tools/wl-train) in PyTorch, through weightless.torch.

LeNet-300-100 or LeNet-5 on an MNIST-format IDX directory: dense training, then
weightless.torch.compress (gradual pruning, sharing, encoding layer by layer with
retraining), a .wl file, and a check that the reloaded file gives bit-identical logits.
Same architectures, initialisation, splits, defaults and learning-rate schedules as wl-train.

  export PYTHONPATH=build/release/bindings/python
  /usr/bin/python3 tools/torch/lenet.py --arch lenet-300-100 --output lenet-300-100.wl
  /usr/bin/python3 tools/torch/lenet.py --arch lenet-5 --output lenet-5.wl --report lenet-5.json
"""

import argparse
import copy
import gzip
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import weightless
import weightless.torch as wlt

# wl-train's TrainOptions: SGD with momentum; weight decay on the weights only (not on
# biases or centroids); centroids take plain steps of CENTROID_LR times their summed
# gradient, unaffected by the phase's learning-rate schedule.
MOMENTUM, WEIGHT_DECAY, CENTROID_LR, BATCH = 0.9, 5e-4, 0.001, 64
# Session::Epochs scales (first -> last epoch, geometric) of each phase, as
# pipeline.cc and layer_encoding.cc pass them.
LR_SCALES = {"dense": (1.0, 0.02), "prune": (0.2, 0.05), "share": (0.1, 0.05),
             "encode": (0.2, 0.02)}
IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "t10k": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


class DataError(Exception):
    pass


# --- Models (tools/wl-train/network.cc) -----------------------------------------------


class LeNet300100(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(784, 300), nn.Linear(300, 100), nn.Linear(100, 10)

    def forward(self, x):
        x = F.relu(self.fc1(x.reshape(x.shape[0], 784)))
        return self.fc3(F.relu(self.fc2(x)))


class LeNet5(nn.Module):
    """Caffe's LeNet: conv 20@5x5, max-pool, conv 50@5x5, max-pool, fc 500, ReLU, fc 10
    (no activation after the convolutions)."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 20, 5), nn.Conv2d(20, 50, 5)
        self.fc1, self.fc2 = nn.Linear(800, 500), nn.Linear(500, 10)

    def forward(self, x):
        x = F.max_pool2d(self.conv1(x.reshape(x.shape[0], 1, 28, 28)), 2)
        x = F.max_pool2d(self.conv2(x), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


# Per architecture: wl-train's defaults (main.cc, ApplyArchitectureDefaults) and the plan
# (layer, kept fraction, K, t; t None: the smallest t within a 6% false-positive rate).
ARCHITECTURES = {
    "lenet-300-100": dict(name="LeNet-300-100", model=LeNet300100, lr=0.05,
                          schedule="geometric", epochs_per_round=2,
                          plan=[("fc1", 0.03, 8, 8), ("fc2", 0.05, 8, 8), ("fc3", 0.20, 8, 10)]),
    "lenet-5": dict(name="LeNet-5", model=LeNet5, lr=0.02, schedule="cubic", epochs_per_round=3,
                    plan=[("conv1", 0.60, 8, None), ("conv2", 0.08, 8, 8), ("fc1", 0.02, 8, 8),
                          ("fc2", 0.10, 8, 10)]),
}


def build(arch, seed):
    """The model with wl-train's initialisation: Xavier uniform a = sqrt(6 / (fan_in +
    out)) where `out` is the output units or channels (not times the kernel area), drawn
    layer by layer from one generator; biases zero."""
    model = ARCHITECTURES[arch]["model"]()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.children():
            w = module.weight
            a = math.sqrt(6.0 / (w[0].numel() + w.shape[0]))
            w.copy_(torch.rand(w.shape, generator=generator) * (2 * a) - a)
            module.bias.zero_()
    return model


def plan_of(arch):
    return [(f"{layer}.weight", dict(keep=keep, clusters=k, **({"t": t} if t else {})))
            for layer, keep, k, t in ARCHITECTURES[arch]["plan"]]


# --- Data (tools/wl-train/idx.cc) -----------------------------------------------------


def read_idx(directory, stem):
    """The bytes of `stem` or `stem.gz` in `directory` (gzip recognised by its magic)."""
    for path in (os.path.join(directory, stem + ".gz"), os.path.join(directory, stem)):
        if os.path.isfile(path):
            break
    else:
        raise DataError(f"missing dataset file '{stem}' (or '{stem}.gz') in {directory}: an "
                        "MNIST-format IDX directory has train-images-idx3-ubyte, "
                        "train-labels-idx1-ubyte, t10k-images-idx3-ubyte and "
                        "t10k-labels-idx1-ubyte")
    try:
        with open(path, "rb") as f:
            data = f.read()
        return path, gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DataError(f"{path}: not a valid gzip or IDX file: {e}")


def load_split(directory, prefix, limit):
    """(images float32 [n, 784] in [0, 1], labels int64 [n]); the first `limit` (0: all)."""
    images_path, images = read_idx(directory, IDX_FILES[prefix][0])
    labels_path, labels = read_idx(directory, IDX_FILES[prefix][1])
    if len(images) < 16 or int.from_bytes(images[:4], "big") != 0x803:
        raise DataError(f"{images_path}: not an IDX image file (magic 0x00000803 expected)")
    if len(labels) < 8 or int.from_bytes(labels[:4], "big") != 0x801:
        raise DataError(f"{labels_path}: not an IDX label file (magic 0x00000801 expected)")
    count, rows, cols = (int.from_bytes(images[i:i + 4], "big") for i in (4, 8, 12))
    if (rows, cols) != (28, 28):
        raise DataError(f"{images_path}: images are {rows}x{cols}; the LeNet models need 28x28")
    if len(images) != 16 + count * 784:
        raise DataError(f"{images_path}: header says {count} images, the file holds "
                        f"{len(images)} bytes")
    if int.from_bytes(labels[4:8], "big") != count or len(labels) != 8 + count:
        raise DataError(f"{labels_path}: label count does not match the {count} images of "
                        f"{images_path}")
    keep = count if limit == 0 else min(limit, count)
    y = np.frombuffer(labels, np.uint8, keep, 8).astype(np.int64)
    if (y > 9).any():
        bad = int(np.argmax(y > 9))
        raise DataError(f"{labels_path}: label {y[bad]} of example {bad} is not 0..9")
    x = np.frombuffer(images, np.uint8, keep * 784, 16).reshape(keep, 784)
    return torch.from_numpy(x.astype(np.float32) / np.float32(255)), torch.from_numpy(y)


def carve_validation(train, count, seed):
    """(train, validation): `count` examples drawn by `seed` move to validation; both keep
    the file's order."""
    n = len(train[1])
    if not 0 < count < n:
        raise DataError(f"--validation: a validation split of {count} examples must be "
                        f"1..{max(n - 1, 0)} (the training file holds {n})")
    chosen = np.zeros(n, dtype=bool)
    chosen[np.random.default_rng(seed).permutation(n)[:count]] = True
    chosen = torch.from_numpy(chosen)
    return (train[0][~chosen], train[1][~chosen]), (train[0][chosen], train[1][chosen])


# --- Training and evaluation ----------------------------------------------------------


@torch.no_grad()
def logits_of(model, images, batch=500):
    was_training = model.training
    model.eval()
    out = torch.cat([model(images[i:i + batch]) for i in range(0, len(images), batch)])
    model.train(was_training)
    return out


def accuracy(model, split):
    """A fraction in [0, 1]."""
    return (logits_of(model, split[0]).argmax(1) == split[1]).double().mean().item()


def optimizer_for(model, lr):
    """SGD over the current parameters (pruning and sharing change them): weights with
    momentum and weight decay, biases with momentum only, centroids with CENTROID_LR and
    neither (network.cc Network::Step)."""
    groups = {"weights": [], "biases": [], "centroids": []}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue  # a shared weight's empty original
        kind = ("centroids" if name.endswith(".centroids") else
                "biases" if name.rpartition(".")[2].startswith("bias") else "weights")
        groups[kind].append(p)
    settings = {"weights": dict(weight_decay=WEIGHT_DECAY),
                "biases": dict(weight_decay=0.0),
                "centroids": dict(lr=CENTROID_LR, momentum=0.0, weight_decay=0.0, fixed=True)}
    return torch.optim.SGD([dict(params=p, **settings[k]) for k, p in groups.items() if p],
                           lr=lr, momentum=MOMENTUM)


class Trainer:
    """wl-train's Session: the splits, one data-order generator for the whole run, and
    Epochs (the learning rate falls geometrically from scale_first to scale_last)."""

    def __init__(self, args, train, validation):
        self.args, self.train, self.validation = args, train, validation
        self.generator = torch.Generator().manual_seed(args.seed ^ 0x5EED)

    def epoch(self, model, optimizer):
        model.train()
        images, labels = self.train
        order = torch.randperm(len(labels), generator=self.generator)
        total = torch.zeros((), dtype=torch.float64)
        for start in range(0, len(order), BATCH):
            idx = order[start:start + BATCH]
            loss = F.cross_entropy(model(images[idx]), labels[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach().double() * len(idx)
        return total.item() / len(order)

    def epochs(self, model, count, label, phase_kind):
        first, last = LR_SCALES[phase_kind]
        optimizer = optimizer_for(model, self.args.lr)
        validation = None
        for e in range(1, count + 1):
            f = (e - 1) / (count - 1) if count > 1 else 0.0
            for group in optimizer.param_groups:
                if not group.get("fixed"):
                    group["lr"] = self.args.lr * first * (last / first) ** f
            start = time.monotonic()
            loss = self.epoch(model, optimizer)
            seconds, validation = time.monotonic() - start, accuracy(model, self.validation)
            print(f"  {f'{label} {e}/{count}':<26} loss {loss:.4f}  validation "
                  f"{100 * validation:6.2f}%  ({seconds:.1f} s)", flush=True)
        return accuracy(model, self.validation) if validation is None else validation


def make_retrain(args, trainer, evaluations, accuracies):
    """The retrain(model, phase) callback of compress: a phase's epochs and schedule."""

    def retrain(model, phase):
        if phase.kind == "prune":
            if phase.round == 1:
                print(f"\n2. gradual pruning ({args.prune_schedule} schedule, {phase.rounds} "
                      f"rounds x {args.epochs_per_round} epochs)")
            v = trainer.epochs(model, args.epochs_per_round, f"prune round {phase.round}", "prune")
            accuracies["pruned"] = v
            return v
        if phase.kind == "share":
            if "pruned" in accuracies:
                print(f"  pruned: validation {100 * accuracies['pruned']:.2f}% "
                      f"({100 * (accuracies['pruned'] - accuracies['dense']):+.2f} points vs dense)")
            print(f"\n3. weight sharing (exact 1-D k-means) and {args.share_epochs} epochs of "
                  f"fine-tuning\n  after clustering: validation "
                  f"{100 * accuracy(model, trainer.validation):.2f}%")
            accuracies["shared"] = trainer.epochs(model, args.share_epochs, "shared fine-tune",
                                                  "share")
            print(f"\n4. encoding (ribbon, {args.seeds} seeds each, {args.cost_name} cost), "
                  f"retraining {args.retrain_epochs} epochs after each (centroids of encoded "
                  "layers keep training)")
            return accuracies["shared"]
        prefix = phase.layer.rpartition(".")[0]
        layer = model.get_submodule(prefix).parametrizations.weight[0].encoded
        st = layer.stats
        print(f"  {prefix:<6} K = {st['clusters']}, {layer.storage}, t = {st['value_bits']}: "
              f"{st['false_positives']} false positives ({100 * st['false_positive_rate']:.3f}%)"
              f": validation {100 * evaluations[-2]:.2f}% -> {100 * evaluations[-1]:.2f}%")
        v = trainer.epochs(model, args.retrain_epochs, f"retrain after {prefix}", "encode")
        return {"accuracy": v, "epochs": args.retrain_epochs}  # the file's retrain record

    return retrain


# --- The run --------------------------------------------------------------------------


def parse_args(argv):
    p = argparse.ArgumentParser(prog="lenet.py", description=__doc__.split("\n\n")[1],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    nonneg = lambda s: _int_at_least(s, 0)
    p.add_argument("--arch", choices=sorted(ARCHITECTURES), default="lenet-300-100")
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist",
                   help="MNIST-format IDX directory (raw or .gz files)")
    p.add_argument("--output", "-o", required=True, help=".wl file to write")
    p.add_argument("--report", help="also write the results as JSON to this file")
    p.add_argument("--seed", type=nonneg, default=1,
                   help="seed of initialisation, validation split, data order and tables")
    p.add_argument("--threads", type=lambda s: _int_at_least(s, 1), default=2)
    p.add_argument("--validation", type=nonneg, default=0,
                   help="training images carved out as the validation split (0: 5000 or a "
                        "sixth of the training file, whichever is smaller)")
    p.add_argument("--limit-train", type=nonneg, default=0, help="first N training images (0: all)")
    p.add_argument("--limit-test", type=nonneg, default=0, help="first N test images (0: all)")
    p.add_argument("--dense-epochs", type=nonneg, default=10)
    p.add_argument("--prune-rounds", type=lambda s: _int_at_least(s, 1), default=5)
    p.add_argument("--epochs-per-round", type=nonneg,
                   help="default 2 for lenet-300-100, 3 for lenet-5")
    p.add_argument("--prune-schedule", choices=["geometric", "cubic"],
                   help="default geometric for lenet-300-100, cubic for lenet-5")
    p.add_argument("--share-epochs", type=nonneg, default=2)
    p.add_argument("--retrain-epochs", type=nonneg, default=4,
                   help="epochs after each encoded layer")
    p.add_argument("--lr", type=float, help="SGD base rate; default 0.05 for lenet-300-100, "
                                            "0.02 for lenet-5")
    p.add_argument("--seeds", type=lambda s: _int_at_least(s, 1), default=8,
                   help="tables tried per layer")
    p.add_argument("--calibration", type=nonneg, default=2048,
                   help="training images measuring input energies for the activation cost "
                        "(0: squared-error cost)")
    p.add_argument("--bias-dtype", choices=["int8", "float16", "bfloat16", "float32"],
                   default="int8", help="how the file stores biases (default int8, as wl-train)")
    args = p.parse_args(argv)
    defaults = ARCHITECTURES[args.arch]
    for key in ("lr", "epochs_per_round"):
        if getattr(args, key) is None:
            setattr(args, key, defaults[key])
    args.prune_schedule = args.prune_schedule or defaults["schedule"]
    if not args.lr > 0:
        p.error(f"--lr: {args.lr} is not a positive learning rate")
    args.cost_name = "activation-weighted" if args.calibration else "squared-error"
    return args


def _int_at_least(text, low):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an integer")
    if value < low:
        raise argparse.ArgumentTypeError(f"{value}: at least {low}")
    return value


def load_data(args):
    """(train, validation, test) as wl-train carves them."""
    if not os.path.isdir(args.data):
        raise DataError(f"--data: {args.data} is not a directory")
    train = load_split(args.data, "train", args.limit_train)
    test = load_split(args.data, "t10k", args.limit_test)
    count = args.validation or min(5000, len(train[1]) // 6)
    train, validation = carve_validation(train, count, args.seed ^ 0xC0FFEE)
    return train, validation, test


def main(argv=None):
    args = parse_args(argv)
    start = time.monotonic()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    out_dir = os.path.dirname(os.path.abspath(args.output))
    try:
        if not os.path.isdir(out_dir):
            raise DataError(f"--output: directory {out_dir} does not exist")
        train, validation, test = load_data(args)
    except DataError as e:
        print(f"lenet.py: {e}", file=sys.stderr)
        return 2
    arch = ARCHITECTURES[args.arch]
    print(f"lenet.py (weightless {weightless.__version__}, torch {torch.__version__}): "
          f"{arch['name']} on {args.data}: {len(train[1])} training, {len(validation[1])} "
          f"validation (carved from the training file) and {len(test[1])} test images")
    model = build(args.arch, args.seed)
    trainer = Trainer(args, train, validation)

    print(f"\n1. dense training ({args.dense_epochs} epochs)")
    accuracies = {"dense": trainer.epochs(model, args.dense_epochs, "dense", "dense")}
    print(f"  dense baseline: validation {100 * accuracies['dense']:.2f}%")
    dense = copy.deepcopy(model)  # its test accuracy is measured once, at the end
    dense_seconds = time.monotonic() - start

    evaluations = []

    def evaluate(m):
        evaluations.append(accuracy(m, validation))
        return evaluations[-1]

    calibration = train[0][:args.calibration] if args.calibration else None
    report = wlt.compress(model, plan_of(args.arch), make_retrain(args, trainer, evaluations,
                                                                    accuracies),
                          calibration=calibration, evaluate=evaluate,
                          prune_rounds=args.prune_rounds, schedule=args.prune_schedule,
                          seeds=args.seeds, cost="activation" if args.calibration else
                          "squared_error", base_seed=args.seed, threads=args.threads)
    dense_dtypes = {"*.bias": args.bias_dtype}
    wlt.round_dense(model, dense_dtypes)  # what the file will hold: the reload is exact
    accuracies["final"] = accuracy(model, validation)
    dense_test, final_test = accuracy(dense, test), accuracy(model, test)

    metadata = {"architecture": arch["name"], "dataset": os.path.basename(os.path.normpath(
        args.data)), "dense_test_accuracy": dense_test, "final_test_accuracy": final_test,
        "dense_validation_accuracy": accuracies["dense"],
        "final_validation_accuracy": accuracies["final"]}
    saved = wlt.save(model, args.output, metadata, dtype=dense_dtypes,
                     producer_name="lenet.py")
    fresh = build(args.arch, args.seed + 1)  # a different init: everything from the file
    fresh.load_state_dict(wlt.load_state_dict(args.output))
    identical = torch.equal(logits_of(fresh, test[0]), logits_of(model, test[0]))
    seconds = time.monotonic() - start

    print(f"\n{report}\n\nbiases stored as {args.bias_dtype}")
    print(f"validation: dense {100 * accuracies['dense']:.2f}%, pruned "
          f"{100 * accuracies.get('pruned', accuracies['dense']):.2f}%, shared "
          f"{100 * accuracies['shared']:.2f}%, final {100 * accuracies['final']:.2f}%")
    print(f"file {args.output}: {saved['file_bytes']} bytes; float32 weights and biases: "
          f"{saved['float32_bytes']} bytes; ratio {saved['ratio']:.1f}x")
    change = 100 * (final_test - dense_test)
    print(f"test (evaluated once): dense {100 * dense_test:.2f}% -> final "
          f"{100 * final_test:.2f}% ({change:+.2f} points)")
    print(f"reloaded from the file: logits on all {len(test[1])} test images "
          f"{'bit-identical to the compressed model' if identical else 'differ: MISMATCH'}")
    print(f"time: dense {dense_seconds:.1f} s, total {seconds:.1f} s")
    if args.report:
        write_report(args, arch, report, saved, accuracies, dense_test, final_test, identical,
                     dense_seconds, seconds, (train, validation, test))
    return 0 if identical else 1


def write_report(args, arch, report, saved, accuracies, dense_test, final_test, identical,
                 dense_seconds, seconds, splits):
    """The JSON report: accuracies in percent, as wl-train's --report."""
    pct = lambda v: None if v is None else round(100 * v, 4)
    layers = [{**{k: v for k, v in l.items() if not k.startswith("accuracy")},
               "validation_before": pct(l["accuracy_before_encoding"]),
               "validation_after_encoding": pct(l["accuracy_after_encoding"]),
               "validation_after_retraining": pct(l["accuracy_after_retraining"])}
              for l in report.layers]
    out = {"architecture": arch["name"], "dataset": args.data,
           "train_examples": len(splits[0][1]), "validation_examples": len(splits[1][1]),
           "test_examples": len(splits[2][1]), **saved,
           "validation": {k: pct(v) for k, v in accuracies.items()},
           "test": {"dense": pct(dense_test), "final": pct(final_test),
                    "change": pct(final_test - dense_test)},
           "options": {k: v for k, v in vars(args).items() if k not in ("output", "report")},
           "phases": [{"phase": p, "validation": pct(v)} for p, v in report.phases],
           "reloaded_identical": identical, "dense_seconds": dense_seconds,
           "seconds": seconds, "layers": layers}
    with open(args.report, "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    sys.exit(main())
