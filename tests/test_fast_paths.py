"""The fast training paths give the eager loop's numbers: whole epochs compiled on JAX
(xprop.compiled) and captured steps replayed (xprop.captured; CUDA graphs on torch CUDA,
exercised without a GPU by a capture that replays by calling the step again, which checks
everything but the graph itself: static inputs, coefficients, optimizer state, the short last
batch; with a GPU by a real graph)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import xprop
from xprop import captured, compiled
from xprop.backend import resolve_backend
from xprop.backend.numpy_ import NumpyAdapter
from xprop.backend.torch_ import TorchAdapter
from xprop.tolerances import parity_atol, parity_rtol
from xprop.train import train_step

from .conftest import REQUIRE_CUDA
from .helpers import fit_options, host

RNG = np.random.default_rng(0)
X = RNG.standard_normal((70, 5))
LABELS = RNG.integers(0, 3, 70)
TARGETS = RNG.standard_normal((70, 2))

OPTIMIZERS = {
    "sgd": lambda: xprop.SGD(lr=0.05),
    "momentum": lambda: xprop.SGD(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "adam": lambda: xprop.Adam(lr=0.01, weight_decay=1e-3),
    "adamw": lambda: xprop.AdamW(lr=0.01),
}


def assert_close(actual, desired, dtype="float32"):
    """Two ways of running one fit agree within the cross-backend tolerances of
    :mod:`xprop.tolerances` (the longest dot product of these fits: fan-in 8 + batch 16)."""
    np.testing.assert_allclose(actual, desired, rtol=parity_rtol(dtype, 8 + 16),
                               atol=parity_atol(dtype))


def _model(backend, task="classify", dtype="float64"):
    if task == "classify":
        return xprop.MLP([5, 8, 3], "tanh", "softmax", "cross_entropy", dtype=dtype, seed=1,
                         backend=backend)
    return xprop.MLP([5, 8, 2], "relu", "identity", "mse", dtype=dtype, seed=1,
                     backend=backend)


# --------------------------------------------------------------------------- captured steps


@pytest.fixture
def replaying(monkeypatch):
    """NumPy's adapter 'captures' by running the step again at every replay."""
    calls = {"captures": 0}

    def capture(self, fn, device):
        calls["captures"] += 1
        fn()
        return fn

    for adapter in (NumpyAdapter, TorchAdapter):
        monkeypatch.setattr(adapter, "can_capture", lambda self, device: True)
        monkeypatch.setattr(adapter, "capture", capture)
    return calls


@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("batch_size", [10, 16, 70])
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_captured_steps_equal_eager_steps(replaying, opt_name, batch_size, backend):
    """Replayed steps on static arrays (batch copied in, coefficients as device scalars,
    optimizer state updated in place, a short last batch run eagerly) give the eager loop's
    parameters and outputs (bit for bit on NumPy; torch's one-pass update with a Python
    learning rate may round differently from the captured one's 0-d tensor), and the
    optimizer ends with the same state."""
    if backend == "torch":
        pytest.importorskip("torch")
    exact = backend == "numpy"

    def check(a, b):
        if exact:
            np.testing.assert_array_equal(host(a), host(b))
        else:
            assert_close(host(a), host(b), "float64")

    eager, fast = _model(backend), _model(backend)
    Xd, Yd, _ = eager.prepare(X, LABELS)
    o1, o2 = OPTIMIZERS[opt_name](), OPTIMIZERS[opt_name]()
    g1, g2 = eager.params.copy(), fast.params.copy()
    step = captured.captured_step(fast, o2, Xd[:batch_size], Yd[:batch_size], g2, None)
    assert step is not None
    for epoch in range(3):
        o1.lr = o2.lr = 0.05 / (1 + epoch)  # a schedule: new coefficients each epoch
        for s in range(0, 70, batch_size):
            Xb, Yb = Xd[s:s + batch_size], Yd[s:s + batch_size]
            cache = train_step(eager, Xb, Yb, o1, None, g1)
            logits, out = step(Xb, Yb) if Xb.shape[0] == batch_size else step.eager(Xb, Yb)
            check(logits, cache.pre[-1])
            check(out, cache.output)
            check(fast.params.buffer, eager.params.buffer)
    step.sync()
    assert o1.t == o2.t
    for a, b in zip(o1.arrays(), o2.arrays()):
        check(a, b)
    assert replaying["captures"] == 1


