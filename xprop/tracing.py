"""Every number of one forward and backward pass, beside the formula that made it.

:func:`trace` runs the library's own :func:`xprop.network.forward` and
:func:`xprop.network.backward` (the functions ``fit`` uses; backward records its deltas when
asked) on any backend and brings the results to the host for display. In the notation of
:mod:`xprop.network`::

    forward,  i = 0 .. L-1:   Z_i = A_i @ W_i + b_i       A_{i+1} = f_i(Z_i)
    backward, i = L-1 .. 0:   dZ_{L-1} from the head      dW_i = A_i.T @ dZ_i
                              db_i = sum(dZ_i, axis=0)    dA_i = dZ_i @ W_i.T
                              dZ_{i-1} = f_{i-1}'(Z_{i-1}) * dA_i

``dA_0`` is ``dL/dX`` (``dL/dX`` times ``std`` with a standardizer, whose
``A_0 = (X - mean) / std``). With ``lr``, the parameters after one plain gradient step
``W_i - lr dW_i`` (:class:`xprop.SGD`'s update, as ``fit`` takes it).

>>> import xprop
>>> model = xprop.MLP.from_arrays([[[0.15, 0.25], [0.20, 0.30]], [[0.40, 0.50], [0.45, 0.55]]],
...                               [[0.35, 0.35], [0.60, 0.60]], "sigmoid", "sigmoid", "half_sse")
>>> t = xprop.trace(model, [[0.05, 0.10]], [[0.01, 0.99]], lr=0.5)
>>> round(t.loss, 9)
0.298371109
>>> round(float(t.updated["W1"][0, 0]), 8)
0.35891648
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xprop import network
from xprop.backend import to_numpy
from xprop.optimizers import SGD
from xprop.params import Params
from xprop.validation import check_given, check_model, check_positive

__all__ = ["LayerTrace", "Trace", "trace"]

#: arrays with at most this many entries are printed in full; larger ones as a summary
SHOW_ENTRIES = 64


@dataclass(frozen=True)
class LayerTrace:
    """Layer ``index`` (``A_i -> Z_i -> A_{i+1}``) of a traced pass, host arrays: its
    parameters ``W`` ``(n_i, n_{i+1})`` and ``b`` ``(n_{i+1},)`` (None without biases), input
    ``A_in`` ``(n, n_i)``, pre-activation ``Z`` and output ``A_out`` ``(n, n_{i+1})``, and the
    gradients ``dZ`` (like ``Z``), ``dW``, ``db`` (like the parameters) and ``dA`` (like
    ``A_in``: the gradient with respect to the layer's input)."""

    index: int
    activation: str
    W: np.ndarray
    b: np.ndarray | None
    A_in: np.ndarray
    Z: np.ndarray
    A_out: np.ndarray
    dZ: np.ndarray
    dW: np.ndarray
    db: np.ndarray | None
    dA: np.ndarray

    def forward_rows(self) -> list[tuple[str, str, np.ndarray]]:
        """``(name, formula, value)`` of the layer's forward quantities."""
        i = self.index
        bias = f" + b_{i}" if self.b is not None else ""
        rows = [(f"W_{i}", "parameter", self.W)]
        if self.b is not None:
            rows.append((f"b_{i}", "parameter", self.b))
        return [*rows, (f"Z_{i}", f"A_{i} @ W_{i}{bias}", self.Z),
                (f"A_{i + 1}", f"{self.activation}(Z_{i})", self.A_out)]

    def backward_rows(self, output_formula: str | None,
                      standardized: bool = False) -> list[tuple[str, str, np.ndarray]]:
        """``(name, formula, value)`` of the layer's backward quantities; ``output_formula``:
        the head's ``dZ`` formula for the last layer (None for the others); ``standardized``:
        ``A_0`` is the standardised ``X`` (then ``dA_0`` is ``dL/dX`` times ``std``)."""
        i = self.index
        dz = output_formula or _through(self.activation, i)
        rows = [(f"dZ_{i}", dz, self.dZ), (f"dW_{i}", f"A_{i}.T @ dZ_{i}", self.dW)]
        if self.db is not None:
            rows.append((f"db_{i}", f"sum(dZ_{i}, axis=0)", self.db))
        dA = f"dZ_{i} @ W_{i}.T" + ("" if i else " (dL/dX times std)" if standardized
                                     else " (dL/dX)")
        return [*rows, (f"dA_{i}", dA, self.dA)]


@dataclass(frozen=True)
class Trace:
    """One traced pass, as :func:`trace` returns it: every number with its formula.

    The model's description, its input ``X`` as the network sees it (standardised when the
    model has a standardizer) and targets ``Y`` ``(n, k)`` as the head uses them, the
    ``layers``, the output ``A_L``, the ``loss`` and its per-sample terms ``per_sample``
    ``(n,)``, and with ``lr`` the parameters ``updated`` by one plain gradient step. Host
    (NumPy) arrays throughout. ``print(t)`` gives the table, notebooks show it as HTML.

    Parameters
    ----------
    model : str
        The model's ``repr``.
    row_formula : str
        The per-sample loss's formula.
    loss_formula : str
        The loss's formula.
    output_formula : str
        The formula of ``dZ_{L-1}``, where backprop starts.
    X : ndarray
        ``A_0``, shape ``(n, n_0)``.
    Y : ndarray
        The targets as the head uses them, shape ``(n, k)``.
    layers : tuple of LayerTrace
        One per layer, in forward order.
    output : ndarray
        ``A_L``, shape ``(n, k)``.
    loss : float
        The loss.
    per_sample : ndarray
        The per-sample losses, shape ``(n,)``.
    standardized : bool, default=False
        Whether ``X`` is the standardised input.
    lr : float or None, default=None
        The learning rate of the step in ``updated``.
    updated : dict of str to ndarray or None, default=None
        ``W0, b0, ...`` after one plain gradient step ``W_i - lr dW_i``.

    Examples
    --------
    >>> model = xprop.MLP.from_arrays(
    ...     [[[0.15, 0.25], [0.20, 0.30]], [[0.40, 0.50], [0.45, 0.55]]],
    ...     [[0.35, 0.35], [0.60, 0.60]], "sigmoid", "sigmoid", "half_sse")
    >>> t = xprop.trace(model, [[0.05, 0.10]], [[0.01, 0.99]], lr=0.5)
    >>> t.output.round(8)
    array([[0.75136507, 0.77292847]])
    >>> t.layers[1].dW.round(8)  # dW_1 = A_1.T @ dZ_1
    array([[ 0.08216704, -0.02260254],
           [ 0.08266763, -0.02274024]])
    >>> t.updated["W1"].round(8)  # W_1 - 0.5 dW_1
    array([[0.35891648, 0.51130127],
           [0.40866619, 0.56137012]])
    """

    model: str
    row_formula: str
    loss_formula: str
    output_formula: str
    X: np.ndarray
    Y: np.ndarray
    layers: tuple[LayerTrace, ...]
    output: np.ndarray
    loss: float
    per_sample: np.ndarray
    standardized: bool = False
    lr: float | None = None
    updated: dict[str, np.ndarray] | None = field(default=None)

    def rows(self) -> list[tuple[str, str, str, np.ndarray]]:
        """Every quantity in the order of the computation, with its formula.

        Returns
        -------
        list of tuple
            ``(stage, name, formula, value)``: stage ``forward``, ``loss``, ``backward`` or
            ``update``, the name in :mod:`xprop.network`'s notation (``Z_0``, ``dW_1``,
            ...), the formula that made it and its host value.

        Examples
        --------
        >>> model = xprop.MLP.from_arrays(
        ...     [[[0.15, 0.25], [0.20, 0.30]], [[0.40, 0.50], [0.45, 0.55]]],
        ...     [[0.35, 0.35], [0.60, 0.60]], "sigmoid", "sigmoid", "half_sse")
        >>> t = xprop.trace(model, [[0.05, 0.10]], [[0.01, 0.99]], lr=0.5)
        >>> [(stage, name, formula) for stage, name, formula, _ in t.rows()[3:5]]
        [('forward', 'Z_0', 'A_0 @ W_0 + b_0'), ('forward', 'A_1', 'sigmoid(Z_0)')]
        """
        last = len(self.layers) - 1
        x = "(X - mean) / std" if self.standardized else "X"
        out = [("forward", "A_0", x, self.X)]
        for layer in self.layers:
            out += [("forward", *row) for row in layer.forward_rows()]
        out += [("loss", "Y", "targets", self.Y),
                ("loss", "per sample", self.row_formula, self.per_sample),
                ("loss", "L", self.loss_formula, np.asarray(self.loss))]
        for layer in reversed(self.layers):
            formula = self.output_formula if layer.index == last else None
            out += [("backward", *row)
                    for row in layer.backward_rows(formula, self.standardized)]
        for name, value in (self.updated or {}).items():
            p = f"{name[0]}_{name[1:]}"  # W0 -> W_0, the notation above
            out.append(("update", f"{p}'", f"{p} - lr d{p}, lr = {self.lr:g}", value))
        return out

    def __str__(self) -> str:
        lines = [f"trace of {self.model}: {self.X.shape[0]} sample(s)"]
        stage = None
        width = max(len(r[2]) for r in self.rows())
        for st, name, formula, value in self.rows():
            if st != stage:
                lines.append(f"-- {st}")
                stage = st
            head = f"  {name:<10} = {formula:<{width}}  {_shape(value):<9}"
            body = _values(value).splitlines() or [""]
            lines.append(f"{head} {body[0]}")
            lines += [" " * (len(head) + 1) + more for more in body[1:]]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"Trace({self.model}, {self.X.shape[0]} sample(s), loss={self.loss:.9g}"
                f"{'' if self.lr is None else f', lr={self.lr:g}'})")

    def _repr_html_(self) -> str:
        cells = "".join(
            f"<tr><td>{html.escape(st)}</td><td><code>{html.escape(name)}</code></td>"
            f"<td><code>{html.escape(formula)}</code></td><td>{_shape(value)}</td>"
            f"<td><pre>{html.escape(_values(value))}</pre></td></tr>"
            for st, name, formula, value in self.rows())
        return (f"<p>trace of {html.escape(self.model)}: {self.X.shape[0]} sample(s)</p>"
                "<table><tr><th>stage</th><th>name</th><th>formula</th><th>shape</th>"
                f"<th>value</th></tr>{cells}</table>")

    def to_dict(self) -> dict[str, Any]:
        """The trace as plain Python, ready for JSON.

        Returns
        -------
        dict
            ``model``, ``loss``, ``lr`` and ``quantities``: per quantity its ``stage``,
            ``name``, ``formula``, ``shape`` and ``values`` (nested lists).

        Examples
        --------
        >>> model = xprop.MLP.from_arrays(
        ...     [[[0.15, 0.25], [0.20, 0.30]], [[0.40, 0.50], [0.45, 0.55]]],
        ...     [[0.35, 0.35], [0.60, 0.60]], "sigmoid", "sigmoid", "half_sse")
        >>> t = xprop.trace(model, [[0.05, 0.10]], [[0.01, 0.99]], lr=0.5)
        >>> d = t.to_dict()
        >>> round(d["loss"], 9), d["lr"], sorted(d["quantities"][3])
        (0.298371109, 0.5, ['formula', 'name', 'shape', 'stage', 'values'])
        >>> d["quantities"][3]["name"], d["quantities"][3]["shape"]
        ('Z_0', [1, 2])
        """
        return {"model": self.model, "loss": self.loss,
                "lr": self.lr,
                "quantities": [{"stage": st, "name": name, "formula": formula,
                                "shape": list(np.shape(value)),
                                "values": np.asarray(value).tolist()}
                               for st, name, formula, value in self.rows()]}


