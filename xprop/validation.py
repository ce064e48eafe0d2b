"""Checks for user input, run once where data enters (``fit``, ``predict``, ``gradcheck``).

Every error names the argument, what was expected and what was found. Array checks use only
the Array API (one device sync each), never NumPy.
"""

from __future__ import annotations

import inspect
import math
import os
import re
import types
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any

Array = Any

__all__ = [
    "check_distributions",
    "check_finite",
    "check_int",
    "check_layer_sizes",
    "check_matrix",
    "check_positive",
    "check_real",
    "check_seed",
    "is_bool",
    "parse_parameter",
]


def parse_parameter(spec: str, name: str) -> float | None:
    """The number in ``"name(x)"`` (NaN when ``x`` is not a number), or ``None`` when ``spec``
    is not of that form: ``parse_parameter("leaky_relu(0.2)", "leaky_relu") == 0.2``."""
    m = re.fullmatch(rf"{re.escape(name)}\(\s*([^)]*)\s*\)", spec)
    if m is None:
        return None
    try:
        return float(m.group(1))
    except ValueError:
        return math.nan


def check_layer_sizes(sizes: Any) -> list[int]:
    """``layer_sizes``: at least two integers >= 1 (inputs, ..., outputs)."""
    if not isinstance(sizes, Sequence) and getattr(sizes, "ndim", None) == 1 \
            and hasattr(sizes, "dtype"):
        sizes = list(sizes)  # a 1-D array (np.r_[2, 8, 1]): its entries are checked below
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
        raise ValueError(
            f"layer_sizes: expected a list of at least 2 integers >= 1, got {show(sizes)}"
        )
    if len(sizes) < 2:
        raise ValueError(
            f"layer_sizes: expected at least 2 sizes (inputs and outputs), got {list(sizes)!r}"
        )
    for i, s in enumerate(sizes):
        if isinstance(s, bool) or not isinstance(s, Integral):
            raise ValueError(f"layer_sizes[{i}]: expected an integer >= 1, got {s!r}")
        if s < 1:
            raise ValueError(f"layer_sizes[{i}]: expected an integer >= 1, got {s}")
    return [int(s) for s in sizes]


def check_positive(value: Any, name: str) -> float:
    """A finite real number > 0 (learning rates, scales)."""
    return check_real(value, name, 0.0, low_open=True)


