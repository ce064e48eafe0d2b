"""ONNX export: xprop's own forward pass and head, run on ndonnx arrays, become the graph.

The parity tests run ONNX Runtime (CPU) on exported models of the parity grid
(xprop.parity.grid: every hidden activation x every loss/head, depths 1-4, bias on and off), in
float32 and float64, each with a standardizer in the graph, and compare with xprop's NumPy
outputs within the parity tolerances of xprop.tolerances; predicted labels must be identical.
Every test that records or runs a graph skips (one reason) when onnx, onnxruntime or ndonnx
is missing, as on CI's floor run (Python 3.10).
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import sys
import warnings

import numpy as np
import pytest

import xprop
from xprop import parity as P
from xprop.activations import make_activation
from xprop.backend import ADAPTERS, BACKEND_NAMES, Adapter, BackendError, adapter_for, backend_of
from xprop.datasets import Standardizer
from xprop.head import default_output_activation
from xprop.tolerances import parity_atol, parity_rtol

PACKAGES = ("onnx", "onnxruntime", "ndonnx")
MISSING = [name for name in PACKAGES if importlib.util.find_spec(name) is None]
needs_onnx = pytest.mark.skipif(
    bool(MISSING), reason=f"{', '.join(MISSING)} not installed: pip install \"xprop[onnx]\" "
                          "(Python >= 3.11)")
DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"
DTYPES = ("float32", "float64")
# heads beyond the grid's default pairs: (hidden, output activation, loss, outputs)
EXTRA_HEADS = [("tanh", "exp", "poisson", 2), ("relu", "softmax", "mse", 3),
               ("relu", "sigmoid", "mse", 2), ("gelu", "tanh", "half_sse", 2),
               ("leaky_relu(0.2)", "sigmoid", "bce", 1), ("softplus", "identity",
                                                           "bce_with_logits", 1)]


def _ort():
    import onnxruntime

    return onnxruntime


def _run(proto_or_path, X):
    """ONNX Runtime's outputs (CPU, one thread) for ``X``, by name."""
    ort = _ort()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    source = proto_or_path if isinstance(proto_or_path, str) else \
        proto_or_path.SerializeToString()
    sess = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"input": X})))


def _standardized(model, seed=0):
    """``model`` with a standardizer whose statistics differ from 0 and 1 per feature."""
    rng = np.random.default_rng(seed)
    n = model.sizes[0]
    model.set_standardizer(Standardizer.from_arrays(rng.normal(0, 2, n), rng.uniform(0.5, 3, n)))
    return model


def _expected(model, X):
    """xprop's NumPy outputs for host ``X``, under the graph's output names."""
    if model.is_classifier:
        return {"probabilities": model.predict_proba(X), "label": model.predict(X)}
    return {"output": model.predict(X)}


def _mismatches(model, X, tag):
    """Every way ONNX Runtime's outputs for the exported ``model`` differ from xprop's on
    NumPy: names, then type, dtype and shape, then values (parity tolerances) and labels
    (identical)."""
    got = _run(xprop.export.to_onnx(model), X)
    want = _expected(model, X)
    if set(got) != set(want):
        return [f"{tag}: outputs {sorted(got)}, expected {sorted(want)}"]
    dtype = model.params.buffer.dtype.name
    rtol = parity_rtol(dtype, max(model.sizes[:-1]))
    bad = []
    for name, w in want.items():
        g = got[name]
        if not isinstance(g, np.ndarray) or g.dtype != w.dtype or g.shape != w.shape:
            bad.append(f"{tag} {name}: {type(g).__name__} {getattr(g, 'dtype', '?')} "
                       f"{getattr(g, 'shape', '?')}, expected {w.dtype} {w.shape}")
        elif name == "label":
            if not np.array_equal(g, w):
                bad.append(f"{tag} label: {g.tolist()} != {w.tolist()}")
        else:
            d, rel = P._diff(g, w)
            if not (rel <= rtol or d <= parity_atol(dtype)):
                bad.append(f"{tag} {name}: max_rel {rel:.2e} (tol {rtol:.1e}), max_abs {d:.2e}")
    return bad


