"""Activation functions, each with its derivative beside it, written once for any Array-API
namespace.

Every activation ``f`` maps pre-activations ``z`` of shape ``(n, k)`` to ``a = f(z)`` of the same
shape and offers three functions, all taking the namespace ``xp`` last so that a model can look
it up once:

- ``forward(z, xp) -> a``
- ``derivative(z, a, xp) -> f'(z)`` elementwise (softmax: the Jacobian, shape ``(n, k, k)``)
- ``backward(g, z, a, xp) -> g * f'(z)`` the vector-Jacobian product used by backprop.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from array_api_compat import array_namespace, device

from xprop.validation import check_block_name, check_bool, parse_parameter, show

Array = Any

__all__ = ["ACTIVATIONS", "Activation", "get_activation", "make_activation", "register_activation"]


class NamedFunctions:
    """What activations and losses share: a name that, looked up (:meth:`lookup`), stands
    for their functions; pickles and checkpoints write the name alone when it does. They
    are immutable: copies are the object itself."""

    #: the fields that hold functions (the others are settings)
    FUNCTIONS: ClassVar[tuple[str, ...]] = ()
    name: str

    @classmethod
    def lookup(cls, name: str) -> Any:
        """The registered (or built-in) one of that name; ValueError for an unknown name."""
        raise NotImplementedError

    def stands_for_name(self) -> bool:
        """Whether :meth:`lookup` of its name gives it again.

        The same functions (the same objects, or closures of one code over the same
        values, as ``leaky_relu(alpha)`` and :func:`make_activation` make per call) and
        settings.

        Returns
        -------
        bool
            False for a name registered again since, or never.

        Examples
        --------
        >>> xprop.get_activation("leaky_relu(0.2)").stands_for_name()
        True
        >>> xprop.get_loss("mse").stands_for_name()
        True
        """
        try:
            known = type(self).lookup(self.name)
        except ValueError:
            return False
        settings = [f.name for f in dataclasses.fields(self) if f.name not in self.FUNCTIONS]
        return type(known) is type(self) and all(
            _same_function(getattr(known, f), getattr(self, f)) for f in self.FUNCTIONS) and all(
            getattr(known, f) == getattr(self, f) for f in settings)

    def __reduce_ex__(self, protocol: Any) -> Any:
        """Pickled by name when the name stands for it (:meth:`stands_for_name`), by value
        otherwise (which pickle cannot do for lambdas and closures: register them)."""
        if self.stands_for_name():
            return _named, (type(self), self.name)
        return object.__reduce_ex__(self, protocol)

    def __deepcopy__(self, memo: dict) -> Any:
        return self

    def __copy__(self) -> Any:
        return self


@dataclass(frozen=True)
class Activation(NamedFunctions):
    """An activation function with its derivative and its vector-Jacobian product.

    Made by :func:`make_activation` (or built in: :data:`ACTIVATIONS`); models, the CLI and
    the gradient check take it, or its name once registered (:func:`register_activation`).

    Parameters
    ----------
    name : str
        Its name (what checkpoints store).
    forward : callable
        ``forward(z, xp) -> a``, elementwise on ``(n, k)`` arrays (softmax: per row).
    derivative : callable
        ``derivative(z, a, xp) -> f'(z)`` with ``a = f(z)``: elementwise, or the Jacobian
        of shape ``(n, k, k)`` for softmax.
    backward : callable
        ``backward(g, z, a, xp) -> g * f'(z)``: the vector-Jacobian product backprop uses.
    kink : bool, default=False
        True when it is not differentiable at ``z == 0`` (ReLU-like functions); the
        gradient check then watches ``z > 0``.
    kernel : str or None, default=None
        The name of a named operation a backend may run with its own fused kernels
        (``relu``, ``sigmoid``, ``tanh``); None for made-up activations.

    Examples
    --------
    >>> relu = xprop.get_activation("relu")
    >>> relu.name, relu.kink
    ('relu', True)
    >>> relu(np.array([-1.0, 2.0]))
    array([0., 2.])
    >>> b = xprop.resolve_backend()  # the default backend: NumPy unless set otherwise
    >>> z, g = b.from_host([-1.0, 2.0]), b.from_host([5.0, 5.0])
    >>> xprop.to_numpy(relu.backward(g, z, relu.forward(z, b.xp), b.xp))
    array([0., 5.])
    """

    name: str
    forward: Callable[[Array, Any], Array]
    derivative: Callable[[Array, Array, Any], Array]
    backward: Callable[[Array, Array, Array, Any], Array]
    kink: bool = False
    #: the name of a named operation a backend may run with its own fused kernels (forward
    #: and backward; see ``Adapter.activation_functions``); None for made-up activations
    kernel: str | None = None
    FUNCTIONS: ClassVar[tuple[str, ...]] = ("forward", "derivative", "backward")

    @classmethod
    def lookup(cls, name: str) -> Activation:
        """The activation of that name (:func:`get_activation`).

        Parameters
        ----------
        name : str
            A built-in or registered name, or ``"leaky_relu(alpha)"``.

        Returns
        -------
        Activation
            What the name stands for now.

        Examples
        --------
        >>> from xprop.activations import Activation
        >>> Activation.lookup("tanh") is xprop.get_activation("tanh")
        True
        """
        return get_activation(name)

    @property
    def named_operation(self) -> str | None:
        """The backend kernel this activation may run with, or None.

        :attr:`kernel`, while ``forward`` and ``backward`` are still the built-in functions
        that name stands for (an activation made with ``dataclasses.replace`` and other
        functions has none: a library kernel would not compute them).
        """
        if self.kernel is None:
            return None
        return self.kernel if NAMED.get(self.kernel) == (self.forward, self.backward) else None

    def __call__(self, z: Array) -> Array:
        """Apply the activation to ``z``, looking its namespace up.

        Parameters
        ----------
        z : array
            Pre-activations, any Array-API array.

        Returns
        -------
        array
            ``f(z)``, of ``z``'s namespace, shape and dtype.

        Examples
        --------
        >>> xprop.get_activation("sigmoid")(np.array([0.0]))
        array([0.5])
        """
        return self.forward(z, array_namespace(z))

    def grad(self, z: Array) -> Array:
        """The derivative ``f'(z)`` for a lone array (models use ``derivative``).

        Parameters
        ----------
        z : array
            Pre-activations, any Array-API array (its namespace is looked up).

        Returns
        -------
        array
            ``f'(z)`` (for softmax the Jacobian, shape ``(n, k, k)``).

        Examples
        --------
        >>> xprop.get_activation("tanh").grad(np.array([0.0, 1.0])).round(4)
        array([1.  , 0.42])
        """
        xp = array_namespace(z)
        return self.derivative(z, self.forward(z, xp), xp)


def _same_function(a: Any, b: Any, depth: int = 4) -> bool:
    if a is b:
        return True
    code = getattr(a, "__code__", None)
    if code is None and isinstance(a, _Wrapped):  # (functions made of functions)
        return a == b
    if code is None or code is not getattr(b, "__code__", None) or depth == 0:
        return False
    cells_a, cells_b = a.__closure__ or (), b.__closure__ or ()
    try:  # (functions in the cells compared alike, other values with ==; arrays never)
        return len(cells_a) == len(cells_b) and all(
            _same_value(x.cell_contents, y.cell_contents, depth - 1)
            for x, y in zip(cells_a, cells_b))
    except (ValueError, TypeError):  # an empty cell, an array's ambiguous ==
        return False


def _same_value(a: Any, b: Any, depth: int) -> bool:
    if callable(a) and callable(b) and hasattr(a, "__code__"):
        return _same_function(a, b, depth)
    return type(a) is type(b) and bool(a == b)


def _named(owner: Any, name: str) -> Any:
    """An activation or loss from its pickled name (``owner``: its class, or the lookup
    function older pickles hold); a clear error when this process has not registered it."""
    try:
        return getattr(owner, "lookup", owner)(name)
    except ValueError as e:
        raise ValueError(f"unpickling {name!r}: {e}; custom activations and losses must be "
                         "registered (xprop.register_activation / register_loss) before "
                         "loading") from None


class _Wrapped:
    """A function made of other functions (:attr:`parts`), as an object rather than a
    closure: it pickles when they do, and equals one made of the same functions."""

    parts: tuple = ()

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and len(self.parts) == len(other.parts) and all(
            _same_value(a, b, 4) for a, b in zip(self.parts, other.parts))  # type: ignore

    def __hash__(self) -> int:
        return hash(type(self))


class _ElementwiseBackward(_Wrapped):
    """``backward(g, z, a, xp) = g * derivative(z, a, xp)``."""

    def __init__(self, derivative: Callable) -> None:
        self.derivative, self.parts = derivative, (derivative,)
        self.__name__ = "backward"

    def __call__(self, g: Array, z: Array, a: Array, xp: Any) -> Array:
        return g * self.derivative(z, a, xp)


# identity: a = z, f' = 1
def identity(z: Array, xp: Any) -> Array:
    return z


def identity_derivative(z: Array, a: Array, xp: Any) -> Array:
    return xp.ones_like(z)


# relu: a = max(z, 0), f' = [z > 0]
def relu(z: Array, xp: Any) -> Array:
    return xp.maximum(z, 0.0)


def relu_derivative(z: Array, a: Array, xp: Any) -> Array:
    return xp.astype(z > 0, z.dtype)


def relu_backward(g: Array, z: Array, a: Array, xp: Any) -> Array:
    # A float mask multiplied in place (the mask is our own temporary): several times faster
    # than xp.where(z > 0, g, 0.0) on NumPy, with no more temporaries than g * (z > 0).
    mask = xp.astype(z > 0, g.dtype)
    mask *= g
    return mask


def make_leaky_relu(alpha: float = 0.01) -> Activation:
    """leaky_relu: a = z if z > 0 else alpha * z; f' = 1 or alpha."""
    alpha = float(alpha)

    def forward(z: Array, xp: Any) -> Array:
        return xp.where(z > 0, z, alpha * z)

    def derivative(z: Array, a: Array, xp: Any) -> Array:
        return xp.where(z > 0, xp.ones_like(z), xp.full_like(z, alpha))

    def backward(g: Array, z: Array, a: Array, xp: Any) -> Array:
        return xp.where(z > 0, g, alpha * g)

    name = "leaky_relu" if alpha == 0.01 else f"leaky_relu({alpha!r})"
    return Activation(name, forward, derivative, backward, kink=True)


