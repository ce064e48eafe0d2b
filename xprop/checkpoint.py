"""Checkpoints: a ``.npz`` of parameters plus a JSON header, written atomically and read without
pickle.

Layout: arrays ``W0``, ``b0``, ``W1``, ... in the model's dtype, optional ``input_mean`` and
``input_std`` (a standardisation fitted on training data), and ``header``: a 0-d unicode array
holding JSON ``{"format": "xprop-mlp", "format_version": 1, "xprop_version", "layer_sizes",
"activations", "loss", "bias", "dtype", "parameters": {name: shape}}``.

The file is written to a temporary file in the target directory, flushed to disk and renamed
over the target, so a crash never leaves a half-written checkpoint.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import stat
import tempfile
from typing import Any

import numpy as np

from xprop._version import __version__
from xprop.backend import dtype_name
from xprop.datasets import NpzArchive, Standardizer, read_npz
from xprop.validation import check_bool, check_path, check_readable

__all__ = ["FORMAT_VERSION", "CheckpointError", "check", "contents", "read", "save"]

FORMAT = "xprop-mlp"
FORMAT_VERSION = 1
"""The version of the checkpoint format this xprop writes and reads."""


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt, truncated, of another version or inconsistent.

    A ``ValueError``; :func:`xprop.load`, :func:`read` and :func:`save` raise it, naming the
    file and what is wrong.

    Examples
    --------
    >>> with open("notes.npz", "w") as f:
    ...     _ = f.write("not a checkpoint")
    >>> try:
    ...     xprop.load("notes.npz")
    ... except xprop.CheckpointError as e:
    ...     print(e)
    checkpoint: 'notes.npz': not an .npz (zip) archive: corrupt or truncated, or another ...
    """


def check_writable(path: str | os.PathLike, overwrite: bool, what: str = "checkpoint",
                   suffix: str | None = ".npz") -> str:
    """The path an output file goes to (``suffix`` appended unless the name already ends
    with it, in any case), after checking that it can be written there: not a directory
    (nor ``.`` or a name ending in a separator), in an existing, writable directory, and not
    an existing file unless ``overwrite``. A real file is made and removed beside the target,
    with a unique name as long as its (the directory's permissions and the name's length:
    :func:`write_atomically` renames such a file over the target); a target that is no
    regular file (``/dev/stdout``, ``/dev/null``, a FIFO) is written in place as named (no
    suffix appended, no ``overwrite`` needed) and needs no test."""
    path = check_path(path, "path" if what == "checkpoint" else what)
    overwrite = check_bool(overwrite, "overwrite")
    if os.path.exists(path) and (stat.S_ISCHR(os.stat(path).st_mode)
                                 or stat.S_ISFIFO(os.stat(path).st_mode)):
        return path  # /dev/stdout, /dev/null, a FIFO: written in place, as named
    if path.endswith((os.sep, "/")) or os.path.basename(path) in ("", ".", "..") or (
            os.path.isdir(path) and not suffix):
        raise IsADirectoryError(f"{what}: {path!r} names a directory; give a file name such "
                                f"as {os.path.join(path, 'model' + (suffix or ''))!r}")
    if suffix and not path.lower().endswith(suffix.lower()):
        path += suffix
    if os.path.isdir(path):
        raise IsADirectoryError(f"{what}: {path!r} is a directory; give a file name such as "
                                f"{os.path.join(path, 'model' + (suffix or ''))!r}")
    target = os.path.realpath(path)  # a link's target is written
    directory = os.path.dirname(target)
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise NotADirectoryError(f"{what}: {directory!r} is a file, not a directory")
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{what}: directory {directory!r} does not exist")
    if os.path.exists(path) and not overwrite:
        raise _exists(what, path)
    try:  # a file of a name as long as the target's, unique (MPI ranks probe at once)
        pad = "-" * max(0, len(os.fsencode(os.path.basename(target))) - len(".xprop-") - 8)
        fd, probe = tempfile.mkstemp(prefix=".xprop-", suffix=pad, dir=directory)
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        raise PermissionError(f"{what}: cannot write {path!r} in directory {directory!r} "
                              f"({e.strerror or e})") from None
    return path