def _grid_mismatches(specs):
    failures = []
    for spec in specs:
        X, _ = P._data(spec)
        X = 3.0 * X + 1.0  # raw features, standardised inside the graph
        for dtype in DTYPES:
            model = _standardized(xprop.MLP(
                spec.sizes, spec.activation, default_output_activation(spec.loss), spec.loss,
                bias=spec.bias, seed=0, dtype=dtype))
            failures += _mismatches(model, X.astype(dtype), f"{spec.name} {dtype}")
    return failures


# --------------------------------------------------------------------------- the adapter


def test_models_never_live_on_ndonnx():
    assert "ndonnx" in ADAPTERS and "ndonnx" not in BACKEND_NAMES
    assert ADAPTERS["ndonnx"].records and not ADAPTERS["ndonnx"].mutable
    with pytest.raises(BackendError, match=r"^backend: expected one of numpy, .*got 'ndonnx' "
                                           r"\(ndonnx records ONNX graphs: model.export_onnx"):
        xprop.MLP([2, 3, 1], backend="ndonnx")


@needs_onnx
def test_ndonnx_is_identified_by_its_namespace():
    import ndonnx

    x = ndonnx.asarray(np.ones((2, 3), np.float32))
    assert adapter_for(ndonnx) is ADAPTERS["ndonnx"]
    assert [n for n, a in ADAPTERS.items() if a.is_namespace(ndonnx)] == ["ndonnx"]
    b = backend_of(x=x)
    assert b.name == "ndonnx" and b.adapter is ADAPTERS["ndonnx"]
    assert b.describe() == "ndonnx (device graph)"
    assert ADAPTERS["ndonnx"].info() == {"available": True, "version": ndonnx.__version__,
                                         "devices": ["graph"]}
    np.testing.assert_array_equal(xprop.to_numpy(x), np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"^x: an ndonnx array computed from a graph input"):
        xprop.to_numpy(ADAPTERS["ndonnx"].graph_input(ndonnx, ("batch", 3), ndonnx.float32))


@needs_onnx
@pytest.mark.parametrize(("bias", "dtype"), [(True, "float64"), (False, "float32")])
def test_kernels_agree_with_the_portable_ones(bias, dtype):
    """The adapter's own nodes against what ndonnx records for xprop's portable code: the
    affine map (MatMul + Add against ``@`` and ``+``) and softmax (one Softmax against
    ``exp(z - max) / sum``), for 3 rows and for none."""
    import ndonnx

    from xprop.activations import ACTIVATIONS

    adapter, softmax = ADAPTERS["ndonnx"], ACTIVATIONS["softmax"]
    rng = np.random.default_rng(0)
    W, b = rng.standard_normal((4, 5)).astype(dtype), rng.standard_normal(5).astype(dtype)
    x = adapter.graph_input(ndonnx, ("batch", 4), getattr(ndonnx, dtype))
    args = (x, ndonnx.asarray(W), ndonnx.asarray(b) if bias else None, ndonnx)
    z = adapter.affine(*args)
    (fast, _), = adapter.activation_functions((softmax,))
    outputs = {"affine": z, "portable affine": Adapter.affine(adapter, *args),
               "softmax": fast(z, ndonnx), "portable softmax": softmax.forward(z, ndonnx)}
    assert fast is not softmax.forward
    assert all(v.dtype == getattr(ndonnx, dtype) and v.ndim == 2 for v in outputs.values())
    proto = adapter.build(ndonnx, {"input": x}, outputs)
    tol = {"rtol": parity_rtol(dtype, 4), "atol": parity_atol(dtype)}
    for n in (3, 0):
        X = rng.standard_normal((n, 4)).astype(dtype)
        out = _run(proto, X)
        assert out["affine"].shape == out["softmax"].shape == (n, 5)
        assert out["affine"].dtype == out["softmax"].dtype == np.dtype(dtype)
        np.testing.assert_array_equal(out["affine"], out["portable affine"])
        np.testing.assert_allclose(out["affine"], X @ W + (b if bias else 0), **tol)
        np.testing.assert_allclose(out["softmax"], out["portable softmax"], **tol)
    with pytest.raises(TypeError, match=r"^affine: expected operands of one dtype"):
        adapter.affine(x, ndonnx.asarray(W.astype(np.float16)), None, ndonnx)


