"""The output head: the output activation and the loss, taken together.

The head is the one place that knows what the last layer means:

- ``output_grad(z, a, Y)``: dL/dz of the last layer. For the fused pairs (sigmoid + ``bce``
  or ``binary_log_loss``, softmax + ``cross_entropy``, exp + ``poisson``) it is
  ``(a - Y) / N``; otherwise the chain rule
  ``f'(z) * dL/da`` through the activation's vector-Jacobian product.
- ``value(z, a, Y)``: the loss, from the logits ``z`` for fused pairs (exact, no ``eps``).
- ``prepare_targets(y, ...)``: user targets -> ``(n, k)`` arrays of the model's dtype (class
  labels -> one-hot for softmax heads, 0/1 checks for binary heads) plus integer labels for
  accuracy.
- ``decide(out)``: predictions: argmax for softmax, a threshold for sigmoid (0.5) or
  ``bce_with_logits`` (logit 0), the raw output for regression.
- ``hits(out, Y, labels)``: the number of correct predictions.

Valid pairs (anything else is refused when a model is made, naming these):

| loss | output activation | targets | predict |
|---|---|---|---|
| ``cross_entropy`` | ``softmax`` | labels or probability rows | argmax |
| ``bce`` | ``sigmoid`` | values in [0, 1] | a > 0.5 |
| ``bce_with_logits`` | ``identity`` | values in [0, 1] | z > 0 |
| ``binary_log_loss`` | ``sigmoid`` | values in [0, 1] | a > 0.5 |
| ``poisson`` | ``exp`` | counts (values >= 0) | a itself |
| ``mse``, ``half_sse``, ``half_squared_error`` | ``softmax`` | labels or one-hot rows | argmax |
| ``mse``, ``half_sse``, ``half_squared_error`` | ``sigmoid`` | real values | a > 0.5 |
| ``mse``, ``half_sse``, ``half_squared_error`` | any other elementwise one | real values | a |
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from array_api_compat import array_namespace, device

from xprop import validation as V
from xprop.activations import Activation, get_activation
from xprop.backend.base import dtype_name
from xprop.backend.core import adapter_of_namespace
from xprop.losses import Loss, get_loss, one_hot

Array = Any

__all__ = ["Head", "Task", "default_output_activation", "infer_task", "make_head"]

# loss -> the output activations it may follow (None: any that is not listed as exclusive)
_ONLY = {"cross_entropy": ("softmax",), "bce": ("sigmoid",), "bce_with_logits": ("identity",),
         "binary_log_loss": ("sigmoid",), "poisson": ("exp",)}
_DEFAULT_OUTPUT = {"cross_entropy": "softmax", "bce": "sigmoid", "bce_with_logits": "identity",
                   "binary_log_loss": "sigmoid", "poisson": "exp"}


@dataclass(frozen=True)
class Head:
    """An output activation and a loss that fit together (see the module docstring).

    Made by :func:`make_head`, which refuses pairs that do not fit.

    Parameters
    ----------
    activation : Activation
        The output activation.
    loss : Loss
        The loss.
    targets : {"labels", "binary", "real", "counts"}
        What targets it takes: integer class labels (one-hot encoded) or rows of
        probabilities, values in [0, 1], real values, or counts >= 0.
    decision : {"argmax", "threshold", "none"}
        How :meth:`decide` predicts: the largest output, outputs above ``threshold``, or
        the output itself (regression).
    threshold : float, default=0.5
        The threshold of ``decision="threshold"`` (0 for logits).

    Attributes
    ----------
    fused : bool
        True for the fused pairs (sigmoid + ``bce``, softmax + ``cross_entropy``, exp +
        ``poisson``): their gradient with respect to ``z`` is ``(a - Y) / N``.

    Examples
    --------
    >>> from xprop.head import make_head
    >>> head = make_head("softmax", "cross_entropy")
    >>> head.name, head.fused, head.targets, head.decision
    ('softmax+cross_entropy', True, 'labels', 'argmax')
    """

    activation: Activation
    loss: Loss
    targets: str
    decision: str
    threshold: float = 0.5

    @property
    def name(self) -> str:
        """``activation+loss``, e.g. ``softmax+cross_entropy``."""
        return f"{self.activation.name}+{self.loss.name}"

    fused: bool = field(init=False, repr=False, compare=False)
    """True for sigmoid + bce and softmax + cross_entropy (gradient ``(a - y) / N``)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "fused", self.loss.fused_activation == self.activation.name)

    @property
    def is_classifier(self) -> bool:
        """Whether predictions are classes (and accuracy is defined)."""
        return self.decision != "none"

    @property
    def summed(self) -> bool:
        """True when the loss is a sum over samples (``half_sse``), not a mean."""
        return self.loss.reduction == "sum"

    def divisor(self, n: int) -> int:
        """What the sum of ``n`` samples' losses (:meth:`rows`) is divided by.

        It gives the loss: ``n``, or 1 when the loss is a sum (:attr:`summed`).

        Parameters
        ----------
        n : int
            The number of samples.

        Returns
        -------
        int
            ``n`` or 1.

        Examples
        --------
        >>> from xprop.head import make_head
        >>> make_head("softmax", "cross_entropy").divisor(8), make_head("identity",
        ...                                                              "half_sse").divisor(8)
        (8, 1)
        """
        return 1 if self.summed else n

    # ---------------------------------------------------------------- the math

    def forward(self, z: Array, xp: Any) -> Array:
        """The network output ``a = f(z)``.

        Parameters
        ----------
        z : array
            The last layer's pre-activations, shape ``(n, k)``.
        xp : namespace
            Their Array-API namespace.

        Returns
        -------
        array
            ``a``, shape ``(n, k)``.

        Examples
        --------
        >>> from xprop.head import make_head
        >>> b = xprop.resolve_backend()
        >>> a = make_head("softmax", "cross_entropy").forward(b.from_host([[0.0, 0.0]]), b.xp)
        >>> xprop.to_numpy(a)
        array([[0.5, 0.5]])
        """
        return self.activation.forward(z, xp)

    def output_grad(self, z: Array, a: Array, Y: Array, xp: Any) -> Array:
        """The gradient ``dL/dz`` of the last layer, where backprop starts.

        ``(a - Y) / N`` for fused pairs, else the chain rule ``f'(z) * dL/da`` through the
        activation's vector-Jacobian product.

        Parameters
        ----------
        z : array
            The last layer's pre-activations, shape ``(n, k)``.
        a : array
            The output ``f(z)``.
        Y : array
            Prepared targets (see :meth:`prepare_targets`), shape ``(n, k)``.
        xp : namespace
            Their Array-API namespace.

        Returns
        -------
        array
            ``dZ_{L-1}``, shape ``(n, k)``.

        Examples
        --------
        >>> from xprop.head import make_head
        >>> b, xp = xprop.resolve_backend(), xprop.resolve_backend().xp
        >>> head = make_head("softmax", "cross_entropy")
        >>> z = b.from_host([[0.0, 0.0], [0.0, 0.0]])
        >>> Y = b.from_host([[1.0, 0.0], [0.0, 1.0]])
        >>> xprop.to_numpy(head.output_grad(z, head.forward(z, xp), Y, xp))  # (a - Y) / n
        array([[-0.25,  0.25],
               [ 0.25, -0.25]])
        """
        if self.fused:
            return self.loss.fused_grad(a, Y, xp)
        return self.activation.backward(self.loss.grad(a, Y, xp), z, a, xp)

    def value(self, z: Array, a: Array, Y: Array, xp: Any) -> Array:
        """The loss, from the logits ``z`` for fused pairs (exact).

        Parameters
        ----------
        z : array
            The last layer's pre-activations, shape ``(n, k)``.
        a : array
            The output ``f(z)``.
        Y : array
            Prepared targets, shape ``(n, k)``.
        xp : namespace
            Their Array-API namespace.

        Returns
        -------
        array
            A 0-d array of ``z``'s dtype.

        Examples
        --------
        >>> from xprop.head import make_head
        >>> b, xp = xprop.resolve_backend(), xprop.resolve_backend().xp
        >>> head = make_head("sigmoid", "bce")
        >>> z, Y = b.from_host([[0.0]]), b.from_host([[1.0]])
        >>> round(float(head.value(z, head.forward(z, xp), Y, xp)), 6)  # log 2
        0.693147
        """
        if self.fused:
            return self.loss.value_from_logits(z, Y, xp)
        return self.loss.value(a, Y, xp)

    def rows(self, z: Array, a: Array, Y: Array, xp: Any) -> Array:
        """Per-sample losses (from the logits for fused pairs).

        The value is their mean, or their sum when :attr:`summed`. Training loops add them
        up over epochs (``z`` and ``a`` may be stacks ``(epochs, n, k)``; ``Y``
        broadcasts).

        Parameters
        ----------
        z : array
            Pre-activations ``(..., n, k)``.
        a : array
            Outputs ``f(z)``, same shape.
        Y : array
            Prepared targets ``(n, k)``.
        xp : namespace
            Their Array-API namespace.

        Returns
        -------
        array
            Shape ``(..., n)``.

        Examples
        --------
        >>> from xprop.head import make_head
        >>> b, xp = xprop.resolve_backend(), xprop.resolve_backend().xp
        >>> head = make_head("identity", "mse")
        >>> z, Y = b.from_host([[1.0], [3.0]]), b.from_host([[0.0], [0.0]])
        >>> xprop.to_numpy(head.rows(z, z, Y, xp))
        array([1., 9.])
        """
        if self.fused:
            return self.loss.rows(z, Y, xp, logits=True)
        return self.loss.rows(a, Y, xp)

    def decide(self, out: Array, xp: Any) -> Array:
        """Predictions from the network output.

        Parameters
        ----------
        out : array
            The network output, shape ``(n, k)``.
        xp : namespace
            Its Array-API namespace.

        Returns
        -------
        array
            Class indices ``(n,)`` (argmax), 0/1 integers (threshold; ``(n,)`` for one
            output) or ``out`` itself (regression).

        Examples
        --------
        >>> from xprop.head import make_head
        >>> b = xprop.resolve_backend()
        >>> out = b.from_host([[0.2], [0.7]])
        >>> xprop.to_numpy(make_head("sigmoid", "bce").decide(out, b.xp))
        array([0, 1])
        """
        if self.decision == "argmax":
            return argmax_rows(out, xp)
        if self.decision == "none":
            return out
        pred = xp.astype(out > self.threshold, label_dtype(out, xp))
        return pred[:, 0] if out.shape[1] == 1 else pred

    def check_decidable(self, out: Array, xp: Any) -> None:
        """Refuse a classifier's output with a row that is not finite.

        Such a row comes from a forward pass that overflowed: its argmax or threshold would
        name an arbitrary class. One device sync; nothing for regression heads.

        Parameters
        ----------
        out : array
            The network output, shape ``(n, k)``.
        xp : namespace
            Its Array-API namespace.

        Raises
        ------
        ValueError
            Naming how many rows and the first.

        Examples
        --------
        >>> from xprop.head import make_head
        >>> b = xprop.resolve_backend()
        >>> make_head("sigmoid", "bce").check_decidable(b.from_host([[0.2], [float("nan")]]),
        ...                                             b.xp)
        Traceback (most recent call last):
        ...
        ValueError: X: the network's output is NaN or inf for 1 of 2 rows (the first: row 1), ...
        """
        if self.decision == "none" or not xp.isdtype(out.dtype, "real floating"):
            return
        bad = ~xp.all(xp.isfinite(out), axis=1)
        if bool(xp.any(bad)):  # (counted in the output's dtype: devices without int64)
            bad = xp.astype(bad, out.dtype)
            first = int(argmax_rows(xp.reshape(bad, (1, -1)), xp)[0])
            raise ValueError(
                f"X: the network's output is NaN or inf for {int(xp.sum(bad))} of "
                f"{out.shape[0]} rows (the first: row {first}), so no class can be predicted "
                "for them: the forward pass overflows (inputs far outside the training data?)")

    def probabilities(self, out: Array, xp: Any) -> Array:
        """Class probabilities from the network output (classifiers only).

        Parameters
        ----------
        out : array
            The network output, shape ``(n, k)``.
        xp : namespace
            Its Array-API namespace.

        Returns
        -------
        array
            Shape ``(n, k)``: softmax rows or sigmoid values per output as they are; for
            logits (``bce_with_logits``, threshold 0) their sigmoid.

        Raises
        ------
        ValueError
            For a regression head.

        Examples
        --------
        >>> from xprop.head import make_head
        >>> b = xprop.resolve_backend()
        >>> head = make_head("identity", "bce_with_logits")
        >>> xprop.to_numpy(head.probabilities(b.from_host([[0.0]]), b.xp))
        array([[0.5]])
        """
        self.check_probabilities()
        if self.decision == "threshold" and self.threshold == 0.0:  # logits
            return get_activation("sigmoid").forward(out, xp)
        return out

    def check_probabilities(self) -> None:
        """Refuse a regression head's probabilities, before any work.

        Raises
        ------
        ValueError
            For a regression head.

        Examples
        --------
        >>> from xprop.head import make_head
        >>> try:
        ...     make_head("identity", "mse").check_probabilities()
        ... except ValueError as e:
        ...     print(str(e).split(";")[0])
        predict_proba: defined for classifiers
        """
        if self.decision == "none":
            raise ValueError(f"predict_proba: defined for classifiers; this model has the "
                             f"{self.name} head (regression)")

    def truth(self, Y: Array, labels: Array | None, xp: Any) -> Array | None:
        """What predictions are compared with (None for regression heads), once per data set.

        Parameters
        ----------
        Y : array
            Prepared targets, shape ``(n, k)``.
        labels : array or None
            Integer class labels ``(n,)`` when the head takes labels (from
            :meth:`prepare_targets`); None takes ``argmax(Y)``.
        xp : namespace
            Their Array-API namespace.

        Returns
        -------
        array or None
            The class labels ``(n,)`` for argmax heads, ``Y > 0.5`` (bool, shape ``(n, k)``)
            for threshold heads, None for regression heads.

        Examples
        --------
        >>> from xprop.head import make_head
        >>> b = xprop.resolve_backend()
        >>> Y = b.from_host([[0.0, 1.0], [1.0, 0.0]])
        >>> xprop.to_numpy(make_head("softmax", "cross_entropy").truth(Y, None, b.xp))
        array([1, 0])
        """
        if not self.is_classifier:
            return None
        if self.decision == "argmax":
            return labels if labels is not None else argmax_rows(Y, xp)
        return Y > 0.5

    def hit_rows(self, out: Array, truth: Array, xp: Any) -> Array:
        """Whether each prediction is right against :meth:`truth`.

        Parameters
        ----------
        out : array
            Network outputs ``(..., n, k)``.
        truth : array
            What :meth:`truth` gave.
        xp : namespace
            Their Array-API namespace.

        Returns
        -------
        array
            Bool, shape ``(..., n)``; with several threshold outputs, all must match.

        Examples
        --------
        >>> from xprop.head import make_head
        >>> b = xprop.resolve_backend()
        >>> head = make_head("softmax", "cross_entropy")
        >>> out = b.from_host([[0.9, 0.1], [0.8, 0.2]])
        >>> xprop.to_numpy(head.hit_rows(out, b.from_host([0, 1]), b.xp))
        array([ True, False])
        """
        if self.decision == "argmax":
            index = argmax_rows(out, xp)  # the namespace's index dtype (int32: JAX, no x64)
            return index == xp.astype(truth, index.dtype)
        eq = (out > self.threshold) == truth
        return eq[..., 0] if eq.shape[-1] == 1 else xp.all(eq, axis=-1)

    def count_hits(self, out: Array, truth: Array, xp: Any) -> Array:
        """The number of correct predictions against :meth:`truth` (no device sync).

        Parameters
        ----------
        out : array
            Network outputs ``(..., n, k)``.
        truth : array
            What :meth:`truth` gave.
        xp : namespace
            Their Array-API namespace.

        Returns
        -------
        array
            A 0-d array of ``out.dtype``.

        Examples
        --------
        >>> from xprop.head import make_head
        >>> b = xprop.resolve_backend()
        >>> head = make_head("softmax", "cross_entropy")
        >>> out = b.from_host([[0.9, 0.1], [0.8, 0.2]])
        >>> float(head.count_hits(out, b.from_host([0, 1]), b.xp))
        1.0
        """
        return xp.sum(xp.astype(self.hit_rows(out, truth, xp), out.dtype))

    def hits(self, out: Array, Y: Array, labels: Array | None, xp: Any) -> Array:
        """The number of correct predictions of ``out`` for targets ``Y`` (no device sync).

        Parameters
        ----------
        out : array
            The network output, shape ``(n, k)``.
        Y : array
            Prepared targets, shape ``(n, k)``.
        labels : array or None
            Integer class labels ``(n,)`` when the head takes labels, else None.
        xp : namespace
            Their Array-API namespace.

        Returns
        -------
        array
            A 0-d array of ``out.dtype``.

        Raises
        ------
        ValueError
            For a regression head (accuracy is not defined).

        Examples
        --------
        >>> from xprop.head import make_head
        >>> b = xprop.resolve_backend()
        >>> out, Y = b.from_host([[0.2], [0.7], [0.9]]), b.from_host([[0.0], [1.0], [0.0]])
        >>> float(make_head("sigmoid", "bce").hits(out, Y, None, b.xp))
        2.0
        """
        if self.decision == "none":
            raise ValueError(f"accuracy: not defined for a {self.name} head (regression)")
        return self.count_hits(out, self.truth(Y, labels, xp), xp)

    # ---------------------------------------------------------------- targets

    def prepare_targets(self, y: Any, n: int, k: int, backend: Any, dtype: Any,
                        xp: Any, *, place: bool = True) -> tuple[Array, Array | None]:
        """Check user targets and bring them to the model's device as ``(Y, labels)``.

        Host targets are checked on the host (no device read per check), then moved once.

        Parameters
        ----------
        y : array_like
            Targets: class labels or one-hot/probability rows for ``labels`` heads, values
            in [0, 1] for binary heads, real values (``(n,)`` for one output) otherwise;
            host data or arrays of ``backend``.
        n : int
            The number of samples (rows of ``X``).
        k : int
            The number of outputs.
        backend : Backend
            The model's backend.
        dtype : dtype
            The model's floating dtype (a dtype of ``xp``).
        xp : namespace
            The backend's namespace.
        place : bool, default=True
            False: host targets stay on the host, checked and cast (NumPy arrays, for a
            caller that picks rows before it moves them with ``backend.place``).

        Returns
        -------
        Y : array
            Shape ``(n, k)``, of ``dtype`` on the backend's device.
        labels : array or None
            The integer classes ``(n,)``, or None unless the head takes labels.

        Raises
        ------
        ValueError
            Targets of the wrong shape or count, non-finite, labels outside ``[0, k)``,
            values outside [0, 1] for a binary head, rows that are not distributions.
        TypeError
            Non-numeric targets, or labels with fractions.

        Examples
        --------
        >>> from xprop.head import make_head
        >>> b = xprop.resolve_backend()
        >>> head = make_head("softmax", "cross_entropy")
        >>> Y, labels = head.prepare_targets([0, 2], 2, 3, b, b.dtype("float64"), b.xp)
        >>> xprop.to_numpy(Y), xprop.to_numpy(labels)
        (array([[1., 0., 0.],
               [0., 0., 1.]]), array([0, 2]))
        >>> head.prepare_targets([0, 3], 2, 3, b, b.dtype("float64"), b.xp)
        Traceback (most recent call last):
        ...
        ValueError: y: expected class labels in [0, 3) for 3 outputs, got labels from 0 to 3
        """
        if self.targets == "labels":  # labels keep their type (no rounding before the check
            y, xq = backend.stage(y, "y")  # for fractions); rows are cast in _targets
        else:
            y, xq = backend.stage(y, "y", dtype)
        # host targets are checked on the host (no device read per check), then moved
        Y, labels = self._targets(y, n, k, getattr(xq, dtype_name(dtype, xp)), xq)
        return (backend.place(Y), backend.place(labels)) if place else (Y, labels)

    def _targets(self, y: Array, n: int, k: int, dtype: Any,
                 xp: Any) -> tuple[Array, Array | None]:
        """:meth:`prepare_targets` on targets ``y`` of namespace ``xp`` (cast to ``dtype``
        unless they are class labels)."""
        if self.targets == "labels":
            if y.ndim == 2 and y.shape[1] == 1 and k > 1:  # a column of labels (one-hot
                y = xp.reshape(y, (-1,))  # rows have k entries), as scikit-learn takes it
            if y.ndim == 1:
                labels = self._labels(y, n, k, xp)
                return one_hot(labels, k, dtype, xp), labels
            Y = xp.astype(y, dtype) if y.dtype != dtype else y
            _check_targets_shape(Y, n, k)
            V.check_finite(Y, "y", xp)
            if self.loss.targets == "labels":  # cross-entropy needs distributions
                V.check_distributions(Y, "y", xp)
            return Y, argmax_rows(Y, xp)
        if y.ndim == 1 and k == 1:
            y = xp.reshape(y, (-1, 1))
        _check_targets_shape(y, n, k)
        V.check_finite(y, "y", xp)
        if self.targets == "binary":
            lo, hi = float(xp.min(y)), float(xp.max(y))
            if lo < 0.0 or hi > 1.0:
                raise ValueError(
                    f"y: {self.loss.name} expects targets in [0, 1], got values from "
                    f"{lo} to {hi}"
                )
        if self.targets == "counts" and float(xp.min(y)) < 0.0:
            raise ValueError(f"y: {self.loss.name} expects targets >= 0, got a minimum of "
                             f"{float(xp.min(y))}")
        return y, None

    def _labels(self, y: Array, n: int, k: int, xp: Any) -> Array:
        """1-D targets of a softmax head as integer class labels in [0, k)."""
        V.check_rows(y.shape, n)
        labels = label_dtype(y, xp)
        if xp.isdtype(y.dtype, "bool"):
            y = xp.astype(y, labels)
        elif xp.isdtype(y.dtype, "real floating"):
            V.check_finite(y, "y", xp)
            if not bool(xp.all(y == xp.round(y))):
                raise TypeError(
                    f"y: {self.name} expects integer class labels in [0, {k}) or "
                    f"one-hot of shape ({n}, {k}); got {y.dtype} labels with fractions"
                )
        elif not xp.isdtype(y.dtype, "integral"):
            raise TypeError(f"y: expected class labels, got dtype {y.dtype}")
        # the range of the values as given, read where nothing wraps (PyTorch has no min/max
        # for unsigned tensors: uint8-32 as int64, uint64 as float64); labels after the check
        seen = y
        if xp.isdtype(y.dtype, "unsigned integer") and labels == xp.int64:
            seen = xp.astype(y, xp.float64 if y.dtype == xp.uint64 else xp.int64)
        lo, hi = xp.min(seen), xp.max(seen)
        if float(lo) < 0 or float(hi) >= k:
            shown = (f"{int(lo)} to {int(hi)}" if xp.isdtype(seen.dtype, "integral")
                     else f"{float(lo):g} to {float(hi):g}")
            raise ValueError(
                f"y: expected class labels in [0, {k}) for {k} outputs, got labels from {shown}")
        return xp.astype(y, labels)

    def coerce_targets(self, y: Array, n: int, k: int, dtype: Any, xp: Any) -> Array:
        """Shape targets already on the device as ``(n, k)``.

        For the low-level ``backward``: integer labels are checked (one per sample, in
        ``[0, k)``: one read of their range) and one-hot encoded for softmax heads, and
        cross-entropy's rows checked as probability distributions (one read); ``(n,)``
        becomes ``(n, 1)`` for one output; the dtype must be the model's.

        Parameters
        ----------
        y : array
            Targets on the model's device.
        n : int
            The number of samples.
        k : int
            The number of outputs.
        dtype : dtype
            The model's floating dtype.
        xp : namespace
            The targets' namespace.

        Returns
        -------
        array
            Shape ``(n, k)``, of ``dtype``.

        Raises
        ------
        ValueError
            When the shape does not fit ``(n, k)``, or cross-entropy's rows are not
            probability distributions.
        TypeError
            When floating targets are not of ``dtype``.

        Examples
        --------
        >>> from xprop.head import make_head
        >>> b = xprop.resolve_backend()
        >>> head = make_head("sigmoid", "bce")
        >>> Y = head.coerce_targets(b.from_host([0.0, 1.0]), 2, 1, b.dtype("float64"), b.xp)
        >>> tuple(Y.shape)
        (2, 1)
        """
        if y.ndim == 1:
            if self.targets == "labels" and xp.isdtype(y.dtype, "integral"):
                return one_hot(self._labels(y, n, k, xp), k, dtype, xp)
            if k != 1:
                raise ValueError(f"y: expected shape ({n}, {k}), got {tuple(y.shape)}")
            y = xp.reshape(y, (-1, 1))
        if tuple(y.shape) != (n, k):
            raise ValueError(f"y: expected shape ({n}, {k}), got {tuple(y.shape)}")
        if y.dtype != dtype:
            raise TypeError(f"y: expected dtype {dtype} (the model's), got {y.dtype}")
        if self.targets == "labels" and self.loss.targets == "labels":
            V.check_distributions(y, "y", xp)  # (a - y) / n is the gradient of rows of sum 1
        return y


