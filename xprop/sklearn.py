"""scikit-learn's :class:`MLPClassifier` and :class:`MLPRegressor` on xprop's core: drop-ins
with the same parameters, defaults and meanings, on any Array-API backend.

They follow scikit-learn's conventions (constructor parameters stored as given, learned
attributes with a trailing underscore, ``fit``/``partial_fit``/``predict``/``score``,
``get_params``/``set_params``, ``clone``, pipelines, cross-validation) and pass scikit-learn's
estimator checks with none expected to fail (``tests/test_sklearn.py``).

scikit-learn is an optional dependency: this module imports it and says how to install it when
it is missing (``pip install "xprop[datasets]"`` or ``pip install scikit-learn``, version 1.7 or
newer).

Training is scikit-learn's algorithm, step for step, on xprop's one training engine
(:mod:`xprop.train`): the same initial weights, early-stopping split and shuffles drawn from
``check_random_state(random_state)``, scikit-learn's SGD and Adam update rules as optimizers on
the flat parameter buffer (:class:`xprop.optimizers.SklearnSGD`,
:class:`~xprop.optimizers.SklearnAdam`), sample weights in the backward pass and ``alpha`` as
L2 on the weights divided by the batch size (or its weight) in each batch's gradient hook,
the loss as scikit-learn reports it, the same stopping rules and warnings after each epoch;
``solver="lbfgs"`` is :func:`xprop.lbfgs.minimize_lbfgs`
with SciPy's stopping rules. On NumPy the stochastic solvers' fitted models equal
scikit-learn's to float64 rounding (``tests/test_sklearn_dropin.py``); L-BFGS follows SciPy's
path, from which rounding can part after tens of iterations on ill-conditioned problems
(README). One deliberate difference: a warm start with early stopping that finds no better
epoch returns to the best weights kept from before (scikit-learn keeps its last ones).

Backends: the network lives on the xprop backend named by ``backend`` (``"numpy"``, ``"torch"``,
``"array_api_strict"``, ``"cupy"``, ``"jax"``, ``"auto"``, optionally ``"name:device"``), or,
with the default ``None``, on the backend of the input arrays (as in scikit-learn; host data
then goes to ``xprop.use_backend`` / ``$XPROP_BACKEND`` / NumPy). Host data (NumPy arrays,
lists, sparse matrices, anything scikit-learn accepts) is validated with scikit-learn's
utilities and copied to the device once per call (sparse matrices a batch at a time);
predictions and fitted attributes for host input are NumPy arrays. Arrays of the estimator's
backend stay on their device and predictions and ``coefs_``/``intercepts_`` are arrays of that
backend (class labels only when ``classes_`` are numbers; string labels come back as NumPy).
``classes_`` always lives on the host. Arrays of another backend or device are refused
(:class:`xprop.DeviceMismatchError`).
"""

from __future__ import annotations

import copy
import inspect
import math
import numbers
import warnings
from typing import Any

import numpy as np

try:
    from sklearn import config_context
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning, DataConversionWarning
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import LabelBinarizer
    from sklearn.utils import check_random_state
    from sklearn.utils import shuffle as sk_shuffle
    from sklearn.utils.metaestimators import available_if
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data
except ImportError as e:  # scikit-learn missing, or older than 1.6 (no validate_data)
    raise ImportError(
        f"xprop.sklearn needs scikit-learn >= 1.7 ({e}); install it with "
        'pip install "xprop[datasets]" or pip install scikit-learn'
    ) from e

import itertools

try:  # what scikit-learn's estimators raise for a bad parameter (ValueError and TypeError)
    from sklearn.utils._param_validation import InvalidParameterError
except ImportError:  # pragma: no cover - a scikit-learn that moved it
    InvalidParameterError = ValueError  # type: ignore[misc, assignment]

from xprop import export
from xprop import validation as V
from xprop.activations import get_activation
from xprop.backend import (
    Backend,
    BackendError,
    DeviceMismatchError,
    backend_of,
    dtype_name,
    is_host_data,
    resolve_backend,
    to_numpy,
)
from xprop.config import FitConfig
from xprop.lbfgs import minimize_lbfgs
from xprop.losses import get_loss
from xprop.mlp import MLP
from xprop.optimizers import Optimizer, SklearnAdam, SklearnSGD
from xprop.step import Batch, gradient
from xprop.train import TrainingData, run
from xprop.validation import show

__all__ = ["MLPClassifier", "MLPRegressor"]


def _is_sparse(x: Any) -> bool:
    return hasattr(x, "tocsr") and hasattr(x, "toarray")


class _Samples:
    """Training inputs: an array on the model's device, or a SciPy sparse matrix kept on the
    host and densified a batch at a time on the model's device."""

    def __init__(self, X: Any, model: MLP) -> None:
        self.model = model
        self.X = X.tocsr() if _is_sparse(X) else model.backend.accept(X, "X", model.dtype)

    @property
    def n(self) -> int:
        return int(self.X.shape[0])

    def take(self, idx: np.ndarray) -> _Samples:
        """The samples at host indices ``idx``, in that order."""
        out = _Samples.__new__(_Samples)
        out.model = self.model
        if _is_sparse(self.X):
            out.X = self.X[idx]
        else:
            order = self.model.backend.from_host(idx)
            out.X = self.model.xp.take(self.X, order, axis=0)
        return out

    def dense(self) -> Any:
        """The samples as a dense array on the model's device."""
        if _is_sparse(self.X):
            return self.model.backend.from_host(self.X.toarray(), self.model.dtype)
        return self.X


