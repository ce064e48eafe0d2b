"""Optimizers, learning-rate schedules and gradient clipping, written once for any Array-API
namespace. Semantics follow PyTorch's ``torch.optim`` so results can be compared directly.

An optimizer updates one flat parameter buffer from a gradient buffer of the same shape (see
:mod:`xprop.params`): ``buffer = opt.update(buffer, grad)`` is one expression per state
variable for the whole model. The update is in place where the namespace allows it (the same
array comes back, so views of it see the new values) and functional where arrays are
immutable (JAX: a new array comes back). State arrays (momentum, moments) are replaced at every
step, never updated in place, so :meth:`Optimizer.state` is a cheap snapshot.
``opt.step(params, grads)`` does the same for a list of arrays. The learning rate ``opt.lr``
may be changed between steps (schedules do so once per epoch).
"""

from __future__ import annotations

import math
import weakref
from typing import Any

from array_api_compat import array_namespace

from xprop.backend.base import dtype_name
from xprop.backend.core import adapter_of_namespace
from xprop.backend.host import HostArray, frozen, is_array
from xprop.validation import check_bool, check_int, check_positive, check_real, show

Array = Any

__all__ = [
    "SCHEDULES",
    "SGD",
    "Adam",
    "AdamW",
    "Optimizer",
    "SklearnAdam",
    "SklearnSGD",
    "clip_grad_norm",
    "clip_scale",
    "get_optimizer",
    "get_schedule",
    "optimizer_name",
    "schedule_name",
]


#: an optimizer's attributes of the run, not of the optimizer: the library's namespace and
#: adapter, the model it trained (dropped when pickled or copied; found again)
_RUNTIME = ("_xp", "_ops", "_trained")
#: attributes of an optimizer that are no settings: its rate, step count and the run's
_NOT_SETTINGS = frozenset({"lr", "t", *_RUNTIME})