def trace(model: Any, X: Any, y: Any, lr: float | None = None) -> Trace:
    """Record every number of one forward and backward pass, beside its formula.

    The pass is :func:`xprop.network.forward` and :func:`xprop.network.backward` themselves
    (what ``fit`` runs), on the model's backend; the results come to the host. Printing the
    result gives a table (values for small arrays, summaries for big ones).

    Parameters
    ----------
    model : MLP
        The model (its standardizer applies to ``X``).
    X : array_like
        Features, host data or arrays of the model's backend, prepared as ``fit`` prepares
        them.
    y : array_like
        Targets, as ``fit`` takes them.
    lr : float or None, default=None
        Also take one plain gradient step ``W_i - lr dW_i`` (the model is not changed).

    Returns
    -------
    Trace
        Every ``Z``, ``A``, ``dZ``, ``dA``, ``dW``, ``db``, the loss and its per-sample
        terms; with ``lr``, the parameters after the step.

    Raises
    ------
    ValueError
        Without targets, for a bad ``lr``, or data the model refuses (as :meth:`MLP.prepare`).
    TypeError
        When ``model`` is not an :class:`xprop.MLP` (a fitted estimator: pass its ``model_``).

    Examples
    --------
    >>> model = xprop.MLP.from_arrays(
    ...     [[[0.15, 0.25], [0.20, 0.30]], [[0.40, 0.50], [0.45, 0.55]]],
    ...     [[0.35, 0.35], [0.60, 0.60]], "sigmoid", "sigmoid", "half_sse")
    >>> t = xprop.trace(model, [[0.05, 0.10]], [[0.01, 0.99]], lr=0.5)
    >>> t
    Trace(MLP([2, 2, 2], ...), 1 sample(s), loss=0.298371109, lr=0.5)
    >>> print(t)
    trace of MLP([2, 2, 2], ...): 1 sample(s)
    -- forward
      A_0        = X...(1, 2)    [[0.05 0.1]]
    ...
      A_2        = sigmoid(Z_1)...(1, 2)    [[0.75136507 0.772928465]]
    -- loss
    ...
    -- backward
    ...
    -- update
    ...
    """
    check_given(y, "y", "targets (class labels or values)")
    if lr is not None:
        lr = check_positive(lr, "lr")
    check_model(model)
    Xd, Y, _ = model.prepare(X, y)
    xp, arch, params = model.xp, model.arch, model.params
    _, cache = network.forward(params, Xd, arch, xp)
    deltas: dict[str, Any] = {}
    grads, dX = network.backward(params, cache, Y, arch, input_grad=True, record=deltas, xp=xp)
    def host(x: Any) -> np.ndarray:  # a snapshot: NumPy's views would follow the model
        return to_numpy(x, copy=True)

    names, views, gviews = arch.names, params.views(), grads.views()
    layers = []
    for i, act in enumerate(arch.activations):
        w, b = names[i]
        layers.append(LayerTrace(
            i, act.name, host(views[w]), None if b is None else host(views[b]),
            host(cache.inputs[i]), host(cache.pre[i]),
            host(cache.inputs[i + 1] if i + 1 < arch.n_layers else cache.output),
            host(deltas[f"dZ{i}"]), host(gviews[w]), None if b is None else host(gviews[b]),
            host(dX if i == 0 else deltas[f"dA{i}"])))
    head = arch.head
    per_sample = head.rows(cache.pre[-1], cache.output, Y, xp)
    updated = None
    if lr is not None:
        after = SGD(lr).update(xp.asarray(params.buffer, copy=True), grads.buffer, xp)
        updated = {k: host(v) for k, v in Params.wrap(arch.layout, after, xp).views().items()}
    last = arch.n_layers - 1
    return Trace(repr(model), *_loss_formulas(head, last), _output_formula(head, last),
                 host(Xd), host(Y), tuple(layers), host(cache.output),
                 float(network.loss_value(cache, Y, arch, xp)), host(per_sample),
                 model.standardizer is not None, lr, updated)


