"""ONNX export: the model's own forward pass, run on arrays that record a graph.

:func:`to_onnx` runs :func:`xprop.network.forward` and the head's decision on ndonnx arrays (an
Array-API namespace whose operations record an ONNX graph; its adapter is
:mod:`xprop.backend.ndonnx_`), so the recorded graph is the model, written once::

    input                       (batch, n_0) in the model's dtype; batch: any size
    X = (input - mean) / std    the model's standardizer (constants), when it has one
    A_L = forward(params, X)    A_{i+1} = f_i(A_i @ W_i + b_i), parameters as constants
    probabilities, label        head.probabilities(A_L), head.decide(A_L)    (classifiers)
    output                      A_L                                          (regression)

:func:`export_onnx` checks the graph with ``onnx.checker`` and writes it atomically; the
model's properties (``metadata_props``) hold what a checkpoint's header holds (xprop version,
layer sizes, activations, loss, bias, dtype, parameter shapes), strings as they are, other
values as JSON.

A graph cannot refuse its input as ``model.predict`` does: a row with NaN or inf gives NaN
probabilities (outputs), and the argmax ``label`` of NaN probabilities is class 0, so a
consumer that reads only ``label`` should check its inputs are finite first.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import traceback
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from xprop import checkpoint, network
from xprop._version import __version__
from xprop.backend import ADAPTERS, BackendUnavailableError, dtype_name
from xprop.backend.ndonnx_ import INSTALL_HINT, NdonnxAdapter
from xprop.validation import check_model, show, user_stacklevel

__all__ = ["BATCH", "INPUT", "ExportError", "export_onnx", "model_outputs", "to_onnx"]

INPUT = "input"  # the graph's one input
BATCH = "batch"  # the name of its first, dynamic dimension
#: libraries whose frames a recording error passes through (the culprit is the caller's)
RECORDING_LIBRARIES = ("ndonnx", "spox", "onnx")

#: ``outputs(A_L, xp, place) -> {name: array}``: the graph's outputs from the network output
#: ``A_L`` (arrays of namespace ``xp``); ``place(host)`` makes a host array a graph constant
Outputs = Callable[[Any, Any, Callable[[Any], Any]], dict[str, Any]]


class ExportError(ValueError):
    """A model that the recording library cannot record (an operation it lacks)."""


def _require(module: str) -> Any:
    """The module, or an ImportError saying how to install the export's packages."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(f"export_onnx needs {module} ({e}); {INSTALL_HINT}") from None


def model_outputs(model: Any) -> Outputs:
    """A model's outputs: ``probabilities`` and ``label`` (the head's decision: class indices,
    or 0/1 per sigmoid output) for classifiers, ``output`` for regression."""
    head = model.head

    def outputs(out: Any, xp: Any, place: Callable[[Any], Any]) -> dict[str, Any]:
        if not head.is_classifier:
            return {"output": out}
        return {"probabilities": head.probabilities(out, xp), "label": head.decide(out, xp)}

    return outputs


def _culprit(error: BaseException) -> str:
    """The line whose operation could not be recorded: the innermost frame outside the
    recording libraries (xprop's code, or a custom activation's), ``code (function,
    file:line)``."""
    roots = []
    for name in RECORDING_LIBRARIES:
        spec = importlib.util.find_spec(name)
        roots += list(spec.submodule_search_locations or []) if spec else []
    frames = traceback.extract_tb(error.__traceback__)
    ours = [f for f in frames if not any(f.filename.startswith(r) for r in roots)]
    f = (ours or frames)[-1]
    return f"`{(f.line or '?').strip()}` ({f.name}, {os.path.basename(f.filename)}:{f.lineno})"


