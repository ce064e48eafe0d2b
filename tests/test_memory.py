"""Training holds the data plus a few batches (issue 12): each minibatch is gathered from the
epoch's permutation, a validation split keeps the training rows as indices, and a NumPy
memory-mapped ``X`` is streamed from the host batch by batch.

The results are those of a hand-written loop over the same seeded permutations
(:func:`xprop.init.permutation_stream`), bit for bit, and a memory-mapped file trains exactly
as the same data in memory.
"""

from __future__ import annotations

import itertools
import tracemalloc
import warnings

import numpy as np
import pytest

import xprop
import xprop.backend.base
import xprop.backend.host
import xprop.mlp
import xprop.train
from tests.helpers import fit_options, host
from xprop.init import permutation_stream
from xprop.optimizers import get_optimizer
from xprop.train import train_step


def _model(kind, dtype="float64", backend="numpy", n_in=5, seed=1):
    if kind == "clf":
        return xprop.MLP([n_in, 7, 3], "tanh", "softmax", "cross_entropy", seed=seed,
                         dtype=dtype, backend=backend)
    return xprop.MLP([n_in, 7, 2], "relu", "identity", "mse", seed=seed, dtype=dtype,
                     backend=backend)


def _data(kind, n=23, n_in=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_in))
    y = rng.integers(0, 3, n) if kind == "clf" else rng.standard_normal((n, 2))
    return X, y


def _reference(model, X, y, *, epochs, batch_size, shuffle, validation_split, optimizer,
               lr, seed):
    """What ``fit`` does, written out: the validation rows from the first permutation, then
    per epoch a permutation of the training rows (seed + 1 after a split), each batch taken
    by its rows. Returns the per-epoch summed losses and hits (float64 on the host)."""
    xp, head = model.xp, model.arch.head
    Xd, Yd, labels = model.prepare(X, y)
    n = Xd.shape[0]
    perms = permutation_stream(n, seed)
    rows = np.arange(n)
    if validation_split:
        n_val = max(1, round(n * validation_split))
        rows = next(perms)[n_val:]
        n -= n_val
        perms = permutation_stream(n, seed + 1)
    size = n if batch_size is None else min(batch_size, n)
    truth = head.truth(Yd, labels, xp)
    opt = get_optimizer(optimizer, lr=lr)
    records = []
    for _ in range(epochs):
        order = rows[next(perms)] if shuffle and size < n else rows
        loss = hits = 0.0
        for s in range(0, n, size):
            at = model.backend.from_host(order[s:s + size])
            Yb = xp.take(Yd, at, axis=0)
            cache = train_step(model, xp.take(Xd, at, axis=0), Yb, opt)
            loss += float(xp.sum(head.rows(cache.pre[-1], cache.output, Yb, xp)))
            if head.is_classifier:
                hits += float(head.count_hits(cache.output, xp.take(truth, at, axis=0), xp))
        records.append((loss, hits, n))
    return records


def _assert_same_params(m1, m2):
    p1, p2 = m1.to_numpy_parameters(), m2.to_numpy_parameters()
    assert p1.keys() == p2.keys()
    for k in p1:
        assert p1[k].dtype == p2[k].dtype
        np.testing.assert_array_equal(p1[k], p2[k], err_msg=k)


GRID = list(itertools.product(["float64", "float32"], [1, 7, None], [True, False],
                              [0.0, 0.25], ["sgd", "adam"], ["clf", "reg"]))


@pytest.mark.parametrize(("dtype", "batch_size", "shuffle", "validation_split", "optimizer",
                          "kind"), GRID)
def test_fit_equals_a_hand_written_loop_over_the_permutations(dtype, batch_size, shuffle,
                                                              validation_split, optimizer,
                                                              kind):
    X, y = _data(kind)
    kw = dict(epochs=3, batch_size=batch_size, shuffle=shuffle,
              validation_split=validation_split, optimizer=optimizer, lr=0.05, seed=3)
    m, ref = _model(kind, dtype), _model(kind, dtype)
    hist = m.fit(X, y, **fit_options(**kw))
    records = _reference(ref, X, y, **kw)
    _assert_same_params(m, ref)
    per = [1 if m.arch.head.summed else n for _, _, n in records]
    np.testing.assert_allclose(hist.loss, [loss / p for (loss, _, _), p in zip(records, per)],
                               rtol=1e-12 if dtype == "float64" else 1e-5)
    if kind == "clf":
        assert hist.accuracy == [hits / n for _, hits, n in records]


