"""The scikit-learn estimators in :mod:`xprop.sklearn`.

scikit-learn's own estimator suite runs on both estimators through
``parametrize_with_checks``. No check is expected to fail (``expected_failed_checks`` returns
an empty dict). scikit-learn itself skips a few checks when an optional piece is missing:

- ``check_classifier_data_not_an_array`` / ``check_regressor_data_not_an_array``: need pandas;
- ``check_array_api_input``: needs the environment variable ``SCIPY_ARRAY_API=1``.

Both pass when their requirement is there, as does ``check_dataframe_column_names_consistency``
(run separately below: scikit-learn does not yield it). Then come tests of what the checks do
not cover: accuracy on digits, string labels, probabilities, ``partial_fit``, cloning,
pipelines and cross-validation, the array-api-strict and PyTorch backends, pickling,
determinism, early stopping, regression quality and the message when scikit-learn is missing.

One test is an expected failure of xprop itself, not of the estimators: ``xprop.train`` slices
the last, shorter minibatch as ``X[s : s + batch_size]``, which array-api-strict refuses
(out-of-bounds slice stops are unspecified in the Array API), so the array-api-strict tests use
batch sizes that divide the number of samples.

BLAS is limited to one thread in this module: the networks are tiny and multi-threaded
OpenBLAS makes such small matrix products many times slower on small shared machines.
"""

from __future__ import annotations

import importlib
import pickle
import sys

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn", minversion="1.6")
threadpoolctl = pytest.importorskip("threadpoolctl")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_digits, make_blobs  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.model_selection import cross_val_score, train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import xprop  # noqa: E402
from tests.conftest import HAS_TORCH  # noqa: E402
from xprop.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

# small and fast, yet comfortably above the checks' thresholds (accuracy > 0.83 on blobs,
# every iris class predicted, R^2 > 0.5 on make_regression) for any random_state
FAST = {"hidden_layer_sizes": (8,), "max_iter": 30, "learning_rate_init": 0.01, "batch_size": 32}


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
        yield


def _expected_failed_checks(estimator) -> dict[str, str]:
    """Checks that cannot pass, with the reason: none."""
    return {}


@parametrize_with_checks(
    [MLPClassifier(**FAST), MLPRegressor(**FAST)],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("estimator", [MLPClassifier(**FAST), MLPRegressor(**FAST)],
                         ids=["MLPClassifier", "MLPRegressor"])
def test_dataframe_column_names_consistency(estimator):
    """A scikit-learn check that ``parametrize_with_checks`` does not run by default."""
    pytest.importorskip("pandas")
    from sklearn.utils.estimator_checks import check_dataframe_column_names_consistency

    check_dataframe_column_names_consistency(type(estimator).__name__, estimator)


def _blobs(n=200, centers=3, seed=0):
    X, y = make_blobs(n_samples=n, centers=centers, random_state=seed)
    return StandardScaler().fit_transform(X), y


# --------------------------------------------------------------------------- classifier


def test_digits_accuracy():
    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=0,
                                              stratify=y)
    clf = make_pipeline(
        StandardScaler(),
        MLPClassifier(hidden_layer_sizes=(128,), batch_size=64, max_iter=30, random_state=0),
    )
    clf.fit(X_tr, y_tr)
    assert clf.score(X_te, y_te) >= 0.95
    mlp = clf[-1]
    assert mlp.n_iter_ == 30 and len(mlp.loss_curve_) == 30
    assert mlp.loss_ == mlp.loss_curve_[-1] < mlp.loss_curve_[0]
    assert mlp.model_.sizes == [64, 128, 10]
    assert mlp.n_features_in_ == 64


def test_string_labels_round_trip():
    X, y = _blobs()
    names = np.array(["cat", "dog", "emu"])
    clf = MLPClassifier(**FAST, random_state=0).fit(X, names[y])
    assert clf.classes_.tolist() == ["cat", "dog", "emu"]
    pred = clf.predict(X)
    assert pred.dtype == names.dtype and set(pred) <= set(names)
    assert clf.score(X, names[y]) > 0.9
    # the same network as with integer labels 0..2
    ints = MLPClassifier(**FAST, random_state=0).fit(X, y)
    np.testing.assert_array_equal(pred, names[ints.predict(X)])


def test_labels_any_integers_and_binary():
    X, y = _blobs(centers=2)
    labels = np.array([-7, 42])
    clf = MLPClassifier(**FAST, random_state=0).fit(X, labels[y])
    assert clf.classes_.tolist() == [-7, 42]
    assert clf.predict_proba(X).shape == (len(X), 2)
    assert set(np.unique(clf.predict(X))) <= {-7, 42}
    with pytest.raises(ValueError, match="Unknown label type"):
        MLPClassifier(**FAST).fit(X, X[:, 0])


def test_predict_proba_rows_sum_to_one():
    X, y = _blobs()
    clf = MLPClassifier(**FAST, random_state=0).fit(X, y)
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 3)
    assert np.all(proba >= 0) and np.all(proba <= 1)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], clf.predict(X))
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X)), proba)


def test_partial_fit_improves_loss_and_needs_classes():
    X, y = _blobs()
    clf = MLPClassifier(hidden_layer_sizes=(8,), learning_rate_init=0.01, batch_size=32,
                        random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X, y)
    for _ in range(10):
        clf.partial_fit(X, y, classes=[0, 1, 2])
    # as scikit-learn: n_iter_ counts the epochs of the last call, t_ the samples seen
    assert clf.n_iter_ == 1 and len(clf.loss_curve_) == 10 and clf.t_ == 10 * len(X)
    assert clf.loss_curve_[-1] < 0.5 * clf.loss_curve_[0]
    assert clf.score(X, y) > 0.9
    with pytest.raises(ValueError, match="not the same"):
        clf.partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="not in classes_"):
        clf.partial_fit(X, np.where(y == 2, 5, y))
    # optimizer state is kept: partial_fit after fit continues from the fitted weights
    fitted = MLPClassifier(**FAST, random_state=0).fit(X, y)
    before, epochs = fitted.loss_, len(fitted.loss_curve_)
    fitted.partial_fit(X, y)
    assert fitted.n_iter_ == 1 and len(fitted.loss_curve_) == epochs + 1
    assert fitted.loss_ < 2 * before