class Optimizer:
    """Base class of the optimizers: one update of a whole flat parameter buffer.

    ``update(buffer, grad)`` returns the updated buffer; ``step(params, grads)`` updates a
    list of arrays. A subclass defines the update as the pure function :meth:`apply` (with
    its state in :meth:`arrays`/:meth:`set_arrays` and its host scalars in
    :meth:`coefficients`), which eager, captured and compiled training loops all call.

    Parameters
    ----------
    lr : float
        The learning rate (> 0); ``opt.lr`` may change between steps.

    Attributes
    ----------
    lr : float
        The learning rate.
    t : int
        The number of steps taken.

    Raises
    ------
    ValueError
        When ``lr`` is not a finite number > 0.

    Examples
    --------
    A new update rule is one method:

    >>> from xprop.optimizers import Optimizer
    >>> class SignSGD(Optimizer):
    ...     def apply(self, p, g, arrays, coeffs, xp):
    ...         (lr,) = coeffs
    ...         return p - lr * xp.sign(g), arrays
    >>> opt = SignSGD(lr=0.1)
    >>> b = xprop.resolve_backend()  # the default backend: NumPy unless set otherwise
    >>> p, g = b.from_host([1.0, 2.0]), b.from_host([0.5, -1.0])
    >>> xprop.to_numpy(opt.update(p, g)).tolist()
    [0.9, 2.1]
    >>> X, y = xprop.datasets.xor()
    >>> model = xprop.MLP([2, 4, 1], "tanh", "sigmoid", "bce", seed=0)
    >>> len(model.fit(X, y, optimizer=SignSGD(lr=0.01), epochs=5))
    5
    """

    def __init__(self, lr: float) -> None:
        self.lr = check_positive(lr, "lr")
        self.t = 0  # steps taken
        self._xp: Any = None
        self._ops: Any = None  # the adapter of _xp (its in-place kernels)
        self._trained: Any = None  # a weak reference to the model of the last fit (bind)

    def _adapter(self, xp: Any) -> Any:
        """The adapter of ``xp`` (the one :meth:`update` keeps, when it is its namespace)."""
        return self._ops if xp is self._xp else adapter_of_namespace(xp)

    def bind(self, model: Any) -> None:
        """Remember ``model`` (weakly) as the one this optimizer's state is from.

        A fit binds its optimizer; :func:`xprop.train.check_state` then refuses the state
        for another model.

        Parameters
        ----------
        model : MLP
            The model being trained.

        Examples
        --------
        >>> opt, model = xprop.Adam(0.01), xprop.MLP([2, 4, 1])
        >>> opt.bind(model)
        >>> opt.trained() is model
        True
        """
        self._trained = weakref.ref(model)

    def trained(self) -> Any:
        """The model of the fit this optimizer's state is from, or None.

        None when no fit bound it (:meth:`bind`), when that model is gone, or after
        pickling.

        Returns
        -------
        MLP or None
            The model, when it is alive.

        Examples
        --------
        >>> X, y = xprop.datasets.xor()
        >>> model, opt = xprop.MLP([2, 4, 1], "tanh", "sigmoid", "bce"), xprop.Adam(0.01)
        >>> _ = model.fit(X, y, optimizer=opt, epochs=2)
        >>> opt.trained() is model
        True
        """
        ref = getattr(self, "_trained", None)
        return None if ref is None else ref()

    def trained_another(self, model: Any) -> bool:
        """Whether this optimizer's last fit trained another model than ``model``.

        That model may be alive or gone since. False when no fit bound this optimizer
        (:meth:`bind`): a new one, or one unpickled or deep-copied.

        Parameters
        ----------
        model : MLP
            The model of the fit about to start.

        Returns
        -------
        bool
            True when its state, if any, is another model's.

        Examples
        --------
        >>> X, y = xprop.datasets.xor()
        >>> first, opt = xprop.MLP([2, 4, 1], "tanh", "sigmoid", "bce"), xprop.Adam(0.01)
        >>> _ = first.fit(X, y, optimizer=opt, epochs=2)
        >>> opt.trained_another(first), opt.trained_another(xprop.MLP([2, 4, 1]))
        (False, True)
        """
        ref = getattr(self, "_trained", None)
        return ref is not None and ref() is not model

    def state_mismatch(self, buffer: Array) -> str | None:
        """What makes the state this optimizer holds unfit for ``buffer``, or None.

        Parameters
        ----------
        buffer : array
            The flat parameters it is to update.

        Returns
        -------
        str or None
            ``"state for N parameters"``, ``"float64 state"`` or ``"state of another
            library"``; None when it has no state or state of ``buffer``'s kind.

        Examples
        --------
        >>> opt = xprop.Adam()
        >>> _ = opt.update(np.zeros(3), np.ones(3))
        >>> opt.state_mismatch(np.zeros(3)), opt.state_mismatch(np.zeros(4))
        (None, 'state for 3 parameters')
        """
        for state in self.arrays():
            if state is None or state.ndim != 1:
                continue
            if type(state) is not type(buffer):
                return "state of another library"
            if state.shape != buffer.shape:
                return f"state for {state.shape[0]} parameter" + "s" * (state.shape[0] != 1)
            if state.dtype != buffer.dtype:
                return f"{dtype_name(state.dtype)} state"
        return None

    def update(self, buffer: Array, grad: Array, xp: Any | None = None) -> Array:
        """One step on a flat parameter buffer.

        Parameters
        ----------
        buffer : array
            The parameters, 1-D.
        grad : array
            Their gradient, of the same shape (never modified).
        xp : namespace, optional
            Their Array-API namespace; saves a lookup (it is remembered after the first).

        Returns
        -------
        array
            The new parameters: ``buffer`` itself, updated in place, where the namespace
            allows it, else a new array (JAX).

        Raises
        ------
        ValueError
            When ``grad`` is not of ``buffer``'s shape, or the optimizer holds state
            (moments, velocity) of a buffer of another size, dtype or library.

        Examples
        --------
        >>> opt = xprop.SGD(lr=0.1)
        >>> b = xprop.resolve_backend()  # the default backend: NumPy unless set otherwise
        >>> p, g = b.from_host([1.0, 2.0]), b.from_host([0.5, -1.0])
        >>> xprop.to_numpy(opt.update(p, g)).tolist()  # p - lr g
        [0.95, 2.1]
        >>> opt.t
        1
        """
        if grad.shape != buffer.shape:  # (NumPy would broadcast a gradient of one entry)
            raise ValueError(f"grad: expected the shape of buffer, {tuple(buffer.shape)}, got "
                             f"{tuple(grad.shape)}")
        problem = self.state_mismatch(buffer)  # (state broadcast over another buffer)
        if problem is not None:
            raise ValueError(f"buffer: {show(self)} holds {problem} from earlier steps; this "
                             f"buffer is {dtype_name(buffer.dtype)} of {buffer.shape[0]} "
                             "entries: give a new optimizer")
        self.t += 1
        if xp is None:
            xp = self._xp if self._xp is not None else array_namespace(buffer)
        if xp is not self._xp:
            self._xp, self._ops = xp, adapter_of_namespace(xp)
        return self._update(buffer, grad, xp)

    def step(self, params: list[Array], grads: list[Array], xp: Any | None = None) -> None:
        """One step on a list of arrays, replaced in the list by their updated values.

        They are flattened into one buffer, updated by :meth:`update` and split again.

        Parameters
        ----------
        params : list of array
            The parameters (the list is modified).
        grads : list of array
            Their gradients, of the same shapes.
        xp : namespace, optional
            Their Array-API namespace (looked up when omitted).

        Raises
        ------
        ValueError
            When the gradients are not one per parameter, of its shape.

        Examples
        --------
        >>> b = xprop.resolve_backend()
        >>> params = [b.from_host([[1.0, 2.0]]), b.from_host([3.0])]
        >>> grads = [b.from_host([[1.0, 1.0]]), b.from_host([-1.0])]
        >>> xprop.SGD(lr=0.5).step(params, grads)
        >>> [xprop.to_numpy(p).tolist() for p in params]
        [[[0.5, 1.5]], [3.5]]
        """
        if xp is None:
            xp = self._xp if self._xp is not None else array_namespace(*params)
        shapes = [tuple(p.shape) for p in params]
        if [tuple(g.shape) for g in grads] != shapes:
            raise ValueError(f"grads: expected one gradient per parameter of its shape, "
                             f"{shapes}, got {[tuple(g.shape) for g in grads]}")
        flat = xp.concat([xp.reshape(p, (-1,)) for p in params])
        grad = xp.concat([xp.reshape(g, (-1,)) for g in grads])
        flat = self.update(flat, grad, xp)
        start = 0
        for i, shape in enumerate(shapes):
            n = math.prod(shape)
            params[i] = xp.reshape(flat[start : start + n], shape)
            start += n

    def _update(self, buffer: Array, grad: Array, xp: Any) -> Array:
        buffer, arrays = self.apply(buffer, grad, self.arrays(), self.coefficients(), xp)
        self.set_arrays(arrays)
        return buffer

    # The update as a pure function, for compiled training loops (see xprop.compiled): the
    # state arrays and the step's host scalars come in, the new buffer and state go out.
    #: whether :meth:`coefficients` change with ``t`` (else only with ``lr``)
    stepwise: bool = False

    def coefficients(self) -> tuple[float, ...]:
        """The host scalars of step ``t`` (after :meth:`update` counted it).

        Returns
        -------
        tuple of float
            The learning rate and whatever else depends on ``t`` or ``lr`` only (what
            :meth:`apply` gets as ``coeffs``).

        Examples
        --------
        >>> xprop.SGD(lr=0.1).coefficients()
        (0.1,)
        """
        return (self.lr,)

    def arrays(self) -> tuple[Array | None, ...]:
        """The state arrays (None before the first step).

        Returns
        -------
        tuple of array or None
            What :meth:`apply` gets as ``arrays`` (momentum, moments, ...; empty for
            plain SGD).

        Examples
        --------
        >>> opt = xprop.SGD(lr=0.1, momentum=0.9)
        >>> opt.arrays()
        (None,)
        >>> b = xprop.resolve_backend()  # the default backend: NumPy unless set otherwise
        >>> p, g = b.from_host([1.0, 2.0]), b.from_host([0.5, -1.0])
        >>> _ = opt.update(p, g)
        >>> xprop.to_numpy(opt.arrays()[0]).tolist()  # the velocity: g at the first step
        [0.5, -1.0]
        """
        return ()

    def holds_state(self) -> bool:
        """Whether a fit has left state arrays here (moments, velocity; never plain SGD).

        Returns
        -------
        bool
            True when any of :meth:`arrays` is set.

        Examples
        --------
        >>> opt = xprop.Adam(0.01)
        >>> opt.holds_state()
        False
        >>> X, y = xprop.datasets.xor()
        >>> _ = xprop.MLP([2, 4, 1], "tanh", "sigmoid", "bce").fit(X, y, optimizer=opt, epochs=1)
        >>> opt.holds_state()
        True
        """
        return any(a is not None for a in self.arrays())

    def set_arrays(self, arrays: tuple[Array, ...]) -> None:
        """Replace the state arrays (the inverse of :meth:`arrays`).

        Parameters
        ----------
        arrays : tuple of array
            What :meth:`arrays` returns (or :meth:`apply` returned).

        Examples
        --------
        >>> opt = xprop.SGD(lr=0.1, momentum=0.9)
        >>> b = xprop.resolve_backend()
        >>> opt.set_arrays((b.from_host([1.0]),))
        >>> xprop.to_numpy(opt.arrays()[0]).tolist()
        [1.0]
        """

    @property
    def pure(self) -> bool:
        """Whether every update goes through :meth:`apply`.

        :meth:`apply` is what compiled and captured training steps call: False for a
        subclass that overrides ``update`` or ``_update``, which then trains eagerly.
        """
        kind = type(self)
        return (kind.update is Optimizer.update and "update" not in vars(self)
                and "_update" not in vars(self)
                and self._update.__func__ in _APPLYING_UPDATES
                and kind.apply is not Optimizer.apply)

    def apply(self, p: Array, g: Array, arrays: tuple, coeffs: tuple,
              xp: Any) -> tuple[Array, tuple]:
        """The update rule as a pure function of the parameters, the gradient and the state.

        Subclasses define it; eager, captured and compiled training steps call it.

        Parameters
        ----------
        p : array
            The parameters (updated in place where the namespace allows it).
        g : array
            Their gradient.
        arrays : tuple
            The state arrays (:meth:`arrays`; None entries before the first step).
        coeffs : tuple
            :meth:`coefficients` of this step (floats, or 0-d arrays in a compiled loop).
        xp : namespace
            The arrays' Array-API namespace.

        Returns
        -------
        p : array
            The new parameters.
        arrays : tuple
            The new state arrays.

        Raises
        ------
        NotImplementedError
            In the base class.

        Examples
        --------
        >>> opt = xprop.SGD(lr=0.1)
        >>> b = xprop.resolve_backend()  # the default backend: NumPy unless set otherwise
        >>> p, g = b.from_host([1.0, 2.0]), b.from_host([0.5, -1.0])
        >>> new, state = opt.apply(p, g, opt.arrays(), (0.1,), b.xp)
        >>> xprop.to_numpy(new).tolist(), state
        ([0.95, 2.1], ())
        """
        raise NotImplementedError

    def constants(self) -> tuple:
        """The settings a compiled or captured step bakes in (a change compiles it again).

        Returns
        -------
        tuple of tuple
            ``(name, value)`` for every attribute but ``lr``, ``t``, the state arrays (None
            before the first step) and the library's own (a subclass's private settings,
            ``_scale``, count too; arrays and lists by their content, so that an edit in
            place shows). An attribute that changes at every step (a counter) compiles
            again at every chunk: keep such bookkeeping out of the optimizer.

        Examples
        --------
        >>> xprop.SGD(lr=0.1, momentum=0.9).constants()
        (('momentum', 0.9), ('nesterov', False), ('weight_decay', 0.0))
        """
        state = {id(a) for a in self.arrays() if a is not None}
        return tuple((k, frozen(v)) for k, v in vars(self).items()
                     if k not in _NOT_SETTINGS and v is not None and id(v) not in state)

    def state(self) -> dict[str, Any]:
        """A snapshot of the optimizer's state, for :meth:`load_state`.

        State arrays are replaced at every step (never updated in place), so keeping
        references is enough.

        Returns
        -------
        dict
            Every attribute (``lr``, ``t``, the state arrays, the settings).

        Examples
        --------
        >>> opt = xprop.Adam(lr=0.1)
        >>> b = xprop.resolve_backend()  # the default backend: NumPy unless set otherwise
        >>> p, g = b.from_host([1.0, 2.0]), b.from_host([0.5, -1.0])
        >>> p = opt.update(p, g)
        >>> saved = opt.state()
        >>> p = opt.update(p, g)
        >>> opt.load_state(saved)
        >>> opt.t
        1
        """
        return dict(vars(self))

    def load_state(self, state: dict[str, Any]) -> None:
        """Return to a :meth:`state` snapshot.

        Parameters
        ----------
        state : dict
            What :meth:`state` returned.

        Examples
        --------
        >>> opt = xprop.SGD(lr=0.1)
        >>> saved = opt.state()
        >>> opt.lr = 0.5
        >>> opt.load_state(saved)
        >>> opt.lr
        0.1
        """
        vars(self).update(state)

    def __getstate__(self) -> dict[str, Any]:
        """Pickling and deep copies: namespaces are looked up again, state arrays travel as
        host copies that know their backend and device."""
        return {k: None if k in _RUNTIME else HostArray(v) if is_array(v)
                else v for k, v in vars(self).items()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        vars(self).update({k: v.restore() if isinstance(v, HostArray) else v
                           for k, v in state.items()})

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items()
                           if not k.startswith("_") and k != "t")
        return f"{type(self).__name__}({fields})"


