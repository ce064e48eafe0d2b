"""The training loop (``xprop.train.fit`` through ``model.fit``) and its ``History``.

Full-batch and minibatch runs are compared with hand-written loops over ``forward``/``backward``
(same math, so float64 agrees to 1e-12), minibatch runs on every backend with the NumPy float64
run (``parity_rtol(dtype, fan-in + batch)``: float32 carries its own rounding and the float32
rounding of the initial weights), and seeded shuffling must be bit-reproducible on every backend.
"""

from __future__ import annotations

import importlib
import itertools
import math
import re
import warnings

import numpy as np
import pytest

import xprop
from tests.conftest import HAS_JAX
from tests.helpers import assert_backend_array, fit_options, host
from xprop import datasets
from xprop.optimizers import Adam, get_schedule
from xprop.tolerances import parity_atol, parity_rtol

N_CLS = 48


def _cls_data():
    return datasets.moons(N_CLS, noise=0.2, seed=3)


def _reg_data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=n)
    return X, y


def _classifier(case=None, seed=0, sizes=(2, 8, 2)):
    kw = {} if case is None else {"backend": case.backend, "dtype": case.dtype}
    return xprop.MLP(list(sizes), "tanh", "softmax", "cross_entropy", seed=seed, **kw)


def _regressor(case=None, seed=0):
    kw = {} if case is None else {"backend": case.backend, "dtype": case.dtype}
    return xprop.MLP([3, 6, 1], "tanh", "identity", "mse", seed=seed, **kw)


def _params(model):
    return {k: host(v).copy() for k, v in model.parameters().items()}


def _assert_params_equal(a, b):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def _manual_sgd(model, X, y, lr, epochs, batch_size=None, clip=None):
    """Plain SGD over contiguous batches (no shuffling) with forward/backward; returns the
    per-epoch mean of the pre-update batch losses."""
    n = X.shape[0]
    bs = n if batch_size is None else batch_size
    losses = []
    for epoch in range(epochs):
        rate = lr(epoch) if callable(lr) else lr
        total = 0.0
        for s in range(0, n, bs):
            Xb, yb = X[s:s + bs], y[s:s + bs]
            total += model.loss(Xb, yb) * Xb.shape[0]
            _, cache = model.forward(Xb)
            grads = model.backward(cache, yb)
            if clip is not None:
                norm = math.sqrt(sum(float(np.sum(g * g)) for g in grads.values()))
                factor = min(1.0, clip / (norm + 1e-6))
                grads = {k: g * factor for k, g in grads.items()}
            model.set_parameters({k: p - rate * grads[k] for k, p in model.parameters().items()})
        losses.append(total / n)
    return losses


# --------------------------------------------------------------------------- full batch / minibatch