def test_partial_fit_equals_fit_epoch_by_epoch_on_one_batch():
    """Without shuffling and with one batch, k partial_fit calls are k epochs of fit."""
    X, y = _blobs(n=60)
    kw = {"hidden_layer_sizes": (8,), "learning_rate_init": 0.01, "batch_size": 60,
          "shuffle": False, "random_state": 3}
    fitted = MLPClassifier(max_iter=5, **kw).fit(X, y)
    inc = MLPClassifier(**kw)
    for _ in range(5):
        inc.partial_fit(X, y, classes=np.unique(y))
    np.testing.assert_allclose(inc.loss_curve_, fitted.loss_curve_, rtol=1e-12)
    np.testing.assert_allclose(inc.predict_proba(X), fitted.predict_proba(X), rtol=1e-12)


def test_unfitted_raises():
    with pytest.raises(NotFittedError):
        MLPClassifier().predict(np.zeros((2, 3)))
    with pytest.raises(NotFittedError):
        MLPRegressor().predict(np.zeros((2, 3)))


# --------------------------------------------------------------------------- sklearn API


def test_get_params_set_params_clone():
    clf = MLPClassifier(hidden_layer_sizes=(5, 4), activation="tanh", alpha=0.0,
                        random_state=7)
    params = clf.get_params()
    assert params["hidden_layer_sizes"] == (5, 4) and params["activation"] == "tanh"
    assert params["solver"] == "adam" and params["batch_size"] == "auto"
    assert params["backend"] is None and params["dtype"] is None
    assert params["optimizer"] is None
    assert clf.set_params(max_iter=3, learning_rate_init=0.05) is clf
    assert clf.max_iter == 3 and clf.learning_rate_init == 0.05
    with pytest.raises(ValueError):
        clf.set_params(no_such_parameter=1)
    X, y = _blobs()
    clf.fit(X, y)
    twin = clone(clf)
    assert twin.get_params() == clf.get_params()
    assert not hasattr(twin, "model_")
    twin.fit(X, y)
    np.testing.assert_array_equal(twin.predict_proba(X), clf.predict_proba(X))
    assert [s for s in twin.model_.sizes] == [2, 5, 4, 3]


def test_defaults():
    reg = MLPRegressor()
    assert reg.hidden_layer_sizes == (100,) and reg.max_iter == 200 and reg.alpha == 0.0001
    assert reg.learning_rate == "constant" and reg.learning_rate_init == 0.001
    assert reg.shuffle is True and reg.random_state is None
    assert reg.early_stopping is False and reg.validation_fraction == 0.1
    assert reg.n_iter_no_change == 10 and reg.device is None and reg.verbose is False


def test_pipeline_and_cross_val_score():
    X, y = _blobs(n=150)
    X = 10.0 * X + 50.0  # badly scaled: the pipeline's scaler puts it right
    pipe = make_pipeline(StandardScaler(), MLPClassifier(**FAST, random_state=0))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.85
    reg = make_pipeline(StandardScaler(), MLPRegressor(**FAST, random_state=0))
    r2 = cross_val_score(reg, X, np.tanh((X[:, 0] - 50.0) / 10.0), cv=3)  # scoring: R^2
    assert r2.min() > 0.5


def test_random_state_determinism():
    X, y = _blobs()
    a = MLPClassifier(**FAST, random_state=11).fit(X, y)
    b = MLPClassifier(**FAST, random_state=11).fit(X, y)
    c = MLPClassifier(**FAST, random_state=12).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert a.loss_curve_ == b.loss_curve_
    assert not np.array_equal(a.predict_proba(X), c.predict_proba(X))
    # None draws a fresh seed for every fit (from NumPy's global generator, as scikit-learn)
    d = MLPClassifier(**FAST).fit(X, y)
    e = MLPClassifier(**FAST).fit(X, y)
    assert not np.array_equal(d.predict_proba(X), e.predict_proba(X))
    f = MLPClassifier(**FAST, random_state=np.random.RandomState(5)).fit(X, y)
    g = MLPClassifier(**FAST, random_state=np.random.RandomState(5)).fit(X, y)
    np.testing.assert_array_equal(f.predict_proba(X), g.predict_proba(X))


def test_sigmoid_is_logistic_however_spelled():
    """``activation="sigmoid"`` (xprop's name) builds and initializes the network that
    ``"logistic"`` does (Glorot factor 2): the same fit, bit for bit."""
    X, y = _blobs()
    fits = [MLPClassifier(**FAST, activation=name, random_state=3).fit(X, y)
            for name in ("logistic", "sigmoid", " Logistic", "SIGMOID ")]
    for other in fits[1:]:
        for a, b in zip(fits[0].coefs_ + fits[0].intercepts_, other.coefs_ + other.intercepts_):
            np.testing.assert_array_equal(a, b)
        assert other.out_activation_ == "softmax"


def test_pickle_round_trip_keeps_predictions_and_optimizer_state():
    X, y = _blobs()
    clf = MLPClassifier(hidden_layer_sizes=(8,), batch_size=32, random_state=0)
    clf.partial_fit(X, y, classes=[0, 1, 2])
    copy = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(copy.predict_proba(X), clf.predict_proba(X))
    clf.partial_fit(X, y)
    copy.partial_fit(X, y)  # Adam moments and step count came along
    assert copy.loss_curve_ == clf.loss_curve_
    np.testing.assert_array_equal(copy.predict_proba(X), clf.predict_proba(X))


