"""Tests of the numerical gradient check (xprop.gradcheck) and, through it, of every analytic
gradient in xprop.mlp: all activations x losses x depths x bias on NumPy, a smaller grid on every
backend, float32 handling, the fast (directional) mode, kinks and argument checking."""

from __future__ import annotations

import dataclasses
import sys

import numpy as np
import pytest

import xprop
from tests import helpers
from tests.helpers import host
from xprop import MLP, gradcheck
from xprop.tolerances import GRADCHECK

ACTIVATIONS = ["identity", "relu", "leaky_relu", "sigmoid", "tanh", "softmax", "softplus", "gelu"]
LOSSES = ["mse", "half_sse", "bce", "bce_with_logits", "cross_entropy"]
OUTPUT_FOR = {"bce": "sigmoid", "cross_entropy": "softmax"}  # identity otherwise

N, N_IN, WIDTH, N_OUT = 8, 3, 5, 3
RTOL64 = 1e-7  # what a smooth model's central differences reach here (not the verdict's rule)


def make_data(loss: str, seed: int = 0, n: int = N, n_in: int = N_IN, n_out: int = N_OUT):
    """Host inputs and targets of the right kind for ``loss``."""
    return helpers.make_data(loss, n, n_in, n_out, seed)


def make_model(activation: str, loss: str, depth: int, bias: bool, **kwargs) -> MLP:
    sizes = [N_IN] + [WIDTH] * (depth - 1) + [N_OUT]
    return MLP(sizes, activation, OUTPUT_FOR.get(loss, "identity"), loss, bias=bias,
               seed=kwargs.pop("seed", 1), **kwargs)


def snapshot(model: MLP) -> dict[str, np.ndarray]:
    """Host copies of the parameters (explicit copies: host() may return a view)."""
    return {k: np.array(host(v), copy=True) for k, v in model.parameters().items()}


@pytest.fixture
def scaled_w1_backward(monkeypatch):
    """A deliberately wrong core backward: the gradient of W1 comes out 1% too large."""
    from xprop import network
    from xprop.params import Params

    good = network.backward

    def backward(params, cache, Y, arch, *, input_grad=False, out=None, xp=None):
        grads, dX = good(params, cache, Y, arch, input_grad=True, xp=xp)
        values = [grads[k] * 1.01 if k == "W1" else grads[k] for k in grads]
        grads = Params.from_arrays(grads.layout, values, grads.xp)
        return (grads, dX) if input_grad else grads

    monkeypatch.setattr(network, "backward", backward)


# --------------------------------------------------------------------------- the full grid


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("depth", [1, 2, 3, 4])
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_grid_numpy_float64(activation, loss, depth, bias):
    X, y = make_data(loss, seed=depth)
    model = make_model(activation, loss, depth, bias)
    report = gradcheck(model, X, y)
    assert report.passed, str(report)
    assert report.max_ratio <= 1.0, str(report)
    assert report.dtype == "float64"
    expected = [f"{k}{i}" for i in range(depth) for k in (("W", "b") if bias else ("W",))]
    assert [e.name for e in report.entries] == expected
    for e in report.entries:
        assert e.n_checked == int(np.prod(e.shape))
        assert e.passed


BACKEND_GRID = [
    ("tanh", "cross_entropy", 2, True),
    ("relu", "mse", 3, True),
    ("gelu", "bce", 2, False),
    ("softplus", "bce_with_logits", 1, True),
    ("leaky_relu", "half_sse", 2, True),
]


@pytest.mark.parametrize(("activation", "loss", "depth", "bias"), BACKEND_GRID,
                         ids=["-".join(map(str, c)) for c in BACKEND_GRID])