def check_int(value: Any, name: str, minimum: int = 1) -> int:
    """An integer >= ``minimum`` (epochs, batch sizes)."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {show(value)}")
    return int(value)


def show(value: Any, limit: int = 60) -> str:
    """``value`` for a one-line message: an array as its type, shape and dtype (a 0-d one
    or a NumPy scalar as its ``repr``, which holds its value), anything else as its ``repr``
    on one line, cut at ``limit`` characters."""
    shape = None if isinstance(value, (type, types.ModuleType)) else getattr(value, "shape",
                                                                             None)
    array = shape is not None and not callable(shape) and hasattr(value, "dtype")
    try:
        text = repr(value) if not array or tuple(shape) == () else None
    except Exception:  # a lazy 0-d array without a value to show
        text = None
    if text is None:
        return f"{type(value).__name__} of shape {tuple(shape)} and dtype {value.dtype}"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def is_bool(value: Any) -> bool:
    """Whether ``value`` is a bool: Python's or a NumPy bool scalar (``np.True_``, whose type
    is ``numpy.bool``, ``numpy.bool_`` before NumPy 2)."""
    return isinstance(value, bool) or (type(value).__name__ in ("bool", "bool_")
                                       and getattr(getattr(value, "dtype", None), "kind",
                                                   None) == "b")


def check_bool(value: Any, name: str, none: bool = False) -> bool | None:
    """A bool (Python's or NumPy's), or None where ``none``: no truthy strings or numbers."""
    if is_bool(value):
        return bool(value)
    if none and value is None:
        return None
    expected = "None, True or False" if none else "True or False"
    raise ValueError(f"{name}: expected {expected}, got {show(value)}")


def check_real(value: Any, name: str, low: float = -math.inf, high: float = math.inf, *,
               low_open: bool = False, high_open: bool = False,
               what: str = "a finite number") -> float:
    """A finite real number (no bool) between ``low`` and ``high``, each end included unless
    ``*_open``: ``momentum: expected a finite number in [0, 1], got 1.5``. The one place
    every option's range is checked (noise levels, rates, fractions, tolerances). A 0-d
    array of any library counts as its number (a rate computed on a device: read once)."""
    number = _number_of(value)
    try:
        real = not isinstance(number, bool) and isinstance(number, Real) \
            and math.isfinite(number)
    except OverflowError:  # an int beyond float's range
        real = False
    if not real or not (low < number if low_open else low <= number) \
            or not (number < high if high_open else number <= high):
        if math.isfinite(high):
            interval = (f"in {'(' if low_open else '['}{low:g}, {high:g}"
                        f"{')' if high_open else ']'}")
        else:
            interval = f"{'>' if low_open else '>='} {low:g}"
        raise ValueError(f"{name}: expected {what} {interval}, got {show(value)}")
    return float(number) + 0.0  # -0.0 is 0.0


def _number_of(value: Any) -> Any:
    """The number a 0-d array of any library holds, of a real dtype (``float(x)``, the
    standard's); anything else (a boolean, complex, text or object one too) as it is."""
    dtype = str(getattr(value, "dtype", ""))
    if isinstance(value, Real) or getattr(value, "shape", None) != () \
            or not ("float" in dtype or "int" in dtype) or "complex" in dtype:
        return value
    try:
        return float(value)
    except (TypeError, ValueError, RuntimeError):
        return value


def check_given(value: Any, name: str, expected: str) -> Any:
    """``value`` itself, or a ValueError when it is None."""
    if value is None:
        raise ValueError(f"{name}: expected {expected}, got None")
    return value


def check_choice(value: Any, name: str, options: Sequence[str]) -> str:
    """One of the names ``options`` (anything else, arrays and lists included, refused)."""
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name}: expected one of {sorted(options)}, got {show(value)}")
    return value


def user_stacklevel() -> int:
    """The ``stacklevel`` for a warning that the caller of this function issues, so that it
    points at the first line outside xprop (the user's), however deep in xprop the call is."""
    here = inspect.currentframe()  # (this function's frame)
    frame, level = here.f_back if here is not None else None, 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    return level


_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep  # xprop's own files


def check_path(path: Any, name: str = "path") -> str:
    """A file name: a ``str`` or an ``os.PathLike``, as ``os.fspath`` gives it."""
    try:
        path = os.fspath(path)
    except TypeError:
        raise TypeError(f"{name}: expected a file name (str or os.PathLike), got "
                        f"{show(path)}") from None
    if not isinstance(path, str):
        raise TypeError(f"{name}: expected a file name (str or os.PathLike), got "
                        f"{show(path)}")
    if "\0" in path:  # (the os functions' own error names no argument)
        raise ValueError(f"{name}: expected a file name without NUL characters, got {path!r}")
    return path


def check_readable(path: str, where: str) -> None:
    """``path`` is an existing regular file this process may read; the errors start with
    ``where`` (e.g. ``"data file 'x.csv'"``)."""
    if os.path.isdir(path):
        raise IsADirectoryError(f"{where} is a directory, not a file")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{where} does not exist")
    if not os.path.isfile(path):
        raise ValueError(f"{where} is not a regular file (a pipe, a socket or a device?)")
    if not os.access(path, os.R_OK):
        raise PermissionError(f"{where} is not a readable file (permission denied)")


