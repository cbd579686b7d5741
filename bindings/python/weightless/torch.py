# Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
"""weightless.torch: the Weightless procedure on any PyTorch model, with your own training
loop.

The procedure of wl-train, step by step, on the parameters you name ("fc1.weight",
"features.0.weight", ...)::

    import weightless.torch as wlt

    plan = [("fc1.weight", dict(keep=0.03, clusters=8, t=8)),
            ("fc2.weight", dict(keep=0.05, clusters=8, t=8)),
            ("fc3.weight", dict(keep=0.20, clusters=8, t=10))]

    def retrain(model, phase):          # your loop, optimizer, data (and DDP)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        ...train a few epochs...
        return validation_accuracy        # optional: a fraction in [0, 1]

    report = wlt.compress(model, plan, retrain, calibration=some_training_inputs)
    print(report)
    wlt.save(model, "model.wl")
    fresh.load_state_dict(wlt.load_state_dict("model.wl"))   # a plain model

or by hand: `prune` / `gradual_prune` (magnitude masks, through torch.nn.utils.prune),
`share` (exact 1-D k-means; the weight becomes centroids[codes] through
torch.nn.utils.parametrize, with trainable centroids), `encode` (the retrieval table
built from the current codes and centroids; the weight becomes exactly what the file
decodes, false positives included, its codes fixed for good, its centroids still
trainable).

The parameter set changes at each of these steps (pruning moves `weight` to
`weight_orig`; sharing replaces it by `centroids`): build the optimizer, and wrap the
model in DistributedDataParallel, inside `retrain`, after the step. Masks and codes are
buffers; they are computed deterministically from the weights, so every rank of a DDP
run computes the same ones.

The method's parts (pruning, k-means, encoding from codes, the seed-search costs and the
statistics) are the C++ library's, called through `weightless`.
"""

import collections
import fnmatch
import hashlib
import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils import prune as torch_prune

import weightless as _wl

__all__ = [
    "Phase",
    "Report",
    "SharedWeight",
    "column_energy",
    "compress",
    "encode",
    "gradual_prune",
    "keep_at_round",
    "load",
    "load_checkpoint",
    "load_state_dict",
    "prune",
    "round_dense",
    "save",
    "share",
    "state",
    "unshare",
]

# The metadata key of the file holding what a plain state_dict needs beyond the decoded
# float32 arrays: the torch dtype of tensors that are not float32.
_TORCH_METADATA_KEY = "torch"


# --- Names ---------------------------------------------------------------------------


def _split(name):
    if not isinstance(name, str) or not name:
        raise TypeError(f"a parameter name (a str such as 'fc1.weight') is expected, not {name!r}")
    prefix, _, attr = name.rpartition(".")
    return prefix, attr


def _plain_parameter_names(model):
    """The names of the model's parameters as the plain (uncompressed) model has them."""
    names = []
    for prefix, module in _plain_modules(model):
        for attr in _module_parameter_names(module):
            names.append(prefix + attr)
    return names


def _plain_modules(model):
    """(prefix, module) for every module of the plain model (no parametrization lists)."""
    for name, module in model.named_modules():
        parts = name.split(".") if name else []
        if "parametrizations" in parts:
            continue
        yield (name + "." if name else ""), module


def _module_parameter_names(module):
    """Parameter names of one module as the plain model has them, in the plain order."""
    names = []
    if parametrize.is_parametrized(module):
        names.extend(module.parametrizations.keys())
    for attr, p in module._parameters.items():
        if p is None:
            continue
        if attr.endswith("_orig") and _is_pruned(module, attr[: -len("_orig")]):
            names.append(attr[: -len("_orig")])
        elif attr not in names:
            names.append(attr)
    order = getattr(module, "_weightless_plain_order", None)
    if order:
        names.sort(key=lambda n: order.index(n) if n in order else len(order))
    return names


def _remember_plain_order(module):
    # Pruning and sharing move a parameter to the end of the module's own list (or out of
    # it); the first of them records the plain order, which save() and state dicts keep.
    if not hasattr(module, "_weightless_plain_order"):
        module._weightless_plain_order = [a for a, p in module._parameters.items()
                                          if p is not None]


def _is_pruned(module, attr):
    return (attr + "_orig") in module._parameters and (attr + "_mask") in module._buffers


def _shared(module, attr):
    """The SharedWeight parametrization of module.attr, or None."""
    if not parametrize.is_parametrized(module, attr):
        return None
    for p in module.parametrizations[attr]:
        if isinstance(p, SharedWeight):
            return p
    return None


def _resolve(model, name):
    """(module, attr) of a parameter given by its plain name; clear errors otherwise."""
    prefix, attr = _split(name)
    try:
        module = model.get_submodule(prefix) if prefix else model
    except AttributeError:
        module = None
    known = module is not None and attr in _module_parameter_names(module)
    if not known:
        names = _plain_parameter_names(model)
        shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
        raise KeyError(f"the model has no parameter '{name}' (its parameters: {shown})")
    value = getattr(module, attr)
    if not value.is_floating_point():
        raise TypeError(f"'{name}' is {value.dtype}: only floating-point parameters can be "
                        "pruned, shared or encoded")
    return module, attr


