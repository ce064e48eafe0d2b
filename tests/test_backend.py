"""The backend selector: names, devices, context, environment, the CuPy probe, moving arrays."""

from __future__ import annotations

import importlib
import logging
import subprocess
import sys
import types

import array_api_strict
import numpy as np
import pytest

import xprop
from tests.conftest import HAS_TORCH
from xprop import backend as B
from xprop.backend import (
    BackendError,
    BackendUnavailableError,
    DeviceMismatchError,
    backend_of,
    core,
    cupy_,
    resolve_backend,
    to_backend,
    to_numpy,
    use_backend,
)

from .conftest import make_backend


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    monkeypatch.delenv("XPROP_BACKEND", raising=False)
    yield
    B.probe_cupy.cache_clear()


def test_default_is_numpy():
    b = resolve_backend()
    assert b.name == "numpy" and b.device == "cpu"


@pytest.mark.parametrize(
    ("spec", "device", "name", "dev"),
    [
        ("numpy", None, "numpy", "cpu"),
        ("NumPy", None, "numpy", "cpu"),
        ("array_api_strict", None, "array_api_strict", "CPU_DEVICE"),
        ("array-api-strict", "device1", "array_api_strict", "device1"),
        ("array_api_strict:device1", None, "array_api_strict", "device1"),
        ("array_api_strict:no_float64", None, "array_api_strict", "no_float64"),
    ],
)
def test_resolve_names_and_devices(spec, device, name, dev):
    b = resolve_backend(spec, device)
    assert b.name == name
    assert B.device_str(b.device) == dev


def test_resolve_torch():
    pytest.importorskip("torch")
    b = resolve_backend("torch")
    assert b.name == "torch" and str(b.device) == "cpu"


@pytest.mark.parametrize("bad", ["tensorflow", "", "numpy2", 3])
def test_unknown_backend_names_the_argument(bad):
    with pytest.raises(BackendError, match=r"backend: expected one of .*numpy.*got"):
        resolve_backend(bad)


@pytest.mark.parametrize(
    ("spec", "device", "match"),
    [
        ("numpy", "cuda", r"device: numpy runs on 'cpu' only, got 'cuda'"),
        ("array_api_strict", "device9", r"device: expected one of .*device1.*got 'device9'"),
        ("array_api_strict:device1", "device2", r"device: .*names device 'device1'"),
    ],
)
def test_bad_devices(spec, device, match):
    with pytest.raises(BackendError, match=match):
        resolve_backend(spec, device)


def test_environment_variable(monkeypatch):
    monkeypatch.setenv("XPROP_BACKEND", "array_api_strict:device1")
    b = resolve_backend()
    assert b.name == "array_api_strict" and B.device_str(b.device) == "device1"
    assert xprop.MLP([2, 1]).backend == b
    monkeypatch.setenv("XPROP_BACKEND", "nonsense")
    with pytest.raises(BackendError, match="nonsense"):
        resolve_backend()


def test_context_manager_nests_and_restores(monkeypatch):
    monkeypatch.setenv("XPROP_BACKEND", "numpy")
    with use_backend("array_api_strict") as outer:
        assert resolve_backend() == outer
        with use_backend("array_api_strict", "device1"):
            m = xprop.MLP([2, 3, 1])
            assert B.device_str(m.backend.device) == "device1"
            # an explicit argument wins over the context
            assert xprop.MLP([2, 1], backend="numpy").backend.name == "numpy"
        assert resolve_backend() == outer
    assert resolve_backend().name == "numpy"


def test_context_manager_fails_early_for_unknown_names():
    with pytest.raises(BackendError, match="backend: "), use_backend("nope"):
        pass


def test_auto_chooses_numpy_without_cuda_and_says_why(caplog):
    core._last_auto_choice.clear()
    with caplog.at_level(logging.INFO, logger="xprop"):
        b = resolve_backend("auto")
    probe = xprop.probe_cupy()
    if probe.usable:
        assert b.name == "cupy"
    else:
        assert b.name == "numpy"
        assert "auto" in caplog.text and "numpy" in caplog.text
        info = xprop.backend_info()
        assert info["auto"]["chooses"] == "numpy"
        assert info["auto"]["reason"] == probe.reason
        assert info["cupy"]["available"] is False and info["cupy"]["reason"]


