"""Loss functions: each gives its value and its gradient with respect to the network output.

Shapes: output ``a`` and target ``y`` are ``(n, k)`` arrays of the same floating dtype (integer
class labels are turned into one-hot by :func:`one_hot` before they get here). Every function
takes the namespace ``xp`` last so a model looks it up once. Values are 0-d arrays.

| name | value | dL/da |
|---|---|---|
| ``mse`` | mean over all n*k elements of (a - y)^2 | 2 (a - y) / (n k) |
| ``half_sse`` | 1/2 sum (a - y)^2 (the textbook "total error") | a - y |
| ``bce`` | -mean[y log(a + eps) + (1 - y) log(1 - a + eps)] | (a - y) / ((a + eps)(1 - a + eps) n k) approx. |
| ``bce_with_logits`` | mean[max(z, 0) - z y + log(1 + exp(-abs(z)))] on logits z | (sigmoid(z) - y) / (n k) |
| ``cross_entropy`` | -1/n sum y log(a + eps) on probabilities a | -y / ((a + eps) n) |
| ``half_squared_error`` | 1/(2n) sum (a - y)^2 (scikit-learn's MLPRegressor) | (a - y) / n |
| ``binary_log_loss`` | -1/n sum[y log(a + eps) + (1 - y) log(1 - a + eps)] (scikit-learn's MLPClassifier) | ((1 - y) / (1 - a + eps) - y / (a + eps)) / n |
| ``poisson`` | 1/n sum[y log(y / a) - y + a] (half the Poisson deviance) | (1 - y / a) / n |

Fused pairs: with a ``sigmoid`` output and ``bce`` or ``binary_log_loss``, a ``softmax``
output and ``cross_entropy``, or an ``exp`` output and ``poisson``, the gradient with respect
to the pre-activation z is ``(a - y) / N`` (``N = n k`` for ``bce``, else ``n``). The value is then taken from the logits z (exact, without ``eps``), so
value and gradient describe the same function to the last digit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from array_api_compat import device

from xprop.activations import NamedFunctions, _CheckedOutput, sigmoid
from xprop.backend.core import adapter_of_namespace
from xprop.validation import check_block_name, show

Array = Any
EPS = 1e-12  # the classic eps inside the log of bce / cross_entropy on probabilities
"""The ``eps`` inside the logs of ``bce`` and ``cross_entropy`` on probabilities."""

__all__ = ["EPS", "LOSSES", "Loss", "get_loss", "make_loss", "one_hot", "register_loss"]


@dataclass(frozen=True)
class Loss(NamedFunctions):
    """A loss: elementwise terms, how they add up, and the gradient.

    The value is ``sum(terms(a, y, xp))`` divided as ``scale`` says, with its gradient
    ``grad(a, y, xp) = dL/da``. For its fused output activation, ``fused_grad(a, y, xp) =
    dL/dz`` and ``logit_terms(z, y, xp)``, the same terms from the logits. One formula gives
    both the value and the per-sample :meth:`rows` that training loops add up over an epoch.

    Parameters
    ----------
    name : str
        Its name (what checkpoints store).
    terms : callable
        ``terms(a, y, xp)``: the elementwise terms, shape ``(n, k)``.
    grad : callable
        ``grad(a, y, xp) = dL/da``, shape ``(n, k)``.
    fused_activation : str or None, default=None
        The output activation whose pairing gives the fused gradient (``sigmoid`` for
        ``bce``, ``softmax`` for ``cross_entropy``).
    fused_grad : callable or None, default=None
        ``fused_grad(a, y, xp) = dL/dz`` through the fused activation (``(a - y) / N``).
    logit_terms : callable or None, default=None
        ``logit_terms(z, y, xp)``: the terms computed from the logits (exact, no ``eps``).
    targets : {"real", "counts", "binary", "labels"}, default="real"
        What targets it takes: real values, counts >= 0, values in [0, 1], or classes.
    scale : {"elements", "samples", "half", "half_samples"}, default="elements"
        What the value divides the summed terms by: ``"elements"`` (the mean over all
        ``n k`` entries), ``"samples"`` (the mean over the ``n`` rows), ``"half"`` (the
        textbook ``1/2`` sum, a sum over samples) or ``"half_samples"`` (half the mean over
        rows of the row sums: scikit-learn's squared error, whose gradient is
        ``(a - y) / n``).

    Examples
    --------
    >>> mse = xprop.get_loss("mse")
    >>> b = xprop.resolve_backend()  # the default backend: NumPy unless set otherwise
    >>> a, y = b.from_host([[0.5], [1.0]]), b.from_host([[0.0], [1.0]])
    >>> float(mse.value(a, y, b.xp))  # mean of (a - y)^2
    0.125
    >>> xprop.to_numpy(mse.grad(a, y, b.xp))  # 2 (a - y) / (n k)
    array([[0.5],
           [0. ]])
    """

    name: str
    terms: Callable[[Array, Array, Any], Array]
    grad: Callable[[Array, Array, Any], Array]
    fused_activation: str | None = None
    fused_grad: Callable[[Array, Array, Any], Array] | None = None
    logit_terms: Callable[[Array, Array, Any], Array] | None = None
    targets: str = "real"  # "real", "counts" (>= 0), "binary" ([0, 1]) or "labels" (classes)
    scale: str = "elements"  # "elements", "samples", "half", "half_samples" (class docstring)

    FUNCTIONS: ClassVar[tuple[str, ...]] = ("terms", "grad", "fused_grad", "logit_terms")

    @classmethod
    def lookup(cls, name: str) -> Loss:
        """The loss of that name (:func:`get_loss`).

        Parameters
        ----------
        name : str
            A built-in or registered name.

        Returns
        -------
        Loss
            What the name stands for now.

        Examples
        --------
        >>> from xprop.losses import Loss
        >>> Loss.lookup("mse") is xprop.get_loss("mse")
        True
        """
        return get_loss(name)

    @property
    def reduction(self) -> str:
        """How batches add up: ``"mean"`` over samples, or ``"sum"`` (``half_sse``)."""
        return "sum" if self.scale == "half" else "mean"

    def _divisors(self, a: Array) -> tuple[float, float]:
        n, k = a.shape[-2], a.shape[-1]
        return {"elements": (float(n * k), float(k)), "samples": (float(n), 1.0),
                "half": (2.0, 2.0), "half_samples": (2.0 * n, 2.0)}[self.scale]

    def value(self, a: Array, y: Array, xp: Any) -> Array:
        """The loss of outputs ``a`` against targets ``y``.

        Parameters
        ----------
        a : array
            Network outputs, shape ``(n, k)``.
        y : array
            Targets of the same shape and dtype.
        xp : namespace
            Their Array-API namespace.

        Returns
        -------
        array
            A 0-d array of ``a``'s dtype.

        Examples
        --------
        >>> b = xprop.resolve_backend()
        >>> a, y = b.from_host([[1.0, 3.0]]), b.from_host([[0.0, 0.0]])
        >>> float(xprop.get_loss("half_sse").value(a, y, b.xp))  # (1 + 9) / 2
        5.0
        """
        return _same_dtype(xp.sum(self.terms(a, y, xp)) / self._divisors(a)[0], a, xp)

    def value_from_logits(self, z: Array, y: Array, xp: Any) -> Array:
        """The value from the logits of the fused activation (exact, no ``eps``).

        Parameters
        ----------
        z : array
            Logits (pre-activations of the output layer), shape ``(n, k)``.
        y : array
            Targets of the same shape and dtype.
        xp : namespace
            Their Array-API namespace.

        Returns
        -------
        array
            A 0-d array of ``z``'s dtype: the value of ``fused_activation(z)`` against ``y``.

        Examples
        --------
        >>> b = xprop.resolve_backend()
        >>> z, y = b.from_host([[0.0]]), b.from_host([[1.0]])
        >>> round(float(xprop.get_loss("bce").value_from_logits(z, y, b.xp)), 6)  # log 2
        0.693147
        """
        return _same_dtype(xp.sum(self.logit_terms(z, y, xp)) / self._divisors(z)[0], z, xp)

    def rows(self, a: Array, y: Array, xp: Any, *, logits: bool = False) -> Array:
        """Per-sample losses, whose mean (sum for ``half``) is the value.

        Parameters
        ----------
        a : array
            Outputs ``(..., n, k)``; a stack of batches broadcasts against ``y``.
        y : array
            Targets ``(n, k)``.
        xp : namespace
            Their Array-API namespace.
        logits : bool, default=False
            Take the fused activation's logits ``z`` instead of ``a``.

        Returns
        -------
        array
            Shape ``(..., n)``, of ``a``'s dtype.

        Examples
        --------
        >>> b = xprop.resolve_backend()
        >>> a, y = b.from_host([[1.0, 3.0], [0.0, 2.0]]), b.from_host([[0.0, 0.0]] * 2)
        >>> mse = xprop.get_loss("mse")
        >>> xprop.to_numpy(mse.rows(a, y, b.xp))  # per-sample means over outputs
        array([5., 2.])
        >>> float(mse.value(a, y, b.xp))
        3.5
        """
        terms = (self.logit_terms if logits else self.terms)(a, y, xp)
        return _same_dtype(xp.sum(terms, axis=-1) / self._divisors(a)[1], a, xp)


def _same_dtype(value: Array, like: Array, xp: Any) -> Array:
    """``value`` in ``like``'s dtype: NumPy 1.x promotes a float32 0-d array times a Python
    float to float64 (value-based casting); the standard (and NumPy 2) keep float32."""
    return value if value.dtype == like.dtype else xp.astype(value, like.dtype)


def _count(a: Array) -> float:
    """The entries a mean divides by; at least 1, so that an empty batch (a data-parallel
    rank's empty shard of a batch) gives an empty gradient, not a division by zero."""
    return float(max(a.shape[0] * a.shape[1], 1))


def squared_error(a: Array, y: Array, xp: Any) -> Array:
    """(a - y)^2: the terms of ``mse`` and ``half_sse``."""
    d = a - y
    return d * d


def mse_grad(a: Array, y: Array, xp: Any) -> Array:
    """2 (a - y) / (n k)"""
    return (a - y) * (2.0 / _count(a))


def half_sse_grad(a: Array, y: Array, xp: Any) -> Array:
    """a - y"""
    return a - y


def half_squared_error_grad(a: Array, y: Array, xp: Any) -> Array:
    """(a - y) / n"""
    return (a - y) * (1.0 / max(a.shape[0], 1))  # max: see _count


def bce_terms(a: Array, y: Array, xp: Any) -> Array:
    """-[y log(a + eps) + (1 - y) log(1 - a + eps)]"""
    return -(y * xp.log(a + EPS) + (1.0 - y) * xp.log(1.0 - a + EPS))


def bce_grad(a: Array, y: Array, xp: Any) -> Array:
    """((1 - y) / (1 - a + eps) - y / (a + eps)) / (n k)"""
    return ((1.0 - y) / (1.0 - a + EPS) - y / (a + EPS)) * (1.0 / _count(a))


def bce_logit_terms(z: Array, y: Array, xp: Any) -> Array:
    """max(z, 0) - z y + log(1 + exp(-|z|)): binary cross-entropy of sigmoid(z), overflow-free."""
    return xp.maximum(z, 0.0) - z * y + xp.log1p(xp.exp(-xp.abs(z)))


def bce_with_logits_grad(z: Array, y: Array, xp: Any) -> Array:
    """(sigmoid(z) - y) / (n k)"""
    return (sigmoid(z, xp) - y) * (1.0 / _count(z))


def fused_mean_grad(a: Array, y: Array, xp: Any) -> Array:
    """(a - y) / (n k): dL/dz for sigmoid + bce."""
    return (a - y) * (1.0 / max(a.shape[0] * a.shape[1], 1))


def cross_entropy_terms(a: Array, y: Array, xp: Any) -> Array:
    """-y log(a + eps): on probabilities a."""
    return -(y * xp.log(a + EPS))


def cross_entropy_grad(a: Array, y: Array, xp: Any) -> Array:
    """-y / ((a + eps) n)"""
    return y / (a + EPS) * (-1.0 / float(max(a.shape[0], 1)))


def softmax_cross_entropy_logit_terms(z: Array, y: Array, xp: Any) -> Array:
    """-y (z - logsumexp(z)): the row max subtracted first, for stability."""
    s = z - adapter_of_namespace(xp).max_rows(z, xp)
    log_p = s - xp.log(xp.sum(xp.exp(s), axis=-1, keepdims=True))
    return -(y * log_p)


def binary_log_loss_grad(a: Array, y: Array, xp: Any) -> Array:
    """((1 - y) / (1 - a + eps) - y / (a + eps)) / n"""
    return ((1.0 - y) / (1.0 - a + EPS) - y / (a + EPS)) * (1.0 / float(max(a.shape[0], 1)))


def _xlogy_self(y: Array, xp: Any) -> Array:
    """y log y, 0 where y == 0."""
    return y * xp.log(xp.where(y > 0, y, xp.ones_like(y)))


def poisson_terms(a: Array, y: Array, xp: Any) -> Array:
    """y log(y / a) - y + a: the Poisson deviance / 2 of the mean a."""
    return _xlogy_self(y, xp) - y * xp.log(a) - y + a


def poisson_grad(a: Array, y: Array, xp: Any) -> Array:
    """(1 - y / a) / n"""
    return (1.0 - y / a) * (1.0 / float(max(a.shape[0], 1)))


def poisson_logit_terms(z: Array, y: Array, xp: Any) -> Array:
    """exp(z) - y z + y log y - y: the same terms from the log-mean z."""
    return xp.exp(z) - y * z + _xlogy_self(y, xp) - y


def fused_row_grad(a: Array, y: Array, xp: Any) -> Array:
    """(a - y) / n: dL/dz for softmax + cross_entropy and exp + poisson."""
    return (a - y) * (1.0 / float(max(a.shape[0], 1)))


LOSSES: dict[str, Loss] = {
    "mse": Loss("mse", squared_error, mse_grad),
    "half_sse": Loss("half_sse", squared_error, half_sse_grad, scale="half"),
    # scikit-learn's MLP squared error: sum over outputs of (a - y)^2 / 2, mean over samples
    "half_squared_error": Loss("half_squared_error", squared_error, half_squared_error_grad,
                               scale="half_samples"),
    "bce": Loss("bce", bce_terms, bce_grad, "sigmoid", fused_mean_grad, bce_logit_terms,
                "binary"),
    "bce_with_logits": Loss("bce_with_logits", bce_logit_terms, bce_with_logits_grad,
                            targets="binary"),
    # scikit-learn's MLP log-loss for logistic outputs: summed over outputs, mean over samples
    # (one output: bce; several: multilabel)
    "binary_log_loss": Loss("binary_log_loss", bce_terms, binary_log_loss_grad, "sigmoid",
                            fused_row_grad, bce_logit_terms, "binary", scale="samples"),
    # scikit-learn's MLPRegressor(loss="poisson"): exp output, Poisson deviance / 2
    "poisson": Loss("poisson", poisson_terms, poisson_grad, "exp", fused_row_grad,
                    poisson_logit_terms, "counts", scale="samples"),
    "cross_entropy": Loss("cross_entropy", cross_entropy_terms, cross_entropy_grad, "softmax",
                          fused_row_grad, softmax_cross_entropy_logit_terms, "labels",
                          scale="samples"),
}
"""The losses known by name: the built-ins and those :func:`register_loss` added."""
ALIASES = {
    "ce": "cross_entropy",
    "softmax_cross_entropy": "cross_entropy",
    "categorical_crossentropy": "cross_entropy",
    "binary_cross_entropy": "bce",
    "log_loss": "bce",
    "sse": "half_sse",
    "squared_error": "mse",
}


BUILT_IN = frozenset(LOSSES)


def make_loss(name: str, terms: Callable[[Array, Array, Any], Array],
              grad: Callable[[Array, Array, Any], Array], *, scale: str = "elements",
              targets: str = "real") -> Loss:
    """Make a loss from its elementwise terms and its gradient.

    The value is ``sum(terms) / divisor`` with the divisor ``scale`` names; ``grad`` must be
    its gradient with respect to the outputs. Register it with :func:`register_loss` to use
    it by name; check it with :func:`xprop.check_loss`.

    Parameters
    ----------
    name : str
        A non-empty name (stripped and lower-cased).
    terms : callable
        ``terms(a, y, xp)``: the elementwise terms, shape ``(n, k)``.
    grad : callable
        ``grad(a, y, xp) = dL/da`` of the value, shape ``(n, k)``.
    scale : {"elements", "samples", "half", "half_samples"}, default="elements"
        The divisor: ``n k``, ``n``, ``2`` or ``2 n`` (see :class:`Loss`).
    targets : {"real", "counts", "binary", "labels"}, default="real"
        What targets it takes.

    Returns
    -------
    Loss
        The loss (not registered).

    Raises
    ------
    ValueError
        When ``name`` is empty, a built-in's (or an alias) or has parentheses, ``scale``
        or ``targets`` is not one of the choices, or ``terms``/``grad`` is not callable.

    Examples
    --------
    >>> quartic = xprop.make_loss(
    ...     "quartic", lambda a, y, xp: (a - y) ** 4,
    ...     lambda a, y, xp: 4.0 * (a - y) ** 3 / (a.shape[0] * a.shape[1]))
    >>> print(xprop.check_loss(quartic).verdict)
    passed
    """
    name = check_block_name(name, "name", "loss", BUILT_IN | set(ALIASES))
    if not isinstance(scale, str) or scale not in ("elements", "samples", "half",
                                                   "half_samples"):
        raise ValueError(f"scale: expected 'elements', 'samples', 'half' or 'half_samples', "
                         f"got {show(scale)}")
    if not isinstance(targets, str) or targets not in ("real", "counts", "binary", "labels"):
        raise ValueError(f"targets: expected 'real', 'counts', 'binary' or 'labels', got "
                         f"{show(targets)}")
    for arg, fn in (("terms", terms), ("grad", grad)):
        if not callable(fn):
            raise ValueError(f"{arg}: expected a function, got {show(fn)}")
    key = name.strip().lower()
    return Loss(key, _CheckedOutput(key, "terms(a, y, xp)", terms, "loss"),
                _CheckedOutput(key, "grad(a, y, xp)", grad, "loss"), targets=targets,
                scale=scale)


def register_loss(loss: Loss, *, replace: bool = False) -> Loss:
    """Make a loss known by its name, like a built-in.

    Models, checkpoints, pickles, the CLI and the gradient check then take the name.
    Built-in names are refused; a name registered before only with ``replace=True``.

    Parameters
    ----------
    loss : Loss
        What :func:`make_loss` made.
    replace : bool, default=False
        Whether to replace a loss registered under the same name.

    Returns
    -------
    Loss
        ``loss`` itself.

    Raises
    ------
    ValueError
        When ``loss`` is not a :class:`Loss`, its name is a built-in one (or an alias), or
        the name is registered and ``replace`` is False.

    Examples
    --------
    >>> quartic = xprop.make_loss(
    ...     "quartic", lambda a, y, xp: (a - y) ** 4,
    ...     lambda a, y, xp: 4.0 * (a - y) ** 3 / (a.shape[0] * a.shape[1]))
    >>> xprop.register_loss(quartic).name
    'quartic'
    >>> xprop.MLP([2, 3, 1], loss="quartic").loss_fn.name
    'quartic'
    >>> del xprop.LOSSES["quartic"]  # unregistered again
    """
    if not isinstance(loss, Loss):
        raise ValueError(f"loss: expected a Loss (see make_loss), got {show(loss)}")
    name = check_block_name(loss.name, "loss", "loss", BUILT_IN | set(ALIASES))
    if name != loss.name:
        raise ValueError(f"loss: its name {loss.name!r} is looked up as {name!r}; make it "
                         "with make_loss")
    if loss.name in LOSSES and not replace:
        raise ValueError(f"loss: {loss.name!r} is already registered; pass replace=True")
    LOSSES[loss.name] = loss
    return loss


def get_loss(spec: str | Loss) -> Loss:
    """Look a loss up by name.

    Parameters
    ----------
    spec : str or Loss
        A key of :data:`LOSSES` (any case; see the module's table), an alias (``ce``,
        ``log_loss``, ``sse``, ``squared_error``, ...), or a :class:`Loss` (returned as
        is).

    Returns
    -------
    Loss
        The loss.

    Raises
    ------
    ValueError
        When the name is unknown or ``spec`` is neither a string nor a :class:`Loss`.

    Examples
    --------
    >>> xprop.get_loss("CE").name
    'cross_entropy'
    >>> xprop.get_loss("hinge")
    Traceback (most recent call last):
    ...
    ValueError: loss: expected one of [...], got 'hinge'
    """
    if isinstance(spec, Loss):
        return spec
    if not isinstance(spec, str):
        raise ValueError(f"loss: expected one of {sorted(LOSSES)}, got {show(spec)}")
    key = spec.strip().lower()
    key = ALIASES.get(key, key)
    if key not in LOSSES:
        raise ValueError(f"loss: expected one of {sorted(LOSSES)}, got {show(spec)}")
    return LOSSES[key]


def one_hot(labels: Array, k: int, dtype: Any, xp: Any) -> Array:
    """One-hot rows for integer class labels.

    Parameters
    ----------
    labels : array
        Integer labels in ``[0, k)``, shape ``(n,)``.
    k : int
        The number of classes.
    dtype : dtype
        The floating dtype of the result (a dtype of ``xp``).
    xp : namespace
        The labels' Array-API namespace.

    Returns
    -------
    array
        Shape ``(n, k)`` on the labels' device: 1 at each row's label, else 0.

    Examples
    --------
    >>> from xprop.losses import one_hot
    >>> b = xprop.resolve_backend()
    >>> xprop.to_numpy(one_hot(b.from_host([0, 2]), 3, b.xp.float64, b.xp))
    array([[1., 0., 0.],
           [0., 0., 1.]])
    """
    classes = xp.arange(k, dtype=labels.dtype, device=device(labels))
    return xp.astype(labels[:, None] == classes[None, :], dtype)