def state(model, name):
    """'dense', 'pruned', 'shared' or 'encoded': where parameter `name` is in the procedure."""
    module, attr = _resolve(model, name)
    shared = _shared(module, attr)
    if shared is not None:
        return "encoded" if shared.encoded is not None else "shared"
    return "pruned" if _is_pruned(module, attr) else "dense"


def _current_value(module, attr):
    """The parameter's value as the model computes with it now (detached)."""
    if _is_pruned(module, attr):
        # module.<attr> is recomputed only by forward; orig * mask is current.
        return _masked(getattr(module, attr + "_orig"), getattr(module, attr + "_mask")).detach()
    return getattr(module, attr).detach()


def _masked(orig, mask):
    """orig * mask; for a uint8 (or bool) mask without materializing it as orig's dtype
    (orig * mask would: the mask promoted to float32 is 4 bytes a weight)."""
    if not mask.is_floating_point():
        return orig.masked_fill(mask == 0, 0)
    return mask.to(dtype=orig.dtype) * orig


class _Mask(torch_prune.CustomFromMask):
    """The forward pre-hook of a weightless.torch mask: a torch.nn.utils.prune method (so
    prune.is_pruned and prune.remove work) that holds no mask of its own (it reads the
    module.<name>_mask buffer, a uint8 tensor) and computes orig.masked_fill(mask == 0, 0)."""

    def __init__(self):
        super().__init__(None)

    def apply_mask(self, module):
        return _masked(getattr(module, self._tensor_name + "_orig"),
                       getattr(module, self._tensor_name + "_mask"))


def _attach_mask(module, attr, mask):
    """What torch_prune.custom_from_mask(module, attr, mask) does, with a uint8 mask buffer
    (1 byte a weight, not 4; not bool, which torch.distributed's gloo backend cannot
    broadcast) and none of its float32 temporaries (ones_like, the product
    of masks, the copy its hook keeps): weight_orig is the parameter itself, weight_mask
    the buffer, module.<attr> the masked value. Pruned weights of weight_orig are set to 0
    (their gradient is 0, so optimizers keep them there), which lets module.<attr> share
    weight_orig's storage until the next forward recomputes it."""
    mask = mask.to(device=getattr(module, attr).device, dtype=torch.uint8)
    orig = module._parameters.pop(attr)
    module.register_parameter(attr + "_orig", orig)
    module.register_buffer(attr + "_mask", mask)
    hook = _Mask()
    hook._tensor_name = attr
    module.register_forward_pre_hook(hook)
    _zero_pruned(module, attr)


def _zero_pruned(module, attr):
    orig = getattr(module, attr + "_orig")
    with torch.no_grad():
        orig.masked_fill_(getattr(module, attr + "_mask") == 0, 0)
    # What forward will compute (orig * mask == orig now), visible before it runs: a plain
    # tensor sharing orig's storage (a Parameter would be registered as one).
    setattr(module, attr, orig.detach())


def _detach_mask(module, attr):
    """Drops the mask of a pruned parameter and its weight_orig without computing the
    masked value (torch_prune.remove computes it; share does not need it)."""
    for key, hook in list(module._forward_pre_hooks.items()):
        if isinstance(hook, torch_prune.BasePruningMethod) and hook._tensor_name == attr:
            del module._forward_pre_hooks[key]
    del module._parameters[attr + "_orig"]
    del module._buffers[attr + "_mask"]
    module.__dict__.pop(attr, None)


def _to_numpy32(tensor):
    return tensor.detach().to("cpu", torch.float32).contiguous().numpy()


# --- Pruning -------------------------------------------------------------------------


def keep_at_round(target, round, rounds, schedule="geometric"):
    """The kept fraction of pruning round `round` of `rounds` toward `target`, as wl-train
    computes it: 'geometric' target ** (round / rounds), or 'cubic' (Zhu & Gupta, 2017)
    1 - (1 - target) * (1 - (1 - round / rounds) ** 3)."""
    if not 1 <= round <= rounds:
        raise ValueError(f"round {round} of {rounds}: rounds count from 1")
    f = round / rounds
    if schedule == "geometric":
        return target ** f
    if schedule == "cubic":
        return 1.0 - (1.0 - target) * (1.0 - (1.0 - f) ** 3)
    raise ValueError(f"schedule must be 'geometric' or 'cubic', not {schedule!r}")


def prune(model, keep, *, round=1, rounds=1, schedule="geometric"):
    """Magnitude pruning of the named parameters, kept at zero through optimizer steps.

    keep: {parameter name: kept fraction in [0, 1]} ("fc1.weight": 0.03). With the default
    round=1 of rounds=1, each keeps exactly that fraction of its weights; round r of R cuts
    to keep_at_round(fraction, r, R, schedule) (see gradual_prune). The weights kept are
    those of largest magnitude now (the library's prune_by_magnitude; ties go to the lower
    index); a weight pruned once stays pruned. The mask is a torch.nn.utils.prune mask
    (module.<name>_mask, a uint8 buffer; the weight itself in module.<name>_orig, its pruned
    entries set to 0). Returns {name: kept count}.
    """
    if not isinstance(keep, collections.abc.Mapping):
        raise TypeError("keep must map parameter names to kept fractions, e.g. {'fc1.weight': 0.05}")
    targets = []
    for name, fraction in keep.items():
        module, attr = _resolve(model, name)
        if _shared(module, attr) is not None:
            raise ValueError(f"'{name}' is already {state(model, name)}: prune before share")
        fraction = float(fraction)
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"keep['{name}'] = {fraction}: a kept fraction is in [0, 1]")
        targets.append((name, module, attr, keep_at_round(fraction, round, rounds, schedule)))
    kept = {}
    for name, module, attr, fraction in targets:
        value = _current_value(module, attr)
        mask = torch.from_numpy(_wl.prune_by_magnitude(_to_numpy32(value), fraction))
        del value
        mask = mask.to(device=getattr(module, attr).device)  # uint8
        if _is_pruned(module, attr):
            old = getattr(module, attr + "_mask")
            old.mul_(mask)  # never revives a weight pruned before (uint8: no float copy)
            mask = old
            _zero_pruned(module, attr)
        else:
            _remember_plain_order(module)
            _attach_mask(module, attr, mask)
        kept[name] = int(torch.count_nonzero(mask))
    return kept


