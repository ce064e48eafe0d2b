"""The model class: a thin, friendly wrapper over the pure core in :mod:`xprop.network`.

An :class:`MLP` holds an :class:`~xprop.network.Architecture` (sizes, activations, output head,
bias), its parameters (:class:`~xprop.params.Params`: named views ``W0, b0, ...`` into one flat
buffer) and the backend, device and dtype they live on. It validates data once at its entry
points (``fit``, ``predict``, ``loss``, ``accuracy``, ``xprop.gradcheck``) and delegates the math
to :func:`xprop.network.forward`, :func:`~xprop.network.backward` and
:func:`~xprop.network.loss_value`, training to :func:`xprop.train.fit`. The low-level
``forward``/``backward`` methods refuse arrays of another namespace, device or dtype instead
of converting them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from os import PathLike
from typing import Any

from array_api_compat import array_namespace

from xprop import checkpoint, export, network
from xprop import validation as V
from xprop.activations import Activation, get_activation
from xprop.backend import (
    Backend,
    BackendError,
    DeviceMismatchError,
    HostArray,
    backend_of,
    dtype_name,
    fast_namespace,
    is_array,
    is_host_data,
    resolve_backend,
    to_backend,
    to_numpy,
)
from xprop.backend.core import on_device
from xprop.datasets import Standardizer
from xprop.head import Head, make_head
from xprop.init import draw_parameters
from xprop.losses import Loss
from xprop.network import Architecture, Cache
from xprop.params import Params
from xprop.train import fit
from xprop.validation import show

Array = Any

__all__ = ["MLP", "load"]


class MLP:
    """A fully connected network ``sizes[0] -> ... -> sizes[-1]``: an
    :class:`~xprop.network.Architecture` plus its parameters (:class:`~xprop.params.Params`,
    named views into one buffer) on one backend, device and dtype.

    Parameters
    ----------
    layer_sizes: ``[n_inputs, hidden..., n_outputs]``, at least two integers >= 1.
    activation: hidden activation name, or one name per hidden layer.
    output_activation, loss: the output head (see :mod:`xprop.head` for the valid pairs):
        ``identity``/``sigmoid``/``softmax``/... and ``mse``, ``half_sse``, ``bce``,
        ``bce_with_logits``, ``cross_entropy``.
    bias: whether layers have biases (zero at start).
    init: ``auto``, ``xavier_normal``/``glorot_normal``, ``xavier_uniform``/``glorot_uniform``,
        ``he``, ``he_uniform``, ``normal(scale)``, ``uniform``; or one per layer.
    seed: seed of the host generator that draws the weights (same seed, same bits everywhere).
    dtype: ``"float32"`` or ``"float64"``, fixed for the life of the model; None (the
        default): the namespace's default real floating dtype on the device (float64 on
        NumPy and CuPy, ``torch.get_default_dtype()`` on torch, float32 on JAX without x64).
    backend, device: where the parameters live (see :func:`xprop.resolve_backend`).
    """

    #: the input preprocessing (a fitted :class:`xprop.datasets.Standardizer`, or None):
    #: ``prepare`` (so ``predict``, ``loss``, ``accuracy``, ``fit``, ``xprop.gradcheck``)
    #: applies it to the features it is given; checkpoints, ``to``, ``astype`` and pickles
    #: keep it; ``forward``/``backward`` take the network's own (standardised) inputs
    standardizer: Standardizer | None = None

    def __init__(
        self,
        layer_sizes: Sequence[int],
        activation: str | Sequence[str] = "relu",
        output_activation: str = "identity",
        loss: str = "mse",
        *,
        bias: bool = True,
        init: str | Sequence[str] = "auto",
        seed: int = 0,
        dtype: Any = None,
        backend: str | Backend | None = None,
        device: Any = None,
    ) -> None:
        sizes = V.check_layer_sizes(layer_sizes)
        seed = V.check_seed(seed)
        if not isinstance(init, str) and not (isinstance(init, (list, tuple))
                                              and all(isinstance(i, str) for i in init)):
            raise ValueError(f"init: expected a name or a list of names, got {show(init)}")
        arch = _architecture(sizes, activation, output_activation, loss, bias)
        n_layers = len(sizes) - 1
        inits = [init] * n_layers if isinstance(init, str) else list(init)
        if len(inits) != n_layers:
            raise ValueError(f"init: expected 1 or {n_layers} names, got {len(inits)}")
        _bind(self, arch, resolve_backend(backend, device), dtype)
        host = draw_parameters(sizes, inits, [a.name for a in arch.activations], seed, bias)
        self.params = Params(arch.layout, self.backend.from_host(host, self.dtype), self.xp)
        self.init = init
        self.seed = seed

    @classmethod
    def from_arrays(
        cls,
        weights: Sequence[Any],
        biases: Sequence[Any] | None = None,
        activation: str | Sequence[str] = "relu",
        output_activation: str = "identity",
        loss: str = "mse",
        *,
        dtype: Any = None,
        backend: str | Backend | None = None,
        device: Any = None,
    ) -> MLP:
        """A model with explicit parameters: ``weights[i]`` of shape ``(fan_in, fan_out)`` and
        ``biases[i]`` of shape ``(fan_out,)`` (``None`` for a model without biases).

        Arrays decide the backend and device (they must all agree; ``backend=`` must match);
        host data (lists, NumPy arrays) goes to ``backend``. The arrays are copied.
        """
        if not isinstance(weights, (list, tuple)):
            raise ValueError(
                f"weights: expected a list of 2-D arrays (one per layer), got "
                f"{type(weights).__name__}"
            )
        if biases is not None and not isinstance(biases, (list, tuple)):
            raise ValueError(
                f"biases: expected a list of 1-D arrays (one per layer) or None, got "
                f"{type(biases).__name__}"
            )
        if not weights:
            raise ValueError("weights: expected at least one weight matrix, got none")
        arrays = {f"weights[{i}]": w for i, w in enumerate(weights) if not is_host_data(w)}
        if biases is not None:
            arrays.update({f"biases[{i}]": b for i, b in enumerate(biases)
                           if not is_host_data(b)})
        if arrays:
            found = backend_of(**arrays)
            if backend is not None or device is not None:
                asked = resolve_backend(backend, device)
                if asked.xp is not found.xp or not asked.owns(next(iter(arrays.values()))):
                    first = next(iter(arrays))
                    raise DeviceMismatchError(
                        f"{first}: explicit weights live on {found.describe()} but "
                        f"backend={asked.describe()} was asked for"
                    )
            chosen = found
        else:
            chosen = resolve_backend(backend, device)
        if dtype is None:  # the weights' own floating dtype, else the namespace's default
            name = str(getattr(weights[0], "dtype", None)).rsplit(".", 1)[-1]
            dtype = name if name in ("float32", "float64") else None
        shapes = [tuple(getattr(w, "shape", None) or _shape_of(w)) for w in weights]
        sizes = []
        for i, shp in enumerate(shapes):
            if len(shp) != 2:
                raise ValueError(
                    f"weights[{i}]: expected a 2-D array (fan_in, fan_out), got shape {shp}"
                )
            if i == 0:
                sizes.append(int(shp[0]))
            elif shp[0] != sizes[-1]:
                raise ValueError(
                    f"weights[{i}]: expected shape ({sizes[-1]}, ...) to follow "
                    f"weights[{i - 1}] with {sizes[-1]} outputs, got {shp}"
                )
            sizes.append(int(shp[1]))
        try:
            sizes = V.check_layer_sizes(sizes)
        except ValueError as e:
            raise ValueError(f"weights: shapes {shapes} give {e}") from None
        if biases is not None and len(biases) != len(weights):
            raise ValueError(
                f"biases: expected {len(weights)} bias vectors (one per layer), got {len(biases)}"
            )
        arch = _architecture(sizes, activation, output_activation, loss, biases is not None)
        model = cls.__new__(cls)
        _bind(model, arch, chosen, dtype)
        model.init = "explicit"
        model.seed = None
        values = {}
        for i, w in enumerate(weights):
            values[f"W{i}"] = w
            if biases is not None:
                values[f"b{i}"] = biases[i]
        model.params = Params.from_arrays(
            arch.layout, [_accept_parameter(model, n, values[n]) for n in arch.layout.names],
            model.xp)
        return model

    # ------------------------------------------------------------------ description

    @property
    def sizes(self) -> list[int]:
        """``[n_inputs, hidden..., n_outputs]``."""
        return list(self.arch.sizes)

    @property
    def activations(self) -> list[Activation]:
        """One activation per layer; the last is the head's output activation."""
        return list(self.arch.activations)

    @property
    def head(self) -> Head:
        """The output activation and loss (target preparation, decision rule, accuracy)."""
        return self.arch.head

    @property
    def loss_fn(self) -> Loss:
        return self.arch.head.loss

    @property
    def bias(self) -> bool:
        return self.arch.bias

    @property
    def n_layers(self) -> int:
        return self.arch.n_layers

    @property
    def is_classifier(self) -> bool:
        """Whether the head predicts classes (softmax, sigmoid, or ``bce_with_logits``)."""
        return self.arch.head.is_classifier

    @property
    def input_mean(self) -> Any:
        """The standardizer's mean (host float64), or None."""
        return None if self.standardizer is None else self.standardizer.mean

    @property
    def input_std(self) -> Any:
        """The standardizer's std (host float64), or None."""
        return None if self.standardizer is None else self.standardizer.std

    def standardize(self, X: Any) -> MLP:
        """Fit a :class:`~xprop.datasets.Standardizer` on the features ``X`` (host data, e.g.
        the training split) and keep it: from now on this model standardises the features
        given to ``fit``, ``predict``, ``loss``, ``accuracy`` and ``xprop.gradcheck``, and
        checkpoints save it. Returns the model."""
        X, _ = self.backend.stage(to_numpy(X) if is_array(X) else X, "X")  # on the host
        V.check_matrix(X, "X", self.sizes[0])
        self.set_standardizer(Standardizer().fit(X))
        return self

    def set_standardizer(self, standardizer: Standardizer | None) -> None:
        """Attach a fitted standardizer (checked: one finite mean and std > 0 per input), or
        None to take features as they are."""
        if standardizer is not None:
            if not isinstance(standardizer, Standardizer):
                raise TypeError(f"standardizer: expected a fitted xprop.datasets.Standardizer "
                                f"or None, got {type(standardizer).__name__}")
            standardizer = Standardizer.from_arrays(standardizer.mean, standardizer.std,
                                                    self.sizes[0], where="standardizer: ")
        self.standardizer = standardizer

    def __repr__(self) -> str:
        acts = ",".join(a.name for a in self.arch.activations)
        return (
            f"MLP({self.sizes}, activations=[{acts}], loss={self.loss_fn.name!r}, "
            f"bias={self.bias}, dtype={dtype_name(self.dtype, self.xp)}, "
            f"backend={self.backend.describe()})"
        )

    def _layers(self) -> list[tuple[str, str, str, int]]:
        """One row per layer: ``(name, shape, activation, parameters)``."""
        rows = []
        for i, (w, b) in enumerate(self.arch.names):
            fan_in, fan_out = self.sizes[i], self.sizes[i + 1]
            shape = f"{fan_in} -> {fan_out}"
            count = fan_in * fan_out + (fan_out if b else 0)
            rows.append((f"{w}" + (f", {b}" if b else ""), shape,
                         self.arch.activations[i].name, count))
        return rows

    def _facts(self) -> list[tuple[str, str]]:
        std = self.standardizer
        return [("loss", self.loss_fn.name), ("backend", self.backend.describe()),
                ("dtype", dtype_name(self.dtype, self.xp)),
                ("parameters", f"{self.count_parameters():,}"),
                ("inputs", f"{self.sizes[0]} features" + (
                    ", standardised (model.standardizer)" if std is not None else ""))]

    def summary(self) -> str:
        """A table of the layers (shapes, activations, parameter counts) and the model's
        loss, backend, device, dtype, parameter count and input standardisation."""
        rows = [("layer", "shape", "activation", "parameters")] + [
            (name, shape, act, f"{count:,}") for name, shape, act, count in self._layers()]
        widths = [max(len(r[c]) for r in rows) for c in range(4)]
        lines = [f"{'  '.join(v.ljust(w) for v, w in zip(r[:3], widths[:3], strict=True))}  "
                 f"{r[3]:>{widths[3]}}" for r in rows]
        lines.insert(1, "-" * len(lines[0]))
        lines += [f"{key}: {value}" for key, value in self._facts()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """The :meth:`summary` as an HTML table (Jupyter shows it for a model)."""
        from html import escape

        body = "".join(
            f"<tr><td>{escape(n)}</td><td>{escape(s)}</td><td>{escape(a)}</td>"
            f"<td style='text-align:right'>{c:,}</td></tr>" for n, s, a, c in self._layers())
        facts = "".join(f"<tr><th style='text-align:left'>{escape(k)}</th>"
                        f"<td colspan='3'>{escape(v)}</td></tr>" for k, v in self._facts())
        return ("<table><caption>xprop.MLP</caption><thead><tr><th>layer</th><th>shape</th>"
                f"<th>activation</th><th>parameters</th></tr></thead><tbody>{body}{facts}"
                "</tbody></table>")

    def __reduce__(self) -> tuple:
        """Pickling and deep copies: the parameters as a host copy that knows its backend,
        device and dtype (rebuilt there), the architecture by its names (registered custom
        activations and losses by their registered names), every other attribute as is."""
        arch = self.arch
        names = (list(arch.sizes), [a.name for a in arch.hidden], arch.head.activation.name,
                 arch.head.loss.name, arch.bias)
        rest = {k: v for k, v in vars(self).items()
                if k not in ("arch", "backend", "xp", "dtype", "params")}
        return (_unpickle, (type(self), names, HostArray(self.params.buffer), rest))

    # ------------------------------------------------------------------ parameters

    @property
    def weights(self) -> list[Array]:
        """The weight matrices ``W_i``, shape ``(sizes[i], sizes[i+1])`` (live views)."""
        return [self.params[w] for w, _ in self.arch.names]

    @property
    def biases(self) -> list[Array] | None:
        """The bias vectors ``b_i``, shape ``(sizes[i+1],)``, or ``None`` without biases."""
        return [self.params[b] for _, b in self.arch.names] if self.bias else None

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        layout = self.arch.layout
        return dict(zip(layout.names, layout.shapes))

    def parameters(self) -> dict[str, Array]:
        """Name -> array (``W0``, ``b0``, ``W1``, ...): live views into the parameter buffer
        ``model.params.buffer``, in layer order."""
        return dict(self.params)

    def set_parameters(self, values: Mapping[str, Any]) -> None:
        """Replace parameters by name (copied into a new buffer; shapes, backend and device
        are checked; host data is moved to the model's device and cast to its dtype). A
        failed call changes nothing."""
        if not isinstance(values, Mapping):
            raise TypeError(f"parameters: expected a mapping name -> array (as "
                            f"model.parameters() gives), got {type(values).__name__}")
        names = self.arch.layout.names
        new = dict(self.params)
        for name, v in values.items():
            if name not in names:
                raise KeyError(f"parameters: unknown name {name!r}; expected {list(names)}")
            new[name] = _accept_parameter(self, name, v)
        self.params = Params.from_arrays(self.arch.layout, [new[n] for n in names], self.xp)

    def count_parameters(self) -> int:
        """Number of trainable scalars: sum of fan_in*fan_out (+ fan_out with biases)."""
        return self.arch.layout.size

    def _clone(self, arch: Architecture, backend: Backend, dtype: Any, buffer: Any) -> MLP:
        clone = self.__class__.__new__(self.__class__)
        clone.__dict__.update(self.__dict__)
        _bind(clone, arch, backend, dtype)
        clone.params = Params(arch.layout, buffer, clone.xp)
        return clone

    def to(self, backend: str | Backend, device: Any = None) -> MLP:
        """A copy of this model on another backend/device, every value unchanged (one
        transfer of the parameter buffer through the host)."""
        target = resolve_backend(backend, device)
        name = dtype_name(self.dtype, self.xp)
        return self._clone(self.arch, target, name, to_backend(self.params.buffer, target))

    def astype(self, dtype: Any) -> MLP:
        """A copy of this model in another dtype on the same backend and device."""
        new = self.backend.dtype(dtype)
        buffer = self.xp.astype(self.params.buffer, new)
        if new == self.dtype:
            buffer = self.xp.asarray(buffer, copy=True)
        return self._clone(self.arch, self.backend, dtype, buffer)

    def to_numpy_parameters(self) -> dict[str, Any]:
        """Host copies of the parameters (NumPy arrays), e.g. for saving or comparing."""
        flat = to_numpy(self.params.buffer, copy=True)
        return self.arch.layout.views(flat, array_namespace(flat))

    def all_finite(self) -> bool:
        """Whether every parameter is finite (one reduction over the buffer, one sync)."""
        return bool(self.xp.all(self.xp.isfinite(self.params.buffer)))

    # ------------------------------------------------------------------ low-level math

    def _check_own(self, x: Array, name: str) -> None:
        if not self.backend.owns(x):
            if is_array(x):
                other = backend_of(**{name: x})
                raise DeviceMismatchError(
                    f"{name}: expected an array on {self.backend.describe()}, got one on "
                    f"{other.describe()}; forward/backward never convert: move it with "
                    f"xprop.to_backend or use fit/predict, which do"
                )
            raise TypeError(
                f"{name}: expected an array on {self.backend.describe()}, got "
                f"{type(x).__name__}; forward/backward never convert: use fit/predict"
            )
        if x.dtype != self.dtype:
            raise TypeError(
                f"{name}: expected dtype {dtype_name(self.dtype, self.xp)} (the model's), got "
                f"{x.dtype}; cast it with xp.astype or use fit/predict, which do"
            )

    @on_device
    def forward(self, X: Array) -> tuple[Array, Cache]:
        """Output ``(n, sizes[-1])`` and the cache for :meth:`backward`
        (:func:`xprop.network.forward` with this model's parameters). ``X`` must be a
        ``(n, sizes[0])`` array of the model's namespace, device and dtype."""
        self._check_own(X, "X")
        V.check_matrix(X, "X", self.sizes[0])
        return network.forward(self.params, X, self.arch, self.xp)

    @on_device
    def backward(
        self, cache: Cache, y: Array, input_grad: bool = False
    ) -> dict[str, Array]:
        """Gradients of the loss for every parameter (``W0``, ``b0``, ...: views into one
        gradient buffer) and, with ``input_grad=True``, for the input under ``"X"``.

        ``y``: targets on the model's device: ``(n, k)`` of the model's dtype, ``(n,)`` for
        one output, or ``(n,)`` integer labels for a softmax head.
        """
        if not self.backend.owns(y):
            self._check_own(y, "y")
        n, k = cache.output.shape[0], self.sizes[-1]
        try:
            Y = self.head.coerce_targets(y, n, k, self.dtype, self.xp)
        except TypeError:
            raise TypeError(
                f"y: expected dtype {dtype_name(self.dtype, self.xp)} (the model's), got "
                f"{y.dtype}"
            ) from None
        if input_grad:
            grads, dX = network.backward(self.params, cache, Y, self.arch, input_grad=True,
                                         xp=self.xp)
            return {**grads, "X": dX}
        return dict(network.backward(self.params, cache, Y, self.arch, xp=self.xp))

    # ------------------------------------------------------------------ entry points

    def prepare(self, X: Any, y: Any | None = None) -> tuple[Array, Array | None, Array | None]:
        """Validate and convert user data once: ``X`` to a ``(n, sizes[0])`` array of the
        model's dtype on its device (standardised by the model's :attr:`standardizer`),
        ``y`` to ``(n, k)`` targets (see :meth:`xprop.head.Head.prepare_targets`); also
        returns the integer labels (for
        accuracy) when the head takes class labels."""
        std = self.standardizer
        on_host = std is not None and is_host_data(X)
        X, xq = self.backend.stage(X, "X", None if on_host else self.dtype)  # checked there
        V.check_matrix(X, "X", self.sizes[0])
        if std is not None:  # host data in float64, device arrays in the model's dtype
            X = std.transform(X) if on_host else \
                std.apply(X, lambda v: self.backend.from_host(v, self.dtype))
            if on_host:
                X, xq = self.backend.stage(X, "X", self.dtype)
        _check_finite_rows(X, xq)
        if y is None:
            return self.backend.place(X), None, None
        Y, labels = self.head.prepare_targets(y, X.shape[0], self.sizes[-1], self.backend,
                                              self.dtype, self.xp)
        return self.backend.place(X), Y, labels

    @on_device
    def loss(self, X: Any, y: Any) -> float:
        """The loss on ``(X, y)`` as a Python float."""
        X, Y, _ = self.prepare(X, V.check_given(y, "y", "targets (class labels or values)"))
        _, cache = network.forward(self.params, X, self.arch, self.xp)
        return float(network.loss_value(cache, Y, self.arch, self.xp))

    @on_device
    def predict_output(self, X: Any) -> Array:
        """The network output ``(n, sizes[-1])`` for host or device data."""
        X, _, _ = self.prepare(X)
        return network.forward(self.params, X, self.arch, self.xp)[0]

    @on_device
    def predict(self, X: Any) -> Array:
        """The head's decision: class indices ``(n,)`` for a softmax output (argmax), 0/1 for
        a sigmoid output (threshold 0.5; logit 0 for ``bce_with_logits``; shape ``(n,)`` for
        one output), the raw output otherwise. Arrays of the model's backend."""
        return self.head.decide(self.predict_output(X), self.xp)

    @on_device
    def predict_proba(self, X: Any) -> Array:
        """Class probabilities ``(n, k)`` of a classifier: softmax rows, or one sigmoid value
        per output (of the logits for ``bce_with_logits``); arrays of the model's backend."""
        return self.head.probabilities(self.predict_output(X), self.xp)

    @on_device
    def accuracy(self, X: Any, y: Any) -> float:
        """Fraction of samples whose prediction equals ``y`` (class labels, 0/1 targets, or
        one-hot; with several sigmoid outputs every output must match)."""
        X, Y, labels = self.prepare(X, V.check_given(y, "y", "class labels or 0/1 targets"))
        if not self.is_classifier:
            raise ValueError(
                "accuracy: defined for classifiers (softmax or sigmoid output, or "
                f"bce_with_logits); this model has a {self.activations[-1].name} output with "
                f"{self.loss_fn.name} loss"
            )
        out = network.forward(self.params, X, self.arch, self.xp)[0]
        return float(self.head.hits(out, Y, labels, self.xp)) / X.shape[0]

    #: ``model.fit(X, y, ...)``: :func:`xprop.fit` (the same signature and options, checked by
    #: :class:`~xprop.config.FitConfig` before any data is read); returns the History
    fit = fit

    def save(self, path: Any, **kwargs: Any) -> str:
        """Write a checkpoint, standardizer included (see :func:`xprop.checkpoint.save`: it
        refuses what :func:`xprop.load` would refuse, before writing); returns the path."""
        return checkpoint.save(self, path, **kwargs)

    def export_onnx(self, path: Any, *, overwrite: bool = True) -> str:
        """Write the model as an ONNX graph recorded from its own forward pass (see
        :func:`xprop.export.export_onnx`: standardisation, outputs ``probabilities`` and
        ``label`` or ``output``, dynamic batch); returns the path."""
        return export.export_onnx(self, path, overwrite=overwrite)


FINITE_BLOCK = 1 << 22  # entries of X checked at once by prepare (a bool temporary that size)


def _check_finite_rows(X: Array, xp: Any) -> None:
    """:func:`xprop.validation.check_finite` on ``X``, a block of rows at a time: the check
    costs a temporary of ``FINITE_BLOCK`` entries, not one the size of the data (and, on
    failure, the full count for the message)."""
    step = max(1, FINITE_BLOCK // max(1, X.shape[1]))
    if X.shape[0] <= step:
        V.check_finite(X, "X", xp)
        return
    for s in range(0, X.shape[0], step):
        if not bool(xp.all(xp.isfinite(X[s:min(s + step, X.shape[0]), ...]))):
            V.check_finite(X, "X", xp)  # raises, counting every NaN and inf


def _bind(model: MLP, arch: Architecture, backend: Backend, dtype: Any) -> None:
    """Set a model's architecture, backend, namespace and dtype (not its parameters)."""
    model.arch = arch
    model.backend = backend
    model.xp = fast_namespace(backend.xp)  # the namespace, with faster NumPy reductions
    model.dtype = backend.dtype(dtype)


def _accept_parameter(model: MLP, name: str, value: Any) -> Array:
    """``value`` checked as parameter ``name`` of ``model`` and cast to its dtype."""
    xp = model.xp
    arr = model.backend.accept(value, name, model.dtype)
    shape = model.arch.layout.shape_of(name)
    if tuple(arr.shape) != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {tuple(arr.shape)}")
    if not xp.isdtype(arr.dtype, ("real floating", "integral")):
        raise TypeError(f"{name}: expected real numbers, got dtype {arr.dtype}")
    V.check_finite(arr, name, xp)
    return xp.astype(arr, model.dtype)


def _architecture(sizes: list[int], activation: Any, output_activation: Any, loss: Any,
                  bias: Any) -> Architecture:
    """The checked :class:`Architecture` for the constructor's arguments."""
    n_hidden = len(sizes) - 2
    if isinstance(activation, (str, Activation)):
        hidden = [activation] * n_hidden
    elif not isinstance(activation, (list, tuple)):
        raise ValueError(f"activation: expected a name or a list of names, got {show(activation)}")
    else:
        hidden = list(activation)
        if len(hidden) != n_hidden:
            raise ValueError(
                f"activation: expected 1 name or {n_hidden} (one per hidden layer), "
                f"got {len(hidden)}"
            )
    bias = V.check_bool(bias, "bias")
    head = make_head(output_activation, loss)
    if head.activation.name == "softmax" and sizes[-1] < 2:
        raise ValueError(f"output_activation: softmax needs at least 2 outputs, got "
                         f"layer_sizes[-1] = {sizes[-1]} (two classes: 2 softmax outputs, or 1 "
                         "sigmoid output with loss='bce')")
    return Architecture(tuple(sizes), tuple(get_activation(a) for a in hidden), head, bias)


def _unpickle(cls: type, names: tuple, buffer: HostArray, rest: dict) -> MLP:
    """A model from :meth:`MLP.__reduce__`'s parts."""
    try:
        arch = _architecture(*names)
    except ValueError as e:
        raise ValueError(f"unpickling an MLP: {e} (custom activations and losses must be "
                         "registered, xprop.register_activation / register_loss, before "
                         "loading)") from None
    model = cls.__new__(cls)
    values = buffer.restore()
    _bind(model, arch, buffer.target(), buffer.values.dtype.name)
    model.params = Params(arch.layout, values, model.xp)
    vars(model).update(rest)
    return model


def _shape_of(nested: Any) -> tuple[int, ...]:
    shape = []
    while isinstance(nested, (list, tuple)):
        shape.append(len(nested))
        if not nested:
            break
        nested = nested[0]
    return tuple(shape)


def load(path: str | PathLike, backend: Any = None, device: Any = None,
         dtype: Any = None) -> MLP:
    """The model saved at ``path``, on ``backend``/``device`` (any), in its saved dtype unless
    ``dtype`` is given, with its saved :attr:`MLP.standardizer` (so ``predict`` and the
    others take the raw features, as ``xprop predict`` does)."""
    header, arrays = checkpoint.read(path)
    sizes = header["layer_sizes"]
    n = len(sizes) - 1
    try:
        weights = [arrays[f"W{i}"] for i in range(n)]
        biases = [arrays[f"b{i}"] for i in range(n)] if header["bias"] else None
        model = MLP.from_arrays(
            weights, biases, activation=header["activations"][:-1],
            output_activation=header["activations"][-1], loss=header["loss"],
            dtype=dtype or header["dtype"], backend=backend, device=device,
        )
    except KeyError as e:
        raise checkpoint.CheckpointError(f"checkpoint: {path!r} lacks parameter {e}") from None
    except BackendError:
        raise  # the caller's backend/dtype choice, not the file, is at fault
    except (ValueError, TypeError) as e:
        if isinstance(e, checkpoint.CheckpointError):
            raise
        raise checkpoint.CheckpointError(f"checkpoint: {path!r} is inconsistent: {e}") from None
    if model.sizes != list(sizes):
        raise checkpoint.CheckpointError(
            f"checkpoint: {path!r} parameters give layer sizes {model.sizes}, "
            f"header says {sizes}"
        )
    if "input_mean" in arrays:  # checked by checkpoint.read
        model.standardizer = Standardizer.from_arrays(arrays["input_mean"],
                                                      arrays["input_std"])
    return model