def test_bad_parameters_raise_at_fit():
    X, y = _blobs(n=30)
    for bad in ({"hidden_layer_sizes": (0,)}, {"max_iter": 0}, {"batch_size": 0},
                {"alpha": -1.0}, {"learning_rate": 0.0}, {"learning_rate_init": 0.0},
                {"dtype": "float16"}, {"activation": "nope"}, {"optimizer": "nope"},
                {"solver": "nope"}, {"momentum": 1.5}, {"tol": -1.0},
                {"early_stopping": True, "validation_fraction": 1.5}):
        with pytest.raises(ValueError):
            MLPClassifier(**{"max_iter": 2, **bad}).fit(X, y)


def test_optimizer_instance_and_names():
    X, y = _blobs()
    opt = xprop.SGD(lr=0.05, momentum=0.9)
    clf = MLPClassifier(hidden_layer_sizes=(8,), optimizer=opt, max_iter=20, batch_size=32,
                        random_state=0).fit(X, y)
    assert opt.t == 0  # the parameter object is copied, never trained
    assert clf.score(X, y) > 0.9
    for solver in ("sgd", "adam"):
        MLPClassifier(hidden_layer_sizes=(4,), solver=solver, max_iter=2).fit(X, y)


def test_early_stopping():
    X, y = _blobs(n=300)
    clf = MLPClassifier(hidden_layer_sizes=(8,), learning_rate_init=0.05, batch_size=32,
                        max_iter=200, early_stopping=True, n_iter_no_change=3,
                        random_state=0).fit(X, y)
    assert clf.n_iter_ < 200
    assert len(clf.validation_scores_) == clf.n_iter_ == len(clf.loss_curve_)
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    assert clf.best_loss_ is None
    assert clf.score(X, y) > 0.9
    assert MLPClassifier(**FAST).fit(X, y).validation_scores_ is None


# --------------------------------------------------------------------------- regressor


def test_regression_smooth_function():
    rng = np.random.default_rng(0)
    x = np.sort(rng.uniform(-3, 3, 400))[:, None]
    y = np.sin(2 * x[:, 0]) + 0.5 * x[:, 0]
    reg = MLPRegressor(hidden_layer_sizes=(32, 32), activation="tanh", learning_rate_init=0.01,
                       batch_size=32, max_iter=100, random_state=0).fit(x, y)
    pred = reg.predict(x)
    assert pred.shape == (400,) and reg.n_outputs_ == 1
    assert reg.score(x, y) > 0.9
    assert reg.model_.activations[-1].name == "identity" and reg.model_.loss_fn.name == (
        "half_squared_error")
    assert reg.out_activation_ == "identity" and reg.n_layers_ == 4


def test_regression_two_outputs_and_column():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 3))
    Y = np.stack([X[:, 0] - X[:, 1], 2 * X[:, 2]], axis=1)
    reg = MLPRegressor(**FAST, random_state=0).fit(X, Y)
    assert reg.predict(X).shape == (200, 2) and reg.n_outputs_ == 2
    assert reg.score(X, Y) > 0.8
    from sklearn.exceptions import DataConversionWarning

    with pytest.warns(DataConversionWarning):  # as scikit-learn: a column is raveled
        col = MLPRegressor(**FAST, random_state=0).fit(X, Y[:, :1])
    assert col.predict(X).shape == (200,)
    flat = MLPRegressor(**FAST, random_state=0).fit(X, Y[:, 0])
    np.testing.assert_array_equal(col.predict(X), flat.predict(X))


def test_regressor_partial_fit():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(200, 2))
    y = X[:, 0] * X[:, 1] + X[:, 0]
    reg = MLPRegressor(hidden_layer_sizes=(16,), learning_rate_init=0.01, batch_size=32,
                       random_state=0)
    for _ in range(15):
        reg.partial_fit(X, y)
    assert reg.n_iter_ == 1 and len(reg.loss_curve_) == 15 and reg.t_ == 15 * 200
    assert reg.loss_curve_[-1] < 0.5 * reg.loss_curve_[0]
    with pytest.raises(ValueError, match="target column"):
        reg.partial_fit(X, np.stack([y, y], axis=1))


# --------------------------------------------------------------------------- backends


# array-api-strict refuses slices that run past the end of an axis: the last, shorter
# minibatch (see test_array_api_strict_ragged_last_batch) must stay in bounds.
STRICT_FAST = {**FAST, "batch_size": 40}


def test_array_api_strict_backend():
    xps = pytest.importorskip("array_api_strict")
    X, y = _blobs()
    strict = MLPClassifier(**STRICT_FAST, backend="array_api_strict", random_state=0).fit(X, y)
    assert strict.model_.backend.name == "array_api_strict"
    pred = strict.predict(X)
    assert isinstance(pred, np.ndarray) and isinstance(strict.predict_proba(X), np.ndarray)
    assert strict.score(X, y) > 0.9
    # same seed, same float64 arithmetic: the NumPy model agrees
    ref = MLPClassifier(**STRICT_FAST, random_state=0).fit(X, y)
    np.testing.assert_allclose(strict.predict_proba(X), ref.predict_proba(X), atol=1e-8)
    # arrays of the backend in, arrays of the backend out (on their device)
    Xs = xprop.to_backend(X, "array_api_strict")
    out = strict.predict(Xs)
    assert not isinstance(out, np.ndarray) and out.dtype == xps.int64
    np.testing.assert_array_equal(xprop.to_numpy(out), pred)
    assert not isinstance(strict.predict_proba(Xs), np.ndarray)
    assert strict.score(Xs, xprop.to_backend(y, "array_api_strict")) == strict.score(X, y)
    # backend=None follows the input arrays, here on array-api-strict's second device
    X1 = xprop.to_backend(X, "array_api_strict", "device1")
    y1 = xprop.to_backend(y, "array_api_strict", "device1")
    follow = MLPClassifier(**STRICT_FAST, backend=None, random_state=0).fit(X1, y1)
    assert follow.model_.backend.describe() == "array_api_strict (device device1)"
    p1 = follow.predict(X1)
    assert str(p1.device) == str(X1.device)
    np.testing.assert_array_equal(xprop.to_numpy(p1), pred)
    # a model on another device refuses the arrays instead of moving them
    with pytest.raises(xprop.DeviceMismatchError):
        strict.predict(X1)
    with pytest.raises(xprop.DeviceMismatchError):
        MLPClassifier(**FAST, backend="numpy").fit(Xs, y)
    # pickling goes through the host and back to the same device
    back = pickle.loads(pickle.dumps(follow))
    assert back.model_.backend.describe() == follow.model_.backend.describe()
    np.testing.assert_array_equal(xprop.to_numpy(back.predict(X1)), pred)


