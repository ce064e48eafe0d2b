"""Optimizers, learning-rate schedules and gradient clipping.

Every optimizer runs several steps on fixed, host-generated parameters and gradients on every
backend and is compared with ``torch.optim`` run on the same values in float64 (the float32 cases
start from the float32-rounded values, so only the arithmetic differs). A few steps are also
checked against values computed by hand, which need no torch.

Tolerances: ``parity_rtol(dtype)`` (1e-12 relative in float64, about 1e-5 in float32: a handful of
elementwise operations per step, each within an ulp) plus ``parity_atol(dtype)`` for entries
near zero.
"""

from __future__ import annotations

import itertools
import math
import pickle

import numpy as np
import pytest

import xprop
from tests.helpers import assert_backend_array, host
from xprop.optimizers import (
    SGD,
    Adam,
    AdamW,
    Optimizer,
    clip_grad_norm,
    get_optimizer,
    get_schedule,
)
from xprop.tolerances import parity_atol, parity_rtol

SHAPES = [(3, 4), (4,), (2,)]
N_STEPS = 5

# name -> (xprop factory, torch factory (params -> optimizer))
OPTIMIZERS = {
    "sgd": (lambda: SGD(lr=0.1),
            lambda torch, ps: torch.optim.SGD(ps, lr=0.1)),
    "sgd_weight_decay": (lambda: SGD(lr=0.1, weight_decay=0.05),
                         lambda torch, ps: torch.optim.SGD(ps, lr=0.1, weight_decay=0.05)),
    "momentum": (lambda: SGD(lr=0.1, momentum=0.9),
                 lambda torch, ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9)),
    "momentum_weight_decay": (
        lambda: SGD(lr=0.05, momentum=0.8, weight_decay=0.1),
        lambda torch, ps: torch.optim.SGD(ps, lr=0.05, momentum=0.8, weight_decay=0.1)),
    "nesterov": (lambda: SGD(lr=0.1, momentum=0.9, nesterov=True),
                 lambda torch, ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True)),
    "nesterov_weight_decay": (
        lambda: SGD(lr=0.1, momentum=0.5, nesterov=True, weight_decay=0.01),
        lambda torch, ps: torch.optim.SGD(ps, lr=0.1, momentum=0.5, nesterov=True,
                                          weight_decay=0.01)),
    "adam": (lambda: Adam(lr=0.01),
             lambda torch, ps: torch.optim.Adam(ps, lr=0.01)),
    "adam_betas_eps": (lambda: Adam(lr=0.05, betas=(0.8, 0.99), eps=1e-6),
                       lambda torch, ps: torch.optim.Adam(ps, lr=0.05, betas=(0.8, 0.99),
                                                          eps=1e-6)),
    "adam_weight_decay": (lambda: Adam(lr=0.01, weight_decay=0.1),
                          lambda torch, ps: torch.optim.Adam(ps, lr=0.01, weight_decay=0.1)),
    "adamw": (lambda: AdamW(lr=0.01, weight_decay=0.1),
              lambda torch, ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.1)),
    "adamw_default_decay": (lambda: AdamW(lr=0.02),
                            lambda torch, ps: torch.optim.AdamW(ps, lr=0.02)),
}


def _problem(dtype: str, seed: int = 0):
    """Host parameters and N_STEPS lists of gradients, rounded to ``dtype`` and back to float64."""
    rng = np.random.default_rng(seed)
    params = [rng.normal(size=s).astype(dtype).astype(np.float64) for s in SHAPES]
    grads = [[rng.normal(size=s).astype(dtype).astype(np.float64) for s in SHAPES]
             for _ in range(N_STEPS)]
    return params, grads


def _run_xprop(case, opt, params, grads, lr_changes=None):
    ps = [case.backend.from_host(p, case.dtype) for p in params]
    for k, gs in enumerate(grads):
        if lr_changes and k in lr_changes:
            opt.lr = lr_changes[k]
        g_dev = [case.backend.from_host(g, case.dtype) for g in gs]
        before = [host(g).copy() for g in g_dev]
        opt.step(ps, g_dev)
        for g, b in zip(g_dev, before, strict=True):
            np.testing.assert_array_equal(host(g), b)  # gradients are left alone
    assert opt.t == len(grads)
    for p in ps:
        assert_backend_array(p, case.backend)
        assert host(p).dtype == np.dtype(case.dtype)
    return [host(p) for p in ps]