def test_full_batch_is_gradient_descent():
    X, y = _cls_data()
    model, ref = _classifier(), _classifier()
    history = model.fit(X, y, lr=0.3, epochs=6)
    ref_losses = _manual_sgd(ref, X, y, 0.3, 6)
    for k, v in _params(model).items():
        np.testing.assert_allclose(v, host(ref.parameters()[k]), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(history.loss, ref_losses, rtol=1e-12)
    # the loss of an epoch is measured before its update: the first one is the initial loss
    assert history.loss[0] == pytest.approx(_classifier().loss(X, y), rel=1e-12)
    assert len(history) == 6 and history.loss[-1] < history.loss[0]


def test_minibatch_without_shuffling_is_sgd_over_contiguous_batches():
    X, y = _reg_data(40)
    model, ref = _regressor(), _regressor()
    history = model.fit(X, y, lr=0.05, epochs=3, batch_size=16,
                        config=xprop.FitConfig(shuffle=False))  # 16, 16, 8
    ref_losses = _manual_sgd(ref, X, y, 0.05, 3, batch_size=16)
    for k, v in _params(model).items():
        np.testing.assert_allclose(v, host(ref.parameters()[k]), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(history.loss, ref_losses, rtol=1e-12)


def test_minibatch_differs_from_full_batch_and_batch_size_n_is_full_batch():
    X, y = _cls_data()
    full, mini, big, exact_n = _classifier(), _classifier(), _classifier(), _classifier()
    full.fit(X, y, lr=0.2, epochs=3)
    mini.fit(X, y, lr=0.2, epochs=3, batch_size=8)
    big.fit(X, y, lr=0.2, epochs=3, batch_size=10 * N_CLS)
    exact_n.fit(X, y, lr=0.2, epochs=3, batch_size=N_CLS)
    assert any(not np.array_equal(a, b)
               for a, b in zip(_params(full).values(), _params(mini).values(), strict=True))
    _assert_params_equal(_params(full), _params(big))
    _assert_params_equal(_params(full), _params(exact_n))


def test_per_sample_sgd_takes_one_step_per_sample():
    X, y = _reg_data(6)
    steps = []
    opt = Adam(lr=0.01)
    original = opt.update

    def counting_update(buffer, grad, xp=None):
        steps.append(grad.shape)
        return original(buffer, grad, xp)

    opt.update = counting_update
    _regressor().fit(X, y, optimizer=opt, epochs=2, batch_size=1)
    assert len(steps) == 12 and opt.t == 12


# --------------------------------------------------------------------------- shuffling, backends


def test_seeded_shuffling_is_reproducible(case):
    X, y = _cls_data()
    runs = {}
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        model = _classifier(case)
        model.fit(X, y, lr=0.1, epochs=3, batch_size=8, config=xprop.FitConfig(seed=seed))
        for p in model.parameters().values():
            assert_backend_array(p, case.backend)
        runs[name] = _params(model)
    _assert_params_equal(runs["a"], runs["b"])
    assert any(not np.array_equal(runs["a"][k], runs["c"][k]) for k in runs["a"])


def test_shuffling_changes_the_result_and_is_off_with_shuffle_false():
    X, y = _cls_data()
    a, b, c, d = (_classifier() for _ in range(4))
    a.fit(X, y, lr=0.1, epochs=2, batch_size=8, config=xprop.FitConfig(shuffle=False, seed=1))
    b.fit(X, y, lr=0.1, epochs=2, batch_size=8, config=xprop.FitConfig(shuffle=False, seed=2))
    c.fit(X, y, lr=0.1, epochs=2, batch_size=8, config=xprop.FitConfig(shuffle=True, seed=1))
    d.fit(X, y, lr=0.1, epochs=2, batch_size=8, config=xprop.FitConfig(seed=None))
    _assert_params_equal(_params(a), _params(b))  # the seed only drives shuffling
    assert any(not np.array_equal(_params(a)[k], _params(c)[k]) for k in _params(a))
    assert all(np.all(np.isfinite(v)) for v in _params(d).values())


def test_minibatch_training_matches_numpy_float64(case):
    X, y = _cls_data()
    ref = _classifier(sizes=(2, 8, 8, 2))
    ref_hist = ref.fit(X, y, lr=0.1, epochs=4, batch_size=8, config=xprop.FitConfig(seed=11))
    model = _classifier(case, sizes=(2, 8, 8, 2))
    hist = model.fit(X, y, lr=0.1, epochs=4, batch_size=8, config=xprop.FitConfig(seed=11))
    rtol = parity_rtol(case.dtype, 8 + 8)
    got = _params(model)
    for k, v in _params(ref).items():
        assert got[k].dtype == np.dtype(case.dtype)
        np.testing.assert_allclose(got[k], v, rtol=rtol, atol=parity_atol(case.dtype), err_msg=k)
    np.testing.assert_allclose(hist.loss, ref_hist.loss, rtol=rtol)
    assert hist.accuracy == ref_hist.accuracy




def test_minibatch_with_a_short_last_batch_on_every_backend(case):
    X, y = datasets.moons(50, noise=0.2, seed=3)  # batches of 16, 16, 16 and 2
    ref = _classifier()
    ref_hist = ref.fit(X, y, lr=0.1, epochs=3, batch_size=16, config=xprop.FitConfig(seed=2))
    model = _classifier(case)
    hist = model.fit(X, y, lr=0.1, epochs=3, batch_size=16, config=xprop.FitConfig(seed=2))
    rtol = parity_rtol(case.dtype, 8 + 16)
    got = _params(model)
    for k, v in _params(ref).items():
        np.testing.assert_allclose(got[k], v, rtol=rtol, atol=parity_atol(case.dtype), err_msg=k)
    np.testing.assert_allclose(hist.loss, ref_hist.loss, rtol=rtol)


# --------------------------------------------------------------------------- validation


def test_validation_data_gives_val_entries():
    X, y = _cls_data()
    Xv, yv = datasets.moons(20, noise=0.2, seed=9)
    model = _classifier()
    h = model.fit(X, y, lr=0.3, epochs=5, config=xprop.FitConfig(validation_data=(Xv, yv)))
    assert len(h.val_loss) == len(h.val_accuracy) == len(h.loss) == 5
    assert all(0.0 <= a <= 1.0 for a in h.val_accuracy)
    # measured after the epoch's update: the last one is the trained model's
    assert h.val_loss[-1] == pytest.approx(model.loss(Xv, yv), rel=1e-12)
    assert h.val_accuracy[-1] == model.accuracy(Xv, yv)
    assert h.best_epoch is None and h.stopped_early is False


def test_validation_split_gives_val_entries():
    X, y = _cls_data()
    h = _classifier().fit(X, y, lr=0.3, epochs=4, validation_split=0.25)
    assert len(h.val_loss) == len(h.val_accuracy) == 4
    n_val = round(N_CLS * 0.25)
    for acc in h.val_accuracy:  # fractions of the 12 held-out samples
        assert acc * n_val == pytest.approx(round(acc * n_val), abs=1e-9)
    for acc in h.accuracy:  # fractions of the 36 remaining training samples
        assert acc * (N_CLS - n_val) == pytest.approx(round(acc * (N_CLS - n_val)), abs=1e-9)
    full = _classifier().fit(X, y, lr=0.3, epochs=4)
    assert full.val_loss == [] and h.loss != full.loss


def test_validation_split_on_regression_has_no_accuracy():
    X, y = _reg_data()
    h = _regressor().fit(X, y, lr=0.05, epochs=3, validation_split=0.2)
    assert len(h.val_loss) == 3 and all(math.isfinite(v) for v in h.val_loss)
    assert h.val_accuracy == [] and h.accuracy == []


def test_validation_split_leaving_no_training_data():
    X, y = _reg_data(4)
    with pytest.raises(ValueError, match=r"^validation_split: "):
        _regressor().fit(X, y, epochs=1, validation_split=0.9)


# --------------------------------------------------------------------------- early stopping


def _diverging_validation():
    """Training targets y, validation targets y / 2: the validation loss falls while the output
    grows towards y / 2 (from near 0) and rises after (best epoch 7 of 10 with lr 0.05)."""
    X, y = _reg_data(40)
    return X, y, X[:20], 0.5 * y[:20]


def test_early_stopping_stops_and_restores_the_best_parameters(case):
    X, y, Xv, yv = _diverging_validation()
    model = _regressor(case)
    seen = {}
    h = model.fit(X, y, lr=0.05, epochs=60, early_stopping=3,
                  config=xprop.FitConfig(validation_data=(Xv, yv), callbacks=[
                      lambda e, logs, m: seen.__setitem__(e, _params(m))]))
    assert h.stopped_early is True
    assert len(h) < 60
    best = int(np.argmin(h.val_loss)) + 1
    assert h.best_epoch == best
    assert len(h) == best + 3  # patience 3 after the last improvement
    assert h.val_loss[-1] > min(h.val_loss) and 1 < best < len(h)
    _assert_params_equal(_params(model), seen[best])
    for p in model.parameters().values():
        assert_backend_array(p, case.backend)
    assert model.loss(Xv, yv) == pytest.approx(min(h.val_loss), rel=parity_rtol(case.dtype))


def test_early_stopping_without_restore_keeps_the_last_parameters():
    X, y, Xv, yv = _diverging_validation()
    model = _regressor()
    h = model.fit(X, y, lr=0.05, epochs=60, early_stopping=2,
                  config=xprop.FitConfig(validation_data=(Xv, yv), restore_best=False))
    assert h.stopped_early
    assert model.loss(Xv, yv) == pytest.approx(h.val_loss[-1], rel=1e-12)
    assert model.loss(Xv, yv) > min(h.val_loss)


def test_early_stopping_min_delta_and_validation_split():
    X, y = _reg_data(40)
    # an improvement must beat min_delta: with a huge one only the first epoch counts
    h = _regressor().fit(X, y, lr=0.05, epochs=30, early_stopping=2,
                         config=xprop.FitConfig(min_delta=1e9, validation_data=(X, y)))
    assert h.stopped_early and h.best_epoch == 1 and len(h) == 3
    # a run that keeps improving never stops early
    h = _regressor().fit(X, y, lr=0.01, epochs=8, early_stopping=3, validation_split=0.25)
    assert not h.stopped_early and len(h) == 8 and h.best_epoch == 8


def test_early_stopping_needs_validation():
    X, y = _reg_data()
    model = _regressor()
    before = _params(model)
    with pytest.raises(ValueError, match=r"^early_stopping: .*validation"):
        model.fit(X, y, epochs=5, early_stopping=2)
    _assert_params_equal(_params(model), before)


# --------------------------------------------------------------------------- callbacks, history


def test_callbacks_receive_epoch_logs_and_model():
    X, y = _cls_data()
    model = _classifier()
    calls = []

    def record(epoch, logs, m):
        calls.append((epoch, dict(logs), m))

    h = model.fit(X, y, lr=0.1, epochs=4, validation_split=0.25,
                  config=xprop.FitConfig(callbacks=[record, lambda *a: None]))
    assert [c[0] for c in calls] == [1, 2, 3, 4]
    assert all(c[2] is model for c in calls)
    for i, (_, logs, _) in enumerate(calls):
        assert {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "time"} <= set(logs)
        assert logs["loss"] == h.loss[i] and logs["val_loss"] == h.val_loss[i]
        assert logs["lr"] == h.lr[i] == 0.1


def test_callback_returning_true_stops_training():
    X, y = _reg_data()
    model = _regressor()
    h = model.fit(X, y, lr=0.05, epochs=50,
                  config=xprop.FitConfig(callbacks=[lambda epoch, logs, m: epoch == 3]))
    assert len(h) == len(h.loss) == len(h.lr) == len(h.time) == 3
    falsy = _regressor().fit(X, y, lr=0.05, epochs=5,
                             config=xprop.FitConfig(callbacks=[lambda *a: False]))
    assert len(falsy) == 5


def test_lr_schedule_is_recorded_and_used():
    X, y = _cls_data()
    model = _classifier()
    h = model.fit(X, y, lr=0.4, epochs=6, config=xprop.FitConfig(schedule="cosine"))
    lr_at = get_schedule("cosine", 0.4, 6)
    assert h.lr == [lr_at(e) for e in range(6)]
    np.testing.assert_allclose(h.lr, [0.2 * (1 + math.cos(math.pi * e / 6)) for e in range(6)],
                               rtol=1e-14)
    ref = _classifier()
    _manual_sgd(ref, X, y, lr_at, 6)
    for k, v in _params(model).items():
        np.testing.assert_allclose(v, host(ref.parameters()[k]), rtol=1e-12, atol=1e-14)


def test_callable_schedule_and_constant_lr():
    X, y = _reg_data()
    h = _regressor().fit(X, y, lr=0.1, epochs=4,
                         config=xprop.FitConfig(schedule=lambda e: 0.1 / (e + 1)))
    assert h.lr == [0.1, 0.05, 0.1 / 3, 0.025]
    assert _regressor().fit(X, y, lr=0.02, epochs=3).lr == [0.02] * 3


def test_clip_norm_matches_clipped_gradient_descent():
    X, y = _reg_data()
    model, ref = _regressor(), _regressor()
    model.fit(X, y, lr=0.05, epochs=3, config=xprop.FitConfig(clip_norm=0.1))
    _manual_sgd(ref, X, y, 0.05, 3, clip=0.1)
    unclipped = _regressor()
    unclipped.fit(X, y, lr=0.05, epochs=3)
    for k, v in _params(model).items():
        np.testing.assert_allclose(v, host(ref.parameters()[k]), rtol=1e-12, atol=1e-14)
    assert any(not np.allclose(v, host(unclipped.parameters()[k]))
               for k, v in _params(model).items())


def test_optimizer_instance_is_used():
    X, y = _reg_data()
    model, ref = _regressor(), _regressor()
    model.fit(X, y, optimizer=Adam(lr=0.01), epochs=3)
    opt = Adam(lr=0.01)
    for _ in range(3):
        _, cache = ref.forward(X)
        grads = ref.backward(cache, y)
        params = list(ref.parameters().values())
        opt.step(params, [grads[k] for k in ref.parameters()])
        ref.set_parameters(dict(zip(ref.parameters(), params, strict=True)))
    for k, v in _params(model).items():
        np.testing.assert_allclose(v, host(ref.parameters()[k]), rtol=1e-12, atol=1e-14)


def test_history_time_is_increasing():
    X, y = _reg_data()
    h = _regressor().fit(X, y, lr=0.01, epochs=5)
    assert len(h.time) == 5 and h.time[0] > 0.0
    assert all(b > a for a, b in itertools.pairwise(h.time))


def test_accuracy_is_tracked_for_classifiers_only():
    X, y = _cls_data()
    model = _classifier()
    initial_acc = _classifier().accuracy(X, y)
    h = model.fit(X, y, lr=0.5, epochs=20)
    assert len(h.accuracy) == 20 and all(0.0 <= a <= 1.0 for a in h.accuracy)
    assert h.accuracy[0] == initial_acc  # measured before the first update (full batch)
    assert h.accuracy[-1] > 0.7
    Xr, yr = _reg_data()
    hr = _regressor().fit(Xr, yr, lr=0.01, epochs=3)
    assert hr.accuracy == [] and hr.val_accuracy == []
    d = hr.as_dict()
    assert set(d) == {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "time",
                      "best_epoch", "stopped_early"}
    assert hr["loss"] is hr.loss


def test_sigmoid_binary_classifier_tracks_accuracy():
    X, y = datasets.xor()
    model = xprop.MLP([2, 4, 1], "tanh", "sigmoid", "bce", seed=1)
    h = model.fit(X, y, lr=0.5, epochs=5)
    assert len(h.accuracy) == 5 and all(a in (0.0, 0.25, 0.5, 0.75, 1.0) for a in h.accuracy)


def test_verbose_logs_every_k_epochs():
    X, y = _reg_data()
    lines = []
    _regressor().fit(X, y, lr=0.01, epochs=5, config=xprop.FitConfig(verbose=2, log=lines.append))
    assert len(lines) == 3  # epochs 2, 4 and the last
    assert lines[0].startswith("epoch 2/5") and lines[-1].startswith("epoch 5/5")
    assert all("loss" in line for line in lines)


def test_verbose_logs_the_epoch_a_callback_stops_at():
    """The last epoch of a fit is logged however it ends: a callback's stop too (epoch 3 of
    verbose=2 here), once."""
    X, y = _reg_data()
    lines = []
    config = xprop.FitConfig(verbose=2, log=lines.append,
                             callbacks=[lambda epoch, logs, model: epoch == 3])
    h = _regressor().fit(X, y, lr=0.01, epochs=10, config=config)
    assert len(h) == 3 and [line.split()[1] for line in lines] == ["2/10", "3/10"]


def test_fit_leaves_the_callers_data_alone():
    X, y = _cls_data()
    X0, y0 = X.copy(), y.copy()
    _classifier().fit(X, y, lr=0.1, epochs=2, batch_size=8, validation_split=0.25)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)


# --------------------------------------------------------------------------- divergence


def _diverge(case, batch_size):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(32, 3))
    y = 1e3 * (X @ np.array([1.0, -2.0, 3.0]))
    model = _regressor(case)
    seen = {0: _params(model)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NumPy's overflow warnings on the way to inf
        with pytest.raises(xprop.TrainingDivergedError) as err:
            model.fit(X, y, lr=1e6, epochs=200, batch_size=batch_size,
                      config=xprop.FitConfig(callbacks=[
                          lambda e, logs, m: seen.__setitem__(e, _params(m))]))
    return model, err.value, seen, X, y


def _assert_finite_on(model, X, y):
    """The model's loss and every output on (X, y) are finite."""
    assert np.isfinite(model.loss(X, y))
    assert np.all(np.isfinite(host(model.predict_output(X))))


@pytest.mark.parametrize("batch_size", [None, 8])
def test_diverging_run_raises_with_epoch_and_step(case, batch_size):
    model, e, seen, X, y = _diverge(case, batch_size)
    n_steps = 1 if batch_size is None else 4
    assert isinstance(e, FloatingPointError)
    assert isinstance(e.epoch, int) and isinstance(e.step, int)
    assert 1 <= e.epoch <= 200 and 1 <= e.step <= n_steps
    msg = str(e)
    assert f"epoch {e.epoch}," in msg and f"step {e.step} of {n_steps}" in msg
    # the epochs before the failing one completed normally
    assert sorted(seen) == list(range(e.epoch))
    # the model keeps its last finite parameters: the last before the failing step whose loss
    # and outputs on the training data are finite (the message says which)
    params = _params(model)
    assert all(np.all(np.isfinite(v)) for v in params.values())
    assert "last finite parameters" in msg
    _assert_finite_on(model, X, y)
    start = re.search(r"those at the start of epoch (\d+)", msg)
    if start and int(start.group(1)) - 1 in seen:
        _assert_params_equal(params, seen[int(start.group(1)) - 1])
    for p in model.parameters().values():
        assert_backend_array(p, case.backend)


# --------------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"epochs": 0}, "epochs"),
        ({"epochs": -3}, "epochs"),
        ({"epochs": 2.5}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": -1}, "batch_size"),
        ({"lr": -1}, "lr"),
        ({"lr": 0}, "lr"),
        ({"lr": math.nan}, "lr"),
        ({"lr": math.inf}, "lr"),
        ({"validation_split": 1.5}, "validation_split"),
        ({"validation_split": 1.0}, "validation_split"),
        ({"validation_split": -0.1}, "validation_split"),
        ({"validation_split": math.nan}, "validation_split"),
        ({"early_stopping": 0, "validation_split": 0.2}, "early_stopping"),
        ({"clip_norm": 0.0}, "clip_norm"),
        ({"optimizer": "rmsprop"}, "optimizer"),
        ({"schedule": "linear"}, "schedule"),
        ({"verbose": -1}, "verbose"),
    ],
)
def test_bad_arguments(kwargs, name):
    X, y = _reg_data(10)
    model = _regressor()
    before = _params(model)
    with pytest.raises(ValueError, match=f"^{name}: "):
        model.fit(X, y, **fit_options(**kwargs))
    _assert_params_equal(_params(model), before)