def test_array_api_strict_regressor_float32():
    pytest.importorskip("array_api_strict")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 2))
    y = X[:, 0] - 2 * X[:, 1]
    reg = MLPRegressor(**STRICT_FAST, dtype="float32", backend="array_api_strict",
                       device="no_float64", random_state=0).fit(X, y)
    pred = reg.predict(X)
    assert isinstance(pred, np.ndarray) and pred.dtype == np.float32 and pred.shape == (120,)
    assert reg.score(X, y) > 0.8
    Xs = xprop.to_backend(X, "array_api_strict", "no_float64", dtype="float32")
    assert tuple(reg.predict(Xs).shape) == (120,)


def test_array_api_strict_ragged_last_batch():
    pytest.importorskip("array_api_strict")
    X, y = _blobs(n=90)  # 90 = 2 * 40 + 10
    clf = MLPClassifier(**STRICT_FAST, backend="array_api_strict", random_state=0).fit(X, y)
    ref = MLPClassifier(**STRICT_FAST, random_state=0).fit(X, y)  # NumPy, same settings
    assert clf.score(X, y) == ref.score(X, y) >= 0.85


@pytest.fixture
def torch_one_thread():
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as for BLAS: tiny matrices, many threads are slower
    try:
        yield torch
    finally:
        torch.set_num_threads(threads)


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
def test_torch_backend(torch_one_thread):
    torch = torch_one_thread
    X, y = _blobs()
    names = np.array(["a", "b", "c"])
    clf = MLPClassifier(**FAST, backend="torch", random_state=0).fit(X, names[y])
    assert isinstance(clf.predict(X), np.ndarray)
    Xt = torch.asarray(X)
    # string classes cannot live on the device: labels come back as NumPy
    assert isinstance(clf.predict(Xt), np.ndarray)
    assert isinstance(clf.predict_proba(Xt), torch.Tensor)
    reg = MLPRegressor(**FAST, backend=None, random_state=0).fit(Xt, torch.asarray(X[:, 0]))
    assert isinstance(reg.predict(Xt), torch.Tensor) and isinstance(reg.predict(X), np.ndarray)
    assert reg.score(Xt, torch.asarray(X[:, 0])) > 0.8


# --------------------------------------------------------------------------- optional import


def test_missing_sklearn_says_how_to_install(monkeypatch):
    for name in [m for m in sys.modules if m == "sklearn" or m.startswith("sklearn.")]:
        monkeypatch.setitem(sys.modules, name, None)  # None in sys.modules: import fails
    monkeypatch.delitem(sys.modules, "xprop.sklearn")
    with pytest.raises(ImportError, match=r'pip install "xprop\[datasets\]"'):
        importlib.import_module("xprop.sklearn")


def test_float_labels_predicted_on_a_float32_only_device():
    pytest.importorskip("array_api_strict")
    X, y = _blobs()
    clf = MLPClassifier(**STRICT_FAST, dtype="float32", backend="array_api_strict:no_float64",
                        random_state=0).fit(X, y.astype(float))
    Xd = clf.model_.backend.from_host(X, "float32")
    pred = clf.predict(Xd)
    assert isinstance(pred, np.ndarray) and pred.dtype == np.float64
    assert np.mean(pred == y) > 0.8


def test_input_arrays_decide_the_backend_and_must_agree():
    xps = pytest.importorskip("array_api_strict")
    import xprop

    X, y = _blobs()
    Xd = xps.asarray(X)
    clf = MLPClassifier(**STRICT_FAST, random_state=0).fit(Xd, xps.asarray(y))
    assert clf.model_.backend.name == "array_api_strict"
    dev1 = xps.Device("device1")
    on_cpu = r"expected an array on array_api_strict \(device device1\) or host data, got an " \
             r"array on array_api_strict \(device CPU_DEVICE\)"
    with pytest.raises(xprop.DeviceMismatchError, match="^y: " + on_cpu):
        MLPClassifier(**STRICT_FAST).fit(xps.asarray(X, device=dev1), xps.asarray(y))
    with pytest.raises(xprop.DeviceMismatchError, match="^sample_weight: " + on_cpu):
        MLPRegressor(**STRICT_FAST).fit(xps.asarray(X, device=dev1), xps.asarray(y, device=dev1),
                                        sample_weight=xps.ones(len(y)))
    with pytest.raises(xprop.DeviceMismatchError, match="^y: " + on_cpu):
        clf.set_params(backend=None).fit(xps.asarray(X, device=dev1),
                                         xps.asarray(y, device=dev1)).score(
            xps.asarray(X, device=dev1), xps.asarray(y))
    for est in (MLPClassifier, MLPRegressor):  # host X: the estimator's backend (NumPy)
        with pytest.raises(xprop.DeviceMismatchError, match=r"^y: expected an array on numpy"):
            est(**STRICT_FAST).fit(X, xps.asarray(y))
        with pytest.raises(xprop.DeviceMismatchError, match=r"^y: expected an array on numpy"):
            est(**STRICT_FAST).fit(X, y).score(X, xps.asarray(y))
    torch = pytest.importorskip("torch")
    with pytest.raises(xprop.DeviceMismatchError, match=r"^y: expected an array on torch"):
        MLPClassifier(**STRICT_FAST).fit(torch.asarray(X), xps.asarray(y))