class _LayerList(list):
    """``coefs_`` or ``intercepts_``: a list of the layers' arrays whose item assignment sets
    that layer in the network (as assigning into scikit-learn's own list does); its items
    are then the network's new arrays. The number of layers is fixed."""

    def __init__(self, arrays: list[Any], assign: Any, name: str) -> None:
        super().__init__(arrays)
        self._assign, self._name = assign, name

    def __setitem__(self, index: Any, value: Any) -> None:
        values = list(self)
        values[index] = value
        if len(values) != len(self):
            raise ValueError(f"{self._name}: expected {len(self)} arrays (one per layer), got "
                             f"{len(values)}")
        super().__setitem__(slice(None), self._assign(values))

    def _resize(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError(f"{self._name}: the network has {len(self)} layers; set an item "
                        f"({self._name}[i] = array) or assign a whole list")

    append = extend = insert = pop = remove = clear = __delitem__ = _resize
    __iadd__ = __imul__ = _resize  # type: ignore[assignment]

    def __reduce__(self) -> tuple:
        """Pickled and copied as the plain list of arrays it shows."""
        return list, (list(self),)


class _SklearnEpochs(TrainingData):
    """scikit-learn's epochs on xprop's engine (the estimators' :class:`TrainingData`): rows
    shuffled by ``sklearn.utils.shuffle`` with the estimator's random state (each epoch
    shuffles the last epoch's order, as scikit-learn does, whatever the batch size), sample
    weights in each batch's backward pass, and each batch's gradient hook adding the L2 term
    of ``alpha`` and recording the batch's loss as scikit-learn reports it. A non-finite loss
    does not stop the epochs (scikit-learn's solvers go on; the estimator refuses non-finite
    weights at the end, unless early stopping kept finite ones)."""

    stop_on_divergence = False
    plain = False

    def __init__(self, model: MLP, X: _Samples, Y: Any, sw: Any, batch_size: int,
                 random_state: np.random.RandomState | None, loss: Any) -> None:
        """``random_state``: None without shuffling; ``loss(cache, Y, sw, g) -> (value, g)``:
        scikit-learn's loss of a batch and its gradient (see ``_BaseMLP._penalty``)."""
        truth = model.arch.head.truth(Y, None, model.xp)
        shuffles = None if random_state is None else self._shuffles(X.n, random_state)
        super().__init__(X.X, Y, truth, None, _is_sparse(X.X), batch_size, X.n, shuffles)
        self.model, self.sw, self.loss = model, sw, loss
        self.sw_host = None if sw is None else _host(sw)  # each batch's weights checked here
        self.losses: list[Any] = []  # each batch's loss times its size, this epoch

    @staticmethod
    def _shuffles(n: int, random_state: np.random.RandomState) -> Any:
        idx = np.arange(n)
        while True:
            idx = sk_shuffle(idx, random_state=random_state)
            yield idx

    def batches(self, model: Any, order: Any, at: Any = None) -> Any:
        xp = model.xp
        if order is not None and at is None:
            at = model.backend.from_host(order)
        for batch, (s, e) in zip(super().batches(model, order, at), self.spans):
            if self.sw is not None and not self.sw_host[
                    slice(s, e) if order is None else order[s:e]].any():
                raise ValueError(
                    f"sample_weight: a minibatch of {e - s} rows (batch_size) has only zero "
                    "weights, so its weighted mean loss is 0/0 (scikit-learn raises "
                    "ZeroDivisionError); pass a larger batch_size or drop the rows of weight 0")
            sw = None if self.sw is None else (
                self.sw[s:e] if order is None else xp.take(self.sw, at[s:e], axis=0))
            weights = _row_weights(sw, xp)
            yield Batch(batch.X, batch.Y, batch.truth, self._hook(batch.Y, sw), weights)

    def _hook(self, Y: Any, sw: Any) -> Any:
        def hook(g: Any, cache: Any) -> Any:
            value, g = self.loss(cache, Y, sw, g)
            self.losses.append(value * float(Y.shape[0]))
            return g

        return hook

    def epoch_loss(self) -> float:
        """The loss of the epoch's batches as scikit-learn reports it (one read)."""
        xp = self.model.xp
        loss = float(xp.sum(xp.stack(self.losses))) / self.n
        self.losses.clear()
        return loss


def _row_weights(sw: Any, xp: Any) -> Any:
    """Sample weights as the core's row weights: scaled to mean 1 over the batch (the
    weighted mean loss as scikit-learn takes it), None without weights."""
    return None if sw is None else sw * (float(sw.shape[0]) / xp.sum(sw))


def _reported_rows(head: Any, cache: Any, Y: Any, xp: Any) -> Any:
    """Each sample's loss as scikit-learn's MLP reports it (``loss_``, ``loss_curve_``, the
    L-BFGS objective): its log-losses take the probabilities clipped to ``[eps, 1 - eps]``
    (``eps`` of their dtype), so a saturated sample counts about ``-log(eps)`` where the exact
    loss from the logits grows without bound; its squared error and Poisson loss are the
    head's own."""
    name, a = head.loss.name, cache.output
    if name not in ("binary_log_loss", "cross_entropy"):
        return head.rows(cache.pre[-1], a, Y, xp)
    eps = float(xp.finfo(a.dtype).eps)
    p = xp.clip(a, eps, 1.0 - eps)
    terms = Y * xp.log(p)  # xlogy(y, p): p > 0, so 0 where y == 0
    if name == "binary_log_loss":  # and the other class of each logistic output
        terms = terms + (1.0 - Y) * xp.log(1.0 - p)
    return -xp.sum(terms, axis=-1)


def _column(y: Any) -> Any:
    """A device column vector ``(n, 1)`` as 1-D, with scikit-learn's warning."""
    warnings.warn("A column-vector y was passed when a 1d array was expected. Please change "
                  "the shape of y to (n_samples, ), for example using ravel().",
                  DataConversionWarning, stacklevel=4)
    return y[:, 0]


def _stochastic_solver(estimator: Any) -> bool:
    """``partial_fit`` exists only for the stochastic solvers (as in scikit-learn)."""
    if estimator.solver not in _STOCHASTIC:
        raise AttributeError("partial_fit is only available for stochastic optimizers. "
                             f"{estimator.solver} is not stochastic.")
    return True


def _weight_mask(model: MLP) -> Any:
    """1 at every weight's place in the flat parameter buffer, 0 at the biases'."""
    layout = model.arch.layout
    mask = np.zeros(layout.size)
    for name, start, size in zip(layout.names, layout.offsets, layout.sizes):
        if name.startswith("W"):
            mask[start : start + size] = 1.0
    return model.backend.from_host(mask, model.dtype)


def _host_view(x: Any) -> np.ndarray:
    """A backend array as NumPy to read and edit in place, as scikit-learn's ``coefs_``: the
    network's own memory where the host holds it (NumPy, torch on the CPU,
    array-api-strict); otherwise (a device's memory, JAX's immutable arrays) a read-only
    copy, so that an edit, which would be lost, fails instead."""
    a = to_numpy(x)
    if a.flags.writeable and not np.shares_memory(a, to_numpy(x)):  # a fresh copy each time
        a.flags.writeable = False
    return a


def _host(x: Any) -> np.ndarray:
    """A writable NumPy copy-or-view of a backend array (``to_numpy`` can return read-only
    DLPack views)."""
    a = to_numpy(x)
    return a if a.flags.writeable else a.copy()


_SOLVERS = ("lbfgs", "sgd", "adam")
_STOCHASTIC = ("sgd", "adam")
_SCHEDULES = ("constant", "invscaling", "adaptive")
_SK_ACTIVATIONS = {"logistic": "sigmoid"}  # scikit-learn's names that xprop spells otherwise
_XPROP_ACTIVATIONS = {v: k for k, v in _SK_ACTIVATIONS.items()}  # ... and back


#: The estimators' shared entries of their docstrings' Parameters and Attributes sections (they
#: share every parameter but the regressor's ``loss`` and every attribute but ``classes_``).
_SHARED_DOCS = {
    "parameters": """\
hidden_layer_sizes : int or sequence of int, default=(100,)
    The width of each hidden layer, from the input side: ``(64, 32)`` makes two hidden
    layers.
activation : str, default="relu"
    The hidden layers' activation: scikit-learn's ``"identity"``, ``"logistic"``,
    ``"tanh"`` or ``"relu"``, or any other xprop activation name (``"gelu"``,
    ``"softplus"``, ``"leaky_relu(0.2)"``, a registered one).
solver : {"adam", "sgd", "lbfgs"}, default="adam"
    How the weights are trained: scikit-learn's Adam or its stochastic gradient descent
    (minibatches, with ``learning_rate``'s schedules and momentum), or full-batch
    L-BFGS on the path of SciPy's L-BFGS-B (:func:`xprop.lbfgs.minimize_lbfgs`), which
    suits small data sets.
alpha : float, default=0.0001
    Strength of the L2 penalty ``alpha / 2 * sum(W**2)`` on the weights (not the
    biases), divided by the number of samples in the batch (their total weight with
    ``sample_weight``) and added to the loss.
batch_size : int or "auto", default="auto"
    Samples per minibatch of the stochastic solvers; ``"auto"`` is
    ``min(200, n_samples)``, and a size beyond the data is clipped with a warning.
    L-BFGS always takes the whole data.
learning_rate : {"constant", "invscaling", "adaptive"}, default="constant"
    The step-size schedule of ``solver="sgd"``: ``learning_rate_init`` throughout;
    ``learning_rate_init / (t + 1) ** power_t`` after ``t`` samples; or divided by 5
    whenever ``n_iter_no_change`` epochs pass without an improvement of ``tol`` (training
    stops once it would fall below 1e-6).
learning_rate_init : float, default=0.001
    The (initial) step size of ``sgd`` and ``adam``.
power_t : float, default=0.5
    The exponent of the ``invscaling`` schedule.
max_iter : int, default=200
    The most epochs (passes over the data) of the stochastic solvers, or iterations of
    L-BFGS; reaching it warns that training has not converged.
shuffle : bool, default=True
    Whether the stochastic solvers visit the samples in a new random order each epoch.
random_state : int or RandomState or None, default=None
    Seeds the initial weights, the shuffles and the early-stopping split through
    ``sklearn.utils.check_random_state``: the same value gives scikit-learn's own draws.
tol : float, default=0.0001
    The improvement that counts: the stochastic solvers stop when the training loss (the
    validation score with ``early_stopping``) has not improved by at least ``tol`` for
    ``n_iter_no_change`` epochs; L-BFGS stops when the largest entry of the projected
    gradient is below it.
verbose : bool or int, default=False
    Print the loss (and the validation score) after every epoch.
warm_start : bool, default=False
    Go on from the weights of the previous ``fit`` instead of drawing new ones.
momentum : float, default=0.9
    The momentum of ``sgd``, in [0, 1].
nesterovs_momentum : bool, default=True
    Use Nesterov's momentum with ``sgd``.
early_stopping : bool, default=False
    Hold ``validation_fraction`` of the training data out (stratified for classifiers)
    and stop when the score on it has not improved by ``tol`` for ``n_iter_no_change``
    epochs, keeping the weights of the best epoch. Stochastic solvers only.
validation_fraction : float, default=0.1
    The fraction held out for ``early_stopping``, in [0, 1).
beta_1 : float, default=0.9
    Adam's decay rate of its first-moment (mean) estimate, in [0, 1).
beta_2 : float, default=0.999
    Adam's decay rate of its second-moment estimate, in [0, 1).
epsilon : float, default=1e-08
    Added to the denominator of Adam's step, for numerical stability.
n_iter_no_change : int, default=10
    How many epochs without an improvement of ``tol`` the stochastic solvers accept
    before stopping (or, with ``adaptive``, lowering the rate); ``numpy.inf`` never
    stops for that.
max_fun : int, default=15000
    The most evaluations of the loss and gradient by L-BFGS.
optimizer : xprop.optimizers.Optimizer or None, default=None
    An xprop optimizer (``xprop.SGD``, ``xprop.Adam``, ``xprop.AdamW``, ...) to use
    instead of the stochastic solvers' updates, with its own learning rate (deep-copied at
    each ``fit``; one holding an earlier fit's state, or ``solver="lbfgs"``, is refused);
    the stopping rules stay the estimator's. Keyword only, as the rest.
dtype : str or dtype or None, default=None
    The network's floating dtype, ``"float64"`` or ``"float32"`` (or such a dtype object,
    ``np.float32``, as :class:`xprop.MLP` takes it); None follows ``X`` as
    scikit-learn does (float32 input trains in float32, anything else in float64).
backend : str or None, default=None
    The xprop backend of the network (``numpy``, ``torch``, ``array_api_strict``,
    ``cupy``, ``jax``, ``auto``, optionally ``name:device``); None follows the input
    arrays, and for host data ``xprop.use_backend`` / ``$XPROP_BACKEND`` / NumPy.
device : object, default=None
    The device on that backend (e.g. ``"cuda:0"``, ``"device1"``).

""",
    "attributes": """\
coefs_ : list of array
    ``coefs_[i]`` is the weight matrix of layer ``i``, shape ``(fan_in, fan_out)``
    (NumPy arrays, or the backend's arrays when fitted on them).
intercepts_ : list of array
    ``intercepts_[i]`` is the bias vector of layer ``i``, shape ``(fan_out,)``.
loss_ : float
    The loss after the last epoch (iteration), penalty included, as scikit-learn
    reports it.
best_loss_ : float or None
    The lowest ``loss_`` seen by the stochastic solvers (None with early stopping).
loss_curve_ : list of float
    ``loss_`` after each epoch of the stochastic solvers.
validation_scores_ : list of float or None
    The score on the held-out data after each epoch, with ``early_stopping``.
best_validation_score_ : float or None
    The best of ``validation_scores_``, with ``early_stopping``.
t_ : int
    The number of training samples the solver has seen.
n_iter_ : int
    The number of epochs (iterations of L-BFGS) of the last fit.
n_layers_ : int
    The number of layers, input and output included.
n_outputs_ : int
    The number of outputs.
out_activation_ : str
    The output activation, in scikit-learn's words.
n_features_in_ : int
    The number of features seen during ``fit``.
feature_names_in_ : ndarray of shape (n_features_in_,)
    The feature names, when ``X`` had string column names.
model_ : xprop.MLP
    The trained network (``xprop.gradcheck(est.model_, X, y)`` checks its gradients).

""",
}


def _shared_docs(cls: type) -> type:
    """``cls`` with the ``{parameters}`` and ``{attributes}`` lines of its docstring replaced
    by the shared entries (:data:`_SHARED_DOCS`)."""
    doc = inspect.cleandoc(cls.__doc__)
    for key, text in _SHARED_DOCS.items():
        doc = doc.replace("{" + key + "}\n", text)
    cls.__doc__ = doc
    return cls


class _BaseMLP(BaseEstimator):
    """Shared parameters, validation, training and pickling of the two estimators."""

    _metric: Any  # set by the subclasses

    def __init__(
        self,
        hidden_layer_sizes: Any = (100,),
        activation: str = "relu",
        *,
        solver: str = "adam",
        alpha: float = 0.0001,
        batch_size: Any = "auto",
        learning_rate: str = "constant",
        learning_rate_init: float = 0.001,
        power_t: float = 0.5,
        max_iter: int = 200,
        shuffle: bool = True,
        random_state: Any = None,
        tol: float = 1e-4,
        verbose: bool = False,
        warm_start: bool = False,
        momentum: float = 0.9,
        nesterovs_momentum: bool = True,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        n_iter_no_change: int = 10,
        max_fun: int = 15000,
        optimizer: Any = None,
        dtype: str | None = None,
        backend: str | None = None,
        device: Any = None,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.optimizer = optimizer
        self.dtype = dtype
        self.backend = backend
        self.device = device

    # ------------------------------------------------------------------ tags

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.input_tags.allow_nan = False
        return tags

    # ------------------------------------------------------------------ parameters

    def _hidden_sizes(self) -> list[int]:
        h = self.hidden_layer_sizes
        if isinstance(h, numbers.Integral) and not isinstance(h, bool):
            h = (h,)
        try:  # a sequence (a generator would be used up by the first look)
            sizes = list(h) if hasattr(h, "__len__") else None
        except TypeError:
            sizes = None
        if sizes is None or not all(
            isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 1
            for s in sizes
        ):
            raise ValueError(
                "hidden_layer_sizes: expected an integer >= 1 or a sequence of them, got "
                f"{show(self.hidden_layer_sizes)}"
            )
        return [int(s) for s in sizes]

    def _check_params(self) -> None:
        """Every constructor parameter, each with a one-line error naming it: scikit-learn's
        ``InvalidParameterError`` (a ValueError and a TypeError, as its estimators raise)."""
        try:
            self._check_each_param()
        except ValueError as e:
            raise InvalidParameterError(str(e)) from None

    def _check_each_param(self) -> None:
        integer, real, choice = V.check_int, V.check_real, V.check_choice
        choice(self.solver, "solver", _SOLVERS)
        if not isinstance(self.activation, str):
            raise ValueError(f"activation: expected a name such as 'relu', 'tanh', 'logistic' "
                             f"or 'identity', got {show(self.activation)}")
        for flag in ("shuffle", "early_stopping", "warm_start", "nesterovs_momentum"):
            V.check_bool(getattr(self, flag), flag)
        if self.optimizer is not None:
            self._check_optimizer()
        choice(self.learning_rate, "learning_rate", _SCHEDULES)
        integer(self.max_iter, "max_iter")
        if not (isinstance(self.n_iter_no_change, numbers.Real)
                and self.n_iter_no_change == math.inf):
            integer(self.n_iter_no_change, "n_iter_no_change")  # inf: never stop for that
        if not V.is_bool(self.verbose):
            integer(self.verbose, "verbose", 0)
        integer(self.max_fun, "max_fun")
        if not (isinstance(self.batch_size, str) and self.batch_size == "auto"):
            integer(self.batch_size, "batch_size")
        real(self.alpha, "alpha", 0.0)
        V.check_positive(self.learning_rate_init, "learning_rate_init")
        real(self.power_t, "power_t", 0.0)
        real(self.tol, "tol", 0.0)
        real(self.momentum, "momentum", 0.0, 1.0)
        real(self.validation_fraction, "validation_fraction", 0.0, 1.0, high_open=True,
             low_open=bool(self.early_stopping))  # early stopping holds some samples out
        real(self.beta_1, "beta_1", 0.0, 1.0, high_open=True)
        real(self.beta_2, "beta_2", 0.0, 1.0, high_open=True)
        V.check_positive(self.epsilon, "epsilon")
        rs = self.random_state  # checked before a refit changes anything (classes_, weights)
        if not (rs is None or isinstance(rs, np.random.RandomState)
                or (isinstance(rs, numbers.Integral) and 0 <= rs <= 2**32 - 1)):
            raise ValueError("random_state: expected None, an integer in [0, 4294967295] or a "
                             f"numpy.random.RandomState, got {show(rs)}")
        if self.dtype is not None:
            dtype_name(self.dtype)  # a name or a dtype object, as MLP takes it
        self._hidden_sizes()

    def _check_optimizer(self) -> None:
        """``optimizer``: an xprop optimizer without state (the fit trains a copy of it, from
        fresh moments, as scikit-learn's solvers start), for a stochastic solver."""
        opt = self.optimizer
        if not isinstance(opt, Optimizer):
            raise ValueError(f"optimizer: expected None or an xprop.optimizers.Optimizer "
                             f"(xprop.SGD, xprop.Adam, ...), got {show(opt)}")
        if self.solver == "lbfgs":
            raise ValueError(f"optimizer: {show(opt)} takes the place of solver 'sgd' or "
                             f"'adam', got solver='lbfgs' (which would ignore it)")
        if opt.holds_state():  # (as fit's check: a stateless SGD goes)
            raise ValueError(f"optimizer: expected a new one, got {show(opt)} holding the "
                             f"state of an earlier fit ({opt.t} steps); give a new optimizer")

    @staticmethod
    def _sample_weight(sample_weight: Any, n: int) -> np.ndarray | None:
        """``sample_weight`` checked before anything changes, as a float64 host vector (None
        stays None): one finite number >= 0 per sample, not all zero (a scalar weighs every
        sample)."""
        if sample_weight is None:
            return None
        n = int(n)
        w = np.asarray(sample_weight, dtype=np.float64) if is_host_data(sample_weight) \
            else _host(sample_weight)
        if w.ndim == 0:
            w = np.full(n, float(w))
        if w.shape != (n,):
            raise ValueError(f"sample_weight.shape == {w.shape}, expected ({n},)!")
        w = w.astype(np.float64)
        if not np.all(np.isfinite(w)) or np.any(w < 0) or not np.any(w > 0):
            raise ValueError("sample_weight: expected finite weights >= 0, not all zero")
        return w

    def _hidden_activation(self) -> str:
        """xprop's name of ``activation``, in any spelling xprop takes (scikit-learn's
        ``logistic`` is ``sigmoid``)."""
        name = self.activation.strip().lower()
        return get_activation(_SK_ACTIVATIONS.get(name, name)).name

    def _make_solver(self) -> Optimizer:
        """``solver``'s update rule as an optimizer on the flat buffer (scikit-learn's, bit for
        bit), or a copy of the ``optimizer`` given (never train the parameter itself)."""
        if self.optimizer is not None:
            return copy.deepcopy(self.optimizer)
        if self.solver == "sgd":
            return SklearnSGD(self.learning_rate_init, self.momentum, self.nesterovs_momentum)
        return SklearnAdam(self.learning_rate_init, (self.beta_1, self.beta_2), self.epsilon)

    def _resolve_backend(self, X: Any) -> Backend:
        """The backend of a new model: ``backend``/``device``, or the arrays' own when
        ``backend=None``; arrays of another backend are refused."""
        if is_host_data(X):
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
        if not is_host_data(X):  # an array of a library other than NumPy: it stays there
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
        return validate_data(self, X, reset=reset, dtype=(np.float64, np.float32),
                             accept_sparse=["csr", "csc"])

    def _validate_Xy(self, X: Any, y: Any, sample_weight: Any,
                     reset: bool) -> tuple[Any, Any]:
        """``(X, y)`` checked together; y comes back as given for device arrays, else as a
        NumPy array (1-D for classifiers). ``y`` and ``sample_weight`` are host data or
        arrays of the backend the model computes on (nothing moves between libraries or
        devices unasked)."""
        if y is None:
            # the message scikit-learn's checks expect
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None"
            )
        backend = self._resolve_backend(X) if reset else self.model_.backend  # (kept: a warm
        backend.check_place(y, "y")  # start or partial_fit goes on where the network is)
        backend.check_place(sample_weight, "sample_weight")
        if not (is_host_data(X) and is_host_data(y)):
            X = self._validate_X(X, reset)
            if not is_host_data(X):  # values, as scikit-learn's checks of host data
                V.check_finite(X, "X", backend.xp)
            n_y = y.shape[0] if hasattr(y, "shape") else len(y)
            if n_y != X.shape[0]:
                raise ValueError(
                    f"Found input variables with inconsistent numbers of samples: "
                    f"[{X.shape[0]}, {n_y}]"
                )
            return X, y
        regressor = not isinstance(self, ClassifierMixin)  # classifiers: multilabel 2-D y
        return validate_data(self, X, y, reset=reset, dtype=(np.float64, np.float32),
                             multi_output=True, y_numeric=regressor,
                             accept_sparse=["csr", "csc"])

    # ------------------------------------------------------------------ training

    def _model_dtype(self, X: Any, backend: Backend) -> str:
        """``dtype``, or as scikit-learn: float32 input trains in float32, else float64; on a
        device without float64 (JAX without x64), device arrays of no float dtype (integers,
        bools) train in the device's default float dtype (host data comes here as float64
        from scikit-learn's validation)."""
        if self.dtype is not None:
            return dtype_name(self.dtype)
        if "float32" in str(X.dtype):
            return "float32"
        if "float64" in str(X.dtype) or "float64" in backend.supported_float_dtypes():
            return "float64"
        return backend.default_float_dtype()

    def _initialize(self, X: Any, n_outputs: int, output: str, loss: str,
                    rs: np.random.RandomState) -> None:
        """A new network with scikit-learn's initialization (Glorot uniform, factor 2 for
        ``logistic`` or ``sigmoid``, however spelled, else 6; weights then biases, layer by
        layer, from ``rs``: the same random_state gives scikit-learn's initial weights) and
        fresh fitted attributes."""
        units = [int(X.shape[1]), *self._hidden_sizes(), n_outputs]
        factor = 2.0 if self._hidden_activation() == "sigmoid" else 6.0
        weights, biases = [], []
        for fan_in, fan_out in itertools.pairwise(units):
            bound = np.sqrt(factor / (fan_in + fan_out))
            weights.append(rs.uniform(-bound, bound, (fan_in, fan_out)))
            biases.append(rs.uniform(-bound, bound, fan_out))
        backend = self._resolve_backend(X)
        self.model_ = MLP.from_arrays(weights, biases, activation=self._hidden_activation(),
                                      output_activation=output, loss=loss,
                                      dtype=self._model_dtype(X, backend), backend=backend)
        self.n_layers_ = len(units)
        self.n_outputs_ = n_outputs
        self.out_activation_ = _XPROP_ACTIVATIONS.get(output, output)
        self.t_ = 0
        self.n_iter_ = 0
        self._built = (self._hidden_activation(), tuple(self._hidden_sizes()))
        self._best_buffer = self.model_.xp.asarray(self.model_.params.buffer, copy=True)
        if self.solver in _STOCHASTIC:  # as scikit-learn: no curves for lbfgs
            self._start_curves([])

    def _start_curves(self, loss_curve: list[float]) -> None:
        """The curves of the stochastic solvers, new (``loss_curve_`` kept on a warm start
        that follows ``lbfgs`` or changes ``early_stopping``, where scikit-learn fails): the
        validation score's with ``early_stopping``, else the loss's."""
        self.loss_curve_ = loss_curve
        self._no_improvement_count = 0
        early = bool(self.early_stopping)
        self.validation_scores_ = [] if early else None
        self.best_validation_score_ = -np.inf if early else None
        self.best_loss_ = None if early else np.inf

    def _objective(self) -> Any:
        """``objective(X, Y, sw) -> (loss, gradient buffer)`` of the network as scikit-learn's
        ``_backprop`` defines them (see :meth:`_penalty`), for this fit."""
        model, penalized = self.model_, self._penalty()

        def objective(X: Any, Y: Any, sw: Any) -> tuple[Any, Any]:
            cache, g = gradient(model.params, X, Y, model.arch, model.xp,
                                weights=_row_weights(sw, model.xp))
            return penalized(cache, Y, sw, g)

        return objective

    def _penalty(self) -> Any:
        """``penalized(cache, Y, sw, g) -> (loss, g)``: scikit-learn's loss of a forward pass
        and its gradient ``g`` (weighted by ``sw`` already), for this fit: the data loss
        (weighted mean with ``sw``) divided by :meth:`_per_output`, plus ``alpha / 2 |W|^2 /
        sum(w)`` (``n`` without weights) on the weights, whose gradient ``alpha W / sum(w)``
        is added to ``g``."""
        model = self.model_
        xp, head, params = model.xp, model.arch.head, model.params
        per_output, alpha = self._per_output(), float(self.alpha)
        mask = _weight_mask(model) if self.alpha else None

        def penalized(cache: Any, Y: Any, sw: Any, g: Any) -> tuple[Any, Any]:
            rows = _reported_rows(head, cache, Y, xp)
            if sw is None:
                denom = float(Y.shape[0])
                value = xp.sum(rows) / denom
            else:
                denom = xp.sum(sw)
                value = xp.sum(rows * sw) / denom
            value = value / per_output
            if mask is not None:
                w = params.buffer * mask
                value = value + (0.5 * alpha) * xp.sum(w * w) / denom
                g = g + (alpha / denom) * w
            return value, g

        return penalized

    def _fit_lbfgs(self, X: Any, Y: Any, sw: Any) -> None:
        """scikit-learn's ``_fit_lbfgs`` with :func:`xprop.lbfgs.minimize_lbfgs` on the
        model's device (``max_iter`` iterations, ``max_fun`` evaluations, ``gtol=tol``), on
        scikit-learn's objective as it is: for several squared-error outputs its value is the
        mean over the outputs and its gradient that of their sum (they disagree by the
        number of outputs; the line search sees both, so the path is scikit-learn's only
        with both as they are)."""
        model = self.model_
        xp, params, objective = model.xp, model.params, self._objective()

        def fg(buffer: Any) -> tuple[float, Any]:
            params.assign(buffer)
            value, g = objective(X, Y, sw)
            return float(value), g

        result = minimize_lbfgs(fg, xp.asarray(params.buffer, copy=True), xp=xp,
                                max_iter=int(self.max_iter), max_fun=int(self.max_fun),
                                gtol=float(self.tol))
        params.assign(result.x)
        self.n_iter_ = result.n_iter
        self.loss_ = float(objective(X, Y, sw)[0])
        if not result.converged:
            warnings.warn(
                f"lbfgs failed to converge after {result.n_iter} iteration(s): "
                f"{result.message}. Increase the number of iterations (max_iter="
                f"{self.max_iter}) or max_fun ({self.max_fun}), or scale the data.",
                ConvergenceWarning, stacklevel=3)
        if self.verbose:
            print(f"lbfgs: {result.message} after {result.n_iter} iterations, "
                  f"{result.n_fev} evaluations, loss = {self.loss_:.8f}")

    def _fit(self, X: Any, y: Any, sample_weight: Any, incremental: bool,
             classes: Any = None) -> Any:
        """Check the parameters and data, build the network (first fit) or keep it, and
        train: the subclass's :meth:`_targets` (host checks, output and loss) and
        :meth:`_device_targets` (targets on the device, scikit-learn's stratification)."""
        self._check_params()
        first = "model_" not in self.__dict__ or (not self.warm_start and not incremental)
        X, y = self._validate_Xy(X, y, sample_weight, reset=first)
        w = self._sample_weight(sample_weight, X.shape[0])
        y, n_out, (output, loss) = self._targets(y, first, incremental, classes)
        self._random_state = check_random_state(self.random_state)
        if first:
            self._device_io = not is_host_data(X)
            self._initialize(X, n_out, output, loss, self._random_state)
        else:
            self._check_head(output, loss)
            self._rebuild()
        Xd = _Samples(X, self.model_)
        Yd, stratify = self._device_targets(y, Xd.n)
        self._fit_solver(Xd, Yd, w, stratify, incremental)
        return self

    def _fit_solver(self, X: Any, Y: Any, w: np.ndarray | None, stratify: np.ndarray | None,
                    incremental: bool) -> None:
        """Train with ``solver`` on device arrays (``w``: the checked host sample weights),
        then refuse non-finite weights."""
        model = self.model_
        sw = None if w is None else model.backend.from_host(w, model.dtype)
        if self.solver == "lbfgs":
            self._fit_lbfgs(X.dense(), Y, sw)
        else:  # (non-finite losses do not stop these epochs: _SklearnEpochs)
            self._fit_stochastic(X, Y, sw, stratify, incremental)
        if not self.model_.all_finite():
            raise ValueError("Solver produced non-finite parameter weights. The input data may "
                             "contain large values and need to be preprocessed.")

    def _fit_stochastic(self, X: Any, Y: Any, sw: Any, stratify: np.ndarray | None,
                        incremental: bool) -> None:
        """scikit-learn's ``_fit_stochastic`` (same order of random draws, same stopping
        rules, same messages) on xprop's training engine: :class:`_SklearnEpochs` gives the
        batches (scikit-learn's shuffles, sample weights, L2 ``alpha`` and the loss it
        reports), the solver is an optimizer on the flat buffer and the stopping rules run
        after every epoch (:meth:`_epoch_end`)."""
        if not incremental or not hasattr(self, "_optimizer"):
            self._optimizer = self._make_solver()  # its schedule too, as scikit-learn's
            self._schedule = (self.learning_rate, float(self.learning_rate_init),
                              self.power_t)  # (set_params later changes neither)
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        if not hasattr(self, "loss_curve_") or (
                self.validation_scores_ is not None) != bool(self.early_stopping):
            self._start_curves(getattr(self, "loss_curve_", []))  # a warm start after lbfgs,
            # or with early_stopping changed
        train, val = self._split(X, Y, sw, stratify)
        n = train[0].n
        auto = self.batch_size == "auto"
        if not auto and self.batch_size > n:
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is "
                          "going to be clipped", stacklevel=3)
        batch = min(200, n) if auto else int(np.clip(self.batch_size, 1, n))
        self._epochs = _SklearnEpochs(
            self.model_, *train, batch, self._random_state if self.shuffle else None,
            self._penalty())
        config = FitConfig(epochs=1 if incremental else int(self.max_iter),  # (the batches,
                           optimizer=self._optimizer,  # shuffles: self._epochs)
                           callbacks=[lambda epoch, logs, model: self._epoch_end(
                               val, incremental)])
        self.n_iter_ = 0
        try:
            run(self.model_, None, None, config, self._epochs)
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.", stacklevel=3)
        finally:
            del self._epochs
        if self.early_stopping:  # the best epoch's weights (this fit's or an earlier one's)
            self.model_.params.assign(self._best_copy())

    def _best_copy(self) -> Any:
        """A copy of the best weights on the model's device (they stay a snapshot: a warm
        start that finds no better epoch returns to them, on every backend and after a
        pickle; scikit-learn's own list is then the trained one, which it updated in place)."""
        best, model = self._best_buffer, self.model_
        if model.backend.owns(best):
            return model.xp.asarray(best, copy=True)
        return model.backend.from_host(best, model.dtype)  # a host copy, from a pickle

    def _split(self, X: Any, Y: Any, sw: Any, stratify: np.ndarray | None) -> tuple:
        """``((X, Y, sw) of training, (X, Y, sw) of validation or None)``: scikit-learn's
        early-stopping split (``train_test_split`` with ``random_state``), the validation
        part on the host."""
        if not self.early_stopping:
            return (X, Y, sw), None
        be, xp = self.model_.backend, self.model_.xp
        with config_context(skip_parameter_validation=True):  # as scikit-learn's fit: the
            train_idx, val_idx = train_test_split(  # fraction as given (np.float32 too)
                np.arange(X.n), random_state=self._random_state,
                test_size=self.validation_fraction, stratify=stratify)
        if val_idx.shape[0] < 2:
            raise ValueError("The validation set is too small. Increase "
                             "'validation_fraction' or the size of your dataset.")
        tr, va = be.from_host(train_idx), be.from_host(val_idx)
        train = (X.take(train_idx), xp.take(Y, tr, axis=0),
                 None if sw is None else xp.take(sw, tr, axis=0))
        val = (X.take(val_idx).dense(), _host(xp.take(Y, va, axis=0)),
               None if sw is None else _host(xp.take(sw, va, axis=0)))
        return train, val

    def _epoch_end(self, val: tuple[Any, Any, Any] | None, incremental: bool) -> bool:
        """scikit-learn's bookkeeping after an epoch: the loss it reports, ``t_``, the curves,
        the no-improvement count, the solver's schedule and stopping (``partial_fit``'s one
        epoch never warns of ``max_iter``); True to stop."""
        epochs = self._epochs
        self.n_iter_ += 1
        self.loss_ = epochs.epoch_loss()
        self.t_ += epochs.n
        self.loss_curve_.append(self.loss_)
        if self.verbose:
            print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
        self._update_no_improvement_count(val)
        schedule, rate, power_t = self._schedule
        if isinstance(self._optimizer, SklearnSGD) and schedule == "invscaling":
            self._optimizer.lr = float(  # scikit-learn's expression, as a Python float
                rate / (self.t_ + 1) ** power_t)
        if self._no_improvement_count > self.n_iter_no_change:
            what = "Validation score" if val is not None else "Training loss"
            msg = (f"{what} did not improve more than tol={self.tol:f} for "
                   f"{self.n_iter_no_change} consecutive epochs.")
            if self._trigger_stopping(msg):
                return True
            self._no_improvement_count = 0
        if self.n_iter_ == self.max_iter and not incremental:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached "
                          "and the optimization hasn't converged yet.", ConvergenceWarning,
                          stacklevel=5)
        return False

    def _trigger_stopping(self, msg: str) -> bool:
        """scikit-learn's ``trigger_stopping``: ``adaptive`` SGD divides its rate by 5 (and
        stops below 1e-6), everything else stops."""
        opt = self._optimizer
        adaptive = isinstance(opt, SklearnSGD) and self._schedule[0] == "adaptive"
        stop = not adaptive or opt.lr <= 1e-6
        if not stop:
            opt.lr /= 5.0
        if self.verbose:
            print(msg + (" Learning rate too small. Stopping." if stop and adaptive else
                         " Stopping." if stop else f" Setting learning rate to {opt.lr:f}"))
        return stop

    def _update_no_improvement_count(self, val: tuple[Any, Any, Any] | None) -> None:
        """scikit-learn's: on the validation score (early stopping: ``val``), else the loss."""
        worse = self._no_improvement_count + 1
        if val is not None:
            X_val, Y_val, sw_val = val
            score = self._validation_score(self.model_.predict_output(X_val), Y_val, sw_val)
            self.validation_scores_.append(score)
            if self.verbose:
                print(f"Validation score: {score:f}")
            self._no_improvement_count = (worse if score < self.best_validation_score_ + self.tol
                                          else 0)
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_buffer = self.model_.xp.asarray(self.model_.params.buffer,
                                                           copy=True)
        else:
            loss = self.loss_curve_[-1]
            self._no_improvement_count = worse if loss > self.best_loss_ - self.tol else 0
            self.best_loss_ = min(self.best_loss_, loss)

    # ------------------------------------------------------------------ fitted attributes

    def _layers(self, prefix: str) -> _LayerList:
        """``coefs_`` (prefix ``W``) or ``intercepts_`` (``b``) as a :class:`_LayerList`."""
        if "model_" not in self.__dict__:
            raise AttributeError("coefs_" if prefix == "W" else "intercepts_")
        arrays = self.model_.weights if prefix == "W" else self.model_.biases
        return _LayerList([a if self._device_io else _host_view(a) for a in arrays],
                          lambda values: self._set_layers(prefix, values),
                          "coefs_" if prefix == "W" else "intercepts_")

    def _set_layers(self, prefix: str, values: list[Any]) -> list[Any]:
        """Set every layer's ``W`` or ``b`` (host data, or arrays on the network's device:
        others are refused, :class:`xprop.DeviceMismatchError`); the arrays now in the
        network, for the user."""
        self.model_.set_parameters({f"{prefix}{i}": v for i, v in enumerate(values)})
        return list(self._layers(prefix))

    @property
    def coefs_(self) -> list[Any]:
        """The weight matrices, ``coefs_[i]`` of layer ``i`` of shape ``(fan_in, fan_out)``.

        ``coefs_[i] = W`` sets that layer, as in scikit-learn."""
        return self._layers("W")

    @coefs_.setter
    def coefs_(self, values: list[Any]) -> None:
        self._set_layers("W", values)

    @property
    def intercepts_(self) -> list[Any]:
        """The bias vectors, ``intercepts_[i]`` of layer ``i`` of shape ``(fan_out,)``.

        ``intercepts_[i] = b`` sets that layer, as in scikit-learn."""
        return self._layers("b")

    @intercepts_.setter
    def intercepts_(self, values: list[Any]) -> None:
        self._set_layers("b", values)

    # ------------------------------------------------------------------ prediction helpers

    def _rebuild(self, training: bool = True) -> None:
        """The fitted network as the parameters now say, for a warm start, ``partial_fit`` or
        (``training=False``) a prediction after ``set_params``: a new ``activation`` takes
        over with the weights kept (scikit-learn reads it at every pass). Training refuses new
        ``hidden_layer_sizes`` (scikit-learn goes on with the old layers when their number is
        the same and fails on the shapes otherwise), and a ``dtype``,
        ``backend`` or ``device`` other than the network's (it is never moved silently);
        predictions, which read none of them in scikit-learn, use the fitted network."""
        activation, sizes = self._built
        model = self.model_
        if training:
            self._check_kept(model, sizes)
        if self._hidden_activation() != activation:
            self.model_ = MLP.from_arrays(
                model.weights, model.biases, activation=self._hidden_activation(),
                output_activation=model.head.activation.name, loss=model.loss_fn.name,
                dtype=model.dtype, backend=model.backend)
            self._built = (self._hidden_activation(), sizes)
            if "_optimizer" in self.__dict__:  # its state goes on with the same weights
                self._optimizer.bind(self.model_)

    def _check_kept(self, model: MLP, sizes: tuple[int, ...]) -> None:
        """A warm start or ``partial_fit`` goes on with the fitted network as it is: new
        layer sizes, dtype, backend or device are refused in one line."""
        if self.dtype is not None and dtype_name(self.dtype) != dtype_name(model.dtype):
            raise ValueError(
                f"dtype: the fitted network is {dtype_name(model.dtype)}, got "
                f"{V.show(self.dtype)}; a warm start or partial_fit keeps its dtype (set "
                "warm_start=False, or refit from scratch)")
        if self.backend is not None or self.device is not None:
            asked = resolve_backend(self.backend, self.device)
            if asked.describe() != model.backend.describe():
                raise ValueError(
                    f"backend: the fitted network runs on {model.backend.describe()}, got "
                    f"backend={self.backend!r}, device={self.device!r} ({asked.describe()}); a "
                    "warm start or partial_fit keeps it there (set warm_start=False, or refit "
                    "from scratch)")
        if tuple(self._hidden_sizes()) != sizes:
            raise ValueError(
                f"hidden_layer_sizes: the fitted network has {sizes}, got "
                f"{V.show(self.hidden_layer_sizes)}; a warm start or partial_fit keeps the "
                "layers (set warm_start=False, or refit from scratch)")

    def _check_head(self, output: str, loss: str) -> None:
        """A warm start or ``partial_fit`` keeps the network's output and loss: a ``loss``
        (or targets) that needs others is refused in one line (the reported ``loss_`` would
        mix the two)."""
        head = self.model_.head
        if (get_activation(output).name, get_loss(loss).name) == (head.activation.name,
                                                                  head.loss.name):
            return
        name, asked = ("loss", f"loss={self.loss!r}") if hasattr(self, "loss") else (
            "y", "these targets")
        raise ValueError(
            f"{name}: the fitted network's output is {head.activation.name}, trained with "
            f"{head.loss.name}; {asked} needs {output} with {loss}, and a warm start or "
            "partial_fit keeps the output (set warm_start=False, or refit from scratch)")

    def _output(self, X: Any) -> tuple[Any, bool]:
        """The network output for validated ``X`` and whether ``X`` was host data."""
        check_is_fitted(self, "model_")
        if self._hidden_activation() != self._built[0]:
            self._rebuild(training=False)
        X = self._validate_X(X, reset=False)
        if _is_sparse(X):  # densified a chunk of rows at a time on the model's device
            chunk = 4096
            outs = [self.model_.predict_output(X[s : s + chunk].toarray())
                    for s in range(0, X.shape[0], chunk)]
            return (outs[0] if len(outs) == 1 else self.model_.xp.concat(outs, axis=0)), True
        return self.model_.predict_output(X), is_host_data(X)

    def _score(self, host_score: Any, X: Any, y: Any, sample_weight: Any) -> float:
        """The mixin's ``score`` for host data; for device arrays the metric runs on the host
        on copies of ``y`` and of the predictions."""
        if all(is_host_data(a) for a in (X, y, sample_weight)):
            return host_score(X, y, sample_weight=sample_weight)
        check_is_fitted(self, "model_")
        self.model_.backend.check_place(y, "y")  # (X: by predict)
        self.model_.backend.check_place(sample_weight, "sample_weight")
        pred = self.predict(X)
        y, pred, sample_weight = (a if is_host_data(a) else _host(a)
                                  for a in (y, pred, sample_weight))
        return float(self._metric(y, pred, sample_weight=sample_weight))

    def export_onnx(self, path: Any, *, overwrite: bool = True) -> str:
        """Write the fitted network as an ONNX graph recorded from xprop's own forward pass.

        See :func:`xprop.export.export_onnx`: dynamic batch, input ``input`` in the
        network's dtype, and this estimator's outputs: ``probabilities`` (``predict_proba``)
        and ``label`` (``predict``: values of ``classes_``) for a classifier, ``output``
        (``predict``) for a regressor.

        Parameters
        ----------
        path : str or os.PathLike
            The file to write (``.onnx`` is appended when missing).
        overwrite : bool, default True
            Whether an existing file may be replaced.

        Returns
        -------
        str
            The path written.

        Raises
        ------
        NotFittedError
            The estimator is not fitted.
        ValueError
            ``path`` is not writable, or an operation cannot be recorded.
        ImportError
            ndonnx or onnx is missing (``pip install "xprop[onnx]"``).

        Examples
        --------
        >>> from xprop.sklearn import MLPClassifier
        >>> X, y = xprop.datasets.moons(40, seed=0)
        >>> clf = MLPClassifier(hidden_layer_sizes=(4,), solver="lbfgs", tol=1e-3,
        ...                     random_state=0).fit(X, y)
        >>> clf.export_onnx("clf.onnx")
        'clf.onnx'
        """
        check_is_fitted(self, "model_")
        return export.export_onnx(self.model_, path, overwrite=overwrite,
                                  outputs=self._onnx_outputs, metadata=self._onnx_metadata())

    def _onnx_metadata(self) -> dict[str, Any]:
        return {"estimator": f"xprop.sklearn.{type(self).__name__}"}

    # ------------------------------------------------------------------ pickling

    def __getstate__(self) -> dict[str, Any]:
        """The fitted model and optimizer pickle themselves (host copies that return to their
        backend and device); the best parameters of early stopping (which a warm start
        that finds no better epoch returns to, as scikit-learn's) as a host copy."""
        state = dict(super().__getstate__())
        if "_best_buffer" in state:
            state["_best_buffer"] = _host(state["_best_buffer"])
        return state