def test_half_sse_history_with_minibatches_is_the_epoch_sum():
    """A summed loss adds up over batches: the epoch's history value is the dataset's sum."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((32, 3)), rng.standard_normal((32, 2))
    m = xprop.MLP([3, 4, 2], "tanh", "identity", "half_sse", seed=0)
    before = m.loss(X, y)
    hist = m.fit(X, y, lr=1e-9, epochs=1, batch_size=8, config=xprop.FitConfig(shuffle=False))
    assert hist.loss[0] == pytest.approx(before, rel=1e-6)


def test_a_schedule_does_not_change_the_optimizer_for_later_fits():
    X, y = datasets.moons(40, seed=0)
    opt = Adam(lr=0.01)
    m = xprop.MLP([2, 4, 2], "tanh", "softmax", "cross_entropy")
    hist = m.fit(X, y, optimizer=opt, epochs=5, config=xprop.FitConfig(schedule="cosine"))
    assert hist.lr[0] == 0.01 and hist.lr[-1] < 0.01
    assert opt.lr == 0.01
    assert m.fit(X, y, optimizer=opt, epochs=2).lr == [0.01, 0.01]


def test_a_rate_may_be_a_0d_array_of_any_library():
    """lr (and every other number an option takes: one check, validation.check_real) may be
    a 0-d array of NumPy, torch, JAX or array-api-strict, as a schedule's rates may; a
    boolean, complex, text, object or 1-element one is refused, naming the option."""
    X, y = datasets.xor()
    rates = [np.array(0.25)]
    for name, make in (("torch", "tensor"), ("jax.numpy", "asarray"),
                       ("array_api_strict", "asarray")):
        try:
            rates.append(getattr(importlib.import_module(name), make)(0.25))
        except ImportError:
            pass
    for lr in rates:
        assert xprop.MLP([2, 3, 1], seed=0).fit(X, y, lr=lr, epochs=2).lr == [0.25, 0.25]
        assert xprop.Adam(lr=lr).lr == 0.25
    for bad in (np.array(True), np.array(0.25 + 0j), np.array([0.25]), np.array("0.25"),
                np.array(0.25, dtype=object)):
        with pytest.raises(ValueError, match=r"^lr: expected a finite number > 0, got "):
            xprop.MLP([2, 3, 1], seed=0).fit(X, y, lr=bad, epochs=2)


@pytest.mark.parametrize("schedule", [None, "constant", " Constant"])
def test_a_constant_schedule_is_no_schedule(schedule):
    """"constant" is no schedule, as None: a callback's change of the optimizer's rate
    outlives the fit in both (only a schedule's rates are undone at its end)."""
    X, y = datasets.xor()
    opt = xprop.SGD(lr=0.1)

    def halve(epoch, logs, model):
        opt.lr *= 0.5

    h = xprop.MLP([2, 4, 1], "tanh", "sigmoid", "bce", seed=0).fit(
        X, y, xprop.FitConfig(schedule=schedule, callbacks=[halve]), optimizer=opt, epochs=3)
    assert h.lr == [0.1, 0.05, 0.025] and opt.lr == 0.0125


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"validation_data": "X"}, r"validation_data: expected a pair"),
    ({"validation_data": (np.ones((2, 2)),)}, r"validation_data: expected a pair"),
    ({"validation_data": (np.ones((2, 2)), None)}, r"validation_data: .* got y_val=None"),
    ({"validation_data": (np.ones((2, 2)), np.ones(2)), "validation_split": 0.2},
     r"validation_data, validation_split: give one of them"),
    ({"validation_split": "0.2"}, r"validation_split: expected a fraction"),
    ({"callbacks": print}, r"callbacks: expected a list of functions"),
    ({"callbacks": [1]}, r"callbacks: expected a list of functions"),
    ({"min_delta": "a"}, r"min_delta: expected a finite number"),
    ({"schedule": 3}, r"schedule: expected a name or a function"),
    ({"optimizer": Adam(lr=0.01), "lr": 5.0}, r"lr: the optimizer .* carries its own"),
])
def test_fit_arguments_checked_before_any_update(kwargs, match):
    X, y = datasets.moons(40, seed=0)
    m = xprop.MLP([2, 4, 2], "tanh", "softmax", "cross_entropy")
    before = m.to_numpy_parameters()
    with pytest.raises(ValueError, match=match):
        m.fit(X, y, epochs=2, **fit_options(**kwargs))
    for k, v in m.to_numpy_parameters().items():
        np.testing.assert_array_equal(v, before[k])


