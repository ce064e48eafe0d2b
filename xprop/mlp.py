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

import copy
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
from xprop.backend.core import HOST_XP, on_device
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
    """A fully connected network with explicit backpropagation, on one backend and device.

    An :class:`~xprop.network.Architecture` (``sizes[0] -> ... -> sizes[-1]``) plus its
    parameters (:class:`~xprop.params.Params`, named views ``W0, b0, ...`` into one
    buffer) on one backend, device and dtype. The weights are drawn on the host from
    ``seed``, so the same seed gives the same bits on every backend.

    Parameters
    ----------
    layer_sizes : sequence of int
        ``[n_inputs, hidden..., n_outputs]``, at least two integers >= 1.
    activation : str or sequence of str, default="relu"
        The hidden activation, or one per hidden layer (see :data:`xprop.ACTIVATIONS`).
    output_activation : str, default="identity"
        The output activation: ``identity``, ``sigmoid``, ``softmax``, ... (see
        :mod:`xprop.head` for the pairs with ``loss`` that fit).
    loss : str, default="mse"
        ``mse``, ``half_sse``, ``bce``, ``bce_with_logits``, ``cross_entropy``, or a
        registered loss.
    bias : bool, default=True
        Whether layers have biases (zero at start).
    init : str or sequence of str, default="auto"
        ``auto``, ``xavier_normal``/``glorot_normal``, ``xavier_uniform``/
        ``glorot_uniform``, ``he``, ``he_uniform``, ``normal(scale)``, ``uniform``; or one
        per layer.
    seed : int, default=0
        Seed of the host generator that draws the weights.
    dtype : str or None, default=None
        ``"float32"`` or ``"float64"``, fixed for the life of the model; None: the
        namespace's default real floating dtype on the device (float64 on NumPy and CuPy,
        ``torch.get_default_dtype()`` on torch, float32 on JAX without x64).
    backend : str or Backend or None, default=None
        Where the parameters live (see :func:`xprop.resolve_backend`): the innermost
        :func:`xprop.use_backend`, else ``$XPROP_BACKEND``, else NumPy when None.
    device : object, default=None
        The device on that backend.

    Attributes
    ----------
    arch : Architecture
        Sizes, activations, head and bias.
    params : Params
        The parameters: ``params.buffer`` is the flat array, ``params["W0"]`` a view.
    backend : Backend
        Where they live; ``xp`` is its namespace and ``dtype`` the model's dtype.
    standardizer : Standardizer or None
        The input preprocessing that the entry points apply (see :meth:`standardize`).
    columns : dict or None
        The layout of the CSV file the model was trained on (``xprop train`` records it:
        ``{"label": name or index, "features": [names] or None}``); checkpoints keep it.

    Raises
    ------
    ValueError
        For bad sizes, names, a seed, an output activation and loss that do not fit, or a
        softmax with one output.
    BackendError
        For an unknown backend or device, or a dtype the device cannot hold.
    MemoryError
        For layer sizes whose parameters do not fit in memory (naming ``layer_sizes``).

    Examples
    --------
    >>> X, y = xprop.datasets.xor()
    >>> model = xprop.MLP([2, 4, 1], "tanh", "sigmoid", "bce", seed=1)
    >>> history = model.fit(X, y, lr=1.0, epochs=300)  # full-batch gradient descent
    >>> xprop.to_numpy(model.predict(X)), model.accuracy(X, y)
    (array([0, 1, 1, 0]), 1.0)
    >>> model
    MLP([2, 4, 1], activations=[tanh,sigmoid], loss='bce', bias=True, dtype=float64, backend=...)
    """

    #: the input preprocessing (a fitted :class:`xprop.datasets.Standardizer`, or None):
    #: ``prepare`` (so ``predict``, ``loss``, ``accuracy``, ``fit``, ``xprop.gradcheck``)
    #: applies it to the features it is given; checkpoints, ``to``, ``astype`` and pickles
    #: keep it; ``forward``/``backward`` take the network's own (standardised) inputs
    standardizer: Standardizer | None = None
    #: the CSV layout of ``xprop train``'s data (see :func:`xprop.checkpoint.save`'s
    #: ``columns``), or None: loaded from a checkpoint, saved again with the model
    columns: dict[str, Any] | None = None

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
        try:
            host = draw_parameters(sizes, inits, [a.name for a in arch.activations], seed, bias)
        except (MemoryError, ValueError) as e:  # (NumPy: "array is too big" beyond its index)
            if isinstance(e, ValueError) and "too big" not in str(e):
                raise
            raise MemoryError(f"layer_sizes: {sizes} make {arch.layout.size} parameters, more "
                              "than this machine's memory holds") from None
        if host.size and not float(abs(host).max()) <= float(self.xp.finfo(self.dtype).max):
            raise ValueError(f"init: {show(init)} draws weights beyond what "
                             f"{dtype_name(self.dtype, self.xp)} holds; give a smaller scale")
        try:
            self.params = Params(arch.layout, self.backend.from_host(host, self.dtype), self.xp)
        except MemoryError:
            raise MemoryError(f"layer_sizes: {sizes} make {arch.layout.size} parameters, more "
                              "than this machine's memory holds") from None
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
        """Make a model with given weights and biases, e.g. to reproduce a published example.

        Arrays decide the backend and device (they must all agree; ``backend=`` must match);
        host data (lists, NumPy arrays) goes to ``backend``. The arrays are copied.

        Parameters
        ----------
        weights : sequence of array_like
            ``weights[i]`` of shape ``(fan_in, fan_out)``, one per layer, chained.
        biases : sequence of array_like or None, default=None
            ``biases[i]`` of shape ``(fan_out,)``; None for a model without biases.
        activation : str or sequence of str, default="relu"
            The hidden activation, or one per hidden layer.
        output_activation : str, default="identity"
            The output activation.
        loss : str, default="mse"
            The loss.
        dtype : str or None, default=None
            ``"float32"`` or ``"float64"``; None: the widest floating dtype of the arrays
            given (float64 when any is, Python floats in lists included: none is rounded),
            else (integers, float16) float64 where the device has it (integers are exact
            to 2**53), else the device's float32.
        backend : str or Backend or None, default=None
            Where host data goes (arrays decide for themselves).
        device : object, default=None
            The device on that backend.

        Returns
        -------
        MLP
            The model (``init == "explicit"``, ``seed`` None).

        Raises
        ------
        ValueError
            For shapes that do not chain, a bias count that differs, or non-finite values.
        DeviceMismatchError
            When the arrays live elsewhere than ``backend`` says, or on two devices.

        Examples
        --------
        The 2-2-2 sigmoid network of a well-known worked example of backpropagation:

        >>> model = xprop.MLP.from_arrays(
        ...     [[[0.15, 0.25], [0.20, 0.30]], [[0.40, 0.50], [0.45, 0.55]]],
        ...     [[0.35, 0.35], [0.60, 0.60]], "sigmoid", "sigmoid", "half_sse")
        >>> xprop.to_numpy(model.predict_output([[0.05, 0.10]])).round(8)
        array([[0.75136507, 0.77292847]])
        >>> round(model.loss([[0.05, 0.10]], [[0.01, 0.99]]), 9)  # the total error
        0.298371109
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
        chosen = _arrays_backend(weights, biases, backend, device)
        if dtype is None:  # the widest floating dtype given (never a silent narrowing;
            given = {_given_dtype(a) for a in [*weights, *(biases or [])]}  # Python floats
            # are float64)
            dtype = next((name for name in ("float64", "float32") if name in given), None)
            if dtype is None and "float64" in chosen.supported_float_dtypes():
                dtype = "float64"  # integers (as NumPy promotes them): exact to 2**53
        sizes = _chained_sizes(weights)
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
        """The loss (the head's)."""
        return self.arch.head.loss

    @property
    def bias(self) -> bool:
        """Whether the layers have biases."""
        return self.arch.bias

    @property
    def n_layers(self) -> int:
        """The number of layers (weight matrices): ``len(sizes) - 1``."""
        return self.arch.n_layers

    @property
    def is_classifier(self) -> bool:
        """Whether the head predicts classes (softmax, sigmoid, or ``bce_with_logits``)."""
        return self.arch.head.is_classifier

    @property
    def input_mean(self) -> Any:
        """The standardizer's mean (host float64, read-only), or None."""
        return None if self.standardizer is None else self.standardizer.mean

    @property
    def input_std(self) -> Any:
        """The standardizer's std (host float64, read-only), or None."""
        return None if self.standardizer is None else self.standardizer.std

    def standardize(self, X: Any) -> MLP:
        """Fit a :class:`~xprop.datasets.Standardizer` on features and keep it.

        From now on this model standardises the features given to ``fit``, ``predict``,
        ``loss``, ``accuracy`` and ``xprop.gradcheck``, and checkpoints save it.

        Parameters
        ----------
        X : array_like of shape (n, sizes[0])
            Training features (host data, or arrays copied to the host for this).

        Returns
        -------
        MLP
            The model itself.

        Raises
        ------
        ValueError
            For features of the wrong shape, or that cannot be standardised.

        Examples
        --------
        >>> X, y = xprop.datasets.moons(100, seed=0)
        >>> model = xprop.MLP([2, 8, 2], "relu", "softmax", "cross_entropy", seed=0)
        >>> model.standardize(100.0 * X) is model
        True
        >>> model.input_mean.shape, model.input_std.shape
        ((2,), (2,))
        """
        X, _ = self.backend.stage(to_numpy(X) if is_array(X) else X, "X")  # on the host
        V.check_matrix(X, "X", self.sizes[0])
        self.set_standardizer(Standardizer().fit(X))
        return self

    def set_standardizer(self, standardizer: Standardizer | None) -> None:
        """Attach a fitted standardizer, or None to take features as they are.

        Parameters
        ----------
        standardizer : Standardizer or None
            A fitted :class:`~xprop.datasets.Standardizer` (checked: one finite mean and
            std > 0 per input; copied).

        Raises
        ------
        TypeError
            When it is not a Standardizer or None.
        ValueError
            When its statistics do not fit the model's inputs.

        Examples
        --------
        >>> from xprop.datasets import Standardizer
        >>> model = xprop.MLP([2, 3, 1], seed=0)
        >>> model.set_standardizer(Standardizer.from_arrays([0.0, 1.0], [2.0, 2.0]))
        >>> model.input_std.tolist()
        [2.0, 2.0]
        >>> model.set_standardizer(None)
        >>> print(model.standardizer)
        None
        """
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
        """A table of the layers and the model's settings, as text.

        Returns
        -------
        str
            The layers (shapes, activations, parameter counts), then the loss, backend and
            device, dtype, parameter count and input standardisation.

        Examples
        --------
        >>> print(xprop.MLP([2, 4, 1], "tanh", "sigmoid", "bce").summary())
        layer   shape   activation  parameters
        --------------------------------------
        W0, b0  2 -> 4  tanh                12
        W1, b1  4 -> 1  sigmoid              5
        loss: bce
        backend: ...
        dtype: float64
        parameters: 17
        inputs: 2 features
        """
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
        device and dtype (rebuilt there), the architecture by its activations and loss
        (pickled by name when the name stands for them: built-ins and registered ones; by value
        otherwise, so a lambda's pickling fails here, not the loading), every other attribute
        as is."""
        arch = self.arch
        names = (list(arch.sizes), list(arch.hidden), arch.head.activation, arch.head.loss,
                 arch.bias)
        rest = {k: v for k, v in vars(self).items()
                if k not in ("arch", "backend", "xp", "dtype", "_params")}
        return (_unpickle, (type(self), names, HostArray(self.params.buffer), rest))

    # ------------------------------------------------------------------ parameters

    @property
    def params(self) -> Params:
        """The parameters ``W0, b0, ...``: live views into one flat buffer.

        A :class:`~xprop.params.Params`; it may be set only to Params of this model's layout,
        on its backend and device, in its dtype (:meth:`set_parameters` takes any values).
        """
        return self._params

    @params.setter
    def params(self, value: Params) -> None:
        layout = self.arch.layout
        if not isinstance(value, Params) or value.layout != layout:
            got = (f"Params of {value.layout.size} values ({', '.join(value.layout.names)})"
                   if isinstance(value, Params) else show(value))
            raise ValueError(f"params: expected Params of this model's layout "
                             f"({layout.size} values: {', '.join(layout.names)}), got {got}")
        buffer = value.buffer
        if not self.backend.owns(buffer) or buffer.dtype != self.dtype:
            raise ValueError(f"params: expected {dtype_name(self.dtype, self.xp)} arrays of "
                             f"{self.backend.describe()}, got {type(buffer).__name__} of "
                             f"dtype {buffer.dtype}")
        self._params = value

    @property
    def weights(self) -> list[Array]:
        """The weight matrices ``W_i``, shape ``(sizes[i], sizes[i+1])`` (live views)."""
        return [self.params[w] for w, _ in self.arch.names]

    @property
    def biases(self) -> list[Array] | None:
        """The bias vectors ``b_i``, shape ``(sizes[i+1],)``, or ``None`` without biases."""
        return [self.params[b] for _, b in self.arch.names] if self.bias else None

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        """The shape of every parameter, by name.

        Returns
        -------
        dict of str to tuple of int
            ``W0``, ``b0``, ... in layer order.

        Examples
        --------
        >>> xprop.MLP([2, 3, 1]).parameter_shapes()
        {'W0': (2, 3), 'b0': (3,), 'W1': (3, 1), 'b1': (1,)}
        """
        layout = self.arch.layout
        return dict(zip(layout.names, layout.shapes))

    def parameters(self) -> dict[str, Array]:
        """The parameters by name: live views into the parameter buffer.

        Returns
        -------
        dict of str to array
            ``W0``, ``b0``, ``W1``, ... in layer order: views into ``model.params.buffer``.

        Examples
        --------
        >>> model = xprop.MLP([2, 3, 1], seed=0)
        >>> list(model.parameters())
        ['W0', 'b0', 'W1', 'b1']
        >>> xprop.to_numpy(model.parameters()["b0"])  # biases start at zero
        array([0., 0., 0.])
        """
        return dict(self.params)

    def set_parameters(self, values: Mapping[str, Any]) -> None:
        """Replace parameters by name; a failed call changes nothing.

        The values are copied into a new buffer; shapes, backend and device are checked;
        host data is moved to the model's device and cast to its dtype.

        Parameters
        ----------
        values : mapping of str to array_like
            Some or all of ``W0``, ``b0``, ...

        Raises
        ------
        TypeError
            When ``values`` is not a mapping, or a value is not real numbers.
        ValueError
            For an unknown name, a wrong shape or non-finite values.
        DeviceMismatchError
            For an array of another backend or device.

        Examples
        --------
        >>> model = xprop.MLP([2, 3, 1], seed=0)
        >>> model.set_parameters({"b1": [0.5]})
        >>> xprop.to_numpy(model.parameters()["b1"])
        array([0.5])
        """
        if not isinstance(values, Mapping):
            raise TypeError(f"parameters: expected a mapping name -> array (as "
                            f"model.parameters() gives), got {type(values).__name__}")
        names = self.arch.layout.names
        new = dict(self.params)
        for name, v in values.items():
            if name not in names:
                raise ValueError(f"parameters: expected names among {list(names)}, got "
                                 f"{show(name)}")
            new[name] = _accept_parameter(self, name, v)
        self.params = Params.from_arrays(self.arch.layout, [new[n] for n in names], self.xp)

    def count_parameters(self) -> int:
        """The number of trainable scalars: the sum of fan_in*fan_out (+ fan_out with biases).

        Returns
        -------
        int
            The length of the parameter buffer.

        Examples
        --------
        >>> xprop.MLP([2, 4, 1]).count_parameters()  # 2*4 + 4 + 4*1 + 1
        17
        """
        return self.arch.layout.size

    def _clone(self, arch: Architecture, backend: Backend, dtype: Any, buffer: Any) -> MLP:
        clone = self.__class__.__new__(self.__class__)
        clone.__dict__.update(self.__dict__)
        clone.standardizer = copy.copy(self.standardizer)  # (a refit of one leaves the other)
        clone.columns = copy.deepcopy(self.columns)  # (nor does an edit of the other's)
        _bind(clone, arch, backend, dtype)
        clone.params = Params(arch.layout, buffer, clone.xp)
        return clone

    def to(self, backend: str | Backend, device: Any = None) -> MLP:
        """A copy of this model on another backend or device, every value unchanged.

        One transfer of the parameter buffer through the host; the dtype and the
        standardizer are kept.

        Parameters
        ----------
        backend : str or Backend
            The target (``"numpy"``, ``"cupy:1"``, ``"torch:cuda:0"``, ...).
        device : object, default=None
            The device on that backend.

        Returns
        -------
        MLP
            The copy.

        Raises
        ------
        BackendError
            For an unknown backend or device, or a dtype the device cannot hold.
        BackendUnavailableError
            When that backend cannot run here.

        Examples
        --------
        >>> model = xprop.MLP([2, 3, 1], seed=0)
        >>> twin = model.to("numpy")
        >>> twin.backend.name
        'numpy'
        >>> bool((xprop.to_numpy(twin.params.buffer) == xprop.to_numpy(model.params.buffer)).all())
        True
        """
        target = resolve_backend(backend, device)
        name = dtype_name(self.dtype, self.xp)
        if name not in target.supported_float_dtypes():  # (to keeps the dtype: say how)
            raise BackendError(
                f"backend: {target.describe()} holds {', '.join(target.supported_float_dtypes())}"
                f", not this {name} model; use model.astype('float32').to(...)")
        return self._clone(self.arch, target, name, to_backend(self.params.buffer, target))

    def astype(self, dtype: Any) -> MLP:
        """A copy of this model in another dtype on the same backend and device.

        Parameters
        ----------
        dtype : str or dtype
            ``"float32"`` or ``"float64"`` (or the namespace's dtype object).

        Returns
        -------
        MLP
            The copy (a copy even when the dtype is the same).

        Raises
        ------
        BackendError
            When the device cannot hold ``dtype``.
        ValueError
            When ``dtype`` is None, or finite parameters overflow it.

        Examples
        --------
        >>> model = xprop.MLP([2, 3, 1], seed=0)
        >>> xprop.to_numpy(model.astype("float32").params.buffer).dtype.name
        'float32'
        """
        if dtype is None:  # (the backend's reading of None, its default, may narrow)
            raise ValueError("dtype: expected 'float32', 'float64' or a dtype object, got None")
        new = self.backend.dtype(dtype)
        buffer = self.xp.astype(self.params.buffer, new)
        if new == self.dtype:
            buffer = self.xp.asarray(buffer, copy=True)
        elif self.all_finite() and not bool(self.xp.all(self.xp.isfinite(buffer))):
            raise ValueError(f"dtype: the parameters overflow {dtype_name(new, self.xp)} (values "
                             "beyond its range); rescale them or keep the model's dtype")
        return self._clone(self.arch, self.backend, dtype, buffer)

    def to_numpy_parameters(self) -> dict[str, Any]:
        """Host copies of the parameters (NumPy arrays), e.g. for saving or comparing.

        Returns
        -------
        dict of str to ndarray
            ``W0``, ``b0``, ... (views into one fresh host copy of the buffer).

        Examples
        --------
        >>> model = xprop.MLP([2, 3, 1], seed=0)
        >>> {name: a.shape for name, a in model.to_numpy_parameters().items()}
        {'W0': (2, 3), 'b0': (3,), 'W1': (3, 1), 'b1': (1,)}
        """
        flat = to_numpy(self.params.buffer, copy=True)
        return self.arch.layout.views(flat, array_namespace(flat))

    def all_finite(self) -> bool:
        """Whether every parameter is finite (one reduction over the buffer, one sync).

        Returns
        -------
        bool
            False when any parameter is NaN or infinite.

        Examples
        --------
        >>> xprop.MLP([2, 3, 1]).all_finite()
        True
        """
        return bool(self.xp.all(self.xp.isfinite(self.params.buffer)))

    # ------------------------------------------------------------------ low-level math

    def _check_own(self, x: Array, name: str) -> Array:
        """``x`` itself if it is an array of this model's backend, device and dtype (its
        values only: a torch tensor without its autograd graph), else the error."""
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
        return self.backend.adapter.plain(x, name)

    @on_device
    def forward(self, X: Array) -> tuple[Array, Cache]:
        """The forward pass on the network's own inputs: the output and the cache.

        :func:`xprop.network.forward` with this model's parameters. Nothing is converted
        (nor standardised): use :meth:`predict_output` for user data.

        Parameters
        ----------
        X : array
            Shape ``(n, sizes[0])``, of the model's namespace, device and dtype.

        Returns
        -------
        output : array
            Shape ``(n, sizes[-1])``.
        cache : Cache
            What :meth:`backward` needs.

        Raises
        ------
        DeviceMismatchError
            For an array of another backend or device.
        TypeError
            For host data, or another dtype.
        ValueError
            For a wrong shape.

        Examples
        --------
        >>> model = xprop.MLP([2, 3, 1], seed=0)
        >>> X = model.backend.from_host([[0.0, 1.0]], model.dtype)  # on the model's device
        >>> out, cache = model.forward(X)
        >>> tuple(out.shape), len(cache.pre)
        ((1, 1), 2)
        """
        X = self._check_own(X, "X")
        V.check_matrix(X, "X", self.sizes[0])
        return network.forward(self.params, X, self.arch, self.xp)

    @on_device
    def backward(
        self, cache: Cache, y: Array, input_grad: bool = False
    ) -> dict[str, Array]:
        """The backward pass: the gradient of the loss for every parameter.

        :func:`xprop.network.backward` with this model's parameters, after the head
        shapes the targets (no host transfer).

        Parameters
        ----------
        cache : Cache
            The second element of what :meth:`forward` returns (``out, cache``).
        y : array
            Targets on the model's device: ``(n, k)`` of the model's dtype, ``(n,)`` for
            one output, or ``(n,)`` integer labels for a softmax head.
        input_grad : bool, default=False
            Also return the gradient with respect to the input, under ``"X"``.

        Returns
        -------
        dict of str to array
            ``W0``, ``b0``, ...: views into one gradient buffer (and ``X``).

        Raises
        ------
        DeviceMismatchError
            For targets of another backend or device.
        TypeError
            For host data, or targets of another dtype.
        ValueError
            For targets of the wrong shape, labels out of range, or cross-entropy rows that
            are not probability distributions.

        Examples
        --------
        >>> model = xprop.MLP([2, 3, 1], seed=0)
        >>> out, cache = model.forward(model.backend.from_host([[0.0, 1.0]], model.dtype))
        >>> grads = model.backward(cache, model.backend.from_host([[1.0]], model.dtype),
        ...                        input_grad=True)
        >>> {name: tuple(g.shape) for name, g in grads.items()}
        {'W0': (2, 3), 'b0': (3,), 'W1': (3, 1), 'b1': (1,), 'X': (1, 2)}
        """
        network.check_cache(cache)
        widths = [int(z.shape[-1]) for z in cache.pre]
        if widths != self.sizes[1:]:
            raise ValueError(f"cache: from a forward pass of layers {widths}; this model's are "
                             f"{self.sizes[1:]} (pass the cache of this model's forward)")
        y = self.backend.adapter.plain(y, "y") if self.backend.owns(y) else \
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

    def prepare(self, X: Any, y: Any | None = None, *,
                place: bool = True) -> tuple[Array, Array | None, Array | None]:
        """Validate user data and bring it to the model's device, once.

        Parameters
        ----------
        X : array_like
            Features ``(n, sizes[0])``: host data or arrays of the model's backend.
        y : array_like or None, default=None
            Targets, as :meth:`xprop.head.Head.prepare_targets` takes them.
        place : bool, default=True
            False: host data stays on the host, checked, cast and standardised (NumPy
            arrays, for a caller that picks rows before it moves them with
            ``model.backend.place``: a validation split).

        Returns
        -------
        X : array
            ``(n, sizes[0])`` of the model's dtype on its device, standardised by the
            model's :attr:`standardizer`.
        Y : array or None
            ``(n, k)`` targets (None without ``y``).
        labels : array or None
            The integer labels (for accuracy) when the head takes class labels.

        Raises
        ------
        ValueError
            For data of the wrong shape, non-finite values, or targets that do not fit the
            head.
        TypeError
            For non-numeric data.
        DeviceMismatchError
            For arrays of another backend or device.

        Examples
        --------
        >>> model = xprop.MLP([2, 3], "relu", "softmax", "cross_entropy", seed=0)
        >>> X, Y, labels = model.prepare([[0, 1]], [2])
        >>> xprop.to_numpy(X), xprop.to_numpy(Y), xprop.to_numpy(labels)
        (array([[0., 1.]]), array([[0., 0., 1.]]), array([2]))
        """
        std = self.standardizer
        X, xq = self.backend.stage(X, "X", None if std is not None else self.dtype)  # checked
        V.check_matrix(X, "X", self.sizes[0])
        if std is not None and xq is HOST_XP:  # host data: standardised in float64
            X, xq = self.backend.stage(std.transform(X), "X", self.dtype)
        elif std is not None:  # device arrays: in float64 where the device has it (a
            # float32 model's features keep their digits: the mean is not rounded to float32
            # before the subtraction, as on the host), else in the model's dtype; then cast
            work = (xq.float64 if "float64" in self.backend.supported_float_dtypes()
                    else self.dtype)
            X = std.apply(xq.astype(X, work, copy=False),  # (apply makes a new array)
                          lambda v: self.backend.from_host(v, work))
            X = xq.astype(X, self.dtype, copy=False)
        _check_finite_rows(X, xq)
        Y = labels = None
        if y is not None:  # (checked before X moves)
            Y, labels = self.head.prepare_targets(y, X.shape[0], self.sizes[-1], self.backend,
                                                  self.dtype, self.xp, place=place)
        return (self.backend.place(X) if place else X), Y, labels

    @on_device
    def loss(self, X: Any, y: Any) -> float:
        """The loss on user data.

        Parameters
        ----------
        X : array_like
            Features (standardised by the model's standardizer, if any).
        y : array_like
            Targets.

        Returns
        -------
        float
            The loss.

        Raises
        ------
        ValueError
            For missing or invalid data (as :meth:`prepare`).

        Examples
        --------
        >>> X, y = xprop.datasets.xor()
        >>> model = xprop.MLP.from_arrays([[[10, 10], [10, 10]], [[5], [-5]]], [[-5, -15], [-5]],
        ...                               "tanh", "sigmoid", "bce")  # weights that solve XOR
        >>> round(model.loss(X, y), 4)
        0.0067
        """
        X, Y, _ = self.prepare(X, V.check_given(y, "y", "targets (class labels or values)"))
        _, cache = network.forward(self.params, X, self.arch, self.xp)
        return float(network.loss_value(cache, Y, self.arch, self.xp))

    @on_device
    def predict_output(self, X: Any) -> Array:
        """The network output for user data (host data or the model's arrays).

        Parameters
        ----------
        X : array_like
            Features (standardised by the model's standardizer, if any).

        Returns
        -------
        array
            Shape ``(n, sizes[-1])``, an array of the model's backend.

        Raises
        ------
        ValueError
            For invalid data (as :meth:`prepare`).

        Examples
        --------
        >>> X, y = xprop.datasets.xor()
        >>> model = xprop.MLP.from_arrays([[[10, 10], [10, 10]], [[5], [-5]]], [[-5, -15], [-5]],
        ...                               "tanh", "sigmoid", "bce")  # weights that solve XOR
        >>> xprop.to_numpy(model.predict_output(X)).round(4)
        array([[0.0067],
               [0.9933],
               [0.9933],
               [0.0067]])
        """
        X, _, _ = self.prepare(X)
        return network.forward(self.params, X, self.arch, self.xp)[0]

    @on_device
    def predict(self, X: Any) -> Array:
        """Predictions for user data: the head's decision on the output.

        Parameters
        ----------
        X : array_like
            Features (standardised by the model's standardizer, if any).

        Returns
        -------
        array
            Class indices ``(n,)`` for a softmax output (argmax), 0/1 for a sigmoid output
            (threshold 0.5; logit 0 for ``bce_with_logits``; shape ``(n,)`` for one
            output), the raw output otherwise; an array of the model's backend.

        Raises
        ------
        ValueError
            For invalid data (as :meth:`prepare`).

        Examples
        --------
        >>> X, y = xprop.datasets.xor()
        >>> model = xprop.MLP.from_arrays([[[10, 10], [10, 10]], [[5], [-5]]], [[-5, -15], [-5]],
        ...                               "tanh", "sigmoid", "bce")  # weights that solve XOR
        >>> xprop.to_numpy(model.predict(X))
        array([0, 1, 1, 0])
        """
        out = self.predict_output(X)
        self.head.check_decidable(out, self.xp)
        return self.head.decide(out, self.xp)

    @on_device
    def predict_proba(self, X: Any) -> Array:
        """Class probabilities of a classifier for user data.

        Parameters
        ----------
        X : array_like
            Features (standardised by the model's standardizer, if any).

        Returns
        -------
        array
            Shape ``(n, k)``: softmax rows, or one sigmoid value per output (of the logits
            for ``bce_with_logits``); an array of the model's backend.

        Raises
        ------
        ValueError
            For a regression model, or invalid data.

        Examples
        --------
        >>> model = xprop.MLP([2, 3], "relu", "softmax", "cross_entropy", seed=0)
        >>> xprop.to_numpy(model.predict_proba([[0.0, 0.0]])).round(4)
        array([[0.3333, 0.3333, 0.3333]])
        """
        self.head.check_probabilities()  # (before the forward pass)
        return self.head.probabilities(self.predict_output(X), self.xp)

    @on_device
    def accuracy(self, X: Any, y: Any) -> float:
        """The fraction of samples whose prediction equals the target.

        Parameters
        ----------
        X : array_like
            Features (standardised by the model's standardizer, if any).
        y : array_like
            Class labels, 0/1 targets, or one-hot rows; with several sigmoid outputs every
            output must match.

        Returns
        -------
        float
            Between 0 and 1.

        Raises
        ------
        ValueError
            For a regression model, or invalid data.

        Examples
        --------
        >>> X, y = xprop.datasets.xor()
        >>> model = xprop.MLP.from_arrays([[[10, 10], [10, 10]], [[5], [-5]]], [[-5, -15], [-5]],
        ...                               "tanh", "sigmoid", "bce")  # weights that solve XOR
        >>> model.accuracy(X, y), model.accuracy(X, [1, 1, 1, 1])
        (1.0, 0.5)
        """
        X, Y, labels = self.prepare(X, V.check_given(y, "y", "class labels or 0/1 targets"))
        if not self.is_classifier:
            raise ValueError(
                "accuracy: defined for classifiers (softmax or sigmoid output, or "
                f"bce_with_logits); this model has a {self.activations[-1].name} output with "
                f"{self.loss_fn.name} loss"
            )
        out = network.forward(self.params, X, self.arch, self.xp)[0]
        self.head.check_decidable(out, self.xp)
        return float(self.head.hits(out, Y, labels, self.xp)) / X.shape[0]

    #: ``model.fit(X, y, ...)``: :func:`xprop.fit` (the same signature and options, checked by
    #: :class:`~xprop.config.FitConfig` before any data is read); returns the History
    fit = fit

    def save(self, path: Any, **kwargs: Any) -> str:
        """Write a checkpoint of this model, standardizer included.

        See :func:`xprop.checkpoint.save`: it refuses what :func:`xprop.load` would refuse,
        before writing, and writes atomically.

        Parameters
        ----------
        path : str or os.PathLike
            The file (``.npz`` is appended when missing).
        **kwargs
            ``overwrite`` (default True), ``input_mean``, ``input_std``, ``columns`` (see
            :func:`xprop.checkpoint.save`).

        Returns
        -------
        str
            The path written.

        Raises
        ------
        CheckpointError
            When the model would not load back.
        OSError
            When the file cannot be written there (``FileExistsError``,
            ``IsADirectoryError``, ``PermissionError``, ...).

        Examples
        --------
        >>> model = xprop.MLP([2, 3, 1], seed=0)
        >>> model.save("model.npz")
        'model.npz'
        >>> xprop.load("model.npz").sizes
        [2, 3, 1]
        """
        return checkpoint.save(self, path, **kwargs)

    def export_onnx(self, path: Any, *, overwrite: bool = True) -> str:
        """Write the model as an ONNX graph recorded from its own forward pass.

        See :func:`xprop.export.export_onnx`: the standardisation inside the graph, input
        ``input`` of shape ``(batch, sizes[0])`` in the model's dtype, outputs
        ``probabilities`` and ``label`` (classifiers) or ``output``, metadata in
        ``metadata_props``; written atomically.

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
        ValueError
            An operation cannot be recorded (``ExportError``), or the standardizer's
            statistics do not fit the graph's input dtype.
        FileExistsError
            An existing file without ``overwrite``.
        IsADirectoryError
            ``path`` (with ``.onnx`` appended, when missing) names a directory.
        ImportError
            ndonnx or onnx is missing (``pip install "xprop[onnx]"``).

        Examples
        --------
        >>> model = xprop.MLP([2, 4, 3], "tanh", "softmax", "cross_entropy", seed=0)
        >>> model.export_onnx("model.onnx")
        'model.onnx'
        """
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


def _arrays_backend(weights: Sequence[Any], biases: Sequence[Any] | None,
                    backend: str | Backend | None, device: Any) -> Backend:
    """The backend of :meth:`MLP.from_arrays`: the arrays' own (they must agree with each
    other and with ``backend``/``device`` when given), or ``backend``'s for host data."""
    arrays = {f"weights[{i}]": w for i, w in enumerate(weights) if not is_host_data(w)}
    if biases is not None:
        arrays.update({f"biases[{i}]": b for i, b in enumerate(biases) if not is_host_data(b)})
    if not arrays:
        return resolve_backend(backend, device)
    found = backend_of(**arrays)
    if backend is not None or device is not None:
        asked = resolve_backend(backend, device)
        if asked.xp is not found.xp or not asked.owns(next(iter(arrays.values()))):
            raise DeviceMismatchError(
                f"{next(iter(arrays))}: explicit weights live on {found.describe()} but "
                f"backend={asked.describe()} was asked for")
    return found


def _chained_sizes(weights: Sequence[Any]) -> list[int]:
    """The layer sizes of weight matrices ``(fan_in, fan_out)`` that chain, each checked."""
    shapes = [tuple(getattr(w, "shape", None) or _shape_of(w)) for w in weights]
    sizes: list[int] = []
    for i, shp in enumerate(shapes):
        if len(shp) != 2:
            raise ValueError(
                f"weights[{i}]: expected a 2-D array (fan_in, fan_out), got shape {shp}")
        if i == 0:
            sizes.append(int(shp[0]))
        elif shp[0] != sizes[-1]:
            raise ValueError(
                f"weights[{i}]: expected shape ({sizes[-1]}, ...) to follow "
                f"weights[{i - 1}] with {sizes[-1]} outputs, got {shp}")
        sizes.append(int(shp[1]))
    try:
        return V.check_layer_sizes(sizes)
    except ValueError as e:
        raise ValueError(f"weights: shapes {shapes} give {e}") from None


def _architecture(sizes: list[int], activation: Any, output_activation: Any, loss: Any,
                  bias: Any) -> Architecture:
    """The checked :class:`Architecture` for the constructor's arguments."""
    n_hidden = len(sizes) - 2
    if isinstance(activation, (str, Activation)):
        hidden = [get_activation(activation)] * n_hidden  # (checked with no hidden layer too)
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


def _load_error(e: Exception, path: Any, dtype: Any, saved: str) -> Exception:
    """What :func:`load` raises for ``e`` from building checkpoint ``path``'s model: the
    caller's backend or ``dtype`` at fault (a BackendError; values beyond ``dtype``), else the
    file (a CheckpointError)."""
    if isinstance(e, (checkpoint.CheckpointError, BackendError)):
        return e
    if isinstance(e, KeyError):
        return checkpoint.CheckpointError(f"checkpoint: {path!r} lacks parameter {e}")
    if dtype is not None and "overflow" in str(e):
        return ValueError(f"dtype: {path!r} holds values beyond {dtype_name(dtype)} ({e}); "
                          f"load it as {saved}")
    return checkpoint.CheckpointError(f"checkpoint: {path!r} is inconsistent: {e}")


def _given_dtype(a: Any) -> str | None:
    """The dtype name of an array, ``"float64"`` for nested lists holding a Python float
    (what a float is), else None."""
    if hasattr(a, "dtype"):
        return str(a.dtype).rsplit(".", 1)[-1]
    if isinstance(a, (list, tuple)):
        return "float64" if any(_given_dtype(v) == "float64" for v in a) else None
    return "float64" if isinstance(a, float) else None


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
    """Load a model from a checkpoint, on any backend and device.

    The model comes with its saved :attr:`MLP.standardizer`, so ``predict`` and the others
    take the raw features, as ``xprop predict`` does.

    Parameters
    ----------
    path : str or os.PathLike
        The checkpoint (from :meth:`MLP.save` or ``xprop train --out``).
    backend : str or Backend or None, default=None
        Where to put it (as :class:`MLP` resolves it when None).
    device : object, default=None
        The device on that backend.
    dtype : str or None, default=None
        ``"float32"`` or ``"float64"``; None: the saved dtype.

    Returns
    -------
    MLP
        The model.

    Raises
    ------
    CheckpointError
        When the file is not a valid xprop checkpoint.
    FileNotFoundError
        When it does not exist.
    BackendError
        For an unknown backend or device, or a dtype the device cannot hold.
    ValueError
        When the parameters overflow the ``dtype`` asked for.

    Examples
    --------
    >>> model = xprop.MLP([2, 3, 1], seed=0)
    >>> _ = model.save("model.npz")
    >>> same = xprop.load("model.npz", dtype="float32")
    >>> same.sizes, xprop.to_numpy(same.params.buffer).dtype.name
    ([2, 3, 1], 'float32')
    """
    header, arrays = checkpoint.read(path)
    sizes = header["layer_sizes"]
    n = len(sizes) - 1
    try:
        weights = [arrays[f"W{i}"] for i in range(n)]
        biases = [arrays[f"b{i}"] for i in range(n)] if header["bias"] else None
        model = MLP.from_arrays(
            weights, biases, activation=header["activations"][:-1],
            output_activation=header["activations"][-1], loss=header["loss"],
            dtype=header["dtype"] if dtype is None else dtype, backend=backend, device=device,
        )
    except (KeyError, ValueError, TypeError) as e:
        raise _load_error(e, path, dtype, header["dtype"]) from None
    if model.sizes != list(sizes):
        raise checkpoint.CheckpointError(
            f"checkpoint: {path!r} parameters give layer sizes {model.sizes}, "
            f"header says {sizes}"
        )
    if "input_mean" in arrays:  # checked by checkpoint.read
        model.standardizer = Standardizer.from_arrays(arrays["input_mean"],
                                                      arrays["input_std"])
    model.columns = header.get("columns")  # (checked by checkpoint.read)
    return model