def test_fit_equals_the_hand_written_loop_on_every_backend(backend):
    X, y = _data("clf", n=20)
    kw = dict(epochs=2, batch_size=8, shuffle=True, validation_split=0.2, optimizer="adam",
              lr=0.05, seed=5)
    m = _model("clf", "float32", backend)
    ref = _model("clf", "float32", backend)
    m.fit(X, y, **fit_options(**kw, compiled=False))  # eager steps (JAX's compiled chunks: tests/
    _reference(ref, X, y, **kw)  # test_fast_paths.py, within float rounding)
    np.testing.assert_array_equal(host(m.params.buffer), host(ref.params.buffer))


# --------------------------------------------------------------------------- memory-mapped X


def _memmap(tmp_path, X, name="X.npy"):
    path = tmp_path / name
    np.save(path, X)
    return np.load(path, mmap_mode="r")


@pytest.mark.parametrize("kw", [
    dict(batch_size=4),
    dict(batch_size=4, shuffle=False),
    dict(batch_size=None),
    dict(batch_size=5, validation_split=0.2),
    dict(batch_size=None, validation_split=0.2, early_stopping=2),
], ids=["shuffled", "unshuffled", "full-batch", "validation_split", "full-batch-split"])
def test_a_memory_mapped_file_trains_as_the_same_data_in_memory(backend, tmp_path, kw):
    """float32 on every backend (float64 and other stored dtypes: the test below). Memory-
    mapped data trains eagerly, so the in-memory run does too (compiled=False: on JAX the
    default compiles whole epochs, equal only within rounding; tests/test_fast_paths.py)."""
    X, y = _data("clf", n=20)
    Xm = _memmap(tmp_path, X)
    runs = []
    for data in (X, Xm):
        m = _model("clf", "float32", backend)
        h = m.fit(data, y, epochs=3, optimizer="adam", lr=0.05,
                  **fit_options(**kw, seed=2, compiled=False))
        runs.append((m, h))
    (m1, h1), (m2, h2) = runs
    np.testing.assert_array_equal(host(m1.params.buffer), host(m2.params.buffer))
    assert (h1.loss, h1.accuracy, h1.val_loss, h1.val_accuracy) == \
        (h2.loss, h2.accuracy, h2.val_loss, h2.val_accuracy)
    assert isinstance(Xm, np.memmap) and not Xm.flags.writeable  # read, never written


@pytest.mark.parametrize(("stored", "dtype"), [("uint8", "float32"), ("float64", "float32"),
                                               ("float32", "float64"), ("float64", "float64"),
                                               ("bool", "float64")])