def gradual_prune(model, keep, rounds=5, schedule="geometric"):
    """Gradual pruning as a loop: yields (round, {name: fraction}) after cutting each round's
    masks, so that you retrain in between::

        for r, fractions in wlt.gradual_prune(model, {"fc1.weight": 0.03}, rounds=5):
            train(model, epochs=2)
    """
    if rounds < 1:
        raise ValueError(f"rounds = {rounds}: at least 1")
    for r in range(1, rounds + 1):
        prune(model, keep, round=r, rounds=rounds, schedule=schedule)
        yield r, {n: keep_at_round(float(f), r, rounds, schedule) for n, f in keep.items()}


# --- Weight sharing ------------------------------------------------------------------


def _codes_dtype(clusters):
    # The smallest integer type holding codes 0..K: a code is a byte for K <= 255, so a
    # shared model holds less than its float32 weights.
    if clusters <= 255:
        return torch.uint8
    return torch.int16 if clusters <= 32767 else torch.int32


_LOOKUP_CHUNK = 1 << 22  # codes converted to int32 at a time by _Lookup


class _Lookup(torch.autograd.Function):
    """weight = [0, centroids...][codes]; the centroids' gradient is the sum of the weight
    gradients of each code (bincount: deterministic, unlike a scattered add)."""

    @staticmethod
    def forward(ctx, centroids, codes):
        table = torch.cat([centroids.new_zeros(1), centroids])
        ctx.save_for_backward(codes)
        ctx.clusters = centroids.numel()
        # index_select takes int32 / int64 indices: the codes are converted a chunk at a
        # time (a whole fc6 of VGG-16 would be 411 MB of int32).
        codes_flat = codes.reshape(-1)
        flat = table.new_empty(codes_flat.numel())
        for s in range(0, codes_flat.numel(), _LOOKUP_CHUNK):
            torch.index_select(table, 0, codes_flat[s:s + _LOOKUP_CHUNK].to(torch.int32),
                               out=flat[s:s + _LOOKUP_CHUNK])
        return flat.reshape(codes.shape)

    @staticmethod
    def backward(ctx, grad):
        (codes,) = ctx.saved_tensors
        # bincount takes any integer type: no int32 copy of the codes.
        sums = torch.bincount(codes.reshape(-1), weights=grad.reshape(-1),
                              minlength=ctx.clusters + 1)
        return sums[1:].to(grad.dtype), None


class SharedWeight(nn.Module):
    """The parametrization of a shared weight: weight = centroids[codes - 1], 0 where the
    code is 0 (pruned). `centroids` is a trainable parameter; `codes` a buffer that
    training never changes. After `encode`, `codes` are those the retrieval table decodes
    (false positives included) and `encoded` is the table (a weightless.EncodedLayer)."""

    def __init__(self, codes, centroids):
        super().__init__()
        self.centroids = nn.Parameter(centroids)
        self.register_buffer("codes", codes)
        self.encoded = None          # weightless.EncodedLayer once encoded
        self.false_positive_counts = None  # numpy int64 [K + 1]: false positives per code
        self.retrain = None          # the retrain record the file stores

    def forward(self, original):  # the (empty) original is not used
        return _Lookup.apply(self.centroids, self.codes)

    def right_inverse(self, value):
        raise NotImplementedError(
            "a shared weight is centroids[codes]: assign its centroids "
            "(<module>.parametrizations.<name>[0].centroids), or unshare it first")

    def get_extra_state(self):
        return {"encoded": self.encoded, "false_positive_counts": self.false_positive_counts,
                "retrain": self.retrain}

    def set_extra_state(self, extra):
        self.encoded = extra["encoded"]
        self.false_positive_counts = extra["false_positive_counts"]
        self.retrain = extra["retrain"]

    def extra_repr(self):
        return (f"K={self.centroids.numel()}, shape={tuple(self.codes.shape)}, "
                f"{'encoded' if self.encoded is not None else 'not encoded'}")


