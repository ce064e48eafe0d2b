"""scikit-learn estimators around :class:`xprop.MLP`: :class:`MLPClassifier` and
:class:`MLPRegressor`.

They follow scikit-learn's conventions (constructor parameters stored as given, learned
attributes with a trailing underscore, ``fit``/``partial_fit``/``predict``/``score``,
``get_params``/``set_params``, ``clone``, pipelines, cross-validation) and pass scikit-learn's
estimator checks (see ``tests/test_sklearn.py`` for the few that are expected to fail and why).

scikit-learn is an optional dependency: this module imports it and says how to install it when
it is missing (``pip install "xprop[datasets]"`` or ``pip install scikit-learn``, version 1.6 or
newer).

Backends: the network lives on the xprop backend named by ``backend`` (``"numpy"``, ``"torch"``,
``"array_api_strict"``, ``"cupy"``, ``"auto"``, optionally ``"name:device"``), or, with the
default ``None``, on the backend of the input arrays (as in scikit-learn; host data then goes to
``xprop.use_backend`` / ``$XPROP_BACKEND`` / NumPy). Host data (NumPy arrays, lists, anything
scikit-learn accepts) is validated with scikit-learn's utilities and copied to the device once
per call; predictions for host input come back as NumPy arrays. Arrays of the estimator's
backend stay on their device and predictions for them are arrays of that backend (class labels
only when ``classes_`` are numbers; string labels come back as NumPy). ``classes_`` always lives
on the host. Arrays of another backend or device are refused
(:class:`xprop.DeviceMismatchError`).

Training is :func:`xprop.fit` with minibatches: ``fit`` runs ``max_iter`` epochs (fewer with
``early_stopping``); ``partial_fit`` runs one epoch per call and keeps the optimizer state
(Adam moments, momentum buffers) between calls. ``alpha`` is the optimizer's L2
``weight_decay`` (it adds ``alpha * p`` to the gradient of every parameter, biases included, as
``torch.optim``), so it is not on the scale of scikit-learn's ``alpha``. ``loss_`` and
``loss_curve_`` are the data loss (mean over each epoch's batches, before each update), without
the L2 term. Fitting is deterministic for a given ``random_state``: an int is the xprop seed of
the weights and of the shuffling; ``None`` (or a ``RandomState``) draws a seed from
``sklearn.utils.check_random_state(random_state)``.
"""

from __future__ import annotations

import copy
import numbers
from typing import Any

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data
except ImportError as e:  # scikit-learn missing, or older than 1.6 (no validate_data)
    raise ImportError(
        f"xprop.sklearn needs scikit-learn >= 1.6 ({e}); install it with "
        'pip install "xprop[datasets]" or pip install scikit-learn'
    ) from e

from xprop.backend import (
    Backend,
    DeviceMismatchError,
    backend_of,
    device_str,
    is_array,
    resolve_backend,
    to_numpy,
)
from xprop.mlp import MLP
from xprop.optimizers import Optimizer, get_optimizer

__all__ = ["MLPClassifier", "MLPRegressor"]


def _is_device_array(x: Any) -> bool:
    """An Array-API array of a library other than NumPy (torch, CuPy, array-api-strict, ...):
    such input decides where results live; everything else is host data."""
    return is_array(x) and not isinstance(x, np.ndarray)


def _host(x: Any) -> np.ndarray:
    """A writable NumPy copy-or-view of a backend array (``to_numpy`` can return read-only
    DLPack views)."""
    a = to_numpy(x)
    return a if a.flags.writeable else a.copy()