def _exists(what: str, path: str) -> FileExistsError:
    return FileExistsError(f"{what}: {path!r} exists; pass overwrite=True (--force)")


def write_atomically(path: str, write: Any, *, overwrite: bool = True,
                     what: str = "path") -> str:
    """Call ``write(file)`` on a temporary file in the directory of ``path``'s target (a
    symbolic link stays and its target is replaced), flush it to disk and rename it over the
    target: readers see the old file or the whole new one, never a part (an error or Ctrl-C
    on the way removes the temporary file). A file replaced keeps its permission bits; a new
    one follows the umask. A target that is no regular file (``/dev/null``, a FIFO, a pipe:
    nothing to replace) is written in place, in one piece made in memory (a zip file's writer
    needs a file it can seek in). Without ``overwrite`` the file is linked to the target's
    name, which fails if a file has appeared there meanwhile (a ``FileExistsError`` naming
    ``what``, the other file kept; where the filesystem has no hard links, the name is
    checked just before the rename). Returns ``path``."""
    kept = os.stat(path) if os.path.exists(path) else None  # (through links, as open does)
    if kept is not None and not stat.S_ISREG(kept.st_mode):
        made = io.BytesIO()
        write(made)
        with open(path, "wb") as fh:
            fh.write(made.getbuffer())
        return path
    if kept is not None and not overwrite:
        raise _exists(what, path)
    target = os.path.realpath(path)
    fd, tmp = tempfile.mkstemp(prefix=".xprop-", suffix=".tmp", dir=os.path.dirname(target))
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        if kept is None:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask  # mkstemp makes 0600; a new file follows the umask
        else:
            mode = stat.S_IMODE(kept.st_mode)
        os.chmod(tmp, mode)
        _commit(tmp, target, overwrite, lambda: _exists(what, path))
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _commit(tmp: str, target: str, overwrite: bool, exists: Any) -> None:
    """Rename ``tmp`` to ``target``; without ``overwrite`` an exclusive hard link instead
    (no moment in which a file created at ``target`` by another process is replaced)."""
    if not overwrite:
        try:
            os.link(tmp, target)
        except FileExistsError:
            raise exists() from None
        except OSError:  # no hard links on this filesystem: checked, then renamed
            if os.path.lexists(target):
                raise exists() from None
        else:
            os.unlink(tmp)
            return
    os.replace(tmp, target)


def contents(model: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """What a checkpoint of ``model`` holds: its header and host arrays, unchecked.

    Parameters
    ----------
    model : MLP
        The model.

    Returns
    -------
    header : dict
        The JSON header (format, version, layer sizes, activations, loss, bias, dtype,
        parameter shapes; the CSV ``columns`` of ``model.columns``, if any).
    arrays : dict of str to ndarray
        ``W0, b0, ...`` as host arrays, and ``input_mean``/``input_std`` when the model
        has a standardizer.

    Examples
    --------
    >>> from xprop import checkpoint
    >>> header, arrays = checkpoint.contents(xprop.MLP([2, 3, 1], seed=0))
    >>> header["layer_sizes"], header["activations"], sorted(arrays)
    ([2, 3, 1], ['relu', 'identity'], ['W0', 'W1', 'b0', 'b1'])
    """
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "xprop_version": __version__,
        "layer_sizes": model.sizes,
        "activations": [a.name for a in model.activations],
        "loss": model.loss_fn.name,
        "bias": model.bias,
        "dtype": dtype_name(model.dtype, model.xp),
        "parameters": {k: list(v) for k, v in model.parameter_shapes().items()},
    }
    arrays = {k: np.ascontiguousarray(v) for k, v in model.to_numpy_parameters().items()}
    standardizer = model.standardizer
    if standardizer is not None:
        arrays["input_mean"], arrays["input_std"] = standardizer.mean, standardizer.std
    if getattr(model, "columns", None) is not None:
        header["columns"] = model.columns
    return header, arrays