@_shared_docs
class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multilayer perceptron classifier: scikit-learn's ``MLPClassifier`` on xprop's core.

    Explicit backprop on any Array-API backend, with scikit-learn's parameters, defaults
    and results. As in scikit-learn, binary problems have one logistic output trained with
    binary log-loss (``coefs_[-1]`` has one column), more classes a softmax output with
    cross-entropy, multilabel targets (a 0/1 indicator matrix, e.g.
    ``MultiLabelBinarizer`` output) one logistic output per label with their log-losses
    summed; labels may be any values (``classes_``).

    Parameters
    ----------
    {parameters}
    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels (on the host), or the label columns of multilabel targets.
    {attributes}
    Examples
    --------
    >>> from xprop.sklearn import MLPClassifier
    >>> X, y = xprop.datasets.moons(100, seed=0)
    >>> clf = MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs", tol=1e-3,
    ...                     random_state=0)
    >>> clf.fit(X, y).score(X, y)
    0.88
    >>> clf.predict(X[:4]), clf.classes_
    (array([1, 1, 1, 1]), array([0, 1]))
    >>> [w.shape for w in clf.coefs_]
    [(2, 8), (8, 1)]
    >>> print(xprop.gradcheck(clf.model_, X, y).verdict)
    passed
    """

    _metric = staticmethod(accuracy_score)

    def _per_output(self) -> float:
        return 1.0  # log-losses are summed over outputs, as the network's loss

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

    def _labels(self, y: Any) -> np.ndarray:
        """Host labels: 1-D, or a 2-D multilabel indicator matrix."""
        if _is_sparse(y):  # a sparse indicator matrix: multilabel, predicted sparse (as
            y = y.tocsr()  # scikit-learn's LabelBinarizer gives it back)
        else:
            y = np.asarray(y) if is_host_data(y) else _host(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        return y

    def _targets(self, y: Any, first: bool, incremental: bool, classes: Any) -> tuple:
        """Host labels as scikit-learn's ``LabelBinarizer`` encodes them (its classes set
        on a first fit, else checked against ``classes_``)."""
        y = self._labels(y)
        multilabel = y.ndim == 2
        if first:
            source = y if classes is None or multilabel else np.asarray(classes)
            self._label_binarizer = LabelBinarizer().fit(source)
            self.classes_ = self._label_binarizer.classes_
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(
                f"`classes={np.unique(classes).tolist()!r}` is not the same as on last call "
                f"to partial_fit, was: {self.classes_.tolist()!r}")
        if self.warm_start and not multilabel and (incremental or not first) and \
                set(np.unique(y).tolist()) != set(self.classes_.tolist()):  # (a first
            # partial_fit too: its classes_ come from ``classes``, as in scikit-learn)
            raise ValueError(
                "warm_start can only be used where `y` has the same classes as in the previous "
                f"call to fit. Previously got {self.classes_}, `y` has {np.unique(y)}")
        unknown = np.array([]) if multilabel else np.setdiff1d(np.unique(y), self.classes_)
        if unknown.size:
            raise ValueError(f"y contains labels not in classes_ {self.classes_.tolist()}: "
                             f"{unknown.tolist()}")
        Y = self._label_binarizer.transform(y).astype(np.float64)
        logistic = Y.shape[1] == 1 or multilabel
        return Y, Y.shape[1], (("sigmoid", "binary_log_loss") if logistic
                               else ("softmax", "cross_entropy"))

    def _device_targets(self, Y: Any, n: int) -> tuple[Any, np.ndarray | None]:
        model = self.model_
        stratify = Y.astype(bool) if Y.shape[1] == 1 else None  # as scikit-learn: bools
        return model.backend.from_host(Y, model.dtype), stratify

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPClassifier:
        """Train on ``(X, y)`` for up to ``max_iter`` epochs (iterations of L-BFGS).

        A new network unless ``warm_start``.

        Parameters
        ----------
        X : array_like or sparse matrix of shape (n_samples, n_features)
            Training features: host data (NumPy, lists, SciPy sparse) or arrays of an xprop
            backend (which then holds the network).
        y : array_like of shape (n_samples,) or (n_samples, n_labels)
            Class labels of any kind, or a 0/1 indicator matrix for multilabel targets.
        sample_weight : array_like of shape (n_samples,) or None, default=None
            Weighs each sample's loss (finite, >= 0, not all zero).

        Returns
        -------
        MLPClassifier
            The fitted estimator.

        Raises
        ------
        ValueError
            For invalid parameters or data (scikit-learn's messages).

        Examples
        --------
        >>> from xprop.sklearn import MLPClassifier
        >>> X, y = xprop.datasets.moons(100, seed=0)
        >>> clf = MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs", tol=1e-3,
        ...                     random_state=0)
        >>> clf.fit(X, y) is clf, clf.n_features_in_
        (True, 2)
        """
        return self._fit(X, y, sample_weight, incremental=False)

    @available_if(_stochastic_solver)
    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None,
                    classes: Any = None) -> MLPClassifier:
        """Train one epoch on ``(X, y)``, continuing from the current weights and solver state.

        Only for the stochastic solvers (``sgd``, ``adam``).

        Parameters
        ----------
        X : array_like or sparse matrix of shape (n_samples, n_features)
            Training features.
        y : array_like of shape (n_samples,) or (n_samples, n_labels)
            Class labels, or a 0/1 indicator matrix.
        sample_weight : array_like of shape (n_samples,) or None, default=None
            Weighs each sample's loss.
        classes : array_like or None, default=None
            Every label ``y`` will ever contain; required on the first call.

        Returns
        -------
        MLPClassifier
            The estimator.

        Raises
        ------
        ValueError
            On the first call without ``classes``, for labels outside them, or with
            ``early_stopping``.

        Examples
        --------
        >>> from xprop.sklearn import MLPClassifier
        >>> X, y = xprop.datasets.moons(100, seed=0)
        >>> clf = MLPClassifier(hidden_layer_sizes=(8,), learning_rate_init=0.01,
        ...                     random_state=0)
        >>> for epoch in range(3):
        ...     clf = clf.partial_fit(X, y, classes=[0, 1])
        >>> clf.t_  # samples seen
        300
        """
        if "model_" not in self.__dict__ and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def _decode(self, out: np.ndarray) -> np.ndarray:
        """Labels from host network outputs, as scikit-learn decodes them (threshold 0.5 for
        logistic outputs, argmax for softmax; one class: always it)."""
        return self._label_binarizer.inverse_transform(out[:, 0] if out.shape[1] == 1 else out)

    def _validation_score(self, out: Any, Y_val: np.ndarray, sw: Any) -> float:
        """Accuracy on the held-out data (labels are finite: never NaN, as scikit-learn)."""
        return float(accuracy_score(self._decode(Y_val), self._decode(_host(out)),
                                    sample_weight=sw))

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """The mean accuracy of ``predict(X)`` against ``y``.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            Features (any backend's arrays).
        y : array_like of shape (n_samples,) or (n_samples, n_labels)
            The true labels.
        sample_weight : array_like of shape (n_samples,) or None, default=None
            Weighs each sample.

        Returns
        -------
        float
            The fraction of samples predicted right (every label right, for multilabel
            targets).

        Examples
        --------
        >>> from xprop.sklearn import MLPClassifier
        >>> X, y = xprop.datasets.moons(100, seed=0)
        >>> clf = MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs", tol=1e-3,
        ...                     random_state=0)
        >>> clf.fit(X, y).score(X, y)
        0.88
        """
        return self._score(super().score, X, y, sample_weight)

    def predict_proba(self, X: Any) -> Any:
        """Class probabilities, columns in ``classes_`` order.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            Features.

        Returns
        -------
        array of shape (n_samples, n_classes)
            NumPy for host input, the backend's arrays otherwise.

        Examples
        --------
        >>> from xprop.sklearn import MLPClassifier
        >>> X, y = xprop.datasets.moons(100, seed=0)
        >>> clf = MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs", tol=1e-3,
        ...                     random_state=0)
        >>> clf.fit(X, y).predict_proba(X[:2]).round(3)
        array([[0.351, 0.649],
               [0.467, 0.533]])
        """
        out, host = self._output(X)
        out = self._proba(out, self.model_.xp)
        return _host(out) if host else out

    @staticmethod
    def _proba(out: Any, xp: Any) -> Any:
        """:meth:`predict_proba` from the network output (any namespace): one logistic
        output is P(classes_[1]), its complement P(classes_[0])."""
        return xp.concat([1.0 - out, out], axis=1) if out.shape[1] == 1 else out

    def _decide(self, out: Any, xp: Any, classes: Any) -> Any:
        """:meth:`predict` from the network output (any namespace; ``classes``: ``classes_``
        there): the head's decision, a 0/1 row per sample for multilabel targets, else
        the class it picks (one class: always it)."""
        idx = self.model_.head.decide(out, xp)
        if self._label_binarizer.y_type_ == "multilabel-indicator":
            return idx
        if len(self.classes_) == 1:
            idx = xp.zeros_like(idx)
        return xp.take(classes, idx, axis=0)

    def _onnx_outputs(self, out: Any, xp: Any, place: Any) -> dict[str, Any]:
        return {"probabilities": self._proba(out, xp),
                "label": self._decide(out, xp, place(self.classes_))}

    def _onnx_metadata(self) -> dict[str, Any]:
        return {**super()._onnx_metadata(), "classes": self.classes_.tolist()}

    def predict_log_proba(self, X: Any) -> Any:
        """The natural log of :meth:`predict_proba`.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            Features.

        Returns
        -------
        array of shape (n_samples, n_classes)
            Log-probabilities (``-inf`` for a probability of 0).

        Examples
        --------
        >>> from xprop.sklearn import MLPClassifier
        >>> X, y = xprop.datasets.moons(100, seed=0)
        >>> clf = MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs", tol=1e-3,
        ...                     random_state=0)
        >>> clf.fit(X, y).predict_log_proba(X[:1]).round(3)
        array([[-1.048, -0.432]])
        """
        proba = self.predict_proba(X)
        if isinstance(proba, np.ndarray):
            with np.errstate(divide="ignore"):
                return np.log(proba)
        return self.model_.xp.log(proba)

    def predict(self, X: Any) -> Any:
        """The most probable class label of each sample.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            Features.

        Returns
        -------
        array of shape (n_samples,) or (n_samples, n_labels)
            Labels from ``classes_`` (a 0/1 indicator row per sample for multilabel
            targets); NumPy for host input and for string labels, else the backend's arrays.

        Examples
        --------
        >>> from xprop.sklearn import MLPClassifier
        >>> X, y = xprop.datasets.moons(100, seed=0)
        >>> clf = MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs", tol=1e-3,
        ...                     random_state=0)
        >>> names = np.array(["upper", "lower"])[y]  # labels may be any values
        >>> clf.fit(X, names).classes_
        array(['lower', 'upper'], dtype='<U5')
        >>> clf.predict(X[:4])
        array(['lower', 'lower', 'lower', 'lower'], dtype='<U5')
        """
        out, host = self._output(X)
        self.model_.head.check_decidable(out, self.model_.xp)
        if not (host or self.classes_.dtype.kind not in "biuf" or len(self.classes_) == 1):
            try:
                classes = self.model_.backend.from_host(self.classes_)
            except BackendError:  # labels the device cannot hold exactly (float64 labels on
                classes = None  # a float32-only device, 64-bit ones on JAX without x64)
            if classes is not None:
                return self._decide(out, self.model_.xp, classes)
        # NumPy labels: for host input, strings, labels the device cannot hold, one class
        return self._decode(_host(out))


@_shared_docs
class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multilayer perceptron regressor: scikit-learn's ``MLPRegressor`` on xprop's core.

    An identity output trained with scikit-learn's squared error (``loss_`` is half the
    mean squared error; the updates follow ``(a - y) / n`` as scikit-learn's do), or with
    ``loss="poisson"`` an exp output (log link) trained with half the Poisson deviance, for
    targets >= 0. ``y`` may be 1-D (``predict`` then returns 1-D) or 2-D
    ``(n_samples, n_outputs)``.

    Parameters
    ----------
    loss : {"squared_error", "poisson"}, default="squared_error"
        What is minimised: half the mean squared error, or half the Poisson deviance of an
        exp output (for counts and other targets >= 0).
    {parameters}
    Attributes
    ----------
    {attributes}
    Examples
    --------
    >>> from xprop.sklearn import MLPRegressor
    >>> X, _ = xprop.datasets.moons(100, seed=0)
    >>> y = 2.0 * X[:, 0] + X[:, 1]
    >>> reg = MLPRegressor(hidden_layer_sizes=(8,), solver="lbfgs", random_state=0)
    >>> round(reg.fit(X, y).score(X, y), 4)
    1.0
    >>> reg.predict(X[:2]).round(2), y[:2].round(2)
    (array([2.51, 1.91]), array([2.51, 1.91]))
    """

    _metric = staticmethod(r2_score)

    def _per_output(self) -> float:
        """scikit-learn reports the squared error's mean over outputs (its updates follow the
        sum's gradient, as the network's loss); Poisson deviances are summed."""
        return float(self.n_outputs_) if self.loss == "squared_error" else 1.0

    def __init__(self, loss: str = "squared_error", hidden_layer_sizes: Any = (100,),
                 activation: str = "relu", *, solver: str = "adam", alpha: float = 0.0001,
                 batch_size: Any = "auto", learning_rate: str = "constant",
                 learning_rate_init: float = 0.001, power_t: float = 0.5, max_iter: int = 200,
                 shuffle: bool = True, random_state: Any = None, tol: float = 1e-4,
                 verbose: bool = False, warm_start: bool = False, momentum: float = 0.9,
                 nesterovs_momentum: bool = True, early_stopping: bool = False,
                 validation_fraction: float = 0.1, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-8, n_iter_no_change: int = 10, max_fun: int = 15000,
                 optimizer: Any = None, dtype: str | None = None, backend: str | None = None,
                 device: Any = None) -> None:
        super().__init__(
            hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
            learning_rate=learning_rate, learning_rate_init=learning_rate_init,
            power_t=power_t, max_iter=max_iter, shuffle=shuffle, random_state=random_state,
            tol=tol, verbose=verbose, warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun,
            optimizer=optimizer, dtype=dtype, backend=backend, device=device)
        self.loss = loss

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _check_each_param(self) -> None:
        super()._check_each_param()
        if self.loss not in ("squared_error", "poisson"):
            raise ValueError(f"loss: expected 'squared_error' or 'poisson', got {show(self.loss)}")

    def _targets(self, y: Any, first: bool, incremental: bool, classes: Any) -> tuple:
        """``y`` (host or device) checked: 1-D (a column too, as scikit-learn) or 2-D, with
        as many columns as when first fitted."""
        if y.ndim == 2 and y.shape[1] == 1:  # as scikit-learn: a column is 1-D, with a warning
            y = column_or_1d(y, warn=True) if is_host_data(y) else _column(y)
        if y.ndim not in (1, 2) or (y.ndim == 2 and y.shape[1] < 1):
            raise ValueError(f"y: expected a 1-D or 2-D array, got shape {tuple(y.shape)}")
        n_out = 1 if y.ndim == 1 else int(y.shape[1])
        if not first and n_out != self.n_outputs_:
            raise ValueError(f"y: expected {self.n_outputs_} target column(s) as when first "
                             f"fitted, got {n_out}")
        if first:
            self._y_ndim = y.ndim
        return y, n_out, (("exp", "poisson") if self.loss == "poisson"
                          else ("identity", "half_squared_error"))

    def _device_targets(self, y: Any, n: int) -> tuple[Any, None]:
        model = self.model_
        Yd = model.backend.accept(y, "y", model.dtype)
        Yd = model.xp.reshape(Yd, (-1, 1)) if Yd.ndim == 1 else Yd
        model.head.prepare_targets(Yd, n, Yd.shape[1], model.backend, model.dtype,
                                   model.xp)  # the head's checks of y (finite, >= 0, ...)
        return Yd, None

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPRegressor:
        """Train on ``(X, y)`` for up to ``max_iter`` epochs (iterations of L-BFGS).

        A new network unless ``warm_start``.

        Parameters
        ----------
        X : array_like or sparse matrix of shape (n_samples, n_features)
            Training features: host data (NumPy, lists, SciPy sparse) or arrays of an xprop
            backend (which then holds the network).
        y : array_like of shape (n_samples,) or (n_samples, n_outputs)
            Targets (>= 0 for ``loss="poisson"``).
        sample_weight : array_like of shape (n_samples,) or None, default=None
            Weighs each sample's loss (finite, >= 0, not all zero).

        Returns
        -------
        MLPRegressor
            The fitted estimator.

        Raises
        ------
        ValueError
            For invalid parameters or data, or a ``loss`` other than the two.

        Examples
        --------
        >>> from xprop.sklearn import MLPRegressor
        >>> X, _ = xprop.datasets.moons(100, seed=0)
        >>> y = 2.0 * X[:, 0] + X[:, 1]
        >>> reg = MLPRegressor(hidden_layer_sizes=(8,), solver="lbfgs", random_state=0)
        >>> reg.fit(X, y).n_outputs_, reg.out_activation_
        (1, 'identity')
        """
        return self._fit(X, y, sample_weight, incremental=False)

    @available_if(_stochastic_solver)
    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPRegressor:
        """Train one epoch on ``(X, y)``, continuing from the current weights and solver state.

        Only for the stochastic solvers (``sgd``, ``adam``).

        Parameters
        ----------
        X : array_like or sparse matrix of shape (n_samples, n_features)
            Training features.
        y : array_like of shape (n_samples,) or (n_samples, n_outputs)
            Targets, with as many columns as at the first call.
        sample_weight : array_like of shape (n_samples,) or None, default=None
            Weighs each sample's loss.

        Returns
        -------
        MLPRegressor
            The estimator.

        Raises
        ------
        ValueError
            For invalid data, or with ``early_stopping``.

        Examples
        --------
        >>> from xprop.sklearn import MLPRegressor
        >>> X, _ = xprop.datasets.moons(100, seed=0)
        >>> reg = MLPRegressor(hidden_layer_sizes=(8,), random_state=0)
        >>> reg.partial_fit(X, X[:, 0]).partial_fit(X, X[:, 0]).t_
        200
        """
        return self._fit(X, y, sample_weight, incremental=True)

    def _validation_score(self, out: Any, Y_val: np.ndarray, sw: Any) -> float:
        """R^2 on the held-out data; NaN for non-finite predictions (as scikit-learn)."""
        pred = _host(out)
        if not np.isfinite(pred).all():
            return math.nan
        return float(r2_score(Y_val, pred, sample_weight=sw))

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """The coefficient of determination R^2 of ``predict(X)`` against ``y``.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            Features (any backend's arrays).
        y : array_like of shape (n_samples,) or (n_samples, n_outputs)
            The true targets.
        sample_weight : array_like of shape (n_samples,) or None, default=None
            Weighs each sample.

        Returns
        -------
        float
            1 for a perfect fit, 0 for predicting the mean, lower for worse.

        Examples
        --------
        >>> from xprop.sklearn import MLPRegressor
        >>> X, _ = xprop.datasets.moons(100, seed=0)
        >>> y = 2.0 * X[:, 0] + X[:, 1]
        >>> reg = MLPRegressor(hidden_layer_sizes=(8,), solver="lbfgs", random_state=0)
        >>> round(reg.fit(X, y).score(X, y), 4)
        1.0
        """
        return self._score(super().score, X, y, sample_weight)

    def predict(self, X: Any) -> Any:
        """Predict targets.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            Features.

        Returns
        -------
        array
            ``(n_samples,)`` when ``y`` was 1-D, else ``(n_samples, n_outputs)``; NumPy for
            host input, the backend's arrays otherwise.

        Examples
        --------
        >>> from xprop.sklearn import MLPRegressor
        >>> X, _ = xprop.datasets.moons(100, seed=0)
        >>> y = 2.0 * X[:, 0] + X[:, 1]
        >>> reg = MLPRegressor(hidden_layer_sizes=(8,), solver="lbfgs", random_state=0)
        >>> reg.fit(X, y).predict(X[:2]).round(2)
        array([2.51, 1.91])
        """
        out, host = self._output(X)
        out = self._shaped(out)
        return _host(out) if host else out

    def _shaped(self, out: Any) -> Any:
        """:meth:`predict` from the network output: 1-D when ``y`` was 1-D."""
        return out[:, 0] if self._y_ndim == 1 else out

    def _onnx_outputs(self, out: Any, xp: Any, place: Any) -> dict[str, Any]:
        return {"output": self._shaped(out)}