class _BaseMLP(BaseEstimator):
    """Shared parameters, validation, training and pickling of the two estimators."""

    # set by the subclasses
    _output_activation: str
    _loss: str

    def __init__(
        self,
        hidden_layer_sizes: Any = (100,),
        activation: str = "relu",
        optimizer: Any = "adam",
        learning_rate: float = 0.001,
        batch_size: int | None = 200,
        max_iter: int = 200,
        alpha: float = 0.0001,
        shuffle: bool = True,
        random_state: Any = None,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 10,
        dtype: str = "float64",
        backend: str | None = None,
        device: Any = None,
        verbose: int = 0,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.alpha = alpha
        self.shuffle = shuffle
        self.random_state = random_state
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.dtype = dtype
        self.backend = backend
        self.device = device
        self.verbose = verbose

    # ------------------------------------------------------------------ tags

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        return tags

    # ------------------------------------------------------------------ parameters

    def _hidden_sizes(self) -> list[int]:
        h = self.hidden_layer_sizes
        if isinstance(h, numbers.Integral) and not isinstance(h, bool):
            h = (h,)
        try:
            sizes = list(h)
        except TypeError:
            sizes = None
        if sizes is None or not all(
            isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 1
            for s in sizes
        ):
            raise ValueError(
                "hidden_layer_sizes: expected an integer >= 1 or a sequence of them, got "
                f"{self.hidden_layer_sizes!r}"
            )
        return [int(s) for s in sizes]

    def _check_params(self) -> None:
        def positive_int(value: Any, name: str, minimum: int = 1) -> None:
            if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
                    or value < minimum):
                raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")

        positive_int(self.max_iter, "max_iter")
        positive_int(self.n_iter_no_change, "n_iter_no_change")
        if self.batch_size is not None:
            positive_int(self.batch_size, "batch_size")
        if not isinstance(self.alpha, numbers.Real) or not self.alpha >= 0:
            raise ValueError(f"alpha: expected a number >= 0, got {self.alpha!r}")
        if not isinstance(self.learning_rate, numbers.Real) or not self.learning_rate > 0:
            raise ValueError(
                f"learning_rate: expected a number > 0, got {self.learning_rate!r}"
            )
        if self.early_stopping and not (
            isinstance(self.validation_fraction, numbers.Real)
            and 0.0 < self.validation_fraction < 1.0
        ):
            raise ValueError(
                "validation_fraction: expected a number in (0, 1) with early_stopping, got "
                f"{self.validation_fraction!r}"
            )
        positive_int(int(self.verbose), "verbose", 0)
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype: expected 'float32' or 'float64', got {self.dtype!r}")
        self._hidden_sizes()

    def _draw_seed(self) -> int:
        rs = self.random_state
        if isinstance(rs, numbers.Integral) and not isinstance(rs, bool):
            check_random_state(rs)  # the same range check as scikit-learn (0 .. 2**32 - 1)
            return int(rs)
        return int(check_random_state(rs).randint(np.iinfo(np.int32).max))

    def _make_optimizer(self) -> Optimizer:
        if isinstance(self.optimizer, Optimizer):
            return copy.deepcopy(self.optimizer)  # never train the parameter object itself
        return get_optimizer(self.optimizer, lr=float(self.learning_rate),
                             weight_decay=float(self.alpha))

    def _resolve_backend(self, X: Any) -> Backend:
        """The backend of a new model: ``backend``/``device``, or the arrays' own when
        ``backend=None``; arrays of another backend are refused."""
        if not _is_device_array(X):
            return resolve_backend(self.backend, self.device)
        found = backend_of(X=X)
        if self.backend is None and self.device is None:
            return found
        asked = resolve_backend(self.backend, self.device)
        if asked.xp is not found.xp or not asked.owns(X):
            raise DeviceMismatchError(
                f"X: {type(self).__name__}(backend={self.backend!r}, device={self.device!r}) "
                f"runs on {asked.describe()} but X is a {found.describe()} array; pass host "
                f"data (xprop.to_numpy(X)), or set backend={found.name!r} (or backend=None "
                "to follow the input arrays)"
            )
        return asked

    # ------------------------------------------------------------------ validation

    def _validate_X(self, X: Any, reset: bool) -> Any:
        """Host data: scikit-learn's validation (2-D, finite, numeric, dense, n_features_in_).
        Device arrays: the same checks without leaving the device (the model checks finite
        values and the dtype when it converts)."""
        if _is_device_array(X):
            if X.ndim != 2:
                raise ValueError(
                    f"Expected 2D array, got {X.ndim}D array instead with shape "
                    f"{tuple(X.shape)}; reshape your data to (n_samples, n_features)"
                )
            if X.shape[0] < 1:
                raise ValueError(
                    f"Found array with 0 sample(s) (shape={tuple(X.shape)}) while a minimum "
                    "of 1 is required."
                )
            return validate_data(self, X, reset=reset, skip_check_array=True)
        return validate_data(self, X, reset=reset, dtype=(np.float64, np.float32))

    def _validate_Xy(self, X: Any, y: Any, reset: bool) -> tuple[Any, Any]:
        """``(X, y)`` checked together; y comes back as given for device arrays, else as a
        NumPy array (1-D for classifiers)."""
        if y is None:
            # the message scikit-learn's checks expect
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None"
            )
        if _is_device_array(X) or _is_device_array(y):
            if _is_device_array(X) and _is_device_array(y):
                backend_of(X=X, y=y)  # one namespace and one device, or DeviceMismatchError
            X = self._validate_X(X, reset)
            n_y = y.shape[0] if hasattr(y, "shape") else len(y)
            if n_y != X.shape[0]:
                raise ValueError(
                    f"Found input variables with inconsistent numbers of samples: "
                    f"[{X.shape[0]}, {n_y}]"
                )
            return X, y
        multi_output = not isinstance(self, ClassifierMixin)
        return validate_data(self, X, y, reset=reset, dtype=(np.float64, np.float32),
                             multi_output=multi_output, y_numeric=multi_output)

    # ------------------------------------------------------------------ training

    def _new_model(self, X: Any, n_outputs: int) -> None:
        self._check_params()
        be = self._resolve_backend(X)
        self._seed = self._draw_seed()
        sizes = [int(X.shape[1]), *self._hidden_sizes(), n_outputs]
        self.model_ = MLP(sizes, activation=self.activation,
                          output_activation=self._output_activation, loss=self._loss,
                          seed=self._seed, dtype=self.dtype, backend=be)
        self._optimizer = self._make_optimizer()
        self.loss_curve_ = []
        self.validation_loss_curve_ = [] if self.early_stopping else None
        self.n_iter_ = 0

    def _train(self, X: Any, y: Any, epochs: int, incremental: bool) -> None:
        n = int(X.shape[0])
        batch = n if self.batch_size is None else min(int(self.batch_size), n)
        kwargs: dict[str, Any] = {}
        if self.early_stopping and not incremental:
            kwargs = {"validation_split": float(self.validation_fraction),
                      "early_stopping": int(self.n_iter_no_change)}
        history = self.model_.fit(
            X, y, optimizer=self._optimizer, epochs=epochs, batch_size=batch,
            shuffle=bool(self.shuffle),
            # a new shuffling stream per partial_fit call, reproducible from random_state
            seed=self._seed + self.n_iter_, verbose=int(self.verbose), **kwargs,
        )
        self.loss_curve_.extend(float(v) for v in history.loss)
        if self.validation_loss_curve_ is not None and kwargs:
            self.validation_loss_curve_.extend(float(v) for v in history.val_loss)
        self.n_iter_ += len(history)
        self.loss_ = self.loss_curve_[-1]

    # ------------------------------------------------------------------ prediction helpers

    def _output(self, X: Any) -> tuple[Any, bool]:
        """The network output for validated ``X`` and whether ``X`` was host data."""
        check_is_fitted(self, "model_")
        X = self._validate_X(X, reset=False)
        return self.model_.predict_output(X), not _is_device_array(X)

    def _score(self, host_score: Any, X: Any, y: Any, sample_weight: Any) -> float:
        """The mixin's ``score`` for host data; for device arrays the metric runs on the host
        on copies of ``y`` and of the predictions."""
        if not any(_is_device_array(a) for a in (X, y, sample_weight)):
            return host_score(X, y, sample_weight=sample_weight)
        pred = self.predict(X)
        y, pred, sample_weight = (_host(a) if _is_device_array(a) else a
                                  for a in (y, pred, sample_weight))
        return float(self._metric(y, pred, sample_weight=sample_weight))

    # ------------------------------------------------------------------ pickling

    def __getstate__(self) -> dict[str, Any]:
        """The fitted model and optimizer hold array namespaces (modules), which cannot be
        pickled: store host copies of their arrays and a recipe to rebuild them."""
        state = super().__getstate__()
        state = dict(state)
        model = state.pop("model_", None)
        if model is not None:
            weights = [_host(w) for w in model.weights]
            state["_pickled_model"] = {
                "weights": weights,
                "biases": None if model.biases is None else [_host(b) for b in model.biases],
                "activation": [a.name for a in model.activations[:-1]],
                "output_activation": model.activations[-1].name,
                "loss": model.loss_fn.name,
                "dtype": str(weights[0].dtype),
                "backend": model.backend.name,
                "device": device_str(model.backend.device),
                "seed": model.seed,
            }
        opt = state.pop("_optimizer", None)
        if opt is not None:
            fields = {}
            for key, value in vars(opt).items():
                if key == "_xp":
                    value = None
                elif is_array(value):
                    value = _host(value)
                fields[key] = value
            state["_pickled_optimizer"] = (type(opt), fields)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        spec = state.pop("_pickled_model", None)
        opt_spec = state.pop("_pickled_optimizer", None)
        if spec is not None:
            be = resolve_backend(spec["backend"], spec["device"])
            model = MLP.from_arrays(
                spec["weights"], spec["biases"], activation=spec["activation"],
                output_activation=spec["output_activation"], loss=spec["loss"],
                dtype=spec["dtype"], backend=be,
            )
            model.seed = spec["seed"]
            state["model_"] = model
            if opt_spec is not None:
                cls, fields = opt_spec
                opt = cls.__new__(cls)
                for key, value in fields.items():
                    if isinstance(value, np.ndarray):
                        value = be.from_host(value)
                    setattr(opt, key, value)
                state["_optimizer"] = opt
        super().__setstate__(state)