def test_integer_input_trains_in_the_device_float_without_float64():
    """Integer or bool X names no float dtype: float64 as scikit-learn where the device has
    it, else the device's default float (array-api-strict's no_float64 device)."""
    xps = pytest.importorskip("array_api_strict")
    X, y = _blobs()
    for device, dtype in (("CPU_DEVICE", xps.float64), ("no_float64", xps.float32)):
        dev = xps.Device(device)
        for Xi in (xps.asarray(np.round(X * 10).astype(np.int64), device=dev),
                   xps.asarray(X > 0, device=dev)):
            clf = MLPClassifier(**STRICT_FAST, random_state=0).fit(Xi, xps.asarray(y, device=dev))
            assert clf.model_.dtype == dtype


# ------------------------------------------------- option types, found by a hostile review


def _binary(n=120):
    from sklearn.datasets import make_classification

    return make_classification(n, 5, random_state=0)


def test_numpy_scalars_as_options_train_as_scikit_learns_estimator_does():
    """NumPy bools, floats and an inf where scikit-learn takes them: the same iterations and
    losses as scikit-learn's estimator (validation_fraction as np.float32 splits as
    scikit-learn splits it: no nested parameter check)."""
    from sklearn.neural_network import MLPClassifier as SkClassifier

    X, y = _binary()
    options = dict(early_stopping=np.True_, shuffle=np.True_, validation_fraction=np.float32(0.2),
                   n_iter_no_change=np.float32(np.inf), nesterovs_momentum=np.False_,
                   verbose=np.False_, max_iter=15, random_state=0)
    with pytest.warns(Warning):  # ConvergenceWarning in both: 15 iterations
        ours = MLPClassifier(**options).fit(X, y)
    with pytest.warns(Warning):
        theirs = SkClassifier(**options).fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_ == 15
    np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_, rtol=0)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-10)


@pytest.mark.parametrize("solver, options", [("adam", {"learning_rate_init": 1.0}),
                                             ("sgd", {"learning_rate_init": 5.0}),
                                             ("lbfgs", {})])
def test_the_reported_loss_is_scikit_learns_when_probabilities_saturate(solver, options):
    """scikit-learn reports log-losses on probabilities clipped to [eps, 1 - eps]: with
    saturated outputs (a large rate) loss_curve_ (and loss_) are still its numbers, not the
    exact loss from the logits, and training stops at the same iteration."""
    from sklearn.neural_network import MLPClassifier as SkClassifier

    X, y = _binary()
    X3, y3 = load_digits(return_X_y=True)
    for data in ((X, y), (X3[:300], y3[:300])):
        kw = dict(solver=solver, max_iter=20, random_state=0, **options)
        with pytest.warns(Warning) if solver == "lbfgs" else _nothing():
            ours = MLPClassifier(**kw).fit(*data)
        with pytest.warns(Warning) if solver == "lbfgs" else _nothing():
            theirs = SkClassifier(**kw).fit(*data)
        assert ours.n_iter_ == theirs.n_iter_
        np.testing.assert_allclose(ours.loss_, theirs.loss_, rtol=1e-12)
        if solver != "lbfgs":
            assert max(theirs.loss_curve_) > 5  # saturated somewhere
            np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-12)


def _nothing():
    import contextlib
    import warnings

    stack = contextlib.ExitStack()
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore")
    return stack


@pytest.mark.parametrize("change, fit_kw, message", [
    ({"random_state": -1}, {}, r"^random_state: expected None, an integer in \[0, 4294967295\]"),
    ({"random_state": 2**32}, {}, r"^random_state: expected"),
    ({"random_state": np.random.default_rng(0)}, {}, r"^random_state: expected .* got Generator"),
    ({}, {"sample_weight": -np.ones(120)}, r"^sample_weight: expected finite weights >= 0"),
    ({"early_stopping": True, "validation_fraction": 0.0},
     {}, r"^validation_fraction: expected a finite number in \(0, 1\), got 0.0$")])
def test_a_refused_refit_leaves_the_fitted_estimator_as_it_was(change, fit_kw, message):
    """Bad parameters or sample weights at a refit are refused before anything changes:
    classes_, the weights and predictions stay those of the last fit."""
    X, y = _binary()
    clf = MLPClassifier(max_iter=5, random_state=0)
    with pytest.warns(Warning):
        clf.fit(X, y)
    before = ([c.copy() for c in clf.coefs_], clf.classes_.copy(), clf.predict(X))
    clf.set_params(**change)
    with pytest.raises(ValueError, match=message):
        clf.fit(X, np.arange(120) % 3 if not fit_kw else y, **fit_kw)
    for a, b in zip(before[0], clf.coefs_):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(before[1], clf.classes_)
    np.testing.assert_array_equal(before[2], clf.predict(X))


def test_invscaling_with_numpy_scalar_options_on_a_strict_namespace():
    """learning_rate_init and power_t as NumPy scalars: the rate scikit-learn computes, as a
    Python float (array-api-strict refuses NumPy scalars in arithmetic with its arrays)."""
    pytest.importorskip("array_api_strict")
    X, y = _binary()
    kw = dict(solver="sgd", learning_rate="invscaling", power_t=np.float64(0.5),
              learning_rate_init=np.float32(0.01), max_iter=3, batch_size=40, random_state=0)
    with pytest.warns(Warning):
        strict = MLPClassifier(**kw, backend="array_api_strict").fit(X, y)
    with pytest.warns(Warning):
        host = MLPClassifier(**kw).fit(X, y)
    assert type(strict._optimizer.lr) is float
    np.testing.assert_allclose(strict.loss_curve_, host.loss_curve_, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.dtype("float32"), "float32"])
