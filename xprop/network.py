"""The pure core of xprop: forward pass, backward pass and loss value of a multilayer
perceptron as functions of (parameters, data). Nothing here knows about devices, files or
training loops; every function takes the namespace ``xp`` last (looked up when omitted).

Shapes, for a batch of ``n`` samples and layer sizes ``n_0 -> n_1 -> ... -> n_L``::

    A_0 = X                                   (n, n_0)
    Z_i = A_i @ W_i + b_i                     (n, n_{i+1})     W_i: (n_i, n_{i+1}), b_i: (n_{i+1},)
    A_{i+1} = f_i(Z_i)                        (n, n_{i+1})     the output is A_L = f_{L-1}(Z_{L-1})

Backward, starting from the head's ``dZ_{L-1} = dL/dZ_{L-1}`` (``(A_L - Y) / N`` for the fused
pairs)::

    dW_i = A_i.T @ dZ_i                        (n_i, n_{i+1})
    db_i = sum(dZ_i, axis=0)                   (n_{i+1},)
    dA_i = dZ_i @ W_i.T                        (n, n_i)
    dZ_{i-1} = f_{i-1}'(Z_{i-1}) * dA_i        (the activation's vector-Jacobian product)

``dA_0`` is the gradient with respect to the input ``X``, computed only when asked for.
Gradients come back as :class:`~xprop.params.Params` with the parameters' layout: named views
into one flat gradient buffer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from array_api_compat import array_namespace

from xprop.activations import Activation
from xprop.backend.core import adapter_of_namespace
from xprop.head import Head
from xprop.params import Layout, Params

Array = Any

__all__ = ["Architecture", "Cache", "Kernels", "Layer", "backward", "forward", "kernels",
           "loss_value"]


@dataclass(frozen=True)
class Architecture:
    """Everything about a network but its parameter values.

    Parameters
    ----------
    sizes : tuple of int
        Layer sizes ``(n_0, ..., n_L)``: inputs, hidden layers, outputs.
    hidden : tuple of Activation
        One activation per hidden layer (``len(sizes) - 2``).
    head : Head
        The output activation and the loss (:func:`xprop.head.make_head`).
    bias : bool, default=True
        Whether the layers have biases.

    Attributes
    ----------
    layout : Layout
        Names and shapes of the parameters ``W0, b0, W1, ...`` in their buffer.
    activations : tuple of Activation
        Every layer's activation: the hidden ones, then the head's.
    names : tuple of tuple
        ``(W_i, b_i)`` per layer (``b_i`` None without biases).
    n_layers : int
        ``len(sizes) - 1``.

    Raises
    ------
    ValueError
        When ``hidden`` does not have one activation per hidden layer.

    Examples
    --------
    >>> from xprop.head import make_head
    >>> from xprop.network import Architecture
    >>> arch = Architecture((2, 3, 1), (xprop.get_activation("tanh"),),
    ...                     make_head("sigmoid", "bce"))
    >>> arch.n_layers, arch.names, arch.layout.size
    (2, (('W0', 'b0'), ('W1', 'b1')), 13)
    >>> [a.name for a in arch.activations]
    ['tanh', 'sigmoid']
    """

    sizes: tuple[int, ...]
    hidden: tuple[Activation, ...]
    head: Head
    bias: bool = True
    layout: Layout = field(init=False, repr=False, compare=False)
    activations: tuple[Activation, ...] = field(init=False, repr=False, compare=False)
    names: tuple[tuple[str, str | None], ...] = field(init=False, repr=False, compare=False)
    n_layers: int = field(init=False, repr=False, compare=False)  # len(sizes) - 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "n_layers", len(self.sizes) - 1)
        if len(self.hidden) != len(self.sizes) - 2:
            raise ValueError(
                f"hidden: expected {len(self.sizes) - 2} activations (one per hidden layer), "
                f"got {len(self.hidden)}"
            )
        object.__setattr__(self, "layout", Layout.for_mlp(self.sizes, self.bias))
        object.__setattr__(self, "activations", (*self.hidden, self.head.activation))
        object.__setattr__(self, "names", tuple(
            (f"W{i}", f"b{i}" if self.bias else None) for i in range(self.n_layers)))


@dataclass(slots=True)
class Cache:
    """What :func:`backward` needs from :func:`forward`.

    Parameters
    ----------
    inputs : list of array
        ``inputs[i] = A_i``, the input of layer ``i`` (``A_0 = X``), shape ``(n, n_i)``.
    pre : list of array
        ``pre[i] = Z_i``, the pre-activation of layer ``i``, shape ``(n, n_{i+1})``.
    output : array
        The network output ``A_L``.

    Examples
    --------
    >>> from xprop import network
    >>> model = xprop.MLP.from_arrays(
    ...     [[[0.1, 0.2], [0.3, 0.4]], [[0.5], [0.6]]], [[0.0, 0.0], [0.1]],
    ...     activation="sigmoid", output_activation="sigmoid", loss="bce")
    >>> X, Y, _ = model.prepare([[1.0, 2.0]], [1.0])  # arrays on the model's device
    >>> out, cache = network.forward(model.params, X, model.arch)
    >>> [tuple(A.shape) for A in cache.inputs], [tuple(Z.shape) for Z in cache.pre]
    ([(1, 2), (1, 2)], [(1, 2), (1, 1)])
    >>> xprop.to_numpy(cache.pre[0])  # Z_0 = A_0 @ W_0 + b_0
    array([[0.7, 1. ]])
    """

    inputs: list[Array]
    pre: list[Array]
    output: Array


class Layer(NamedTuple):
    """One layer of a pass, as :func:`kernels` resolves it.

    Attributes
    ----------
    W : str
        The name of its weights (``"W0"``, ...).
    b : str or None
        The name of its bias, None without one.
    forward : callable
        Its activation ``forward(z, xp) -> a`` (the library's own kernel where it has one).
    backward : callable
        Its activation's vector-Jacobian product ``backward(g, z, a, xp) -> f'(z) * g``
        (which may overwrite ``g``: backprop hands it the ``dA`` it just made).

    Examples
    --------
    >>> from xprop import network
    >>> model = xprop.MLP([2, 3, 1], "tanh", seed=0)
    >>> first = network.kernels(model.arch, model.xp).layers[0]
    >>> first.W, first.b, first.forward.__name__
    ('W0', 'b0', 'tanh')
    """

    W: str
    b: str | None
    forward: Callable
    backward: Callable


class Kernels(NamedTuple):
    """The library's functions for a pass, resolved once per fit (or per call).

    Its adapter ``ops`` and a :class:`Layer` per layer, whose activation functions are the
    adapter's own kernels where it has them.

    Examples
    --------
    >>> from xprop import network
    >>> model = xprop.MLP([2, 3, 1], "tanh", "sigmoid", "bce", seed=0)
    >>> k = network.kernels(model.arch, model.xp)
    >>> [(layer.W, layer.b) for layer in k.layers]
    [('W0', 'b0'), ('W1', 'b1')]
    """

    ops: Any
    layers: tuple[Layer, ...]


def kernels(arch: Architecture, xp: Any) -> Kernels:
    """The :class:`Kernels` of ``arch`` on namespace ``xp``.

    Parameters
    ----------
    arch : Architecture
        Sizes, activations and head.
    xp : namespace
        The Array-API namespace of the arrays the passes will see.

    Returns
    -------
    Kernels
        The adapter and the layers' names and functions.

    Examples
    --------
    >>> from xprop import network
    >>> model = xprop.MLP([2, 3, 1], "tanh", seed=0)
    >>> [layer.forward.__name__ for layer in network.kernels(model.arch, model.xp).layers]
    ['tanh', 'identity']
    """
    ops = adapter_of_namespace(xp)
    fns = ops.activation_functions(arch.activations)
    return Kernels(ops, tuple(Layer(w, b, f, df) for (w, b), (f, df) in zip(arch.names, fns)))


def forward(params: Mapping[str, Array], X: Array, arch: Architecture,
            xp: Any = None, *, kernels: Kernels | None = None) -> tuple[Array, Cache]:
    """The forward pass: the network output and the cache for :func:`backward`.

    ``Z_i = A_i @ W_i + b_i`` and ``A_{i+1} = f_i(Z_i)`` for every layer. The library's
    adapter computes each formula (its own kernel where it has a faster one).

    Parameters
    ----------
    params : Params or mapping of str to array
        ``W0, b0, W1, ...`` in ``X``'s namespace, device and dtype.
    X : array
        Inputs of shape ``(n, sizes[0])``.
    arch : Architecture
        Sizes, activations and head.
    xp : namespace, optional
        ``X``'s Array-API namespace (looked up when omitted).
    kernels : Kernels, optional
        The functions of the pass, resolved once by a training loop (see :func:`kernels`);
        resolved here when omitted.

    Returns
    -------
    output : array
        ``A_L``, shape ``(n, sizes[-1])``.
    cache : Cache
        Every layer's input and pre-activation.

    Examples
    --------
    >>> from xprop import network
    >>> model = xprop.MLP.from_arrays(
    ...     [[[0.1, 0.2], [0.3, 0.4]], [[0.5], [0.6]]], [[0.0, 0.0], [0.1]],
    ...     activation="sigmoid", output_activation="sigmoid", loss="bce")
    >>> X, Y, _ = model.prepare([[1.0, 2.0]], [1.0])  # arrays on the model's device
    >>> out, cache = network.forward(model.params, X, model.arch)
    >>> xprop.to_numpy(out).round(6)  # sigmoid(sigmoid(Z_0) @ W_1 + b_1)
    array([[0.705313]])
    """
    xp = array_namespace(X) if xp is None else xp
    ops, layers = kernels or _kernels(arch, xp)
    params = params.views() if isinstance(params, Params) else params
    inputs, pre = [], []
    A, affine = X, ops.affine
    for W, b, f, _ in layers:
        Z = affine(A, params[W], None if b is None else params[b], xp)  # A_i @ W_i + b_i
        inputs.append(A)
        pre.append(Z)
        A = f(Z, xp)  # A_{i+1} = f_i(Z_i)
    return A, Cache(inputs, pre, A)


def backward(params: Mapping[str, Array], cache: Cache, Y: Array, arch: Architecture, *,
             input_grad: bool = False, out: Params | None = None, row_weights: Array | None = None,
             record: dict[str, Array] | None = None, xp: Any = None,
             kernels: Kernels | None = None) -> Params | tuple[Params, Array]:
    """The backward pass: the gradient of the loss with respect to every parameter.

    Starting from the head's ``dZ_{L-1}``, each layer gives ``dW_i = A_i.T @ dZ_i``,
    ``db_i = sum(dZ_i, axis=0)`` and ``dA_i = dZ_i @ W_i.T``, then
    ``dZ_{i-1} = f_{i-1}'(Z_{i-1}) * dA_i`` (see the module docstring).

    Parameters
    ----------
    params : Params or mapping of str to array
        The parameters :func:`forward` used.
    cache : Cache
        What :func:`forward` returned.
    Y : array
        Targets of shape ``(n, sizes[-1])``, prepared by the head
        (:meth:`~xprop.head.Head.prepare_targets`).
    arch : Architecture
        Sizes, activations and head.
    input_grad : bool, default=False
        Also return ``dX = dL/dX``, of the shape of ``X``.
    out : Params or None, default=None
        Gradients of the same layout to write into (a training loop's gradient buffer,
        reused every step); then the result *is* ``out``. Namespaces that cannot write in
        place (JAX) ignore it and return a new buffer, as without ``out``.
    row_weights : array or None, default=None
        Shape ``(n,)``: they multiply each sample's term of the loss, hence the rows of
        ``dZ_{L-1}``: weights ``w_i n / sum(w)`` turn a mean loss into the weighted mean
        ``sum(w_i l_i) / sum(w)`` (scikit-learn's ``sample_weight``).
    record : dict or None, default=None
        A dict that receives every ``dZ_i`` (as ``"dZ{i}"``) and ``dA_i`` for ``i >= 1``
        (``"dA{i}"``, copied: an activation's backward may overwrite it), for
        :func:`xprop.trace`.
    xp : namespace, optional
        ``Y``'s Array-API namespace (looked up when omitted).
    kernels : Kernels, optional
        The functions of the pass, resolved once by a training loop (see :func:`kernels`);
        resolved here when omitted.

    Returns
    -------
    grads : Params
        ``dW0, db0, ...`` under the parameters' names: views into one flat gradient buffer.
    dX : array
        ``dL/dX``, only with ``input_grad=True`` (then the result is ``(grads, dX)``).

    Examples
    --------
    >>> from xprop import network
    >>> model = xprop.MLP.from_arrays(
    ...     [[[0.1, 0.2], [0.3, 0.4]], [[0.5], [0.6]]], [[0.0, 0.0], [0.1]],
    ...     activation="sigmoid", output_activation="sigmoid", loss="bce")
    >>> X, Y, _ = model.prepare([[1.0, 2.0]], [1.0])  # arrays on the model's device
    >>> out, cache = network.forward(model.params, X, model.arch)
    >>> grads = network.backward(model.params, cache, Y, model.arch)
    >>> xprop.to_numpy(grads["b1"]).round(6)  # dZ_1 = (a - y) / N for sigmoid + bce
    array([-0.294687])
    >>> xprop.to_numpy(grads["W1"]).round(6)  # dW_1 = A_1.T @ dZ_1
    array([[-0.196906],
           [-0.215433]])
    >>> grads, dX = network.backward(model.params, cache, Y, model.arch, input_grad=True)
    >>> tuple(dX.shape)
    (1, 2)
    """
    check_cache(cache)
    xp = array_namespace(Y) if xp is None else xp
    ops, layers = kernels or _kernels(arch, xp)
    params = params.views() if isinstance(params, Params) else params
    into = out.views() if out is not None and ops.mutable else None  # written in place
    grads: dict[str, Array] = {}
    inputs, pre = cache.inputs, cache.pre
    dZ = arch.head.output_grad(pre[-1], cache.output, Y, xp)
    if row_weights is not None:
        dZ = dZ * row_weights[:, None]
    dX = None
    for i in range(len(layers) - 1, -1, -1):
        W, b, _, _ = layers[i]
        if record is not None:
            record[f"dZ{i}"] = dZ
        if b is not None:  # db_i = sum(dZ_i, axis=0)
            grads[b] = ops.sum_rows(dZ, xp, None if into is None else into[b])
        grads[W] = ops.matmul(inputs[i].T, dZ, xp,  # dW_i = A_i.T @ dZ_i
                              None if into is None else into[W])
        if i > 0:
            dA = ops.matmul(dZ, params[W].T, xp)  # dA_i = dZ_i @ W_i.T
            if record is not None:
                record[f"dA{i}"] = xp.asarray(dA, copy=True)
            dZ = layers[i - 1].backward(dA, pre[i - 1], inputs[i], xp)  # f' * dA_i
        elif input_grad:
            dX = ops.matmul(dZ, params[W].T, xp)
    if into is None:  # the new gradients, flattened into one buffer
        out = Params.wrap(arch.layout, arch.layout.flatten(
            [grads[name] for name in arch.layout.names], xp), xp)
    return (out, dX) if input_grad else out


_kernels = kernels  # the module function, for the passes whose argument shadows it


def check_cache(cache: Any) -> None:
    """``cache`` is a :class:`Cache` (the second element of what :func:`forward` returns).

    Raises
    ------
    TypeError
        For anything else, with a hint for ``forward``'s whole ``(output, cache)`` pair.
    """
    if not isinstance(cache, Cache):
        hint = (" (forward returns (output, cache): pass its second element)"
                if isinstance(cache, tuple) and len(cache) == 2 else "")
        raise TypeError(f"cache: expected the Cache that forward returns, got "
                        f"{type(cache).__name__}{hint}")


def loss_value(cache: Cache, Y: Array, arch: Architecture, xp: Any = None) -> Array:
    """The loss of a cached forward pass against targets ``Y``.

    Parameters
    ----------
    cache : Cache
        What :func:`forward` returned.
    Y : array
        Prepared targets of shape ``(n, sizes[-1])``.
    arch : Architecture
        Sizes, activations and head.
    xp : namespace, optional
        ``Y``'s Array-API namespace (looked up when omitted).

    Returns
    -------
    array
        A 0-d array (from the logits for the fused pairs: exact).

    Examples
    --------
    >>> from xprop import network
    >>> model = xprop.MLP.from_arrays(
    ...     [[[0.1, 0.2], [0.3, 0.4]], [[0.5], [0.6]]], [[0.0, 0.0], [0.1]],
    ...     activation="sigmoid", output_activation="sigmoid", loss="bce")
    >>> X, Y, _ = model.prepare([[1.0, 2.0]], [1.0])  # arrays on the model's device
    >>> out, cache = network.forward(model.params, X, model.arch)
    >>> round(float(network.loss_value(cache, Y, model.arch)), 6)  # -log(0.705313)
    0.349113
    """
    check_cache(cache)
    xp = array_namespace(Y) if xp is None else xp
    return arch.head.value(cache.pre[-1], cache.output, Y, xp)