def test_captured_static_arrays_live_on_the_model_device():
    """The static logits/output arrays are made on the parameters' device, not the library's
    default one (array-api-strict's ``device1`` stands in for a GPU)."""
    import array_api_compat

    m = xprop.MLP([5, 8, 3], "tanh", "softmax", "cross_entropy", seed=1,
                  backend="array_api_strict:device1")
    Xd, Yd, _ = m.prepare(X[:16], LABELS[:16])
    step = captured.CapturedStep(m, xprop.SGD(lr=0.1), m.backend.adapter, Xd, Yd,
                                 m.params.copy(), None)
    device = array_api_compat.device(m.params.buffer)
    assert str(device) == "array_api_strict.Device('device1')"
    for a in (step.logits, step.output, step.X, step.Y):
        assert array_api_compat.device(a) == device


def test_fit_uses_captured_steps_where_the_library_captures(replaying):
    """fit replays full batches and runs the last short one eagerly: the same history and
    parameters as without capture; a new parameter buffer is captured again."""
    plain, fast = _model("numpy"), _model("numpy")
    kw = dict(epochs=4, batch_size=16, optimizer="adam", lr=0.01, seed=3, schedule="cosine")
    h_fast = fast.fit(X, LABELS, **fit_options(**kw))
    assert replaying["captures"] == 1
    h_plain = plain.fit(X, LABELS, **fit_options(**kw, compiled=False))
    assert replaying["captures"] == 1  # compiled=False: the eager loop
    np.testing.assert_array_equal(fast.params.buffer, plain.params.buffer)
    assert h_fast.loss == h_plain.loss and h_fast.accuracy == h_plain.accuracy


def test_no_capture_where_the_library_cannot():
    m = _model("numpy")
    Xd, Yd, _ = m.prepare(X, LABELS)
    assert captured.captured_step(m, xprop.SGD(lr=0.1), Xd, Yd, m.params.copy(), None) is None


@pytest.mark.cuda
@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
def test_torch_cuda_graph_steps_equal_eager_steps(opt_name):
    """A real CUDA graph (no fake capture): fit captures on torch CUDA, without a warning,
    and trains to the eager loop's parameters and history within float32 rounding."""
    import warnings

    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        if REQUIRE_CUDA:
            pytest.fail("XPROP_REQUIRE_CUDA=1 but torch sees no CUDA device")
        pytest.skip("torch sees no CUDA device")
    captures = []
    real = TorchAdapter.capture

    def counting(self, fn, device):
        replay = real(self, fn, device)
        captures.append(replay is not None)
        return replay

    results = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a failed capture warns
        for use in (None, False):
            m = _model("torch:cuda", "classify", "float32")
            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(TorchAdapter, "capture", counting)
                h = m.fit(X, LABELS, optimizer=OPTIMIZERS[opt_name](), epochs=4,
                          batch_size=16, config=xprop.FitConfig(seed=3, compiled=use))
            results.append((host(m.params.buffer), h))
    assert captures == [True]
    (p1, h1), (p2, h2) = results
    assert_close(p1, p2)
    assert_close(h1.loss, h2.loss)


# --------------------------------------------------------------------------- compiled epochs

jax = pytest.importorskip("jax")