def test_the_estimators_take_the_dtype_spellings_mlp_takes(dtype):
    X, y = _binary()
    with pytest.warns(Warning):
        clf = MLPClassifier(max_iter=2, dtype=dtype, random_state=0).fit(X, y)
    assert clf.coefs_[0].dtype == np.float32
    with pytest.raises(ValueError, match=r"^dtype: expected one of"):
        MLPClassifier(dtype="float16").fit(X, y)


# ---------------------------------------------------------------- found by audit (session 8)
import warnings  # noqa: E402

import sklearn.neural_network as sknn  # noqa: E402


def _both(make, fit):
    """``fit(make(module))`` for xprop's estimator and scikit-learn's, warnings silenced."""
    out = []
    for module in (sys.modules["xprop.sklearn"], sknn):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out.append(fit(make(module)))
    return out


def test_early_stopping_without_any_better_epoch_keeps_the_initial_or_earlier_best():
    """No finite validation score (a diverging fit): the initial weights are kept, as in
    scikit-learn, never an AttributeError. A warm start (pickled or not) that never beats the
    earlier best returns to that best (scikit-learn's validation scores; its weights are then
    the last ones, since its best list is the one it trained in place)."""
    rng = np.random.RandomState(0)
    X = rng.randn(60, 3) * 1e10
    y = X @ [1.0, 2, 3]
    ours, theirs = _both(lambda m: m.MLPRegressor(
        hidden_layer_sizes=(5,), solver="sgd", learning_rate_init=1e300, early_stopping=True,
        max_iter=3, random_state=0), lambda est: est.fit(X, y))
    assert np.isnan(ours.validation_scores_).all() and np.isnan(theirs.validation_scores_).all()
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    X = rng.randn(60, 3)
    y = (X[:, 0] > 0).astype(int)
    noise = rng.permutation(y)

    for pickled in (False, True):
        def refit(est, pickled=pickled):
            est.fit(X, y)
            best = [np.copy(w) for w in est.coefs_]
            est = pickle.loads(pickle.dumps(est)) if pickled else est
            return est.set_params(max_iter=3).fit(X, noise), best

        (ours, best), (theirs, _) = _both(lambda m: m.MLPClassifier(
            hidden_layer_sizes=(8,), early_stopping=True, warm_start=True,
            learning_rate_init=0.05, n_iter_no_change=3, max_iter=50, random_state=0), refit)
        assert ours.validation_scores_ == theirs.validation_scores_
        assert ours.best_validation_score_ == theirs.best_validation_score_ == 1.0
        for a, b in zip(ours.coefs_, best):
            np.testing.assert_array_equal(a, b)


def test_classifier_validation_scores_are_accuracies_even_for_non_finite_outputs():
    """scikit-learn's score is NaN only for non-finite float predictions: a classifier's
    labels always get an accuracy."""
    rng = np.random.RandomState(0)
    X = rng.randn(90, 3) * 1e8
    y = rng.randint(0, 3, 90)
    ours, theirs = _both(lambda m: m.MLPClassifier(
        hidden_layer_sizes=(4,), solver="sgd", learning_rate_init=1e10, early_stopping=True,
        max_iter=12, random_state=0), lambda est: est.fit(X, y).validation_scores_)
    assert not np.isnan(ours).any() and ours == theirs


def test_coefs_and_intercepts_item_assignment_sets_the_layer():
    """``est.coefs_[i] = W`` changes the network (scikit-learn's list is the model); the
    number of layers is fixed."""
    X, y = make_blobs(40, 3, centers=2, random_state=0)
    ours, theirs = _both(lambda m: m.MLPClassifier((4,), max_iter=20, random_state=0),
                         lambda est: est.fit(X, y))
    for est in (ours, theirs):
        coefs, intercepts = est.coefs_, est.intercepts_
        coefs[1] = np.zeros((4, 1))
        intercepts[1] = np.array([3.0])
        assert np.all(coefs[1] == 0)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-12)
    np.testing.assert_array_equal(ours.coefs_[1], np.zeros((4, 1)))
    with pytest.raises(TypeError, match="coefs_: the network has 2 layers"):
        ours.coefs_.append(np.zeros((1, 1)))
    import copy

    for copied in (pickle.loads(pickle.dumps(ours.coefs_)), copy.deepcopy(ours.intercepts_)):
        assert type(copied) is list and len(copied) == 2
    with pytest.raises(ValueError, match="intercepts_: expected 2 arrays"):
        ours.intercepts_[0:1] = []


