"""A multilayer perceptron with explicit backpropagation, written once for any Array-API
namespace.

Layer ``i`` maps ``A_i`` of shape ``(n, sizes[i])`` to ``A_{i+1} = f_i(A_i @ W_i + b_i)`` with
``W_i`` of shape ``(sizes[i], sizes[i+1])`` and ``b_i`` of shape ``(sizes[i+1],)``. Backward,
with ``dZ`` the gradient at the pre-activation of layer ``i``::

    dW_i = A_i.T @ dZ        db_i = sum(dZ, axis=0)        dA_i = dZ @ W_i.T
    dZ_{i-1} = f_{i-1}'(Z_{i-1}) * dA_i     (the activation's vector-Jacobian product)

The namespace ``xp`` is looked up once, when the model is made. Entry points (``fit``,
``predict``, ``loss``, ``accuracy``, ``xprop.gradcheck``) validate data once and convert it to
the model's dtype and device; the low-level ``forward``/``backward`` refuse arrays of another
namespace, device or dtype instead of converting them.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from xprop import validation as V
from xprop.activations import Activation, get_activation
from xprop.backend import (
    Backend,
    DeviceMismatchError,
    backend_of,
    dtype_name,
    fast_namespace,
    is_array,
    is_host_data,
    resolve_backend,
    to_backend,
    to_numpy,
)
from xprop.init import draw_weights
from xprop.losses import Loss, get_loss, one_hot

Array = Any

__all__ = ["MLP", "ForwardCache"]


def _on_device(method):
    """Run an entry point with the model's device current (matters for CuPy device N > 0)."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with self.backend.context():
            return method(self, *args, **kwargs)

    return wrapper


@dataclass
class ForwardCache:
    """What backward needs: ``inputs[i]`` = A_i (input of layer i), ``pre[i]`` = Z_i,
    ``output`` = the network output."""

    inputs: list[Array]
    pre: list[Array]
    output: Array