# --------------------------------------------------------------------------- parity


@needs_onnx
def test_parity_every_activation_and_head_in_both_dtypes():
    """Each hidden activation x each loss of the grid with one hidden layer (bias alternating),
    and the heads the grid's default pairs leave out, in float32 and float64."""
    specs = [s for s in P.grid(full=False) if s.depth == 2]
    assert {s.activation for s in specs} == set(P.HIDDEN)
    assert {s.loss for s in specs} == set(P.LOSSES)
    failures = _grid_mismatches(specs)
    X = 3.0 * P._data(specs[0])[0] - 1.0
    for hidden, output, loss, k in EXTRA_HEADS:
        for dtype in DTYPES:
            model = _standardized(xprop.MLP([3, 6, 6, k], hidden, output, loss, seed=1,
                                             dtype=dtype))
            failures += _mismatches(model, X.astype(dtype), f"{hidden}/{output}+{loss} {dtype}")
    assert not failures, f"{len(failures)} mismatches\n" + "\n".join(failures[:20])


@needs_onnx
@pytest.mark.slow  # about 30 s on 2 cores: 896 models recorded and run
def test_parity_full_grid():
    failures = _grid_mismatches(P.grid(full=True))
    assert not failures, f"{len(failures)} mismatches\n" + "\n".join(failures[:20])


@needs_onnx
def test_registered_activation_is_exported_as_written():
    swish = make_activation("swish_onnx_test", lambda z, xp: z / (1.0 + xp.exp(-z)),
                            lambda z, a, xp: a + (1.0 - a) / (1.0 + xp.exp(z)))
    model = _standardized(xprop.MLP([3, 5, 2], swish, "softmax", "cross_entropy", seed=2,
                                    dtype="float32"))
    X = np.random.default_rng(3).normal(1.0, 3.0, (40, 3)).astype(np.float32)
    assert _mismatches(model, X, "swish") == []


# --------------------------------------------------------------------------- the graph


@needs_onnx
@pytest.mark.parametrize("dtype", DTYPES)
def test_graph_inputs_outputs_metadata_and_checker(tmp_path, dtype):
    import onnx

    model = _standardized(xprop.MLP([2, 8, 3], "tanh", "softmax", "cross_entropy", seed=0,
                                    dtype=dtype))
    path = model.export_onnx(tmp_path / "m")
    assert path == str(tmp_path / "m.onnx") and os.path.isfile(path)
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    elem = {"float32": onnx.TensorProto.FLOAT, "float64": onnx.TensorProto.DOUBLE}[dtype]
    (inp,) = proto.graph.input
    assert inp.name == "input" and inp.type.tensor_type.elem_type == elem
    assert [(d.dim_param, d.dim_value) for d in inp.type.tensor_type.shape.dim] == \
        [("batch", 0), ("", 2)]
    outputs = {o.name: o.type.tensor_type for o in proto.graph.output}
    assert list(outputs) == ["probabilities", "label"]
    assert outputs["probabilities"].elem_type == elem
    assert outputs["label"].elem_type == onnx.TensorProto.INT64
    props = {p.key: p.value for p in proto.metadata_props}
    assert props["xprop_version"] == xprop.__version__
    assert json.loads(props["layer_sizes"]) == [2, 8, 3]
    assert json.loads(props["activations"]) == ["tanh", "softmax"]
    assert props["loss"] == "cross_entropy" and props["dtype"] == dtype
    assert json.loads(props["standardized"]) is True
    assert json.loads(props["outputs"]) == ["probabilities", "label"]
    assert proto.producer_name == "xprop"
    # the adapter's affine: one MatMul per layer in the main graph, none hidden in an If
    assert sum(n.op_type == "MatMul" for n in proto.graph.node) == 2


