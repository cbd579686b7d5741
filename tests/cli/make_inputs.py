#!/usr/bin/python3
"""Writes the CLI tests' input files into tests/cli/data (run by hand; the outputs are
checked in so that the expected outputs do not depend on NumPy's random generator).

model.safetensors, written here from the safetensors spec with json + NumPy:
  fc1.weight  64x96  F32   already pruned to 320 weights and clustered to 6 values, so
                           wl-encode --keep 320/6144 --clusters 6 stores it exactly
  fc1.bias    64     F32
  fc2.weight  10x64  F16   too small to be encoded by default: stored as float16
  norm.scale  64     BF16  stored as bfloat16
  __metadata__: {"format": "pt", "model": "tiny-mlp"}
conv.npy     8x4x3x3 '<f4' in Fortran order; embed.npy 32x40 '>f4' (big-endian).
f64.npy (float64: stored as float32 with its rounding error shown), empty_between.safetensors
(an empty tensor between two others: valid); with_int.safetensors holds an I64 tensor and one of a dtype this reader does not know (wl-encode must name it and suggest --exclude);
bad/ holds files that wl-encode must refuse with a message naming what is wrong.
"""
import json
import os
import struct
import sys

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
rng = np.random.default_rng(20261128)


def bf16_bits(x):
    """Rounds float32 values to bfloat16 (nearest even) and returns the uint16 bits."""
    bits = x.astype("<f4").view("<u4").astype(np.uint64)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype("<u2")


def write_safetensors(path, tensors, metadata):
    header = {"__metadata__": metadata}
    blobs, offset = [], 0
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": list(shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def write_raw_safetensors(path, header, data):
    """Writes `header` (JSON text, written as given) and `data` as a safetensors file."""
    header = header.encode()
    header += b" " * (-len(header) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header + data)


def write_bad_headers(bad):
    """Headers that once crashed wl-encode (a number beyond double's range), or that two
    readers may read differently (a tensor, metadata key or .npy key given twice)."""
    w = '"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}'
    write_raw_safetensors(os.path.join(bad, "number_overflow.safetensors"),
                          "{" + w + ',"x":22222222222E2222222222222}', bytes(4))
    write_raw_safetensors(os.path.join(bad, "metadata_overflow.safetensors"),
                          '{"__metadata__":{"a":1e999},' + w + "}", bytes(4))
    write_raw_safetensors(os.path.join(bad, "duplicate_tensor.safetensors"),
                          "{" + w + "," + w.replace("[0,4]", "[4,8]") + "}", bytes(8))
    write_raw_safetensors(os.path.join(bad, "duplicate_metadata.safetensors"),
                          '{"__metadata__":{"a":"1","a":"2"},' + w + "}", bytes(4))
    with open(os.path.join(bad, "duplicate_key.npy"), "wb") as f:
        header = "{'descr': '<f4', 'fortran_order': False, 'shape': (), 'shape': (1,), }"
        header += " " * (-(len(header) + 11) % 64) + "\n"
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + bytes(4))


def main():
    fc1 = np.zeros(64 * 96, dtype="<f4")
    kept = rng.choice(fc1.size, 320, replace=False)
    values = np.array([-0.75, -0.4, -0.125, 0.1875, 0.5, 0.875], dtype="<f4")
    fc1[kept] = values[rng.integers(0, len(values), kept.size)]
    fc1 = fc1.reshape(64, 96)
    bias = rng.normal(0, 0.1, 64).astype("<f4")
    fc2 = rng.normal(0, 0.3, (10, 64)).astype("<f2")
    scale = bf16_bits(rng.normal(1, 0.05, 64).astype("<f4"))
    write_safetensors(os.path.join(OUT, "model.safetensors"),
                      [("fc1.weight", "F32", fc1.shape, fc1.tobytes()),
                       ("fc1.bias", "F32", bias.shape, bias.tobytes()),
                       ("fc2.weight", "F16", fc2.shape, fc2.tobytes()),
                       ("norm.scale", "BF16", scale.shape, scale.tobytes())],
                      {"format": "pt", "model": "tiny-mlp"})
    conv = np.asfortranarray(rng.normal(0, 0.2, (8, 4, 3, 3)).astype("<f4"))
    np.save(os.path.join(OUT, "conv.npy"), conv)
    np.save(os.path.join(OUT, "embed.npy"), rng.normal(0, 1, (32, 40)).astype(">f4"))

    write_safetensors(os.path.join(OUT, "with_int.safetensors"),
                      [("w", "F32", (32, 40), rng.normal(0, 1, (32, 40)).astype("<f4").tobytes()),
                       ("steps", "I64", (), struct.pack("<q", 1000)),
                       ("scale", "F8_E8M0", (2,), bytes([127, 128]))], {})
    np.save(os.path.join(OUT, "f64.npy"), np.array([[0.1, -0.2], [1e-50, 3.0]]))
    write_safetensors(os.path.join(OUT, "empty_between.safetensors"),
                      [("a", "F32", (4,), np.arange(4, dtype="<f4").tobytes()),
                       ("e", "F32", (0,), b""),
                       ("b", "F32", (4,), np.arange(4, dtype="<f4").tobytes())], {})
    bad = os.path.join(OUT, "bad")
    os.makedirs(bad, exist_ok=True)
    with open(os.path.join(bad, "header_past_end.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", 1000) + b'{"a":')
    with open(os.path.join(bad, "not_json.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", 8) + b"{nope}  ")
    write_safetensors(os.path.join(bad, "size_mismatch.safetensors"),
                      [("w", "F32", (4,), bytes(12))], {})
    with open(os.path.join(bad, "overlap.safetensors"), "wb") as f:
        header = json.dumps({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                             "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}})
        header += " " * (-len(header) % 8)
        f.write(struct.pack("<Q", len(header)) + header.encode() + bytes(24))
    np.save(os.path.join(bad, "f64_overflow.npy"), np.array([1.0, 1e300]))
    with open(os.path.join(bad, "deep_json.safetensors"), "wb") as f:
        header = ('{"__metadata__":' + "[" * 1000 + "]" * 1000 + "}").encode()
        header += b" " * (-len(header) % 8)
        f.write(struct.pack("<Q", len(header)) + header)
    write_bad_headers(bad)
    with open(os.path.join(bad, "truncated.npy"), "wb") as f:
        header = "{'descr': '<f4', 'fortran_order': False, 'shape': (10, 10), }"
        header += " " * (-(len(header) + 11) % 64) + "\n"
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + bytes(100))


if __name__ == "__main__":
    sys.exit(main())