def _check_targets_shape(Y: Array, n: int, k: int) -> None:
    if Y.ndim >= 1:
        V.check_rows(Y.shape, n)
    if tuple(Y.shape) != (n, k):
        expected = f"({n},) or ({n}, 1)" if k == 1 else f"({n}, {k})"
        raise ValueError(f"y: expected shape {expected}, got {tuple(Y.shape)}")


def _valid_pairs() -> str:
    exclusive = ", ".join(f"{_ONLY[loss][0]}+{loss}" for loss in _ONLY)
    return (f"{exclusive}, or mse/half_sse after any output activation (softmax, sigmoid, "
            "identity, tanh, ...)")


def make_head(output_activation: str | Activation, loss: str | Loss) -> Head:
    """Make the head for an output activation and a loss.

    Parameters
    ----------
    output_activation : str or Activation
        The output activation (a name or an object).
    loss : str or Loss
        The loss (a name or an object).

    Returns
    -------
    Head
        The head; its targets and decision rule follow from the pair (see the module
        docstring's table).

    Raises
    ------
    ValueError
        For an unknown name, or a pair that does not fit (the message names the valid
        pairs).

    Examples
    --------
    >>> from xprop.head import make_head
    >>> make_head("sigmoid", "bce").decision
    'threshold'
    >>> make_head("identity", "mse").is_classifier
    False
    >>> make_head("tanh", "cross_entropy")
    Traceback (most recent call last):
    ...
    ValueError: output_activation, loss: cross_entropy needs a softmax output, got tanh; ...
    """
    try:
        act = get_activation(output_activation)
    except ValueError as e:  # its message names "activation"; this one is the output's
        raise ValueError(f"output_{e}") from None
    lossf = get_loss(loss)
    base = act.name.split("(")[0]
    allowed = _ONLY.get(lossf.name)
    if allowed is not None and base not in allowed:
        raise ValueError(
            f"output_activation, loss: {lossf.name} needs a {allowed[0]} output, got "
            f"{act.name}; valid pairs: {_valid_pairs()}"
        )
    if lossf.name in ("mse", "half_sse") or allowed is None:
        if base == "softmax":
            return Head(act, lossf, "labels", "argmax")
        if base == "sigmoid":
            return Head(act, lossf, "real", "threshold", 0.5)
        return Head(act, lossf, lossf.targets, "none")
    if lossf.targets in ("real", "counts"):
        return Head(act, lossf, lossf.targets, "none")
    if lossf.targets == "labels":
        return Head(act, lossf, "labels", "argmax")
    threshold = 0.5 if base == "sigmoid" else 0.0
    return Head(act, lossf, "binary", "threshold", threshold)