class SGD(Optimizer):
    """Stochastic gradient descent, with momentum, Nesterov momentum and L2 weight decay.

    ``p -= lr * g``; with ``momentum`` mu the buffer ``v = mu v + g`` (``v = g`` at the
    first step) replaces g, or ``g + mu v`` with ``nesterov=True``; ``weight_decay`` lambda
    adds ``lambda p`` to g (L2). As ``torch.optim.SGD``.

    Parameters
    ----------
    lr : float, default=0.01
        The learning rate.
    momentum : float, default=0.0
        The momentum mu, in [0, 1).
    nesterov : bool, default=False
        Nesterov's momentum (needs ``momentum > 0``).
    weight_decay : float, default=0.0
        The L2 coefficient lambda (>= 0).

    Raises
    ------
    ValueError
        For a bad ``lr``, ``momentum`` or ``weight_decay``, or ``nesterov`` without
        momentum.

    Examples
    --------
    >>> opt = xprop.SGD(lr=0.1, momentum=0.9)
    >>> b = xprop.resolve_backend()  # the default backend: NumPy unless set otherwise
    >>> p, g = b.from_host([1.0, 2.0]), b.from_host([0.5, -1.0])
    >>> xprop.to_numpy(opt.update(p, g)).tolist()  # v = g
    [0.95, 2.1]
    >>> [round(v, 6) for v in xprop.to_numpy(opt.update(p, g)).tolist()]  # v = 0.9 v + g
    [0.855, 2.29]
    """

    def __init__(self, lr: float = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0) -> None:
        super().__init__(lr)
        self.momentum = check_real(momentum, "momentum", 0.0, 1.0, high_open=True)
        self.nesterov = check_bool(nesterov, "nesterov")
        if self.nesterov and self.momentum == 0.0:
            raise ValueError("nesterov: needs momentum > 0, got momentum=0")
        self.weight_decay = check_real(weight_decay, "weight_decay", 0.0)
        self._velocity: Array | None = None

    def _update(self, p: Array, g: Array, xp: Any) -> Array:
        if self.momentum or self.weight_decay:
            return super()._update(p, g, xp)
        return self._ops.sub_scaled(p, self.lr, g, xp)  # plain SGD: apply without the state

    def arrays(self) -> tuple[Array | None, ...]:
        return (self._velocity,) if self.momentum else ()

    def set_arrays(self, arrays: tuple[Array, ...]) -> None:
        if self.momentum:
            (self._velocity,) = arrays

    def apply(self, p: Array, g: Array, arrays: tuple, coeffs: tuple,
              xp: Any) -> tuple[Array, tuple]:
        (lr,) = coeffs
        mu, wd = self.momentum, self.weight_decay
        if wd:
            g = g + wd * p
        if mu:
            (v,) = arrays  # zeros at the first step give v = g, as None does
            v = xp.asarray(g, copy=True) if v is None else mu * v + g
            arrays = (v,)
            g = g + mu * v if self.nesterov else v
        ops = self._adapter(xp)
        return ops.sub_scaled(p, lr, g, xp), arrays