def _record(model: Any, host: dict[str, Any], xp: Any, outputs: Outputs) -> Any:
    """The ModelProto of ``model`` recorded on namespace ``xp`` (``host``: its parameters as
    a checkpoint holds them); an :class:`ExportError` naming the line of code whose
    operation the library cannot record."""
    adapter: NdonnxAdapter = ADAPTERS[NdonnxAdapter.name]  # type: ignore[assignment]
    dtype = getattr(xp, dtype_name(model.dtype, model.xp))

    def place(v: Any) -> Any:  # a constant of v's own dtype (class labels of any kind)
        return adapter.from_host(xp, v, None)

    def statistic(v: Any) -> Any:  # mean and std: the host's float64 values
        return adapter.from_host(xp, v, None, xp.float64)

    try:
        x = adapter.graph_input(xp, (BATCH, model.sizes[0]), dtype)
        params = {name: place(host[name]) for name in model.arch.layout.names}
        X = x
        if model.standardizer is not None:  # in float64, then cast, as predict on host data
            X = model.standardizer.apply(xp.astype(x, xp.float64), statistic)
            X = X if dtype == xp.float64 else xp.astype(X, dtype)
        out, _ = network.forward(params, X, model.arch, xp)
        return adapter.build(xp, {INPUT: x}, outputs(out, xp, place))
    except (AttributeError, IndexError, NotImplementedError, TypeError, ValueError) as e:
        hint = " (Python values of graph arrays, float() or if on data, do not exist until " \
               "the graph runs)" if "no propagated value" in str(e) else ""
        raise ExportError(f"export_onnx: ndonnx {adapter.version()} cannot record "
                          f"{_culprit(e)}: {type(e).__name__}: {e}{hint}") from None


def _metadata(model: Any, header: dict[str, Any], names: list[str],
              extra: dict[str, Any]) -> dict[str, str]:
    """The ``metadata_props``: a checkpoint's ``header`` (without its file format), whether
    the input is standardised, the outputs' names and ``extra``; strings as they are, other
    values as JSON."""
    props = {k: v for k, v in header.items() if k not in ("format", "format_version")}
    props.update(standardized=model.standardizer is not None, input=INPUT, outputs=names,
                 recorded_with=f"ndonnx {ADAPTERS[NdonnxAdapter.name].version()}", **extra)
    try:  # (strict JSON: no bare NaN or Infinity, which JSON readers refuse)
        return {k: v if isinstance(v, str) else json.dumps(v, allow_nan=False)
                for k, v in props.items()}
    except ValueError as e:
        raise ValueError(f"metadata: expected finite numbers ({e})") from None


#: the properties every graph records besides its checkpoint header's
_OWN_PROPS = ("standardized", "input", "outputs", "recorded_with")
#: protobuf's limit on one serialised message (an ONNX file without external data)
PROTOBUF_LIMIT = 2**31


def _check_metadata(metadata: Any, reserved: set[str]) -> None:
    """``metadata``: a mapping of new property names (text) to text or JSON values."""
    if not isinstance(metadata, Mapping):
        raise ValueError(f"metadata: expected a dict of property names to values, got "
                         f"{show(metadata)}")
    for key, value in metadata.items():
        if not isinstance(key, str) or key in reserved:
            raise ValueError(f"metadata: expected keys of text other than the graph's own "
                             f"({', '.join(sorted(reserved))}), got {show(key)}")
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            raise ValueError(f"metadata[{key!r}]: expected text or a JSON value (finite "
                             f"numbers, lists, dicts), got {show(value)}") from None


#: a warning when the graph's input dtype cannot resolve standardised features this finely
#: (in units of their standard deviation)
STANDARDISED_RESOLUTION = 1e-3