def share(model, name, clusters=8, *, method="optimal"):
    """Weight sharing of parameter `name`: its kept weights (those of its pruning mask; all
    when it is not pruned) are clustered into at most `clusters` centroids by the library's
    exact 1-D k-means (share_weights; method='linear' for Lloyd's). The parameter becomes
    centroids[codes] (SharedWeight, through torch.nn.utils.parametrize) with trainable
    centroids and fixed codes; the pruning mask is folded into the codes (code 0). A shared
    layer shared again is re-clustered from its current values. Returns the clustering's
    squared error."""
    module, attr = _resolve(model, name)
    current = _shared(module, attr)
    if current is not None and current.encoded is not None:
        raise ValueError(f"'{name}' is already encoded: its codes are fixed")
    if current is not None:
        unshare(model, name)
    elif parametrize.is_parametrized(module, attr):
        raise TypeError(f"'{name}' already has a parametrization of its own "
                        f"({type(module.parametrizations[attr][0]).__name__}): remove it first")
    pruned = _is_pruned(module, attr)
    # Only the kept values are gathered (orig[mask]), never a dense orig * mask.
    orig = getattr(module, attr + "_orig") if pruned else getattr(module, attr)
    device, dtype, shape = orig.device, orig.dtype, tuple(orig.shape)
    if pruned:
        kept = getattr(module, attr + "_mask") != 0
        values_kept = _to_numpy32(orig.detach()[kept])
    else:
        kept = None
        values_kept = _to_numpy32(orig).reshape(-1)
    del orig
    codes_kept, centroids, squared_error = _wl.share_weights(values_kept, int(clusters), method)
    del values_kept
    # The codes are built in their own dtype (a byte for K <= 255), not as int32.
    codes = torch.zeros(shape, dtype=_codes_dtype(len(centroids)))
    if kept is None:
        np.copyto(codes.numpy(), codes_kept.reshape(shape), casting="unsafe")
    else:
        codes.numpy()[kept.cpu().numpy()] = codes_kept
    del codes_kept, kept
    _remember_plain_order(module)
    if pruned:
        _detach_mask(module, attr)
    # The dense values are dropped: the weight is centroids[codes] from now on.
    module._parameters[attr] = nn.Parameter(torch.empty(0, dtype=dtype, device=device),
                                            requires_grad=False)
    shared = SharedWeight(codes.to(device), torch.from_numpy(centroids).to(device, dtype))
    parametrize.register_parametrization(module, attr, shared, unsafe=True)
    return float(squared_error)


def unshare(model, name):
    """Turns a shared (not encoded) parameter back into a pruned one whose kept weights
    (code != 0) train freely from their centroid values."""
    module, attr = _resolve(model, name)
    shared = _shared(module, attr)
    if shared is None:
        raise ValueError(f"'{name}' is {state(model, name)}, not shared")
    if shared.encoded is not None:
        raise ValueError(f"'{name}' is encoded: its codes are fixed for good")
    with torch.no_grad():
        value = getattr(module, attr).detach().clone()
    mask = shared.codes != 0
    parametrize.remove_parametrizations(module, attr, leave_parametrized=False)
    module._parameters[attr] = nn.Parameter(value)
    _attach_mask(module, attr, mask)


# --- Encoding ------------------------------------------------------------------------


def _call(model, batch):
    if isinstance(batch, collections.abc.Mapping):
        return model(**batch)
    if isinstance(batch, (tuple, list)):
        return model(*batch)
    return model(batch)


class _StopForward(Exception):
    """Raised by column_energy's hook once the layer's input is captured: the rest of the
    forward is not needed."""


def column_energy(model, name, calibration):
    """E[x_c^2] of each input column c of parameter `name`'s layer over a calibration
    batch (what cost='activation' weighs false positives by): the mean of the squared
    inputs of an nn.Linear over every leading dimension, or of the im2col rows of an
    nn.Conv1d / nn.Conv2d over examples and positions (zero padding; groups averaged). The
    model runs in eval mode without gradients, up to the layer. `calibration`: the input
    batch (a tensor, a tuple of positional arguments or a dict of keyword arguments)."""
    module, attr = _resolve(model, name)
    if attr != "weight" or not isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d)):
        raise TypeError(f"'{name}': input energies are measured for the weight of nn.Linear, "
                        f"nn.Conv1d and nn.Conv2d, not of {type(module).__name__}; use "
                        "cost='squared_error'")
    if isinstance(module, (nn.Conv1d, nn.Conv2d)) and isinstance(module.padding, str):
        raise TypeError(f"'{name}': padding='{module.padding}' is not supported by the "
                        "activation cost; use cost='squared_error'")
    captured = []

    def capture(m, inputs):
        captured.append(inputs[0])
        raise _StopForward

    handle = module.register_forward_pre_hook(capture)
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            _call(model, calibration)
    except _StopForward:
        pass
    finally:
        handle.remove()
        model.train(was_training)
    if not captured:
        raise ValueError(f"'{name}': the calibration batch never reached its module")
    x = captured[0].detach()
    captured.clear()  # x is the only reference left
    if isinstance(module, nn.Linear):
        energy = x.to(torch.float64).reshape(-1, x.shape[-1]).pow(2).mean(dim=0)
        return energy.to(torch.float32).cpu().numpy()
    if isinstance(module, nn.Conv1d):
        x = x.unsqueeze(-2)
        kernel, dilation = (1,) + module.kernel_size, (1,) + module.dilation
        padding, stride = (0,) + tuple(module.padding), (1,) + module.stride
    else:
        kernel, dilation = module.kernel_size, module.dilation
        padding, stride = module.padding, module.stride
    # The mean of the squared im2col rows without building them (F.unfold of the first
    # conv inputs of VGG-16 is 9x the activation, 0.9 GB in float64 for 2 images): the row
    # of channel c and kernel offset (i, j) is the squared input of channel c at the
    # positions i*dilation + stride*p of the zero-padded input.
    x2 = F.pad(x.to(torch.float64).pow(2), (padding[1], padding[1], padding[0], padding[0]))
    out_h = (x2.shape[2] - dilation[0] * (kernel[0] - 1) - 1) // stride[0] + 1
    out_w = (x2.shape[3] - dilation[1] * (kernel[1] - 1) - 1) // stride[1] + 1
    sums = x2.new_empty(x2.shape[1], kernel[0], kernel[1])
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            rows = x2[:, :, i * dilation[0]: i * dilation[0] + stride[0] * (out_h - 1) + 1: stride[0],
                      j * dilation[1]: j * dilation[1] + stride[1] * (out_w - 1) + 1: stride[1]]
            sums[:, i, j] = rows.sum(dim=(0, 2, 3))
    energy = sums.reshape(module.groups, -1).sum(dim=0) / (x2.shape[0] * module.groups * out_h * out_w)
    return energy.to(torch.float32).cpu().numpy()