def test_warm_start_follows_a_new_activation_and_refuses_new_layer_sizes():
    """scikit-learn reads ``activation`` at every pass: a warm start (and predict) after
    ``set_params(activation=...)`` uses it with the trained weights; new
    ``hidden_layer_sizes`` are refused in one line (scikit-learn fails on the shapes of
    another depth, and trains the old layers for the same depth)."""
    rng = np.random.RandomState(0)
    X = rng.randn(30, 2)
    y = X @ [1.0, -1.0]

    def fit(est):
        est.fit(X, y)
        before = est.set_params(activation="tanh").predict(X[:3])
        est.fit(X, y)
        return before, est.loss_curve_, est.predict(X[:3])

    ours, theirs = _both(lambda m: m.MLPRegressor(hidden_layer_sizes=(5,), warm_start=True,
                                                  max_iter=30, random_state=0), fit)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-10)
    est = MLPRegressor(hidden_layer_sizes=(5,), warm_start=True, max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    with pytest.raises(ValueError, match=r"hidden_layer_sizes: the fitted network has \(5,\)"):
        est.set_params(hidden_layer_sizes=(6, 4)).fit(X, y)
    # partial_fit goes on with its optimizer's state in the rebuilt network, even while the
    # previous network object is still held (the optimizer refuses another model's state)
    est = MLPRegressor(hidden_layer_sizes=(5,), random_state=0).partial_fit(X, y)
    held = est.model_
    est.set_params(activation="tanh").partial_fit(X, y)
    assert est.model_ is not held and est.t_ == 2 * len(y)  # (samples seen, as scikit-learn)


def test_partial_fit_warns_of_nothing_and_warm_start_checks_its_classes():
    """``partial_fit`` (one epoch) never warns of ``max_iter``; with ``warm_start`` every
    call's ``y``, the first's included, must have the classes (both as scikit-learn)."""
    rng = np.random.RandomState(0)
    X, y = rng.randn(40, 3), rng.randint(0, 3, 40)
    for est in (MLPClassifier((4,), max_iter=1, random_state=0),
                MLPRegressor(hidden_layer_sizes=(4,), max_iter=1, random_state=0)):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            if isinstance(est, MLPClassifier):
                est.partial_fit(X, y, classes=[0, 1, 2])
            else:
                est.partial_fit(X, y.astype(float))
    for module in (sys.modules["xprop.sklearn"], sknn):
        est = module.MLPClassifier((4,), warm_start=True, random_state=0)
        est.partial_fit(X, y, classes=[0, 1, 2])
        with pytest.raises(ValueError, match="warm_start can only be used where `y` has the "
                                             "same classes"):
            est.partial_fit(X[y < 2], y[y < 2])
        first = module.MLPClassifier((4,), warm_start=True, random_state=0)
        with pytest.raises(ValueError, match="warm_start can only be used where `y` has the "
                                             "same classes"):
            first.partial_fit(X[y < 2], y[y < 2], classes=[0, 1, 2])
        module.MLPClassifier((4,), random_state=0).partial_fit(  # without: fine
            X[y < 2], y[y < 2], classes=[0, 1, 2])


@pytest.mark.parametrize("params", [dict(backend="array_api_strict"), dict(dtype="float32")])
def test_warm_start_refuses_another_backend_or_dtype(params):
    """A warm start or ``partial_fit`` never moves the fitted network silently: a new
    ``backend``/``device`` or ``dtype`` is refused in one line (the network stays put); the
    same ones, spelled otherwise, are fine, and a cold fit takes them."""
    pytest.importorskip("array_api_strict")
    X, y = xprop.datasets.moons(40, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = MLPClassifier((4,), max_iter=2, random_state=0, warm_start=True).fit(X, y)
        before = xprop.to_numpy(est.model_.params.buffer).copy()
        est.set_params(**params)
        for call in (lambda: est.fit(X, y), lambda: est.partial_fit(X, y)):
            with pytest.raises(ValueError, match=rf"^{next(iter(params))}: the fitted network "):
                call()
        np.testing.assert_array_equal(xprop.to_numpy(est.model_.params.buffer), before)
        est.set_params(activation="tanh")  # predictions read only the activation, as in
        assert est.predict(X).shape == (40,)  # scikit-learn: the fitted network, now tanh
        est.set_params(activation="relu", backend="numpy", device="cpu", dtype=np.float64)
        est.fit(X, y)
        est.set_params(warm_start=False, device=None,
                       **{"backend": None, "dtype": None, **params}).fit(X, y)
    assert (est.model_.backend.name, xprop.backend.dtype_name(est.model_.dtype)) == (
        params.get("backend", "numpy"), params.get("dtype", "float64"))


def test_a_warm_start_refuses_a_new_loss_and_keeps_the_network():
    """The regressor's ``loss`` decides its output (identity or exp): a warm start or
    ``partial_fit`` after ``set_params(loss=...)`` is refused in one line and the network
    stays as it was (its ``loss_`` mixed the old output with the new loss's scale, and
    L-BFGS followed that value); a cold fit takes the new loss."""
    rng = np.random.RandomState(0)
    X = rng.randn(30, 2)
    y = np.abs(X @ [1.0, -1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = MLPRegressor(hidden_layer_sizes=(4,), max_iter=3, random_state=0,
                           warm_start=True).fit(X, y)
        before = xprop.to_numpy(est.model_.params.buffer).copy()
        est.set_params(loss="poisson")
        for call in (lambda: est.fit(X, y), lambda: est.partial_fit(X, y)):
            with pytest.raises(ValueError, match=r"^loss: the fitted network's output is "
                                                 r"identity, trained with .*loss='poisson' "
                                                 r"needs exp with poisson"):
                call()
        np.testing.assert_array_equal(xprop.to_numpy(est.model_.params.buffer), before)
        est.set_params(warm_start=False).fit(X, y)
    assert est.out_activation_ == "exp"


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
@pytest.mark.parametrize("bad", [np.nan, -np.inf])
def test_device_X_with_nan_or_inf_is_refused_before_anything_is_fitted(solver, bad):
    """Device arrays' values are checked as scikit-learn checks host data's, before any
    state: L-BFGS returned the untrained network (its first objective NaN), the stochastic
    solvers trained on NaN and then blamed the data's scale."""
    strict = pytest.importorskip("array_api_strict")
    X, y = make_blobs(30, 3, centers=2, random_state=0)
    Xb = X.copy()
    Xb[3, 1] = bad
    libraries = [strict] + ([importlib.import_module("torch")] if HAS_TORCH else [])
    for lib in libraries:
        for est, target in ((MLPClassifier((4,), solver=solver, max_iter=3, random_state=0), y),
                            (MLPRegressor(hidden_layer_sizes=(4,), solver=solver, max_iter=3,
                                          early_stopping=solver == "adam", random_state=0),
                             y.astype(float))):
            with pytest.raises(ValueError, match=r"^X: expected finite values, found NaN or "
                                                 r"inf in 1 of 90 entries"):
                est.fit(lib.asarray(Xb), lib.asarray(target))
            with pytest.raises(NotFittedError):
                est.predict(lib.asarray(X))


def test_hidden_layer_sizes_must_be_a_sequence_not_a_generator():
    """A generator would be used up by the parameter check and leave no hidden layer (as
    scikit-learn, it is refused)."""
    X, y = make_blobs(30, 3, centers=2, random_state=0)
    with pytest.raises(ValueError, match=r"^hidden_layer_sizes: expected an integer >= 1 or "
                                         r"a sequence of them, got <generator"):
        MLPClassifier(hidden_layer_sizes=(s for s in (3, 2))).fit(X, y)
    assert MLPClassifier(hidden_layer_sizes=range(3, 5), max_iter=2).fit(X, y).n_layers_ == 4


def test_coefs_assignment_takes_the_networks_arrays_and_refuses_another_backends():
    """Arrays of the network's own backend go in as they are; another backend's are refused
    (:class:`xprop.DeviceMismatchError`), as everywhere else, and nothing changes."""
    strict = pytest.importorskip("array_api_strict")
    X, y = make_blobs(30, 3, centers=2, random_state=0)
    est = MLPClassifier((4,), max_iter=3, random_state=0, backend="array_api_strict")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(strict.asarray(X), y)
    est.coefs_[1] = strict.zeros((4, 1), dtype=strict.float64)
    assert np.all(xprop.to_numpy(est.coefs_[1]) == 0)
    before = xprop.to_numpy(est.model_.params.buffer).copy()
    other = xprop.resolve_backend("array_api_strict", "device1").from_host(np.ones((4, 1)))
    with pytest.raises(xprop.DeviceMismatchError, match="device1"):
        est.coefs_[1] = other
    np.testing.assert_array_equal(xprop.to_numpy(est.model_.params.buffer), before)


def test_sixth_audit_cases_match_scikit_learn():
    """Found by audit: a minibatch of zero weights trained on NaN (and early stopping then
    returned the untrained weights); set_params between partial_fit calls changed the SGD
    schedule (scikit-learn's optimizer keeps the one it was built with); a sparse multilabel
    y was refused; warm starts after lbfgs or with early_stopping changed failed deep inside
    (as scikit-learn's do: here they go on)."""
    import scipy.sparse as sp
    from sklearn import neural_network as skn

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = X[:, 0] - X[:, 1]
    mask = (np.arange(40) % 2).astype(float)  # batches of 1 hold one zero weight each
    with pytest.raises(ValueError, match=r"^sample_weight: a minibatch of 1 rows \(batch_size\) "
                                         r"has only zero weights"):
        MLPRegressor(hidden_layer_sizes=(4,), batch_size=1, random_state=0).fit(X, y, mask)
    curves = []
    for lib in (skn, sys.modules["xprop.sklearn"]):
        reg = lib.MLPRegressor(hidden_layer_sizes=(4,), solver="sgd", learning_rate_init=0.05,
                               random_state=0)
        reg.partial_fit(X, y).partial_fit(X, y)
        reg.set_params(learning_rate="invscaling", power_t=2.0, learning_rate_init=0.2)
        for _ in range(3):
            reg.partial_fit(X, y)
        curves.append(reg.loss_curve_)
    np.testing.assert_allclose(curves[1], curves[0], rtol=1e-10)
    labels = sp.csr_matrix((rng.random((40, 3)) < 0.4).astype(int))
    preds = []
    for cls in (skn.MLPClassifier, MLPClassifier):
        clf = cls(hidden_layer_sizes=(4,), max_iter=20, random_state=0)
        with pytest.warns(sklearn.exceptions.ConvergenceWarning):
            preds.append(clf.fit(X, labels).predict(X))
    assert sp.issparse(preds[1]) and (preds[1] != preds[0]).nnz == 0
    for first, then in (({"early_stopping": False}, {"early_stopping": True}),
                        ({"early_stopping": True}, {"early_stopping": False}),
                        ({"solver": "lbfgs"}, {"solver": "adam"})):
        reg = MLPRegressor(hidden_layer_sizes=(4,), max_iter=5, warm_start=True,
                           random_state=0, **first)
        with pytest.warns(sklearn.exceptions.ConvergenceWarning):
            reg.fit(X, y)
            reg.set_params(**then).fit(X, y)
        assert len(reg.loss_curve_) == (5 if "solver" in first else 10)
        assert (reg.validation_scores_ is not None) == then.get("early_stopping", False)


def test_coefs_that_are_copies_are_read_only():
    """Found by audit: on JAX, coefs_ were writable host copies, so in-place edits (which
    change the network on NumPy, torch and array-api-strict) were silently lost."""
    X, y = make_blobs(60, 3, centers=2, random_state=0)
    for backend in ("numpy", "array_api_strict", "jax"):
        if backend == "jax":
            pytest.importorskip("jax")
        clf = MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0,
                            backend=backend, dtype="float32")
        with pytest.warns(sklearn.exceptions.ConvergenceWarning):
            clf.fit(X, y)
        W = clf.coefs_[1]
        if backend == "jax" or not W.flags.writeable:  # copies (JAX; array-api-strict on
            with pytest.raises(ValueError, match="read-only"):  # NumPy 1.26): refused
                W[:] = 0.0
        else:  # the network's own memory (NumPy; array-api-strict on NumPy 2): it changes
            W[:] = 0.0
            clf.intercepts_[1][:] = 5.0
            assert (clf.predict_proba(X)[:, 1] > 0.99).all()
        assert backend != "numpy" or W.flags.writeable