@needs_onnx
def test_the_batch_dimension_is_dynamic(tmp_path):
    model = xprop.MLP([4, 6, 2], "relu", "identity", "mse", seed=0, dtype="float32")
    path = model.export_onnx(tmp_path / "m.onnx")
    for n in (0, 1, 1024):
        X = np.random.default_rng(n).standard_normal((n, 4)).astype(np.float32)
        out = _run(path, X)["output"]
        assert out.dtype == np.float32 and out.shape == (n, 2)
        if n:  # (predict refuses an empty X)
            np.testing.assert_allclose(out, model.predict(X), rtol=parity_rtol("float32", 6),
                                       atol=parity_atol("float32"))


# --------------------------------------------------------------------------- errors


def _unrecordable(z, xp):
    return z if bool(xp.all(z > 0)) else -z


def _missing_operation(z, xp):
    return z / xp.linalg.vector_norm(z)


@needs_onnx
@pytest.mark.parametrize(("forward", "fragments"), [
    (_unrecordable, ("`return z if bool(xp.all(z > 0)) else -z` (_unrecordable, "
                     "test_onnx.py:", "until the graph runs")),
    (_missing_operation, ("`return z / xp.linalg.vector_norm(z)` (_missing_operation",
                          "AttributeError: module 'ndonnx' has no attribute 'linalg'"))])
def test_an_operation_ndonnx_cannot_record_is_named(tmp_path, forward, fragments):
    act = make_activation("odd", forward, lambda z, a, xp: xp.ones_like(z))
    model = xprop.MLP([2, 3, 1], act, seed=0)
    target = tmp_path / "m.onnx"
    target.write_bytes(b"old")
    with pytest.raises(xprop.export.ExportError) as info:
        model.export_onnx(target)
    message = str(info.value)
    assert message.startswith("export_onnx: ndonnx ") and "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["m.onnx"]


@needs_onnx
def test_bad_paths_and_options_are_refused_before_recording(tmp_path, monkeypatch):
    model = xprop.MLP([2, 3, 1], seed=0)
    monkeypatch.setattr(xprop.export, "to_onnx", lambda *a, **k: pytest.fail("recorded"))
    (tmp_path / "old.onnx").write_bytes(b"old")
    with pytest.raises(FileExistsError, match=r"^path: .*old.onnx' exists; pass overwrite=True"):
        model.export_onnx(tmp_path / "old.onnx", overwrite=False)
    with pytest.raises(IsADirectoryError, match=r"^path: .* names a directory"):
        model.export_onnx(str(tmp_path) + os.sep)
    with pytest.raises(FileNotFoundError, match=r"^path: directory .* does not exist"):
        model.export_onnx(tmp_path / "nowhere" / "m.onnx")
    with pytest.raises(TypeError, match=r"^path: expected a file name .*got 3"):
        model.export_onnx(3)
    with pytest.raises(ValueError, match=r"^overwrite: expected True or False, got 'yes'"):
        model.export_onnx(tmp_path / "m.onnx", overwrite="yes")
    assert (tmp_path / "old.onnx").read_bytes() == b"old"


@needs_onnx
def test_non_finite_parameters_and_non_models_are_refused(tmp_path):
    model = xprop.MLP([2, 3, 1], seed=0)
    model.parameters()["b0"][1] = np.nan  # a live view (set_parameters refuses NaN)
    with pytest.raises(ValueError, match=r"^model: its parameters hold NaN or inf"):
        model.export_onnx(tmp_path / "m.onnx")
    with pytest.raises(TypeError, match=r"^model: expected an xprop.MLP, got dict"):
        xprop.export.export_onnx({}, tmp_path / "m.onnx")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("module", ["ndonnx", "onnx"])