class MLP:
    """A fully connected network ``sizes[0] -> ... -> sizes[-1]``.

    Parameters
    ----------
    layer_sizes: ``[n_inputs, hidden..., n_outputs]``, at least two integers >= 1.
    activation: hidden activation name, or one name per hidden layer.
    output_activation: ``identity``, ``sigmoid``, ``softmax``, ... (see ``xprop.activations``).
    loss: ``mse``, ``half_sse``, ``bce``, ``bce_with_logits``, ``cross_entropy``.
    bias: whether layers have biases (zero at start).
    init: ``auto``, ``xavier_normal``/``glorot_normal``, ``xavier_uniform``/``glorot_uniform``,
        ``he``, ``he_uniform``, ``normal(scale)``, ``uniform``; or one per layer.
    seed: seed of the host generator that draws the weights (same seed, same bits everywhere).
    dtype: ``"float32"`` or ``"float64"``; fixed for the life of the model.
    backend, device: where the parameters live (see :func:`xprop.resolve_backend`).
    """

    input_mean: Any = None  # set by xprop.load when a checkpoint carries a standardisation
    input_std: Any = None

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
        dtype: Any = "float64",
        backend: str | Backend | None = None,
        device: Any = None,
    ) -> None:
        sizes = V.check_layer_sizes(layer_sizes)
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed: expected an integer >= 0, got {seed!r}")
        if not isinstance(init, str) and not (isinstance(init, (list, tuple))
                                              and all(isinstance(i, str) for i in init)):
            raise ValueError(f"init: expected a name or a list of names, got {init!r}")
        self._configure(sizes, activation, output_activation, loss, bias,
                        resolve_backend(backend, device), dtype)
        n_layers = len(sizes) - 1
        inits = [init] * n_layers if isinstance(init, str) else list(init)
        if len(inits) != n_layers:
            raise ValueError(f"init: expected 1 or {n_layers} names, got {len(inits)}")
        self.init = init
        self.seed = seed
        host_w = draw_weights(sizes, inits, [a.name for a in self.activations], seed)
        params = []
        for i, w in enumerate(host_w):
            params.append(self.backend.from_host(w, self.dtype))
            if bias:
                params.append(self.xp.zeros((sizes[i + 1],), dtype=self.dtype,
                                            device=self.backend.device))
        self._params = params

    # ------------------------------------------------------------------ construction helpers

    def _configure(self, sizes: list[int], activation: Any, output_activation: str, loss: Any,
                   bias: bool, backend: Backend, dtype: Any) -> None:
        n_hidden = len(sizes) - 2
        if isinstance(activation, (str, Activation)):
            hidden = [activation] * n_hidden
        elif not isinstance(activation, (list, tuple)):
            raise ValueError(
                f"activation: expected a name or a list of names, got {activation!r}"
            )
        else:
            hidden = list(activation)
            if len(hidden) != n_hidden:
                raise ValueError(
                    f"activation: expected 1 name or {n_hidden} (one per hidden layer), "
                    f"got {len(hidden)}"
                )
        if not isinstance(bias, bool):
            raise ValueError(f"bias: expected True or False, got {bias!r}")
        self.sizes = sizes
        self.activations: list[Activation] = [get_activation(a) for a in hidden]
        self.activations.append(get_activation(output_activation))
        self.loss_fn: Loss = get_loss(loss)
        self.bias = bias
        self.backend = backend
        self.xp = fast_namespace(backend.xp)  # the namespace, with faster NumPy reductions
        self.dtype = backend.dtype(dtype)
        self._fused = self.loss_fn.fused_activation == self.activations[-1].name
        per = 2 if bias else 1
        self._names = [f"{k}{i}" for i in range(len(sizes) - 1)
                       for k in (("W", "b") if bias else ("W",))]
        self._per = per

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
        if dtype is None:  # the weights' own floating dtype, else float64
            name = str(getattr(weights[0], "dtype", "float64")).rsplit(".", 1)[-1]
            dtype = name if name in ("float32", "float64") else "float64"
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
        model = cls.__new__(cls)
        model._configure(sizes, activation, output_activation, loss, biases is not None,
                         chosen, dtype)
        model.init = "explicit"
        model.seed = None
        if biases is not None and len(biases) != len(weights):
            raise ValueError(
                f"biases: expected {len(weights)} bias vectors (one per layer), got {len(biases)}"
            )
        values = {}
        for i, w in enumerate(weights):
            values[f"W{i}"] = w
            if biases is not None:
                values[f"b{i}"] = biases[i]
        model._params = [None] * len(model._names)
        model.set_parameters(values)
        return model

    # ------------------------------------------------------------------ parameters

    @property
    def n_layers(self) -> int:
        return len(self.sizes) - 1

    @property
    def weights(self) -> list[Array]:
        """The weight matrices ``W_i``, shape ``(sizes[i], sizes[i+1])`` (live arrays)."""
        return self._params[:: self._per]

    @property
    def biases(self) -> list[Array] | None:
        """The bias vectors ``b_i``, shape ``(sizes[i+1],)``, or ``None`` without biases."""
        return self._params[1 :: self._per] if self.bias else None

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes = {}
        for i in range(self.n_layers):
            shapes[f"W{i}"] = (self.sizes[i], self.sizes[i + 1])
            if self.bias:
                shapes[f"b{i}"] = (self.sizes[i + 1],)
        return shapes

    def parameters(self) -> dict[str, Array]:
        """Name -> array (``W0``, ``b0``, ``W1``, ...), the live arrays in layer order."""
        return dict(zip(self._names, self._params))

    def set_parameters(self, values: Mapping[str, Any]) -> None:
        """Replace parameters by name (copies; shapes, backend and device are checked;
        host data is moved to the model's device and cast to its dtype)."""
        shapes = self.parameter_shapes()
        new = list(self._params)
        for name, v in values.items():
            if name not in shapes:
                raise KeyError(f"parameters: unknown name {name!r}; expected {list(shapes)}")
            arr = self.backend.accept(v, name, self.dtype)
            if tuple(arr.shape) != shapes[name]:
                raise ValueError(
                    f"{name}: expected shape {shapes[name]}, got {tuple(arr.shape)}"
                )
            if not self.xp.isdtype(arr.dtype, ("real floating", "integral")):
                raise TypeError(f"{name}: expected real numbers, got dtype {arr.dtype}")
            V.check_finite(arr, name, self.xp)
            new[self._names.index(name)] = self.xp.asarray(
                self.xp.astype(arr, self.dtype), copy=True
            )
        missing = [n for n, p in zip(self._names, new) if p is None]
        if missing:
            raise ValueError(f"parameters: missing values for {missing}")
        self._params = new

    def count_parameters(self) -> int:
        """Number of trainable scalars: sum of fan_in*fan_out (+ fan_out with biases)."""
        return sum(math.prod(s) for s in self.parameter_shapes().values())

    def to(self, backend: str | Backend, device: Any = None) -> MLP:
        """A copy of this model on another backend/device, every value unchanged (through the
        host)."""
        target = resolve_backend(backend, device)
        clone = self.__class__.__new__(self.__class__)
        clone.__dict__.update(self.__dict__)
        clone._configure(self.sizes, self.activations[:-1], self.activations[-1],
                         self.loss_fn, self.bias, target, dtype_name(self.dtype, self.xp))
        clone._params = [to_backend(p, target) for p in self._params]
        return clone

    def astype(self, dtype: Any) -> MLP:
        """A copy of this model in another dtype on the same backend and device."""
        clone = self.__class__.__new__(self.__class__)
        clone.__dict__.update(self.__dict__)
        clone.dtype = self.backend.dtype(dtype)
        clone._params = [self.xp.astype(p, clone.dtype) for p in self._params]
        if clone.dtype == self.dtype:
            clone._params = [self.xp.asarray(p, copy=True) for p in clone._params]
        return clone

    def __repr__(self) -> str:
        acts = ",".join(a.name for a in self.activations)
        return (
            f"MLP({self.sizes}, activations=[{acts}], loss={self.loss_fn.name!r}, "
            f"bias={self.bias}, dtype={dtype_name(self.dtype, self.xp)}, "
            f"backend={self.backend.describe()})"
        )

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

    @_on_device
    def forward(self, X: Array) -> tuple[Array, ForwardCache]:
        """Output ``(n, sizes[-1])`` and the cache for :meth:`backward`. ``X`` must be a
        ``(n, sizes[0])`` array of the model's namespace, device and dtype."""
        self._check_own(X, "X")
        V.check_matrix(X, "X", self.sizes[0])
        return self._forward(X, self._params)

    def _forward(self, X: Array, params: list[Array]) -> tuple[Array, ForwardCache]:
        xp, per, bias = self.xp, self._per, self.bias
        inputs, pre = [], []
        A = X
        for i, act in enumerate(self.activations):
            Z = A @ params[i * per]
            if bias:
                Z += params[i * per + 1]
            inputs.append(A)
            pre.append(Z)
            A = act.forward(Z, xp)
        return A, ForwardCache(inputs, pre, A)

    @_on_device
    def backward(
        self, cache: ForwardCache, y: Array, input_grad: bool = False
    ) -> dict[str, Array]:
        """Gradients of the loss for every parameter (``W0``, ``b0``, ...) and, with
        ``input_grad=True``, for the input under ``"X"``.

        ``y``: targets on the model's device: ``(n, k)`` of the model's dtype, ``(n,)`` for
        one output, or ``(n,)`` integer labels for ``cross_entropy``.
        """
        Y = self._coerce_targets(y, cache.output.shape[0])
        grads, dX = self._backward(cache, Y, self._params, input_grad)
        out = dict(zip(self._names, grads))
        if input_grad:
            out["X"] = dX
        return out

    def _coerce_targets(self, y: Array, n: int) -> Array:
        xp = self.xp
        if not self.backend.owns(y):
            self._check_own(y, "y")
        if y.ndim == 1:
            if self.loss_fn.targets == "labels" and xp.isdtype(y.dtype, "integral"):
                return one_hot(y, self.sizes[-1], self.dtype, xp)
            if self.sizes[-1] != 1:
                raise ValueError(
                    f"y: expected shape ({n}, {self.sizes[-1]}), got {tuple(y.shape)}"
                )
            y = xp.reshape(y, (-1, 1))
        if tuple(y.shape) != (n, self.sizes[-1]):
            raise ValueError(f"y: expected shape ({n}, {self.sizes[-1]}), got {tuple(y.shape)}")
        if y.dtype != self.dtype:
            raise TypeError(
                f"y: expected dtype {dtype_name(self.dtype, xp)} (the model's), got {y.dtype}"
            )
        return y

    def _output_grad(self, cache: ForwardCache, Y: Array) -> Array:
        """dL/dZ of the last layer: the fused ``(a - y) / N`` where the pair allows it."""
        xp, out = self.xp, cache.output
        if self._fused:
            return self.loss_fn.fused_grad(out, Y, xp)
        act = self.activations[-1]
        return act.backward(self.loss_fn.grad(out, Y, xp), cache.pre[-1], out, xp)

    def _backward(
        self, cache: ForwardCache, Y: Array, params: list[Array], input_grad: bool = False
    ) -> tuple[list[Array], Array | None]:
        xp, per, bias = self.xp, self._per, self.bias
        grads: list[Array] = [None] * len(params)
        dZ = self._output_grad(cache, Y)
        dX = None
        for i in range(self.n_layers - 1, -1, -1):
            grads[i * per] = cache.inputs[i].T @ dZ
            if bias:
                grads[i * per + 1] = xp.sum(dZ, axis=0)
            if i > 0:
                dA = dZ @ params[i * per].T
                dZ = self.activations[i - 1].backward(dA, cache.pre[i - 1], cache.inputs[i], xp)
            elif input_grad:
                dX = dZ @ params[0].T
        return grads, dX

    def _loss_value(self, cache: ForwardCache, Y: Array) -> Array:
        """The loss as a 0-d array (from the logits for fused pairs: exact, no eps)."""
        if self._fused:
            return self.loss_fn.value_from_logits(cache.pre[-1], Y, self.xp)
        return self.loss_fn.value(cache.output, Y, self.xp)

    # ------------------------------------------------------------------ entry points

    def prepare(self, X: Any, y: Any | None = None) -> tuple[Array, Array | None, Array | None]:
        """Validate and convert user data once: ``X`` to a ``(n, sizes[0])`` array of the
        model's dtype on its device, ``y`` to ``(n, k)`` targets; also returns the integer labels
        (for accuracy) when the loss takes class labels."""
        xp = self.xp
        X = self.backend.accept(X, "X", self.dtype)
        V.check_matrix(X, "X", self.sizes[0])
        V.check_finite(X, "X", xp)
        if y is None:
            return X, None, None
        n, k = X.shape[0], self.sizes[-1]
        kind = self.loss_fn.targets
        labels = None
        if kind == "labels":
            y = self.backend.accept(y, "y", float_dtype=self.dtype)
            if y.ndim == 1:
                if not xp.isdtype(y.dtype, "integral"):
                    raise TypeError(
                        f"y: {self.loss_fn.name} expects integer class labels in [0, {k}) or "
                        f"one-hot of shape ({n}, {k}); got {y.dtype} labels"
                    )
                self._check_len(y, n)
                lo, hi = int(xp.min(y)), int(xp.max(y))
                if lo < 0 or hi >= k:
                    raise ValueError(
                        f"y: expected class labels in [0, {k}) for {k} outputs, got labels "
                        f"from {lo} to {hi}"
                    )
                labels = y
                Y = one_hot(y, k, self.dtype, xp)
            else:
                Y = xp.astype(y, self.dtype) if y.dtype != self.dtype else y
                self._check_targets_shape(Y, n, k)
                V.check_finite(Y, "y", xp)
                V.check_distributions(Y, "y", xp)
                labels = xp.argmax(Y, axis=1)
            return X, Y, labels
        y = self.backend.accept(y, "y", self.dtype)
        if y.ndim == 1 and k == 1:
            y = xp.reshape(y, (-1, 1))
        self._check_targets_shape(y, n, k)
        V.check_finite(y, "y", xp)
        if kind == "binary":
            lo, hi = float(xp.min(y)), float(xp.max(y))
            if lo < 0.0 or hi > 1.0:
                raise ValueError(
                    f"y: {self.loss_fn.name} expects targets in [0, 1], got values from "
                    f"{lo} to {hi}"
                )
        return X, y, None

    @staticmethod
    def _check_len(y: Array, n: int) -> None:
        if y.shape[0] != n:
            raise ValueError(f"y: expected {n} targets (one per row of X), got {y.shape[0]}")

    @staticmethod
    def _check_targets_shape(Y: Array, n: int, k: int) -> None:
        if Y.ndim >= 1 and Y.shape[0] != n:
            MLP._check_len(Y, n)
        if tuple(Y.shape) != (n, k):
            expected = f"({n},) or ({n}, 1)" if k == 1 else f"({n}, {k})"
            raise ValueError(f"y: expected shape {expected}, got {tuple(Y.shape)}")

    @_on_device
    def loss(self, X: Any, y: Any) -> float:
        """The loss on ``(X, y)`` as a Python float."""
        X, Y, _ = self.prepare(X, y)
        _, cache = self._forward(X, self._params)
        return float(self._loss_value(cache, Y))

    @_on_device
    def predict_output(self, X: Any) -> Array:
        """The network output ``(n, sizes[-1])`` for host or device data."""
        X, _, _ = self.prepare(X)
        return self._forward(X, self._params)[0]

    @_on_device
    def predict(self, X: Any) -> Array:
        """Class indices ``(n,)`` for a softmax output (argmax), 0/1 for a sigmoid output
        (threshold 0.5; logit 0 for ``bce_with_logits``; shape ``(n,)`` for one output), the
        raw output otherwise. Arrays of the model's backend."""
        out = self.predict_output(X)
        return self._decide(out)

    def _decide(self, out: Array) -> Array:
        xp = self.xp
        act = self.activations[-1].name
        if act == "softmax":
            return xp.argmax(out, axis=1)
        threshold = None
        if act == "sigmoid":
            threshold = 0.5
        elif self.loss_fn.name == "bce_with_logits":
            threshold = 0.0
        if threshold is None:
            return out
        pred = xp.astype(out > threshold, xp.int64)
        return pred[:, 0] if out.shape[1] == 1 else pred

    @_on_device
    def accuracy(self, X: Any, y: Any) -> float:
        """Fraction of samples whose prediction equals ``y`` (class labels, 0/1 targets, or
        one-hot; with several sigmoid outputs every output must match)."""
        X, Y, labels = self.prepare(X, y)
        if not self.is_classifier:
            raise ValueError(
                "accuracy: defined for classifiers (softmax or sigmoid output, or "
                f"bce_with_logits); this model has a {self.activations[-1].name} output with "
                f"{self.loss_fn.name} loss"
            )
        out = self._forward(X, self._params)[0]
        return float(self._hits(out, Y, labels)) / X.shape[0]

    @property
    def is_classifier(self) -> bool:
        """Softmax or sigmoid output, or the ``bce_with_logits`` loss."""
        return (self.activations[-1].name in ("softmax", "sigmoid")
                or self.loss_fn.name == "bce_with_logits")

    def _hits(self, out: Array, Y: Array, labels: Array | None) -> Array:
        """Number of correct predictions as a 0-d array (no device sync)."""
        xp = self.xp
        pred = self._decide(out)
        if labels is None:
            truth = xp.astype(Y > 0.5, pred.dtype)
            truth = truth[:, 0] if Y.shape[1] == 1 else truth
        else:
            truth = xp.astype(labels, pred.dtype)
        eq = pred == truth
        if eq.ndim == 2:
            eq = xp.all(eq, axis=1)
        return xp.sum(xp.astype(eq, self.dtype))

    @_on_device
    def fit(self, X: Any, y: Any, **kwargs: Any) -> Any:
        """Train in place; see :func:`xprop.train.fit` for the options. Returns the history."""
        from xprop.train import fit

        return fit(self, X, y, **kwargs)

    def save(self, path: Any, **kwargs: Any) -> str:
        """Write a checkpoint (see :func:`xprop.checkpoint.save`); returns the path."""
        from xprop.checkpoint import save

        return save(self, path, **kwargs)

    def to_numpy_parameters(self) -> dict[str, Any]:
        """Host copies of the parameters (NumPy arrays), e.g. for saving or comparing."""
        return {n: to_numpy(p, copy=True) for n, p in zip(self._names, self._params)}


def _shape_of(nested: Any) -> tuple[int, ...]:
    shape = []
    while isinstance(nested, (list, tuple)):
        shape.append(len(nested))
        if not nested:
            break
        nested = nested[0]
    return tuple(shape)