def encode(model, name, t=None, *, seeds=8, cost="activation", calibration=None,
           kind="ribbon", hash="auto", storage="auto", max_false_positive_rate=0.06,
           base_seed=0, threads=0, check_ranks=True):
    """Encodes shared parameter `name` with a retrieval table built from its current codes
    and centroids (no re-clustering; weightless.encode_codes): `seeds` tables are tried and
    the one whose false positives cost least is kept. cost='activation' weighs each false
    positive by its column's input energy over `calibration` (column_energy);
    'squared_error' needs no calibration. Afterwards the weight is exactly what the file
    will decode, false positives included; its codes never change again and its centroids
    stay trainable. t, kind, hash, storage, max_false_positive_rate, base_seed and threads
    are weightless.encode_codes's. Returns the layer's statistics (a dict).

    In a torch.distributed run every rank must call encode with the same calibration
    batch (energies from different data choose different tables); with check_ranks (the
    default when torch.distributed is initialized) the ranks compare a digest of their
    codes, a collective call, and all raise if they differ."""
    module, attr = _resolve(model, name)
    shared = _shared(module, attr)
    if shared is None:
        raise ValueError(f"'{name}' is {state(model, name)}: share it before encoding "
                         "(weightless.torch.share)")
    if shared.encoded is not None:
        raise ValueError(f"'{name}' is already encoded")
    energy = None
    if cost == "activation":
        if calibration is None:
            raise ValueError(f"'{name}': cost='activation' needs calibration=<a batch of "
                             "training inputs>; or pass cost='squared_error'")
        energy = column_energy(model, name, calibration)
    centroids = _to_numpy32(shared.centroids)
    # Kept weights decode to their own code, so the false positives of code c are
    # count(new == c) - count(old == c): two bincounts of the codes buffer, with no
    # full-size temporaries.
    old_counts = torch.bincount(shared.codes.reshape(-1), minlength=len(centroids) + 1).cpu()
    layer = _wl.encode_codes(shared.codes.cpu().numpy(), centroids, t=t,
                             max_false_positive_rate=max_false_positive_rate, kind=kind,
                             hash=hash, storage=storage, seeds=seeds, base_seed=base_seed, cost=cost,
                             column_energy=energy, threads=threads)
    distributed = check_ranks and _distributed()
    previous = shared.codes.clone() if distributed else None  # to restore on refusal
    with torch.no_grad():
        # Decoded into the buffer itself (on the CPU) or into a CPU twin of it: no copy of
        # the layer in another dtype.
        on_cpu = shared.codes.device.type == "cpu"
        host = shared.codes if on_cpu else torch.empty_like(shared.codes, device="cpu")
        layer.codes(out=host.numpy())
        if not on_cpu:
            shared.codes.copy_(host)
        del host
    if distributed:
        try:
            _check_ranks_agree(name, shared.codes.cpu().numpy())
        except RuntimeError:
            with torch.no_grad():
                shared.codes.copy_(previous)
            raise
    del previous
    counts = torch.bincount(shared.codes.reshape(-1), minlength=len(centroids) + 1).cpu()
    counts -= old_counts
    counts[0] = 0
    shared.false_positive_counts = counts.numpy().astype(np.int64)
    shared.encoded = layer
    return dict(layer.stats)


def _distributed():
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def _check_ranks_agree(name, codes):
    import torch.distributed as dist

    digest = int.from_bytes(hashlib.blake2b(memoryview(np.ascontiguousarray(codes)),
                                            digest_size=7).digest(), "little")
    mine = torch.tensor([digest], dtype=torch.int64)
    lowest, highest = mine.clone(), mine.clone()
    dist.all_reduce(lowest, op=dist.ReduceOp.MIN)
    dist.all_reduce(highest, op=dist.ReduceOp.MAX)
    if lowest.item() != highest.item():
        raise RuntimeError(f"'{name}': the ranks of this torch.distributed run built different "
                           "tables: give every rank the same calibration batch (and the same "
                           "model: wrap it in DistributedDataParallel for training)")


def _stored_layer(shared):
    """The encoded layer with the centroids as they trained (the table is not rebuilt)."""
    centroids = _to_numpy32(shared.centroids).astype(np.float64)
    added = float(np.sum(shared.false_positive_counts[1:] * centroids ** 2))
    return shared.encoded.with_centroids(_to_numpy32(shared.centroids), added_squared_error=added)


# --- The whole procedure -------------------------------------------------------------