@pytest.mark.parametrize(("opt_name", "batch_size", "shuffle", "task"), [
    ("sgd", 16, True, "classify"), ("adam", 10, True, "classify"),
    ("momentum", None, False, "classify"), ("adamw", 16, False, "regress"),
    ("adam", 16, True, "regress"), ("sgd", None, False, "regress"),
])
def test_compiled_epochs_equal_the_eager_loop(opt_name, batch_size, shuffle, task):
    """fit on JAX compiles whole chunks of epochs; parameters and history agree with the
    eager loop within float32 rounding (the compiler fuses and reorders)."""
    y = LABELS if task == "classify" else TARGETS
    kw = dict(epochs=12, batch_size=batch_size, shuffle=shuffle, seed=5, clip_norm=5.0,
              schedule="step")
    results = []
    for use in (True, False):
        m = _model("jax", task, "float32")
        h = m.fit(X, y, optimizer=OPTIMIZERS[opt_name](), **fit_options(**kw, compiled=use))
        results.append((host(m.params.buffer), h))
    (p1, h1), (p2, h2) = results
    assert p1.dtype == p2.dtype == np.float32 and p1.shape == p2.shape
    assert_close(p1, p2)
    assert_close(h1.loss, h2.loss)
    assert h1.lr == h2.lr and len(h1.time) == 12
    if task == "classify":
        np.testing.assert_allclose(h1.accuracy, h2.accuracy, atol=1 / 70 + 1e-9)


def test_compiled_chunks_share_one_compilation(monkeypatch):
    """Chunks of different lengths (verbose boundaries, the last chunk) and a second fit of
    the same shapes reuse one compiled function."""
    monkeypatch.setattr(xprop.step, "CHUNK_EPOCHS", 8)  # chunks of 8 epochs
    compiled._CACHE.clear()
    m = _model("jax", dtype="float32")
    lines = []
    m.fit(X, LABELS, epochs=21, batch_size=16, config=xprop.FitConfig(verbose=5, log=lines.append))
    m.fit(X, LABELS, epochs=3, batch_size=16)
    assert len(compiled._CACHE) == 1
    assert len(lines) == 5 and lines[-1].startswith("epoch 21/21")


def test_compiled_chunks_are_bounded_by_work(monkeypatch):
    """A net whose epochs are heavy, or hold many steps, trains in shorter compiled calls (the
    host regains control every WORK_PER_CALL multiply-adds or STEPS_PER_CALL steps), with the
    numbers of one long call."""
    macs = 3 * 70 * (5 * 8 + 8 * 3)  # forward and backward of one epoch of the classifier
    calls = []
    run = compiled.CompiledEpochs.run

    def counting(self, epochs, *args):
        calls.append(len(epochs))
        return run(self, epochs, *args)

    monkeypatch.setattr(compiled.CompiledEpochs, "run", counting)
    results = []
    for work, steps in ((compiled.WORK_PER_CALL, compiled.STEPS_PER_CALL), (3 * macs, 1000),
                        (compiled.WORK_PER_CALL, 2 * 5)):  # 5 steps an epoch
        monkeypatch.setattr(compiled, "WORK_PER_CALL", work)
        monkeypatch.setattr(compiled, "STEPS_PER_CALL", steps)
        m = _model("jax", dtype="float32")
        h = m.fit(X, LABELS, epochs=10, batch_size=16,
                  config=xprop.FitConfig(shuffle=False, compiled=True))
        results.append((host(m.params.buffer), h.loss))
    assert calls == [10, 3, 3, 3, 1, 2, 2, 2, 2, 2]
    for p, loss in results[1:]:
        assert_close(results[0][0], p)
        assert_close(results[0][1], loss)


def test_compiled_divergence_names_the_eager_epoch_and_step():
    """A diverging compiled fit raises the error the eager loop raises (same epoch, step,
    kept parameters)."""
    errors, kept = [], []
    for use in (True, False):
        m = _model("jax", "regress", "float32")
        with pytest.raises(xprop.TrainingDivergedError) as e:
            m.fit(X, TARGETS * 1e3, epochs=50, batch_size=16, lr=1e3,
                  config=xprop.FitConfig(compiled=use))
        errors.append((e.value.epoch, e.value.step))
        kept.append(host(m.params.buffer))
    assert errors[0] == errors[1]
    assert_close(kept[0], kept[1])


