#!/usr/bin/env python3
"""A second, minimal decoder of retrieval table sections, written from spec/RETRIEVAL.md
alone (it shares no code with the library; XXH3 comes from Debian's libxxhash through
ctypes). The test below checks it against the spec's own test vectors and examples.

Usage: reference_decoder.py SPEC_MD  (exits non-zero on any mismatch)
"""
import ctypes
import ctypes.util
import re
import struct
import sys

_lib = ctypes.CDLL(ctypes.util.find_library("xxhash") or "libxxhash.so.0")
_lib.XXH3_64bits_withSeed.restype = ctypes.c_uint64
_lib.XXH3_64bits_withSeed.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint64]

M64 = (1 << 64) - 1


def xxh3(data: bytes, seed: int) -> int:
    return _lib.XXH3_64bits_withSeed(data, len(data), seed)


def fast_range(a: int, n: int) -> int:
    return (a * n) >> 64


def rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & M64


def shard_seed(table_seed: int, shard: int, attempt: int) -> int:
    return xxh3(struct.pack("<QI", shard, attempt), table_seed)


def key_hash(key: int, seed: int) -> int:
    return xxh3(struct.pack("<Q", key), seed)


def mask(h: int, t: int) -> int:
    return ((h * 0xC2B2AE3D27D4EB4F) & M64) >> (64 - t)


def ribbon_row(h: int, m: int):
    w = min(64, m)
    g = (h * 0x9E3779B97F4A7C15) & M64
    c = (g ^ (g >> 32)) | 1
    if w < 64:
        c &= (1 << w) - 1
    return fast_range(h, m - w + 1), c


M32 = (1 << 32) - 1


def _mixer(m1: int, r2: int, m2: int, r3: int):
    def mix(x: int) -> int:
        x ^= x >> 16
        x = (x * m1) & M32
        x ^= x >> r2
        x = (x * m2) & M32
        return x ^ (x >> r3)
    return mix


mix_a = _mixer(0x85EBCA6B, 13, 0xC2B2AE35, 16)
mix_b = _mixer(0x7FEB352D, 15, 0x846CA68B, 16)
mix_c = _mixer(0x21F0AAAD, 15, 0x735A2D97, 15)


def mix32_seeds(ss: int):
    return ss & M32, ss >> 32, ((ss * 0x9E3779B97F4A7C15) & M64) >> 32


def mix32_words(key: int, ss: int):
    s1, s2, s3 = mix32_seeds(ss)
    u = key & M32
    return mix_a(u ^ s1), mix_b(u ^ s2), mix_c(u ^ s3)


def mix32_row(key: int, ss: int, m: int, t: int):
    """(mask, start, coefficient) of hash 1; start and coefficient only for m >= 1."""
    a, b, c = mix32_words(key, ss)
    w = min(64, m)
    if m == 0:
        return c & ((1 << t) - 1), None, None
    coefficient = (b << 32) | a | 1
    if w < 64:
        coefficient &= (1 << w) - 1
    return c & ((1 << t) - 1), (c * (m - w + 1)) >> 32, coefficient


def bloomier_positions(h: int, segment: int):
    return (fast_range(h, segment), segment + fast_range(rotl(h, 21), segment),
            2 * segment + fast_range(rotl(h, 42), segment))


