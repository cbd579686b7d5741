# Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
"""The large-model check of weightless.torch: VGG-16 (torchvision, 138.36M parameters).

torchvision.models.vgg16(weights=None), randomly initialised (no pretrained weights, no
retraining: this measures time, memory, file size and exactness, not accuracy), then:

  prune   every conv and fc weight by magnitude (weightless.torch.prune), with the kept
          fractions of Han et al. 2015 / Deep Compression's VGG-16 (table KEEP below:
          conv 22-58%, fc6 / fc7 4%, fc8 23%);
  share   every weight (weightless.torch.share): K = 16 for conv, 8 for fc (--conv-k,
          --fc-k), exact 1-D k-means;
  encode  every weight (weightless.torch.encode): ribbon tables, t chosen from K
          (max_false_positive_rate 0.06), `--seeds` seeds per layer (base seed = the layer's
          index), cost 'squared_error' (default) or 'activation' (--cost activation, with a
          random calibration batch of --calibration images);
  save    weightless.torch.save (biases dense float32);
  load    weightless.torch.load_state_dict into a fresh vgg16(), whose outputs on one random
          2x3x224x224 batch must be bitwise identical to the compressed model's.

Printed: each phase's wall time (torch.set_num_threads(--torch-threads), 2 by default), the
resident memory after each phase (VmRSS) and each phase's peak (VmHWM, reset before each
phase through /proc/self/clear_refs when the kernel allows it; the overall peak is the
largest of them, what ru_maxrss reports without the resets) against the target of 3x the
float32 model, the per-layer table and the whole-file ratio against float32 weights and
biases. --json FILE writes all the figures.

    PYTHONPATH=build/release/bindings/python /usr/bin/python3 bench/torch_vgg16.py \
        --output /tmp/vgg16.wl --seeds 2 --threads 0 --json /tmp/vgg16.json

"""

import argparse
import gc
import json
import math
import os
import resource
import sys
import tempfile
import time

import torch
import torchvision

import weightless as wl
import weightless.torch as wlt

# (plain name, layer label, kept fraction): Han et al. 2015, "Learning both Weights and
# Connections for Efficient Neural Networks", Table 5 (VGG-16), the pruning Deep
# Compression (Han et al. 2016) starts from: 7.5% of the weights kept overall.
KEEP = [
    ("features.0.weight", "conv1_1", 0.58),
    ("features.2.weight", "conv1_2", 0.22),
    ("features.5.weight", "conv2_1", 0.34),
    ("features.7.weight", "conv2_2", 0.36),
    ("features.10.weight", "conv3_1", 0.53),
    ("features.12.weight", "conv3_2", 0.24),
    ("features.14.weight", "conv3_3", 0.42),
    ("features.17.weight", "conv4_1", 0.32),
    ("features.19.weight", "conv4_2", 0.27),
    ("features.21.weight", "conv4_3", 0.34),
    ("features.24.weight", "conv5_1", 0.35),
    ("features.26.weight", "conv5_2", 0.29),
    ("features.28.weight", "conv5_3", 0.36),
    ("classifier.0.weight", "fc6", 0.04),
    ("classifier.3.weight", "fc7", 0.04),
    ("classifier.6.weight", "fc8", 0.23),
]

MIB = 1024.0 * 1024.0


# --- Memory --------------------------------------------------------------------------


def _status_kib(*keys):
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in keys:
                out[key] = int(rest.split()[0])
    return out


class Memory:
    """VmRSS after each phase and each phase's peak VmHWM. When /proc/self/clear_refs
    accepts '5' the high-water mark is reset at each phase's start, so a phase's VmHWM is
    its own peak; the overall peak is kept here (the resets lower ru_maxrss too)."""

    def __init__(self, reset=True):
        self.reset = reset and self._try_reset()
        self.overall_kib = _status_kib("VmHWM")["VmHWM"]

    @staticmethod
    def _try_reset():
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            return True
        except OSError:
            return False

    def start(self):
        gc.collect()
        self.overall_kib = max(self.overall_kib, _status_kib("VmHWM")["VmHWM"])
        if self.reset:
            self._try_reset()
        return _status_kib("VmRSS")["VmRSS"]

    def end(self):
        s = _status_kib("VmRSS", "VmHWM")
        self.overall_kib = max(self.overall_kib, s["VmHWM"])
        gc.collect()
        return _status_kib("VmRSS")["VmRSS"], s["VmHWM"]


class Phases:
    def __init__(self, memory):
        self.memory = memory
        self.rows = []

    def run(self, name, fn):
        before = self.memory.start()
        t0 = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - t0
        after, peak = self.memory.end()
        row = {"phase": name, "seconds": seconds, "rss_before_mib": before / 1024.0,
               "rss_after_mib": after / 1024.0, "peak_mib": peak / 1024.0,
               "load_average": os.getloadavg()[0]}
        self.rows.append(row)
        print(f"  {name:<22} {seconds:8.2f} s   rss {before / 1024:7.0f} -> {after / 1024:7.0f} MiB"
              f"   peak {peak / 1024:7.0f} MiB   load {row['load_average']:.2f}", flush=True)
        return result