def test_missing_packages_say_how_to_install_them(tmp_path, monkeypatch, module):
    monkeypatch.setitem(sys.modules, module, None)  # importing it raises ImportError
    first = "onnx" if "onnx" in (module, *MISSING) else "ndonnx"  # the order they are checked
    with pytest.raises(ImportError, match=rf"^export_onnx needs {first} .*pip install "
                                          r"\"xprop\[onnx\]\""):
        xprop.MLP([2, 3, 1], seed=0).export_onnx(tmp_path / "m.onnx")
    assert os.listdir(tmp_path) == []


# --------------------------------------------------------------------------- the CLI


@needs_onnx
def test_cli_export_writes_the_checkpoints_graph(tmp_path, capsys):
    from xprop.cli import main

    X = np.random.default_rng(0).normal(2.0, 3.0, (50, 2))
    model = _standardized(xprop.MLP([2, 8, 3], "relu", "softmax", "cross_entropy", seed=0,
                                    dtype="float32"))
    model.save(tmp_path / "m.npz")
    assert main(["export", "--checkpoint", str(tmp_path / "m.npz"), "--out",
                 str(tmp_path / "m")]) == 0
    said = capsys.readouterr().out
    assert "to " + str(tmp_path / "m.onnx") in said and "standardised inside the graph" in said
    got = _run(str(tmp_path / "m.onnx"), X.astype(np.float32))
    np.testing.assert_array_equal(got["label"], model.predict(X.astype(np.float32)))


@needs_onnx
@pytest.mark.parametrize(("args", "message"), [
    (["--out", "{d}/m.onnx"], "xprop: error: --out: '{d}/m.onnx' exists; pass --force"),
    (["--out", "{d}/n.onnx", "--checkpoint", "{d}/none.npz"],
     "xprop: error: --checkpoint: '{d}/none.npz' does not exist"),
    (["--out", "{d}/n.onnx", "--checkpoint", "{d}/m.onnx"],
     "xprop: error: --checkpoint: '{d}/m.onnx': not an .npz")])
