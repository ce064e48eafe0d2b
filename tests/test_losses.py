"""Losses: values against hand-computed numbers, gradients against finite differences, the
fused output-activation forms, stability on huge logits, ``one_hot`` and name parsing.

Tolerances: values are compared with float64 literals using ``parity_rtol(dtype)`` (1e-12 in
float64; 1e-5 in float32, whose sums here are a few elements long so they carry a few ulps,
~1e-7). ``bce`` and ``cross_entropy`` on probabilities put ``EPS = 1e-12`` inside the log, which
moves them by about ``EPS / a`` from the exact value, so those comparisons get an absolute
allowance of ``10 * EPS / min(a)`` on top. Gradients are checked in float64 against five-point
central differences (step 1e-4; truncation ~h^4, rounding ~u/h, both <= 1e-12) at 1e-8.
"""

from __future__ import annotations

import contextlib
import math
import warnings

import numpy as np
import pytest

from tests.helpers import assert_backend_array, host
from xprop.activations import ACTIVATIONS
from xprop.losses import EPS, LOSSES, Loss, get_loss, one_hot
from xprop.tolerances import parity_atol, parity_rtol

NAMES = sorted(LOSSES)
FD_STEP = 1e-4
FD_RTOL = 1e-8
FD_ATOL = 1e-11


def _to(case, rows):
    return case.backend.from_host(np.asarray(rows, dtype=np.float64), case.dtype)


def _value(loss, case, a_rows, y_rows):
    a, y = _to(case, a_rows), _to(case, y_rows)
    v = loss.value(a, y, case.xp)
    assert_backend_array(v, case.backend)
    assert v.shape == ()
    out = host(v)
    assert out.dtype == np.dtype(case.dtype)
    return float(out)


def _close(got, expected, dtype, extra_atol=0.0):
    np.testing.assert_allclose(got, expected, rtol=parity_rtol(dtype),
                               atol=parity_atol(dtype) + extra_atol)


# --------------------------------------------------------------------------- values


def test_half_sse_matt_mazur_example(case):
    # https://mattmazur.com/2015/03/17/a-step-by-step-backpropagation-example/ : E_total
    got = _value(LOSSES["half_sse"], case, [[0.75136507, 0.772928465]], [[0.01, 0.99]])
    np.testing.assert_allclose(got, 0.298371109, rtol=parity_rtol(case.dtype), atol=5e-10)


def test_half_sse_sums_over_rows(case):
    # 1/2 (1 + 4 + 0 + 9) = 7
    got = _value(LOSSES["half_sse"], case, [[1.0, 2.0], [3.0, 4.0]], [[0.0, 0.0], [3.0, 1.0]])
    _close(got, 7.0, case.dtype)


def test_mse_value(case):
    # mean over all n*k = 4 elements of (1, 0, 4, 0) = 1.25
    got = _value(LOSSES["mse"], case, [[1.0, 2.0], [3.0, 4.0]], [[0.0, 2.0], [5.0, 4.0]])
    _close(got, 1.25, case.dtype)
    # one row, three columns: (0.25 + 0.25 + 1) / 3 = 0.5
    got = _value(LOSSES["mse"], case, [[0.5, -0.5, 2.0]], [[0.0, 0.0, 1.0]])
    _close(got, 0.5, case.dtype)


def test_bce_value(case):
    # -(log 0.9 + log(1 - 0.2)) / 2
    got = _value(LOSSES["bce"], case, [[0.9, 0.2]], [[1.0, 0.0]])
    _close(got, 0.164252033486018, case.dtype, extra_atol=10 * EPS / 0.8)
    # soft target y = 0.5 at a = 0.5: -(0.5 log 0.5 + 0.5 log 0.5) = log 2
    got = _value(LOSSES["bce"], case, [[0.5]], [[0.5]])
    _close(got, math.log(2.0), case.dtype, extra_atol=10 * EPS / 0.5)


