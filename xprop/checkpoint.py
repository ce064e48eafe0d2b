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

import json
import os
import tempfile
from typing import Any

import numpy as np

from xprop._version import __version__
from xprop.backend import dtype_name
from xprop.datasets import read_npz

__all__ = ["FORMAT_VERSION", "CheckpointError", "read", "save", "standardization"]

FORMAT = "xprop-mlp"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt, truncated, of another version or inconsistent."""


def check_writable(path: str, overwrite: bool, what: str = "checkpoint") -> str:
    """The path a checkpoint goes to (``.npz`` appended when missing), after checking that
    it can be written there: not a directory (nor a name ending in a separator, which would
    write a hidden ``dir/.npz``), an existing, writable directory (a real test file is made
    and removed), and not an existing file unless ``overwrite``."""
    path = os.fspath(path)
    if path.endswith((os.sep, "/")):
        raise IsADirectoryError(f"{what}: {path!r} names a directory; give a file name such "
                                f"as {os.path.join(path, 'model.npz')!r}")
    if not path.endswith(".npz"):
        path += ".npz"
    if os.path.isdir(path):
        raise IsADirectoryError(f"{what}: {path!r} is a directory; give a file name such as "
                                f"{os.path.join(path, 'model.npz')!r}")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{what}: directory {directory!r} does not exist")
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{what}: {path!r} exists; pass overwrite=True (--force)")
    try:
        fd, probe = tempfile.mkstemp(prefix=".xprop-probe-", dir=directory)
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        raise PermissionError(f"{what}: cannot write in directory {directory!r} "
                              f"({e.strerror or e})") from None
    return path


def save(model: Any, path: str | os.PathLike, *, overwrite: bool = True,
         input_mean: Any = None, input_std: Any = None) -> str:
    """Write ``model`` to ``path`` (``.npz`` is appended when missing); returns the path."""
    path = check_writable(path, overwrite)
    directory = os.path.dirname(os.path.abspath(path))
    if not model.all_finite():
        raise ValueError(
            "model: its parameters contain NaN or inf (a diverged run?); refusing to save a "
            "checkpoint that could not be loaded"
        )
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
    from xprop.activations import get_activation

    for name in header["activations"]:
        get_activation(name)  # custom activation objects cannot be restored by name
    arrays = {k: np.ascontiguousarray(v) for k, v in model.to_numpy_parameters().items()}
    if (input_mean is None) != (input_std is None):
        raise ValueError("input_mean, input_std: give both (a standardisation) or neither")
    if input_mean is not None:
        arrays["input_mean"] = np.asarray(input_mean, dtype=np.float64)
        arrays["input_std"] = np.asarray(input_std, dtype=np.float64)
    arrays["header"] = np.array(json.dumps(header))
    fd, tmp = tempfile.mkstemp(prefix=".xprop-", suffix=".npz.tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a saved file follows the umask
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def read(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The header and host arrays of a checkpoint, validated."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint: {path!r} does not exist")
    try:
        arrays = read_npz(path, f"checkpoint: {path!r}")
    except ValueError as e:
        raise CheckpointError(str(e)) from None
    if "header" not in arrays:
        raise CheckpointError(f"checkpoint: {path!r} has no xprop header (not an xprop file?)")
    try:
        header = json.loads(str(arrays.pop("header")[()]))
    except (json.JSONDecodeError, TypeError, IndexError) as e:
        raise CheckpointError(f"checkpoint: {path!r} has an unreadable header ({e})") from None
    if not isinstance(header, dict):
        raise CheckpointError(
            f"checkpoint: {path!r} header is not a JSON object (got {type(header).__name__})"
        )
    if header.get("format") != FORMAT:
        raise CheckpointError(
            f"checkpoint: {path!r} has format {header.get('format')!r}, expected {FORMAT!r}"
        )
    version = header.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint: {path!r} has format_version {version!r}; this xprop "
            f"({__version__}) reads version {FORMAT_VERSION}"
        )
    for key in ("layer_sizes", "activations", "loss", "bias", "dtype", "parameters"):
        if key not in header:
            raise CheckpointError(f"checkpoint: {path!r} header lacks {key!r}")
    _check_header_types(header, path)
    for name, shape in header["parameters"].items():
        if name not in arrays:
            raise CheckpointError(f"checkpoint: {path!r} lacks parameter {name!r}")
        if list(arrays[name].shape) != list(shape):
            raise CheckpointError(
                f"checkpoint: {path!r} parameter {name} has shape {arrays[name].shape}, "
                f"header says {tuple(shape)}"
            )
    return header, arrays


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
    params = header["parameters"]
    if not (isinstance(params, dict) and all(
            isinstance(v, list) and all(isinstance(d, int) for d in v) for v in params.values())):
        raise bad("parameters", "an object name -> shape")


def standardization(arrays: dict, n_inputs: int, path: str) -> tuple[Any, Any]:
    """The saved ``(input_mean, input_std)``, checked whole: both or neither, finite float
    vectors of one value per input, every std > 0."""
    mean, std = arrays.get("input_mean"), arrays.get("input_std")
    if mean is None and std is None:
        return None, None
    if (mean is None) != (std is None):
        present = "input_mean" if std is None else "input_std"
        raise CheckpointError(f"checkpoint: {path!r} has {present} without the other")
    for name, a in (("input_mean", mean), ("input_std", std)):
        if a.dtype.kind not in "fiu" or a.shape != (n_inputs,):
            raise CheckpointError(f"checkpoint: {path!r} {name}: expected {n_inputs} numbers "
                                  f"(one per input), got dtype {a.dtype}, shape {a.shape}")
        if not np.all(np.isfinite(a)):
            raise CheckpointError(f"checkpoint: {path!r} {name}: expected finite values")
    if np.any(std <= 0):
        raise CheckpointError(f"checkpoint: {path!r} input_std: expected values > 0, got "
                              f"{float(np.min(std))}")
    return mean.astype(np.float64), std.astype(np.float64)