def _first_line(fn: Any) -> str | None:
    """The formula an xprop function's docstring starts with (up to ``": "``), or None (a
    user's function: its docstring is prose, not a formula)."""
    doc = getattr(fn, "__doc__", None)
    if not doc or not doc.strip() or not getattr(fn, "__module__", "").startswith("xprop."):
        return None
    return doc.strip().splitlines()[0].split(": ")[0].strip().rstrip(".")


#: how a loss's per-sample value divides its row of terms (see :class:`xprop.losses.Loss`)
_ROW_DIVISOR = {"elements": " / k", "samples": "", "half": " / 2", "half_samples": " / 2"}


def _loss_formulas(head: Any, last: int) -> tuple[str, str]:
    """``(per-sample loss, loss)`` formulas, from the loss's terms function's docstring
    (``a``: the output ``A_L``, ``z``: the logits ``Z_{L-1}``, ``y``: the targets)."""
    loss = head.loss
    terms = _first_line(loss.logit_terms if head.fused else loss.terms)
    row = (f"sum over outputs of [{terms or loss.name + ' terms'}]"
           f"{_ROW_DIVISOR.get(loss.scale, '')}")
    # the formula's own variable: the logits of a fused head; a loss written in z (on
    # logits, such as bce_with_logits) takes the output A_L as its z
    variable = "a" if terms is None or re.search(r"\ba\b", terms) else "z"
    row += f", z = Z_{last}" if head.fused else f", {variable} = A_{last + 1}"
    return row, f"{'sum' if head.summed else 'mean'} of the per-sample losses ({head.name})"