def save(model: Any, path: str | os.PathLike, *, overwrite: bool = True,
         input_mean: Any = None, input_std: Any = None,
         columns: dict[str, Any] | None = None) -> str:
    """Write a model to a checkpoint file, atomically.

    The model's standardizer is saved with it (``input_mean`` and ``input_std`` give another).
    What is written is first checked by :func:`check`, as :func:`read` checks it, so every
    file ``save`` writes loads, and a refused model leaves an existing file untouched.

    Parameters
    ----------
    model : MLP
        The model.
    path : str or os.PathLike
        The file (``.npz`` is appended when missing).
    overwrite : bool, default=True
        Whether an existing file may be replaced.
    input_mean, input_std : array_like or None, default=None
        A per-feature mean and std to save instead of the model's standardizer's.
    columns : dict or None, default=None
        The CSV layout the model was trained on, ``{"label": name or index, "features":
        [names] or None}`` (``xprop train`` records it; None: ``model.columns``, if any).

    Returns
    -------
    str
        The path written.

    Raises
    ------
    CheckpointError
        When the model (or the given statistics) would not load back.
    FileExistsError
        When the file exists and ``overwrite`` is False.
    IsADirectoryError
        When ``path`` (``.npz`` appended) names a directory.
    FileNotFoundError, NotADirectoryError
        When the directory does not exist, or is a file.
    PermissionError
        When the directory is not writable.

    Examples
    --------
    >>> from xprop import checkpoint
    >>> model = xprop.MLP([2, 3, 1], seed=0)
    >>> checkpoint.save(model, "model")
    'model.npz'
    >>> checkpoint.save(model, "model.npz", overwrite=False)
    Traceback (most recent call last):
    ...
    FileExistsError: checkpoint: 'model.npz' exists; pass overwrite=True (--force)
    """
    path = check_writable(path, overwrite)
    header, arrays = contents(model)
    _check_named(model)
    if columns is not None:
        header["columns"] = columns
    if input_mean is not None or input_std is not None:
        for name, value in (("input_mean", input_mean), ("input_std", input_std)):
            arrays.pop(name, None)
            if value is not None:
                arrays[name] = np.asarray(value)
    check(header, arrays, path)
    for name in ("input_mean", "input_std"):
        if name in arrays:
            arrays[name] = arrays[name].astype(np.float64)
    arrays["header"] = np.array(json.dumps(header))
    return write_atomically(path, lambda fh: np.savez(fh, **arrays), overwrite=overwrite,
                            what="checkpoint")