def test_cupy_by_name_says_what_is_missing():
    if xprop.probe_cupy().usable:
        pytest.skip("CuPy works here")
    with pytest.raises(BackendUnavailableError, match=r"backend 'cupy' is unusable: .*") as e:
        resolve_backend("cupy")
    assert "xprop[cuda12]" in str(e.value) or "CUDA" in str(e.value)


@pytest.mark.cuda
def test_cuda_is_usable_when_required():
    """Skipped without a usable CUDA device; fails instead with XPROP_REQUIRE_CUDA=1."""
    b = make_backend("cupy", None)
    assert b.name == "cupy"
    x = b.from_host(np.arange(6.0).reshape(2, 3), "float32")
    np.testing.assert_array_equal(to_numpy(x @ b.xp.ones((3, 1), dtype=x.dtype, device=b.device)),
                                  [[3.0], [12.0]])


def test_require_cuda_makes_the_cupy_case_fail_here():
    """XPROP_REQUIRE_CUDA=1 turns the CuPy skip into a failure (checked in a subprocess)."""
    if xprop.probe_cupy().usable:
        pytest.skip("CuPy works here: nothing to fail")
    code = (
        "import os, pytest, sys\n"
        "sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', "
        "'tests/test_backend.py::test_cuda_is_usable_when_required']))\n"
    )
    env = dict(__import__("os").environ, XPROP_REQUIRE_CUDA="1")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=120)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "XPROP_REQUIRE_CUDA=1 but CuPy is unusable" in run.stdout


# --------------------------------------------------------------------------- the probe


def _fake_cupy(monkeypatch, *, available=True, matmul_error=None, kernel_error=None):
    mod = types.ModuleType("cupy")
    mod.__version__ = "99.0-fake"

    class Arr:
        def __init__(self, v):
            self.v = np.asarray(v, dtype=np.float32)

        def reshape(self, *s):
            return Arr(self.v.reshape(*s))

        def __matmul__(self, o):
            if matmul_error:
                raise matmul_error
            return Arr(self.v @ o.v)

        def __getitem__(self, k):
            return Arr(self.v[k])

        def __float__(self):
            return float(self.v)

    mod.float32 = np.float32
    mod.arange = lambda n, dtype=None: Arr(np.arange(n))

    def exp(a):
        if kernel_error:
            raise kernel_error
        return Arr(np.exp(a.v))

    mod.exp = exp
    runtime = types.SimpleNamespace(getDeviceCount=lambda: 1,
                                    getDeviceProperties=lambda i: {"name": b"Fake GPU"})
    mod.cuda = types.SimpleNamespace(is_available=lambda: available, runtime=runtime)
    monkeypatch.setitem(sys.modules, "cupy", mod)
    B.probe_cupy.cache_clear()