# sigmoid: a = 1 / (1 + exp(-z)), computed from exp(-|z|) so no exp overflows; f' = a (1 - a)
def sigmoid(z: Array, xp: Any) -> Array:
    e = xp.exp(-xp.abs(z))
    r = 1.0 / (1.0 + e)
    return xp.where(z >= 0, r, e * r)


def sigmoid_derivative(z: Array, a: Array, xp: Any) -> Array:
    return a * (1.0 - a)


def sigmoid_backward(g: Array, z: Array, a: Array, xp: Any) -> Array:
    return g * (a * (1.0 - a))  # g * sigmoid_derivative, without a call per layer and step


# tanh: f' = 1 - a^2
def tanh(z: Array, xp: Any) -> Array:
    return xp.tanh(z)


def tanh_derivative(z: Array, a: Array, xp: Any) -> Array:
    return 1.0 - a * a


def tanh_backward(g: Array, z: Array, a: Array, xp: Any) -> Array:
    return g * (1.0 - a * a)  # g * tanh_derivative, without a call per layer and step


# exp: a = exp(z), f' = a (the output of a Poisson regression: a log link)
def exp(z: Array, xp: Any) -> Array:
    return xp.exp(z)


def exp_derivative(z: Array, a: Array, xp: Any) -> Array:
    return a