def test_a_schedule_returning_a_bad_lr_is_refused():
    X, y = datasets.moons(40, seed=0)
    m = xprop.MLP([2, 4, 2], "tanh", "softmax", "cross_entropy")
    with pytest.raises(ValueError, match=r"schedule\(0\): expected a finite learning rate >= 0"):
        m.fit(X, y, epochs=2, config=xprop.FitConfig(schedule=lambda epoch: -1.0))


@pytest.mark.parametrize(("backend", "compiled"), [("numpy", None), ("jax", False),
                                                   ("jax", None)])
def test_divergence_reports_the_recorded_epochs_to_progress(backend, compiled):
    """Found by audit: the epochs of a diverging chunk that finished before the bad step
    reached the history but not progress (the CLI's bar) nor early stopping's best_epoch,
    as many as the chunk held (compiled: all of them)."""
    if backend == "jax":
        pytest.importorskip("jax")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3))
    y = X @ [1.0, -2.0, 3.0] * 10
    m = xprop.MLP([3, 8, 1], "relu", seed=0, dtype="float32").to(backend)
    seen = []
    config = xprop.FitConfig(epochs=30, lr=0.05, batch_size=16, compiled=compiled,
                             validation_split=0.25, early_stopping=50, restore_best=False,
                             progress=lambda epoch, logs: seen.append(epoch))
    with pytest.raises(xprop.TrainingDivergedError) as info:
        m.fit(X, y, config)
    history = info.value.history
    assert seen == list(range(1, len(history) + 1)) and len(history) == info.value.epoch - 1
    assert history.best_epoch == 1 + int(np.argmin(history.val_loss))


