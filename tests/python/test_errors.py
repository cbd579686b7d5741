# Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
"""Errors reach Python as weightless.Error subclasses carrying the library's message."""

import numpy as np
import pytest

import weightless
from conftest import GOLDEN, GOLDEN_ERRORS

ERROR_FILES = sorted(GOLDEN_ERRORS.glob("*.wl"))


def test_hierarchy():
    for cls in [weightless.InvalidArgumentError, weightless.NotFoundError,
                weightless.CorruptionError, weightless.NotSupportedError, weightless.FileIOError,
                weightless.OutOfRangeError, weightless.BuildFailedError,
                weightless.InternalError]:
        assert issubclass(cls, weightless.Error) and issubclass(cls, RuntimeError)
        assert cls.__module__ == "weightless"
    assert issubclass(weightless.InvalidArgumentError, ValueError)
    assert issubclass(weightless.OutOfRangeError, ValueError)
    assert issubclass(weightless.FileIOError, OSError)
    assert issubclass(weightless.NotFoundError, LookupError)


def test_missing_file(tmp_path):
    missing = tmp_path / "missing.wl"
    with pytest.raises(weightless.FileIOError) as info:
        weightless.open(missing)
    e = info.value
    assert isinstance(e, OSError)
    assert str(missing) in str(e) and "No such file" in str(e)
    assert e.code == "io_error" and e.message == str(e)


def first_error(path):
    """The first problem the library reports: at open, on decode, else by verify()."""
    try:
        f = weightless.open(path)
    except weightless.Error as e:
        return e
    for t in f:
        try:
            t.decode()
        except weightless.Error as e:
            return e
    return f.verify()


def test_every_crafted_file_is_refused():
    assert len(ERROR_FILES) >= 30


@pytest.mark.parametrize("path", ERROR_FILES, ids=[p.stem for p in ERROR_FILES])
def test_crafted_file_refused_with_its_error(path):
    expected = path.stem.split("__")[0]
    error = first_error(path)
    if isinstance(error, list):
        # Only damage between sections is left for verify(), which lists problems.
        assert expected == "unexplained_bytes"
        assert len(error) == 1 and "padding" in error[0] and "not zero" in error[0]
        return
    assert isinstance(error, (weightless.CorruptionError, weightless.NotSupportedError,
                              weightless.OutOfRangeError))
    assert error.file_error == expected, str(error)
    assert error.code in ("corruption", "not_supported", "out_of_range")
    assert len(str(error)) > 20 and str(error) == error.message


def test_messages_name_the_problem():
    with pytest.raises(weightless.CorruptionError, match="checksum mismatch") as info:
        weightless.open(GOLDEN_ERRORS / "section_checksum__payload_byte_flipped.wl")[
            "dense.f32"].decode()
    assert "dense.f32" in str(info.value)
    with pytest.raises(weightless.NotSupportedError, match="major version 2"):
        weightless.open(GOLDEN_ERRORS / "unsupported_major__version_2.wl")
    with pytest.raises(weightless.CorruptionError, match="bad magic"):
        weightless.open_bytes((GOLDEN_ERRORS / "bad_magic__header.wl").read_bytes())
    with pytest.raises(weightless.CorruptionError) as info:
        weightless.open_bytes(b"")
    assert info.value.file_error == "too_small"
    with pytest.raises(TypeError):
        weightless.open_bytes("not bytes")


def test_bad_read_arguments(sample):
    fc1 = sample["fc1"]
    with pytest.raises(IndexError, match=r"tensor 'fc1': rows \[0, 31\) outside \[0, 30\)"):
        fc1.decode_rows(0, 31)  # the library's message, as C++ and C give it
    with pytest.raises(IndexError):
        fc1.decode_rows(5, 4)
    with pytest.raises(IndexError, match="rows count from 0"):
        fc1.decode_rows(-1, 2)
    with pytest.raises(IndexError):
        fc1.weight(600)
    with pytest.raises(IndexError):
        fc1.weight((30, 0))
    with pytest.raises(IndexError, match="2 dimensions"):
        fc1.weight((1, 2, 3))
    with pytest.raises(TypeError):
        fc1.weight(1.0)
    with pytest.raises(ValueError):
        fc1.decode(threads=-1)


def test_writer_errors(tmp_path):
    w = weightless.Writer(tmp_path / "w.wl")
    with pytest.raises(weightless.InvalidArgumentError, match="not finite|NaN|infinite"):
        w.add_layer("nan", np.array([[1.0, np.nan], [0.5, 0.25]]))
    w.abandon()

    w = weightless.Writer(tmp_path / "w.wl")
    with pytest.raises(ValueError, match="bloomier"):
        w.add_layer("x", np.ones((4, 4)), kind="cuckoo")
    with pytest.raises(ValueError, match="storage"):
        w.add_layer("x", np.ones((4, 4)), storage="sparse")
    with pytest.raises(ValueError, match="codec"):
        w.add_tensor("x", np.ones(3), codec="gzip")
    with pytest.raises(ValueError, match="dtype"):
        w.add_tensor("x", np.ones(3), dtype="float64")
    with pytest.raises(ValueError, match="retrain: unknown key 'epochs'"):
        w.add_layer("x", np.ones((4, 4)), retrain={"epochs": 3})
    with pytest.raises(TypeError, match="metadata value"):
        w.set_metadata("k", [1, 2])
    with pytest.raises(ValueError, match="64-bit"):
        w.set_metadata("k", 1 << 70)
    with pytest.raises(weightless.InvalidArgumentError):
        w.add_layer("x", np.ones((4, 4)), mask=np.ones(5))
    w.add_tensor("dup", np.ones(3))
    with pytest.raises(weightless.InvalidArgumentError, match="dup"):
        w.add_tensor("dup", np.ones(3))
    w.abandon()
    w.abandon()  # twice is fine
    assert w.closed
    with pytest.raises(ValueError, match="closed"):
        w.add_tensor("late", np.ones(3))
    with pytest.raises(ValueError, match="closed"):
        w.finish()
    assert list(tmp_path.iterdir()) == []

    with pytest.raises(weightless.FileIOError):
        weightless.Writer(tmp_path / "no" / "such" / "dir.wl")


def test_cost_function_errors_propagate(tmp_path):
    weights = np.random.default_rng(1).standard_normal((20, 50)).astype(np.float32)

    def broken(indices, values):
        raise ZeroDivisionError("from the cost function")

    with pytest.raises(ZeroDivisionError, match="from the cost function"):
        weightless.encode(weights, keep=0.1, clusters=4, t=4, seeds=3, cost=broken)
    with pytest.raises(TypeError):
        weightless.encode(weights, cost=5)