def _run_torch(torch, factory, params, grads, lr_changes=None):
    ps = [torch.tensor(p, dtype=torch.float64, requires_grad=True) for p in params]
    opt = factory(torch, ps)
    for k, gs in enumerate(grads):
        if lr_changes and k in lr_changes:
            for group in opt.param_groups:
                group["lr"] = lr_changes[k]
        for p, g in zip(ps, gs, strict=True):
            p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
    return [p.detach().numpy() for p in ps]


def _close(got, expected, dtype):
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=parity_rtol(dtype), atol=parity_atol(dtype))


# --------------------------------------------------------------------------- against torch


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_matches_torch(case, name):
    torch = pytest.importorskip("torch")
    ours, theirs = OPTIMIZERS[name]
    params, grads = _problem(case.dtype)
    got = _run_xprop(case, ours(), params, grads)
    expected = _run_torch(torch, theirs, params, grads)
    # the steps really moved the parameters (a no-op optimizer would fail here)
    assert max(float(np.max(np.abs(e - p))) for e, p in zip(expected, params, strict=True)) > 1e-3
    _close(got, expected, case.dtype)


@pytest.mark.parametrize("name", ["momentum", "nesterov", "adam", "adamw"])
def test_changing_lr_between_steps_matches_torch(case, name):
    torch = pytest.importorskip("torch")
    ours, theirs = OPTIMIZERS[name]
    params, grads = _problem(case.dtype, seed=1)
    changes = {2: 0.03, 4: 0.2}
    got = _run_xprop(case, ours(), params, grads, changes)
    expected = _run_torch(torch, theirs, params, grads, changes)
    _close(got, expected, case.dtype)


# --------------------------------------------------------------------------- by hand


def _steps(case, opt, p0, g_rows):
    ps = [case.backend.from_host(np.asarray(p0, dtype=np.float64), case.dtype)]
    out = []
    for g in g_rows:
        opt.step(ps, [case.backend.from_host(np.asarray(g, dtype=np.float64), case.dtype)])
        out.append(host(ps[0]).astype(np.float64))
    return out


def _hand(got, expected, dtype):
    np.testing.assert_allclose(got, expected, rtol=parity_rtol(dtype), atol=parity_atol(dtype))


def test_sgd_by_hand(case):
    # p = 1 - 0.1 * 0.5 = 0.95, then 0.95 - 0.1 * 0.5 = 0.9; p = -2 - 0.1 * (-1) = -1.9, -1.8
    s1, s2 = _steps(case, SGD(lr=0.1), [1.0, -2.0], [[0.5, -1.0], [0.5, -1.0]])
    _hand(s1, [0.95, -1.9], case.dtype)
    _hand(s2, [0.9, -1.8], case.dtype)


def test_sgd_weight_decay_by_hand(case):
    # g' = g + 0.1 p = 0.5 + 0.1 = 0.6 -> p = 1 - 0.1 * 0.6 = 0.94
    (s1,) = _steps(case, SGD(lr=0.1, weight_decay=0.1), [1.0], [[0.5]])
    _hand(s1, [0.94], case.dtype)


def test_momentum_by_hand(case):
    # v1 = g = 0.5 -> p = 0.95;  v2 = 0.9 * 0.5 + 0.5 = 0.95 -> p = 0.95 - 0.095 = 0.855
    # v3 = 0.9 * 0.95 - 1 = -0.145 -> p = 0.855 + 0.0145 = 0.8695
    s1, s2, s3 = _steps(case, SGD(lr=0.1, momentum=0.9), [1.0], [[0.5], [0.5], [-1.0]])
    _hand(s1, [0.95], case.dtype)
    _hand(s2, [0.855], case.dtype)
    _hand(s3, [0.8695], case.dtype)


def test_nesterov_by_hand(case):
    # v1 = 0.5, step g + 0.9 v1 = 0.95 -> p = 0.905
    # v2 = 0.9 * 0.5 + 0.5 = 0.95, step 0.5 + 0.855 = 1.355 -> p = 0.905 - 0.1355 = 0.7695
    s1, s2 = _steps(case, SGD(lr=0.1, momentum=0.9, nesterov=True), [1.0], [[0.5], [0.5]])
    _hand(s1, [0.905], case.dtype)
    _hand(s2, [0.7695], case.dtype)


