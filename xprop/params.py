"""Named parameters as views into one flat buffer.

A model's parameters ``W0, b0, W1, b1, ...`` live in one contiguous 1-D array, the *buffer*;
each name is a reshaped slice of it::

    buffer = [ W0.ravel() | b0 | W1.ravel() | b1 | ... ]        W_i: (n_i, n_{i+1}), b_i: (n_{i+1},)

so an optimizer updates every parameter in one expression (``buffer -= lr * grad_buffer``), a
snapshot is one copy and an all-reduce sends one array. Gradients use the same layout.

Namespaces whose arrays can be updated in place (NumPy, CuPy, PyTorch, array-api-strict) keep
the views: an in-place update of the buffer is seen through every name. Where arrays are
immutable (JAX), an update returns a new buffer and :meth:`Params.assign` rebuilds the views
from it, so the same code works on both.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from xprop.validation import show

Array = Any

__all__ = ["Layout", "Params"]


@dataclass(frozen=True)
class Layout:
    """Names, shapes and offsets of the parameters in their buffer (in layer order).

    Parameters
    ----------
    names : tuple of str
        The parameters' names, in buffer order (``W0``, ``b0``, ``W1``, ...).
    shapes : tuple of tuple of int
        One shape per name.

    Attributes
    ----------
    sizes : tuple of int
        The number of entries of each parameter.
    offsets : tuple of int
        Where each parameter starts in the buffer.
    size : int
        The buffer's length (the sum of ``sizes``).

    Examples
    --------
    >>> from xprop.params import Layout
    >>> layout = Layout(("W0", "b0"), ((2, 3), (3,)))
    >>> layout.sizes, layout.offsets, layout.size
    ((6, 3), (0, 6), 9)
    """

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    sizes: tuple[int, ...] = field(init=False, repr=False, compare=False)
    offsets: tuple[int, ...] = field(init=False, repr=False, compare=False)
    size: int = field(init=False, repr=False, compare=False)  # the buffer's length

    def __post_init__(self) -> None:
        sizes = tuple(math.prod(s) for s in self.shapes)
        offsets = tuple(sum(sizes[:i]) for i in range(len(sizes)))
        object.__setattr__(self, "sizes", sizes)
        object.__setattr__(self, "offsets", offsets)
        object.__setattr__(self, "size", sum(sizes))

    @classmethod
    def for_mlp(cls, sizes: Sequence[int], bias: bool) -> Layout:
        """The layout of a multilayer perceptron's parameters.

        ``W_i`` of shape ``(sizes[i], sizes[i+1])`` and, with ``bias``, ``b_i`` of shape
        ``(sizes[i+1],)``, for every layer ``i``, in that order.

        Parameters
        ----------
        sizes : sequence of int
            Layer sizes ``[n_inputs, hidden..., n_outputs]``.
        bias : bool
            Whether every layer has a bias vector.

        Returns
        -------
        Layout
            The layout, in layer order.

        Examples
        --------
        >>> from xprop.params import Layout
        >>> layout = Layout.for_mlp([2, 3, 1], bias=True)
        >>> layout.names
        ('W0', 'b0', 'W1', 'b1')
        >>> layout.shapes, layout.size
        (((2, 3), (3,), (3, 1), (1,)), 13)
        """
        names, shapes = [], []
        for i in range(len(sizes) - 1):
            names.append(f"W{i}")
            shapes.append((int(sizes[i]), int(sizes[i + 1])))
            if bias:
                names.append(f"b{i}")
                shapes.append((int(sizes[i + 1]),))
        return cls(tuple(names), tuple(shapes))

    def shape_of(self, name: str) -> tuple[int, ...]:
        """The shape of parameter ``name``.

        Parameters
        ----------
        name : str
            A name of :attr:`names`.

        Returns
        -------
        tuple of int
            Its shape.

        Raises
        ------
        ValueError
            When ``name`` is not one of :attr:`names`.

        Examples
        --------
        >>> from xprop.params import Layout
        >>> Layout.for_mlp([2, 3, 1], bias=True).shape_of("W1")
        (3, 1)
        """
        if name not in self.names:
            raise ValueError(f"name: expected one of {', '.join(self.names)}, got {name!r}")
        return self.shapes[self.names.index(name)]

    def views(self, buffer: Array, xp: Any) -> dict[str, Array]:
        """Split a flat buffer into named arrays of this layout.

        Each name gets ``reshape(buffer[offset : offset + size], shape)``: a view where the
        namespace makes views (NumPy, CuPy, PyTorch, array-api-strict), a copy otherwise
        (JAX).

        Parameters
        ----------
        buffer : array
            A 1-D array of length :attr:`size`.
        xp : namespace
            The buffer's Array-API namespace.

        Returns
        -------
        dict of str to array
            Name -> array of its shape, in layout order.

        Examples
        --------
        >>> from xprop.params import Layout
        >>> xp = xprop.resolve_backend().xp
        >>> layout = Layout(("W0", "b0"), ((2, 2), (2,)))
        >>> views = layout.views(xp.arange(6, dtype=xp.float64), xp)
        >>> xprop.to_numpy(views["W0"])
        array([[0., 1.],
               [2., 3.]])
        """
        out = {}
        for name, shape, start, n in zip(self.names, self.shapes, self.offsets, self.sizes):
            out[name] = xp.reshape(buffer[start : start + n], shape)
        return out

    def flatten(self, arrays: Sequence[Array], xp: Any) -> Array:
        """Copy arrays into one flat buffer of this layout.

        ``concat`` with ``axis=None`` flattens each array first, so the result holds
        ``arrays`` (in layout order) one after another.

        Parameters
        ----------
        arrays : sequence of array
            One array per name, in layout order, of the layout's shapes.
        xp : namespace
            Their Array-API namespace.

        Returns
        -------
        array
            A new 1-D array of length :attr:`size`.

        Examples
        --------
        >>> from xprop.params import Layout
        >>> xp = xprop.resolve_backend().xp
        >>> layout = Layout(("W0", "b0"), ((1, 2), (2,)))
        >>> W0 = xp.asarray([[1.0, 2.0]])
        >>> b0 = xp.asarray([3.0, 4.0])
        >>> xprop.to_numpy(layout.flatten([W0, b0], xp))
        array([1., 2., 3., 4.])
        """
        return xp.concat(list(arrays), axis=None)


class Params(Mapping):
    """A read-only mapping name -> array whose arrays are views into one flat buffer.

    ``params["W0"]`` is a live view; ``params.buffer`` is the flat array. Replace the values
    with :meth:`assign` (a new buffer of the same layout), never by assigning to names. The
    views are made on first use (a training step that only needs the gradient buffer makes
    none).

    Parameters
    ----------
    layout : Layout
        Names and shapes of the parameters.
    buffer : array
        A 1-D array of length ``layout.size`` (kept, not copied).
    xp : namespace
        The buffer's Array-API namespace.

    Raises
    ------
    ValueError
        When ``buffer`` is not of shape ``(layout.size,)``.

    Examples
    --------
    >>> from xprop.params import Layout, Params
    >>> xp = xprop.resolve_backend().xp
    >>> layout = Layout.for_mlp([2, 1], bias=True)
    >>> params = Params(layout, xp.asarray([1.0, 2.0, 0.5]), xp)
    >>> params
    Params(W0(2, 1), b0(1,))
    >>> xprop.to_numpy(params["W0"])
    array([[1.],
           [2.]])
    """

    __slots__ = ("_buffer", "_views", "layout", "xp")

    def __init__(self, layout: Layout, buffer: Array, xp: Any) -> None:
        if not hasattr(buffer, "shape") or tuple(buffer.shape) != (layout.size,):
            raise ValueError(
                f"buffer: expected an array of shape ({layout.size},) for "
                f"{len(layout.names)} parameters, got {show(buffer)}"
            )
        self.layout, self.xp = layout, xp
        self._buffer = buffer
        self._views: dict[str, Array] | None = None

    @classmethod
    def wrap(cls, layout: Layout, buffer: Array, xp: Any) -> Params:
        """Wrap a buffer without checking it (for the core's own buffers).

        The core builds gradient buffers once per step with ``layout``; this skips the
        shape check of the constructor.

        Parameters
        ----------
        layout : Layout
            Names and shapes of the parameters.
        buffer : array
            A 1-D array of length ``layout.size``, made for ``layout`` (unchecked).
        xp : namespace
            The buffer's Array-API namespace.

        Returns
        -------
        Params
            The parameters over ``buffer`` (not a copy).

        Examples
        --------
        >>> from xprop.params import Layout, Params
        >>> xp = xprop.resolve_backend().xp
        >>> layout = Layout.for_mlp([1, 1], bias=False)
        >>> Params.wrap(layout, xp.asarray([3.0]), xp)
        Params(W0(1, 1))
        """
        self = cls.__new__(cls)
        self.layout, self.xp, self._buffer, self._views = layout, xp, buffer, None
        return self

    @classmethod
    def from_arrays(cls, layout: Layout, arrays: Sequence[Array], xp: Any) -> Params:
        """Make parameters holding a copy of ``arrays``.

        Parameters
        ----------
        layout : Layout
            Names and shapes of the parameters.
        arrays : sequence of array
            One array per name, in layout order, of the layout's shapes.
        xp : namespace
            Their Array-API namespace.

        Returns
        -------
        Params
            Parameters over a new buffer holding the arrays' values.

        Examples
        --------
        >>> from xprop.params import Layout, Params
        >>> xp = xprop.resolve_backend().xp
        >>> layout = Layout.for_mlp([2, 1], bias=True)
        >>> params = Params.from_arrays(layout, [xp.ones((2, 1)), xp.zeros((1,))], xp)
        >>> xprop.to_numpy(params.buffer)
        array([1., 1., 0.])
        """
        return cls(layout, layout.flatten(arrays, xp), xp)

    @property
    def buffer(self) -> Array:
        """The flat array every parameter is a view of."""
        return self._buffer

    def assign(self, buffer: Array) -> None:
        """Make ``buffer`` the parameters' storage.

        A no-op when it already is (an in-place update); otherwise the views are rebuilt (an
        immutable namespace's update, a restored snapshot).

        Parameters
        ----------
        buffer : array
            A 1-D array of the layout's size, of the parameters' type, dtype and device.

        Raises
        ------
        ValueError
            When ``buffer`` is not of shape ``(layout.size,)``, or of another type, dtype
            or device than the parameters' (nothing is converted).

        Examples
        --------
        >>> from xprop.params import Layout, Params
        >>> xp = xprop.resolve_backend().xp
        >>> params = Params(Layout.for_mlp([1, 1], bias=True), xp.asarray([1.0, 0.0]), xp)
        >>> params.assign(xp.asarray([2.0, 5.0]))
        >>> xprop.to_numpy(params["b0"])
        array([5.])
        """
        old = self._buffer
        if buffer is old:
            return
        if tuple(buffer.shape) != (self.layout.size,) or type(buffer) is not type(old) or \
                buffer.dtype != old.dtype or getattr(buffer, "device", None) != getattr(
                    old, "device", None):  # (cheap looks: this runs every step on JAX)
            raise ValueError(f"buffer: expected {_described(old)}, got {_described(buffer)}")
        self._buffer = buffer
        self._views = None

    #: a mapping of arrays has no one truth value: params equal only themselves
    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def copy(self) -> Params:
        """Independent parameters with the same values (one copy of the buffer).

        Returns
        -------
        Params
            Parameters of the same layout over a new buffer.

        Examples
        --------
        >>> model = xprop.MLP([2, 1], seed=0)
        >>> snapshot = model.params.copy()
        >>> snapshot.buffer is model.params.buffer
        False
        >>> bool(xprop.to_numpy(snapshot.buffer == model.params.buffer).all())
        True
        """
        return Params(self.layout, self.xp.asarray(self._buffer, copy=True), self.xp)

    def views(self) -> dict[str, Array]:
        """The parameters as a plain dict name -> view.

        The core reads it once per pass (cheaper than a lookup per use). Valid until the
        next :meth:`assign` of a new buffer.

        Returns
        -------
        dict of str to array
            Name -> view into :attr:`buffer`, in layout order.

        Examples
        --------
        >>> model = xprop.MLP([2, 3, 1], seed=0)
        >>> list(model.params.views())
        ['W0', 'b0', 'W1', 'b1']
        """
        if self._views is None:
            self._views = self.layout.views(self._buffer, self.xp)
        return self._views

    def __getitem__(self, name: str) -> Array:
        return self.views()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.layout.names)

    def __len__(self) -> int:
        return len(self.layout.names)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{n}{s}" for n, s in zip(self.layout.names, self.layout.shapes))
        return f"Params({shapes})"


def _described(a: Array) -> str:
    """``a`` for a message (:func:`~xprop.validation.show`) with its device, where arrays
    say it."""
    return show(a) + (f" on {a.device}" if hasattr(a, "device") else "")
