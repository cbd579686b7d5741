# Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
"""Reading tests/golden/sample.wl: every value against what the C++ writer stored."""

import pathlib

import numpy as np
import pytest

import weightless
from conftest import GOLDEN, MT19937_64, sample_layer

NAMES = ["dense.f32", "bias.f16", "bias.bf16", "w.int8", "scalar", "empty", "fc1", "fc2",
         "fc3", "fc_last"]


def test_mt19937_64_matches_the_standard():
    rng = MT19937_64(5489)
    for _ in range(9999):
        rng()
    assert rng() == 9981545732273789042  # [rand.predef]: the 10000th value


def test_file_description(sample):
    assert sample.format_version == (1, 1)
    assert sample.producer_name == "weightless"
    assert sample.producer_version == "test"
    assert sample.producer == "weightless test"
    assert sample.file_size == GOLDEN.stat().st_size == 2302
    assert sample.path == str(GOLDEN)
    assert sample.names == NAMES
    assert len(sample) == 10
    assert [t.name for t in sample] == NAMES
    assert [t.name for t in sample.tensors] == NAMES
    assert [t.name for t in sample.layers] == ["fc1", "fc2", "fc3", "fc_last"]
    assert sample.metadata == {"architecture": "LeNet-300-100", "epochs": 12,
                               "baseline_accuracy": 0.8912, "retrained": True}
    assert type(sample.metadata["retrained"]) is bool
    assert type(sample.metadata["epochs"]) is int
    assert sample.verify() == []


def test_tensor_descriptions(sample):
    d = sample["dense.f32"]
    assert (d.shape, d.ndim, d.size, d.rows, d.row_size) == ((6, 10), 2, 60, 6, 10)
    assert (d.storage, d.dtype, d.is_layer, d.kind, d.stats, d.retrain) == (
        "dense", "float32", False, None, None, None)
    assert d.clusters == d.K == 0 and d.centroids.size == 0
    assert sample["bias.f16"].dtype == "float16"
    assert sample["bias.bf16"].dtype == "bfloat16"
    assert sample["w.int8"].dtype == "int8"
    assert sample["w.int8"].int8_scale == pytest.approx(0.01)
    assert sample["scalar"].shape == () and sample["scalar"].size == 1
    assert sample["empty"].shape == (0, 7)

    for name, kind, hash in [("fc1", "ribbon", "mix32"), ("fc2", "bloomier", "xxh3"),
                             ("fc3", "ribbon", "xxh3")]:
        t = sample[name]
        assert (t.shape, t.storage, t.kind, t.K, t.clusters, t.t, t.code_bits) == (
            (30, 20), "retrieval", kind, 7, 7, 4, 4)
        assert t.is_layer and t.dtype == "float32"
        assert t.retrieval["kind"] == kind and t.retrieval["seed"] == 42
        assert t.retrieval["hash"] == hash
        assert t.retrieval["shard_count"] >= 1 and t.retrieval["cells"] > 0
        assert t.stats["added_squared_error"] == 0.125
        assert t.retrain == {"encode_order": NAMES.index(name) - 6, "epochs_after": 3,
                             "accuracy_before_encoding": 0.9, "accuracy_after_encoding": 0.8,
                             "accuracy_after_retraining": 0.89}
    last = sample["fc_last"]
    assert (last.storage, last.kind, last.K, last.t, last.retrain) == (
        "packed-codes", None, 3, 2, None)
    assert [r["name"] for r in sample.retrain_history] == ["fc1", "fc2", "fc3"]
    assert sample["fc1"].section["codec"] == "none"
    assert "fc1" in repr(sample["fc1"]) and "ribbon" in repr(sample["fc1"])


def bfloat16(x):
    bits = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return rounded.astype(np.uint32).view(np.float32)