def test_compiled_true_where_nothing_compiles_is_an_error():
    with pytest.raises(ValueError, match="compiled"):
        _model("numpy").fit(X, LABELS, epochs=1, config=xprop.FitConfig(compiled=True))


def test_resolve_backend_is_jax():
    assert resolve_backend("jax").adapter.compiles


@pytest.mark.parametrize("value", [0, 1, 0.0, "yes"])
def test_compiled_takes_only_none_or_a_bool(value):
    with pytest.raises(ValueError, match="compiled: expected None, True or False"):
        _model("numpy").fit(X, LABELS, epochs=1, config=xprop.FitConfig(compiled=value))


def test_an_optimizer_with_its_own_update_trains_eagerly():
    """A subclass overriding ``_update`` is honoured: the fast paths (which call ``apply``)
    are skipped, and compiled=True says why."""

    class Frozen(xprop.SGD):
        def _update(self, p, g, xp):
            return p  # never moves

    m = _model("jax", dtype="float32")
    before = host(m.params.buffer).copy()
    m.fit(X, LABELS, epochs=3, batch_size=16, optimizer=Frozen(lr=0.1))
    np.testing.assert_array_equal(host(m.params.buffer), before)
    with pytest.raises(ValueError, match="overrides update or _update"):
        m.fit(X, LABELS, epochs=1, optimizer=Frozen(lr=0.1), config=xprop.FitConfig(compiled=True))


def test_a_cached_compilation_uses_the_settings_of_each_fit():
    """Compiled functions are cached by the optimizer's settings, and do not hold on to the
    optimizer that first made them (changing it afterwards changes nothing)."""
    first = xprop.SGD(lr=0.05, momentum=0.9)
    _model("jax", dtype="float32").fit(X, LABELS, epochs=3, batch_size=16, optimizer=first)
    first.momentum = 0.0
    results = []
    for use in (True, False):
        m = _model("jax", dtype="float32")
        m.fit(X, LABELS, epochs=20, batch_size=16, optimizer=xprop.SGD(lr=0.05, momentum=0.9),
              config=xprop.FitConfig(compiled=use))
        results.append(host(m.params.buffer))
    assert_close(results[0], results[1])


def test_compiled_coefficients_are_reused_only_for_the_same_optimizer_and_rate(monkeypatch):
    """A chunk's optimizer coefficients are computed once for an optimizer type, settings,
    rate and step count, then reused (a second identical fit computes none); other betas,
    another rate or a schedule get their own, as a fit with nothing cached has them."""

    from xprop import optimizers

    calls = []
    adams = xprop.Adam.coefficients

    def counted(self):
        calls.append(1)
        return adams(self)

    monkeypatch.setattr(xprop.Adam, "coefficients", counted)  # (still xprop's own)
    monkeypatch.setattr(optimizers, "_OWN_COEFFICIENTS", (*optimizers._OWN_COEFFICIENTS,
                                                          counted))

    def fit(**kw):
        m = _model("jax", dtype="float32")
        schedule = kw.pop("schedule", None)
        m.fit(X, LABELS, epochs=6, batch_size=16, optimizer=xprop.Adam(**kw),
              config=xprop.FitConfig(schedule=schedule))
        return host(m.params.buffer)

    compiled._COEFFS.clear()
    first = fit(lr=0.01)
    counted_calls = len(calls)
    assert counted_calls >= 6 * 5  # every step of every epoch (5 batches of 16 in 70 rows)
    np.testing.assert_array_equal(fit(lr=0.01), first)
    assert len(calls) == counted_calls  # all reused
    for kw in ({"lr": 0.01, "betas": (0.5, 0.6)}, {"lr": 0.02},
               {"lr": 0.01, "schedule": "cosine"}):
        after_others = fit(**kw)
        compiled._COEFFS.clear()
        np.testing.assert_array_equal(after_others, fit(**kw))
        assert not np.array_equal(after_others, first)


