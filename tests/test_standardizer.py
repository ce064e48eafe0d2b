"""Preprocessing is part of the model: ``model.standardizer`` is applied by every entry point
that takes features (``prepare``: ``predict``, ``predict_output``, ``loss``, ``accuracy``,
``fit``, ``xprop.gradcheck``), kept by ``to``, ``astype``, pickles and checkpoints, and is the
CLI's own code path. ``forward``/``backward`` take the network's (standardised) inputs."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import xprop
from tests.helpers import host
from xprop.datasets import Standardizer
from xprop.tolerances import parity_atol, parity_rtol


def _data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)) * [1.0, 50.0, 0.01] + [3.0, -200.0, 7.0]
    y = (X[:, 0] - 3 + (X[:, 1] + 200) / 50 > 0).astype(np.int64)
    return X, y


def _pair():
    """A model that standardises, and the same network without (fed standardised data)."""
    X, y = _data()
    m = xprop.MLP([3, 5, 2], "tanh", "softmax", "cross_entropy", seed=1).standardize(X)
    plain = copy.deepcopy(m)
    plain.set_standardizer(None)
    return m, plain, X, y, m.standardizer.transform(X)


def test_every_entry_point_standardises_the_features_it_is_given():
    m, plain, X, y, Z = _pair()
    np.testing.assert_array_equal(m.predict_output(X), plain.predict_output(Z))
    np.testing.assert_array_equal(m.predict(X), plain.predict(Z))
    assert m.loss(X, y) == plain.loss(Z, y)
    assert m.accuracy(X, y) == plain.accuracy(Z, y)
    assert m.accuracy(X, y) != plain.accuracy(X, y) or m.loss(X, y) != plain.loss(X, y)
    a, b = xprop.gradcheck(m, X[:8], y[:8], seed=0), xprop.gradcheck(plain, Z[:8], y[:8], seed=0)
    assert a.max_rel_error == b.max_rel_error and a.verdict == b.verdict == "passed"


def test_fit_trains_on_standardised_features_in_memory_and_memory_mapped(tmp_path):
    m, plain, X, y, Z = _pair()
    h = m.fit(X, y, epochs=4, batch_size=16,
              config=xprop.FitConfig(seed=0, validation_data=(X[:10], y[:10])))
    hp = plain.fit(Z, y, epochs=4, batch_size=16,
                   config=xprop.FitConfig(seed=0, validation_data=(Z[:10], y[:10])))
    assert h.loss == hp.loss and h.val_loss == hp.val_loss
    np.testing.assert_array_equal(m.params.buffer, plain.params.buffer)
    np.save(tmp_path / "X.npy", X)
    mapped = np.load(tmp_path / "X.npy", mmap_mode="r")
    again, _, _, _, _ = _pair()
    assert again.fit(mapped, y, epochs=4, batch_size=16, validation_split=0.2).loss == \
        _pair()[0].fit(X, y, epochs=4, batch_size=16, validation_split=0.2).loss


def test_memory_mapped_features_are_checked_as_prepare_checks_them(tmp_path):
    """Found by review: memory-mapped X was checked raw for the cast to the model's dtype,
    in-memory X after standardising. A standardised overflow trained (and diverged at step
    1) from a file, and raw values that standardise into range were refused there. Both
    now check the standardised values, a block at a time."""
    cases = [  # (X, mean, std): refused in memory, or trained in memory
        (np.array([[1e30], [2e30], [3e30], [4e30]]), [0.0], [1e-10]),
        (np.array([[4e39], [3e39], [2e39], [1e39]]), [2.5e39], [1e39]),
    ]
    y = np.array([0.0, 1.0, 0.0, 1.0])
    for i, (X, mean, std) in enumerate(cases):
        np.save(tmp_path / f"X{i}.npy", X)
        outcomes = []
        for data in (X, np.load(tmp_path / f"X{i}.npy", mmap_mode="r")):
            m = xprop.MLP([1, 1], "identity", "identity", "mse", dtype="float32", seed=0)
            m.set_standardizer(Standardizer.from_arrays(mean, std))
            try:
                outcomes.append(m.fit(data, y, epochs=2).loss)
            except ValueError as e:
                outcomes.append(str(e))
        assert outcomes[0] == outcomes[1], outcomes
        assert outcomes[0] == ("X: values up to 4e+40 overflow float32 (largest 3.4e+38); use "
                               "dtype='float64' or rescale the data") if i == 0 else \
            all(np.isfinite(outcomes[0]))


def test_to_astype_pickle_and_deepcopy_keep_it(case):
    m, _, X, _, _ = _pair()
    m = m.astype(case.dtype)
    ref, tol = m.predict_output(X), dict(rtol=parity_rtol(case.dtype),
                                         atol=parity_atol(case.dtype))
    for other in (m.to(case.backend), copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        assert other.standardizer is not None
        np.testing.assert_array_equal(other.input_mean, m.input_mean)
        np.testing.assert_allclose(host(other.predict_output(X)), ref, **tol)
    kept = m.astype("float64").standardizer  # its own object over the same read-only arrays
    assert kept is not m.standardizer and kept.mean is m.standardizer.mean


def test_device_arrays_are_standardised_on_the_device(case):
    """Host data is standardised in float64 on the host; arrays of the model's backend in
    its dtype, on its device: the same values within the dtype's parity tolerance."""
    m, _, X, _, _ = _pair()
    m = m.astype(case.dtype)
    d = m.to(case.backend)
    Xd = case.backend.from_host(X, case.backend.dtype(case.dtype))
    np.testing.assert_allclose(host(d.predict_output(Xd)), m.predict_output(X),
                               rtol=parity_rtol(case.dtype), atol=parity_atol(case.dtype))