class Adam(Optimizer):
    """Adam, as ``torch.optim.Adam``.

    ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g^2``,
    ``p -= lr * m_hat / (sqrt(v_hat) + eps)`` with bias-corrected m_hat, v_hat;
    ``weight_decay`` adds ``lambda p`` to g (L2).

    Parameters
    ----------
    lr : float, default=0.001
        The learning rate.
    betas : tuple of float, default=(0.9, 0.999)
        ``(b1, b2)``, each in [0, 1).
    eps : float, default=1e-8
        Added to the root of ``v_hat`` (> 0).
    weight_decay : float, default=0.0
        The L2 coefficient lambda (>= 0).

    Raises
    ------
    ValueError
        For a bad ``lr``, ``betas``, ``eps`` or ``weight_decay``.

    Examples
    --------
    >>> opt = xprop.Adam(lr=0.1)
    >>> b = xprop.resolve_backend()  # the default backend: NumPy unless set otherwise
    >>> p, g = b.from_host([1.0, 2.0]), b.from_host([0.5, -1.0])
    >>> [round(v, 6) for v in xprop.to_numpy(opt.update(p, g)).tolist()]  # lr sign(g)
    [0.9, 2.1]
    """

    decoupled = False

    def __init__(self, lr: float = 0.001, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        super().__init__(lr)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"betas: expected a pair (beta1, beta2), got {show(betas)}")
        self.betas = tuple(check_real(b, f"betas[{i}]", 0.0, 1.0, high_open=True)
                           for i, b in enumerate(betas))
        self.eps = check_positive(eps, "eps")
        self.weight_decay = check_real(weight_decay, "weight_decay", 0.0)
        self._m: Array | None = None
        self._v: Array | None = None

    stepwise = True

    def coefficients(self) -> tuple[float, ...]:
        """The host scalars of step ``t``: ``(lr * weight_decay, lr / (1 - b1^t), sqrt(1 - b2^t))``.

        Returns
        -------
        tuple of float
            What :meth:`apply` gets as ``coeffs``.

        Examples
        --------
        >>> opt = xprop.Adam(lr=0.1)
        >>> opt.t = 1
        >>> [round(c, 6) for c in opt.coefficients()]
        [0.0, 1.0, 0.031623]
        """
        b1, b2 = self.betas
        return (self.lr * self.weight_decay, self.lr / (1.0 - b1**self.t),
                math.sqrt(1.0 - b2**self.t))

    def arrays(self) -> tuple[Array | None, ...]:
        return self._m, self._v

    def set_arrays(self, arrays: tuple[Array, ...]) -> None:
        self._m, self._v = arrays

    def apply(self, p: Array, g: Array, arrays: tuple, coeffs: tuple,
              xp: Any) -> tuple[Array, tuple]:
        b1, b2 = self.betas
        lr_wd, step_size, root_c2 = coeffs
        m, v = arrays
        if m is None:
            m, v = xp.zeros_like(p), xp.zeros_like(p)
        ops = self._adapter(xp)
        if self.weight_decay and self.decoupled:
            p = ops.sub_scaled(p, lr_wd, p, xp)
        elif self.weight_decay:
            g = g + self.weight_decay * p
        m = b1 * m + (1.0 - b1) * g
        v = b2 * v + (1.0 - b2) * (g * g)
        # the parameters are written by the adapter only: in place where arrays are mutable
        return ops.sub_scaled(p, step_size, m / (xp.sqrt(v) / root_c2 + self.eps), xp), (m, v)