def test_every_backend_agrees_with_numpy(case64, activation, loss, depth, bias):
    X, y = make_data(loss, seed=7)
    ref = make_model(activation, loss, depth, bias)
    model = make_model(activation, loss, depth, bias, backend=case64.backend, dtype="float64")
    # data on the model's device, as a user with device arrays would pass it
    Xd = case64.backend.from_host(X, "float64")
    yd = case64.backend.from_host(y, None if loss == "cross_entropy" else "float64")

    report, expected = gradcheck(model, Xd, yd, check_input=True), gradcheck(
        ref, X, y, check_input=True)
    assert report.passed, str(report)
    assert report.max_ratio <= 1.0
    assert report.backend == case64.backend.describe()
    assert [(e.name, e.shape, e.n_checked, e.n_kinks, e.passed) for e in report.entries] == [
        (e.name, e.shape, e.n_checked, e.n_kinks, e.passed) for e in expected.entries]

    # one seeded entry per parameter: the same entry is picked, with the same values
    one, one_ref = (gradcheck(m, d, t, n_checks=1, seed=3)
                    for m, d, t in ((model, Xd, yd), (ref, X, y)))
    for e, r in zip(one.entries, one_ref.entries, strict=True):
        assert e.worst_index == r.worst_index
        assert e.analytic == pytest.approx(r.analytic, rel=1e-10, abs=1e-14)
        assert e.numeric == pytest.approx(r.numeric, rel=1e-8, abs=1e-11)

    fast, fast_ref = gradcheck(model, Xd, yd, mode="fast"), gradcheck(ref, X, y, mode="fast")
    assert fast.passed and fast_ref.passed
    for d, r in zip(fast.fast["directions"], fast_ref.fast["directions"], strict=True):
        assert d["array"] == r["array"]  # one random direction of each array, the same ones
        assert d["analytic"] == pytest.approx(r["analytic"], rel=1e-10)
        assert d["numeric"] == pytest.approx(r["numeric"], rel=1e-8)


# --------------------------------------------------------------------------- float32 models


def test_float32_model_is_checked_in_float64(backend):
    X, y = make_data("mse", seed=2)
    model = make_model("tanh", "mse", 2, True, dtype="float32", backend=backend)
    before = snapshot(model)
    dtype_before = model.dtype
    if "float64" not in backend.supported_float_dtypes():
        with pytest.raises(xprop.BackendError, match="dtype"):
            gradcheck(model, X, y)
        report = gradcheck(model, X, y, dtype="float32")
        assert report.dtype == "float32"
        assert report.h == GRADCHECK["float32"]["h"]
    else:
        report = gradcheck(model, X, y)
        assert report.dtype == "float64"
        assert report.h == GRADCHECK["float64"]["h"]
        assert report.max_rel_error < RTOL64, str(report)
    assert report.passed, str(report)
    # the model itself is untouched: same dtype, same bits
    assert model.dtype == dtype_before
    for name, p in model.parameters().items():
        assert p.dtype == dtype_before
        np.testing.assert_array_equal(host(p), before[name])


def test_no_float64_device_needs_explicit_float32():
    be = xprop.resolve_backend("array_api_strict", "no_float64")
    X, y = make_data("cross_entropy", seed=4)
    model = make_model("tanh", "cross_entropy", 2, True, dtype="float32", backend=be)
    with pytest.raises(xprop.BackendError, match="dtype") as info:
        gradcheck(model, X, y)
    assert "float32" in str(info.value)  # the message says what to do instead
    report = gradcheck(model, X, y, dtype="float32")
    assert report.passed, str(report)
    assert report.dtype == "float32"
    assert report.eps == report.h == GRADCHECK["float32"]["h"]
    assert report.max_ratio <= 1.0
    fast = gradcheck(model, X, y, dtype="float32", mode="fast")
    assert fast.passed, str(fast)
    assert fast.fast["error"] <= fast.fast["tolerance"]


# --------------------------------------------------------------------------- options


def test_n_checks_picks_a_seeded_subset():
    X, y = make_data("mse", seed=5)
    model = make_model("tanh", "mse", 2, True)  # W0 3x5, b0 5, W1 5x3, b1 3
    a = gradcheck(model, X, y, n_checks=4, seed=11)
    b = gradcheck(model, X, y, n_checks=4, seed=11)
    assert a.passed and b.passed
    assert [e.worst_index for e in a.entries] == [e.worst_index for e in b.entries]
    assert [e.max_rel_error for e in a.entries] == [e.max_rel_error for e in b.entries]
    for e in a.entries:
        assert e.n_checked == min(4, int(np.prod(e.shape)))
    assert [e.n_checked for e in a.entries] == [4, 4, 4, 3]

    # n_checks=1: the worst entry is the one sampled entry, and it depends on the seed
    picks = {tuple(e.worst_index for e in gradcheck(model, X, y, n_checks=1, seed=s).entries)
             for s in range(6)}
    assert len(picks) > 1