def test_a_bad_standardizer_is_refused_with_the_argument_named():
    m = xprop.MLP([3, 4, 1])
    with pytest.raises(ValueError, match="standardizer: input_mean: expected 3 numbers"):
        m.set_standardizer(Standardizer(np.zeros(2), np.ones(2)))
    with pytest.raises(ValueError, match=r"standardizer: input_std: expected values > 0"):
        m.set_standardizer(Standardizer(np.zeros(3), np.array([1.0, 0.0, 1.0])))
    with pytest.raises(TypeError, match="standardizer: expected a fitted"):
        m.set_standardizer((np.zeros(3), np.ones(3)))
    with pytest.raises(ValueError, match="X: expected"):
        m.standardize(np.ones((4, 2)))
    assert m.standardizer is None
    with pytest.raises(ValueError, match="X: expected"):
        m.standardize(np.ones((4, 3))).predict(np.ones((2, 4)))


def test_wide_device_arrays_are_standardised_before_the_cast_to_the_model_dtype(backend):
    """Before: a float64 array given to a float32 model was cast first, so features with a
    large offset (2e7 + N(0, 1): float32 steps of 2 there) lost their digits and predictions
    differed from those of the same data on the host (0.77 accuracy against 0.9975)."""
    if "float64" not in backend.supported_float_dtypes():
        pytest.skip(f"{backend.describe()} has no float64")
    rng = np.random.default_rng(0)
    X = np.c_[2e7 + rng.normal(size=200), rng.normal(size=200)]
    m = xprop.MLP([2, 8, 2], "tanh", "softmax", "cross_entropy", seed=0, dtype="float32")
    m.standardize(X)
    d = m.to(backend)
    ref = m.predict_output(X)  # host data: standardised in float64 on the host
    out = d.predict_output(backend.from_host(X, backend.dtype("float64")))
    assert out.dtype == backend.dtype("float32")
    np.testing.assert_allclose(host(out), ref, rtol=parity_rtol("float32"),
                               atol=parity_atol("float32"))


def test_complex_features_are_refused_not_cast(backend):
    """Before: NumPy's complex X lost its imaginary part (a ComplexWarning) in a model with a
    standardizer."""
    m = xprop.MLP([2, 3, 2], seed=0, dtype="float32").to(backend)
    m.standardize(np.random.default_rng(0).normal(size=(10, 2)))
    with pytest.raises(TypeError, match=r"^X: expected real numbers, got dtype complex"):
        m.predict(np.ones((3, 2)) + 5j)


def test_standardizer_takes_any_librarys_arrays_and_object_arrays_of_numbers():
    """Device arrays come to the host (the standardizer is a host object); object arrays of
    real numbers (a frame of bools and floats' ``.values``) are read as float64, as a model
    reads them."""
    torch = pytest.importorskip("torch")
    X = np.array([[1.0, 2.0], [0.0, 5.0]])
    ref = Standardizer().fit(X)
    for data in (torch.asarray(X), np.array([[True, 2], [False, 5.0]], dtype=object)):
        s = Standardizer().fit(data)
        np.testing.assert_array_equal(s.mean, ref.mean)
        np.testing.assert_array_equal(s.transform(data), ref.transform(X))


def test_statistics_are_read_only_and_copies_keep_their_own():
    """Found by audit: ``model.input_mean`` was the model's own writable array (an in-place
    edit changed predictions; zeros in ``input_std`` went past its check), and ``to`` or
    ``astype`` copies shared one Standardizer (refitting the copy's changed the original)."""
    X, _ = xprop.datasets.moons(50, seed=0)
    m = xprop.MLP([2, 4, 2], "tanh", "softmax", "cross_entropy", seed=0).standardize(X)
    for stat in (m.input_mean, m.input_std, xprop.datasets.Standardizer.from_arrays(
            [0.0, 1.0], [1.0, 2.0]).std):
        with pytest.raises(ValueError, match="read-only"):
            stat[0] = 0.0
    for twin in (pickle.loads(pickle.dumps(m)), copy.deepcopy(m)):
        assert not twin.input_mean.flags.writeable and not twin.input_std.flags.writeable
    before = m.predict_proba(X[:5])
    copy_ = m.astype("float32")
    copy_.standardizer.fit(X * 10.0)
    np.testing.assert_array_equal(m.predict_proba(X[:5]), before)
