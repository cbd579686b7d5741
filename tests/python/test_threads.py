# Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
"""Decoding and encoding from several Python threads at once (the GIL is released while
the library works): results must equal single-threaded ones."""

import sys
import threading
import time

import numpy as np
import pytest

import weightless
from conftest import GOLDEN

THREADS = 8


def run_threads(target, count=THREADS):
    errors = []
    barrier = threading.Barrier(count)

    def body(i):
        try:
            barrier.wait()
            target(i)
        except BaseException as e:  # noqa: B902 - reported below
            errors.append(e)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("threads") / "big.wl"
    rng = np.random.default_rng(7)
    with weightless.Writer(path, sync=False) as w:
        w.add_layer("ribbon", rng.standard_normal((800, 300)), keep=0.05, clusters=8, t=6,
                    storage="retrieval")
        w.add_layer("bloomier", rng.standard_normal((500, 200)), keep=0.05, clusters=8, t=6,
                    kind="bloomier", storage="retrieval", codec="zstd")
        w.add_tensor("dense", rng.standard_normal((300, 100)), dtype="float16", codec="zstd")
    return path


def test_concurrent_decode_is_identical(big_file):
    # The first decode of a tensor loads its payload: start from a fresh file so that
    # the threads race on that too.
    with weightless.open(big_file) as reference:
        expected = reference.to_dict()
    for mmap in (True, False):
        f = weightless.open(big_file, mmap=mmap)
        results = [None] * THREADS

        def decode(i):
            out = {}
            for round_ in range(3):
                for t in f.tensors:
                    if (i + round_) % 2:
                        out[t.name] = t.decode(threads=1 + i % 2)
                    else:
                        rows = t.rows
                        parts = [t.decode_rows(a, min(a + 37, rows)) for a in range(0, rows, 37)]
                        out[t.name] = np.concatenate(parts)
            out["weights"] = [f["ribbon"].weight(j) for j in range(i, 240000, 9973)]
            results[i] = out

        run_threads(decode)
        flat = expected["ribbon"].reshape(-1)
        for i, out in enumerate(results):
            for name, array in expected.items():
                np.testing.assert_array_equal(out[name], array)
            assert out["weights"] == [flat[j] for j in range(i, 240000, 9973)]
        f.close()


def test_concurrent_decode_of_the_golden_file():
    f = weightless.open(GOLDEN)
    expected = {t.name: t.decode() for t in f}
    got = [None] * THREADS
    run_threads(lambda i: got.__setitem__(i, {t.name: t.decode() for t in f}))
    for g in got:
        for name in expected:
            np.testing.assert_array_equal(g[name], expected[name])


def test_close_while_decoding(big_file):
    # Closing races with decodes: each either completes with the right values or raises
    # ValueError for a closed file; nothing crashes.
    expected = weightless.load(big_file)["ribbon"]
    for _ in range(3):
        f = weightless.open(big_file)
        t = f["ribbon"]
        outcomes = []

        def work(i):
            if i == 0:
                f.close()
                return
            for _ in range(5):
                try:
                    np.testing.assert_array_equal(t.decode(), expected)
                    outcomes.append("ok")
                except ValueError as e:
                    assert "closed" in str(e)
                    outcomes.append("closed")

        run_threads(work, count=4)
        assert len(outcomes) == 15


def test_concurrent_encode_and_write(tmp_path):
    rng = np.random.default_rng(8)
    layers = {f"fc{i}": rng.standard_normal((120, 90)).astype(np.float32) for i in range(6)}
    expected = {name: weightless.encode(w, keep=0.1, clusters=4, t=5, threads=1).decode()
                for name, w in layers.items()}
    path = tmp_path / "m.wl"
    with weightless.Writer(path) as w:
        names = sorted(layers)
        run_threads(lambda i: w.add_layer(names[i], layers[names[i]], keep=0.1, clusters=4,
                                          t=5, threads=1), count=len(names))
    with weightless.open(path) as f:
        assert sorted(f.names) == sorted(layers)
        for name in layers:
            np.testing.assert_array_equal(f[name].decode(), expected[name])


def other_thread_runs_during(call):
    """True when another Python thread ran while `call()` executed. The switch interval
    is made so long that the interpreter never preempts this thread: the other thread
    can run only if something in `call` releases the GIL."""
    hits = [0]
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            time.sleep(0.0005)  # without the GIL; needs it back to count
            hits[0] += 1

    old = sys.getswitchinterval()
    thread = threading.Thread(target=ticker)
    thread.start()
    time.sleep(0.01)
    sys.setswitchinterval(60)
    # A wait for the GIL that began before the change still uses the old interval: let
    # it end while this thread sleeps.
    time.sleep(0.01)
    try:
        before = hits[0]
        call()
        after = hits[0]
    finally:
        sys.setswitchinterval(old)
        stop.set()
        thread.join()
    return after > before


def test_the_gil_is_released(tmp_path):
    w = np.random.default_rng(9).standard_normal((1000, 1000)).astype(np.float32)
    layer = None

    def encode():
        nonlocal layer
        layer = weightless.encode(w, keep=0.05, clusters=4, t=5, seeds=3, threads=1)

    assert other_thread_runs_during(encode)
    path = tmp_path / "gil.wl"
    with weightless.Writer(path) as writer:
        writer.add_encoded("fc", layer)
    f = weightless.open(path)
    t = f["fc"]
    assert other_thread_runs_during(lambda: [t.decode() for _ in range(20)])
    assert other_thread_runs_during(lambda: [t.decode_rows(0, 1000) for _ in range(20)])
    # The check itself: pure-Python work never lets the other thread in.
    assert not other_thread_runs_during(lambda: sum(i * i for i in range(300000)))