def exp_backward(g: Array, z: Array, a: Array, xp: Any) -> Array:
    return g * a


# softmax over axis 1: a_j = exp(z_j - max z) / sum_k exp(z_k - max z)
def softmax(z: Array, xp: Any) -> Array:
    e = xp.exp(z - xp.max(z, axis=1, keepdims=True))
    return e / xp.sum(e, axis=1, keepdims=True)


def softmax_derivative(z: Array, a: Array, xp: Any) -> Array:
    """Jacobian da_i/dz_j = a_i (delta_ij - a_j), shape (n, k, k)."""
    k = a.shape[1]
    eye = xp.eye(k, dtype=a.dtype, device=device(a))
    return a[:, :, None] * eye[None, :, :] - a[:, :, None] * a[:, None, :]


def softmax_backward(g: Array, z: Array, a: Array, xp: Any) -> Array:
    """g @ J row by row: a * (g - sum(g * a))."""
    return a * (g - xp.sum(g * a, axis=1, keepdims=True))


# softplus: a = log(1 + exp(z)) = max(z, 0) + log1p(exp(-|z|)); f' = sigmoid(z)
def softplus(z: Array, xp: Any) -> Array:
    return xp.maximum(z, 0.0) + xp.log1p(xp.exp(-xp.abs(z)))