def test_cli_export_errors_name_the_flag(tmp_path, capsys, args, message):
    from xprop.cli import main

    xprop.MLP([2, 3, 1], seed=0).save(tmp_path / "m.npz")
    (tmp_path / "m.onnx").write_bytes(b"old")
    argv = ["export", "--checkpoint", str(tmp_path / "m.npz")]
    assert main(argv + [a.format(d=tmp_path) for a in args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message.format(d=tmp_path)) and err.count("\n") == 1, err
    assert (tmp_path / "m.onnx").read_bytes() == b"old"


@needs_onnx
def test_cli_export_keeps_an_out_that_appears_while_the_graph_is_made(tmp_path, capsys,
                                                                      monkeypatch):
    """Found by review: ``xprop export`` without --force replaced a file that appeared at
    --out while the graph was recorded (it wrote with overwrite=True after its own check)."""
    from xprop import export
    from xprop.cli import main

    xprop.MLP([2, 3, 1], seed=0).save(tmp_path / "m.npz")
    to_onnx = export.to_onnx

    def someone_writes(*args, **kwargs):
        (tmp_path / "e.onnx").write_bytes(b"theirs")
        return to_onnx(*args, **kwargs)
    monkeypatch.setattr(export, "to_onnx", someone_writes)
    argv = ["export", "--checkpoint", str(tmp_path / "m.npz"), "--out", str(tmp_path / "e")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"xprop: error: --out: '{tmp_path / 'e.onnx'}' exists (it appeared "
                          "while the graph was made); pass --force"), err
    assert (tmp_path / "e.onnx").read_bytes() == b"theirs"
    assert main([*argv, "--force"]) == 0 and (tmp_path / "e.onnx").read_bytes() != b"theirs"


# --------------------------------------------------------------------------- scikit-learn


@needs_onnx
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("labels", ["strings", "binary", "multilabel"])
def test_classifier_export_gives_its_classes_and_probabilities(tmp_path, labels):
    pytest.importorskip("sklearn")
    from xprop.sklearn import MLPClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(0.0, 2.0, (120, 4))
    y = {"strings": np.array(["ant", "bee", "cat"])[np.argmax(X[:, :3], axis=1)],
         "binary": np.where(X[:, 0] > 0, 7, -3),
         "multilabel": (X[:, :2] > 0).astype(int)}[labels]
    est = MLPClassifier((8,), max_iter=30, random_state=0).fit(X, y)
    est.export_onnx(tmp_path / "c.onnx")
    got = _run(str(tmp_path / "c.onnx"), X)
    proba, pred = est.predict_proba(X), est.predict(X)
    assert got["probabilities"].dtype == np.float64 and got["probabilities"].shape == proba.shape
    assert got["label"].shape == pred.shape
    np.testing.assert_array_equal(got["label"].astype(pred.dtype), pred)
    np.testing.assert_allclose(got["probabilities"], proba, rtol=parity_rtol("float64"),
                               atol=parity_atol("float64"))
    import onnx

    props = {p.key: p.value for p in onnx.load(str(tmp_path / "c.onnx")).metadata_props}
    assert props["estimator"] == "xprop.sklearn.MLPClassifier"
    assert json.loads(props["classes"]) == est.classes_.tolist()


@needs_onnx
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("n_targets", [1, 2])
def test_regressor_export_gives_its_predictions(tmp_path, n_targets):
    pytest.importorskip("sklearn")
    from xprop.sklearn import MLPRegressor

    rng = np.random.default_rng(1)
    X = rng.standard_normal((80, 3)).astype(np.float32)
    y = X[:, :n_targets] ** 2 if n_targets > 1 else X[:, 0] ** 2
    est = MLPRegressor(hidden_layer_sizes=(6,), max_iter=20, random_state=0).fit(X, y)
    est.export_onnx(tmp_path / "r.onnx")
    out = _run(str(tmp_path / "r.onnx"), X)["output"]
    pred = est.predict(X)
    assert out.dtype == pred.dtype == np.float32 and out.shape == pred.shape
    np.testing.assert_allclose(out, pred, rtol=parity_rtol("float32", 6),
                               atol=parity_atol("float32"))


@needs_onnx
def test_unfitted_estimators_are_refused(tmp_path):
    pytest.importorskip("sklearn")
    from sklearn.exceptions import NotFittedError

    from xprop.sklearn import MLPClassifier

    with pytest.raises(NotFittedError):
        MLPClassifier().export_onnx(tmp_path / "c.onnx")
    assert os.listdir(tmp_path) == []


# --------------------------------------------------------------------------- docs/


@needs_onnx
@pytest.mark.skipif(not (DOCS / "spirals.onnx").exists(), reason="no docs/spirals.onnx")
def test_docs_spirals_onnx_is_the_docs_checkpoint():
    """docs/spirals.onnx (exported by xprop export from docs/spirals.npz, README) computes
    what the checkpoint computes on the spirals data."""
    import onnx

    from xprop import datasets

    onnx.checker.check_model(str(DOCS / "spirals.onnx"), full_check=True)
    model = xprop.load(DOCS / "spirals.npz")
    X, _ = datasets.spirals(seed=0)
    assert _mismatches(model, X.astype(np.float32), "docs/spirals") == []


@needs_onnx
def test_a_float32_graph_warns_when_it_cannot_hold_offset_features(tmp_path):
    """The model standardises host data in float64; a float32 graph input cannot hold
    2e7 + N(0, 1) finely enough (steps of 2 there): export says so, and says what to do."""
    rng = np.random.default_rng(0)
    X = np.c_[2e7 + rng.normal(size=50), rng.normal(size=50)]
    m = xprop.MLP([2, 3, 2], "tanh", "softmax", "cross_entropy", seed=0, dtype="float32")
    m.standardize(X)
    with pytest.warns(UserWarning, match=r"float32 input holds features near their means only "
                                         r"to 2\.\d+ of a standard deviation.*float64") as w:
        m.export_onnx(tmp_path / "m.onnx")
    assert w[0].filename == __file__  # the caller's line, not xprop's (found by audit)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m.astype("float64").export_onnx(tmp_path / "m64.onnx")
        m.standardize(X - [2e7, 0.0]).export_onnx(tmp_path / "centered.onnx")


@needs_onnx
def test_a_float32_graph_standardises_in_float64_as_predict_does_host_data():
    """Found by audit: standardised in float32 (the mean rounded to float32 first), features
    at 5000 + N(0, 1) came out 7.6e-5 off and changed 15 labels of 200,000, below the
    offset warning's threshold."""
    rng = np.random.default_rng(0)
    X = (5000.0 + rng.standard_normal((20_000, 4))).astype(np.float32)
    m = xprop.MLP([4, 32, 3], "tanh", "softmax", "cross_entropy", seed=0, dtype="float32")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        proto = xprop.export.to_onnx(m.standardize(X))
    out = _run(proto, X)
    proba, label = out["probabilities"], out["label"]
    assert proba.dtype == np.float32 and proba.shape == (20_000, 3)
    assert np.abs(proba - m.predict_proba(X)).max() <= 1e-6
    assert np.array_equal(label, m.predict(X))


@needs_onnx
def test_an_index_ndonnx_cannot_record_is_an_export_error():
    """Found by audit: ndonnx's IndexError (a list index, outside the standard) escaped as
    a traceback."""
    first = make_activation("first_col", lambda z, xp: z[:, [0] * z.shape[1]],
                            lambda z, a, xp: z * 0.0)
    model = xprop.MLP([2, 3, 2], first, "softmax", "cross_entropy", seed=0)
    with pytest.raises(xprop.export.ExportError,
                       match=r"^export_onnx: ndonnx .* cannot record `.*first_col.*"
                             r"IndexError: "):
        xprop.export.to_onnx(model)


@needs_onnx
def test_metadata_outputs_and_size_are_checked_before_recording(monkeypatch):
    """Found by audit: metadata keys of the graph's own replaced them silently (``dtype``,
    ``layer_sizes``) or raised dict.update's TypeError (``input``); other bad metadata and
    ``outputs`` gave messages that named neither (or blamed ndonnx); a model over 2 GiB
    raised protobuf's EncodeError after minutes of work."""
    model = xprop.MLP([2, 3, 2], "relu", "softmax", "cross_entropy", seed=0)
    for bad in ({"dtype": "float64"}, {"layer_sizes": [9]}, {"input": "x"}, {1: "a"}):
        with pytest.raises(ValueError, match=r"^metadata: expected keys of text other than "
                                             r"the graph's own \(.*dtype.*input.*\), got "):
            xprop.export.to_onnx(model, metadata=bad)
    for bad in (["a"], [], "", 0):
        with pytest.raises(ValueError, match=r"^metadata: expected a dict of property names"):
            xprop.export.to_onnx(model, metadata=bad)
    with pytest.raises(ValueError, match=r"^metadata\['run'\]: expected text or a JSON value"):
        xprop.export.to_onnx(model, metadata={"run": np.zeros(2)})
    with pytest.raises(ValueError, match=r"^outputs: expected a function"):
        xprop.export.to_onnx(model, outputs=5)
    props = {p.key: p.value for p in
             xprop.export.to_onnx(model, metadata={"run": 3, "note": "ok"}).metadata_props}
    assert props["run"] == "3" and props["note"] == "ok"
    monkeypatch.setattr(xprop.export, "PROTOBUF_LIMIT", 8 * model.count_parameters())
    with pytest.raises(xprop.export.ExportError, match=r"^export_onnx: the model's 17 "
                                                       r"parameters take .* GiB, beyond"):
        xprop.export.to_onnx(model)


def test_statistics_the_graph_input_cannot_hold_are_refused():
    """Found by audit: a float32 model whose standardizer's std underflows float32 exported
    a graph that output NaN, with no error."""
    X = np.random.default_rng(0).normal(size=(40, 2)) * 1e-300
    model = xprop.MLP([2, 3, 2], "relu", "softmax", "cross_entropy", seed=0, dtype="float32")
    model.standardize(X)
    with pytest.raises(xprop.export.ExportError,
                       match=r"^export_onnx: the standardizer's statistics do not fit the "
                             r"graph's float32 input"):
        xprop.export.to_onnx(model)