def _output_formula(head: Any, last: int) -> str:
    """``dZ_{L-1}``'s formula: the fused gradient's docstring, or ``f'(Z) * dL/dA``."""
    if head.fused:
        return f"{_first_line(head.loss.fused_grad) or 'the fused gradient'}, a = A_{last + 1}"
    formula = _first_line(head.loss.grad)
    grad = formula or f"{head.loss.name}'s gradient"
    variable = "a" if formula is None or re.search(r"\ba\b", formula) else "z"  # (see above)
    return (f"{_through(head.activation.name, last)}, dA_{last + 1} = dL/d{variable} = "
            f"{grad}, {variable} = A_{last + 1}")


def _through(activation: str, i: int) -> str:
    """``dZ_i`` from ``dA_{i+1}`` through the activation: ``f'(Z_i) * dA_{i+1}`` for an
    elementwise one; softmax's vector-Jacobian product (its Jacobian is not diagonal)."""
    if activation == "softmax":
        a, d = f"A_{i + 1}", f"dA_{i + 1}"
        return f"{a} * ({d} - sum({a} * {d}, axis=1))"
    return f"{activation}'(Z_{i}) * dA_{i + 1}"


def _shape(value: np.ndarray) -> str:
    return str(tuple(np.shape(value)))


def _values(value: np.ndarray) -> str:
    """Nine significant digits for small arrays; min, mean and max of big ones."""
    a = np.asarray(value)
    if a.ndim == 0:
        return f"{a.item():.9g}"
    if a.size <= SHOW_ENTRIES:
        return np.array2string(a, formatter={"float_kind": lambda v: f"{v:.9g}",
                                             "int_kind": str}, max_line_width=100)
    finite = a[np.isfinite(a)] if np.issubdtype(a.dtype, np.floating) else a
    if finite.size == 0:
        return f"(elided: {a.size} entries, none finite)"
    return (f"(elided: {a.size} entries; min {finite.min():.6g}, mean "
            f"{finite.mean():.6g}, max {finite.max():.6g}"
            f"{'' if finite.size == a.size else f', {a.size - finite.size} not finite'})")