def test_probe_reports_missing_cupy(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # import raises ImportError
    B.probe_cupy.cache_clear()
    p = xprop.probe_cupy()
    assert not p.usable and "CuPy" in p.reason


def test_probe_survives_a_broken_import(monkeypatch):
    real_import = __import__("importlib").import_module

    def broken(name, *a, **k):
        if name == "cupy":
            raise ImportError("libcuda.so.1: cannot open shared object file")
        return real_import(name, *a, **k)

    monkeypatch.setattr(importlib, "import_module", broken)
    B.probe_cupy.cache_clear()
    p = xprop.probe_cupy()
    assert not p.usable and "libcuda.so.1" in p.reason


def test_probe_without_a_device(monkeypatch):
    _fake_cupy(monkeypatch, available=False)
    p = xprop.probe_cupy()
    assert not p.usable and "no CUDA device" in p.reason and p.version == "99.0-fake"


def test_probe_names_cublas(monkeypatch):
    _fake_cupy(monkeypatch, matmul_error=RuntimeError("CUBLAS_STATUS_NOT_INITIALIZED"))
    p = xprop.probe_cupy()
    assert not p.usable and "cuBLAS" in p.reason and "ctk" in p.reason


def test_probe_names_nvrtc(monkeypatch):
    _fake_cupy(monkeypatch, kernel_error=RuntimeError("nvrtc: libnvrtc.so not found"))
    p = xprop.probe_cupy()
    assert not p.usable and "NVRTC" in p.reason


def test_probe_success_path(monkeypatch):
    _fake_cupy(monkeypatch)
    p = xprop.probe_cupy()
    assert p.usable and p.device_name == "Fake GPU" and p.device_count == 1


def test_nothing_is_probed_or_imported_at_import_time():
    code = ("import sys, xprop, xprop.backend as b\n"
            "print('cupy' in sys.modules, b.probe_cupy.cache_info().currsize)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout.split()
    assert out == ["False", "0"]


# --------------------------------------------------------------------------- arrays


def test_backend_of_rejects_mixed_namespaces_and_devices():
    a = array_api_strict.asarray([1.0])
    d = array_api_strict.asarray([1.0], device=array_api_strict.Device("device1"))
    with pytest.raises(DeviceMismatchError,
                       match=r"w: arrays from two devices.*CPU_DEVICE.*device1"):
        backend_of(x=a, w=d)
    with pytest.raises(DeviceMismatchError, match=r"w: arrays from two namespaces.*numpy"):
        backend_of(x=a, w=np.ones(1))
    assert backend_of(x=a, y=a).name == "array_api_strict"


def test_round_trips_are_exact(backend):
    h = np.random.default_rng(0).standard_normal((3, 4))
    for dt in backend.supported_float_dtypes():
        x = backend.from_host(h, dt)
        assert backend.owns(x)
        np.testing.assert_array_equal(to_numpy(x), h.astype(dt))
        y = to_backend(x, "numpy")
        np.testing.assert_array_equal(y, h.astype(dt))


def test_from_host_copies(backend):
    # several sizes and tries: jax.device_put shares suitably aligned NumPy buffers on the
    # CPU, so one small array passes by chance
    for n in (2, 64, 4096):
        for _ in range(10):
            h = np.ones((n, 2), dtype=np.float32)
            x = backend.from_host(h)
            h[0, 0] = 5.0
            assert to_numpy(x)[0, 0] == 1.0


def test_accept_refuses_foreign_arrays_and_strings():
    dev1 = resolve_backend("array_api_strict", "device1")
    cpu = resolve_backend("array_api_strict")
    x = cpu.from_host(np.ones((2, 2)))
    with pytest.raises(DeviceMismatchError, match=r"X: expected an array on array_api_strict "
                                                  r"\(device device1\)"):
        dev1.accept(x, "X")
    with pytest.raises(TypeError, match=r"X: expected real numbers"):
        cpu.accept([["a", "b"]], "X")
    with pytest.raises(ValueError, match=r"X: expected a rectangular array"):
        cpu.accept([[1.0, 2.0], [3.0]], "X")
    got = dev1.accept([[1, 2], [3, 4]], "X", dev1.dtype("float32"))
    assert dev1.owns(got) and got.dtype == array_api_strict.float32


def test_stage_keeps_host_data_on_the_host_until_place(backend):
    # host data: a NumPy array cast as accept casts it, in NumPy's namespace
    dt = backend.dtype(backend.supported_float_dtypes()[0])
    h, xq = backend.stage([[1, 2], [3, 4]], "X", dt)
    assert isinstance(h, np.ndarray) and h.dtype.name == B.dtype_name(dt, backend.xp)
    assert xq is B.core.HOST_XP
    x = backend.place(h)
    assert backend.owns(x) and x.dtype == dt
    np.testing.assert_array_equal(to_numpy(x), [[1, 2], [3, 4]])
    # an array of the backend: as accept returns it, in the backend's namespace
    d = backend.from_host(np.ones((2, 2), dtype=B.dtype_name(dt, backend.xp)))
    got, xq = backend.stage(d, "X", dt)
    assert got is d and xq is backend.xp and backend.place(got) is got
    assert backend.place(None) is None
    with pytest.raises(TypeError, match=r"y: expected real numbers"):
        backend.stage([["a"]], "y")


def test_bad_host_data_never_reaches_the_device(monkeypatch):
    # prepare checks host data on the host: a NaN in X or y is refused before any copy
    m = xprop.MLP([2, 3, 1], "tanh", "sigmoid", "bce", backend=resolve_backend(
        "array_api_strict", "device1"))
    copies = []
    real = B.Backend.from_host
    monkeypatch.setattr(B.Backend, "from_host",
                        lambda self, h, *a: copies.append(h) or real(self, h, *a))
    X = np.array([[0.0, 1.0], [1.0, np.nan]])
    with pytest.raises(ValueError, match=r"X: expected finite values, found NaN or inf in 1 of 4"):
        m.prepare(X, [0, 1])
    with pytest.raises(ValueError, match=r"y: bce expects targets in \[0, 1\], got values "
                                         r"from 0.0 to 2.0"):
        m.prepare(np.ones((2, 2)), [0, 2])
    assert copies == []
    X, Y, labels = m.prepare(np.ones((2, 2)), [0, 1])
    assert len(copies) == 2 and labels is None
    assert m.backend.owns(X) and m.backend.owns(Y) and Y.shape == (2, 1)


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int32", "int64", "bool"])
def test_class_labels_of_any_integer_dtype_host_or_device(backend, dtype):
    # the same signed labels and targets whether they come from the host or the device
    m = xprop.MLP([2, 3, 2], "tanh", "softmax", "cross_entropy", backend=backend,
                  dtype=backend.supported_float_dtypes()[0])
    X = np.ones((4, 2))
    host = np.array([0, 1, 1, 0]).astype(dtype)
    try:
        device = backend.from_host(host)
    except Exception as e:  # the library has no such dtype (e.g. uint16 on some)
        pytest.skip(f"{backend.name} has no {dtype} arrays: {e}")
    results = [m.prepare(X, y) for y in (host, device)]
    for _, Y, labels in results:
        assert backend.owns(Y) and backend.owns(labels)
        assert m.xp.isdtype(labels.dtype, "signed integer")
        np.testing.assert_array_equal(to_numpy(labels), [0, 1, 1, 0])
        np.testing.assert_array_equal(to_numpy(Y), [[1, 0], [0, 1], [0, 1], [1, 0]])
    assert m.accuracy(X, device) == m.accuracy(X, host)
    with pytest.raises(ValueError, match=r"y: expected class labels in \[0, 2\) for 2 "
                                         r"outputs, got labels from 0 to 3"):
        m.prepare(X, backend.from_host(np.array([0, 3, 1, 0]).astype(dtype))
                  if dtype != "bool" else np.array([0, 3, 1, 0]))


def test_float64_on_a_device_without_it_is_an_error_not_a_cast():
    b = resolve_backend("array_api_strict", "no_float64")
    assert b.supported_float_dtypes() == ("float32",)
    with pytest.raises(BackendError, match=r"dtype: float64 is not supported on .*no_float64"):
        xprop.MLP([2, 1], dtype="float64", backend=b)
    m = xprop.MLP([2, 1], dtype="float32", backend=b)
    assert m.weights[0].dtype == array_api_strict.float32


def test_backend_info_lists_everything():
    info = xprop.backend_info()
    for key in ("numpy", "array_api_strict", "torch", "cupy", "auto", "default"):
        assert key in info
    assert info["numpy"]["available"] and info["numpy"]["version"] == np.__version__


def test_tf32_is_off_unless_asked(monkeypatch):
    """set_tf32 sets CuPy's float32 matmul compute type (a fake CuPy module stands in)."""
    calls = []
    linalg = types.ModuleType("cupy._core._routines_linalg")
    linalg.COMPUTE_TYPE_TF32, linalg.COMPUTE_TYPE_FP32, linalg.COMPUTE_TYPE_PEDANTIC = 6, 4, 2
    linalg.set_compute_type = lambda dtype, mode: calls.append((dtype, mode))
    fake = types.ModuleType("cupy")
    fake.float32 = np.float32
    monkeypatch.setitem(sys.modules, "cupy", fake)
    monkeypatch.setitem(sys.modules, "cupy._core._routines_linalg", linalg)
    assert B.set_tf32(False) == "true float32 matmuls (TF32 off)"
    assert B.set_tf32(True) == "TF32 tensor cores allowed"
    assert calls == [(np.float32, 4), (np.float32, 6)]
    monkeypatch.delitem(sys.modules, "cupy._core._routines_linalg")
    monkeypatch.setitem(sys.modules, "cupy", None)
    assert "unchanged" in B.set_tf32(False)  # no CuPy: a message, never a crash
    cupy_._tf32_state.clear()


def test_context_is_a_no_op_off_cupy(backend):
    with backend.context():
        x = backend.from_host(np.ones(2), "float32")
    assert backend.owns(x)


def _fake_cuda_devices(monkeypatch, count):
    class Device:
        def __init__(self, idx=0):
            self.id = idx

        def __eq__(self, other):
            return isinstance(other, Device) and other.id == self.id

    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(Device=Device,
                                      runtime=types.SimpleNamespace(getDeviceCount=lambda: count))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    return Device


@pytest.mark.parametrize(("spec", "idx"), [(None, 0), (1, 1), ("1", 1), ("cuda:1", 1),
                                           ("cuda", 0)])
def test_cupy_device_specs(monkeypatch, spec, idx):
    """cupy:N picks device N (checked against a stand-in for two CUDA devices)."""
    Device = _fake_cuda_devices(monkeypatch, 2)
    assert B.ADAPTERS["cupy"].parse_device(None, spec) == Device(idx)


@pytest.mark.parametrize(("spec", "match"), [
    (2, r"device: CUDA device 2 does not exist \(expected 0\.\.1, 2 device\(s\) visible\)"),
    ("cuda:7", r"CUDA device 7 does not exist"),
    ("gpu", r"device: expected a CUDA device index like 0 or 'cuda:1', got 'gpu'"),
])
def test_cupy_device_that_does_not_exist(monkeypatch, spec, match):
    _fake_cuda_devices(monkeypatch, 2)
    with pytest.raises(BackendError, match=match):
        B.ADAPTERS["cupy"].parse_device(None, spec)


def test_64_bit_integers_go_to_a_device_without_them_only_when_they_fit():
    """Devices without 64-bit integers (array-api-strict's ``no_x64``; JAX without x64, which
    would wrap them silently) get row indices and labels as 32-bit integers, the values
    unchanged; values that do not fit are refused in one line, never wrapped."""
    from xprop.backend import BackendError

    if "no_x64" not in {str(d).split("'")[1] for d in array_api_strict.__array_namespace_info__()
                        .devices()}:
        pytest.skip(f"array-api-strict {array_api_strict.__version__} has no no_x64 device")
    b = xprop.resolve_backend("array_api_strict", "no_x64")
    x = b.from_host(np.array([0, 5, 2**31 - 1], dtype=np.int64))
    assert x.dtype == b.xp.int32 and xprop.to_numpy(x).tolist() == [0, 5, 2**31 - 1]
    assert b.from_host(np.array([7], dtype=np.uint64)).dtype == b.xp.uint32
    for big in (np.array([3, 2**40], dtype=np.int64), np.array([2**33], dtype=np.uint64)):
        with pytest.raises(BackendError, match="does not fit (u)?int32 on array_api_strict "
                                               r"\(device no_x64\)"):
            b.from_host(big)
    X = np.random.default_rng(0).normal(size=(9, 3))
    m = xprop.MLP([3, 4, 2], "relu", "identity", "mse", seed=1, backend=b)
    history = m.fit(X, X[:, :2], epochs=2, lr=0.1, batch_size=4)  # shuffled row indices
    assert len(history) == 2 and m.all_finite()


def test_jax_without_x64_refuses_64_bit_integers_that_would_wrap():
    """In a process where JAX runs without x64: 64-bit integer labels beyond int32 are
    refused (not wrapped), and a classifier fitted on JAX arrays still predicts its own
    64-bit labels; no dtype warning from predict."""
    pytest.importorskip("jax")
    code = """
import warnings, numpy as np, jax.numpy as jnp, xprop
from xprop.sklearn import MLPClassifier
warnings.simplefilter("error")
b = xprop.resolve_backend("jax")
try:
    b.from_host(np.array([1, 2**40], dtype=np.int64))
except xprop.BackendError as e:
    print("refused:", str(e).splitlines()[0][:60])
print(xprop.to_numpy(b.from_host(np.array([1, 2], dtype=np.int64))).tolist())
X = np.random.default_rng(0).normal(size=(40, 2)).astype(np.float32)
y = np.where(X[:, 0] > 0, 10_000_000_001, 20_000_000_002)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    clf = MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=200,
                        random_state=0).fit(jnp.asarray(X), y)
print(sorted(set(np.asarray(clf.predict(jnp.asarray(X))).tolist())))
m = xprop.MLP([2, 3, 1], "relu", "sigmoid", "bce", seed=0, backend="jax", dtype="float32")
print(xprop.to_numpy(m.predict(X[:3])).dtype.kind)
"""
    env = {k: v for k, v in __import__("os").environ.items() if k != "JAX_ENABLE_X64"}
    env["JAX_PLATFORMS"] = "cpu"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("refused: values: int64 data from 1 to 1099511627776")
    assert lines[1:] == ["[1, 2]", "[10000000001, 20000000002]", "i"]


def test_host_labels_with_fractions_are_refused_in_any_model_dtype(case):
    """Found by audit: host float64 labels were rounded to a float32 model's dtype before
    the check for fractions on every backend but NumPy (2.0000001 became class 2)."""
    m = xprop.MLP([2, 3, 3], "tanh", "softmax", "cross_entropy", seed=0,
                  backend=case.backend, dtype=case.dtype)
    X = np.zeros((3, 2))
    with pytest.raises(TypeError, match=r"^y: .* labels with fractions"):
        m.fit(X, np.array([0.0, 1.0, 2.0000001]), epochs=1)
    assert m.fit(X, np.array([0.0, 1.0, 2.0]), epochs=1).loss[0] > 0  # whole floats are labels


def test_classifiers_train_on_a_device_without_64_bit_integers():
    """Found by audit: array-api-strict's argmax makes int64 on its no_x64 device, which
    refuses it, so classifiers failed after their first chunk; the strict adapter's argmax
    gives the same decisions in int32, and the fit equals the one on its CPU device."""
    xps = pytest.importorskip("array_api_strict")
    try:
        xps.Device("no_x64")
    except ValueError:
        pytest.skip("this array-api-strict has no no_x64 device")
    X, y = xprop.datasets.moons(60, seed=0)
    results = []
    for device in ("no_x64", "CPU_DEVICE"):
        m = xprop.MLP([2, 6, 3], "relu", "softmax", "cross_entropy", seed=0, dtype="float32",
                      backend=f"array_api_strict:{device}")
        h = m.fit(X, y, epochs=3, batch_size=16, validation_split=0.25)
        pred = m.predict(X)
        results.append((h.loss, h.accuracy, h.val_accuracy, xprop.to_numpy(pred)))
    assert str(pred.dtype).endswith("int64")  # CPU_DEVICE's index dtype; no_x64's is int32
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
    rows = xps.asarray([[1.0, 3.0, 3.0], [float("nan"), 2.0, float("nan")]],
                       device=xps.Device("no_x64"))
    assert xprop.to_numpy(xprop.head.argmax_rows(rows, xps)).tolist() == [1, 0]  # as NumPy


def test_low_level_backward_checks_class_labels():
    """Found by audit: ``MLP.backward`` one-hot encoded 1-D integer labels before any check:
    one label was broadcast over every row, an out-of-range label gave a wrong gradient."""
    m = xprop.MLP([3, 4, 2], "tanh", "softmax", "cross_entropy", seed=0)
    X = m.backend.from_host(np.ones((5, 3)), m.dtype)
    _, cache = m.forward(X)
    with pytest.raises(ValueError, match=r"y: expected 5 entries \(one per row of X\)"):
        m.backward(cache, m.backend.from_host(np.array([1])))
    with pytest.raises(ValueError, match=r"y: expected class labels in \[0, 2\)"):
        m.backward(cache, m.backend.from_host(np.array([0, 1, 7, 0, 1])))
    grads = m.backward(cache, m.backend.from_host(np.array([0, 1, 1, 0, 1])))
    assert grads["W0"].shape == (3, 4)


def test_from_arrays_takes_the_widest_dtype_given():
    """Found by audit: the dtype came from ``weights[0]`` alone, so a float32 (or list) first
    weight rounded every float64 weight and bias to float32 silently."""
    w0 = np.ones((2, 3), dtype=np.float32)
    w1 = np.full((3, 1), 0.1 + 1e-12)
    b1 = np.array([1e-12])
    for first in (w0, w0.tolist()):
        m = xprop.MLP.from_arrays([first, w1], [np.zeros(3, np.float32), b1])
        assert m.dtype == np.float64
        assert xprop.to_numpy(m.parameters()["W1"])[0, 0] == 0.1 + 1e-12
    assert xprop.MLP.from_arrays([w0, w1.astype(np.float32)]).dtype == np.float32


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
def test_from_arrays_takes_python_floats_as_float64_on_every_backend():
    """Found by audit: nested lists of Python floats became the backend's default dtype
    (torch float32: 0.15 became 0.15000000596); they are float64 values, so float64 (a
    float32-only device refuses them: pass dtype="float32"), and integer lists are float64
    too where the device has it (exact to 2**53), else the device's default."""
    import torch

    m = xprop.MLP.from_arrays([[[0.15], [0.3]]], [[0.0]], backend="torch")
    assert m.dtype == torch.float64 and m.weights[0][0, 0].item() == 0.15
    assert xprop.MLP.from_arrays([[[1], [2]]], backend="torch").dtype == torch.float64
    assert xprop.MLP.from_arrays([[[1], [2]]], backend="array_api_strict:no_float64").dtype \
        == array_api_strict.float32
    assert xprop.MLP.from_arrays([[[0.15], [0.3]]], [[0.0]], backend="torch",
                                 dtype="float32").dtype == torch.float32
    with pytest.raises(xprop.BackendError, match="float64 is not supported"):
        xprop.MLP.from_arrays([[[0.15], [0.3]]], backend="array_api_strict:no_float64")


def test_array_api_versions_older_than_the_standard_xprop_uses_are_refused():
    """Found by audit: with array-api-strict set to 2023.12, relu/bce models failed deep in
    a pass (a Python scalar operand), and 2022.12 with a raw RuntimeError."""
    from xprop.backend import BackendError
    from xprop.backend.core import _make

    try:
        for version in ("2023.12", "2022.12"):
            array_api_strict.set_array_api_strict_flags(api_version=version)
            with pytest.raises(BackendError, match=f"needs the 2024.12 Array API standard, "
                                                   f"array_api_strict implements {version}"):
                _make("array_api_strict", None)
    finally:
        array_api_strict.reset_array_api_strict_flags()
    assert _make("array_api_strict", None).name == "array_api_strict"


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
def test_torch_cpu_index_autograd_and_device_advice():
    """Found by audit: a model on torch ``cpu:0`` refused every CPU tensor (its own too);
    ``forward``/``backward`` kept inputs' autograd graphs (a manual step then made the
    parameters require grad); a meta tensor (no values) is refused without advice to copy it or
    to move the model there."""
    import torch

    m = xprop.MLP([3, 4, 2], "tanh", "identity", "mse", seed=0, backend="torch",
                  device="cpu:0")
    assert m.backend.describe() == xprop.resolve_backend("torch").describe()
    assert m.predict(torch.zeros(2, 3)).shape == (2, 2)
    X = torch.ones(5, 3, dtype=m.dtype, requires_grad=True)
    out, cache = m.forward(X)
    grads = m.backward(cache, torch.zeros(5, 2, dtype=m.dtype, requires_grad=True))
    assert out.grad_fn is None and all(g.grad_fn is None for g in grads.values())
    with pytest.raises(xprop.DeviceMismatchError) as info:
        m.predict(torch.empty(3, 3, device="meta"))
    assert str(info.value) == ("X: expected an array on a device xprop computes on, got a "
                               "torch array on meta")  # no advice to copy it: it has no values
    with pytest.raises(ValueError, match=r"^expected a tensor with values, got one on torch's "):
        xprop.to_numpy(torch.empty(3, 3, device="meta"))