def default_output_activation(loss: str | Loss) -> str:
    """The output activation a loss is normally paired with.

    Parameters
    ----------
    loss : str or Loss
        A loss (name or object).

    Returns
    -------
    str
        ``softmax`` for ``cross_entropy``, ``sigmoid`` for ``bce``, ``identity`` for
        ``bce_with_logits`` and regression losses, ``exp`` for ``poisson``.

    Examples
    --------
    >>> from xprop.head import default_output_activation
    >>> default_output_activation("cross_entropy"), default_output_activation("mse")
    ('softmax', 'identity')
    """
    return _DEFAULT_OUTPUT.get(get_loss(loss).name, "identity")


@dataclass(frozen=True)
class Task:
    """What to build for some targets, as :func:`infer_task` decides it.

    Parameters
    ----------
    n_outputs : int
        The number of outputs of the network.
    output_activation : str
        The output activation's name.
    loss : str
        The loss's name.
    y : array
        The targets as the model should get them (int64 labels, float64 values).

    Examples
    --------
    >>> from xprop.head import Task
    >>> Task(3, "softmax", "cross_entropy", np.array([0, 2, 1])).n_outputs
    3
    """

    n_outputs: int
    output_activation: str
    loss: str
    y: Any


def infer_task(y: Any, loss: str | None = None, output_activation: str | None = None) -> Task:
    """Decide the network's outputs, head and targets from host targets.

    The same rules for every file format and caller:

    - ``bool`` labels are the classes 0 and 1;
    - 1-D integer labels, and 1-D floats that are all whole numbers (``0.0``/``1.0`` read from
      a file), are class labels: ``max + 1`` softmax outputs with ``cross_entropy`` (more
      classes than samples is refused: a whole-number regression target, such as prices,
      takes a regression loss);
    - with ``loss`` ``bce``/``bce_with_logits``: 0/1 targets, one output per column;
    - with a regression loss (``mse``, ``half_sse``, ``poisson``) or an ``identity``/``exp``
      output and no loss: regression on the values, whole numbers included;
    - anything else is regression: identity outputs with ``mse``.

    Parameters
    ----------
    y : array
        Host targets (a NumPy array), 1-D or 2-D.
    loss : str or None, default=None
        An explicit loss name.
    output_activation : str or None, default=None
        An explicit output activation name.

    Returns
    -------
    Task
        The number of outputs, the head's names and the targets as the model takes them.

    Raises
    ------
    ValueError
        Targets that are empty or not 1-D/2-D, negative labels, labels beyond 64-bit
        integers, more classes than samples, or non-0/1 targets for ``bce``.

    Examples
    --------
    >>> from xprop.head import infer_task
    >>> task = infer_task(np.array([0, 2, 1, 2]))
    >>> task.n_outputs, task.output_activation, task.loss
    (3, 'softmax', 'cross_entropy')
    >>> infer_task(np.array([0.5, 1.5])).loss
    'mse'
    >>> infer_task(np.array([0.0, 1.0]), loss="bce").output_activation
    'sigmoid'
    """
    xp = array_namespace(y)
    if y.ndim not in (1, 2):
        raise ValueError(f"y: expected 1-D labels or 2-D targets, got shape {tuple(y.shape)}")
    if y.shape[0] < 1:
        raise ValueError("y: expected at least one target, got none")
    if y.ndim == 2 and y.shape[1] < 1:
        raise ValueError(f"y: expected at least one target column, got shape {tuple(y.shape)}")
    if xp.isdtype(y.dtype, "bool"):
        y = xp.astype(y, label_dtype(y, xp))
    if xp.isdtype(y.dtype, "unsigned integer") and y.shape[0] and \
            int(xp.max(y)) > 2**63 - 1:  # int64 would wrap them to negative numbers
        raise ValueError(f"y: labels up to {int(xp.max(y))} do not fit 64-bit integers "
                         "(class labels are 0, 1, 2, ...)")
    loss_name = get_loss(loss).name if loss else None
    n_cols = 1 if y.ndim == 1 else int(y.shape[1])
    if (loss_name is not None and get_loss(loss_name).targets in ("real", "counts")) or \
            (output_activation is not None and loss_name is None
             and output_activation in ("identity", "exp")):
        # an explicit regression head means regression, whole-number targets included
        yf = xp.astype(y, xp.float64)
        return Task(n_cols, output_activation or default_output_activation(
            loss_name or "mse"), loss_name or "mse", yf)
    if loss_name in ("bce", "bce_with_logits"):
        yf = xp.astype(y, xp.float64)
        if not bool(xp.all((yf == 0.0) | (yf == 1.0))):
            raise ValueError(f"loss {loss_name}: needs 0/1 labels, got values from "
                             f"{float(xp.min(yf)):g} to {float(xp.max(yf)):g}")
        return Task(n_cols, output_activation or default_output_activation(loss_name),
                    loss_name, yf)
    whole = y.ndim == 1 and (
        xp.isdtype(y.dtype, "integral")
        or (xp.isdtype(y.dtype, "real floating") and bool(xp.all(xp.isfinite(y)))
            and bool(xp.all(y == xp.round(y))))
    )
    if whole:
        if xp.isdtype(y.dtype, "real floating") and float(xp.max(xp.abs(y))) >= 2.0**63:
            raise ValueError(f"y: whole-number labels up to {float(xp.max(xp.abs(y))):g} do "
                             "not fit 64-bit integers (class labels are 0, 1, 2, ...); for "
                             "regression pass loss='mse'")
        labels = xp.astype(y, label_dtype(y, xp))
        lo, k, n = int(xp.min(labels)), int(xp.max(labels)) + 1, int(y.shape[0])
        if lo < 0:
            raise ValueError(f"y: class labels must be >= 0, got {lo}")
        if k < 2:
            raise ValueError("y: only one class (label 0) in the labels: a classifier needs "
                             "two or more; for regression pass loss='mse'")
        if k > max(2, n):  # a whole-number regression target (prices, counts, years)
            raise ValueError(f"y: whole-number labels up to {k - 1} would make {k} classes for "
                             f"{n} samples (class labels are 0, 1, 2, ..., fewer than the "
                             "samples); for regression pass loss='mse'")
        return Task(k, output_activation or "softmax", loss_name or "cross_entropy", labels)
    return Task(n_cols, output_activation or "identity", loss_name or "mse", y)


def argmax_rows(x: Array, xp: Any) -> Array:
    """``argmax(x, axis=-1)``: each row's class, by the namespace's adapter (which works
    around a library whose ``argmax`` fails on a device)."""
    return adapter_of_namespace(xp).argmax(x, xp)


def label_dtype(x: Array, xp: Any) -> Any:
    """The dtype of class labels and decisions made from ``x``: int64, or int32 on a device
    without 64-bit integers (JAX without x64, array-api-strict's ``no_x64``), where int64
    would be refused or silently narrowed with a warning."""
    return xp.int64 if adapter_of_namespace(xp).wide_integers(xp, device(x)) else xp.int32
