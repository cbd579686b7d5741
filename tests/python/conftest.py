# Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
"""Shared fixtures of the weightless Python tests.

Run by ctest (tests/CMakeLists.txt) with PYTHONPATH=<build>/bindings/python, or by hand:
    PYTHONPATH=build/release/bindings/python /usr/bin/python3 -m pytest tests/python
"""

import pathlib

import numpy as np
import pytest

TESTS = pathlib.Path(__file__).resolve().parent.parent
GOLDEN = TESTS / "golden" / "sample.wl"
GOLDEN_ERRORS = TESTS / "golden-errors"


class MT19937_64:
    """std::mt19937_64, to recompute the sample model of tests/unit/file_test_util.h."""

    MASK = (1 << 64) - 1

    def __init__(self, seed):
        self.state = [seed & self.MASK]
        for i in range(1, 312):
            prev = self.state[-1]
            self.state.append((6364136223846793005 * (prev ^ (prev >> 62)) + i) & self.MASK)
        self.index = 312

    def __call__(self):
        if self.index >= 312:
            mt = self.state
            for i in range(312):
                x = (mt[i] & 0xFFFFFFFF80000000) | (mt[(i + 1) % 312] & 0x7FFFFFFF)
                xa = x >> 1
                if x & 1:
                    xa ^= 0xB5026F5AA96619E9
                mt[i] = mt[(i + 156) % 312] ^ xa
            self.index = 0
        y = self.state[self.index]
        self.index += 1
        y ^= (y >> 29) & 0x5555555555555555
        y ^= (y << 17) & 0x71D67FFFEDA60000
        y ^= (y << 37) & 0xFFF7EEE000000000
        y ^= y >> 43
        return y & self.MASK


def sample_layer(n, k, seed):
    """MakeSampleLayer of tests/unit/file_test_util.h: keys, codes and centroids."""
    rng = MT19937_64(seed)
    keys, codes = [], []
    for i in range(n):
        if rng() % 20 == 0:
            keys.append(i)
            codes.append(1 + rng() % k)
    centroids = np.float32(-0.5) + np.float32(0.1) * np.arange(k, dtype=np.float32)
    return np.array(keys, dtype=np.int64), np.array(codes, dtype=np.int64), centroids


@pytest.fixture
def sample():
    import weightless

    with weightless.open(GOLDEN) as f:
        yield f