# --- The benchmark -------------------------------------------------------------------


def _output(model, batch):
    model.eval()
    with torch.no_grad():
        return model(batch)


def _file_table(path):
    """{name: (shape, storage, stored bytes)} of the file's tensors, as a reader sees them."""
    out = {}
    with wl.open(path) as f:
        for t in f:
            out[t.name] = (tuple(t.shape), t.storage, int(t.section["stored_bytes"]))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", default=os.path.join(tempfile.gettempdir(), "vgg16.wl"),
                        help="the .wl file written (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=0,
                        help="encoder threads (0: one per hardware thread)")
    parser.add_argument("--torch-threads", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=2, help="seeds tried per layer")
    parser.add_argument("--conv-k", type=int, default=16)
    parser.add_argument("--fc-k", type=int, default=8)
    parser.add_argument("--cost", choices=["squared_error", "activation"], default="squared_error")
    parser.add_argument("--calibration", type=int, default=2,
                        help="images in the random calibration batch (cost='activation')")
    parser.add_argument("--batch", type=int, default=2, help="images in the check batch")
    parser.add_argument("--json", metavar="FILE", help="writes the figures as JSON")
    parser.add_argument("--no-hwm-reset", action="store_true",
                        help="do not reset VmHWM per phase (then ru_maxrss is the overall peak)")
    parser.add_argument("--keep-file", action="store_true", help="do not delete --output")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.torch_threads)
    memory = Memory(reset=not args.no_hwm_reset)
    phases = Phases(memory)
    imported_kib = _status_kib("VmRSS")["VmRSS"]
    print(f"weightless {wl.__version__}, torch {torch.__version__} ({torch.get_num_threads()} "
          f"threads), torchvision {torchvision.__version__}, {os.cpu_count()} cpus, load "
          f"{'/'.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"rss after imports {imported_kib / 1024:.0f} MiB; VmHWM reset per phase: "
          f"{memory.reset}")

    torch.manual_seed(0)
    model = phases.run("build vgg16", lambda: torchvision.models.vgg16(weights=None))
    params = sum(p.numel() for p in model.parameters())
    float32_bytes = 4 * params
    target_bytes = 3 * float32_bytes
    print(f"vgg16: {params} parameters, float32 {float32_bytes / 1e6:.1f} MB; memory target "
          f"< 3x = {target_bytes / 1e6:.0f} MB ({target_bytes / MIB:.0f} MiB)")
    generator = torch.Generator().manual_seed(1)
    batch = torch.randn(args.batch, 3, 224, 224, generator=generator)
    calibration = None
    if args.cost == "activation":
        calibration = torch.randn(args.calibration, 3, 224, 224, generator=generator)
    dense_out = phases.run("forward dense", lambda: _output(model, batch))

    names = [n for n, _, _ in KEEP]
    labels = {n: l for n, l, _ in KEEP}
    clusters = {n: (args.fc_k if n.startswith("classifier") else args.conv_k) for n in names}
    keep = {n: k for n, _, k in KEEP}
    assert set(names) == {n for n, p in model.named_parameters() if n.endswith("weight")}

    kept = phases.run("prune", lambda: wlt.prune(model, keep))

    share_seconds = {}

    def share_all():
        for n in names:
            t0 = time.perf_counter()
            wlt.share(model, n, clusters[n])
            share_seconds[n] = time.perf_counter() - t0
    phases.run("share", share_all)

    encode_seconds, stats = {}, {}

    def encode_all():
        for index, n in enumerate(names):
            t0 = time.perf_counter()
            stats[n] = wlt.encode(model, n, seeds=args.seeds, cost=args.cost,
                                  calibration=calibration, base_seed=index,
                                  threads=args.threads)
            encode_seconds[n] = time.perf_counter() - t0
    phases.run(f"encode ({args.cost})", encode_all)

    compressed_out = phases.run("forward compressed", lambda: _output(model, batch))
    saved = phases.run("save", lambda: wlt.save(model, args.output,
                                                metadata={"architecture": "vgg16"}))
    model = None  # the compressed model is not needed any more: the file is
    gc.collect()
    fresh = phases.run("fresh vgg16", lambda: torchvision.models.vgg16(weights=None))

    def load():
        fresh.load_state_dict(wlt.load_state_dict(args.output))
    phases.run("load", load)
    loaded_out = phases.run("forward loaded", lambda: _output(fresh, batch))

    identical = torch.equal(compressed_out, loaded_out)
    max_diff = float((compressed_out - loaded_out).abs().max())
    dense_diff = float((compressed_out - dense_out).abs().max())

    # Per-layer table.
    file_tensors = _file_table(args.output)
    layers = []
    header = (f"{'layer':<8} {'shape':<18} {'weights':>10} {'kept':>9} {'keep':>6} {'K':>3} "
              f"{'t':>3} {'storage':>12} {'FPs':>9} {'FP rate':>8} {'bytes':>10} {'ratio':>7} "
              f"{'share s':>7} {'enc s':>6}")
    print("\n" + header)
    for n in names:
        s = stats[n]
        shape = "x".join(str(d) for d in file_tensors[n][0])
        row = {"name": n, "layer": labels[n], "shape": shape, "weights": s["weights"],
               "kept": s["kept"], "keep": keep[n], "K": s["clusters"], "t": s["value_bits"],
               "storage": file_tensors[n][1], "stored_bytes": file_tensors[n][2],
               "false_positives": s["false_positives"],
               "false_positive_rate": s["false_positive_rate"],
               "bytes": math.ceil(s["bits"] / 8), "ratio": s["compression_ratio"],
               "chosen_seed": s["chosen_seed"], "share_seconds": share_seconds[n],
               "encode_seconds": encode_seconds[n]}
        assert row["kept"] == kept[n], (n, row["kept"], kept[n])
        layers.append(row)
        print(f"{labels[n]:<8} {shape:<18} {row['weights']:>10} {row['kept']:>9} "
              f"{100 * keep[n]:>5.0f}% {row['K']:>3} {row['t']:>3} {str(row['storage']):>12} "
              f"{row['false_positives']:>9} {100 * row['false_positive_rate']:>7.3f}% "
              f"{row['stored_bytes']:>10} {row['ratio']:>6.1f}x {share_seconds[n]:>7.2f} "
              f"{encode_seconds[n]:>6.2f}")
    weights = sum(l["weights"] for l in layers)
    kept_total = sum(l["kept"] for l in layers)
    weight_bytes = sum(l["stored_bytes"] for l in layers)
    print(f"{'weights':<8} {'':<18} {weights:>10} {kept_total:>9} "
          f"{100 * kept_total / weights:>5.1f}% {'':>3} {'':>3} {'':>12} "
          f"{sum(l['false_positives'] for l in layers):>9} {'':>8} {weight_bytes:>10} "
          f"{4 * weights / weight_bytes:>6.1f}x")

    file_bytes = saved["file_bytes"]
    assert file_bytes == os.path.getsize(args.output)
    print(f"\nfile {args.output}: {file_bytes} bytes ({file_bytes / 1e6:.2f} MB); float32 weights "
          f"and biases {saved['float32_bytes']} bytes: whole-file ratio {saved['ratio']:.1f}x")
    print(f"outputs of the loaded model vs the compressed model ({args.batch}x3x224x224): "
          f"{'bitwise identical' if identical else 'DIFFER, max |diff| %g' % max_diff}; vs the "
          f"dense model: max |diff| {dense_diff:.3g} (no retraining)")

    print("\n" + f"{'phase':<22} {'seconds':>8} {'rss after':>10} {'peak':>8}  (MiB)")
    total = 0.0
    for r in phases.rows:
        total += r["seconds"]
        print(f"{r['phase']:<22} {r['seconds']:>8.2f} {r['rss_after_mib']:>10.0f} "
              f"{r['peak_mib']:>8.0f}")
    core = [r for r in phases.rows if r["phase"].split()[0] in
            ("prune", "share", "encode", "save", "load")]
    core_seconds = sum(r["seconds"] for r in core)
    overall_kib = max(memory.overall_kib, _status_kib("VmHWM")["VmHWM"])
    ru_maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    within = overall_kib * 1024 < target_bytes
    print(f"{'total':<22} {total:>8.2f}   (prune+share+encode+save+load {core_seconds:.2f} s)")
    print(f"peak resident memory {overall_kib / 1024:.0f} MiB ({overall_kib * 1024 / 1e6:.0f} MB)"
          f" = {overall_kib * 1024 / float32_bytes:.2f}x the float32 model; target < 3x "
          f"({target_bytes / 1e6:.0f} MB): {'MET' if within else 'EXCEEDED'}"
          f"; without the {imported_kib / 1024:.0f} MiB of the imports "
          f"{(overall_kib - imported_kib) * 1024 / float32_bytes:.2f}x")
    print(f"ru_maxrss {ru_maxrss / 1024:.0f} MiB"
          f"{' (since the last VmHWM reset)' if memory.reset else ''}; load average "
          f"{'/'.join(f'{x:.2f}' for x in os.getloadavg())}")

    figures = {
        "versions": {"weightless": wl.__version__, "torch": torch.__version__,
                     "torchvision": torchvision.__version__},
        "options": vars(args), "cpus": os.cpu_count(), "parameters": params,
        "float32_bytes": float32_bytes, "target_bytes": target_bytes,
        "rss_after_imports_mib": imported_kib / 1024, "phases": phases.rows,
        "total_seconds": total, "core_seconds": core_seconds,
        "peak_rss_mib": overall_kib / 1024, "peak_over_float32": overall_kib * 1024 / float32_bytes,
        "within_target": within, "ru_maxrss_mib": ru_maxrss / 1024,
        "file_bytes": file_bytes, "file_float32_bytes": saved["float32_bytes"],
        "file_ratio": saved["ratio"], "weights_bytes": weight_bytes, "kept": kept_total,
        "weights": weights, "outputs_identical": identical, "outputs_max_diff": max_diff,
        "dense_vs_compressed_max_diff": dense_diff, "layers": layers,
        "load_average_end": os.getloadavg(),
    }
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=1)
    if not args.keep_file:
        os.remove(args.output)
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