def test_adam_by_hand(case):
    # step 1: m = 0.1 g, v = 0.001 g^2, m_hat = g, v_hat = g^2 -> p -= lr g / (|g| + eps)
    # step 2 with the same g: m = 0.19 g, v = 0.001999 g^2 -> again m_hat = g, v_hat = g^2
    lr, eps = 0.01, 1e-8
    g = [0.5, -2.0]
    s1, s2 = _steps(case, Adam(lr=lr, eps=eps), [1.0, 3.0], [g, g])
    _hand(s1, [1.0 - lr * 0.5 / (0.5 + eps), 3.0 + lr * 2.0 / (2.0 + eps)], case.dtype)
    _hand(s2, [1.0 - 2 * lr * 0.5 / (0.5 + eps), 3.0 + 2 * lr * 2.0 / (2.0 + eps)], case.dtype)
    # the literal numbers, in case the formulas above share a mistake with the code
    _hand(s1, [0.9900000002, 3.00999999995], case.dtype)


def test_adam_second_step_with_a_new_gradient_by_hand(case):
    # g1 = 1, g2 = -1, betas (0.9, 0.999), eps 0 (tiny): m2 = 0.09 - 0.1 = -0.01,
    # v2 = 0.000999 + 0.001 = 0.001999; m_hat = -0.01 / 0.19, v_hat = 0.001999 / 0.001999 = 1
    # p2 = (1 - 0.1) - 0.1 * (-0.01 / 0.19) / 1 = 0.9 + 0.1 / 19
    s1, s2 = _steps(case, Adam(lr=0.1, eps=1e-300 if case.dtype == "float64" else 1e-30),
                    [1.0], [[1.0], [-1.0]])
    _hand(s1, [0.9], case.dtype)
    _hand(s2, [0.9 + 0.1 / 19.0], case.dtype)


def test_adamw_by_hand(case):
    # decoupled: p = p (1 - lr wd) - lr g / (|g| + eps) = 2 * (1 - 0.001) - 0.1 ~ 1.898
    (s1,) = _steps(case, AdamW(lr=0.1, weight_decay=0.01), [2.0], [[4.0]])
    _hand(s1, [2.0 * (1 - 0.1 * 0.01) - 0.1 * 4.0 / (4.0 + 1e-8)], case.dtype)
    _hand(s1, [1.89800000025], case.dtype)
    # Adam's L2 form instead adds wd p to g (4.02), which the step-1 normalisation cancels
    (a1,) = _steps(case, Adam(lr=0.1, weight_decay=0.01), [2.0], [[4.0]])
    _hand(a1, [2.0 - 0.1 * 4.02 / (4.02 + 1e-8)], case.dtype)
    _hand(a1, [1.9000000002487562], case.dtype)


def test_momentum_buffer_does_not_alias_the_gradient():
    # torch: buf = clone(g1) = 0.5 -> p1 = 0.95; buf = 0.9 * 0.5 + 1 = 1.45 -> p2 = 0.805
    params = [np.array([1.0])]
    grad = np.array([0.5])
    opt = SGD(lr=0.1, momentum=0.9)
    opt.step(params, [grad])
    grad[...] = 1.0  # the caller refills its gradient buffer in place for the next step
    opt.step(params, [grad])
    np.testing.assert_allclose(params[0], [0.805], rtol=1e-12)


def test_step_updates_the_callers_list():
    params = [np.array([1.0, 2.0]), np.array([3.0])]
    the_list = params
    SGD(lr=0.5).step(params, [np.array([1.0, 1.0]), np.array([2.0])])
    assert params is the_list
    np.testing.assert_array_equal(params[0], [0.5, 1.5])
    np.testing.assert_array_equal(params[1], [2.0])


# --------------------------------------------------------------------------- schedules


def test_constant_schedule():
    for spec in ("constant", None, " Constant "):
        lr_at = get_schedule(spec, 0.05, 10)
        assert [lr_at(e) for e in range(12)] == [0.05] * 12