def test_cross_entropy_value(case):
    ce = LOSSES["cross_entropy"]
    got = _value(ce, case, [[0.7, 0.2, 0.1]], [[1.0, 0.0, 0.0]])
    _close(got, 0.35667494393873245, case.dtype, extra_atol=10 * EPS / 0.7)  # -log 0.7
    # mean over rows: -(log 0.7 + log 0.8) / 2
    got = _value(ce, case, [[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], [[1.0, 0, 0], [0, 0, 1.0]])
    _close(got, 0.2899092476264711, case.dtype, extra_atol=10 * EPS / 0.7)
    # a certain, correct prediction costs (almost) nothing; a zero probability stays finite
    got = _value(ce, case, [[1.0, 0.0]], [[1.0, 0.0]])
    assert abs(got) <= 1e-6
    got = _value(ce, case, [[1.0, 0.0]], [[0.0, 1.0]])
    assert math.isfinite(got)
    if case.dtype == "float64":
        _close(got, -math.log(EPS), "float64")


def test_bce_with_logits_value(case):
    # (softplus(0) - 0 + softplus(2) - 0) / 2 with y = (1, 0): (log 2 + 2 + log1p(e^-2)) / 2
    got = _value(LOSSES["bce_with_logits"], case, [[0.0, 2.0]], [[1.0, 0.0]])
    _close(got, 1.410037595801459, case.dtype)


# --------------------------------------------------------------------------- gradients

# name -> (a, y): a in (0, 1) away from the edges for bce / cross_entropy
GRAD_POINTS = {
    "mse": ([[0.3, -1.2, 2.0], [0.7, 0.1, -0.4]], [[0.0, -1.0, 1.5], [1.0, 0.3, 0.2]]),
    "half_sse": ([[0.3, -1.2, 2.0], [0.7, 0.1, -0.4]], [[0.0, -1.0, 1.5], [1.0, 0.3, 0.2]]),
    "half_squared_error": ([[0.3, -1.2, 2.0], [0.7, 0.1, -0.4]],
                           [[0.0, -1.0, 1.5], [1.0, 0.3, 0.2]]),
    "binary_log_loss": ([[0.3, 0.8, 0.55], [0.6, 0.25, 0.9]], [[0.0, 1.0, 1.0], [0.0, 0.5, 1.0]]),
    "poisson": ([[0.3, 1.8, 2.5], [0.6, 0.25, 4.0]], [[0.0, 1.0, 3.0], [2.0, 0.5, 1.0]]),
    "bce": ([[0.3, 0.8, 0.55], [0.6, 0.25, 0.9]], [[0.0, 1.0, 1.0], [0.0, 0.5, 1.0]]),
    "bce_with_logits": ([[-1.3, 0.8, 2.5], [0.0, -0.4, 3.1]],
                        [[0.0, 1.0, 1.0], [0.0, 0.5, 1.0]]),
    "cross_entropy": ([[0.2, 0.5, 0.3], [0.6, 0.25, 0.15]], [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]),
}


def test_grad_points_cover_every_loss():
    assert set(GRAD_POINTS) == set(LOSSES)


@pytest.mark.parametrize("name", NAMES)
def test_grad_matches_finite_differences(case64, name):
    loss = LOSSES[name]
    a_host, y_host = (np.asarray(r, dtype=np.float64) for r in GRAD_POINTS[name])
    y = _to(case64, y_host)
    xp = case64.xp

    def f(a_h):
        return float(host(loss.value(case64.backend.from_host(a_h, "float64"), y, xp)))

    fd = np.empty_like(a_host)
    h = FD_STEP
    for idx in np.ndindex(a_host.shape):
        vals = []
        for step in (2 * h, h, -h, -2 * h):
            ap = a_host.copy()
            ap[idx] += step
            vals.append(f(ap))
        fd[idx] = (-vals[0] + 8 * vals[1] - 8 * vals[2] + vals[3]) / (12 * h)
    g = loss.grad(_to(case64, a_host), y, xp)
    assert_backend_array(g, case64.backend)
    assert host(g).shape == a_host.shape
    np.testing.assert_allclose(host(g), fd, rtol=FD_RTOL, atol=FD_ATOL)


@pytest.mark.parametrize("name", NAMES)
def test_grad_dtype_and_values_on_every_backend(case, name):
    # the same gradient in both dtypes, against the float64 NumPy evaluation of the same formula
    loss = LOSSES[name]
    a_host, y_host = (np.asarray(r, dtype=np.float64) for r in GRAD_POINTS[name])
    g = loss.grad(_to(case, a_host), _to(case, y_host), case.xp)
    assert_backend_array(g, case.backend)
    assert host(g).dtype == np.dtype(case.dtype)
    ref = loss.grad(a_host, y_host, np)
    np.testing.assert_allclose(host(g), ref, rtol=parity_rtol(case.dtype),
                               atol=parity_atol(case.dtype))


# --------------------------------------------------------------------------- fused forms


def test_fused_pairs_declared():
    assert LOSSES["bce"].fused_activation == "sigmoid"
    assert LOSSES["cross_entropy"].fused_activation == "softmax"
    for name in ("mse", "half_sse", "half_squared_error", "bce_with_logits"):
        loss = LOSSES[name]
        assert loss.fused_activation is None
        assert loss.fused_grad is None and loss.logit_terms is None
    assert {n: LOSSES[n].targets for n in NAMES} == {
        "bce": "binary", "bce_with_logits": "binary", "cross_entropy": "labels",
        "half_sse": "real", "half_squared_error": "real", "mse": "real",
        "binary_log_loss": "binary", "poisson": "counts",
    }


Z_LOGITS = np.array([[-2.5, -0.3, 0.0, 1.7], [2.9, -1.1, 0.6, -3.0], [0.2, 2.2, -0.8, 1.0]])


def _labels_on(case, labels):
    return case.xp.asarray(np.asarray(labels, dtype=np.int64), device=case.backend.device)


def test_sigmoid_bce_fused_grad_is_the_chain_rule(case64):
    xp, loss, act = case64.xp, LOSSES["bce"], ACTIVATIONS["sigmoid"]
    y_host = np.array([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 1.0, 0.0], [0.5, 1.0, 0.0, 1.0]])
    z, y = _to(case64, Z_LOGITS), _to(case64, y_host)
    a = act.forward(z, xp)
    fused = loss.fused_grad(a, y, xp)
    chain = act.backward(loss.grad(a, y, xp), z, a, xp)
    assert_backend_array(fused, case64.backend)
    # eps in the logs moves the chain rule by ~EPS / min(a, 1 - a) ~ 2e-11 relative here
    np.testing.assert_allclose(host(fused), host(chain), rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(host(fused), (host(a) - y_host) / y_host.size, rtol=1e-12)
    v_logits = loss.value_from_logits(z, y, xp)
    assert_backend_array(v_logits, case64.backend)
    np.testing.assert_allclose(float(host(v_logits)), float(host(loss.value(a, y, xp))),
                               rtol=1e-10)


def test_softmax_cross_entropy_fused_grad_is_the_chain_rule(case64):
    xp, loss, act = case64.xp, LOSSES["cross_entropy"], ACTIVATIONS["softmax"]
    labels = [3, 0, 1]
    y = one_hot(_labels_on(case64, labels), 4, case64.backend.dtype("float64"), xp)
    y_host = np.eye(4)[labels]
    z = _to(case64, Z_LOGITS)
    a = act.forward(z, xp)
    fused = loss.fused_grad(a, y, xp)
    chain = act.backward(loss.grad(a, y, xp), z, a, xp)
    assert_backend_array(fused, case64.backend)
    np.testing.assert_allclose(host(fused), host(chain), rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(host(fused), (host(a) - y_host) / 3, rtol=1e-12)
    v_logits = loss.value_from_logits(z, y, xp)
    assert_backend_array(v_logits, case64.backend)
    np.testing.assert_allclose(float(host(v_logits)), float(host(loss.value(a, y, xp))),
                               rtol=1e-10)


def test_value_from_logits_matches_float64_reference(case):
    # every dtype: the fused values against log-sum-exp / softplus computed on the host
    z_host = Z_LOGITS
    y_bin = np.array([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 1.0, 0.0], [0.5, 1.0, 0.0, 1.0]])
    z32 = z_host.astype(case.dtype).astype(np.float64)  # the logits the backend really sees
    softplus = np.logaddexp(0.0, z32)
    ref_bce = np.mean(softplus - z32 * y_bin)
    got = LOSSES["bce"].value_from_logits(_to(case, z_host), _to(case, y_bin), case.xp)
    assert_backend_array(got, case.backend)
    _close(float(host(got)), ref_bce, case.dtype)

    labels = np.array([3, 0, 1])
    log_p = z32 - np.log(np.sum(np.exp(z32), axis=1, keepdims=True))
    ref_ce = -np.mean(log_p[np.arange(3), labels])
    y = one_hot(_labels_on(case, labels), 4, case.backend.dtype(case.dtype), case.xp)
    got = LOSSES["cross_entropy"].value_from_logits(_to(case, z_host), y, case.xp)
    assert_backend_array(got, case.backend)
    _close(float(host(got)), ref_ce, case.dtype)


# --------------------------------------------------------------------------- stability


@contextlib.contextmanager
def _strict():
    """Fail on any warning and on NumPy overflow / invalid / divide (underflow to 0 is fine)."""
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        yield


def test_bce_with_logits_is_stable_for_huge_logits(case):
    loss = LOSSES["bce_with_logits"]
    z = _to(case, [[1000.0, -1000.0, 1000.0, -1000.0]])
    y = _to(case, [[1.0, 0.0, 0.0, 1.0]])
    with _strict():
        v = loss.value(z, y, case.xp)
        g = loss.grad(z, y, case.xp)
        fused_v = LOSSES["bce"].value_from_logits(z, y, case.xp)
    assert_backend_array(v, case.backend)
    # per element: 0 (right and sure), 0, 1000 (wrong and sure), 1000 -> mean 500
    assert np.isfinite(host(v)) and float(host(v)) == 500.0
    assert float(host(fused_v)) == 500.0
    np.testing.assert_array_equal(host(g), [[0.0, 0.0, 0.25, -0.25]])
    # right and sure alone: exactly 0
    z_ok, y_ok = _to(case, [[1000.0, -1000.0]]), _to(case, [[1.0, 0.0]])
    with _strict():
        assert float(host(loss.value(z_ok, y_ok, case.xp))) == 0.0


def test_softmax_cross_entropy_from_logits_is_stable(case):
    loss = LOSSES["cross_entropy"]
    z = _to(case, [[1000.0, 0.0], [1000.0, 1001.0]])
    y = _to(case, [[0.0, 1.0], [0.0, 1.0]])
    with _strict():
        v = loss.value_from_logits(z, y, case.xp)
    assert_backend_array(v, case.backend)
    # row 1: 1000 - 0 = 1000 nats; row 2: log(1 + e^-1) = 0.31326168751822286
    _close(float(host(v)), (1000.0 + 0.31326168751822286) / 2, case.dtype)


# --------------------------------------------------------------------------- one_hot


def test_one_hot_keeps_device_and_dtype(case):
    labels_host = np.array([2, 0, 1, 2, 0])
    labels = _labels_on(case, labels_host)
    assert_backend_array(labels, case.backend)
    dtype = case.backend.dtype(case.dtype)
    y = one_hot(labels, 3, dtype, case.xp)
    assert_backend_array(y, case.backend)  # same namespace and device as the labels
    assert y.dtype == dtype
    assert y.shape == (5, 3)
    out = host(y)
    assert out.dtype == np.dtype(case.dtype)
    np.testing.assert_array_equal(out, np.eye(3)[labels_host])


def test_one_hot_extra_classes_stay_zero(case):
    labels = _labels_on(case, [0, 1])
    y = host(one_hot(labels, 4, case.backend.dtype(case.dtype), case.xp))
    np.testing.assert_array_equal(y, [[1, 0, 0, 0], [0, 1, 0, 0]])


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(("spec", "name"), [
    ("ce", "cross_entropy"), ("softmax_cross_entropy", "cross_entropy"),
    ("categorical_crossentropy", "cross_entropy"), ("binary_cross_entropy", "bce"),
    ("log_loss", "bce"), ("sse", "half_sse"), ("squared_error", "mse"),
    (" MSE ", "mse"), ("BCE_with_logits", "bce_with_logits"), ("Cross_Entropy", "cross_entropy"),
    ("half_sse", "half_sse"),
])
def test_get_loss_names_and_aliases(spec, name):
    loss = get_loss(spec)
    assert loss is LOSSES[name]
    assert loss.name == name


def test_get_loss_passes_a_loss_through():
    custom = Loss("mine", lambda a, y, xp: xp.sum(a - y), lambda a, y, xp: xp.ones_like(a))
    assert get_loss(custom) is custom
    assert get_loss(LOSSES["mse"]) is LOSSES["mse"]


@pytest.mark.parametrize(("spec", "shown"), [
    ("hinge", "'hinge'"), ("", "''"), ("cross-entropy", "'cross-entropy'"), (None, "None"),
    (3, "3"),
])
def test_get_loss_unknown_name(spec, shown):
    with pytest.raises(ValueError, match=r"^loss: ") as info:
        get_loss(spec)
    assert shown in str(info.value)
    assert "cross_entropy" in str(info.value)  # lists the valid names


@pytest.mark.parametrize("spec", [["mse"], {"loss": "mse"}])
def test_get_loss_rejects_unhashable_specs_with_value_error(spec):
    with pytest.raises(ValueError, match=r"^loss: "):
        get_loss(spec)


def test_check_loss_puts_a_users_outputs_where_its_targets_make_sense():
    """Found by audit: a user's loss with binary, label or count targets was evaluated at
    standard-normal outputs (log of negatives: "f is nan"), so it could not be checked; its
    outputs are now probabilities, probability rows or positive means, as a built-in's."""
    import xprop

    def n(a):
        return a.shape[0] * a.shape[1]

    for scale, grads in ((1.0, "passed"), (1.01, "FAILED")):
        made = [
            xprop.make_loss(f"own_bce_{grads}",
                            lambda a, y, xp: -(y * xp.log(a) + (1 - y) * xp.log(1 - a)),
                            lambda a, y, xp, s=scale: s * ((1 - y) / (1 - a) - y / a) / n(a),
                            targets="binary"),
            xprop.make_loss(f"own_ce_{grads}", lambda a, y, xp: -(y * xp.log(a)),
                            lambda a, y, xp, s=scale: -s * y / a / a.shape[0],
                            targets="labels", scale="samples"),
            xprop.make_loss(f"own_poisson_{grads}", lambda a, y, xp: a - y * xp.log(a),
                            lambda a, y, xp, s=scale: s * (1 - y / a) / a.shape[0],
                            targets="counts", scale="samples"),
        ]
        assert [xprop.check_loss(loss).verdict for loss in made] == [grads] * 3