def check_seed(value: Any, name: str = "seed") -> int:
    """A seed: an integer >= 0 (Python or NumPy integers)."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 0:
        raise ValueError(f"{name}: expected an integer >= 0, got {show(value)}")
    return int(value)


def check_model(model: Any) -> None:
    """``model`` is an xprop model (an :class:`~xprop.MLP`, by what it has: ``arch``,
    ``backend``, ``prepare``); a fitted scikit-learn estimator is pointed to its ``model_``."""
    if not (hasattr(model, "arch") and hasattr(model, "backend")
            and callable(getattr(model, "prepare", None))):
        fitted = getattr(model, "model_", None)
        hint = "; pass its model_" if hasattr(fitted, "arch") else ""
        raise TypeError(f"model: expected an xprop.MLP, got {type(model).__name__}{hint}")


def check_matrix(x: Array, name: str, n_features: int | None = None) -> None:
    """``x`` is 2-D with ``n_features`` columns (when given)."""
    if x.ndim != 2:
        raise ValueError(
            f"{name}: expected a 2-D array of shape (n_samples, "
            f"{n_features if n_features is not None else 'n_features'}), "
            f"got {x.ndim}-D with shape {tuple(x.shape)}"
        )
    if n_features is not None and x.shape[1] != n_features:
        raise ValueError(
            f"{name}: expected {n_features} features (columns), got {x.shape[1]} "
            f"(shape {tuple(x.shape)})"
        )
    if x.shape[0] < 1:
        raise ValueError(f"{name}: expected at least 1 sample, got shape {tuple(x.shape)}")


def check_rows(shape: tuple[int, ...], n: int, name: str = "y") -> None:
    """An array of ``shape`` has ``n`` entries along its first axis: one per row of ``X``.

    >>> from xprop.validation import check_rows
    >>> check_rows((3, 2), 4)
    Traceback (most recent call last):
    ...
    ValueError: y: expected 4 entries (one per row of X), got shape (3, 2)
    """
    if tuple(shape[:1]) != (n,):
        raise ValueError(f"{name}: expected {n} entries (one per row of X), got shape "
                         f"{tuple(shape)}")


def check_distributions(y: Array, name: str, xp: Any) -> None:
    """Rows of ``y`` are probability vectors (entries in [0, 1], sums 1 within float
    rounding), as cross-entropy targets must be: its fused gradient ``(a - y) / n`` assumes
    it."""
    lo, hi = float(xp.min(y)), float(xp.max(y))
    sums = xp.sum(y, axis=1)
    worst = float(xp.max(xp.abs(sums - 1.0)))
    tol = 1e-6 if y.dtype == xp.float32 else 1e-12
    if lo < 0.0 or hi > 1.0 or worst > tol * y.shape[1]:
        raise ValueError(
            f"{name}: cross_entropy expects one-hot or probability rows (entries in [0, 1] "
            f"summing to 1); got entries from {lo:g} to {hi:g} and row sums off by up to "
            f"{worst:.3g}"
        )


def check_finite(x: Array, name: str, xp: Any) -> None:
    """No NaN or inf in a floating array (one device sync)."""
    if not xp.isdtype(x.dtype, "real floating"):
        return
    bad = ~xp.isfinite(x)
    if bool(xp.any(bad)):
        n_bad = int(xp.sum(xp.astype(bad, xp.int32)))
        size = math.prod(x.shape)
        raise ValueError(
            f"{name}: expected finite values, found NaN or inf in {n_bad} of {size} entries"
        )


def check_block_name(name: Any, prefix: str, what: str, taken: Any) -> str:
    """The name of a user's activation or loss, as lookups read it (stripped, lower-case):
    a non-empty string, without parentheses (``leaky_relu(0.1)``: a built-in's parameter)
    and not one of ``taken`` (the built-ins and their aliases, which models, checkpoints and
    pickles would rebuild instead)."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{prefix}: expected a non-empty string as the name, got {show(name)}")
    key = name.strip().lower()
    if key in taken:
        raise ValueError(f"{prefix}: {key!r} is a built-in {what}; pick another name")
    if "(" in key or ")" in key:
        raise ValueError(f"{prefix}: expected a name without parentheses (they give a "
                         f"built-in its parameter, as in leaky_relu(0.1)), got {name!r}")
    return key