def _check_statistics(model: Any) -> None:
    """Refuse standardizer statistics the graph's input dtype cannot hold (an
    :class:`ExportError`); warn when features near their mean cannot be held in the input's
    dtype finely enough to standardise them (``eps |mean| / std`` above
    :data:`STANDARDISED_RESOLUTION`: a float32 graph input at 2e7 + N(0, 1) moves in steps
    of 2 standard deviations). The graph standardises in float64, as the model does host
    data; only data cast to the graph's input dtype first loses what that dtype cannot hold."""
    std = model.standardizer
    if std is None:
        return
    name = dtype_name(model.dtype, model.xp)
    info = model.xp.finfo(model.dtype)
    if not (float(abs(std.mean).max()) <= float(info.max)
            and float(info.smallest_normal) <= float(std.std.min()) <= float(info.max)):
        raise ExportError(
            f"export_onnx: the standardizer's statistics do not fit the graph's {name} input "
            f"(means up to {float(abs(std.mean).max()):.3g}, standard deviations from "
            f"{float(std.std.min()):.3g}; {name} holds {float(info.smallest_normal):.3g} to "
            f"{float(info.max):.3g}): its outputs would be NaN or inf. Export a float64 model "
            "(model.astype('float64')) or rescale the features")
    eps = float(info.eps)
    worst = eps * float((abs(std.mean) / std.std).max())  # host statistics
    if worst > STANDARDISED_RESOLUTION:
        warnings.warn(
            f"export_onnx: the graph's {name} input holds features near their means only to "
            f"{worst:.2g} of a standard deviation (features with large offsets); on data "
            f"of a wider dtype its predictions can differ from the model's, which "
            f"standardises host data in float64 before any cast. Export a float64 model "
            f"(model.astype('float64')) or center the features before they reach the model",
            UserWarning,
            stacklevel=user_stacklevel())


def to_onnx(model: Any, outputs: Outputs | None = None,
            metadata: dict[str, Any] | None = None) -> Any:
    """The ONNX ``ModelProto`` of ``model`` (see the module docstring), checked by
    ``onnx.checker`` (full check, shape inference included). ``outputs`` (default
    :func:`model_outputs`) names the outputs; ``metadata`` adds properties."""
    check_model(model)
    if outputs is not None and not callable(outputs):
        raise ValueError(f"outputs: expected a function (out, xp, place) -> dict of names to "
                         f"arrays (see model_outputs), got {show(outputs)}")
    if not model.all_finite():
        raise ValueError("model: its parameters hold NaN or inf (a diverged run?); an "
                         "exported graph would compute nothing useful")
    _check_statistics(model)
    size = model.count_parameters() * model.xp.finfo(model.dtype).bits // 8
    if size >= PROTOBUF_LIMIT:  # (found by audit: a raw EncodeError after minutes of work)
        raise ExportError(f"export_onnx: the model's {model.count_parameters()} parameters "
                          f"take {size / 2**30:.2f} GiB, beyond the 2 GiB an ONNX file holds "
                          f"inline")
    onnx = _require("onnx")
    _require("ndonnx")
    try:
        xp = ADAPTERS[NdonnxAdapter.name].load_namespace()
    except BackendUnavailableError as e:  # installed but unusable
        raise ImportError(f"export_onnx: {e}") from None
    header, host = checkpoint.contents(model)  # what a checkpoint of the model holds
    _check_metadata({} if metadata is None else metadata, set(header) | set(_OWN_PROPS))
    proto = _record(model, host, xp, outputs or model_outputs(model))
    names = [o.name for o in proto.graph.output]
    onnx.helper.set_model_props(proto, _metadata(model, header, names, dict(metadata or {})))
    proto.producer_name, proto.producer_version = "xprop", __version__
    proto.graph.name = "xprop_mlp"
    proto.doc_string = (f"xprop MLP {model.sizes} ({', '.join(a.name for a in model.activations)}"
                        f"; {model.loss_fn.name}), {dtype_name(model.dtype, model.xp)}; "
                        f"outputs {', '.join(names)}")
    onnx.checker.check_model(proto, full_check=True)
    return proto


def export_onnx(model: Any, path: Any, *, overwrite: bool = True,
                outputs: Outputs | None = None, metadata: dict[str, Any] | None = None) -> str:
    """Write :func:`to_onnx` of ``model`` to ``path`` (``.onnx`` appended when missing),
    atomically; returns the path. The path is checked writable (not a directory, an
    existing file only with ``overwrite``) before the graph is recorded."""
    path = checkpoint.check_writable(path, overwrite, "path", ".onnx")
    proto = to_onnx(model, outputs, metadata)
    data = proto.SerializeToString()
    return checkpoint.write_atomically(path, lambda fh: fh.write(data), overwrite=overwrite)