def read(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read a checkpoint's header and host arrays, checked by :func:`check`.

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Returns
    -------
    header : dict
        The JSON header.
    arrays : dict of str to ndarray
        The parameters (and the standardisation, when saved).

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    IsADirectoryError
        When ``path`` is a directory.
    CheckpointError
        When the file is not an xprop checkpoint, is corrupt or truncated, of another
        format version, or inconsistent.

    Examples
    --------
    >>> from xprop import checkpoint
    >>> _ = xprop.MLP([2, 3, 1], seed=0).save("model.npz")
    >>> header, arrays = checkpoint.read("model.npz")
    >>> header["format"], header["format_version"], arrays["W0"].shape
    ('xprop-mlp', 1, (2, 3))
    """
    path = check_path(path)
    check_readable(path, f"checkpoint: {path!r}")
    found: dict[str, Any] = {}

    def names(archive: NpzArchive) -> list[str]:
        """The header first; then, before any array is read, exactly the arrays the header
        describes, of the shapes it gives (a hostile file cannot make a load allocate more)."""
        if "header" not in archive.files:
            raise CheckpointError(f"checkpoint: {path!r} has no xprop header (not an xprop "
                                  "file?)")
        try:
            found["header"] = json.loads(str(archive.read("header")[()]))
        except (json.JSONDecodeError, TypeError, IndexError, ValueError, RecursionError) as e:
            if str(e).startswith(archive.what):  # the archive's own error: it names the file
                raise CheckpointError(str(e)) from None
            raise CheckpointError(f"checkpoint: {path!r} has an unreadable header "
                                  f"({type(e).__name__}: {e})") from None
        stored = [k for k in archive.files if k != "header"]
        _check_shapes(found["header"], {k: archive.shape(k) for k in stored}, path)
        return stored

    try:
        arrays = read_npz(path, f"checkpoint: {path!r}", names)
    except CheckpointError:
        raise
    except ValueError as e:
        raise CheckpointError(str(e)) from None
    check(found["header"], arrays, path)
    return found["header"], arrays


def check(header: Any, arrays: dict[str, Any], path: str) -> None:
    """Check a checkpoint's header and arrays, for :func:`save` and :func:`read` alike.

    The checks: the format and version; every header field of its kind; names of
    registered activations and losses that make a valid output head; exactly the
    parameters ``W0, b0, ...`` that the layer sizes and ``bias`` call for, finite, of those
    shapes and of the header's dtype, and no other array; a standardisation of both vectors
    or none, one finite value per input, every std a normal number > 0.

    Parameters
    ----------
    header : dict
        The JSON header.
    arrays : dict of str to ndarray
        The host arrays.
    path : str
        The file, for the messages.

    Raises
    ------
    CheckpointError
        Naming ``path`` and the first thing that is wrong.

    Examples
    --------
    >>> from xprop import checkpoint
    >>> header, arrays = checkpoint.contents(xprop.MLP([2, 3, 1], seed=0))
    >>> checkpoint.check(header, arrays, "model.npz")  # fine: returns None
    >>> arrays["W0"] = np.full((2, 3), np.nan)
    >>> checkpoint.check(header, arrays, "model.npz")
    Traceback (most recent call last):
    ...
    xprop.checkpoint.CheckpointError: checkpoint: 'model.npz' parameter W0: expected finite ...
    """
    where = f"checkpoint: {path!r}"
    _check_shapes(header, {k: a.shape for k, a in arrays.items()}, path)
    for name, a in arrays.items():
        if name.startswith("input_"):
            continue
        if a.dtype != np.dtype(header["dtype"]):
            raise CheckpointError(f"{where} parameter {name}: expected dtype {header['dtype']} "
                                  f"(the header's), got {a.dtype}")
        if not np.all(np.isfinite(a)):
            bad = int(np.sum(~np.isfinite(a)))
            raise CheckpointError(f"{where} parameter {name}: expected finite values, got "
                                  f"{bad} NaN or inf (a diverged run?)")
    mean, std = arrays.get("input_mean"), arrays.get("input_std")
    if mean is not None or std is not None:
        Standardizer.from_arrays(mean, std, header["layer_sizes"][0], where=f"{where} ",
                                 error=CheckpointError)


def _check_shapes(header: Any, shapes: dict[str, tuple[int, ...]], path: str) -> None:
    """The header (:func:`expected_arrays`), then the arrays' names and ``shapes`` against
    it: what :func:`read` checks before it reads any array, and :func:`check` after."""
    where, expected = f"checkpoint: {path!r}", expected_arrays(header, path)
    unknown = sorted(set(shapes) - set(expected))
    if unknown:
        raise CheckpointError(f"{where} holds arrays its header does not describe: {unknown}")
    for name, shape in expected.items():
        if name not in shapes and not name.startswith("input_"):
            raise CheckpointError(f"{where} lacks parameter {name!r}")
        if name in shapes and tuple(shapes[name]) != shape:
            kind = "array" if name.startswith("input_") else "parameter"
            raise CheckpointError(f"{where} {kind} {name} has shape {tuple(shapes[name])}, "
                                  f"expected {shape} (layer sizes {header['layer_sizes']})")


def expected_arrays(header: Any, path: str) -> dict[str, tuple[int, ...]]:
    """The arrays a checkpoint with this header holds, name to shape (the parameters', and
    the optional standardisation's), after checking the header: its format and version,
    every field of its kind, names of registered activations and losses that make a valid
    output head, and parameter shapes that the layer sizes and ``bias`` call for."""
    where = f"checkpoint: {path!r}"
    if not isinstance(header, dict):
        raise CheckpointError(f"{where} header is not a JSON object (got "
                              f"{type(header).__name__})")
    if header.get("format") != FORMAT:
        raise CheckpointError(f"{where} has format {header.get('format')!r}, expected "
                              f"{FORMAT!r}")
    version = header.get("format_version")
    if type(version) is not int or version != FORMAT_VERSION:  # not true, nor 1.0
        raise CheckpointError(f"{where} has format_version {version!r}; this xprop "
                              f"({__version__}) reads version {FORMAT_VERSION}")
    for key in ("layer_sizes", "activations", "loss", "bias", "dtype", "parameters"):
        if key not in header:
            raise CheckpointError(f"{where} header lacks {key!r}")
    _check_header_types(header, path)
    _check_head(header, where)
    sizes, names = header["layer_sizes"], set(header["parameters"])
    expected = {}
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        expected[f"W{i}"] = [fan_in, fan_out]
        if header["bias"]:
            expected[f"b{i}"] = [fan_out]
    if names != set(expected):
        raise CheckpointError(f"{where} header parameters: expected {sorted(expected)} for "
                              f"layer sizes {sizes} (bias {header['bias']}), got "
                              f"{sorted(names)}")
    for name, shape in expected.items():
        if header["parameters"][name] != shape:
            raise CheckpointError(f"{where} header parameters: {name} has shape "
                                  f"{tuple(header['parameters'][name])}, expected "
                                  f"{tuple(shape)} (layer sizes {sizes})")
    shapes = {name: tuple(shape) for name, shape in expected.items()}
    return {**shapes, "input_mean": (sizes[0],), "input_std": (sizes[0],)}


def _check_named(model: Any) -> None:
    """A checkpoint holds the names of the activations and loss alone: each must stand for
    the model's own functions (not registered again since, nor never registered)."""
    for what in (*model.activations, model.loss_fn):
        if not what.stands_for_name():
            raise CheckpointError(
                f"checkpoint: {type(what).__name__.lower()} {what.name!r} of this model is not "
                f"what that name stands for now (registered again since, or never): a loaded "
                f"model would compute something else; register it under its name first")


def _check_head(header: dict, where: str) -> None:
    """The activations and loss name registered functions that make a valid head."""
    from xprop.activations import get_activation
    from xprop.head import make_head

    acts = header["activations"]
    try:
        for name in acts[:-1]:
            get_activation(name)
        make_head(acts[-1], header["loss"])
    except (ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{where} {e} (custom activations and losses must be "
                              "registered, xprop.register_activation / register_loss, before "
                              "saving or loading)") from None


def _check_header_types(header: dict, path: str) -> None:
    """Every header field of the kind it must be, before anything uses it."""
    def bad(key: str, expected: str) -> CheckpointError:
        return CheckpointError(f"checkpoint: {path!r} header {key}: expected {expected}, got "
                               f"{header[key]!r}")

    sizes = header["layer_sizes"]
    if not (isinstance(sizes, list) and len(sizes) >= 2 and all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in sizes)):
        raise bad("layer_sizes", "a list of at least 2 integers >= 1")
    acts = header["activations"]
    if not (isinstance(acts, list) and len(acts) == len(sizes) - 1
            and all(isinstance(a, str) for a in acts)):
        raise bad("activations", f"a list of {len(sizes) - 1} names (one per layer)")
    if not isinstance(header["loss"], str):
        raise bad("loss", "a name")
    if not isinstance(header["bias"], bool):
        raise bad("bias", "true or false")
    if header["dtype"] not in ("float32", "float64"):
        raise bad("dtype", "'float32' or 'float64'")
    columns = header.get("columns")
    if columns is not None and not (
            isinstance(columns, dict) and set(columns) == {"label", "features"}
            and (columns["label"] is None or isinstance(columns["label"], (str, int)))
            and not isinstance(columns["label"], bool)
            and (columns["features"] is None or (isinstance(columns["features"], list) and len(
                columns["features"]) == sizes[0] and all(isinstance(c, str)
                                                        for c in columns["features"])))):
        raise bad("columns", f'{{"label": a name or an index, "features": {sizes[0]} names '
                  "or null}")
    params = header["parameters"]
    if not (isinstance(params, dict) and all(
            isinstance(v, list) and all(isinstance(d, int) for d in v) for v in params.values())):
        raise bad("parameters", "an object name -> shape")
