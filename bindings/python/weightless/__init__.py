# Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
"""Weightless: neural-network weights stored with lossy retrieval-table encoding.

Reading::

    import weightless
    with weightless.open("model.wl") as f:
        print(f.metadata, [t.name for t in f.layers])
        fc1 = f["fc1"].decode()              # float32 numpy array of fc1's shape
        rows = f["fc1"].decode_rows(0, 10)   # only the shards covering rows 0..9

Writing (atomic: nothing appears at the path unless the block completes)::

    with weightless.Writer("model.wl") as w:
        w.add_layer("fc1", fc1, keep=0.04, clusters=8, t=8, seeds=8)
        w.add_tensor("fc1.bias", bias, dtype="float16")
        w.set_metadata("architecture", "LeNet-300-100")

PyTorch models: weightless.torch (imported on its own, it needs torch) prunes, shares,
encodes and retrains any model with the user's own training loop, and saves it.

Every error of the library is raised as a subclass of weightless.Error (a
RuntimeError) whose message names the tensor, field or byte offset at fault.
The GIL is released while encoding and decoding.
"""

from ._weightless import (
    BuildFailedError,
    CorruptionError,
    EncodedLayer,
    Error,
    File,
    FileIOError,
    InternalError,
    InvalidArgumentError,
    NotFoundError,
    NotSupportedError,
    OutOfRangeError,
    Tensor,
    Writer,
    __version__,
    default_int8_scale,
    encode,
    encode_codes,
    library_version,
    open,
    open_bytes,
    prune_by_magnitude,
    round_to_stored,
    share_weights,
)

# The classes live in the extension; show them where users find them.
for _cls in (EncodedLayer, File, Tensor, Writer):
    _cls.__module__ = __name__
del _cls

__all__ = [
    "BuildFailedError",
    "CorruptionError",
    "EncodedLayer",
    "Error",
    "File",
    "FileIOError",
    "InternalError",
    "InvalidArgumentError",
    "NotFoundError",
    "NotSupportedError",
    "OutOfRangeError",
    "Tensor",
    "Writer",
    "__version__",
    "default_int8_scale",
    "encode",
    "encode_codes",
    "library_version",
    "load",
    "open",
    "open_bytes",
    "prune_by_magnitude",
    "round_to_stored",
    "share_weights",
]


def load(path, threads=0):
    """Decodes every tensor of the file at `path`: a dict {name: float32 array}."""
    with open(path) as f:
        return f.to_dict(threads=threads)