def test_check_input_adds_a_passing_x_entry():
    X, y = make_data("cross_entropy", seed=6)
    model = make_model("gelu", "cross_entropy", 3, True)
    plain = gradcheck(model, X, y)
    assert "X" not in [e.name for e in plain.entries]
    report = gradcheck(model, X, y, check_input=True)
    assert report.entries[-1].name == "X"
    entry = report.entries[-1]
    assert entry.shape == X.shape
    assert entry.n_checked == X.size
    assert entry.passed and entry.max_rel_error < RTOL64
    assert report.passed


@pytest.mark.parametrize("method", ["central", "five_point"])
def test_methods(method):
    X, y = make_data("half_sse", seed=8)
    model = make_model("sigmoid", "half_sse", 2, True)
    report = gradcheck(model, X, y, method=method)
    assert report.method == method
    assert report.passed, str(report)


def test_report_formatting_and_dict():
    X, y = make_data("mse", seed=9)
    report = gradcheck(make_model("tanh", "mse", 2, True), X, y)
    text = str(report)
    assert "PASSED" in text and "FAILED" not in text
    for name in ("W0", "b0", "W1", "b1"):
        assert name in text
    assert bool(report) is True
    assert report.raise_if_failed() is report
    d = report.to_dict()
    assert d["passed"] is True and [e["name"] for e in d["entries"]] == ["W0", "b0", "W1", "b1"]


# --------------------------------------------------------------------------- fast mode and bugs


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_fast_mode_passes_on_a_correct_model(dtype):
    X, y = make_data("bce", seed=10)
    model = make_model("tanh", "bce", 3, True, dtype=dtype)
    report = gradcheck(model, X, y, mode="fast")
    assert report.mode == "fast"
    assert report.passed
    assert report.entries == []  # no fallback needed
    assert report.fast["passed"]
    assert report.fast["error"] <= report.fast["tolerance"]
    assert report.fast["rel_error"] < 1e-7
    assert report.max_rel_error == report.fast["rel_error"]
    assert "random direction" in str(report) and "PASSED" in str(report)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_broken_backward_is_caught_by_fast_and_full_mode(dtype, scaled_w1_backward):
    X, y = make_data("mse", seed=12)
    model = MLP([N_IN, WIDTH, WIDTH, N_OUT], "tanh", seed=2, dtype=dtype)

    fast = gradcheck(model, X, y, mode="fast")
    assert not fast.passed
    assert not fast.fast["passed"]
    assert fast.fast["rel_error"] > 1e-4
    # fell back to the per-entry table, which names only the broken parameter
    assert [e.name for e in fast.entries] == ["W0", "b0", "W1", "b1", "W2", "b2"]
    assert [e.name for e in fast.entries if not e.passed] == ["W1"]
    text = str(fast)
    assert "FAILED" in text and "W1" in text
    with pytest.raises(AssertionError, match="W1"):
        fast.raise_if_failed()

    full = gradcheck(model, X, y)
    assert not full.passed and not bool(full)
    assert [e.name for e in full.entries if not e.passed] == ["W1"]
    bad = full.entries[2]
    assert bad.analytic == pytest.approx(1.01 * bad.numeric, rel=1e-6)
    assert "FAILED" in str(full) and "W1" in str(full)


def test_broken_activation_backward_is_caught(monkeypatch):
    X, y = make_data("half_sse", seed=13)
    model = make_model("tanh", "half_sse", 2, True)
    good = model.activations[0]

    def scaled_backward(g, z, a, xp):
        return good.backward(g, z, a, xp) * 1.01

    broken = dataclasses.replace(model.arch, hidden=(
        dataclasses.replace(good, backward=scaled_backward), *model.arch.hidden[1:]))
    monkeypatch.setattr(model, "arch", broken)
    for mode in ("fast", "full"):
        report = gradcheck(model, X, y, mode=mode)
        assert not report.passed
        # only the parameters below the broken activation get wrong gradients
        assert [e.name for e in report.entries if not e.passed] == ["W0", "b0"]
        assert "FAILED" in str(report) and "W0" in str(report)


# --------------------------------------------------------------------------- kinks