class Table:
    """Validates a section as the spec's "Decoder requirements" say, then answers queries."""

    def __init__(self, data: bytes):
        if len(data) < 40:
            raise ValueError("shorter than the header")
        magic, self.kind, self.t, self.hash, r0, self.n, self.span, self.seed, self.c, r1 = (
            struct.unpack("<4sBBBBQQQII", data[:40]))
        if magic != b"WLRT":
            raise ValueError("magic")
        if self.kind not in (1, 2):
            raise ValueError("kind not supported")
        if self.hash not in (0, 1):
            raise ValueError("hash not supported")
        if not 1 <= self.t <= 16 or r0 or r1:
            raise ValueError("t or reserved")
        if self.n > 1 << 48 or self.span < 1:
            raise ValueError("N or S")
        if self.hash == 1 and (self.kind != 2 or self.span > 1 << 32):
            raise ValueError("hash 1 needs kind ribbon and S <= 2^32")
        if self.c != (self.n + self.span - 1) // self.span or self.c > 1 << 26:
            raise ValueError("shard count")
        entries = [struct.unpack("<II", data[40 + 8 * i:48 + 8 * i]) for i in range(self.c + 1)]
        if len(data) < 40 + 8 * (self.c + 1):
            raise ValueError("directory")
        self.begin = [e[0] for e in entries]
        self.attempt = [e[1] for e in entries]
        if self.begin[0] != 0 or self.attempt[-1] != 0:
            raise ValueError("directory ends")
        for a, b in zip(self.begin, self.begin[1:]):
            if b < a or b - a > 1 << 24 or (self.kind == 1 and (b - a) % 3):
                raise ValueError("directory order")
        total = self.begin[-1]
        self.cells = data[40 + 8 * (self.c + 1):]
        t = self.t
        if self.kind == 1:
            used = (total * t + 7) // 8
            size = used + 8
            used_bits = total * t
        else:
            blocks = (total + 63) // 64 + 1
            size = blocks * 8 * t + 64
            used = (blocks - 1) * 8 * t
        if len(self.cells) != size:
            raise ValueError("section size")
        if any(self.cells[used:]):
            raise ValueError("padding")
        if self.kind == 1 and used_bits % 8 and self.cells[used - 1] >> (used_bits % 8):
            raise ValueError("unused bits")
        if self.kind == 2 and total % 64:
            base = (total // 64) * 8 * t
            for p in range(t):
                word = struct.unpack("<Q", self.cells[base + 8 * p:base + 8 * p + 8])[0]
                if word >> (total % 64):
                    raise ValueError("unused bits")

    def bloomier_cell(self, j: int) -> int:
        value = 0
        for b in range(self.t):
            bit = j * self.t + b
            value |= ((self.cells[bit // 8] >> (bit % 8)) & 1) << b
        return value

    def ribbon_plane_bit(self, p: int, cell: int) -> int:
        word_at = (cell // 64) * 8 * self.t + 8 * p
        word = struct.unpack("<Q", self.cells[word_at:word_at + 8])[0]
        return (word >> (cell % 64)) & 1

    def query(self, key: int) -> int:
        if key >= self.n:
            return 0
        i = key // self.span
        begin, m = self.begin[i], self.begin[i + 1] - self.begin[i]
        ss = shard_seed(self.seed, i, self.attempt[i])
        if self.hash == 1:
            v, start, coefficient = mix32_row(key, ss, m, self.t)
        else:
            h = key_hash(key, ss)
            v = mask(h, self.t)
        if m == 0:
            return v
        if self.kind == 2:
            if self.hash == 0:
                start, coefficient = ribbon_row(h, m)
            x = begin + start
            for p in range(self.t):
                parity = 0
                for k in range(64):
                    if (coefficient >> k) & 1:
                        parity ^= self.ribbon_plane_bit(p, x + k)
                v ^= parity << p
            return v
        for q in bloomier_positions(h, m // 3):
            v ^= self.bloomier_cell(begin + q)
        return v


def check_spec(path: str) -> int:
    text = open(path, encoding="utf-8").read()
    failures = 0
    checked = 0
    if xxh3(b"", 0) != 0x2D06800538D394C2:
        print("XXH3 known answer mismatch")
        failures += 1
    for row in re.findall(r"^\| (0x[0-9a-f]{16}) \| (\d+) \| (\d+) \| (0x[0-9a-f]{16}) \|$", text, re.M):
        seed, shard, attempt, expected = int(row[0], 16), int(row[1]), int(row[2]), int(row[3], 16)
        checked += 1
        if shard_seed(seed, shard, attempt) != expected:
            print("shard seed mismatch", row)
            failures += 1
    key_rows = re.findall(
        r"^\| (\d+) \| (0x[0-9a-f]{16}) \| (0x[0-9a-f]{16}) \| (\d+) \| (0x[0-9a-f]+) \| (\d+) \| "
        r"(\d+) \| (0x[0-9a-f]{16}) \| ([\d-]+) \| ([\d, -]+) \|$", text, re.M)
    for row in key_rows:
        key, seed, h, t = int(row[0]), int(row[1], 16), int(row[2], 16), int(row[3])
        checked += 1
        got_h = key_hash(key, seed)
        ok = got_h == h and mask(h, t) == int(row[4], 16)
        ok = ok and ribbon_row(h, int(row[5])) == (int(row[6]), int(row[7], 16))
        if row[8] != "-":
            ok = ok and bloomier_positions(h, int(row[8]) // 3) == tuple(
                int(x) for x in row[9].split(","))
        if not ok:
            print("key vector mismatch", row)
            failures += 1
    mix_rows = re.findall(
        r"^\| (\d+) \| (0x[0-9a-f]{16}) \| (0x[0-9a-f]{8}) (0x[0-9a-f]{8}) (0x[0-9a-f]{8}) \| "
        r"(0x[0-9a-f]{8}) (0x[0-9a-f]{8}) (0x[0-9a-f]{8}) \| (\d+) \| (0x[0-9a-f]+) \| (\d+) \| "
        r"(\d+) \| (0x[0-9a-f]{16}) \|$", text, re.M)
    for row in mix_rows:
        key, ss, t, m = int(row[0]), int(row[1], 16), int(row[8]), int(row[10])
        checked += 1
        ok = mix32_seeds(ss) == tuple(int(x, 16) for x in row[2:5])
        ok = ok and mix32_words(key, ss) == tuple(int(x, 16) for x in row[5:8])
        ok = ok and mix32_row(key, ss, m, t) == (int(row[9], 16), int(row[11]), int(row[12], 16))
        if not ok:
            print("mix32 vector mismatch", row)
            failures += 1
    if checked < 14 or len(mix_rows) < 6:
        print(f"found only {checked} test vectors ({len(mix_rows)} of hash 1) in {path}")
        failures += 1
    # The examples: the bloomier hex is given in full; the ribbon one as an annotated dump,
    # so it is rebuilt from the annotations.
    example = re.search(r"Bloomier \(99 bytes\).*?```\n(.*?)```", text, re.S)
    bloomier = bytes.fromhex("".join(example.group(1).split()))
    ribbon = bytes.fromhex(
        "574c5254020300001000000000000000080000000000000001000000000000000200000000000000"
        "00000000000000000400000000000000080000000000000043000000000000000100000000000000"
        "0000000000000000") + bytes(24 + 64)
    example = re.search(r"Ribbon with hash 1, mix32 \(176 bytes\).*?```\n(.*?)```", text, re.S)
    ribbon_mix32 = bytes.fromhex("".join(example.group(1).split()))
    for name, data in (("ribbon", ribbon), ("bloomier", bloomier), ("ribbon mix32", ribbon_mix32)):
        table = Table(data)
        for key, value in ((1, 1), (4, 2), (9, 3), (15, 1)):
            if table.query(key) != value:
                print(f"{name} example: key {key} reads {table.query(key)}, expected {value}")
                failures += 1
        for cut in (len(data) - 1, 39, 0):
            try:
                Table(data[:cut])
                print(f"{name} example truncated to {cut} bytes was accepted")
                failures += 1
            except ValueError:
                pass
    # A hash the spec does not define, and hash 1 on a bloomier table, must be refused.
    for bad in (ribbon[:6] + b"\x02" + ribbon[7:], bloomier[:6] + b"\x01" + bloomier[7:]):
        try:
            Table(bad)
            print("a table with hash byte", bad[6], "and kind", bad[4], "was accepted")
            failures += 1
        except ValueError:
            pass
    print(f"reference decoder: {checked} test vectors, 3 examples, {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(check_spec(sys.argv[1]))