def softplus_derivative(z: Array, a: Array, xp: Any) -> Array:
    return sigmoid(z, xp)


# gelu, tanh approximation: a = z/2 (1 + tanh(u)), u = c (z + k z^3), c = sqrt(2/pi),
# computed as z sigmoid(2u) (the same function: 1 + tanh(u) = 2 sigmoid(2u)); the far-negative
# tail keeps its relative precision (1 + tanh(u) cancels there: float32 at z = -5 was 30% off).
# Beyond |z| = 30, sigmoid(2u) is 0 or 1 exactly in float64 and float32 (exp(-2|u|) < 1e-800):
# u's z is clipped there, so no finite z overflows z^3 (a NaN derivative at |z| ~ 1e20)
_GELU_C = math.sqrt(2.0 / math.pi)
_GELU_K = 0.044715
_GELU_EDGE = 30.0


def _gelu_2u(z: Array, xp: Any) -> tuple[Array, Array]:
    """``(zc, 2u)``: ``z`` clipped to +-30 and ``2 c (zc + k zc^3)``."""
    zc = xp.clip(z, min=-_GELU_EDGE, max=_GELU_EDGE)
    return zc, 2.0 * _GELU_C * (zc + _GELU_K * zc * zc * zc)


def gelu(z: Array, xp: Any) -> Array:
    return z * sigmoid(_gelu_2u(z, xp)[1], xp)


def gelu_derivative(z: Array, a: Array, xp: Any) -> Array:
    """f' = s + z s (1 - s) 2c (1 + 3 k z^2), s = sigmoid(2u) = (1 + tanh(u))/2, where
    ``s (1 - s) = e / (1 + e)^2`` with ``e = exp(-|2u|)`` (no cancellation either side)."""
    zc, v = _gelu_2u(z, xp)
    e = xp.exp(-xp.abs(v))
    r = 1.0 / (1.0 + e)
    s = xp.where(v >= 0, r, e * r)
    return s + zc * (e * r * r) * (2.0 * _GELU_C) * (1.0 + 3.0 * _GELU_K * zc * zc)


def _make(name: str, f: Callable, d: Callable, backward: Callable | None = None,
          kink: bool = False, kernel: str | None = None) -> Activation:
    return Activation(name, f, d, backward or _ElementwiseBackward(d), kink, kernel)


ACTIVATIONS: dict[str, Activation] = {
    "identity": Activation("identity", identity, identity_derivative,
                           lambda g, z, a, xp: g),
    "relu": _make("relu", relu, relu_derivative, relu_backward, kink=True, kernel="relu"),
    "leaky_relu": make_leaky_relu(0.01),
    "sigmoid": _make("sigmoid", sigmoid, sigmoid_derivative, sigmoid_backward,
                     kernel="sigmoid"),
    "tanh": _make("tanh", tanh, tanh_derivative, tanh_backward, kernel="tanh"),
    "softmax": _make("softmax", softmax, softmax_derivative, softmax_backward,
                     kernel="softmax"),
    "exp": _make("exp", exp, exp_derivative, exp_backward),
    "softplus": _make("softplus", softplus, softplus_derivative),
    "gelu": _make("gelu", gelu, gelu_derivative),
}
"""The activations known by name: the built-ins and those :func:`register_activation` added."""
ALIASES = {"linear": "identity", "none": "identity", "logistic": "sigmoid"}
#: named operations -> the built-in (forward, backward) they stand for
NAMED = {name: (ACTIVATIONS[name].forward, ACTIVATIONS[name].backward)
         for name in ("relu", "sigmoid", "tanh", "softmax")}