def test_relu_kinks_are_flagged_and_skipped():
    W0 = np.array([[1.0, 0.5], [-1.0, 0.25]])
    b0 = np.array([0.0, 0.1])
    W1 = np.array([[0.7], [-0.3]])
    b1 = np.array([0.05])
    X = np.array([[0.5, 0.5],        # z[0, 0] = 0.5 - 0.5 = 0 exactly
                  [0.3, 0.2999],     # z[1, 0] = 1e-4, within h = 1e-3 of the kink
                  [1.0, 2.0]])
    y = np.array([[0.2], [0.1], [-0.4]])
    model = MLP.from_arrays([W0, W1], [b0, b1], "relu")
    _, cache = model.forward(model.backend.from_host(X, "float64"))
    z = host(cache.pre[0])
    assert z[0, 0] == 0.0
    assert 0 < abs(z[1, 0]) < GRADCHECK["float64"]["h"]

    report = gradcheck(model, X, y)
    assert report.passed, str(report)
    by_name = {e.name: e for e in report.entries}
    # z = 0 exactly: judged one-sided (the slope from below); z = 1e-4 changes the pattern on
    # both sides at h but not at h/16: judged there (before: a kink, not judged)
    assert by_name["W0"].n_one_sided > 0 and by_name["b0"].n_one_sided > 0
    assert report.n_kinks == 0
    assert by_name["W1"].n_one_sided == 0  # the output layer is linear
    # with the smaller steps off, the same entries are kinks, not judged
    G = sys.modules["xprop.gradcheck"]  # the module (xprop.gradcheck is the function)
    halvings = G.GRADCHECK_HALVINGS
    try:
        G.GRADCHECK_HALVINGS = 0
        coarse = gradcheck(model, X, y)
    finally:
        G.GRADCHECK_HALVINGS = halvings
    assert coarse.n_kinks > 0 and f"{coarse.n_kinks} on kinks, not judged" in str(coarse)
    assert all(e.n_kinks < e.n_checked for e in coarse.entries)


def test_smooth_model_reports_no_kinks():
    X, y = make_data("mse", seed=14)
    report = gradcheck(make_model("softplus", "mse", 3, True), X, y)
    assert report.n_kinks == 0
    assert "on kinks" not in str(report)


# --------------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"method": "forward"}, "method"),
        ({"method": None}, "method"),
        ({"mode": "slow"}, "mode"),
        ({"n_checks": 0}, "n_checks"),
        ({"n_checks": -3}, "n_checks"),
        ({"n_checks": 2.5}, "n_checks"),
        ({"n_checks": True}, "n_checks"),
        ({"n_checks": "5"}, "n_checks"),
        ({"eps": 0.0}, "eps"),
        ({"eps": -1e-3}, "eps"),
        ({"eps": float("nan")}, "eps"),
        ({"eps": float("inf")}, "eps"),
        ({"dtype": "float16"}, "dtype"),
        ({"dtype": "int64"}, "dtype"),
    ],
    ids=lambda v: v if isinstance(v, str) else "-".join(f"{k}={v[k]}" for k in v),
)
def test_bad_arguments(kwargs, name):
    X, y = make_data("mse")
    X0, y0 = X.copy(), y.copy()
    model = make_model("tanh", "mse", 2, True)
    before = snapshot(model)
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        gradcheck(model, X, y, **kwargs)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)
    for k, v in model.parameters().items():
        np.testing.assert_array_equal(host(v), before[k])


# --------------------------------------------------------------------------- caller's data


@pytest.mark.parametrize(("loss", "check_input", "mode"),
                         [("cross_entropy", False, "full"), ("cross_entropy", True, "fast"),
                          ("mse", True, "full"), ("mse", False, "fast")])
def test_gradcheck_leaves_data_and_model_alone(case, loss, check_input, mode):
    X, y = make_data(loss, seed=15, n=4)
    dtype = "float64" if "float64" in case.backend.supported_float_dtypes() else "float32"
    model = make_model("relu", loss, 2, True, dtype=case.dtype, backend=case.backend)
    before = snapshot(model)
    Xd = case.backend.from_host(X, case.dtype)
    yd = case.backend.from_host(y, None if loss == "cross_entropy" else case.dtype)
    X0, y0 = X.copy(), y.copy()
    for data in ((X, y), (Xd, yd)):
        report = gradcheck(model, *data, check_input=check_input, mode=mode, dtype=dtype)
        assert report.passed, str(report)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)
    np.testing.assert_array_equal(host(Xd), X0.astype(case.dtype))
    np.testing.assert_array_equal(host(yd), y0 if loss == "cross_entropy" else y0.astype(
        case.dtype))
    for k, v in model.parameters().items():
        np.testing.assert_array_equal(host(v), before[k])