def test_coefficients_of_an_optimizers_own_are_computed_for_every_chunk():
    """An optimizer subclass with a ``coefficients`` of its own (which may read anything,
    here a class attribute) gets them computed for every chunk: a fit after the attribute
    changed trains by the new value, compiled as eagerly."""
    from xprop.optimizers import Optimizer

    class Scaled(Optimizer):
        scale = 1.0

        def coefficients(self):
            return (self.lr * type(self).scale,)

        def apply(self, p, g, arrays, coeffs, xp):
            return p - coeffs[0] * g, arrays

    def moved(compiled):
        m = _model("jax", dtype="float32")
        before = host(m.params.buffer)
        m.fit(X, LABELS, epochs=4, batch_size=16, optimizer=Scaled(0.05),
              config=xprop.FitConfig(compiled=compiled))
        return np.abs(host(m.params.buffer) - before).max()

    assert moved(True) > 0
    Scaled.scale = 0.0
    assert moved(True) == moved(False) == 0.0


def test_early_stopping_chunks_share_one_compilation(monkeypatch):
    """The chunks of a fit with early stopping (whose threshold one call hands the next)
    and a second such fit are one compilation: every argument keeps its placement."""
    traces = []
    chunk_function = compiled._chunk_function

    def counted(*args):
        run = chunk_function(*args)

        def traced(*call):
            traces.append(1)
            return run(*call)
        return traced

    monkeypatch.setattr(compiled, "_chunk_function", counted)
    monkeypatch.setattr(xprop.step, "CHUNK_EPOCHS", 4)
    compiled._CACHE.clear()
    config = xprop.FitConfig(epochs=30, batch_size=16, validation_split=0.2,
                             early_stopping=50, optimizer="adam", lr=0.01)
    for _ in range(2):
        assert len(_model("jax", dtype="float32").fit(X, LABELS, config)) == 30
    assert len(traces) == 1


@pytest.mark.parametrize("validation", ["split", "data"])
@pytest.mark.parametrize("restore_best", [True, False])
def test_validation_and_early_stopping_stay_compiled(validation, restore_best):
    """Validation (a split or given data) and early stopping run inside compiled chunks on
    JAX (compiled=True is accepted), and give the eager loop's history, stopping epoch and
    parameters within float32 rounding."""
    pytest.importorskip("jax")
    kw = dict(optimizer="adam", lr=0.05, epochs=80, batch_size=16, seed=3, early_stopping=4,
              min_delta=1e-4, restore_best=restore_best)
    if validation == "split":
        kw["validation_split"] = 0.25
    else:
        kw["validation_data"] = (X[:20], LABELS[:20])
    results = []
    for use in (True, False):
        m = _model("jax", dtype="float32")
        h = m.fit(X, LABELS, **fit_options(**kw, compiled=use))
        results.append((host(m.params.buffer), h))
    (p1, h1), (p2, h2) = results
    assert h1.stopped_early and h2.stopped_early and len(h1) < 80
    assert h1.best_epoch == h2.best_epoch and len(h1) == len(h2)
    assert_close(h1.val_loss, h2.val_loss)
    np.testing.assert_allclose(h1.val_accuracy, h2.val_accuracy, atol=1 / 17)
    assert_close(p1, p2)