_PARAMS_DOC = """
    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default=(100,)
        Widths of the hidden layers (``()`` for none).
    activation : str, default="relu"
        Hidden activation (any name of ``xprop.activations``: ``relu``, ``tanh``,
        ``sigmoid``, ``leaky_relu(0.2)``, ``gelu``, ...).
    optimizer : str or xprop.optimizers.Optimizer, default="adam"
        ``sgd``, ``momentum``, ``nesterov``, ``adam``, ``adamw``, made with ``learning_rate``
        and ``weight_decay=alpha``; an Optimizer instance is deep-copied at each ``fit`` and
        used as it is (``learning_rate`` and ``alpha`` are then ignored).
    learning_rate : float, default=0.001
        Step size.
    batch_size : int or None, default=200
        Minibatch size, capped at the number of samples; ``None`` is full-batch.
    max_iter : int, default=200
        Epochs run by ``fit`` (``partial_fit`` runs one).
    alpha : float, default=0.0001
        L2 weight decay given to the optimizer (``g + alpha * p``, biases included).
    shuffle : bool, default=True
        Reshuffle the samples every epoch.
    random_state : int, RandomState or None, default=None
        Seed of the weights and of the shuffling; ``None`` draws one from NumPy's global
        generator.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data (not stratified) and stop after
        ``n_iter_no_change`` epochs without a lower validation loss, restoring the best weights
        (``fit`` only).
    validation_fraction : float, default=0.1
        Held-out fraction for ``early_stopping``.
    n_iter_no_change : int, default=10
        Patience of ``early_stopping``, in epochs.
    dtype : {"float64", "float32"}, default="float64"
        Floating dtype of the network.
    backend : str or None, default=None
        xprop backend of the network (``numpy``, ``torch``, ``array_api_strict``, ``cupy``,
        ``auto``, optionally ``name:device``); ``None`` (the default) follows the input arrays,
        and for host data ``xprop.use_backend`` / ``$XPROP_BACKEND`` / numpy.
    device : object, default=None
        Device on that backend (e.g. ``"cuda:0"``, ``"device1"``).
    verbose : int, default=0
        Print the training loss every ``verbose`` epochs.
"""

