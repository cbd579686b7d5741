# Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
"""weightless.prune_by_magnitude, weightless.share_weights, EncodedLayer.with_centroids
and pickling of encoded layers: what trainers outside the library (weightless.torch)
build on."""

import copy
import pickle

import numpy as np
import pytest

import weightless


def test_prune_by_magnitude():
    w = np.array([[3.0, -1.0, 2.0], [0.5, 4.0, -6.0]], dtype=np.float32)
    mask = weightless.prune_by_magnitude(w, 0.5)
    assert mask.dtype == np.uint8 and mask.shape == (2, 3)
    np.testing.assert_array_equal(mask, [[1, 0, 0], [0, 1, 1]])
    ties = weightless.prune_by_magnitude(np.ones(10), 0.3)  # ties go to the lower index
    np.testing.assert_array_equal(ties, [1, 1, 1, 0, 0, 0, 0, 0, 0, 0])
    assert weightless.prune_by_magnitude(w, 0.0).sum() == 0
    assert weightless.prune_by_magnitude(w, 1.0).sum() == 6
    with pytest.raises(weightless.InvalidArgumentError, match="keep"):
        weightless.prune_by_magnitude(w, 1.5)
    with pytest.raises(weightless.InvalidArgumentError, match="index 4"):
        weightless.prune_by_magnitude([0, 1, 2, 3, np.nan], 0.5)


def test_prune_by_magnitude_any_layout_and_dtype():
    # Read in place when float32 and C-contiguous; converted otherwise: the same mask.
    rng = np.random.default_rng(3)
    w = rng.standard_normal((300, 200)).astype(np.float32)
    mask = weightless.prune_by_magnitude(w, 0.05)
    assert mask.sum() == 3000
    assert np.abs(w[mask == 1]).min() >= np.abs(w[mask == 0]).max()
    np.testing.assert_array_equal(weightless.prune_by_magnitude(w.astype(np.float64), 0.05), mask)
    transposed = weightless.prune_by_magnitude(w.T, 0.05)  # not C-contiguous
    assert transposed.shape == (200, 300)
    np.testing.assert_array_equal(transposed, weightless.prune_by_magnitude(w.T.copy(), 0.05))
    np.testing.assert_array_equal(weightless.prune_by_magnitude(w[:, ::2], 0.05),
                                  weightless.prune_by_magnitude(w[:, ::2].copy(), 0.05))
    w_before = w.copy()
    weightless.prune_by_magnitude(w, 0.5)
    np.testing.assert_array_equal(w, w_before)  # the input is only read


def test_share_weights_is_optimal_1d_k_means():
    values = np.array([[1.0, 1.2, 5.0], [5.4, 9.0, 1.1]], dtype=np.float32)
    codes, centroids, error = weightless.share_weights(values, 3)
    assert codes.dtype == np.uint16 and codes.shape == (2, 3)
    np.testing.assert_allclose(centroids, [1.1, 5.2, 9.0], rtol=1e-6)
    np.testing.assert_array_equal(codes, [[1, 1, 2], [2, 3, 1]])
    expected = sum((v - centroids[c - 1]) ** 2 for v, c in zip(values.ravel(), codes.ravel()))
    assert error == pytest.approx(expected, rel=1e-5)
    # The exact optimum is never worse than Lloyd's.
    rng = np.random.default_rng(0)
    many = rng.standard_normal(3000).astype(np.float32)
    optimal = weightless.share_weights(many, 8)[2]
    assert optimal <= weightless.share_weights(many, 8, method="linear")[2]
    with pytest.raises(weightless.InvalidArgumentError, match="65535"):
        weightless.share_weights(many, 0)
    with pytest.raises(weightless.InvalidArgumentError, match="index 2"):
        weightless.share_weights([1.0, 2.0, np.inf], 2)
    with pytest.raises(weightless.InvalidArgumentError, match="unknown cluster method|optimal"):
        weightless.share_weights(many, 2, method="best")


def encoded(storage="retrieval"):
    rng = np.random.default_rng(1)
    codes = np.where(rng.random((40, 50)) < 0.1, rng.integers(1, 5, (40, 50)), 0)
    return weightless.encode_codes(codes, [-0.3, -0.1, 0.1, 0.3], t=5, storage=storage), codes


@pytest.mark.parametrize("storage", ["retrieval", "packed-codes"])
def test_with_centroids_keeps_the_table(tmp_path, storage):
    layer, codes = encoded(storage)
    trained = layer.with_centroids([-0.25, -0.05, 0.15, 0.35], added_squared_error=1.5)
    np.testing.assert_array_equal(trained.codes(), layer.codes())
    table = np.array([0, -0.25, -0.05, 0.15, 0.35], dtype=np.float32)
    np.testing.assert_array_equal(trained.decode(), table[layer.codes()])
    assert trained.stats["added_squared_error"] == 1.5
    assert trained.stats["false_positives"] == layer.stats["false_positives"]
    np.testing.assert_array_equal(layer.centroids, np.float32([-0.3, -0.1, 0.1, 0.3]))  # unchanged
    with weightless.Writer(tmp_path / "m.wl") as w:
        w.add_encoded("fc", trained)
    with weightless.open(tmp_path / "m.wl") as f:
        np.testing.assert_array_equal(f["fc"].decode(), trained.decode())
        assert f["fc"].stats["added_squared_error"] == 1.5
    with pytest.raises(weightless.InvalidArgumentError, match="3 centroids given: the section has K = 4"):
        layer.with_centroids([1, 2, 3])
    with pytest.raises(weightless.InvalidArgumentError, match=r"centroid 2 \(code 3\) is NaN"):
        layer.with_centroids([1, 2, np.nan, 4])


@pytest.mark.parametrize("storage", ["retrieval", "packed-codes"])
def test_encoded_layers_pickle_and_copy(storage):
    layer, _ = encoded(storage)
    again = pickle.loads(pickle.dumps(layer))
    assert again.storage == layer.storage and again.shape == layer.shape
    assert again.stats == layer.stats
    np.testing.assert_array_equal(again.decode(), layer.decode())
    np.testing.assert_array_equal(again.centroids, layer.centroids)
    assert copy.deepcopy(layer) is layer and copy.copy(layer) is layer  # immutable
    state = layer.__reduce_ex__(2)
    assert state is not None
    with pytest.raises(ValueError, match="inconsistent state"):
        weightless.EncodedLayer.__new__(weightless.EncodedLayer).__setstate__(
            ((40, 50), storage, None, b"", np.ones(4, np.float32), layer.stats))
    with pytest.raises(ValueError, match="a state of 7 fields"):
        weightless.EncodedLayer.__new__(weightless.EncodedLayer).__setstate__(((40, 50), storage))
    # States pickled before sections (six fields: table bytes or one uint16 per code)
    # still load.
    fields = layer.__getstate__()
    if storage == "retrieval":
        old = (fields[0], storage, fields[2], b"", fields[3], fields[6])
    else:
        old = (fields[0], storage, None, layer.codes().astype("<u2").tobytes(), fields[3], fields[6])
    restored = weightless.EncodedLayer.__new__(weightless.EncodedLayer)
    restored.__setstate__(old)
    np.testing.assert_array_equal(restored.decode(), layer.decode())
    assert restored.stats == layer.stats
    # A damaged state is refused as a damaged file is (the section is validated again).
    fields = list(layer.__getstate__())
    fields[2] = fields[2][:-1]  # one byte short
    with pytest.raises(weightless.CorruptionError, match="unpickling"):
        weightless.EncodedLayer.__new__(weightless.EncodedLayer).__setstate__(tuple(fields))