@pytest.mark.filterwarnings("ignore:invalid value encountered in log:RuntimeWarning")
def test_a_nan_loss_is_an_error_not_a_pass():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((8, 3)), rng.integers(0, 3, 8)
    from xprop.activations import ACTIVATIONS

    log_of_negative = dataclasses.replace(ACTIVATIONS["tanh"],
                                          forward=lambda z, xp: xp.log(xp.tanh(z) - 2.0))
    m = xprop.MLP([3, 5, 3], log_of_negative, "softmax", "cross_entropy")
    with pytest.raises(ValueError, match=r"X, y: the loss is nan"):
        xprop.gradcheck(m, X, y)


def test_a_nan_gradient_fails():
    import dataclasses

    from xprop.activations import ACTIVATIONS

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((8, 3)), rng.standard_normal((8, 2))
    tanh = ACTIVATIONS["tanh"]
    broken = dataclasses.replace(tanh, backward=lambda g, z, a, xp: g * xp.nan)
    m = xprop.MLP([3, 4, 2], broken, "identity", "mse")
    report = xprop.gradcheck(m, X, y)
    assert not report.passed
    assert report.max_rel_error == float("inf")
    assert not xprop.gradcheck(m, X, y, mode="fast").passed


@pytest.mark.parametrize("h", [1e-20, 1e-300])
def test_a_step_too_small_to_resolve_anything_is_inconclusive(h):
    """Rounding swamps the differences: not a FAIL, not a refusal, but inconclusive with the
    reason (exit code 3 in the CLI)."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((8, 3)), rng.integers(0, 3, 8)
    m = xprop.MLP([3, 5, 3], "tanh", "softmax", "cross_entropy")
    report = xprop.gradcheck(m, X, y, h=h)
    assert report.verdict == "inconclusive" and not report.passed, str(report)
    assert "cannot resolve" in report.reason


@pytest.mark.parametrize("kwargs", [{"seed": -1}, {"seed": 1.5}, {"h": 0.0}])
def test_seed_and_h_are_validated(kwargs):
    m = xprop.MLP([2, 1])
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        xprop.gradcheck(m, np.ones((2, 2)), np.ones(2), **kwargs)


def test_sixth_audit_gradcheck_cases():
    """Found by audit: the fast mode passed a float32 check of a derivative 1% off that the
    table FAILs (its random direction resolved only 10%); a float32 loss that jumps where the
    inputs are large FAILED correct gradients (a difference that doubled as the step halved
    counted as confirmed); ``kinks`` was not checked."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 3)), rng.integers(0, 3, 20)
    bad = xprop.make_activation("tanh_1pct", lambda z, xp: xp.tanh(z),
                                lambda z, a, xp: (1.0 - a * a) * 1.01)
    model = MLP([3, 6, 6, 3], bad, "softmax", "cross_entropy", seed=0)
    for mode in ("full", "fast"):
        assert gradcheck(model, X, y, dtype="float32", mode=mode).verdict == "FAILED"
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(12, 3)) * 1e4, rng.integers(0, 3, 12)
    start = MLP([3, 5, 5, 3], "sigmoid", "softmax", "cross_entropy", seed=3)
    model = MLP.from_arrays([host(w) * 0.1 for w in start.weights],
                            [host(b) * 0.1 for b in start.biases], "sigmoid", "softmax",
                            "cross_entropy")
    assert gradcheck(model, X, y).verdict == "passed"
    assert gradcheck(model, X, y, dtype="float32").verdict != "FAILED"
    x = np.array([1.0, -2.0])
    for kinks, said in ((3, "expected a function"), (lambda x: True, "expected it to return")):
        with pytest.raises(TypeError, match=rf"^kinks: {said}"):
            xprop.check_gradients(lambda x: np.sum(x * x), [x], [2 * x], kinks=kinks)


def test_a_wrong_gradient_where_the_true_one_is_zero_fails():
    """Found by review: the confirmation rule made for a float32 loss that jumps let a
    gradient claimed where f is flat (a dead unit, an unused input) pass: the numeric
    difference there is rounding, doubling as the step halves."""
    x = np.array([0.3, -0.7, 1.1])

    def f(x):
        return np.tanh(x[0]) + np.tanh(x[2])  # x[1] unused

    grad = np.array([1 - np.tanh(0.3) ** 2, 1.0, 1 - np.tanh(1.1) ** 2])  # dx1 claimed 1
    for mode in ("full", "fast"):
        assert xprop.check_gradients(f, [x], [grad], mode=mode).verdict == "FAILED"