BUILT_IN = frozenset(ACTIVATIONS)
#: built-ins meant for the output layer only (exp, Poisson's log link: stacked, it overflows)
OUTPUT_ONLY = frozenset({"exp"})


def make_activation(name: str, forward: Callable[[Array, Any], Array],
                    derivative: Callable[[Array, Array, Any], Array], *,
                    backward: Callable[[Array, Array, Array, Any], Array] | None = None,
                    kink: bool = False) -> Activation:
    """Make an elementwise activation from its function and its derivative.

    Register it with :func:`register_activation` to use it by name (models, checkpoints,
    pickles, the CLI); check it with :func:`xprop.check_activation`.

    Parameters
    ----------
    name : str
        A non-empty name (stripped and lower-cased).
    forward : callable
        ``forward(z, xp) -> a``, elementwise, for any Array-API namespace ``xp``.
    derivative : callable
        ``derivative(z, a, xp) -> f'(z)`` elementwise, with ``a = f(z)``.
    backward : callable or None, default=None
        ``backward(g, z, a, xp)``, the vector-Jacobian product; None gives
        ``g * derivative(z, a, xp)``.
    kink : bool, default=False
        True when the function is not differentiable at ``z == 0`` (the gradient check
        then watches ``z > 0``).

    Returns
    -------
    Activation
        The activation (not registered).

    Raises
    ------
    ValueError
        When ``name`` is empty or not a string, a built-in's (or an alias) or has
        parentheses, ``forward``/``derivative``/``backward`` is not callable, or ``kink``
        is not a bool. (A function that returns no array of its input's library and shape
        raises ``TypeError`` naming the activation when called.)

    Examples
    --------
    >>> cube = xprop.make_activation("cube", lambda z, xp: z * z * z,
    ...                              lambda z, a, xp: 3.0 * z * z)
    >>> cube(np.array([2.0]))
    array([8.])
    >>> print(xprop.check_activation(cube).verdict)
    passed
    """
    key = check_block_name(name, "name", "activation", BUILT_IN | set(ALIASES))
    for arg, fn in (("forward", forward), ("derivative", derivative), ("backward", backward)):
        if not callable(fn) and not (arg == "backward" and fn is None):
            raise ValueError(f"{arg}: expected a function, got {show(fn)}")
    kink = check_bool(kink, "kink")
    return _make(key, _CheckedOutput(key, "forward(z, xp)", forward),
                 _CheckedOutput(key, "derivative(z, a, xp)", derivative),
                 None if backward is None else _CheckedOutput(
                     key, "backward(g, z, a, xp)", backward), kink)


class _CheckedOutput(_Wrapped):
    """A user's function (of a custom activation, or loss: ``kind``) whose result must be an
    array of its first argument's library, shape and dtype: a float, None, another library's
    array, another shape (which would broadcast) or dtype (a float32 model's outputs turned
    float64) is one line naming the block. An object, not a closure: it pickles when ``fn``
    does (a block not registered pickles by value)."""

    kind = "activation"

    def __init__(self, name: str, call: str, fn: Callable, kind: str = "activation") -> None:
        self.name, self.call, self.fn = name, call, fn
        if kind != type(self).kind:
            self.kind = kind
        self.parts = (name, call, fn, kind)
        self.__name__ = getattr(fn, "__name__", name)
        self.__doc__ = getattr(fn, "__doc__", None)
        self.__module__ = getattr(fn, "__module__", None)  # (the user's, not xprop's)

    def __call__(self, *args: Any) -> Array:
        out, first = self.fn(*args), args[0]
        if _library(out) != _library(first) or getattr(out, "shape", None) is None or \
                tuple(out.shape) != tuple(first.shape) or out.dtype != first.dtype:
            raise TypeError(
                f"{self.kind} {self.name!r}: {self.call} returned {show(out)}; expected an "
                f"array of its input's type, shape and dtype ({type(first).__name__}, "
                f"{tuple(first.shape)}, {first.dtype})")
        return out



