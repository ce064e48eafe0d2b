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

Array = Any

__all__ = ["Layout", "Params"]


@dataclass(frozen=True)
class Layout:
    """Names, shapes and offsets of the parameters in their buffer (in layer order)."""

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
        """``W_i`` of shape ``(sizes[i], sizes[i+1])`` and, with ``bias``, ``b_i`` of shape
        ``(sizes[i+1],)``, for every layer ``i``."""
        names, shapes = [], []
        for i in range(len(sizes) - 1):
            names.append(f"W{i}")
            shapes.append((int(sizes[i]), int(sizes[i + 1])))
            if bias:
                names.append(f"b{i}")
                shapes.append((int(sizes[i + 1]),))
        return cls(tuple(names), tuple(shapes))

    def shape_of(self, name: str) -> tuple[int, ...]:
        return self.shapes[self.names.index(name)]

    def views(self, buffer: Array, xp: Any) -> dict[str, Array]:
        """Name -> ``reshape(buffer[offset : offset + size], shape)`` (views where the
        namespace makes views)."""
        out = {}
        for name, shape, start, n in zip(self.names, self.shapes, self.offsets, self.sizes):
            out[name] = xp.reshape(buffer[start : start + n], shape)
        return out

    def flatten(self, arrays: Sequence[Array], xp: Any) -> Array:
        """One buffer holding ``arrays`` (in layout order) one after another (a copy):
        ``concat`` with ``axis=None`` flattens each array first."""
        return xp.concat(list(arrays), axis=None)


class Params(Mapping):
    """A read-only mapping name -> array whose arrays are views into ``buffer``.

    ``params["W0"]`` is a live view; ``params.buffer`` is the flat array. Replace the values
    with :meth:`assign` (a new buffer of the same layout), never by assigning to names. The
    views are made on first use (a training step that only needs the gradient buffer makes
    none).
    """

    __slots__ = ("_buffer", "_views", "layout", "xp")

    def __init__(self, layout: Layout, buffer: Array, xp: Any) -> None:
        if tuple(buffer.shape) != (layout.size,):
            raise ValueError(
                f"buffer: expected shape ({layout.size},) for {len(layout.names)} parameters, "
                f"got {tuple(buffer.shape)}"
            )
        self.layout, self.xp = layout, xp
        self._buffer = buffer
        self._views: dict[str, Array] | None = None

    @classmethod
    def wrap(cls, layout: Layout, buffer: Array, xp: Any) -> Params:
        """Parameters over ``buffer``, which the caller made with ``layout`` (unchecked: for
        the core's own gradient buffers, built once per step)."""
        self = cls.__new__(cls)
        self.layout, self.xp, self._buffer, self._views = layout, xp, buffer, None
        return self

    @classmethod
    def from_arrays(cls, layout: Layout, arrays: Sequence[Array], xp: Any) -> Params:
        """Parameters holding a copy of ``arrays`` (one per name, in layout order)."""
        return cls(layout, layout.flatten(arrays, xp), xp)

    @property
    def buffer(self) -> Array:
        """The flat array every parameter is a view of."""
        return self._buffer

    def assign(self, buffer: Array) -> None:
        """Make ``buffer`` the parameters' storage. A no-op when it already is (an in-place
        update); otherwise the views are rebuilt (an immutable namespace's update, a restored
        snapshot)."""
        if buffer is self._buffer:
            return
        if tuple(buffer.shape) != (self.layout.size,):
            raise ValueError(
                f"buffer: expected shape ({self.layout.size},), got {tuple(buffer.shape)}"
            )
        self._buffer = buffer
        self._views = None

    def copy(self) -> Params:
        """Independent parameters with the same values (one copy of the buffer)."""
        return Params(self.layout, self.xp.asarray(self._buffer, copy=True), self.xp)

    def views(self) -> dict[str, Array]:
        """Name -> view, as a plain dict (the core reads it once per pass: cheaper than a
        lookup per use). Valid until the next :meth:`assign` of a new buffer."""
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