class Phase:
    """What `retrain(model, phase)` is called after: kind 'prune' (round of rounds),
    'share', or 'encode' (layer, index: its place in the plan)."""

    def __init__(self, kind, round=None, rounds=None, layer=None, index=None):
        self.kind, self.round, self.rounds, self.layer, self.index = kind, round, rounds, layer, index

    def __str__(self):
        if self.kind == "prune":
            return f"prune round {self.round}/{self.rounds}"
        if self.kind == "encode":
            return f"encode {self.layer}"
        return self.kind

    __repr__ = __str__


class Report:
    """What compress did: `layers`, one dict per encoded layer (name, weights, kept, K, t,
    storage, kind, false_positives, false_positive_rate, bytes, ratio, accuracies), and
    `phases`, (str(phase), accuracy or None) in order. str() is the per-layer table."""

    def __init__(self):
        self.layers = []
        self.phases = []

    def __str__(self):
        lines = [f"{'layer':<20} {'weights':>10} {'kept':>8} {'K':>3} {'t':>3} {'storage':>12} "
                 f"{'FPs':>8} {'FP rate':>8} {'bytes':>9} {'ratio':>8}"]
        for l in self.layers:
            lines.append(f"{l['name']:<20} {l['weights']:>10} {l['kept']:>8} {l['K']:>3} "
                         f"{l['t']:>3} {l['storage']:>12} {l['false_positives']:>8} "
                         f"{100 * l['false_positive_rate']:>7.3f}% {l['bytes']:>9} "
                         f"{l['ratio']:>7.1f}x")
        return "\n".join(lines)


_PLAN_KEYS = {"keep", "clusters", "t", "kind", "hash", "storage", "seeds", "max_false_positive_rate"}


def _parse_plan(model, plan):
    items = list(plan.items()) if isinstance(plan, collections.abc.Mapping) else list(plan)
    out, seen = [], set()
    for item in items:
        if isinstance(item, collections.abc.Mapping):
            spec = dict(item)
            name = spec.pop("name", None)
        else:
            try:
                name, spec = item
            except (TypeError, ValueError):
                raise TypeError("each plan entry is (name, {options}) or {'name': ..., options}")
            spec = dict(spec)
        if name in seen:
            raise ValueError(f"the plan names '{name}' twice")
        seen.add(name)
        unknown = set(spec) - _PLAN_KEYS
        if unknown:
            raise ValueError(f"plan entry '{name}': unknown option(s) {sorted(unknown)} "
                             f"(known: {sorted(_PLAN_KEYS)})")
        _resolve(model, name)
        out.append((name, spec))
    if not out:
        raise ValueError("the plan names no parameter")
    return out


def _accuracy(value, what):
    """The accuracy a user function returned (None, a fraction, or a dict holding it
    under 'accuracy')."""
    if isinstance(value, collections.abc.Mapping):
        value = value.get("accuracy")
    if value is None:
        return None
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{what} returned {value}: an accuracy is a fraction in [0, 1]")
    return value


def _epochs(value):
    if isinstance(value, collections.abc.Mapping) and value.get("epochs") is not None:
        return int(value["epochs"])
    return 0


def compress(model, plan, retrain, calibration=None, *, evaluate=None, prune_rounds=5,
             schedule="geometric", seeds=8, cost="activation", kind="ribbon",
             later_layers_shared=False, base_seed=0, threads=0):
    """The Weightless procedure, as wl-train runs it, on the parameters `plan` names.

    plan: (name, options) pairs, {'name': ..., options} dicts, or a mapping name ->
      options, in encoding order; options: keep (kept fraction, default 1: not pruned),
      clusters (K, default 8), t (default: from max_false_positive_rate), kind, hash,
      storage, seeds, max_false_positive_rate.
    retrain(model, phase): your training (loop, optimizer, data, DDP), called after each
      pruning round, after sharing and after each encoded layer; it may return the
      validation accuracy (a fraction), or {'accuracy': fraction, 'epochs': n}, which the
      report and the file's retrain records keep.
    calibration: a batch of training inputs for cost='activation' (see column_energy).
    evaluate(model): optional; the validation accuracy before and after each encoding.

    Steps: 1. `prune_rounds` rounds of gradual magnitude pruning (`schedule`) toward each
    keep; 2. sharing of every planned layer, then retrain; 3. unless later_layers_shared,
    the layers go back to pruned (their kept weights train freely) and each is shared again
    just before its encoding; 4. in plan order, each layer is encoded (seed search with
    base_seed * 1000 + its index, like wl-train) and the later layers retrain around its
    false positives while its centroids keep training. Returns a Report.
    """
    entries = _parse_plan(model, plan)
    report = Report()

    def run(phase):
        result = retrain(model, phase)
        accuracy = _accuracy(result, "retrain")
        report.phases.append((str(phase), accuracy))
        return accuracy, _epochs(result)

    keep = {name: float(spec.get("keep", 1.0)) for name, spec in entries}
    if any(k < 1.0 for k in keep.values()):
        for r in range(1, prune_rounds + 1):
            prune(model, {n: k for n, k in keep.items() if k < 1.0}, round=r, rounds=prune_rounds,
                  schedule=schedule)
            run(Phase("prune", round=r, rounds=prune_rounds))
    for name, spec in entries:
        share(model, name, spec.get("clusters", 8))
    run(Phase("share"))
    if not later_layers_shared:
        for name, _ in entries:
            unshare(model, name)
    for index, (name, spec) in enumerate(entries):
        clusters = spec.get("clusters", 8)
        module, attr = _resolve(model, name)
        shared = _shared(module, attr)
        if shared is None or shared.centroids.numel() != clusters:
            share(model, name, clusters)
            shared = _shared(module, attr)
        before = _accuracy(evaluate(model), "evaluate") if evaluate else None
        stats = encode(model, name, spec.get("t"), seeds=spec.get("seeds", seeds), cost=cost,
                       calibration=calibration, kind=spec.get("kind", kind),
                       hash=spec.get("hash", "auto"), storage=spec.get("storage", "auto"),
                       max_false_positive_rate=spec.get("max_false_positive_rate", 0.06),
                       base_seed=base_seed * 1000 + index, threads=threads)
        after = _accuracy(evaluate(model), "evaluate") if evaluate else None
        retrained, epochs = run(Phase("encode", layer=name, index=index))
        shared.retrain = {"encode_order": index, "epochs_after": epochs,
                          "accuracy_before_encoding": before, "accuracy_after_encoding": after,
                          "accuracy_after_retraining": retrained}
        report.layers.append({
            "name": name, "weights": stats["weights"], "kept": stats["kept"],
            "K": stats["clusters"], "t": stats["value_bits"], "storage": shared.encoded.storage,
            "kind": shared.encoded.kind, "false_positives": stats["false_positives"],
            "false_positive_rate": stats["false_positive_rate"],
            "bytes": math.ceil(stats["bits"] / 8), "ratio": stats["compression_ratio"],
            "accuracy_before_encoding": before, "accuracy_after_encoding": after,
            "accuracy_after_retraining": retrained})
    return report