def test_compiled_and_eager_early_stopping_judge_alike_in_float32():
    """Found by review: eager epochs judged an improvement in float64 on the host, compiled
    chunks in the model's dtype against a threshold rounded beforehand, so an improvement
    within a float32 rounding of min_delta counted in one and not the other (another
    best_epoch). Both now ask xprop.step.improves in the model's dtype."""
    from xprop.backend.host import in_dtype
    from xprop.step import improves
    from xprop.train import TrainingData

    min_delta = 0.8 * 2.0**-25
    m = xprop.MLP.from_arrays([[[0.5]]], [[0.0]], output_activation="identity", loss="mse",
                              dtype="float32", backend="numpy")
    Xv, Yv, _ = m.prepare(np.ones((1, 1)), np.zeros(1))
    first = m.params.buffer.copy()  # val loss 0.25, then 0.25 - 2**-25 (one float32 step)
    second = np.array([np.nextafter(np.float32(0.5), np.float32(0)), 0], np.float32)
    validate = compiled._validation_function(
        m.arch, m.xp, compiled._Shape(1, 1, False, None, False, True, min_delta))
    *_, best = validate(first, (Xv, Yv, None), (np.float32(np.inf), first))
    _, _, in_chunk, _ = validate(second, (Xv, Yv, None), best)
    data = TrainingData(None, None, None, None, False, 1, 1, None, (Xv, Yv, None))
    losses = []
    for buffer in (first, second):
        m.params.assign(buffer)
        losses.append(data.validate(m)["val_loss"])
    eager = improves(*in_dtype("float32", losses[1], losses[0], min_delta))
    assert losses[1] < losses[0] - min_delta  # (in float64 it improves)
    assert bool(in_chunk) is bool(eager) is False


@pytest.mark.parametrize(("backend", "use"), [("numpy", False), ("jax", False), ("jax", True)])
def test_a_min_delta_beyond_float32_keeps_the_first_epoch_as_the_best(backend, use):
    """Found by review: a finite min_delta that float32 cannot hold (1e39) became inf in
    the model's dtype, so inf - inf made even the first epoch no improvement (and NumPy
    warned of the overflow). It is float32's largest finite number there: the first epoch
    is the best, as with any min_delta, and no later one beats it."""
    if backend == "jax":
        pytest.importorskip("jax")
    m = _model(backend, dtype="float32")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        h = m.fit(X, LABELS, optimizer="adam", lr=0.05, epochs=20, batch_size=16,
                  validation_split=0.25, early_stopping=3,
                  config=xprop.FitConfig(min_delta=1e39, compiled=use))
    assert h.best_epoch == 1 and h.stopped_early and len(h) == 4


def test_callbacks_and_progress_see_every_epoch_on_the_compiled_path():
    """Callbacks get every epoch with that epoch's model (one-epoch compiled chunks);
    progress gets every epoch's logs; compiled=True holds with both."""
    pytest.importorskip("jax")
    seen, shown = [], []

    def callback(epoch, logs, model):
        seen.append((epoch, float(host(model.params.buffer)[0])))

    m = _model("jax", dtype="float32")
    h = m.fit(X, LABELS, optimizer="adam", lr=0.01, epochs=5, batch_size=16, validation_split=0.2,
              config=xprop.FitConfig(compiled=True, callbacks=[callback],
                                     progress=lambda epoch, logs: shown.append(epoch)))
    assert [e for e, _ in seen] == [1, 2, 3, 4, 5] == shown
    assert len({w for _, w in seen}) == 5  # the model changed between the calls
    assert len(h.val_loss) == 5


@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_ctrl_c_keeps_the_finished_epochs(backend):
    """A KeyboardInterrupt inside fit carries the history of the finished epochs; the model
    keeps the parameters after the last of them."""
    if backend == "jax":
        pytest.importorskip("jax")
    kw = dict(optimizer="adam", lr=0.01, batch_size=16, seed=2)

    def interrupt(epoch, logs, model):
        if epoch == 3:
            raise KeyboardInterrupt

    m = _model(backend, dtype="float32")
    with pytest.raises(KeyboardInterrupt) as info:
        m.fit(X, LABELS, epochs=10, **fit_options(**kw, callbacks=[interrupt]))
    ref = _model(backend, dtype="float32")
    h = ref.fit(X, LABELS, epochs=3, **fit_options(**kw))
    assert len(info.value.history) == 3
    assert_close(info.value.history.loss, h.loss)
    assert_close(host(m.params.buffer), host(ref.params.buffer))


