#!/usr/bin/python3
"""Checks a wl-encode -> wl-decode round trip with NumPy and a safetensors reader written
from the safetensors spec (no safetensors package is needed).

usage: check_roundtrip.py DATA_DIR MODEL.wl DECODED.safetensors DECODED_NPY_DIR WL_DUMP

DATA_DIR holds the inputs of make_inputs.py; MODEL.wl was written by
  wl-encode --layer fc1.weight --layer embed --keep fc1.weight=320/6144 --clusters fc1.weight=6
Checks:
  - tensors stored plain are bit-exact in both outputs (float16 / bfloat16 keep their type
    in safetensors; .npy has no bfloat16, so it holds the same values as float32);
  - fc1.weight (already pruned and clustered in the input) decodes exactly at every kept
    weight; every pruned weight decodes to 0 or a centroid, and the number that do not
    decode to 0 is the false-positive count the file records;
  - embed decodes to 0 or its centroids, with kept + false positives non-zero values;
  - wl-dump --json and wl-dump --layer NAME --json agree with the file and the arrays.
"""
import json
import os
import struct
import subprocess
import sys

import numpy as np

DTYPES = {"F32": "<f4", "F16": "<f2", "BF16": "<u2", "I64": "<i8"}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack_from("<Q", data)
    header = json.loads(data[8:8 + n])
    base = 8 + n
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        tensors[name] = (e["dtype"], np.frombuffer(data[base + b:base + end],
                                                   DTYPES[e["dtype"]]).reshape(e["shape"]))
    return tensors, meta


def bf16_to_f32(bits):
    return (bits.astype(np.uint32) << 16).view("<f4")


def main(data_dir, model_wl, decoded_st, npy_dir, wl_dump):
    original, meta = read_safetensors(os.path.join(data_dir, "model.safetensors"))
    decoded, decoded_meta = read_safetensors(decoded_st)
    assert decoded_meta == meta, (decoded_meta, meta)
    original["conv"] = ("F32", np.load(os.path.join(data_dir, "conv.npy")))
    original["embed"] = ("F32", np.load(os.path.join(data_dir, "embed.npy")).astype("<f4"))
    assert list(decoded) == ["fc1.weight", "fc1.bias", "fc2.weight", "norm.scale", "conv",
                             "embed"], list(decoded)

    # Plain tensors: bit-exact, type kept in safetensors.
    for name in ["fc1.bias", "fc2.weight", "norm.scale", "conv"]:
        dtype, want = original[name]
        got_dtype, got = decoded[name]
        assert got_dtype == dtype, (name, got_dtype, dtype)
        assert got.tobytes() == np.ascontiguousarray(want).astype(want.dtype.newbyteorder("<")).tobytes(), name
        from_npy = np.load(os.path.join(npy_dir, name + ".npy"))
        expect = bf16_to_f32(want) if dtype == "BF16" else want
        assert from_npy.dtype == expect.dtype and np.array_equal(from_npy, expect), name

    info = json.loads(subprocess.run([wl_dump, "--json", model_wl], check=True,
                                     capture_output=True, text=True).stdout)
    tensors = {t["name"]: t for t in info["tensors"]}
    assert info["metadata"] == meta, info["metadata"]

    # fc1.weight: kept weights exact, pruned ones 0 or a centroid (false positives).
    want = original["fc1.weight"][1]
    got = decoded["fc1.weight"][1]
    t = tensors["fc1.weight"]
    centroids = np.array(t["centroids"], dtype="<f4")
    kept = want != 0
    assert t["kept"] == int(kept.sum()) == 320, t["kept"]
    assert np.array_equal(got[kept], want[kept]), "a kept weight changed"
    pruned = got[~kept]
    assert np.isin(pruned[pruned != 0], centroids).all()
    assert int((pruned != 0).sum()) == t["false_positives"], t["false_positives"]
    assert np.array_equal(np.load(os.path.join(npy_dir, "fc1.weight.npy")), got)

    # embed: encoded from dense weights; values are 0 or a centroid.
    got = decoded["embed"][1]
    t = tensors["embed"]
    assert np.isin(got[got != 0], np.array(t["centroids"], dtype="<f4")).all()
    assert int((got != 0).sum()) == t["kept"] + t["false_positives"]

    # wl-dump --layer --json agrees with the decoded array.
    for name in ["fc1.weight", "embed", "fc1.bias"]:
        arr = decoded[name][1].astype(np.float64)
        stats = json.loads(subprocess.run([wl_dump, "--json", "--layer", name, model_wl],
                                          check=True, capture_output=True, text=True).stdout)
        assert stats["count"] == arr.size and stats["zeros"] == int((arr == 0).sum()), name
        assert np.isclose(stats["min"], arr.min()) and np.isclose(stats["max"], arr.max()), name
        assert np.isclose(stats["mean"], arr.mean()) and np.isclose(stats["std"], arr.std()), name
        assert sum(e["count"] for e in stats["histogram"]["entries"]) == int((arr != 0).sum())
    print("round trip ok")


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