@pytest.mark.parametrize(("step_size", "gamma"), [(3, 0.5), (1, 0.9), (30, 0.1)])
def test_step_schedule_formula(step_size, gamma):
    lr_at = get_schedule("step", 0.2, 50, step_size=step_size, gamma=gamma)
    for e in range(50):
        assert lr_at(e) == pytest.approx(0.2 * gamma ** (e // step_size), rel=1e-14)
    assert lr_at(step_size - 1) == 0.2
    assert lr_at(step_size) == pytest.approx(0.2 * gamma, rel=1e-15)


@pytest.mark.parametrize("eta_min", [0.0, 0.001])
def test_cosine_schedule_formula(eta_min):
    lr, epochs = 0.1, 20
    lr_at = get_schedule("cosine", lr, epochs, eta_min=eta_min)
    for e in range(epochs + 1):
        expected = eta_min + (lr - eta_min) * (1 + math.cos(math.pi * e / epochs)) / 2
        assert lr_at(e) == pytest.approx(expected, rel=1e-14, abs=1e-17)
    assert lr_at(0) == pytest.approx(lr, rel=1e-15)
    assert lr_at(epochs // 2) == pytest.approx((lr + eta_min) / 2, rel=1e-14)
    assert lr_at(epochs) == pytest.approx(eta_min, abs=1e-17)
    assert lr_at(epochs + 5) == pytest.approx(eta_min, abs=1e-17)  # clamped after the end
    values = [lr_at(e) for e in range(epochs + 1)]
    assert all(b <= a for a, b in itertools.pairwise(values))


def _torch_epoch_lrs(torch, make_scheduler, lr, epochs):
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr)
    sched = make_scheduler(torch, opt)
    out = []
    for _ in range(epochs):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


@pytest.mark.parametrize(("step_size", "gamma"), [(3, 0.5), (7, 0.1)])
def test_step_schedule_matches_torch_steplr(step_size, gamma):
    torch = pytest.importorskip("torch")
    lr, epochs = 0.3, 25
    expected = _torch_epoch_lrs(
        torch, lambda t, o: t.optim.lr_scheduler.StepLR(o, step_size=step_size, gamma=gamma),
        lr, epochs)
    lr_at = get_schedule("step", lr, epochs, step_size=step_size, gamma=gamma)
    np.testing.assert_allclose([lr_at(e) for e in range(epochs)], expected, rtol=1e-12)


@pytest.mark.parametrize(("epochs", "eta_min"), [(10, 0.0), (37, 0.002)])
def test_cosine_schedule_matches_torch_cosine_annealing(epochs, eta_min):
    torch = pytest.importorskip("torch")
    lr = 0.1
    expected = _torch_epoch_lrs(
        torch,
        lambda t, o: t.optim.lr_scheduler.CosineAnnealingLR(o, T_max=epochs, eta_min=eta_min),
        lr, epochs)
    lr_at = get_schedule("cosine", lr, epochs, eta_min=eta_min)
    np.testing.assert_allclose([lr_at(e) for e in range(epochs)], expected, rtol=1e-10,
                               atol=1e-14)


def test_schedule_errors():
    with pytest.raises(ValueError, match=r"^schedule: .*'linear'"):
        get_schedule("linear", 0.1, 10)
    for bad in (0.0, -0.1, math.nan, math.inf):
        with pytest.raises(ValueError, match=r"^lr: "):
            get_schedule("constant", bad, 10)
    with pytest.raises(ValueError, match=r"^step_size: "):
        get_schedule("step", 0.1, 10, step_size=0)
    with pytest.raises(ValueError, match=r"^gamma: "):
        get_schedule("step", 0.1, 10, gamma=0.0)
    with pytest.raises(ValueError, match=r"^epochs: "):
        get_schedule("cosine", 0.1, 0)


# --------------------------------------------------------------------------- clipping


def _grads(case, scale, seed=3):
    rng = np.random.default_rng(seed)
    hosts = [(scale * rng.normal(size=s)).astype(case.dtype).astype(np.float64) for s in SHAPES]
    return hosts, [case.backend.from_host(h, case.dtype) for h in hosts]


@pytest.mark.parametrize("max_norm", [0.5, 2.0, 1e3])
def test_clip_grad_norm_matches_torch(case, max_norm):
    torch = pytest.importorskip("torch")
    hosts, grads = _grads(case, 1.0)
    total = clip_grad_norm(grads, max_norm)
    assert_backend_array(total, case.backend)
    assert total.shape == ()

    ps = [torch.zeros(h.shape, dtype=torch.float64, requires_grad=True) for h in hosts]
    for p, h in zip(ps, hosts, strict=True):
        p.grad = torch.tensor(h, dtype=torch.float64)
    expected_total = float(torch.nn.utils.clip_grad_norm_(ps, max_norm))
    rtol = parity_rtol(case.dtype)
    assert float(host(total)) == pytest.approx(expected_total, rel=rtol)
    for g, p in zip(grads, ps, strict=True):
        assert_backend_array(g, case.backend)
        np.testing.assert_allclose(host(g), p.grad.numpy(), rtol=rtol, atol=parity_atol(case.dtype))


def test_clip_grad_norm_scales_to_max_norm(case):
    hosts, grads = _grads(case, 10.0)
    norm = math.sqrt(sum(float(np.sum(h * h)) for h in hosts))
    rtol = parity_rtol(case.dtype)
    total = clip_grad_norm(grads, 1.5)
    assert float(host(total)) == pytest.approx(norm, rel=rtol)
    factor = 1.5 / (norm + 1e-6)
    for g, h in zip(grads, hosts, strict=True):
        np.testing.assert_allclose(host(g), h * factor, rtol=rtol, atol=parity_atol(case.dtype))
    new_norm = math.sqrt(sum(float(np.sum(host(g).astype(np.float64) ** 2)) for g in grads))
    assert new_norm == pytest.approx(1.5, rel=max(rtol, 1e-6))


def test_clip_grad_norm_below_max_norm_leaves_grads_unchanged(case):
    hosts, grads = _grads(case, 0.01)
    norm = math.sqrt(sum(float(np.sum(h * h)) for h in hosts))
    assert norm < 1.0
    total = clip_grad_norm(grads, 1.0)
    assert float(host(total)) == pytest.approx(norm, rel=parity_rtol(case.dtype))
    for g, h in zip(grads, hosts, strict=True):
        np.testing.assert_array_equal(host(g).astype(np.float64), h)


def test_clip_grad_norm_rejects_bad_max_norm():
    for bad in (0.0, -1.0, math.nan):
        with pytest.raises(ValueError, match=r"^max_norm: "):
            clip_grad_norm([np.ones(3)], bad)


# --------------------------------------------------------------------------- get_optimizer


def test_get_optimizer_names():
    sgd = get_optimizer("sgd", lr=0.3)
    assert type(sgd) is SGD and sgd.lr == 0.3 and sgd.momentum == 0.0 and not sgd.nesterov
    mom = get_optimizer("momentum", lr=0.1)
    assert type(mom) is SGD and mom.momentum == 0.9 and not mom.nesterov
    nes = get_optimizer("nesterov", lr=0.1)
    assert type(nes) is SGD and nes.momentum == 0.9 and nes.nesterov
    adam = get_optimizer(" Adam ", lr=0.002)
    assert type(adam) is Adam and adam.lr == 0.002 and adam.betas == (0.9, 0.999)
    assert adam.eps == 1e-8 and adam.weight_decay == 0.0
    adamw = get_optimizer("ADAMW")
    assert type(adamw) is AdamW and adamw.weight_decay == 0.01 and adamw.lr == 0.001
    custom = get_optimizer("momentum", lr=0.1, momentum=0.5, weight_decay=0.1)
    assert custom.momentum == 0.5 and custom.weight_decay == 0.1
    assert get_optimizer("sgd").lr == 0.01  # the class default when lr is not given
    assert "lr=0.3" in repr(sgd)


def test_get_optimizer_passes_an_instance_through():
    opt = Adam(lr=0.5)
    assert get_optimizer(opt) is opt
    assert isinstance(opt, Optimizer)


@pytest.mark.parametrize("spec", ["rmsprop", "", 3, None])
def test_get_optimizer_unknown_name(spec):
    with pytest.raises(ValueError, match=r"^optimizer: ") as err:
        get_optimizer(spec, lr=0.1)
    assert "adam" in str(err.value) and "sgd" in str(err.value)


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adam", "adamw"])
@pytest.mark.parametrize("lr", [0.0, -1.0, math.nan, math.inf, True, "0.1"])
def test_bad_lr(name, lr):
    with pytest.raises(ValueError, match=r"^lr: "):
        get_optimizer(name, lr=lr)


@pytest.mark.parametrize("momentum", [1.0, -0.1, 1.5, math.nan])
def test_bad_momentum(momentum):
    with pytest.raises(ValueError, match=r"^momentum: "):
        SGD(lr=0.1, momentum=momentum)
    with pytest.raises(ValueError, match=r"^momentum: "):
        get_optimizer("momentum", lr=0.1, momentum=momentum)


@pytest.mark.parametrize(("betas", "which"), [((1.0, 0.999), r"betas\[0\]"),
                                               ((-0.1, 0.999), r"betas\[0\]"),
                                               ((0.9, 1.0), r"betas\[1\]"),
                                               ((0.9, 2.0), r"betas\[1\]")])
@pytest.mark.parametrize("cls", [Adam, AdamW])
def test_bad_betas(cls, betas, which):
    with pytest.raises(ValueError, match=f"^{which}: "):
        cls(lr=0.1, betas=betas)


def test_nesterov_needs_momentum():
    with pytest.raises(ValueError, match=r"^nesterov: "):
        SGD(lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match=r"^nesterov: "):
        get_optimizer("nesterov", lr=0.1, momentum=0.0)


@pytest.mark.parametrize("wd", [-0.1, math.nan, math.inf])
def test_bad_weight_decay(wd):
    for make in (lambda: SGD(lr=0.1, weight_decay=wd), lambda: Adam(weight_decay=wd),
                 lambda: AdamW(weight_decay=wd)):
        with pytest.raises(ValueError, match=r"^weight_decay: "):
            make()


def test_bad_eps():
    for eps in (0.0, -1e-8, math.nan):
        with pytest.raises(ValueError, match=r"^eps: "):
            Adam(eps=eps)


@pytest.mark.parametrize(("make", "match"), [
    (lambda: SGD(lr=0.1, momentum=None), r"momentum: expected a finite number in \[0, 1\)"),
    (lambda: SGD(lr=0.1, momentum="a"), r"momentum: expected a finite number in \[0, 1\)"),
    (lambda: SGD(lr=0.1, weight_decay=None), r"weight_decay: expected a finite number"),
    (lambda: Adam(betas=0.9), r"betas: expected a pair"),
])
def test_optimizer_arguments_named_in_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_optimizer_arguments_found_by_audit_are_refused_in_one_line():
    """Found by audit: ``nesterov="no"`` switched Nesterov on; a one-entry gradient was
    broadcast over the buffer; ``eta_min`` was never checked (NaN rates, negative ones);
    ``step`` with ``gamma > 1`` raised OverflowError; L-BFGS ran with ``history=0`` (SciPy
    refuses ``maxcor=0``); state of another dtype was taken (JAX then failed inside its
    compiled loop, NumPy and torch trained with mixed dtypes)."""
    import xprop
    from xprop.lbfgs import minimize_lbfgs
    from xprop.optimizers import SklearnSGD

    for make in (lambda: xprop.SGD(0.1, momentum=0.9, nesterov="no"),
                 lambda: SklearnSGD(0.1, 0.9, nesterov="False"),
                 lambda: xprop.get_optimizer("momentum", lr=0.1, nesterov="False")):
        with pytest.raises(ValueError, match=r"^nesterov: expected True or False, got"):
            make()
    for opt in (xprop.SGD(0.1), xprop.Adam(0.1)):
        with pytest.raises(ValueError, match=r"^grad: expected the shape of buffer, \(4,\), "
                                             r"got \(1,\)"):
            opt.update(np.arange(4.0), np.ones(1))
        assert opt.t == 0
    with pytest.raises(ValueError, match=r"^grads: expected one gradient per parameter"):
        xprop.SGD(0.1).step([np.zeros((2, 2)), np.zeros(3)], [np.ones(1)])
    for bad in (math.nan, -1.0, "x", 0.5):
        with pytest.raises(ValueError, match=r"^eta_min: expected a finite rate in"):
            get_schedule("cosine", 0.1, epochs=10, eta_min=bad)
    assert get_schedule("step", 0.1, epochs=10, step_size=1, gamma=10.0)(400) == math.inf
    with pytest.raises(ValueError, match=r"^history: expected an integer >= 1, got 0"):
        minimize_lbfgs(lambda x: (float(x @ x), 2 * x), np.ones(3), xp=np, history=0)
    X, y = xprop.datasets.xor()
    opt = xprop.Adam(0.05)
    xprop.MLP([2, 3, 1], seed=0).fit(X, y, optimizer=opt, epochs=1)
    with pytest.raises(ValueError, match=r"holds float64 state from an earlier fit; this "
                                         r"model has 13 float32 parameters"):
        xprop.MLP([2, 3, 1], seed=0, dtype="float32").fit(X, y, optimizer=opt, epochs=1)


def test_an_optimizer_with_state_is_refused_for_another_model():
    """Found by audit: a FitConfig (or an optimizer object) reused for a second model of the
    same size carried the first model's Adam moments and step count into it silently."""
    X, y = xprop.datasets.xor()
    opt = xprop.Adam(lr=0.01)
    config = xprop.FitConfig(optimizer=opt, epochs=3)
    first = xprop.MLP([2, 4, 1], "tanh", "sigmoid", "bce", seed=0)
    first.fit(X, y, config)
    first.fit(X, y, config)  # the same model goes on from its state
    second = xprop.MLP([2, 4, 1], "tanh", "sigmoid", "bce", seed=0)
    with pytest.raises(ValueError, match=r"^optimizer: .* holds the state of a fit of another "):
        second.fit(X, y, config)
    plain = xprop.SGD(lr=0.1)  # no state: any model may use it
    for model in (first, second):
        model.fit(X, y, optimizer=plain, epochs=2)
    back = pickle.loads(pickle.dumps(opt))  # a pickled optimizer forgets its model
    assert back.trained() is None and opt.trained() is first
    del first
    assert opt.trained() is None  # a weak reference: the model may go
    with pytest.raises(ValueError, match=r"^optimizer: .* holds the state of a fit of another "):
        second.fit(X, y, optimizer=opt, epochs=1)  # ... and its state is still not another's
    assert back.trained_another(second) is False  # unpickled: no fit known, state allowed
    second.fit(X, y, optimizer=back, epochs=1)


def test_an_optimizer_reused_in_a_loop_is_refused_once_its_model_is_gone():
    """Found by audit: with only a weak reference, ``for seed in ...: m = MLP(...);
    m.fit(..., optimizer=opt)`` carried the moments of the model rebound away into the next."""
    X, y = xprop.datasets.xor()
    opt = xprop.Adam(lr=0.01)
    model = xprop.MLP([2, 4, 1], "tanh", "sigmoid", "bce", seed=0)
    model.fit(X, y, optimizer=opt, epochs=2)
    model = xprop.MLP([2, 4, 1], "tanh", "sigmoid", "bce", seed=1)  # the first one is gone
    with pytest.raises(ValueError, match=r"^optimizer: Adam\(.* holds the state of a fit "
                                         r"of another model \(its moments or velocity, 2 "):
        model.fit(X, y, optimizer=opt, epochs=2)


def test_state_of_another_buffer_and_options_given_with_an_object_are_refused():
    """Found by audit: ``update`` broadcast Adam's state of one parameter over five (wrong
    moments), and took float32 buffers with float64 state; ``get_optimizer(opt, lr=...)``
    dropped every option given with an object; ``clip_grad_norm([])`` raised a raw
    TypeError."""
    opt = xprop.Adam(0.1)
    opt.update(np.zeros(1), np.ones(1))
    with pytest.raises(ValueError, match=r"^buffer: Adam\(.* holds state for 1 parameter "
                                         r"from earlier steps; this buffer is float64 of 5"):
        opt.update(np.zeros(5), np.ones(5))
    with pytest.raises(ValueError, match=r"holds float64 state from earlier steps"):
        opt.update(np.zeros(1, np.float32), np.ones(1, np.float32))
    assert opt.t == 1 and opt.state_mismatch(np.zeros(1)) is None
    buffer = np.zeros(5)  # (a review: state swapped in for a buffer checked before)
    xprop.Adam(0.1).update(buffer, np.ones(5))
    other = xprop.Adam(0.1)
    other.update(buffer, np.ones(5))
    other.set_arrays((np.zeros(1), np.zeros(1)))
    with pytest.raises(ValueError, match=r"holds state for 1 parameter from earlier steps"):
        other.update(buffer, np.ones(5))
    sgd = xprop.SGD(0.1)
    for given in ({"lr": 0.5}, {"momentum": 0.9}):
        name, value = next(iter(given.items()))
        with pytest.raises(ValueError, match=rf"^{name}: an Optimizer object is used as it "
                                             rf"is; set its options on it \(got {name}={value} "):
            xprop.get_optimizer(sgd, **given)
    assert xprop.get_optimizer(sgd) is sgd
    with pytest.raises(ValueError, match=r"^grads: expected a list of gradient arrays"):
        xprop.clip_grad_norm([], 1.0)