# --- Files ---------------------------------------------------------------------------

_DENSE_DTYPES = {"float32", "float16", "bfloat16", "int8"}


def _dtype_rule(dtype):
    """name -> stored dtype of a dense floating tensor: `dtype` is one dtype for all, or
    a mapping from names or shell-style patterns ("*.bias") to dtypes, the first match
    winning and the rest float32."""
    rules = [("*", dtype)] if isinstance(dtype, str) else list(dict(dtype).items())
    for pattern, d in rules:
        if d not in _DENSE_DTYPES:
            raise ValueError(f"dtype must be one of {sorted(_DENSE_DTYPES)}, not {d!r}"
                             + ("" if isinstance(dtype, str) else f" (for '{pattern}')"))

    def rule(name):
        for pattern, d in rules:
            if fnmatch.fnmatchcase(name, pattern):
                return d
        return "float32"

    return rule


def _stored_values(value, dtype):
    """What a float32 tensor reads back as when stored as `dtype`: the library's
    round_to_stored, the writer's own arithmetic."""
    v = value.detach().to(torch.float32)
    if dtype == "float32":
        return v
    return torch.from_numpy(_wl.round_to_stored(_to_numpy32(v), dtype)).to(v.device)


def round_dense(model, dtype):
    """Rounds, in place, every dense floating parameter and buffer of `model` that save()
    would store with `dtype` (as save's dtype) to the value the file will hold, so that the
    model evaluated before saving is exactly the model in the file (e.g. biases as int8).
    Encoded and shared layers are untouched. Returns the names rounded."""
    rule = _dtype_rule(dtype)
    rounded = []
    for prefix, module in _plain_modules(model):
        for attr in _module_parameter_names(module) + list(module._buffers):
            name = prefix + attr
            if _shared(module, attr) is not None or attr.endswith("_mask"):
                continue
            target = getattr(module, attr + "_orig") if _is_pruned(module, attr) else \
                getattr(module, attr, None)
            if target is None or not target.is_floating_point() or rule(name) == "float32":
                continue
            with torch.no_grad():
                target.copy_(_stored_values(target, rule(name)).to(target.dtype))
            rounded.append(name)
    return rounded


def _plain_tensors(model):
    """(plain name, tensor or SharedWeight) for every parameter and persistent buffer, in
    the plain model's order."""
    out = []
    for prefix, module in _plain_modules(model):
        for attr in _module_parameter_names(module):
            shared = _shared(module, attr)
            out.append((prefix + attr, shared if shared is not None
                        else _current_value(module, attr)))
        pruned_masks = {a + "_mask" for a in _module_parameter_names(module)
                        if _is_pruned(module, a)}
        for attr, b in module._buffers.items():
            if b is None or attr in pruned_masks or attr in module._non_persistent_buffers_set:
                continue
            out.append((prefix + attr, b.detach()))
    return out