def test_memory_mapped_data_of_another_dtype_is_cast_per_batch(tmp_path, stored, dtype):
    rng = np.random.default_rng(0)
    X = (rng.standard_normal((40, 5)) * 50).astype(stored)
    y = rng.standard_normal((40, 2))
    m1, m2 = _model("reg", dtype), _model("reg", dtype)
    m1.fit(X, y, epochs=3, batch_size=6, lr=1e-4)
    m2.fit(_memmap(tmp_path, X), y, epochs=3, batch_size=6, lr=1e-4)
    _assert_same_params(m1, m2)


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("validation_split", [0.0, 0.25])
def test_divergence_on_a_memory_mapped_file_reports_and_keeps_as_in_memory(
        tmp_path, shuffle, validation_split):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((32, 3)), rng.standard_normal((32, 1))
    Xm = _memmap(tmp_path, X)
    out = []
    for data in (X, Xm):
        m = xprop.MLP([3, 8, 1], "tanh", "identity", "mse", seed=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(xprop.TrainingDivergedError) as err:
                m.fit(data, y, lr=0.6, epochs=400, batch_size=4, validation_split=validation_split,
                      config=xprop.FitConfig(shuffle=shuffle))
        out.append((m, str(err.value)))
    (m1, e1), (m2, e2) = out
    assert e1 == e2
    _assert_same_params(m1, m2)
    assert m2.all_finite()


def test_memory_mapped_x_is_checked_block_by_block(tmp_path, monkeypatch):
    """Every block is read: a NaN in the last one is found, with the in-memory message."""
    monkeypatch.setattr(xprop.backend.base, "HOST_BLOCK_BYTES", 5 * 8 * 3)  # 3 rows a block
    X, y = _data("clf", n=31)
    X[-1, 2] = np.nan
    X[0, 0] = np.inf
    errors = []
    for data in (X, _memmap(tmp_path, X)):
        with pytest.raises(ValueError, match=r"^X: expected finite values") as err:
            _model("clf").fit(data, y, epochs=1)
        errors.append(str(err.value))
    assert errors[0] == errors[1] == \
        "X: expected finite values, found NaN or inf in 2 of 155 entries"


@pytest.mark.parametrize(("X", "y", "error", "match"), [
    (np.ones((6, 4)), np.zeros(6, int), ValueError, r"^X: expected 5 features"),
    (np.ones((6, 5)), np.zeros(5, int), ValueError, r"^y: "),
    (np.full((6, 5), 1e300), np.zeros(6, int), ValueError, r"^X: values up to 1e\+300 overflow "
                                                           r"float32"),
    (np.ones((6, 5), complex), np.zeros(6, int), TypeError, r"^X: expected real numbers"),
], ids=["columns", "targets", "overflow", "complex"])
def test_memory_mapped_x_is_refused_as_in_memory(tmp_path, X, y, error, match):
    errors = []
    for data in (X, _memmap(tmp_path, X)):
        m = _model("clf", "float32")
        before = m.to_numpy_parameters()
        with pytest.raises(error, match=match) as err:
            m.fit(data, y, epochs=1)
        errors.append(str(err.value))
        for k, v in m.to_numpy_parameters().items():
            np.testing.assert_array_equal(v, before[k])
    assert errors[0] == errors[1]


# --------------------------------------------------------------------------- peak memory


def _peak_during(fn) -> int:
    """Peak bytes allocated (tracemalloc sees NumPy's buffers) while ``fn`` runs."""
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        if started:
            tracemalloc.stop()


@pytest.mark.parametrize("kw", [
    dict(batch_size=50),
    dict(batch_size=50, validation_split=0.25),
    dict(batch_size=50, shuffle=False),
    dict(batch_size=None),
], ids=["shuffled", "validation_split", "unshuffled", "full-batch"])
@pytest.mark.parametrize("source", ["memory", "mmap"])
def test_fit_holds_the_data_plus_a_few_batches(tmp_path, monkeypatch, kw, source):
    """No copy of the training data: the shuffled-copy loop needed the data's size again
    (a validation split too); now fit allocates a small fraction of it (batches, the
    records, the finite check's blocks) and the validation rows. A full batch of a
    memory-mapped file is the data."""
    if source == "mmap" and kw["batch_size"] is None:
        pytest.skip("a full batch read from a file is a copy of the data by definition")
    monkeypatch.setattr(xprop.mlp, "FINITE_BLOCK", 1 << 14)
    monkeypatch.setattr(xprop.backend.base, "HOST_BLOCK_BYTES", 1 << 17)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2000, 400))
    y = rng.integers(0, 2, 2000)
    data = X if source == "memory" else _memmap(tmp_path, X)

    def model():
        return xprop.MLP([400, 4, 2], "relu", "softmax", "cross_entropy", seed=0)

    # first-call imports and caches are not the data's
    model().fit(data, y, epochs=1, **fit_options(**kw))
    m = model()
    peak = _peak_during(lambda: m.fit(data, y, epochs=2, **fit_options(**kw)))
    # the validation rows are copied to the device (from a file: read, then copied)
    limit = 0.2 + (1 if source == "memory" else 2) * kw.get("validation_split", 0.0)
    assert peak < limit * X.nbytes, f"fit allocated {peak / X.nbytes:.2f} x the data"


def test_narrowing_cast_check_holds_no_copy_of_the_data():
    """float64 data for a float32 model: prepare holds the float32 copy and blocks of the
    overflow check, not the float64-sized temporaries of a whole-array check (which held
    twice the data); values that overflow float32 are still refused."""
    import xprop.backend.base as base

    m = _model("clf", dtype="float32", n_in=64)
    X = np.random.default_rng(0).standard_normal((4 * base.HOST_BLOCK_BYTES // 512, 64))
    y = np.zeros(X.shape[0], dtype=int)
    peak = _peak_during(lambda: m.prepare(X, y))
    assert peak < X.nbytes // 2 + 2 * base.HOST_BLOCK_BYTES  # the float32 copy + blocks
    X[-1, 3] = 1e39
    with pytest.raises(ValueError, match="X: values up to 1e\\+39 overflow float32"):
        m.prepare(X, y)
