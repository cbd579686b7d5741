# Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
"""Writing with weightless.Writer and reading back: encoded layers, plain tensors,
metadata, retraining records, and the writer's atomicity."""

import math

import numpy as np
import pytest

import weightless


def weights(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def kept_mask(w, keep):
    """Magnitude pruning as the library does it: round(keep * n) largest, ties to the
    lower index."""
    flat = np.abs(w.reshape(-1))
    order = np.argsort(-flat, kind="stable")
    mask = np.zeros(flat.size, dtype=bool)
    mask[order[:round(keep * flat.size)]] = True
    return mask


@pytest.mark.parametrize("kind", ["ribbon", "bloomier"])
def test_layer_round_trip(tmp_path, kind):
    path = tmp_path / "model.wl"
    w1 = weights((300, 200), seed=1)
    with weightless.Writer(path, producer_name="pytest", producer_version="1.2") as w:
        stats = w.add_layer("fc1", w1, keep=0.1, clusters=8, t=8, kind=kind, seeds=4,
                            storage="retrieval", threads=2,
                            retrain={"encode_order": 0, "epochs_after": 2,
                                     "accuracy_before_encoding": 0.9,
                                     "accuracy_after_encoding": None,
                                     "accuracy_after_retraining": 0.875})
    assert stats["weights"] == 60000 and stats["kept"] == 6000
    assert stats["clusters"] == 8 and stats["value_bits"] == 8
    assert stats["seeds_tried"] == 4 and stats["chosen_cost"] <= stats["first_seed_cost"]
    assert stats["compression_ratio"] > 10

    with weightless.open(path) as f:
        assert f.producer == "pytest 1.2"
        assert f.verify() == []
        t = f["fc1"]
        assert (t.shape, t.storage, t.kind, t.K, t.t) == ((300, 200), "retrieval", kind, 8, 8)
        assert t.stats["kept"] == 6000
        assert t.stats["false_positives"] == stats["false_positives"]
        assert t.retrain == {"encode_order": 0, "epochs_after": 2,
                             "accuracy_before_encoding": 0.9, "accuracy_after_encoding": None,
                             "accuracy_after_retraining": 0.875}
        assert f.retrain_history == [dict(name="fc1", **t.retrain)]
        decoded = t.decode()

    mask = kept_mask(w1, 0.1)
    flat = decoded.reshape(-1)
    centroids = t.centroids
    assert np.all(np.diff(centroids) > 0)
    # Every kept weight reads back as its nearest centroid, exactly.
    kept = w1.reshape(-1)[mask]
    nearest = centroids[np.argmin(np.abs(kept[:, None] - centroids[None, :]), axis=1)]
    np.testing.assert_array_equal(flat[mask], nearest)
    # Pruned weights read 0 or a centroid; the non-zero ones are the false positives.
    pruned = flat[~mask]
    assert np.isin(pruned, np.append(centroids, 0)).all()
    assert np.count_nonzero(pruned) == stats["false_positives"]
    assert stats["false_positive_rate"] == pytest.approx(
        stats["false_positives"] / pruned.size)


def test_encode_then_add_matches_the_reader(tmp_path):
    w2 = weights((64, 100), seed=2)
    layer = weightless.encode(w2, keep=0.05, clusters=4, max_false_positive_rate=0.05, seeds=2)
    assert layer.shape == (64, 100) and layer.storage == "retrieval" and layer.kind == "ribbon"
    assert layer.K == 4 and layer.t == 7  # smallest t with 4 / 2^t <= 0.05
    assert layer.stats["kept"] == 320
    encoded = layer.decode(threads=1)
    # Deterministic: the same weights and options give the same table.
    again = weightless.encode(w2, keep=0.05, clusters=4, max_false_positive_rate=0.05, seeds=2,
                              threads=1)
    np.testing.assert_array_equal(again.decode(), encoded)

    path = tmp_path / "m.wl"
    with weightless.Writer(path) as w:
        w.add_encoded("fc2", layer, codec="zstd")
        w.add_encoded("fc2.copy", layer)
    with weightless.open(path) as f:
        assert f["fc2"].codec == "zstd" and f["fc2.copy"].codec == "none"
        np.testing.assert_array_equal(f["fc2"].decode(), encoded)
        np.testing.assert_array_equal(f["fc2.copy"].decode_rows(10, 20), encoded[10:20])
        np.testing.assert_array_equal(f["fc2"].centroids, layer.centroids)


def test_mask_and_packed_codes(tmp_path):
    w3 = weights((10, 10), seed=3)
    mask = np.zeros((10, 10), dtype=bool)
    mask[::3, ::2] = True
    path = tmp_path / "m.wl"
    with weightless.Writer(path) as w:
        stats = w.add_layer("exact", w3, mask=mask, clusters=3, storage="packed-codes")
    assert stats["kept"] == mask.sum() and stats["false_positives"] == 0
    with weightless.open(path) as f:
        t = f["exact"]
        assert t.storage == "packed-codes" and t.kind is None and t.K == 3
        decoded = t.decode()
    assert np.all(decoded[~mask] == 0)
    assert np.isin(decoded[mask], t.centroids).all()


def test_small_dense_layer_auto_storage(tmp_path):
    layer = weightless.encode(weights((10, 10), seed=4), keep=0.5, clusters=4)
    assert layer.storage == "packed-codes"  # no larger than a table for a dense layer
    assert layer.kind is None


def bits(a):
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


def test_plain_tensors_are_bit_exact(tmp_path):
    special = np.array([0.0, -0.0, 1.5, -2.25, np.inf, -np.inf, np.nan, 1e-45, 3.4e38],
                       dtype=np.float32)
    w4 = weights((3, 4, 5), seed=5)
    half = w4.astype(np.float16)
    path = tmp_path / "t.wl"
    with weightless.Writer(path) as w:
        w.add_tensor("special", special)
        w.add_tensor("cube", w4, codec="zstd")
        w.add_tensor("from_f64", w4.astype(np.float64))
        w.add_tensor("half", half)  # float16 arrays are stored as float16
        w.add_tensor("half_from_f32", w4, dtype=np.float16)
        w.add_tensor("bf16", w4, dtype="bfloat16")
        w.add_tensor("i8", w4, dtype="int8")
        w.add_tensor("i8_scaled", w4, dtype="int8", int8_scale=0.05)
        w.add_tensor("scalar", np.float32(7.5))
        w.add_tensor("list", [[1, 2], [3, 4]])
        w.add_tensor("empty", np.zeros((0, 3), dtype=np.float32))
        w.add_tensor("strided", w4[:, ::2, 1])
    with weightless.open(path) as f:
        assert [t.dtype for t in f] == ["float32", "float32", "float32", "float16", "float16",
                                        "bfloat16", "int8", "int8", "float32", "float32",
                                        "float32", "float32"]
        assert f.layers == []
        np.testing.assert_array_equal(bits(f["special"].decode()), bits(special))
        np.testing.assert_array_equal(bits(f["cube"].decode()), bits(w4))
        assert f["cube"].codec == "zstd" and f["cube"].shape == (3, 4, 5)
        np.testing.assert_array_equal(bits(f["from_f64"].decode()), bits(w4))
        np.testing.assert_array_equal(f["half"].decode(), half.astype(np.float32))
        np.testing.assert_array_equal(f["half_from_f32"].decode(), half.astype(np.float32))
        bf = f["bf16"].decode()
        assert np.all(bits(bf) & 0xFFFF == 0)
        np.testing.assert_allclose(bf, w4, rtol=2 ** -8)
        scale = np.abs(w4).max() / 127
        assert f["i8"].int8_scale == pytest.approx(scale)
        np.testing.assert_allclose(f["i8"].decode(), w4, rtol=0, atol=scale / 2 * 1.001)
        assert f["i8_scaled"].int8_scale == np.float32(0.05)
        q = np.clip(np.rint(w4 / np.float32(0.05)), -127, 127).astype(np.float32)
        np.testing.assert_array_equal(f["i8_scaled"].decode(), np.float32(0.05) * q)
        # The library's rule, as trainers use it: exactly what the file reads back.
        assert f["i8"].int8_scale == weightless.default_int8_scale(w4)
        for name, dtype, scale in [("i8", "int8", None), ("i8_scaled", "int8", 0.05),
                                   ("bf16", "bfloat16", None), ("half_from_f32", "float16", None),
                                   ("cube", "float32", None)]:
            rounded = weightless.round_to_stored(w4, dtype, int8_scale=scale)
            assert rounded.shape == w4.shape and rounded.dtype == np.float32
            np.testing.assert_array_equal(bits(rounded), bits(f[name].decode()))
        assert f["scalar"].shape == () and f["scalar"].decode() == 7.5
        np.testing.assert_array_equal(f["list"].decode(), [[1, 2], [3, 4]])
        assert f["empty"].decode().shape == (0, 3)
        np.testing.assert_array_equal(f["strided"].decode(), w4[:, ::2, 1])


def test_metadata_round_trip(tmp_path):
    path = tmp_path / "m.wl"
    values = {"s": "LeNet-300-100 – ünïcode", "i": -(1 << 62), "f": 0.1, "t": True,
              "false": False, "np_int": np.int16(-7), "np_float": np.float32(0.5),
              "np_bool": np.bool_(True), "nan": math.nan}
    with weightless.Writer(path) as w:
        for k, v in values.items():
            w.set_metadata(k, v)
        w.set_metadata("i", 12)  # replaces
        assert w.bytes_written > 0
    with weightless.open(path) as f:
        m = f.metadata
    assert list(m) == list(values)
    assert m["s"] == values["s"] and m["i"] == 12 and m["f"] == 0.1
    assert m["t"] is True and m["false"] is False and m["np_bool"] is True
    assert m["np_int"] == -7 and type(m["np_int"]) is int
    assert m["np_float"] == 0.5 and type(m["np_float"]) is float
    assert math.isnan(m["nan"])


def test_abandon_on_exception_leaves_no_file(tmp_path):
    path = tmp_path / "model.wl"
    with pytest.raises(RuntimeError, match="training diverged"):
        with weightless.Writer(path) as w:
            w.add_layer("fc1", weights((50, 40)), keep=0.1, clusters=4)
            w.add_tensor("bias", np.ones(40, dtype=np.float32))
            raise RuntimeError("training diverged")
    assert w.closed
    assert list(tmp_path.iterdir()) == []


def test_abandon_keeps_an_existing_file(tmp_path):
    path = tmp_path / "model.wl"
    with weightless.Writer(path) as w:
        w.add_tensor("old", np.arange(3, dtype=np.float32))
    before = path.read_bytes()
    with pytest.raises(KeyboardInterrupt):
        with weightless.Writer(path) as w:
            w.add_tensor("new", np.arange(5, dtype=np.float32))
            raise KeyboardInterrupt
    assert path.read_bytes() == before
    w = weightless.Writer(path)
    w.add_tensor("newer", np.arange(5, dtype=np.float32))
    del w  # garbage-collected before finish(): abandoned
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.wl"]


def test_finish_inside_the_block(tmp_path):
    path = tmp_path / "m.wl"
    with weightless.Writer(str(path)) as w:
        w.add_tensor("x", np.ones(2))
        assert not path.exists()  # nothing appears before finish()
        w.finish()
        assert path.exists() and w.closed
    assert weightless.open(path).names == ["x"]
    assert "closed" in repr(w) and w.path == str(path)


def test_cost_function_chooses_the_table(tmp_path):
    w5 = weights((40, 50), seed=6)
    calls = []

    def first_row_errors(indices, values):
        assert indices.dtype == np.uint64 and values.dtype == np.float32
        assert indices.shape == values.shape
        calls.append(len(indices))
        return float(np.sum(values[indices < 50] ** 2))

    layer = weightless.encode(w5, keep=0.1, clusters=4, t=4, seeds=5, cost=first_row_errors,
                              threads=2)
    assert len(calls) == 5 and layer.stats["seeds_tried"] == 5
    decoded = layer.decode()
    chosen = float(np.sum(decoded[0][~kept_mask(w5, 0.1).reshape(40, 50)[0]] ** 2))
    assert layer.stats["chosen_cost"] == pytest.approx(chosen, rel=1e-6)
    assert layer.stats["chosen_cost"] <= layer.stats["first_seed_cost"]


def test_default_int8_scale_and_round_to_stored_edges():
    assert weightless.default_int8_scale([0.0, -0.0]) == 1.0
    assert weightless.default_int8_scale([]) == 1.0
    assert weightless.default_int8_scale([1.0, np.nan, -np.inf, -2.54]) == np.float32(2.54) / np.float32(127)
    np.testing.assert_array_equal(weightless.round_to_stored([0.5, 1.5, -900.0], "int8", int8_scale=1.0),
                                  [0.0, 2.0, -127.0])
    with pytest.raises(weightless.InvalidArgumentError, match="int8_scale"):
        weightless.round_to_stored([1.0], "int8", int8_scale=0.0)
    with pytest.raises(ValueError):
        weightless.round_to_stored([1.0], "int4")