class AdamW(Adam):
    """Adam with decoupled weight decay, as ``torch.optim.AdamW``.

    ``p -= lr * lambda * p`` before the Adam step.

    Parameters
    ----------
    lr : float, default=0.001
        The learning rate.
    betas : tuple of float, default=(0.9, 0.999)
        ``(b1, b2)``, each in [0, 1).
    eps : float, default=1e-8
        Added to the root of ``v_hat`` (> 0).
    weight_decay : float, default=0.01
        The decoupled decay lambda (>= 0).

    Examples
    --------
    >>> opt = xprop.AdamW(lr=0.1)
    >>> b = xprop.resolve_backend()  # the default backend: NumPy unless set otherwise
    >>> p, g = b.from_host([1.0, 2.0]), b.from_host([0.5, -1.0])
    >>> [round(v, 6) for v in xprop.to_numpy(opt.update(p, g)).tolist()]
    [0.899, 2.098]
    """

    decoupled = True

    def __init__(self, lr: float = 0.001, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.01) -> None:
        super().__init__(lr, betas, eps, weight_decay)


class SklearnSGD(Optimizer):
    """scikit-learn's ``SGDOptimizer`` on the flat buffer, bit for bit.

    ``v = mu v - lr g`` (``v = 0`` before the first step), then ``p += mu v - lr g`` with
    Nesterov's momentum, else ``p += v``. The estimators change ``lr`` between epochs
    (``invscaling``, ``adaptive``).

    Parameters
    ----------
    lr : float, default=0.001
        The learning rate (scikit-learn's ``learning_rate_init``).
    momentum : float, default=0.9
        The momentum mu, in [0, 1].
    nesterov : bool, default=True
        Nesterov's momentum.

    Examples
    --------
    >>> from xprop.optimizers import SklearnSGD
    >>> opt = SklearnSGD(lr=0.1)
    >>> b = xprop.resolve_backend()  # the default backend: NumPy unless set otherwise
    >>> p, g = b.from_host([1.0, 2.0]), b.from_host([0.5, -1.0])
    >>> [round(v, 6) for v in xprop.to_numpy(opt.update(p, g)).tolist()]
    [0.905, 2.19]
    """

    def __init__(self, lr: float = 0.001, momentum: float = 0.9, nesterov: bool = True) -> None:
        super().__init__(lr)
        self.momentum = check_real(momentum, "momentum", 0.0, 1.0)
        self.nesterov = check_bool(nesterov, "nesterov")
        self._velocity: Array | None = None

    @property
    def learning_rate(self) -> float:
        """The current rate, under scikit-learn's name (``SGDOptimizer.learning_rate``)."""
        return self.lr

    def arrays(self) -> tuple[Array | None, ...]:
        return (self._velocity,)

    def set_arrays(self, arrays: tuple[Array, ...]) -> None:
        (self._velocity,) = arrays

    def apply(self, p: Array, g: Array, arrays: tuple, coeffs: tuple,
              xp: Any) -> tuple[Array, tuple]:
        (lr,) = coeffs
        (v,) = arrays
        v = self.momentum * (xp.zeros_like(g) if v is None else v) - lr * g
        step = self.momentum * v - lr * g if self.nesterov else v
        ops = self._adapter(xp)
        return ops.sub_scaled(p, -1.0, step, xp), (v,)  # p - (-1) step: p + step exactly