def test_dense_values(sample):
    dense = sample["dense.f32"].decode()
    assert dense.dtype == np.float32 and dense.shape == (6, 10)
    expected = np.sin(np.float32(0.37) * np.arange(60, dtype=np.float32)).reshape(6, 10)
    np.testing.assert_allclose(dense, expected, rtol=0, atol=1e-6)
    flat = dense.reshape(-1)
    # The other dense tensors store the same values in other types (C++'s rounding).
    np.testing.assert_array_equal(sample["bias.f16"].decode(),
                                  flat.astype(np.float16).astype(np.float32))
    np.testing.assert_array_equal(sample["bias.bf16"].decode(), bfloat16(flat))
    q = np.rint(dense / np.float32(0.01)).astype(np.float32)
    np.testing.assert_array_equal(sample["w.int8"].decode(), np.float32(0.01) * q)
    scalar = sample["scalar"].decode()
    assert scalar.shape == () and scalar == 3.25
    assert sample["empty"].decode().shape == (0, 7)


@pytest.mark.parametrize("name,seed", [("fc1", 100), ("fc2", 101)])
def test_retrieval_layers_match_the_cpp_model(sample, name, seed):
    keys, codes, centroids = sample_layer(600, 7, seed)
    t = sample[name]
    np.testing.assert_allclose(t.centroids, centroids, rtol=0, atol=1e-7)
    decoded = t.decode()
    assert decoded.shape == (30, 20) and decoded.dtype == np.float32
    flat = decoded.reshape(-1)
    # Kept weights decode to their centroid exactly.
    np.testing.assert_array_equal(flat[keys], t.centroids[codes - 1])
    assert t.stats["kept"] == len(keys)
    # Pruned ones to 0 or to a centroid (a false positive). The generator counted false
    # positives as non-zero weights minus kept ones (its centroid 6 is 0.0).
    pruned = np.setdiff1d(np.arange(600), keys)
    assert np.isin(flat[pruned], np.append(t.centroids, 0)).all()
    assert np.count_nonzero(flat) - len(keys) == t.stats["false_positives"]
    assert t.stats["false_positive_rate"] == pytest.approx(
        t.stats["false_positives"] / len(pruned))


def test_packed_codes_layer_is_exact(sample):
    keys, codes, _ = sample_layer(50, 3, 7)
    t = sample["fc_last"]
    expected = np.zeros(50, dtype=np.float32)
    expected[keys] = t.centroids[codes - 1]
    np.testing.assert_array_equal(t.decode().reshape(-1), expected)