def _library(x: Any) -> str:
    return type(x).__module__.partition(".")[0]


def register_activation(activation: Activation, *, replace: bool = False) -> Activation:
    """Make an activation known by its name, like a built-in.

    Models, checkpoints, pickles, the CLI and the gradient check then take the name.
    Built-in names are refused; a name registered before only with ``replace=True``.

    Parameters
    ----------
    activation : Activation
        What :func:`make_activation` made.
    replace : bool, default=False
        Whether to replace an activation registered under the same name.

    Returns
    -------
    Activation
        ``activation`` itself.

    Raises
    ------
    ValueError
        When ``activation`` is not an :class:`Activation`, its name is a built-in one (or
        an alias), or the name is registered and ``replace`` is False.

    Examples
    --------
    >>> cube = xprop.make_activation("cube", lambda z, xp: z * z * z,
    ...                              lambda z, a, xp: 3.0 * z * z)
    >>> xprop.register_activation(cube).name
    'cube'
    >>> xprop.MLP([2, 3, 1], activation="cube").activations[0].name
    'cube'
    >>> del xprop.ACTIVATIONS["cube"]  # unregistered again
    """
    if not isinstance(activation, Activation):
        raise ValueError(f"activation: expected an Activation (see make_activation), got "
                         f"{activation!r}")
    name = check_block_name(activation.name, "activation", "activation",
                            BUILT_IN | set(ALIASES))
    if name != activation.name:
        raise ValueError(f"activation: its name {activation.name!r} is looked up as {name!r}; "
                         "make it with make_activation")
    if name in ACTIVATIONS and not replace:
        raise ValueError(f"activation: {name!r} is already registered; pass replace=True")
    ACTIVATIONS[name] = activation
    return activation


def get_activation(spec: str | Activation) -> Activation:
    """Look an activation up by name.

    Parameters
    ----------
    spec : str or Activation
        A key of :data:`ACTIVATIONS` (any case), an alias (``linear``, ``none``,
        ``logistic``), ``"leaky_relu(alpha)"`` for a slope ``alpha >= 0``, or an
        :class:`Activation` (returned as is).

    Returns
    -------
    Activation
        The activation.

    Raises
    ------
    ValueError
        When the name is unknown, the slope is not a finite number >= 0, or ``spec`` is
        neither a string nor an :class:`Activation`.

    Examples
    --------
    >>> xprop.get_activation("logistic").name
    'sigmoid'
    >>> xprop.get_activation("leaky_relu(0.2)")(np.array([-1.0, 1.0]))
    array([-0.2,  1. ])
    >>> xprop.get_activation("swish")
    Traceback (most recent call last):
    ...
    ValueError: activation: expected one of [...] (or 'leaky_relu(alpha)'), got 'swish'
    """
    if isinstance(spec, Activation):
        return spec
    if not isinstance(spec, str):
        raise ValueError(
            f"activation: expected a name from {sorted(ACTIVATIONS)}, got {show(spec)}"
        )
    key = spec.strip().lower()
    alpha = parse_parameter(key, "leaky_relu")
    if alpha is not None:
        if not math.isfinite(alpha) or alpha < 0:
            raise ValueError(
                f"activation: leaky_relu slope must be a finite number >= 0, got {show(spec)}"
            )
        return make_leaky_relu(alpha)
    key = ALIASES.get(key, key)
    if key not in ACTIVATIONS:
        raise ValueError(
            f"activation: expected one of {sorted(ACTIVATIONS)} (or 'leaky_relu(alpha)'), "
            f"got {show(spec)}"
        )
    return ACTIVATIONS[key]
