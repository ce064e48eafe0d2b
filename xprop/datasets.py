"""Datasets on the host (NumPy): seeded generators, scikit-learn's digits, user files, and
standardisation and splitting helpers. Models move the data to their device once, in ``fit``.

Every loader returns ``(X, y)``: ``X`` float64 of shape ``(n, d)``, ``y`` int64 labels ``(n,)``
(or float64 targets for regression files).
"""

from __future__ import annotations

import collections
import contextlib
import csv
import functools
import inspect
import math
import os
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from numbers import Integral
from typing import Any

import numpy as np

from xprop import validation as V
from xprop.backend import is_array, resolve_backend, to_numpy
from xprop.validation import show

try:
    from lzma import LZMAError
except ImportError:  # a Python without liblzma: zipfile cannot read LZMA members either
    LZMAError = RuntimeError

__all__ = [
    "DATASETS",
    "Standardizer",
    "circles",
    "csv_layout",
    "digits",
    "load",
    "load_csv",
    "load_npz",
    "moons",
    "spirals",
    "train_test_split",
    "xor",
]


def _rng(seed: int | None) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(None if seed is None else V.check_seed(seed)))


def xor(signed: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The four XOR points with their labels.

    Parameters
    ----------
    signed : bool, default=False
        Inputs in {-1, 1} instead of {0, 1}.

    Returns
    -------
    X : ndarray of shape (4, 2)
        The inputs, float64.
    y : ndarray of shape (4,)
        The labels ``[0, 1, 1, 0]``, int64.

    Examples
    --------
    >>> X, y = xprop.datasets.xor()
    >>> X.tolist(), y.tolist()
    ([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], [0, 1, 1, 0])
    >>> xprop.datasets.xor(signed=True)[0][0].tolist()
    [-1.0, -1.0]
    """
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    if V.check_bool(signed, "signed"):
        X = 2.0 * X - 1.0
    return X, np.array([0, 1, 1, 0], dtype=np.int64)


def moons(n: int = 400, noise: float = 0.1, seed: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles, as scikit-learn's ``make_moons``.

    Parameters
    ----------
    n : int, default=400
        The number of points (at least 2), half in each class.
    noise : float, default=0.1
        The standard deviation of the Gaussian noise added to the points.
    seed : int or None, default=0
        Seed of the noise and the shuffle (None: fresh entropy).

    Returns
    -------
    X : ndarray of shape (n, 2)
        The points, float64, shuffled.
    y : ndarray of shape (n,)
        Their classes 0 and 1, int64.

    Raises
    ------
    ValueError
        When ``n`` is not an integer >= 2, ``noise`` is negative or not finite, or
        ``seed`` is not an integer >= 0.

    Examples
    --------
    >>> X, y = xprop.datasets.moons(200, noise=0.1, seed=0)
    >>> X.shape, np.bincount(y).tolist()
    ((200, 2), [100, 100])
    """
    n = _check_n(n, 2)
    noise = V.check_real(noise, "noise", 0.0)
    rng = _rng(seed)
    n0 = n // 2
    t0 = np.linspace(0, math.pi, n0)
    t1 = np.linspace(0, math.pi, n - n0)
    X = np.concatenate([
        np.stack([np.cos(t0), np.sin(t0)], axis=1),
        np.stack([1 - np.cos(t1), 0.5 - np.sin(t1)], axis=1),
    ])
    y = np.concatenate([np.zeros(n0, np.int64), np.ones(n - n0, np.int64)])
    return _shuffle(_noisy(X, noise, rng), y, rng)


def _noisy(X: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    """``X`` plus Gaussian noise of standard deviation ``noise``; a ValueError where that
    overflows float64 (the points would be inf)."""
    with np.errstate(over="ignore", invalid="ignore"):
        X = X + rng.normal(0.0, noise, X.shape)
    if not np.all(np.isfinite(X)):
        raise ValueError(f"noise: {noise!r} makes points beyond float64's range; expected a "
                         "smaller standard deviation")
    return X


def circles(n: int = 400, noise: float = 0.05, factor: float = 0.5,
            seed: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two concentric circles: class 0 outside (radius 1), class 1 inside.

    Parameters
    ----------
    n : int, default=400
        The number of points (at least 2), half in each class.
    noise : float, default=0.05
        The standard deviation of the Gaussian noise added to the points.
    factor : float, default=0.5
        The radius of the inner circle, in [0, 1) (as scikit-learn's ``make_circles``).
    seed : int or None, default=0
        Seed of the noise and the shuffle (None: fresh entropy).

    Returns
    -------
    X : ndarray of shape (n, 2)
        The points, float64, shuffled.
    y : ndarray of shape (n,)
        Their classes (1 = inner), int64.

    Raises
    ------
    ValueError
        When ``n`` is not an integer >= 2, ``noise`` is negative or not finite,
        ``factor`` is not in [0, 1), or ``seed`` is not an integer >= 0.

    Examples
    --------
    >>> X, y = xprop.datasets.circles(100, seed=0)
    >>> X.shape, np.bincount(y).tolist()
    ((100, 2), [50, 50])
    """
    n = _check_n(n, 2)
    noise = V.check_real(noise, "noise", 0.0)
    factor = V.check_real(factor, "factor", 0.0, 1.0, high_open=True)  # 1: one circle
    rng = _rng(seed)
    n0 = n // 2
    t0 = np.linspace(0, 2 * math.pi, n0, endpoint=False)
    t1 = np.linspace(0, 2 * math.pi, n - n0, endpoint=False)
    X = np.concatenate([
        np.stack([np.cos(t0), np.sin(t0)], axis=1),
        factor * np.stack([np.cos(t1), np.sin(t1)], axis=1),
    ])
    y = np.concatenate([np.zeros(n0, np.int64), np.ones(n - n0, np.int64)])
    return _shuffle(_noisy(X, noise, rng), y, rng)


def spirals(n: int = 600, arms: int = 3, noise: float = 0.2, turns: float = 1.0,
            seed: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """Interleaved spirals, one class per arm (the CS231n toy set).

    Parameters
    ----------
    n : int, default=600
        The number of points (at least ``arms``), spread evenly over the arms.
    arms : int, default=3
        The number of spirals and classes (at least 2).
    noise : float, default=0.2
        The standard deviation of the Gaussian noise added to the angles.
    turns : float, default=1.0
        How many turns each arm makes.
    seed : int or None, default=0
        Seed of the noise and the shuffle (None: fresh entropy).

    Returns
    -------
    X : ndarray of shape (n, 2)
        The points, float64, shuffled.
    y : ndarray of shape (n,)
        Their arms ``0 .. arms - 1``, int64.

    Raises
    ------
    ValueError
        When ``arms`` is not an integer >= 2, ``n`` is smaller than ``arms``, ``noise`` or
        ``turns`` is negative or not finite or makes angles beyond float64, or ``seed`` is
        not an integer >= 0.

    Examples
    --------
    >>> X, y = xprop.datasets.spirals(300, arms=3, seed=0)
    >>> X.shape, np.bincount(y).tolist()
    ((300, 2), [100, 100, 100])
    """
    arms = V.check_int(arms, "arms", 2)
    n = _check_n(n, arms)
    noise = V.check_real(noise, "noise", 0.0)
    turns = V.check_real(turns, "turns", 0.0)
    rng = _rng(seed)
    per = [n // arms + (1 if i < n % arms else 0) for i in range(arms)]
    Xs, ys = [], []
    for k, m in enumerate(per):
        r = np.linspace(0.0, 1.0, m)
        t = np.linspace(k * 2 * math.pi / arms, k * 2 * math.pi / arms + turns * 2 * math.pi, m)
        with np.errstate(over="ignore", invalid="ignore"):
            t = t + rng.normal(0.0, noise, m)
        if not np.all(np.isfinite(t)):  # (sin and cos of inf are NaN)
            raise ValueError(f"noise, turns: {noise!r}, {turns!r} make angles beyond float64's "
                             "range; expected smaller ones")
        Xs.append(np.stack([r * np.sin(t), r * np.cos(t)], axis=1))
        ys.append(np.full(m, k, np.int64))
    return _shuffle(np.concatenate(Xs), np.concatenate(ys), rng)


def digits() -> tuple[np.ndarray, np.ndarray]:
    """The 8x8 handwritten digits scikit-learn ships (no download).

    Returns
    -------
    X : ndarray of shape (1797, 64)
        Pixel values 0 to 16, float64.
    y : ndarray of shape (1797,)
        The digits 0 to 9, int64.

    Raises
    ------
    ImportError
        Without scikit-learn (``pip install "xprop[datasets]"``).

    Examples
    --------
    >>> X, y = xprop.datasets.digits()
    >>> X.shape, y[:5].tolist(), float(X.max())
    ((1797, 64), [0, 1, 2, 3, 4], 16.0)
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:
        raise ImportError(
            f"dataset 'digits' needs scikit-learn ({e}); pip install \"xprop[datasets]\""
        ) from None
    d = load_digits()
    return d.data.astype(np.float64), d.target.astype(np.int64)


DATASETS: dict[str, Callable[..., tuple[np.ndarray, np.ndarray]]] = {
    "xor": xor,
    "xor_signed": functools.partial(xor, signed=True),
    "moons": moons,
    "circles": circles,
    "spirals": spirals,
    "digits": digits,
}
"""The built-in datasets by name (what ``xprop train --data NAME`` and :func:`load` take)."""
_FILE_OPTIONS = ("label", "labels", "delimiter", "header")


def _check_n(n: Any, minimum: int) -> int:
    return V.check_int(n, "n", minimum)


def _shuffle(X: np.ndarray, y: np.ndarray, rng: np.random.Generator):
    p = rng.permutation(len(y))
    return X[p], y[p]


# --------------------------------------------------------------------------- files


def load_npz(path: str | os.PathLike, labels: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Read arrays ``X`` and ``y`` from an ``.npz`` file (without pickle).

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    labels : bool, default=True
        Whether ``y`` is read (and required); with False only ``X`` is (``y`` is None).

    Returns
    -------
    X : ndarray
        The features, 2-D, float64.
    y : ndarray or None
        The targets as stored (1-D or 2-D), or None.

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    PermissionError
        When it is not a readable file.
    ValueError
        A file that is not an ``.npz`` archive, is corrupt, holds pickled arrays, lacks
        ``X`` (or ``y``), or whose arrays are not numeric, finite and of matching lengths;
        a ``labels`` that is not True or False.

    Examples
    --------
    >>> np.savez("data.npz", X=np.eye(2), y=np.array([0, 1]))
    >>> X, y = xprop.datasets.load_npz("data.npz")
    >>> X.tolist(), y.tolist()
    ([[1.0, 0.0], [0.0, 1.0]], [0, 1])
    """
    path = V.check_path(path)
    V.check_readable(path, f"data file {path!r}")
    labels = V.check_bool(labels, "labels")
    arrays = read_npz(path, f"data file {path!r}")
    missing = [k for k in (("X", "y") if labels else ("X",)) if k not in arrays]
    if missing:
        raise ValueError(f"data file {path!r}: expected arrays 'X' and 'y', missing {missing} "
                         f"(found {sorted(arrays)})")
    X, y = arrays["X"], arrays["y"] if labels else None
    return _check_xy(X, y, path)


def read_npz(path: str, what: str,
             names: Callable[[NpzArchive], list[str]] | None = None) -> dict[str, np.ndarray]:
    """Arrays of an ``.npz`` archive, read without pickle: every array, or those that
    ``names(archive)`` picks after looking at it (:class:`NpzArchive`: its names and each
    array's declared shape, nothing read yet). Errors are ValueErrors that start with
    ``what`` (e.g. ``"data file 'x.npz'"``) and say what is wrong with the file."""
    with NpzArchive(path, what) as archive:
        return {k: archive.read(k) for k in (archive.files if names is None else names(archive))}


#: the most a zip member can inflate (deflate reaches about 1032 to 1): a member declaring more
#: than this many times its stored bytes is refused before anything is allocated
MAX_INFLATION = 1100


class NpzArchive:
    """An open ``.npz`` archive read lazily and without pickle: ``files`` (the array names),
    :meth:`shape` (an array's declared shape, from its ``.npy`` header alone) and
    :meth:`read`. Every error is a ValueError starting with ``what``."""

    def __init__(self, path: str, what: str) -> None:
        self.what = what
        if not zipfile.is_zipfile(path):
            raise ValueError(f"{what}: not an .npz (zip) archive: corrupt or truncated, or "
                             "another kind of file")
        with self._translated():
            self._npz = np.load(path, allow_pickle=False)
            if not isinstance(self._npz, np.lib.npyio.NpzFile):
                raise ValueError(f"{what}: a single .npy array, not an .npz archive")
        members = self._npz.zip.namelist()
        other = [m for m in members if not m.endswith(".npy")]
        if other:  # NumPy would read a member "W0" for "W0" before "W0.npy"
            raise ValueError(f"{what}: holds a member that is not an .npy array: "
                             f"{other[0]!r}")
        twice = sorted(m for m, count in collections.Counter(members).items() if count > 1)
        if twice:
            raise ValueError(f"{what}: holds more than one member named {twice[0]!r} "
                             "(which one to read is ambiguous)")
        self.files: list[str] = [m.removesuffix(".npy") for m in members]

    def __enter__(self) -> NpzArchive:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._npz.close()

    def shape(self, name: str) -> tuple[int, ...]:
        """The shape array ``name`` declares (its data unread: a hostile archive cannot make
        this allocate)."""
        return self._header(name)[0]

    def read(self, name: str) -> np.ndarray:
        """Array ``name``, read only when its member holds the bytes its header declares (a
        hostile header cannot make the read allocate more than the file could hold), in this
        machine's byte order (a file written on a machine of the other order reads the same)."""
        shape, dtype = self._header(name)
        info = self._npz.zip.getinfo(name + ".npy")
        need = math.prod(shape) * dtype.itemsize
        if need > info.file_size or info.file_size > MAX_INFLATION * max(info.compress_size, 1):
            raise ValueError(f"{self.what}: array {name!r} declares shape {shape} of {dtype} "
                             f"({need} bytes), which its member of {info.file_size} bytes "
                             f"({info.compress_size} stored) cannot hold: corrupt archive")
        with self._translated(), self._npz.zip.open(name + ".npy") as f:  # the member checked
            a = np.lib.format.read_array(f, allow_pickle=False)
        return a if a.dtype.isnative else a.astype(a.dtype.newbyteorder("="))

    def _header(self, name: str) -> tuple[tuple[int, ...], np.dtype]:
        """The shape and dtype of array ``name``, from its ``.npy`` header alone."""
        with self._translated(), self._npz.zip.open(name + ".npy") as f:
            version = np.lib.format.read_magic(f)
            read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                    else np.lib.format.read_array_header_2_0)
            shape, _, dtype = read(f)
            return tuple(shape), dtype

    def _translated(self) -> Any:
        return _npz_errors(self.what)


@contextlib.contextmanager
def _npz_errors(what: str) -> Iterator[None]:
    """The errors of reading an archive as ValueErrors that start with ``what``."""
    try:
        yield
    except ValueError as e:
        if str(e).startswith(what):
            raise
        if "pickle" in str(e):
            raise ValueError(f"{what}: holds pickled (object) arrays, which xprop never loads "
                             "(allow_pickle=False)") from None
        raise ValueError(f"{what}: corrupt or truncated .npz archive ({e})") from None
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, zlib.error, LZMAError,
            RuntimeError) as e:  # RuntimeError: an encrypted member, an unknown compression
        raise ValueError(
            f"{what}: corrupt or truncated .npz archive ({type(e).__name__}: {e})"
        ) from None


def load_csv(path: str | os.PathLike, label: str | int | None = -1, delimiter: str = ",",
             header: bool | str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Read a numeric CSV file into features and labels.

    The file is UTF-8 (a byte-order mark is dropped); blank lines are skipped. Every cell
    but the header's must be a number: an empty or non-numeric cell is an error naming its
    line and column. Labels that are all whole numbers come back as int64 class labels
    (when they fit int64: never wrapped), others as float64.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    label : str or int or None, default=-1
        The label column: a header name or an index (default the last); None: no label
        column (``y`` is None).
    delimiter : str, default=","
        The cell separator.
    header : bool or "auto", default="auto"
        True: the first row names the columns; False: every row is data; ``"auto"``: the
        first row is a header when none of its cells is empty or a number.

    Returns
    -------
    X : ndarray of shape (n, d)
        The other columns, float64.
    y : ndarray of shape (n,) or None
        The label column.

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    PermissionError
        When it is not a readable file.
    ValueError
        A file that is not UTF-8 CSV, has no data rows, ragged rows, an empty or
        non-numeric cell, or a ``label`` that names no column.

    Examples
    --------
    >>> with open("points.csv", "w") as f:
    ...     _ = f.write("x1,x2,label\\n0.5,1.0,0\\n1.5,2.0,1\\n")
    >>> X, y = xprop.datasets.load_csv("points.csv", label="label")
    >>> X.tolist(), y.tolist()
    ([[0.5, 1.0], [1.5, 2.0]], [0, 1])
    >>> xprop.datasets.load_csv("points.csv", header=False)
    Traceback (most recent call last):
    ...
    ValueError: data file 'points.csv': non-numeric cell 'x1' at line 1, column 1 (a header? ...)
    """
    path, header, label = _csv_options(path, header, label)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:  # -sig: drops a BOM
            reader = csv.reader(fh, delimiter=delimiter)
            # (line number in the file, cells), blank lines dropped (a row of empty cells,
            # ",,", is data: its empty cells are errors)
            numbered = [(reader.line_num, r) for r in reader
                        if r and (len(r) > 1 or r[0].strip())]
    except UnicodeDecodeError as e:
        raise _not_utf8(path, e) from None
    except csv.Error as e:
        raise ValueError(f"data file {path!r}: not a CSV file ({e})") from None
    lines = [n for n, _ in numbered]
    rows = [r for _, r in numbered]
    if not rows:
        raise ValueError(f"data file {path!r}: no rows")
    if len(rows[0]) > 1 and all(not r[-1].strip() for r in rows):  # (a header's too)
        raise ValueError(f"data file {path!r}: column {len(rows[0])} is empty on every line "
                         f"(a delimiter at the end of each line? remove it)")
    names = None
    if _is_header(rows[0], header):
        names, rows, lines = [c.strip() for c in rows[0]], rows[1:], lines[1:]
    elif header == "auto" and len(rows[0]) > 1 and [c.strip() for c in rows[0]] == [
            str(i) for i in range(len(rows[0]))]:
        warnings.warn(f"data file {path!r}: its first row, {','.join(rows[0])}, is read as data "
                      "(header='auto' takes a row of names only), but pandas writes such a row "
                      "as the column names of a frame made from an array: if it is a header, "
                      "pass header=True (xprop: --header)", UserWarning, stacklevel=3)
    if not rows:
        raise ValueError(f"data file {path!r}: a header but no data rows")
    width = len(names) if names else len(rows[0])
    for i, r in enumerate(rows):
        if len(r) != width:
            line = lines[i]
            raise ValueError(
                f"data file {path!r}: ragged rows: line {line} has {len(r)} cells, "
                f"expected {width}"
            )
    col = _label_column(label, names, width, path)
    values = _parse_cells(rows, lines, width, path, header is not True and names is None)
    if col is None:
        return _check_xy(values, None, path)
    y = values[:, col]
    X = np.delete(values, col, axis=1)
    if np.all(np.isfinite(y)) and np.all(y == np.round(y)):
        y = _whole_labels(y, [r[col] for r in rows])
    return _check_xy(X, y, path)


def _stratified_test_rows(y: np.ndarray, n_test: int, test_size: float,
                          rng: np.random.Generator) -> np.ndarray:
    """The test rows of a split that keeps each class's share (a class: a distinct row of
    ``y`` ``(n, k)``), as a mask."""
    codes, n = _class_codes(y), y.shape[0]
    sizes = np.bincount(codes)
    if sizes.min() < 2:  # (scikit-learn's two refusals: a class left out of a part)
        lone = y[np.argmax(codes == np.argmin(sizes))].tolist()
        raise ValueError(f"stratify: expected at least 2 samples of each class, got 1 of "
                         f"class {show(lone[0] if len(lone) == 1 else lone)}")
    if min(n_test, n - n_test) < len(sizes):
        raise ValueError(f"test_size: {test_size} leaves {n_test} test and {n - n_test} "
                         f"training samples of {n}, fewer than the {len(sizes)} classes "
                         f"to stratify")
    # the test part's n_test rows shared by largest remainders, ties broken at random
    share = sizes * test_size
    counts = np.floor(share).astype(np.int64)
    tied = rng.permutation(len(sizes))
    extra = tied[np.argsort((counts - share)[tied], kind="stable")]
    counts[extra[:max(n_test - int(counts.sum()), 0)]] += 1
    # in each class, the rows of the smallest random keys (classes sorted, then keys)
    order = np.lexsort((rng.random(n), codes))
    rank = np.arange(n) - (np.cumsum(sizes) - sizes)[codes[order]]
    test_mask = np.zeros(n, bool)
    test_mask[order[rank < counts[codes[order]]]] = True
    return test_mask


def _class_codes(y: np.ndarray) -> np.ndarray:
    """Each row of ``y`` ``(n, k)`` as a class number ``0 ..`` (labels of any kind: rows of
    Python objects, such as a pandas Series of strings, by their values)."""
    if y.dtype != object:
        return np.unique(y, axis=0, return_inverse=True)[1].reshape(-1)
    index: dict[tuple, int] = {}
    return np.array([index.setdefault(tuple(r), len(index)) for r in y.tolist()], np.int64)


def _not_utf8(path: str, error: UnicodeDecodeError) -> ValueError:
    """The error for a file that is not UTF-8, at the offset of its first bad byte in the
    file (``error``'s is within the decoder's chunk)."""
    with open(path, "rb") as fh:
        try:
            fh.read().decode("utf-8")
        except UnicodeDecodeError as whole:
            error = whole
    return ValueError(f"data file {path!r}: not a UTF-8 text CSV file ({error.reason} at byte "
                      f"{error.start})")


def _csv_options(path: Any, header: Any, label: Any) -> tuple[str, bool | str, str | int | None]:
    """A readable ``path``, ``header`` (True, False or "auto") and ``label`` (a name, an
    index or None), checked, as :func:`load_csv` and :func:`csv_layout` take them."""
    path = V.check_path(path)
    V.check_readable(path, f"data file {path!r}")
    if not (isinstance(header, str) and header == "auto"):
        header = V.check_bool(header, "header")
    if label is not None and (V.is_bool(label) or not isinstance(label, (str, Integral))):
        raise ValueError(f"label: expected a column name or an integer index, got {show(label)}")
    return path, header, label if label is None or isinstance(label, str) else int(label)


def _is_header(first: list[str], header: bool | str) -> bool:
    """Whether a CSV file's first row is its header (``header="auto"``: when none of its
    cells is empty or a number)."""
    return header is True or (header == "auto" and all(
        c.strip() and not _is_number(c) for c in first))


def csv_layout(path: str | os.PathLike, label: str | int | None = -1, delimiter: str = ",",
               header: bool | str = "auto", names: list[str] | None = None) -> dict[str, Any]:
    """Which columns of a CSV file :func:`load_csv` takes as the label and as the features.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    label : str or int or None, default=-1
        As :func:`load_csv`'s.
    delimiter : str, default=","
        The cell separator.
    header : bool or "auto", default="auto"
        As :func:`load_csv`'s.
    names : list of str or None, default=None
        The feature names a model reads (what this gave for its training file): with
        ``header="auto"``, a first row of numbers holding them all is refused as ambiguous
        (a header of numbers, or data?).

    Returns
    -------
    dict
        ``{"label": its name (None without a label), "features": their names in order,
        "header": True}``; by position (``{"label": its index, "features": None,
        "header": whether the first row is a header}``) without a header, or when the
        header repeats a name or the label's name reads as an index.

    Raises
    ------
    ValueError
        For a ``header`` or ``label`` of the wrong kind, a ``label`` that names no column,
        a file that is not a CSV file, or (with ``names``) a header that names one of
        ``names`` twice, or a first row of numbers that holds them all without ``header``.

    Examples
    --------
    >>> with open("points.csv", "w") as f:
    ...     _ = f.write("x1,label,x2\\n0.5,0,1.0\\n")
    >>> xprop.datasets.csv_layout("points.csv", label="label")
    {'label': 'label', 'features': ['x1', 'x2'], 'header': True}
    """
    path, header, label = _csv_options(path, header, label)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            first = next((r for r in csv.reader(fh, delimiter=delimiter)
                          if r and (len(r) > 1 or r[0].strip())), None)  # as load_csv
    except UnicodeDecodeError as e:
        raise _not_utf8(path, e) from None
    except csv.Error as e:
        raise ValueError(f"data file {path!r}: not a CSV file ({e})") from None
    if first is None:
        raise ValueError(f"data file {path!r}: no rows")
    cells = [c.strip() for c in first]
    if header == "auto" and names is not None and set(names) <= set(cells) and \
            not _is_header(first, header):  # names that are numbers, or data that looks so
        raise ValueError(f"data file {path!r}: its first row ({','.join(cells)}) holds the "
                         f"model's feature names {names}, as numbers; pass header=True "
                         "(--header) if it is the header, header=False (--no-header) if data")
    found = cells if _is_header(first, header) else None
    col = _label_column(label, found, len(first), path)
    twice = [] if found is None or names is None else [n for n in names if found.count(n) > 1]
    if twice:
        raise ValueError(f"data file {path!r}: its header names the column {twice[0]!r} "
                         f"{found.count(twice[0])} times: no feature of {names} found by name")
    if found is None or (names is None and len(set(found)) < len(found)) or (
            col is not None and _is_int_text(found[col])):  # names that find no one column
        return {"label": col, "features": None, "header": found is not None}
    return {"label": None if col is None else found[col],
            "features": [n for i, n in enumerate(found) if i != col], "header": True}


def _label_column(label: str | int | None, names: list[str] | None, width: int,
                  path: str) -> int | None:
    """The index of the label column ``label`` names (a header name or an index), or None."""
    if label is None:
        return None
    if isinstance(label, str) and not _is_int_text(label):
        if names is None or label not in names:
            raise ValueError(
                f"label: column {label!r} does not exist in {path!r} "
                f"(columns: {names if names else f'{width} unnamed'})"
            )
        if names.count(label) > 1:
            raise ValueError(f"label: column {label!r} appears {names.count(label)} times in "
                             f"the header of {path!r}; pass its index instead")
        return names.index(label)
    col = int(label)
    if not -width <= col < width:
        raise ValueError(
            f"label: column index {col} does not exist in {path!r} ({width} columns)"
        )
    return col % width


def _parse_cells(rows: list[list[str]], lines: list[int], width: int, path: str,
                 hint: bool) -> np.ndarray:
    """The cells as float64 ``(rows, width)``; an empty or non-numeric cell is an error
    naming its line and column (``hint``: on the first row, ask whether it is a header)."""
    values = np.empty((len(rows), width), dtype=np.float64)
    for i, r in enumerate(rows):
        for j, c in enumerate(r):
            try:
                values[i, j] = _number(c)
            except ValueError:
                what = "an empty cell" if not c.strip() else f"non-numeric cell {c!r}"
                header = " (a header? pass header=True, --header)" if i == 0 and hint \
                    and c.strip() and not _is_number(c) else ""
                if any(d in c for d in ";\t|") and len(r) == 1:
                    header = " (another delimiter? .csv files split on commas, .tsv on tabs)"
                raise ValueError(f"data file {path!r}: {what} at line {lines[i]}, column "
                                 f"{j + 1}{header}") from None
    bad = np.argwhere(~np.isfinite(values))
    if bad.size:  # 'nan', 'inf', or a number beyond float64 ('1e400')
        i, j = bad[0]
        raise ValueError(f"data file {path!r}: {'a NaN' if np.isnan(values[i, j]) else 'an inf'}"
                         f" cell {rows[i][j].strip()!r} at line {lines[i]}, column {j + 1} "
                         f"({len(bad)} such cells)")
    return values


def _whole_labels(y: np.ndarray, cells: list[str]) -> np.ndarray:
    """Whole-number labels as int64 when they fit: read from their ``cells`` when every one
    is written as an integer (exact beyond 2**53, where float64 merges neighbours), else
    from the floats ``y``; beyond int64 they stay float64 (unchanged:
    :func:`xprop.head.infer_task` refuses them as class labels)."""
    if all(_is_int_text(c) for c in cells):
        whole = [int(c) for c in cells]
        if all(-2**63 <= v < 2**63 for v in whole):
            return np.array(whole, dtype=np.int64)
    return y.astype(np.int64) if np.all(np.abs(y) < 2.0**63) else y


def load(name_or_path: str, **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
    """Load a built-in dataset by name, or a ``.npz``/``.csv`` file.

    Parameters
    ----------
    name_or_path : str
        A key of :data:`DATASETS`, or a file ending in ``.npz``, ``.csv``, ``.txt`` or
        ``.tsv`` (tab-separated).
    **kwargs
        Options of the dataset's function (``n``, ``noise``, ``seed``, ...), of
        :func:`load_csv` (``label``, ``delimiter``, ``header``) or of :func:`load_npz`
        (``labels``); the file options are dropped where they do not apply.

    Returns
    -------
    X : ndarray
        The features, float64.
    y : ndarray or None
        The labels or targets.

    Raises
    ------
    ValueError
        For a name that is neither a dataset nor a supported file, and as the loaders do.
    TypeError
        For an option the dataset or loader does not take.

    Examples
    --------
    >>> X, y = xprop.datasets.load("moons", n=10)
    >>> X.shape
    (10, 2)
    >>> xprop.datasets.load("iris")
    Traceback (most recent call last):
    ...
    ValueError: data: expected a dataset name from [...] or a .npz/.csv file, got 'iris'
    """
    def call(fn: Callable, what: str, takes: tuple[str, ...]) -> Any:
        options = {k: v for k, v in kwargs.items() if k not in _FILE_OPTIONS or k in takes}
        known = list(inspect.signature(fn).parameters)[1 if takes else 0:]  # (not the path)
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise TypeError(f"load: {what} takes {', '.join(known) or 'no options'} (and the "
                            f"file options, dropped), got {', '.join(unknown)}")
        return fn(name_or_path, **options) if takes else fn(**options)

    if isinstance(name_or_path, str) and name_or_path in DATASETS:
        return call(DATASETS[name_or_path], repr(name_or_path), ())
    lower = V.check_path(name_or_path, "data").lower()
    if lower.endswith(".npz"):
        return call(load_npz, "a .npz file", ("labels",))
    if lower.endswith((".csv", ".txt", ".tsv")):
        if lower.endswith(".tsv"):
            kwargs.setdefault("delimiter", "\t")
        return call(load_csv, "a CSV file", ("label", "delimiter", "header"))
    raise ValueError(
        f"data: expected a dataset name from {sorted(DATASETS)} or a .npz/.csv file, "
        f"got {show(name_or_path)}"
    )


def _check_xy(X: np.ndarray, y: np.ndarray | None,
              path: str) -> tuple[np.ndarray, np.ndarray | None]:
    if X.dtype.kind not in "biuf" or (y is not None and y.dtype.kind not in "biuf"):
        raise ValueError(f"data file {path!r}: X and y must be numeric, got {X.dtype}"
                         + ("" if y is None else f", {y.dtype}"))
    if X.ndim != 2:
        raise ValueError(f"data file {path!r}: X must be 2-D, got shape {X.shape}")
    if X.shape[1] == 0:
        raise ValueError(f"data file {path!r}: no feature columns"
                         + ("" if y is None else " besides the label"))
    if y is not None and y.ndim not in (1, 2):
        raise ValueError(f"data file {path!r}: y must be 1-D (labels, values) or 2-D "
                         f"(one column per output), got shape {y.shape}")
    if y is not None and y.shape[0] != X.shape[0]:
        raise ValueError(
            f"data file {path!r}: X has {X.shape[0]} rows but y has {y.shape[0]} entries"
        )
    X = finite_float64(X, f"data file {path!r}: X")  # (checked as it will be used)
    if y is not None and y.dtype.kind == "f" and y.dtype.itemsize > 8:  # (wider than float64)
        y = finite_float64(y, f"data file {path!r}: y")
    if y is not None and y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise ValueError(f"data file {path!r}: y contains NaN or inf")
    return X, y


def finite_float64(a: np.ndarray, name: str, error: type[ValueError] = ValueError
                   ) -> np.ndarray:
    """The real numbers ``a`` as float64, checked finite after the cast (a wider float's
    finite value can overflow it)."""
    with np.errstate(over="ignore"):  # (overflow is the check's to report)
        out = a.astype(np.float64)
    if not np.all(np.isfinite(out)):
        raise error(f"{name}: expected finite values, found NaN or inf" + (
            "" if not np.all(np.isfinite(a)) else f" (its {a.dtype} values overflow float64)"))
    return out


def _number(text: str) -> float:
    """A cell's number as CSV readers (NumPy, pandas) take it: Python's ``float`` takes more,
    ``1_000`` and other scripts' digits, which are refused."""
    value = float(text)
    if "_" in text or not text.isascii():
        raise ValueError(text)
    return value


def _is_number(text: str) -> bool:
    try:
        _number(text)
    except ValueError:
        return False
    return True


def _is_int_text(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return "_" not in text and text.isascii()


# --------------------------------------------------------------------------- preprocessing


def _host_floats(X: Any) -> np.ndarray:
    """``X`` (host data, or any library's array, copied to the host) as float64, checked as
    a model checks its inputs (real numbers only: no strings, complex numbers, None or sparse
    matrices; NumPy's backend stages it)."""
    X = to_numpy(X) if is_array(X) else X
    return np.asarray(resolve_backend("numpy").stage(X, "X")[0], dtype=np.float64)


def _read_only(a: np.ndarray) -> np.ndarray:
    """``a`` (a fresh array), no longer writable: statistics that models read as they are."""
    a.setflags(write=False)
    return a


@dataclass(eq=False)
class Standardizer:
    """Per-feature standardisation ``(x - mean) / std`` fitted on training data.

    A feature constant up to rounding (std at most ``8 eps |mean|``: values a few ulps
    apart) gets std 1. The statistics are taken on each column divided by
    its largest magnitude ``s`` and scaled back (``mean = s mean(x / s)``, ``std = s std(x / s)``),
    so features near the largest float64 do not overflow the squares of the variance; data
    that still cannot be standardised (non-finite, or differences beyond float64) is refused
    with a reason.

    A model carries one as ``model.standardizer`` (``xprop train`` fits it on the training
    split): its ``predict``, ``loss``, ``accuracy``, ``fit`` and ``xprop.gradcheck`` take raw
    features and standardise them, and checkpoints save it.

    Parameters
    ----------
    mean : ndarray or None, default=None
        Per-feature means, float64, read-only (None until fitted).
    std : ndarray or None, default=None
        Per-feature standard deviations, all > 0, read-only (None until fitted).

    Examples
    --------
    >>> from xprop.datasets import Standardizer
    >>> s = Standardizer().fit([[1.0, 10.0], [3.0, 10.0]])
    >>> s.mean.tolist(), s.std.tolist()
    ([2.0, 10.0], [1.0, 1.0])
    >>> s.transform([[2.0, 11.0]]).tolist()
    [[0.0, 1.0]]
    """

    mean: np.ndarray | None = None
    std: np.ndarray | None = None

    @classmethod
    def from_arrays(cls, mean: Any, std: Any, n_features: int | None = None, *,
                    where: str = "", error: type[ValueError] = ValueError) -> Standardizer:
        """Make a fitted standardizer from given statistics, checked whole.

        Both or neither given, ``n_features`` finite numbers each, every std > 0.

        Parameters
        ----------
        mean : array_like or None
            Per-feature means.
        std : array_like or None
            Per-feature standard deviations.
        n_features : int or None, default=None
            The number of features they must have (any, when None).
        where : str, default=""
            What error messages start with (e.g. the checkpoint's name).
        error : type, default=ValueError
            The class of the errors raised (a subclass of ValueError).

        Returns
        -------
        Standardizer
            A fitted standardizer with float64 statistics (unfitted when both are None).

        Raises
        ------
        ValueError
            Of class ``error``: one of the two missing, a wrong shape or dtype, a
            non-finite value, or a std <= 0.

        Examples
        --------
        >>> from xprop.datasets import Standardizer
        >>> Standardizer.from_arrays([0.0, 1.0], [1.0, 2.0])
        Standardizer(n_features=2)
        >>> Standardizer.from_arrays([0.0], [0.0])
        Traceback (most recent call last):
        ...
        ValueError: input_std: expected values > 0, got 0.0
        """
        if (mean is None) != (std is None):
            present = "input_mean" if std is None else "input_std"
            raise error(f"{where}{present} without the other (give both, or neither)")
        arrays = {}
        for name, a in (("input_mean", mean), ("input_std", std)):
            a = np.asarray(a)
            n = a.shape[0] if n_features is None and a.ndim == 1 else n_features
            if a.dtype.kind not in "fiu" or a.shape != (n,):
                expected = "a 1-D array of numbers" if n is None else \
                    f"{n} numbers (one per input)"
                raise error(f"{where}{name}: expected {expected}, got dtype {a.dtype}, shape "
                            f"{a.shape}")
            arrays[name] = finite_float64(a, f"{where}{name}", error)
        if arrays["input_mean"].shape != arrays["input_std"].shape:
            raise error(f"{where}input_std: expected {arrays['input_mean'].shape[0]} numbers "
                        f"(as input_mean), got shape {arrays['input_std'].shape}")
        low, tiny = float(np.min(arrays["input_std"])), float(np.finfo(np.float64).tiny)
        if low <= 0:
            raise error(f"{where}input_std: expected values > 0, got {low}")
        if low < tiny:  # subnormal: every standardised value would overflow
            raise error(f"{where}input_std: expected normal numbers (>= {tiny:.4g}), got {low}")
        return cls(_read_only(arrays["input_mean"]), _read_only(arrays["input_std"]))

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickled and deep-copied statistics are read-only too (NumPy drops the flag)."""
        vars(self).update({k: _read_only(v) if isinstance(v, np.ndarray) else v
                           for k, v in state.items()})

    @property
    def n_features(self) -> int | None:
        """The number of features it was fitted on (None before :meth:`fit`)."""
        return None if self.mean is None else int(self.mean.shape[0])

    def __repr__(self) -> str:
        return f"Standardizer(n_features={self.n_features})"

    def fit(self, X: Any) -> Standardizer:
        """Fit the per-feature mean and standard deviation on ``X``.

        Parameters
        ----------
        X : array_like of shape (n, d)
            Training features (host data), finite, at least one row.

        Returns
        -------
        Standardizer
            Itself, fitted.

        Raises
        ------
        TypeError
            When ``X`` holds anything but real numbers (strings, complex numbers, None).
        ValueError
            When ``X`` is not a non-empty 2-D array of finite values.

        Examples
        --------
        >>> from xprop.datasets import Standardizer
        >>> Standardizer().fit([[0.0], [4.0]]).std.tolist()
        [2.0]
        """
        X = _host_floats(X)
        if X.ndim != 2 or X.shape[0] == 0:
            raise ValueError(f"X: expected a non-empty (n, features) array, got shape "
                             f"{X.shape}")
        if not np.all(np.isfinite(X)):
            raise ValueError("X: expected finite values to standardise, found NaN or inf")
        scale = np.max(np.abs(X), axis=0)
        scale = np.where(scale > 0, scale, 1.0)
        Z = X / scale
        std, mean = Z.std(axis=0) * scale, Z.mean(axis=0) * scale
        # constant up to rounding (values a few ulps apart: 0.1 + 0.2 and 0.3 differ by
        # one; scikit-learn's n eps |mean| also takes 1.7e9 + N(0, 0.01) of 1e5 rows as
        # constant, which pairwise sums of x / s resolve), or subnormal (every standardised
        # value would overflow)
        eps, tiny = np.finfo(np.float64).eps, np.finfo(np.float64).tiny
        constant = (std <= 8.0 * eps * np.abs(mean)) | (std < tiny)
        self.mean = _read_only(mean)
        self.std = _read_only(np.where(constant, 1.0, std))
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Standardise features: ``(X - mean) / std`` in float64 on the host.

        NaN and inf pass through.

        Parameters
        ----------
        X : array_like of shape (n, d)
            Features with as many columns as the fitted data.

        Returns
        -------
        ndarray of shape (n, d)
            The standardised features, float64.

        Raises
        ------
        TypeError
            When ``X`` holds anything but real numbers.
        ValueError
            Before :meth:`fit`, for a wrong shape, or when the result overflows float64.

        Examples
        --------
        >>> from xprop.datasets import Standardizer
        >>> Standardizer().fit([[0.0], [4.0]]).transform([[6.0]]).tolist()
        [[2.0]]
        """
        if self.mean is None:
            raise ValueError("Standardizer: call fit(X_train) before transform")
        X = _host_floats(X)
        if X.ndim != 2 or X.shape[1] != self.mean.shape[0]:
            raise ValueError(
                f"X: expected shape (n, {self.mean.shape[0]}), got {X.shape}"
            )
        with np.errstate(over="ignore", invalid="ignore"):
            out = self.apply(X, lambda v: v)
        if np.any(np.isfinite(X) & ~np.isfinite(out)):  # (NaN and inf inputs pass through)
            raise ValueError("X: standardising overflows float64 (features differ from their "
                             f"mean by more than {np.finfo(np.float64).max:.3g}); rescale them")
        return out

    def apply(self, X: Any, place: Callable[[np.ndarray], Any]) -> Any:
        """``(X - mean) / std`` for an array ``X`` of any namespace, unchecked, in its dtype.

        Parameters
        ----------
        X : array of shape (n, d)
            Features of any Array API namespace (a device array, an ndonnx graph input).
        place : callable
            ``place(v)`` puts a host vector of statistics beside ``X`` (on its device, in its
            dtype; a constant of an exported graph).

        Returns
        -------
        array of shape (n, d)
            ``X`` standardised, in ``X``'s namespace.

        Examples
        --------
        >>> std = xprop.datasets.Standardizer().fit(np.array([[0.0, 1.0], [2.0, 3.0]]))
        >>> std.apply(np.array([[2.0, 3.0]]), np.asarray)
        array([[1., 1.]])
        """
        return (X - place(self.mean)) / place(self.std)

    def fit_transform(self, X: Any) -> np.ndarray:
        """Fit on ``X`` and standardise it.

        Parameters
        ----------
        X : array_like of shape (n, d)
            Training features (host data).

        Returns
        -------
        ndarray of shape (n, d)
            ``X`` standardised, float64.

        Raises
        ------
        ValueError
            As :meth:`fit` and :meth:`transform`.

        Examples
        --------
        >>> from xprop.datasets import Standardizer
        >>> Standardizer().fit_transform([[0.0], [4.0]]).tolist()
        [[-1.0], [1.0]]
        """
        return self.fit(X).transform(X)


def train_test_split(X: Any, y: Any, test_size: float = 0.25, seed: int | None = 0,
                     stratify: bool = False):
    """Split data into a training and a test part, shuffled with a seed.

    Parameters
    ----------
    X : array_like
        Features, one row per sample.
    y : array_like
        Targets, one per sample.
    test_size : float, default=0.25
        The test part's fraction, in (0, 1): ``ceil(test_size * n)`` rows, as
        scikit-learn's ``train_test_split``.
    seed : int or None, default=0
        Seed of the shuffle (None: fresh entropy).
    stratify : bool, default=False
        Keep the class proportions of ``y`` in both parts (each distinct label, or each
        distinct row of a 2-D ``y``, a class; the test part still has
        ``ceil(test_size * n)`` rows, shared out by largest remainders, ties at random).

    Returns
    -------
    X_train, X_test, y_train, y_test : ndarray
        The two parts (host arrays).

    Raises
    ------
    ValueError
        When ``X`` has fewer than 2 samples, ``X`` and ``y`` differ in length, or
        ``test_size`` is not in (0, 1) or leaves a part empty; stratified, when a class has
        one sample or a part fewer samples than there are classes (as scikit-learn's).

    Examples
    --------
    >>> X, y = xprop.datasets.spirals(300, seed=0)
    >>> Xtr, Xte, ytr, yte = xprop.datasets.train_test_split(X, y, test_size=0.2,
    ...                                                      stratify=True)
    >>> Xtr.shape, Xte.shape, np.bincount(yte).tolist()
    ((240, 2), (60, 2), [20, 20, 20])
    """
    for name, a in (("X", X), ("y", y)):
        if np.ndim(a) == 0 or (hasattr(a, "toarray") and not is_array(a)):  # (SciPy sparse)
            raise ValueError(f"{name}: expected an array with one entry per sample, got "
                             f"{show(a)}" + (f" (pass {name}.toarray())"
                                             if hasattr(a, "toarray") else ""))
    X, y = (to_numpy(a) if is_array(a) else np.asarray(a) for a in (X, y))  # (any library's)
    n = X.shape[0]
    if n < 2:  # a training and a test sample at least
        raise ValueError(f"X: expected at least 2 samples to split, got {n}")
    V.check_rows(y.shape, n)
    test_size = V.check_real(test_size, "test_size", 0.0, 1.0, low_open=True, high_open=True,
                             what="a fraction")
    rng = _rng(seed)
    # as scikit-learn's (its train part the rest); round: 0.2 as float32 times 10 is 2
    n_test = math.ceil(round(float(test_size) * n, 6))
    if V.check_bool(stratify, "stratify"):  # each label (or row of y) a class, as sklearn's
        test_mask = _stratified_test_rows(y.reshape(n, -1), n_test, float(test_size), rng)
        train_idx = rng.permutation(np.flatnonzero(~test_mask))
        test_idx = rng.permutation(np.flatnonzero(test_mask))
    else:
        p = rng.permutation(n)
        test_idx, train_idx = p[:n_test], p[n_test:]
    if len(train_idx) == 0 or len(test_idx) == 0:
        raise ValueError(f"test_size: {test_size} leaves an empty split of {n} samples")
    return X[train_idx], X[test_idx], y[train_idx], y[test_idx]