def save(model, path, metadata=None, *, dtype="float32", producer_name="weightless.torch"):
    """Writes every parameter and persistent buffer of `model` to a .wl file, atomically
    (nothing appears at `path` unless the whole file is written). Encoded layers are stored
    as their tables with the centroids as trained and their retrain record; every other
    tensor dense when it is floating point as `dtype`: 'float32', 'float16', 'bfloat16' or
    'int8' (scale: largest magnitude / 127), or a mapping from names or shell patterns to
    those (e.g. {'*.bias': 'int8'}; unmatched: float32); round_dense(model, dtype) first
    makes the model in memory exactly the model in the file. Other tensors are stored as
    float32 holding their exact values (integer and bool buffers, whose dtype the file
    records). Tensors are named as in the plain model's state_dict.
    metadata: {key: str, int, float or bool}, stored as given. Returns {'file_bytes',
    'float32_bytes' (4 bytes per parameter), 'ratio'}."""
    rule = _dtype_rule(dtype)
    metadata = dict(metadata or {})
    if _TORCH_METADATA_KEY in metadata:
        raise ValueError(f"metadata key '{_TORCH_METADATA_KEY}' is weightless.torch's own")
    parameters = set(_plain_parameter_names(model))
    dtypes = {}
    float32_bytes = 0
    with _wl.Writer(os.fspath(path), producer_name=producer_name,
                    producer_version=_wl.__version__) as writer:
        for name, value in _plain_tensors(model):
            if isinstance(value, SharedWeight):
                float32_bytes += 4 * value.codes.numel()
                if value.encoded is not None:
                    writer.add_encoded(name, _stored_layer(value), retrain=value.retrain)
                    continue
                with torch.no_grad():
                    value = _Lookup.apply(value.centroids, value.codes)
            elif name in parameters:
                float32_bytes += 4 * value.numel()
            if value.dtype != torch.float32:
                dtypes[name] = str(value.dtype).replace("torch.", "")
            if value.is_floating_point():
                # int8: the writer's default scale, the one round_dense rounds with.
                writer.add_tensor(name, _to_numpy32(value), dtype=rule(name))
            else:
                exact = value.detach().cpu().to(torch.float64)
                stored = exact.to(torch.float32)
                if not torch.equal(stored.to(torch.float64), exact):
                    raise ValueError(f"'{name}' ({value.dtype}) holds values float32 cannot "
                                     "store exactly")
                writer.add_tensor(name, stored.numpy(), dtype="float32")
        for key, v in metadata.items():
            writer.set_metadata(key, v)
        writer.set_metadata(_TORCH_METADATA_KEY, json.dumps({"dtypes": dtypes},
                                                            separators=(",", ":")))
    file_bytes = os.path.getsize(path)
    return {"file_bytes": file_bytes, "float32_bytes": float32_bytes,
            "ratio": float32_bytes / file_bytes if file_bytes else 0.0}


def load_state_dict(path, *, device="cpu", threads=1):
    """The state_dict of the plain model stored in a .wl file (from save): every tensor
    decoded (encoded layers exactly as their tables decode), with the keys, shapes and
    dtypes of the uncompressed model, so that model.load_state_dict(...) just works.
    Tensors stored as float16 / bfloat16 come back as their model's dtype."""
    out = collections.OrderedDict()
    with _wl.open(os.fspath(path)) as f:
        extra = f.metadata.get(_TORCH_METADATA_KEY)
        dtypes = json.loads(extra)["dtypes"] if isinstance(extra, str) else {}
        for tensor in f:
            value = torch.from_numpy(tensor.decode(threads=threads))
            dtype = getattr(torch, dtypes.get(tensor.name, "float32"), None)
            if not isinstance(dtype, torch.dtype):
                raise ValueError(f"{path}: tensor '{tensor.name}': unknown torch dtype "
                                 f"'{dtypes[tensor.name]}' in metadata '{_TORCH_METADATA_KEY}'")
            out[tensor.name] = value.to(device=device, dtype=dtype)
    return out


def load(model, path, *, strict=True, threads=1):
    """model.load_state_dict(load_state_dict(path)) onto the model's device; returns what
    load_state_dict returns (missing and unexpected keys when strict=False)."""
    device = next(iter(model.parameters()), torch.empty(0)).device
    return model.load_state_dict(load_state_dict(path, device=device, threads=threads),
                                 strict=strict)


def load_checkpoint(model, state_dict):
    """Resumes the procedure from a checkpoint: loads `state_dict`, that of a model under
    compression (torch.save(model.state_dict()) after any step), into `model`, a plain
    model of the same architecture (or the same model), re-creating its pruning masks and
    shared weights first; encoded layers come back with their tables (the SharedWeight's
    extra state), so save() then writes the same file. (PyTorch pickles no parametrized
    module: torch.save(model) refuses; state dicts are the way.)"""
    suffix = ".0.codes"
    for key, value in state_dict.items():
        prefix, _, rest = key.rpartition(".parametrizations.")
        if prefix or key.startswith("parametrizations."):
            if not rest.endswith(suffix):
                continue
            attr = rest[: -len(suffix)]
            module = model.get_submodule(prefix) if prefix else model
            if _shared(module, attr) is None:
                centroids = state_dict[key[: -len("codes")] + "centroids"]
                _remember_plain_order(module)
                pruned = _is_pruned(module, attr)
                empty = getattr(module, attr + "_orig" if pruned else attr).new_empty(0)
                if pruned:
                    _detach_mask(module, attr)
                module._parameters[attr] = nn.Parameter(empty, requires_grad=False)
                parametrize.register_parametrization(
                    module, attr, SharedWeight(value.clone(), centroids.clone()), unsafe=True)
        elif key.endswith("_mask"):
            module_name, _, buffer = key.rpartition(".")
            module = model.get_submodule(module_name) if module_name else model
            attr = buffer[: -len("_mask")]
            if not _is_pruned(module, attr) and attr in module._parameters:
                _remember_plain_order(module)
                _attach_mask(module, attr, value != 0)
    return model.load_state_dict(state_dict)