class SklearnAdam(Adam):
    """scikit-learn's ``AdamOptimizer`` on the flat buffer, bit for bit.

    ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g^2``,
    ``lr_t = lr sqrt(1 - b2^t) / (1 - b1^t)``, ``p += -lr_t m / (sqrt(v) + eps)`` (no bias
    correction of ``v`` inside the root, unlike :class:`Adam`; no weight decay).

    Parameters
    ----------
    lr : float, default=0.001
        The learning rate (scikit-learn's ``learning_rate_init``).
    betas : tuple of float, default=(0.9, 0.999)
        ``(beta_1, beta_2)``, each in [0, 1).
    eps : float, default=1e-8
        scikit-learn's ``epsilon`` (> 0).

    Examples
    --------
    >>> from xprop.optimizers import SklearnAdam
    >>> opt = SklearnAdam(lr=0.1)
    >>> b = xprop.resolve_backend()  # the default backend: NumPy unless set otherwise
    >>> p, g = b.from_host([1.0, 2.0]), b.from_host([0.5, -1.0])
    >>> [round(v, 6) for v in xprop.to_numpy(opt.update(p, g)).tolist()]
    [0.9, 2.1]
    """

    def __init__(self, lr: float = 0.001, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        super().__init__(lr, betas, eps)

    @property
    def learning_rate(self) -> float:
        """The rate of the last step, ``lr_t`` (``AdamOptimizer.learning_rate``).

        ``lr`` before the first step.
        """
        return self.coefficients()[0] if self.t else self.lr

    def coefficients(self) -> tuple[float, ...]:
        """The host scalar of step ``t``: ``(lr_t,)``, as scikit-learn computes it.

        Returns
        -------
        tuple of float
            ``(lr sqrt(1 - b2^t) / (1 - b1^t),)``.

        Examples
        --------
        >>> from xprop.optimizers import SklearnAdam
        >>> opt = SklearnAdam(lr=0.1)
        >>> opt.t = 1
        >>> [round(c, 6) for c in opt.coefficients()]
        [0.031623]
        """
        b1, b2 = self.betas
        return (self.lr * math.sqrt(1 - b2**self.t) / (1 - b1**self.t),)

    def apply(self, p: Array, g: Array, arrays: tuple, coeffs: tuple,
              xp: Any) -> tuple[Array, tuple]:
        b1, b2 = self.betas
        (lr_t,) = coeffs
        m, v = (xp.zeros_like(g), xp.zeros_like(g)) if arrays[0] is None else arrays
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * (g * g)
        step = -lr_t * m / (xp.sqrt(v) + self.eps)  # scikit-learn's order of operations
        ops = self._adapter(xp)
        return ops.sub_scaled(p, -1.0, step, xp), (m, v)  # p - (-1) step: p + step exactly


#: the ``_update`` methods that go through ``apply`` (see Optimizer.pure)
_APPLYING_UPDATES = (Optimizer.__dict__["_update"], SGD.__dict__["_update"])
#: xprop's own ``coefficients`` methods: functions of the settings, ``lr`` and ``t`` alone
_OWN_COEFFICIENTS = (Optimizer.__dict__["coefficients"], Adam.__dict__["coefficients"],
                     SklearnAdam.__dict__["coefficients"])


def reusable_coefficients(opt: Optimizer) -> bool:
    """Whether ``opt.coefficients()`` is one of xprop's own, which read the optimizer's
    settings (:meth:`Optimizer.constants`), ``lr`` and, when ``stepwise``, ``t`` alone: what
    they gave for the same may be used again (a compiled chunk's; see xprop.compiled).

    Parameters
    ----------
    opt : Optimizer
        The optimizer.

    Returns
    -------
    bool
        False for a subclass or an instance with a ``coefficients`` of its own, which may
        read anything.

    Examples
    --------
    >>> from xprop.optimizers import reusable_coefficients
    >>> class Scaled(xprop.SGD):
    ...     def coefficients(self):
    ...         return (self.lr * 2.0,)
    >>> reusable_coefficients(xprop.Adam()), reusable_coefficients(Scaled())
    (True, False)
    """
    return ("coefficients" not in vars(opt)
            and getattr(type(opt).coefficients, "__func__", type(opt).coefficients)
            in _OWN_COEFFICIENTS)

OPTIMIZERS = {"sgd": SGD, "momentum": SGD, "nesterov": SGD, "adam": Adam, "adamw": AdamW}


def get_optimizer(spec: str | Optimizer, lr: float | None = None, **kwargs: Any) -> Optimizer:
    """Make an optimizer from its name.

    Parameters
    ----------
    spec : str or Optimizer
        ``sgd``, ``momentum`` (SGD with momentum 0.9), ``nesterov`` (Nesterov's, 0.9),
        ``adam`` or ``adamw`` (any case); an :class:`Optimizer` is returned as is (with no
        other argument).
    lr : float or None, default=None
        The learning rate (the class's default when None).
    **kwargs
        More options of the class (``momentum``, ``betas``, ``weight_decay``, ...).

    Returns
    -------
    Optimizer
        The optimizer.

    Raises
    ------
    ValueError
        For an unknown name, a bad option, or an option given with an Optimizer object.

    Examples
    --------
    >>> xprop.get_optimizer("nesterov", lr=0.05)
    SGD(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.0)
    >>> xprop.get_optimizer("adamw", weight_decay=0.1).weight_decay
    0.1
    """
    if isinstance(spec, Optimizer):
        given = {**({"lr": lr} if lr is not None else {}), **kwargs}
        if given:  # (never silently dropped)
            name, value = next(iter(given.items()))
            raise ValueError(f"{name}: an Optimizer object is used as it is; set its options "
                             f"on it (got {name}={show(value)} with {show(spec)})")
        return spec
    key = optimizer_name(spec)
    if key not in OPTIMIZERS:
        raise ValueError(f"optimizer: expected one of {sorted(OPTIMIZERS)}, got {show(spec)}")
    if key in ("momentum", "nesterov"):
        kwargs.setdefault("momentum", 0.9)
        kwargs.setdefault("nesterov", key == "nesterov")
    if lr is not None:
        kwargs["lr"] = lr
    return OPTIMIZERS[key](**kwargs)


def optimizer_name(spec: Any) -> str | None:
    """An optimizer's name as :func:`get_optimizer` reads it.

    Parameters
    ----------
    spec : object
        A name in any case, with spaces around it.

    Returns
    -------
    str or None
        The name in lower case, to look up among the optimizers' names; None for anything
        but a string.

    Examples
    --------
    >>> from xprop.optimizers import optimizer_name
    >>> optimizer_name(" Adam"), optimizer_name(3)
    ('adam', None)
    """
    return spec.strip().lower() if isinstance(spec, str) else None


# --------------------------------------------------------------------------- schedules


#: the named learning-rate schedules (None is "constant")
SCHEDULES = ("constant", "cosine", "step")


def schedule_name(spec: str | None) -> str:
    """A schedule's name as :func:`get_schedule` reads it.

    Parameters
    ----------
    spec : str or None
        A name in any case, with spaces around it; None for no schedule.

    Returns
    -------
    str
        The name in lower case (``"constant"`` for None), to look up in :data:`SCHEDULES`.

    Examples
    --------
    >>> from xprop.optimizers import schedule_name
    >>> schedule_name(" Cosine"), schedule_name(None)
    ('cosine', 'constant')
    """
    return "constant" if spec is None else str(spec).strip().lower()


def get_schedule(spec: str | None, lr: float, epochs: int, step_size: int = 30,
                 gamma: float = 0.1, eta_min: float = 0.0):
    """Make a learning-rate schedule, a function ``epoch -> learning rate``.

    Epochs count from 0:

    - ``constant``: lr
    - ``step``: lr * gamma ** (epoch // step_size)
    - ``cosine``: eta_min + (lr - eta_min) (1 + cos(pi epoch / epochs)) / 2

    Parameters
    ----------
    spec : str or None
        ``"constant"``, ``"step"`` or ``"cosine"`` (None: constant).
    lr : float
        The initial learning rate (> 0).
    epochs : int
        The number of epochs (the cosine's period).
    step_size : int, default=30
        Epochs between the step schedule's decays.
    gamma : float, default=0.1
        The step schedule's factor.
    eta_min : float, default=0.0
        The cosine's final rate.

    Returns
    -------
    callable
        ``schedule(epoch) -> float``.

    Raises
    ------
    ValueError
        For an unknown name or a bad option.

    Examples
    --------
    >>> from xprop.optimizers import get_schedule
    >>> step = get_schedule("step", 0.1, epochs=100, step_size=10, gamma=0.5)
    >>> [step(e) for e in (0, 10, 25)]
    [0.1, 0.05, 0.025]
    >>> cosine = get_schedule("cosine", 0.1, epochs=100)
    >>> [round(cosine(e), 6) for e in (0, 50, 100)]
    [0.1, 0.05, 0.0]
    """
    lr = check_positive(lr, "lr")
    name = schedule_name(spec)
    if name == "constant":
        return lambda epoch: lr
    if name == "step":
        step_size = check_int(step_size, "step_size")
        gamma = check_positive(gamma, "gamma")

        def step(epoch: int) -> float:
            try:
                return lr * gamma ** (epoch // step_size)
            except OverflowError:  # gamma > 1 grows past float64: a rate the fit refuses
                return math.inf

        return step
    if name == "cosine":
        epochs = check_int(epochs, "epochs")
        eta_min = check_real(eta_min, "eta_min", 0.0, lr, what="a finite rate")
        return lambda epoch: eta_min + (lr - eta_min) * 0.5 * (
            1.0 + math.cos(math.pi * min(epoch, epochs) / epochs)
        )
    raise ValueError(f"schedule: expected one of {list(SCHEDULES)}, got {show(spec)}")


def clip_scale(grads: list[Array], max_norm: float, xp: Any) -> tuple[Array, Array]:
    """The global norm of gradients and the factor that clips it to ``max_norm``.

    As ``torch.nn.utils.clip_grad_norm_``: ``norm = sqrt(sum_i sum(g_i^2))``,
    ``factor = min(1, max_norm / (norm + 1e-6))``; no device sync.

    Parameters
    ----------
    grads : list of array
        The gradients.
    max_norm : float
        The largest global L2 norm allowed.
    xp : namespace
        Their Array-API namespace.

    Returns
    -------
    norm : array
        The global norm, a 0-d array.
    factor : array
        What to multiply the gradients by, a 0-d array.

    Examples
    --------
    >>> from xprop.optimizers import clip_scale
    >>> b = xprop.resolve_backend()
    >>> norm, factor = clip_scale([b.from_host([3.0]), b.from_host([4.0])], 1.0, b.xp)
    >>> float(norm), round(float(factor), 6)
    (5.0, 0.2)
    """
    total = xp.sqrt(sum(xp.sum(g * g) for g in grads))
    factor = max_norm / (total + 1e-6)
    return total, xp.minimum(factor, xp.ones_like(factor))  # elementwise: no host sync


def clip_grad_norm(grads: list[Array], max_norm: float, xp: Any | None = None) -> Array:
    """Scale gradients in place in their list so their global L2 norm is at most ``max_norm``.

    See :func:`clip_scale` for the formula.

    Parameters
    ----------
    grads : list of array
        The gradients (the list's entries are replaced).
    max_norm : float
        The largest global L2 norm allowed (> 0).
    xp : namespace, optional
        Their Array-API namespace (looked up when omitted).

    Returns
    -------
    array
        The norm before clipping (a 0-d array).

    Raises
    ------
    ValueError
        When ``max_norm`` is not a finite number > 0.

    Examples
    --------
    >>> b = xprop.resolve_backend()
    >>> grads = [b.from_host([3.0]), b.from_host([4.0])]
    >>> float(xprop.clip_grad_norm(grads, 1.0))
    5.0
    >>> [round(float(g[0]), 6) for g in grads]
    [0.6, 0.8]
    """
    max_norm = check_positive(max_norm, "max_norm")
    if not grads:
        raise ValueError("grads: expected a list of gradient arrays, got an empty one")
    xp = xp or array_namespace(*grads)
    total, factor = clip_scale(grads, max_norm, xp)
    for i, g in enumerate(grads):
        grads[i] = g * factor
    return total

