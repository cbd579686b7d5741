# Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
"""weightless.torch: pruning, sharing, encoding and retraining a PyTorch model, its file
and its state_dict. Run by ctest (python_torch) with PYTHONPATH=<build>/bindings/python."""

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import weightless
import weightless.torch as wlt


class Tiny(nn.Module):
    """A convolution, a batch norm (an int64 buffer) and two dense layers."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 6, 3)
        self.bn = nn.BatchNorm2d(6)
        self.fc1 = nn.Linear(6 * 6 * 6, 40)
        self.fc2 = nn.Linear(40, 4)

    def forward(self, x):
        x = F.relu(self.bn(self.conv(x)))
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


PLAN = [("conv.weight", dict(keep=0.6, clusters=4)),
        ("fc1.weight", dict(keep=0.1, clusters=8, t=6)),
        ("fc2.weight", dict(keep=0.4, clusters=4))]


def data(seed=0, n=128):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 8, 8, generator=g)
    y = (x[:, 0, 2:6, 2:6].sum(dim=(1, 2)) > 0).long() + 2 * (x[:, 0, 0, :].sum(dim=1) > 0).long()
    return x, y


def train(model, x, y, steps=15, lr=0.05):
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-3)
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(dim=1) == y).float().mean())


def compressed(tmp_path=None):
    torch.manual_seed(1)
    model, (x, y) = Tiny(), data()
    train(model, x, y, steps=30)
    phases = []

    def retrain(m, phase):
        phases.append(str(phase))
        return {"accuracy": train(m, x, y), "epochs": 15}

    report = wlt.compress(model, PLAN, retrain, calibration=x[:64], prune_rounds=2, seeds=4,
                          evaluate=lambda m: train(m, x, y, steps=0))
    return model, x, report, phases


def test_end_to_end_file_gives_identical_outputs(tmp_path):
    model, x, report, phases = compressed()
    assert phases == ["prune round 1/2", "prune round 2/2", "share", "encode conv.weight",
                      "encode fc1.weight", "encode fc2.weight"]
    assert [l["name"] for l in report.layers] == [n for n, _ in PLAN]
    fc1 = report.layers[1]
    assert fc1["K"] == 8 and fc1["t"] == 6 and fc1["storage"] == "retrieval"
    assert fc1["kept"] == round(0.1 * 216 * 40) and fc1["false_positives"] > 0
    assert fc1["false_positive_rate"] == pytest.approx(8 / 64, abs=0.03)
    assert 0 <= fc1["accuracy_after_retraining"] <= 1 and "fc1.weight" in str(report)
    assert all(wlt.state(model, n) == "encoded" for n, _ in PLAN)

    path = tmp_path / "tiny.wl"
    summary = wlt.save(model, path, {"dataset": "synthetic"})
    assert summary["file_bytes"] == path.stat().st_size
    params = sum(p.numel() for p in Tiny().parameters())
    assert summary["float32_bytes"] == 4 * params
    assert summary["ratio"] == pytest.approx(4 * params / path.stat().st_size)

    state = wlt.load_state_dict(path)
    plain = Tiny().state_dict()
    assert list(state) == list(plain)  # the plain model's keys, in its order
    for k in plain:
        assert state[k].shape == plain[k].shape and state[k].dtype == plain[k].dtype, k
    fresh = Tiny()
    fresh.load_state_dict(state)
    fresh.eval()
    model.eval()
    with torch.no_grad():
        assert torch.equal(fresh(x), model(x))  # bit for bit
    with weightless.open(path) as f:
        assert f.metadata["dataset"] == "synthetic"
        assert f["fc1.weight"].storage == "retrieval" and f["conv.bias"].storage == "dense"
        assert f["fc1.weight"].retrain["encode_order"] == 1
        assert f["fc1.weight"].retrain["epochs_after"] == 15
        assert f["fc1.weight"].retrain["accuracy_after_retraining"] == pytest.approx(
            report.layers[1]["accuracy_after_retraining"])
        np.testing.assert_array_equal(f["fc1.weight"].decode(), model.fc1.weight.detach().numpy())
        assert f.verify() == []

    # load() onto a model; a copy and a pickled checkpoint save the same bytes.
    other = Tiny()
    wlt.load(other, path)
    assert torch.equal(other.fc1.weight, fresh.fc1.weight)
    copy_path = tmp_path / "copy.wl"
    wlt.save(copy.deepcopy(model), copy_path, {"dataset": "synthetic"})
    assert copy_path.read_bytes() == path.read_bytes()
    # A checkpoint (a state_dict) resumes into a plain model of the same architecture.
    checkpoint = tmp_path / "model.pt"
    torch.save(model.state_dict(), checkpoint)
    restored = Tiny()
    wlt.load_checkpoint(restored, torch.load(checkpoint))
    assert [wlt.state(restored, n) for n, _ in PLAN] == ["encoded"] * 3
    restored.eval()
    with torch.no_grad():
        assert torch.equal(restored(x), model(x))
    again = tmp_path / "again.wl"
    wlt.save(restored, again, {"dataset": "synthetic"})
    assert again.read_bytes() == path.read_bytes()


def test_masks_hold_through_optimizer_steps():
    torch.manual_seed(2)
    model, (x, y) = Tiny(), data()
    kept = wlt.prune(model, {"fc1.weight": 0.2, "conv.weight": 0.5})
    assert kept == {"fc1.weight": round(0.2 * 8640), "conv.weight": 27}
    mask = model.fc1.weight_mask.clone()
    assert wlt.state(model, "fc1.weight") == "pruned" and wlt.state(model, "fc2.weight") == "dense"
    train(model, x, y, steps=10)  # momentum and weight decay move weight_orig everywhere
    assert torch.equal(model.fc1.weight_mask, mask)
    assert torch.count_nonzero(model.fc1.weight[mask == 0]) == 0
    # A later, smaller cut keeps a subset of the mask: a pruned weight never comes back.
    wlt.prune(model, {"fc1.weight": 0.1})
    assert torch.all(model.fc1.weight_mask <= mask)
    assert int(model.fc1.weight_mask.sum()) == round(0.1 * 8640)
    # The mask is the library's: the largest magnitudes, ties to the lower index.
    w = torch.tensor([[3.0, -1.0, 2.0], [0.5, 4.0, -6.0]])
    lin = nn.Linear(3, 2)
    with torch.no_grad():
        lin.weight.copy_(w)
    wlt.prune(lin, {"weight": 0.5})
    assert lin.weight_mask.tolist() == [[1, 0, 0], [0, 1, 1]]


def test_gradual_schedule_matches_wl_train():
    for schedule in ("geometric", "cubic"):
        rounds = [wlt.keep_at_round(0.05, r, 5, schedule) for r in range(1, 6)]
        assert rounds[-1] == pytest.approx(0.05) and rounds == sorted(rounds, reverse=True)
    assert wlt.keep_at_round(0.04, 1, 2, "geometric") == pytest.approx(0.2)
    assert wlt.keep_at_round(0.1, 1, 2, "cubic") == pytest.approx(1 - 0.9 * (1 - 0.125))
    model = Tiny()
    seen = [(r, f) for r, f in wlt.gradual_prune(model, {"fc1.weight": 0.04}, rounds=2)]
    assert [r for r, _ in seen] == [1, 2]
    assert int(model.fc1.weight_mask.sum()) == round(0.04 * 8640)


def test_share_is_the_library_k_means_and_codes_never_change():
    torch.manual_seed(3)
    model, (x, y) = Tiny(), data()
    wlt.prune(model, {"fc1.weight": 0.3})
    values = (model.fc1.weight_orig * model.fc1.weight_mask).detach().numpy().copy()
    mask = model.fc1.weight_mask.detach().numpy() != 0
    error = wlt.share(model, "fc1.weight", clusters=8)
    codes, centroids, expected_error = weightless.share_weights(values[mask], 8)
    shared = model.fc1.parametrizations.weight[0]
    assert isinstance(shared, wlt.SharedWeight) and shared.codes.dtype == torch.uint8
    np.testing.assert_array_equal(shared.codes.numpy()[mask], codes)
    assert np.all(shared.codes.numpy()[~mask] == 0)
    np.testing.assert_array_equal(shared.centroids.detach().numpy(), centroids)
    assert error == pytest.approx(expected_error)
    table = np.concatenate([[0], centroids]).astype(np.float32)
    np.testing.assert_array_equal(model.fc1.weight.detach().numpy(), table[shared.codes.numpy()])

    stats = wlt.encode(model, "fc1.weight", t=6, seeds=4, calibration=x[:32])
    assert stats["clusters"] == 8 and stats["kept"] == int(mask.sum())
    assert stats["chosen_cost"] == stats["added_activation_error"] <= stats["first_seed_cost"]
    np.testing.assert_array_equal(model.fc1.weight.detach().numpy(), shared.encoded.decode())
    codes_after_encoding = shared.codes.clone()
    centroids_after_encoding = shared.centroids.detach().clone()
    train(model, x, y, steps=10)
    assert torch.equal(shared.codes, codes_after_encoding)  # fixed for good
    assert not torch.equal(shared.centroids.detach(), centroids_after_encoding)  # they train
    new_table = torch.cat([torch.zeros(1), shared.centroids.detach()])
    assert torch.equal(model.fc1.weight.detach(), new_table[shared.codes.long()])
    # The centroid gradient is the sum of the gradients of the weights of each code.
    model.zero_grad()
    out = model(x).sum()
    out.backward()
    dense = nn.Linear(216, 40)
    with torch.no_grad():
        dense.weight.copy_(model.fc1.weight)
        dense.bias.copy_(model.fc1.bias)
    features = F.relu(model.bn(model.conv(x))).flatten(1).detach()
    (model.fc2(F.relu(dense(features)))).sum().backward()
    expected = torch.stack([dense.weight.grad[shared.codes == c].sum() for c in range(1, 9)])
    assert torch.allclose(shared.centroids.grad, expected, rtol=1e-5, atol=1e-6)


def test_checkpoint_of_a_pruned_and_shared_model(tmp_path):
    model, (x, _) = Tiny(), data()
    wlt.prune(model, {"fc1.weight": 0.3, "conv.weight": 0.5})
    wlt.share(model, "fc1.weight", clusters=4)
    restored = Tiny()
    wlt.load_checkpoint(restored, copy.deepcopy(model.state_dict()))
    assert wlt.state(restored, "conv.weight") == "pruned"
    assert wlt.state(restored, "fc1.weight") == "shared"
    model.eval()
    restored.eval()
    with torch.no_grad():
        assert torch.equal(restored(x), model(x))


def test_unshare_and_reshare():
    model = Tiny()
    wlt.prune(model, {"fc2.weight": 0.5})
    wlt.share(model, "fc2.weight", clusters=3)
    before = model.fc2.weight.detach().clone()
    wlt.unshare(model, "fc2.weight")
    assert wlt.state(model, "fc2.weight") == "pruned"
    assert torch.equal(model.fc2.weight_orig.detach() * model.fc2.weight_mask, before)
    wlt.share(model, "fc2.weight", clusters=2)
    wlt.share(model, "fc2.weight", clusters=2)  # re-clusters the current values
    assert model.fc2.parametrizations.weight[0].centroids.numel() == 2


def test_activation_energy_of_dense_and_convolution():
    torch.manual_seed(4)
    model, (x, _) = Tiny(), data()
    energy = wlt.column_energy(model, "conv.weight", x[:10])
    cols = F.unfold(x[:10].double(), 3)  # (10, 9, 36)
    np.testing.assert_allclose(energy, cols.pow(2).mean(dim=(0, 2)).numpy(), rtol=1e-6)
    captured = {}
    model.fc1.register_forward_hook(lambda m, i, o: captured.update(x=i[0]))
    model.eval()
    with torch.no_grad():
        model(x[:10])
    np.testing.assert_allclose(wlt.column_energy(model, "fc1.weight", x[:10]),
                               captured["x"].double().pow(2).mean(dim=0).numpy(), rtol=1e-6)
    assert model.training is False
    model.train()
    wlt.column_energy(model, "fc1.weight", x[:10])
    assert model.training  # restored
    with pytest.raises(TypeError, match="nn.Linear, nn.Conv1d and nn.Conv2d, not of BatchNorm2d"):
        wlt.column_energy(model, "bn.weight", x[:10])


def test_save_dtypes_buffers_and_atomicity(tmp_path):
    model, (x, y) = Tiny(), data()
    train(model, x, y, steps=3)  # the batch norm counts batches (an int64 buffer)
    path = tmp_path / "half.wl"
    wlt.save(model, path, dtype="float16")
    state = wlt.load_state_dict(path)
    assert state["bn.num_batches_tracked"].dtype == torch.int64
    assert int(state["bn.num_batches_tracked"]) == 3
    assert state["fc1.weight"].dtype == torch.float32
    assert torch.equal(state["fc1.weight"], model.fc1.weight.detach().half().float())
    with weightless.open(path) as f:
        assert f["fc1.weight"].dtype == "float16"

    kept = tmp_path / "kept.wl"
    kept.write_bytes(b"the user's file")
    with pytest.raises(Exception):
        wlt.save(model, kept, {"bad": [1, 2]})  # fails inside the writer
    assert kept.read_bytes() == b"the user's file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["half.wl", "kept.wl"]

    # Biases as int8 (the writer's scale), the rest float32: round_dense makes the model
    # in memory the model in the file.
    model.fc1.bias.data[3] = -0.0
    rules = {"*.bias": "int8", "bn.running_var": "bfloat16"}
    assert wlt.round_dense(model, rules) == ["conv.bias", "bn.bias", "bn.running_var",
                                             "fc1.bias", "fc2.bias"]
    wlt.save(model, tmp_path / "int8.wl", dtype=rules)
    state = wlt.load_state_dict(tmp_path / "int8.wl")
    for key, value in model.state_dict().items():
        assert torch.equal(state[key], value), key
    assert str(state["fc1.bias"][3].item()) == "0.0"  # -0 reads back as +0, as in memory
    assert str(model.fc1.bias[3].item()) == "0.0"
    with weightless.open(tmp_path / "int8.wl") as f:
        assert f["fc1.bias"].dtype == "int8" and f["fc1.weight"].dtype == "float32"
        assert f["bn.running_var"].dtype == "bfloat16"
    fresh = Tiny()
    fresh.load_state_dict(state)
    model.eval()
    fresh.eval()
    with torch.no_grad():
        assert torch.equal(fresh(x), model(x))
    with pytest.raises(ValueError, match="dtype must be one of"):
        wlt.save(model, tmp_path / "x.wl", dtype="int4")
    with pytest.raises(ValueError, match=r"not 'float8' \(for '\*.bias'\)"):
        wlt.save(model, tmp_path / "x.wl", dtype={"*.bias": "float8"})
    with pytest.raises(ValueError, match="'torch' is weightless.torch's own"):
        wlt.save(model, tmp_path / "x.wl", {"torch": "mine"})


def test_clear_errors():
    model = Tiny()
    with pytest.raises(KeyError, match=r"no parameter 'fc3.weight' \(its parameters: conv.weight"):
        wlt.prune(model, {"fc3.weight": 0.5})
    with pytest.raises(KeyError, match="no parameter 'fc1.weights'"):
        wlt.share(model, "fc1.weights")
    model.register_parameter("steps", nn.Parameter(torch.zeros(3, dtype=torch.int64),
                                                   requires_grad=False))
    with pytest.raises(TypeError, match="'steps' is torch.int64: only floating-point"):
        wlt.share(model, "steps")
    with pytest.raises(ValueError, match="'fc1.weight' is dense: share it before encoding"):
        wlt.encode(model, "fc1.weight")
    wlt.prune(model, {"fc1.weight": 0.5})
    with pytest.raises(ValueError, match="'fc1.weight' is pruned: share it before encoding"):
        wlt.encode(model, "fc1.weight")
    wlt.share(model, "fc1.weight", clusters=4)
    with pytest.raises(ValueError, match="cost='activation' needs calibration"):
        wlt.encode(model, "fc1.weight")
    with pytest.raises(ValueError, match="already shared: prune before share"):
        wlt.prune(model, {"fc1.weight": 0.2})
    with pytest.raises(weightless.InvalidArgumentError, match="t = 2 holds codes up to 3"):
        wlt.encode(model, "fc1.weight", t=2, cost="squared_error")
    wlt.encode(model, "fc1.weight", cost="squared_error", seeds=1)
    with pytest.raises(ValueError, match="'fc1.weight' is already encoded"):
        wlt.encode(model, "fc1.weight", cost="squared_error")
    with pytest.raises(ValueError, match="already encoded: its codes are fixed"):
        wlt.share(model, "fc1.weight")
    with pytest.raises(NotImplementedError, match="assign its centroids"):
        model.fc1.weight = torch.zeros(40, 216)
    class Double(nn.Module):
        def forward(self, w):
            return 2 * w

    other = Tiny()
    torch.nn.utils.parametrize.register_parametrization(other.fc2, "weight", Double())
    with pytest.raises(TypeError, match="'fc2.weight' already has a parametrization of its "
                                        r"own \(Double\)"):
        wlt.share(other, "fc2.weight")
    with pytest.raises(ValueError, match="a kept fraction is in"):
        wlt.prune(Tiny(), {"fc2.weight": 1.5})

    fresh = Tiny()  # a plan is checked before anything changes
    with pytest.raises(ValueError, match="the plan names 'fc1.weight' twice"):
        wlt.compress(fresh, [("fc1.weight", {}), ("fc2.weight", {}), ("fc1.weight", {})],
                     lambda m, p: None)
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['clusterz'\]"):
        wlt.compress(fresh, {"fc1.weight": {"clusterz": 4}}, lambda m, p: None)
    with pytest.raises(KeyError, match="no parameter 'fc9.weight'"):
        wlt.compress(fresh, [{"name": "fc9.weight"}], lambda m, p: None)
    assert all(wlt.state(fresh, n) == "dense" for n in ("fc1.weight", "fc2.weight"))
    with pytest.raises(ValueError, match=r"retrain returned 93.0: an accuracy is a fraction"):
        wlt.compress(fresh, {"fc2.weight": {"keep": 0.5}}, lambda m, p: 93.0,
                     cost="squared_error")


def test_importing_weightless_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, weightless; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_report_bytes_and_ratio():
    model, _, report, _ = compressed()
    for layer in report.layers:
        prefix, _, attr = layer["name"].rpartition(".")
        stats = model.get_submodule(prefix).parametrizations[attr][0].encoded.stats
        assert layer["bytes"] == math.ceil(stats["bits"] / 8)
        assert layer["ratio"] == stats["compression_ratio"] == 32 * layer["weights"] / stats["bits"]