@pytest.mark.parametrize("name", NAMES)
def test_codes_are_what_decode_reads(sample, name):
    t = sample[name]
    if t.storage == "dense":
        with pytest.raises(weightless.InvalidArgumentError, match="it has no codes"):
            t.codes()
        return
    codes = t.codes()
    assert codes.dtype == np.uint16 and codes.shape == t.shape
    assert codes.max() <= len(t.centroids)
    expected = np.where(codes > 0, t.centroids[np.maximum(codes, 1) - 1], 0).astype(np.float32)
    np.testing.assert_array_equal(t.decode(), expected)
    rows = t.rows
    np.testing.assert_array_equal(t.codes(rows // 3, rows // 3 + 2), codes[rows // 3:rows // 3 + 2])
    with pytest.raises(IndexError):
        t.codes(0, rows + 1)


@pytest.mark.parametrize("name", NAMES)
def test_rows_and_weights_agree_with_decode(sample, name):
    t = sample[name]
    full = t.decode()
    rows = t.rows
    for begin, end in [(0, rows), (0, 0), (rows, rows), (rows // 2, rows), (0, (rows + 1) // 2),
                       (min(1, rows), max(min(1, rows), rows - 1))]:
        part = t.decode_rows(begin, end)
        assert part.dtype == np.float32
        if t.ndim == 0:
            np.testing.assert_array_equal(part, full.reshape(1)[begin:end])
        else:
            assert part.shape == (end - begin,) + t.shape[1:]
            np.testing.assert_array_equal(part, full[begin:end])
    flat = full.reshape(-1)
    for i in range(0, t.size, max(1, t.size // 37)):
        assert t.weight(i) == flat[i]
        if t.ndim > 0:
            index = np.unravel_index(i, t.shape)
            assert t.weight(tuple(int(j) for j in index)) == full[index]
    if t.size:
        assert t.weight(-1) == flat[-1]
    np.testing.assert_array_equal(np.asarray(t), full)
    for threads in (0, 2):
        np.testing.assert_array_equal(t.decode(threads=threads), full)


def test_lookup(sample):
    assert "fc1" in sample and "nope" not in sample and 3 not in sample
    assert sample[0].name == "dense.f32" and sample[-1].name == "fc_last"
    assert sample.get("nope") is None and sample.get("nope", 5) == 5
    assert sample.get("fc2").name == "fc2"
    with pytest.raises(KeyError):
        sample["nope"]
    with pytest.raises(IndexError):
        sample[10]
    with pytest.raises(TypeError):
        sample[1.5]


def test_open_variants_agree(sample):
    expected = sample.to_dict()
    assert list(expected) == NAMES
    data = bytearray(GOLDEN.read_bytes())
    for f in [weightless.open(pathlib.Path(GOLDEN)), weightless.open(str(GOLDEN).encode()),
              weightless.open(GOLDEN, mmap=False), weightless.open_bytes(data),
              weightless.open_bytes(memoryview(bytes(data)))]:
        data[:] = bytes(len(data))  # open_bytes copied the bytes
        got = f.to_dict(threads=2)
        assert list(got) == NAMES
        for name in NAMES:
            np.testing.assert_array_equal(got[name], expected[name])
        assert f.verify() == []
        f.close()
    assert weightless.open_bytes(GOLDEN.read_bytes()).path is None
    assert not weightless.open(GOLDEN, mmap=False).is_mapped
    loaded = weightless.load(GOLDEN)
    np.testing.assert_array_equal(loaded["fc2"], expected["fc2"])


def test_close():
    f = weightless.open(GOLDEN)
    fc1 = f["fc1"]
    kept = fc1.decode()
    with f:
        pass
    assert f.closed
    f.close()  # twice is fine
    assert fc1.name == "fc1" and fc1.shape == (30, 20)  # the description stays
    for call in [fc1.decode, lambda: fc1.decode_rows(0, 1), lambda: fc1.weight(0),
                 lambda: f.metadata, lambda: f["fc1"], f.verify]:
        with pytest.raises(ValueError, match="closed"):
            call()
    assert "closed" in repr(f)
    # A tensor keeps an unclosed file alive after the File object is gone.
    t = weightless.open(GOLDEN)["fc1"]
    np.testing.assert_array_equal(t.decode(), kept)


def test_versions():
    assert weightless.__version__ == weightless.library_version()
    assert weightless.__version__.count(".") == 2


def test_partial_reads_release_and_io_counters(tmp_path):
    rng = np.random.default_rng(4)
    codes = np.where(rng.random((2048, 256)) < 0.04, rng.integers(1, 8, (2048, 256)), 0)
    layer = weightless.encode_codes(codes, np.linspace(-0.3, 0.3, 7, dtype=np.float32))
    path = tmp_path / "rows.wl"
    with weightless.Writer(path) as w:
        w.add_encoded("fc", layer)
    expected = layer.decode()
    stored = None
    with weightless.open(path, mmap=False, partial_reads=True) as f:
        stored = f["fc"].section["stored_bytes"]
        opened = f.bytes_read
        np.testing.assert_array_equal(f["fc"].decode_rows(1000, 1003), expected[1000:1003])
        assert 0 < f.bytes_read - opened < stored / 8  # a shard or two, not the section
        assert f.cached_bytes == 0
        np.testing.assert_array_equal(f["fc"].decode(), expected)  # a whole load, kept
        assert f.cached_bytes == stored
        f.release("fc")
        assert f.cached_bytes == 0
        with pytest.raises(weightless.NotFoundError):
            f.release("nope")
    with weightless.open(path, mmap=False) as f:  # default: the first use loads whole
        f["fc"].decode_rows(0, 1)
        assert f.cached_bytes == stored
        f.release()
        assert f.cached_bytes == 0
    with weightless.open(path) as f:
        f["fc"].decode()
        assert f.bytes_read == 0 and f.cached_bytes == 0  # mapped: used in place