def test_ctrl_c_inside_a_chunk_returns_to_its_start(monkeypatch):
    """Interrupted in the middle of a chunk of epochs (records not yet read): the model
    returns to the chunk's start, the last epoch whose record exists."""
    import xprop.train as engine

    calls = {"n": 0}
    real = engine.train_step

    def step(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 16:  # in epoch 4 of 5 steps each
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    kw = dict(optimizer="adam", lr=0.01, batch_size=16, seed=2, shuffle=True)
    ref = _model("numpy")
    h = ref.fit(X, LABELS, epochs=2, **fit_options(**kw))
    monkeypatch.setattr(engine, "train_step", step)
    m = _model("numpy")
    with pytest.raises(KeyboardInterrupt) as info:
        m.fit(X, LABELS, epochs=10,
              **fit_options(**kw, verbose=2, log=lambda line: None))
    assert info.value.history.loss == h.loss
    np.testing.assert_array_equal(host(m.params.buffer), host(ref.params.buffer))


def test_a_diverged_compiled_chunk_records_its_epochs_and_best_as_eager_does():
    """Found by audit: on JAX's compiled path a divergence with early stopping and
    restore_best left ``error.history`` empty (no best epoch) while the model held epoch 32's
    parameters; eager paths had 38 epochs and best_epoch 32."""
    pytest.importorskip("jax")
    X, y = xprop.datasets.moons(200, seed=0)

    def schedule(e):
        return 0.05 if e < 30 else 0.05 * 10.0 ** (e - 29)  # blows up after epoch 30

    seen = []
    for path in (False, None):
        m = xprop.MLP([2, 16, 2], "relu", "softmax", "cross_entropy", seed=0, backend="jax",
                      dtype="float32")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(xprop.TrainingDivergedError) as err:
                m.fit(X, y, xprop.FitConfig(epochs=200, schedule=schedule, compiled=path,
                                            validation_split=0.2, early_stopping=50))
        h = err.value.history
        assert len(h) == len(h.val_loss) == len(h.lr) == err.value.epoch - 1
        seen.append((err.value.epoch, h.best_epoch, h.lr))
    assert seen[0] == seen[1] and seen[0][1] is not None


def test_a_schedule_that_reads_training_state_sees_each_epoch_on_every_path():
    """Found by audit: compiled JAX read a function schedule's rates for a whole chunk
    before training it, so a schedule reading state that training changes (here the
    optimizer's step count) saw the chunk's start, and the chunk's length (verbose, early
    stopping) changed the trained model. A function schedule now trains chunks of one epoch
    there, as callbacks do: the rates are those of eager NumPy."""
    lrs = []
    for backend, path, verbose in (("numpy", False, 0), ("jax", None, 0), ("jax", None, 4),
                                   ("jax", False, 0)):
        opt = xprop.SGD(lr=0.1)
        m = _model(backend, dtype="float32")
        h = m.fit(X, LABELS, xprop.FitConfig(
            epochs=8, batch_size=16, optimizer=opt, compiled=path, verbose=verbose,
            log=lambda line: None, schedule=lambda e, opt=opt: 0.1 if opt.t < 3 * 5 else 0.0))
        lrs.append([round(v, 6) for v in h.lr])
    assert lrs[0] == [0.1, 0.1, 0.1, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert lrs == [lrs[0]] * 4


def test_a_callback_may_say_stop_with_its_librarys_boolean():
    """Found by audit: ``xp.any(...)`` (a 0-d boolean array) stopped a NumPy fit but was a
    TypeError on JAX and torch; a schedule's 0-d array was refused too."""
    for backend in ("numpy", "jax"):
        m = _model(backend, dtype="float32")
        h = m.fit(X, LABELS, xprop.FitConfig(
            epochs=6, callbacks=[lambda e, logs, model: model.xp.asarray(e == 2)],
            schedule=lambda e, xp=m.xp: xp.asarray(0.25)))
        assert len(h) == 2 and h.lr == [0.25, 0.25]
    with pytest.raises(TypeError, match=r"^callbacks\[0\]: expected it to return True"):
        _model("jax", dtype="float32").fit(X, LABELS, xprop.FitConfig(
            epochs=2, callbacks=[lambda e, logs, model: model.xp.asarray([True])]))