def test_divergence_keeps_the_last_parameters_finite_on_the_training_data():
    """Replaying the run by hand to the point the message names reaches the same parameters,
    and they give a finite loss and finite outputs on the training data."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((32, 3)), 1e3 * rng.standard_normal((32, 1))
    m = xprop.MLP([3, 8, 1], "relu", "identity", "mse", seed=0)
    start = m.to_numpy_parameters()
    with pytest.raises(xprop.TrainingDivergedError) as err:
        m.fit(X, y, lr=5.0, epochs=50, batch_size=4, config=xprop.FitConfig(shuffle=False))
    kept = m.to_numpy_parameters()
    assert all(np.all(np.isfinite(v)) for v in kept.values())
    _assert_finite_on(m, X, y)
    msg = str(err.value)
    after = re.search(r"those after step (\d+) of epoch (\d+)", msg)
    at = re.search(r"those at the start of epoch (\d+)", msg)
    assert after or at, msg
    epoch, steps = (int(after.group(2)), int(after.group(1))) if after else (int(at.group(1)), 0)
    # the same run, stopped after (epoch - 1) whole epochs and `steps` more steps
    ref = xprop.MLP([3, 8, 1], "relu", "identity", "mse", seed=0)
    ref.set_parameters(start)
    if epoch > 1:
        ref.fit(X, y, lr=5.0, epochs=epoch - 1, batch_size=4, config=xprop.FitConfig(shuffle=False))
    opt_ref = xprop.SGD(lr=5.0)
    Xd, Yd, _ = ref.prepare(X, y)
    from xprop.train import train_step

    for k in range(steps):
        train_step(ref, Xd[4 * k : 4 * k + 4, ...], Yd[4 * k : 4 * k + 4, ...], opt_ref)
    for name, v in ref.to_numpy_parameters().items():
        np.testing.assert_array_equal(kept[name], v, err_msg=name)


def test_divergence_with_huge_parameters_keeps_finite_outputs(tmp_path):
    """The reproduction of issue 7: SGD at lr 1e6 on a softmax classifier reached parameters
    near 1e156 whose outputs were NaN; now the kept parameters give finite outputs, and
    saving a model with non-finite parameters is refused."""
    X, y = xprop.datasets.moons(80, noise=0.1, seed=0)
    m = xprop.MLP([2, 16, 2], "relu", "softmax", "cross_entropy", seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(xprop.TrainingDivergedError):
            m.fit(X, y, optimizer=xprop.SGD(lr=1e6), epochs=50, batch_size=8)
        _assert_finite_on(m, X, y)
        assert m.all_finite()
        m.save(tmp_path / "ok.npz")
        buffer = m.params.buffer
        m.params.assign(buffer * float("nan"))
        assert not m.all_finite()
        with pytest.raises(ValueError, match="NaN or inf"):
            m.save(tmp_path / "bad.npz")
    assert not (tmp_path / "bad.npz").exists()


# --------------------------------------------------------------------------- chunked records


@pytest.mark.parametrize("batch_size", [None, 16])
def test_chunked_records_equal_per_epoch_records(case, monkeypatch, batch_size):
    """Without per-epoch readers, fit computes a chunk of epochs' records at once; the
    history is the one a per-epoch run (a callback forces chunks of one epoch) records, and
    the parameters are identical."""
    monkeypatch.setattr(xprop.step, "CHUNK_EPOCHS", 7)  # several chunks and a ragged last one
    X, y = datasets.moons(48, noise=0.2, seed=0)

    def run(callbacks):
        m = xprop.MLP([2, 6, 2], "tanh", "softmax", "cross_entropy", seed=4,
                      dtype=case.dtype, backend=case.backend)
        h = m.fit(X, y, optimizer="adam", lr=0.02, epochs=23, batch_size=batch_size,
                  # the eager loop's chunks
                  config=xprop.FitConfig(callbacks=callbacks, compiled=False))
        return m, h

    (m1, h1), (m2, h2) = run([]), run([lambda e, logs, m: None])
    assert len(h1) == len(h2) == 23
    np.testing.assert_allclose(h1.loss, h2.loss, rtol=parity_rtol(case.dtype))
    assert h1.accuracy == h2.accuracy and h1.lr == h2.lr
    np.testing.assert_array_equal(host(m1.params.buffer), host(m2.params.buffer))


@pytest.mark.parametrize("limit", [1, 300, 1000])
@pytest.mark.parametrize("batch_size", [None, 16])
@pytest.mark.parametrize("head", [("softmax", "cross_entropy"), ("identity", "mse"),
                                  ("identity", "half_sse")])
def test_records_in_cache_sized_blocks_equal_the_whole_chunks(monkeypatch, limit, batch_size,
                                                              head):
    """The records of a chunk are computed a few epochs at a time on NumPy (its
    ``cache_elements``: blocks of 1, 3 and 10 epochs of 48x2 outputs, ragged last ones);
    the history (losses, accuracies) and parameters are those of the whole chunk at once,
    bit for bit, for a classifier and for mean and summed losses of two outputs."""
    from xprop.backend.numpy_ import NumpyAdapter

    X, y = datasets.moons(48, noise=0.2, seed=0)
    if head[0] == "identity":
        y = np.stack([X[:, 0] * X[:, 1], X[:, 0] - y], axis=1)

    def run(elements):
        monkeypatch.setattr(NumpyAdapter, "cache_elements", lambda self, device: elements)
        m = xprop.MLP([2, 6, 2], "tanh", *head, seed=4)
        h = m.fit(X, y, optimizer="adam", lr=0.02, epochs=23, batch_size=batch_size)
        return host(m.params.buffer), h.as_dict()

    (p1, h1), (p2, h2) = run(None), run(limit)
    assert h1["loss"] == h2["loss"] and h1["accuracy"] == h2["accuracy"]
    np.testing.assert_array_equal(p1, p2)


@pytest.mark.parametrize("shuffle", [False, True])
def test_divergence_in_a_later_chunk_reports_as_a_per_epoch_run_does(monkeypatch, shuffle):
    """A divergence found at a chunk's end is replayed from the kept snapshots: the epoch,
    the step and the kept parameters are those of a run that checks every epoch."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((32, 3)), rng.standard_normal((32, 1))

    def run(size):
        monkeypatch.setattr(xprop.step, "CHUNK_EPOCHS", size)
        m = xprop.MLP([3, 8, 1], "tanh", "identity", "mse", seed=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(xprop.TrainingDivergedError) as err:
                m.fit(X, y, lr=0.6, epochs=400, batch_size=4,
                      config=xprop.FitConfig(shuffle=shuffle))
        return m, err.value

    (m1, e1), (m4, e4) = run(1), run(8)
    assert (e1.epoch, e1.step) == (e4.epoch, e4.step)
    assert len(e1.history) == len(e4.history) == e1.epoch - 1  # the epochs before it
    assert e1.history.loss == e4.history.loss
    assert e1.epoch > 16, "the divergence should come after the first two chunks"
    assert str(e1) == str(e4)
    np.testing.assert_array_equal(host(m1.params.buffer), host(m4.params.buffer))
    _assert_finite_on(m4, X, y)


def test_an_adapter_that_claims_immutable_arrays_is_never_written_into(monkeypatch):
    """fit keeps references, not copies, as snapshots of arrays its adapter calls immutable,
    so nothing may write into them: a diverging run reports and keeps what it does when the
    same arrays are treated as mutable (array-api-strict, whose arrays could be written)."""
    from xprop.backend.strict import StrictAdapter

    rng = np.random.default_rng(0)
    X = rng.normal(size=(32, 3))
    y = 1e3 * (X @ np.array([1.0, -2.0, 3.0]))
    outcomes = []
    for mutable in (True, False):
        monkeypatch.setattr(StrictAdapter, "mutable", mutable)
        model = xprop.MLP([3, 8, 1], "tanh", "identity", "mse", seed=0,
                          backend="array_api_strict")
        with pytest.raises(xprop.TrainingDivergedError) as err:
            model.fit(X, y, lr=1e6, epochs=200, batch_size=8)
        e = err.value
        outcomes.append((e.epoch, e.step, str(e), host(model.params.buffer)))
    assert outcomes[0][:3] == outcomes[1][:3]
    assert np.all(np.isfinite(outcomes[1][3]))
    np.testing.assert_array_equal(outcomes[0][3], outcomes[1][3])


@pytest.mark.parametrize("entry", ["fit", "MLP.fit", "fit_distributed"])
def test_a_config_option_given_as_a_keyword_says_where_it_goes(entry):
    """An option that lives only in FitConfig, passed to fit or fit_distributed as a keyword
    (the signature before FitConfig), is a one-line TypeError naming it, the keywords there
    are and the config to pass; a name that is no option gets Python's own error."""
    from xprop.distributed import fit_distributed

    X, y = datasets.xor()
    m = xprop.MLP([2, 3, 1], "tanh", "sigmoid", "bce", seed=0)
    call = {"fit": lambda **kw: xprop.fit(m, X, y, **kw), "MLP.fit": lambda **kw: m.fit(X, y, **kw),
            "fit_distributed": lambda **kw: fit_distributed(m, X, y, **kw)}[entry]
    before = m.to_numpy_parameters()
    name = entry.split(".")[-1]
    said = ("fit_distributed: rank 0 of 1 refused to start: TypeError: "  # (as every rank
            if entry == "fit_distributed" else "")  # says it: _agreed_call)
    with pytest.raises(TypeError) as err:
        call(epochs=2, shuffle=False, verbose=1)
    assert str(err.value) == (
        f"{said}shuffle: an option of xprop.FitConfig, not a keyword of {name} (its keywords: "
        "batch_size, early_stopping, epochs, lr, optimizer, validation_split); pass "
        "config=xprop.FitConfig(shuffle=...)")
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        call(epochs=2, bogus=1)
    for k, v in m.to_numpy_parameters().items():
        np.testing.assert_array_equal(v, before[k])


def test_fit_config_review_cases():
    """Found by a hostile review of fit(model, X, y, config, **keywords): each refused before
    any update (parameters unchanged), each message naming the option."""
    X, y = datasets.moons(40, seed=0)

    def model():
        return xprop.MLP([2, 4, 2], "tanh", "softmax", "cross_entropy", seed=0)

    m = model()
    before = m.to_numpy_parameters()
    with pytest.raises(ValueError, match=r"^log: expected a function, got None$"):
        m.fit(X, y, xprop.FitConfig(log=None, verbose=1, epochs=2))
    with pytest.raises(TypeError, match=r"^epoch: not an option of FitConfig"):
        xprop.FitConfig().replace(epoch=3)
    # an optimizer with state from a model of another size
    opt = Adam(lr=0.01)
    xprop.MLP([2, 3, 2], "tanh", "softmax", "cross_entropy", seed=0).fit(X, y, optimizer=opt,
                                                                       epochs=1)
    with pytest.raises(ValueError, match=r"^optimizer: .* holds state for 17 parameters .* 22"):
        m.fit(X, y, optimizer=opt, epochs=1)
    for k, v in m.to_numpy_parameters().items():
        np.testing.assert_array_equal(v, before[k])
    # an optimizer keyword replaces the config's named optimizer and its rate
    config = xprop.FitConfig(optimizer="sgd", lr=0.05, epochs=2)
    h = model().fit(X, y, config, optimizer=xprop.SGD(0.2))
    assert h.lr == [0.2, 0.2]
    with pytest.raises(ValueError, match=r"^lr: the optimizer .* carries its own"):
        model().fit(X, y, config, optimizer=xprop.SGD(0.2), lr=0.1)


# ------------------------------------------------- option types, found by a hostile review


def test_numpy_bools_and_none_callbacks_are_options_as_their_python_spellings():
    """np.True_/np.False_ wherever a bool goes, verbose=True (every epoch), callbacks=None
    (none); an empty schedule name is refused, not taken for "constant"."""
    same = xprop.FitConfig(shuffle=False, restore_best=True, compiled=False, verbose=1)
    assert xprop.FitConfig(shuffle=np.False_, restore_best=np.True_, compiled=np.False_,
                           verbose=True, callbacks=None) == same
    assert xprop.FitConfig(verbose=False).verbose == 0
    with pytest.raises(ValueError, match=r"^schedule: expected one of \['constant', 'cosine', "
                                         r"'step'\], got ''$"):
        xprop.FitConfig(schedule="")


def test_a_step_schedule_that_decays_to_zero_trains_every_epoch():
    """The step schedule underflows to 0.0 in a long fit: a rate of 0 is a rate (the updates
    stop), not an error after thousands of epochs."""
    X, y = datasets.xor()
    m = xprop.MLP([2, 3, 1], "tanh", "sigmoid", "bce", seed=0)
    h = m.fit(X, y, xprop.FitConfig(schedule="step"), epochs=9800, lr=0.5)
    assert len(h) == 9800 and h.lr[-1] == 0.0 and h.lr[0] == 0.5
    assert m.all_finite()


@pytest.mark.parametrize("compiled", [False, None])
def test_a_schedules_bad_rate_is_refused_before_training_or_keeps_the_recorded_epochs(compiled):
    """The first rate is checked before any update (the parameters unchanged); a later bad
    rate (a function may read state that training changes) stops the fit at its epoch with
    a one-line error naming it, the model at its last recorded epoch and that history on the
    error (as for Ctrl-C), on the eager and compiled paths alike."""
    X, y = datasets.xor()
    backends = ["numpy"] + (["jax"] if compiled is None and HAS_JAX else [])
    for backend in backends:
        m = xprop.MLP([2, 3, 1], "tanh", "sigmoid", "bce", seed=0, backend=backend)
        before = m.to_numpy_parameters()
        config = xprop.FitConfig(compiled=compiled, schedule=lambda e: np.nan)
        with pytest.raises(ValueError, match=r"^schedule\(0\): expected a finite learning "
                                             r"rate >= 0, got nan$"):
            m.fit(X, y, config, epochs=20, lr=0.1)
        for k, v in m.to_numpy_parameters().items():
            np.testing.assert_array_equal(v, before[k])
        config = config.replace(schedule=lambda e: 0.1 if e < 5 else -1.0)
        with pytest.raises(ValueError, match=r"^schedule\(5\): expected a finite learning "
                                             r"rate >= 0, got -1.0$") as err:
            m.fit(X, y, config, epochs=20, lr=0.1)
        done = len(err.value.history)  # a compiled chunk's rates are all read first
        assert 1 <= done <= 5 if backend == "numpy" else 0 <= done <= 5
        if done == 0:
            for k, v in m.to_numpy_parameters().items():
                np.testing.assert_array_equal(v, before[k])
            continue
        ref = xprop.MLP([2, 3, 1], "tanh", "sigmoid", "bce", seed=0, backend=backend)
        ref_hist = ref.fit(X, y, config.replace(schedule=None), epochs=done, lr=0.1)
        assert err.value.history.loss == ref_hist.loss
        for k, v in m.to_numpy_parameters().items():
            np.testing.assert_array_equal(v, ref.to_numpy_parameters()[k])


def test_a_callbacks_exception_leaves_the_model_of_its_epoch():
    """A callback that raises at epoch 4 stops the fit with its exception, which carries the
    history of the 4 recorded epochs; the model is the one the callback saw."""
    X, y = datasets.xor()
    seen = {}

    def callback(epoch, logs, model):
        seen[epoch] = model.to_numpy_parameters()
        if epoch == 4:
            raise RuntimeError("callback failed")

    m = xprop.MLP([2, 3, 1], "tanh", "sigmoid", "bce", seed=0)
    with pytest.raises(RuntimeError, match="callback failed") as err:
        m.fit(X, y, xprop.FitConfig(callbacks=[callback]), epochs=10, lr=0.5)
    assert len(err.value.history) == 4
    for k, v in m.to_numpy_parameters().items():
        np.testing.assert_array_equal(v, seen[4][k])


def test_a_diverged_fit_keeps_early_stoppings_best_epoch_and_its_history(backend):
    """Before: divergence after the best epoch left the model at the last finite parameters
    (training loss 2.7e296) and the error had no history, unlike every other mid-fit error."""
    X, y = xprop.datasets.moons(100, seed=0)
    m = xprop.MLP([2, 16, 2], "relu", "softmax", "cross_entropy", seed=0,
                  dtype="float32" if "no_float64" in backend.describe() else "float64")
    m = m.to(backend)
    config = xprop.FitConfig(epochs=100, optimizer="sgd", batch_size=16,
                             schedule=lambda e: 0.1 if e < 20 else 1e7,
                             validation_split=0.2, early_stopping=50)
    with pytest.raises(xprop.TrainingDivergedError, match="best epoch") as e:
        m.fit(X, y, config)
    history = e.value.history  # the epochs before the one that diverged, with the best
    assert len(history) == len(history.val_loss) == e.value.epoch - 1
    best = int(str(e.value).split("best epoch, ")[1].split()[0])
    assert best <= 21 and history.best_epoch == best
    assert m.all_finite() and m.loss(X, y) < 1.0
    assert "best epoch" not in str(_diverged_without_early_stopping(X, y))


def _diverged_without_early_stopping(X, y):
    m = xprop.MLP([2, 16, 2], "relu", "softmax", "cross_entropy", seed=0)
    try:
        m.fit(X, y, optimizer="sgd", lr=1e7, epochs=50, batch_size=16)
    except xprop.TrainingDivergedError as e:
        assert e.history is not None and m.all_finite()
        return e
    raise AssertionError("no divergence")


def test_an_optimizer_holding_another_backends_state_is_refused_before_any_work():
    pytest.importorskip("torch")
    X, y = xprop.datasets.xor()
    opt = xprop.Adam(0.01)
    xprop.MLP([2, 3, 1], seed=0).fit(X, y, optimizer=opt, epochs=1)
    with pytest.raises(ValueError, match=r"^optimizer: .* holds state of another library "
                                         r"from an earlier fit; .* parameters on torch"):
        xprop.MLP([2, 3, 1], seed=0, backend="torch").fit(X, y, optimizer=opt, epochs=1)


@pytest.mark.parametrize("said", ["no", 1, np.ones(2)])
def test_a_callback_returns_true_false_or_none(said):
    """Before: a callback returning "no" stopped training (truthiness), an array raised
    NumPy's ambiguous-truth error."""
    X, y = xprop.datasets.xor()
    config = xprop.FitConfig(epochs=5, callbacks=[lambda *a: said])
    with pytest.raises(TypeError, match=r"^callbacks\[0\]: expected it to return True \(stop\), "
                                        r"False or None, got"):
        xprop.MLP([2, 3, 1], seed=0).fit(X, y, config)


def test_seventh_audit_engine_cases():
    """Found by audit: (1) JAX's compiled functions were cached by an optimizer's public
    settings only, so a custom optimizer's ``_scale`` of an earlier fit was reused; (2) a
    callback changing a setting mid-fit was ignored by the compiled chunks (momentum 0
    crashed them); (3) an error of a schedule at epoch k kept a timing-dependent number of
    epochs (none on JAX) instead of the k completed ones."""
    X, y = xprop.datasets.xor()

    class Scaled(xprop.optimizers.Optimizer):
        def __init__(self, lr, scale):
            super().__init__(lr)
            self._scale = scale

        def apply(self, p, g, arrays, coeffs, xp):
            return p - coeffs[0] * self._scale * g, arrays

    def trained(backend, **options):
        model = xprop.MLP([2, 4, 1], "tanh", "sigmoid", "bce", seed=0, backend=backend)
        model.fit(X, y, **options)
        return xprop.to_numpy(model.params.buffer)

    backends = ["numpy"] + (["jax"] if HAS_JAX else [])
    for scale in (1.0, 10.0):
        ref, *others = (trained(b, optimizer=Scaled(0.1, scale), epochs=20) for b in backends)
        for other in others:
            np.testing.assert_allclose(other, ref, rtol=1e-12, atol=1e-15)
    for setting in ({"momentum": 0.5}, {"momentum": 0.0}, {"weight_decay": 0.5}):
        def change(epoch, logs, model, setting=setting, opt=None):
            if epoch == 3:
                for key, value in setting.items():
                    setattr(change.opt, key, value)

        results = []
        for b in backends:
            change.opt = xprop.SGD(0.1, momentum=0.9)
            results.append(trained(b, optimizer=change.opt, epochs=8,
                                   config=xprop.FitConfig(callbacks=[change])))
        for other in results[1:]:
            np.testing.assert_allclose(other, results[0], rtol=1e-12, atol=1e-15)

    def schedule(epoch):
        return 0.1 if epoch < 1500 else math.nan

    for b in backends:
        model = xprop.MLP([2, 4, 1], "tanh", "sigmoid", "bce", seed=0, backend=b)
        with pytest.raises(ValueError, match=r"^schedule\(1500\)") as info:
            model.fit(X, y, epochs=2000, config=xprop.FitConfig(schedule=schedule))
        assert len(info.value.history) == 1500
        again = xprop.MLP([2, 4, 1], "tanh", "sigmoid", "bce", seed=0, backend=b)
        again.fit(X, y, epochs=1500, lr=0.1)
        np.testing.assert_allclose(xprop.to_numpy(model.params.buffer),
                                   xprop.to_numpy(again.params.buffer), rtol=1e-12, atol=1e-15)


def test_an_eager_schedule_reads_each_rate_as_its_epoch_comes():
    """Found by review: rates read ahead for a whole eager chunk gave a warm-up that reads
    the optimizer's step count the count of the chunk's start for every epoch."""
    X, y = xprop.datasets.xor()
    opt = xprop.SGD(0.5)
    model = xprop.MLP([2, 4, 1], "tanh", "sigmoid", "bce", seed=0)
    hist = model.fit(X, y, optimizer=opt, epochs=12, config=xprop.FitConfig(
        compiled=False, schedule=lambda epoch: 0.5 * min(1.0, opt.t / 10)))
    assert hist.lr == [0.5 * min(1.0, t / 10) for t in range(12)]


def test_hooks_get_copies_of_the_logs_and_never_steer_early_stopping():
    """Found by audit: a progress display that formatted ``logs["val_loss"]`` in place
    changed early stopping's decision on eager fits (not on JAX's compiled chunks, which
    decide on the device). Early stopping decides first; progress, log and callbacks each
    get a copy. The epoch at which early stopping stops is logged with ``verbose``."""
    X, y = datasets.moons(120, seed=0)
    runs, lines = [], []

    def rounding(epoch, logs):
        logs["val_loss"] = float(f"{logs['val_loss']:.0f}")

    for progress in (None, rounding):
        m = xprop.MLP([2, 8, 2], "tanh", "softmax", "cross_entropy", seed=0)
        h = m.fit(X, y, xprop.FitConfig(
            epochs=40, lr=2.0, optimizer="momentum", batch_size=32, validation_split=0.25,
            early_stopping=3, progress=progress, verbose=100, log=lines.append,
            callbacks=[lambda e, logs, model: logs.clear()]))
        runs.append((len(h), h.best_epoch, h.val_loss))
    assert runs[0] == runs[1] and runs[0][0] < 40 and h.stopped_early
    assert [int(line.split("/")[0].split()[-1]) for line in lines] == [len(h), len(h)]


def test_a_display_interrupted_while_a_divergence_is_reported_still_says_diverged():
    """Found by audit: Ctrl-C in a progress display while a diverged chunk's earlier epochs
    were reported left the model at the recovered step (mid-epoch) but raised
    KeyboardInterrupt, whose history promises the last completed epoch's parameters. The
    fit raises the divergence (the model at its last finite parameters, as the error says),
    from the interruption."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3))
    y = X @ np.array([1.0, -2.0, 0.5])

    def display(epoch, logs):
        if epoch == 40:
            raise KeyboardInterrupt

    m = xprop.MLP([3, 8, 1], "relu", seed=0, dtype="float32")
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        with pytest.raises(xprop.TrainingDivergedError) as err:
            m.fit(X, y, xprop.FitConfig(epochs=200, batch_size=16, progress=display,
                                        schedule=lambda e: 0.01 if e < 40 else 1e4))
    assert isinstance(err.value.__cause__, KeyboardInterrupt) and err.value.epoch == 41
    assert m.all_finite()


def test_fourth_audit_of_one_configuration():
    """Found by an audit of the entry points against FitConfig: optimizer names in one
    spelling (ranks spelling ``Adam`` and ``adam`` were refused as a disagreement); an
    optimizer's rate set after it was made is checked when a fit starts (``opt.lr = -0.5``
    trained by gradient ascent); scikit-learn's SGD checks its momentum (only the estimator
    did); the validation split's message gives the split."""
    from xprop.optimizers import SklearnSGD

    a, b = xprop.FitConfig(optimizer=" Adam"), xprop.FitConfig(optimizer="adam")
    assert a.optimizer == "adam" and a.describe() == b.describe()
    X, y = datasets.xor()
    m = xprop.MLP([2, 4, 1], "tanh", "sigmoid", "bce", seed=0)
    before = m.to_numpy_parameters()
    opt = xprop.SGD(lr=0.1)
    opt.lr = -0.5
    with pytest.raises(ValueError, match=r"^optimizer\.lr: expected a finite learning rate "
                                         r">= 0, got -0\.5$"):
        m.fit(X, y, optimizer=opt, epochs=2)
    for k, v in m.to_numpy_parameters().items():
        np.testing.assert_array_equal(v, before[k])
    for bad in (1.5, -0.1, float("nan"), True):
        with pytest.raises(ValueError, match=r"^momentum: expected a finite number"):
            SklearnSGD(momentum=bad)
    with pytest.raises(ValueError, match=r"^validation_split: 0\.9 of 4 samples leaves no "
                                         r"training data"):
        m.fit(X, y, validation_split=0.9, epochs=1)