_ATTRS_DOC = """
    Attributes
    ----------
    n_features_in_ : int
        Number of input features seen in ``fit``.
    feature_names_in_ : ndarray of str
        Column names, when ``X`` had string column names.
    model_ : xprop.MLP
        The trained network.
    loss_ : float
        Training loss of the last epoch (without the L2 term).
    loss_curve_ : list of float
        Training loss per epoch.
    validation_loss_curve_ : list of float or None
        Validation loss per epoch with ``early_stopping``, else None.
    n_iter_ : int
        Epochs run so far.
"""


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multilayer perceptron classifier: a softmax output trained with cross-entropy by
    :func:`xprop.fit` (explicit backprop, any Array-API backend).

    Labels may be any values (ints, strings, ...); they are encoded as indices into
    ``classes_``. Binary problems use two softmax outputs; a single class gives one output
    that always predicts it. Multi-label and multi-output targets are not supported.
    The parameter and attribute lists below are shared with MLPRegressor.
    """

    _output_activation = "softmax"
    _loss = "cross_entropy"
    _metric = staticmethod(accuracy_score)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = False
        tags.target_tags.multi_output = False
        return tags

    def _encode(self, y: Any) -> np.ndarray:
        """Host labels -> int64 indices into ``classes_`` (unknown labels raise)."""
        y = column_or_1d(_host(y) if _is_device_array(y) else y, warn=True)
        check_classification_targets(y)
        try:
            idx = np.clip(np.searchsorted(self.classes_, y), 0, len(self.classes_) - 1)
            bad = np.asarray(self.classes_[idx] != y, dtype=bool)
        except TypeError:  # labels that do not compare with classes_ (str vs int)
            idx, bad = None, np.ones(y.shape, dtype=bool)
        if np.any(bad):
            raise ValueError(
                f"y contains labels not in classes_ {self.classes_.tolist()}: "
                f"{np.unique(y[bad]).tolist()}"
            )
        return idx.astype(np.int64)

    def fit(self, X: Any, y: Any) -> MLPClassifier:
        """Train a new network for ``max_iter`` epochs (fewer with early stopping)."""
        X, y = self._validate_Xy(X, y, reset=True)
        y_host = column_or_1d(_host(y) if _is_device_array(y) else y, warn=True)
        check_classification_targets(y_host)
        self.classes_ = np.unique(y_host)
        self._new_model(X, len(self.classes_))
        self._train(X, self._encode(y_host), int(self.max_iter), incremental=False)
        return self

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> MLPClassifier:
        """One epoch over ``(X, y)``, continuing from the current weights and optimizer state.

        ``classes`` (all labels that will ever appear) is required on the first call and,
        when given later, must be the same.
        """
        first = not hasattr(self, "model_")
        X, y = self._validate_Xy(X, y, reset=first)
        if first:
            if classes is None:
                raise ValueError(
                    "classes must be passed on the first call to partial_fit "
                    "(all class labels that y will ever contain)"
                )
            classes = np.asarray(classes)
            check_classification_targets(classes)
            self.classes_ = np.unique(classes)
            self._new_model(X, len(self.classes_))
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(
                f"classes={np.unique(classes).tolist()!r} is not the same as on the first call "
                f"to partial_fit or fit, was: {self.classes_.tolist()!r}"
            )
        self._train(X, self._encode(y), 1, incremental=True)
        return self

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Mean accuracy of ``predict(X)`` against ``y`` (any backend's arrays)."""
        return self._score(super().score, X, y, sample_weight)

    def predict_proba(self, X: Any) -> Any:
        """Class probabilities, shape ``(n_samples, n_classes)``, columns in ``classes_``
        order (NumPy for host input, the backend's arrays otherwise)."""
        out, host = self._output(X)
        return _host(out) if host else out

    def predict_log_proba(self, X: Any) -> Any:
        """Natural log of :meth:`predict_proba`."""
        out, host = self._output(X)
        if host:
            with np.errstate(divide="ignore"):
                return np.log(_host(out))
        return self.model_.xp.log(out)

    def predict(self, X: Any) -> Any:
        """The most probable class label for each sample."""
        out, host = self._output(X)
        xp = self.model_.xp
        idx = self.model_.head.decide(out, xp)
        unsupported = (self.classes_.dtype.kind == "f" and self.classes_.dtype.name
                       not in self.model_.backend.supported_float_dtypes())
        if host or unsupported or self.classes_.dtype.kind not in "biuf":
            # NumPy labels: for host input, for strings, and for float labels the device
            # cannot hold exactly (float64 labels on a float32-only device)
            return self.classes_[_host(idx)]
        classes = self.model_.backend.from_host(self.classes_)
        return xp.take(classes, idx, axis=0)


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multilayer perceptron regressor: an identity output trained with the mean squared
    error by :func:`xprop.fit` (explicit backprop, any Array-API backend).

    ``y`` may be 1-D (``predict`` then returns 1-D) or 2-D ``(n_samples, n_outputs)``.
    The parameter and attribute lists below are shared with MLPClassifier.
    """

    _output_activation = "identity"
    _loss = "mse"
    _metric = staticmethod(r2_score)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _targets(self, y: Any) -> Any:
        if y.ndim not in (1, 2):
            raise ValueError(f"y: expected a 1-D or 2-D array, got shape {tuple(y.shape)}")
        if y.ndim == 2 and y.shape[1] < 1:
            raise ValueError(f"y: expected at least one target column, got {tuple(y.shape)}")
        return y

    def fit(self, X: Any, y: Any) -> MLPRegressor:
        """Train a new network for ``max_iter`` epochs (fewer with early stopping)."""
        X, y = self._validate_Xy(X, y, reset=True)
        y = self._targets(y)
        self._y_ndim = y.ndim
        self.n_outputs_ = 1 if y.ndim == 1 else int(y.shape[1])
        self._new_model(X, self.n_outputs_)
        self._train(X, y, int(self.max_iter), incremental=False)
        return self

    def partial_fit(self, X: Any, y: Any) -> MLPRegressor:
        """One epoch over ``(X, y)``, continuing from the current weights and optimizer
        state."""
        first = not hasattr(self, "model_")
        X, y = self._validate_Xy(X, y, reset=first)
        y = self._targets(y)
        n_out = 1 if y.ndim == 1 else int(y.shape[1])
        if first:
            self._y_ndim = y.ndim
            self.n_outputs_ = n_out
            self._new_model(X, n_out)
        elif n_out != self.n_outputs_:
            raise ValueError(
                f"y: expected {self.n_outputs_} target column(s) as in the first call, "
                f"got {n_out}"
            )
        self._train(X, y, 1, incremental=True)
        return self

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Coefficient of determination R^2 of ``predict(X)`` against ``y`` (any backend's
        arrays)."""
        return self._score(super().score, X, y, sample_weight)

    def predict(self, X: Any) -> Any:
        """Predicted targets, ``(n_samples,)`` when ``y`` was 1-D, else
        ``(n_samples, n_outputs)``."""
        out, host = self._output(X)
        if self._y_ndim == 1:
            out = out[:, 0]
        return _host(out) if host else out


MLPClassifier.__doc__ += _PARAMS_DOC + _ATTRS_DOC + """    classes_ : ndarray of shape (n_classes,)
        The class labels (on the host).
"""
MLPRegressor.__doc__ += _PARAMS_DOC + _ATTRS_DOC + """    n_outputs_ : int
        Number of regression targets.
"""
