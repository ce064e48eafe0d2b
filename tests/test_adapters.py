"""The backend package: one adapter per library behind one interface, the registry, JAX."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys
import types

import array_api_compat
import array_api_strict
import numpy as np
import pytest

import xprop
from xprop import backend as B
from xprop.backend import (
    ADAPTERS,
    BACKEND_NAMES,
    Adapter,
    BackendError,
    BackendUnavailableError,
    adapter_for,
    backend_of,
    device_str,
    resolve_backend,
    to_numpy,
    use_backend,
)

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "xprop"
LIBRARY_NAMES = {"numpy", "cupy", "torch", "jax", "array_api_strict"}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    monkeypatch.delenv("XPROP_BACKEND", raising=False)


def _jax():
    return pytest.importorskip("jax")


@pytest.fixture
def x64(request):
    """Set ``jax_enable_x64`` to ``request.param`` for one test, then restore it."""
    jax = _jax()
    before = bool(jax.config.jax_enable_x64)
    jax.config.update("jax_enable_x64", request.param)
    yield request.param
    jax.config.update("jax_enable_x64", before)


# --------------------------------------------------------------------------- the registry


def test_registry_covers_every_backend_name():
    # every registered library is a backend name, but a recording one (ndonnx) only exports
    assert {n for n, a in ADAPTERS.items() if not a.records} == set(BACKEND_NAMES) - {"auto"}
    assert "jax" in BACKEND_NAMES
    for name, adapter in ADAPTERS.items():
        assert isinstance(adapter, Adapter) and adapter.name == name


def _arrays():
    """(expected adapter name, an array of that library) for every library installed here."""
    out = [("numpy", np.ones(2)), ("array_api_strict", array_api_strict.ones(2))]
    try:
        import torch

        out.append(("torch", torch.ones(2)))
    except ImportError:
        pass
    try:
        import jax.numpy as jnp

        out.append(("jax", jnp.ones(2)))
    except ImportError:
        pass
    return out


@pytest.mark.parametrize(("name", "x"), _arrays(), ids=[n for n, _ in _arrays()])
def test_every_adapter_is_identified_by_its_namespace(name, x):
    xp = array_api_compat.array_namespace(x)
    assert adapter_for(xp) is ADAPTERS[name]
    assert backend_of(x=x).name == name and backend_of(x=x).adapter is ADAPTERS[name]
    # exactly one adapter claims the namespace (jax.numpy is not numpy)
    assert [n for n, a in ADAPTERS.items() if a.is_namespace(xp)] == [name]


@pytest.mark.parametrize("name", ["numpy", "array_api_strict", "torch", "jax"])
def test_resolved_backends_use_their_adapter(name):
    if name in ("torch", "jax"):
        pytest.importorskip(name)
    b = resolve_backend(name)
    assert b.adapter is ADAPTERS[name]
    assert adapter_for(b.xp) is ADAPTERS[name]


@pytest.mark.parametrize(("name", "mutable"), [("numpy", True), ("array_api_strict", True),
                                               ("torch", True), ("jax", False)])
def test_backend_mutable(name, mutable):
    if name in ("torch", "jax"):
        pytest.importorskip(name)
    assert resolve_backend(name).mutable is mutable
    assert ADAPTERS[name].mutable is mutable


class _FakeArray:
    """An array of an Array-API library xprop has no adapter for."""

    def __init__(self, ns):
        self.ns = ns
        self.device = "fake-dev"

    def __array_namespace__(self, api_version=None):
        return self.ns


_FakeArray.__module__ = "fakearrays.core"


def test_unknown_namespaces_get_a_generic_adapter():
    ns = types.ModuleType("fakearrays")
    b = backend_of(x=_FakeArray(ns))
    assert b.name == "fakearrays" and b.device == "fake-dev" and b.xp is ns
    assert b.mutable is False
    assert b.describe() == "fakearrays (device fake-dev)"
    assert b.adapter.is_namespace(ns) and not b.adapter.is_namespace(np)


def test_device_str_for_every_kind_of_device():
    assert device_str("cpu") == "cpu"
    assert device_str(array_api_strict.Device("device1")) == "device1"
    torch = pytest.importorskip("torch")
    assert device_str(torch.device("cpu")) == "cpu"
    jax = _jax()
    assert device_str(jax.devices("cpu")[0]) == "cpu:0"


def test_backend_info_has_an_entry_per_adapter():
    info = xprop.backend_info()
    for name in ADAPTERS:
        assert name in info and "available" in info[name], name
    if info["jax"]["available"]:
        assert info["jax"]["devices"] and isinstance(info["jax"]["x64"], bool)


def test_cli_info_prints_every_adapter(capsys):
    from xprop.cli import main

    assert main(["info"]) == 0
    out = capsys.readouterr().out
    for name in ADAPTERS:
        assert f"  {name} " in out, name


def test_import_loads_no_optional_library():
    code = ("import sys, xprop\n"
            "print(sorted(m for m in ('cupy', 'torch', 'jax', 'array_api_strict') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout.strip()
    assert out == "[]"


# --------------------------------------------------------------------------- JAX


@pytest.mark.parametrize("spec", ["jax", "JAX", "jax:0"])
def test_jax_resolves_to_its_default_device(spec):
    """The first of ``jax.devices()`` (cpu:0 here; cuda:0 where JAX has a GPU)."""
    jax = _jax()
    b = resolve_backend(spec)
    assert b.name == "jax" and b.xp is jax.numpy
    assert b.describe() == f"jax (device {B.device_str(jax.devices()[0])})"
    assert resolve_backend("jax", 0) == b and resolve_backend("jax", jax.devices()[0]) == b


@pytest.mark.parametrize("spec", ["jax:cpu", "jax:cpu:0"])
def test_jax_resolves_its_cpu(spec):
    jax = _jax()
    b = resolve_backend(spec)
    assert b.describe() == "jax (device cpu:0)"
    assert resolve_backend("jax", jax.devices("cpu")[0]) == b


def test_jax_devices_that_do_not_exist():
    jax = _jax()
    with pytest.raises(BackendError, match=r"device: expected one of \[.*'cpu:0'.*got 'cpu:7'"):
        resolve_backend("jax:cpu:7")
    with pytest.raises(BackendError, match=r"device: .*got 'nonsense'"):
        resolve_backend("jax", "nonsense")
    if not any(d.platform == "gpu" for d in jax.devices()):
        with pytest.raises(BackendUnavailableError, match=r"device: jax has no gpu device"):
            resolve_backend("jax:gpu:0")


def test_jax_by_context_and_environment(monkeypatch):
    _jax()
    with use_backend("jax") as b:
        assert resolve_backend() == b and b.name == "jax"
    monkeypatch.setenv("XPROP_BACKEND", "jax")
    assert resolve_backend().name == "jax"


def test_jax_arrays_are_described_as_jax():
    jnp = _jax().numpy
    x = jnp.ones((2, 2))
    b = backend_of(x=x)
    assert b.describe() == f"jax (device {B.device_str(_jax().devices()[0])})"
    assert b == resolve_backend("jax") and b.owns(x)
    assert not resolve_backend("numpy").owns(x)


def test_jax_round_trip_is_bit_identical_in_float32():
    _jax()
    b = resolve_backend("jax")
    h = np.random.default_rng(0).standard_normal((5, 7))
    x = b.from_host(h, "float32")
    assert x.dtype == b.xp.float32 and b.owns(x)
    back = to_numpy(x)
    assert back.dtype == np.float32
    assert back.tobytes() == h.astype(np.float32).tobytes()
    assert to_numpy(x, copy=True).flags.writeable
    with b.context():
        b.synchronize(x)
    assert b.accept(x, "X") is x


@pytest.mark.parametrize("x64", [False], indirect=True)
def test_jax_float64_without_x64_is_refused_with_advice(x64):
    b = resolve_backend("jax")
    assert b.supported_float_dtypes() == ("float32",)
    advice = r'jax\.config\.update\("jax_enable_x64", True\).*JAX_ENABLE_X64=1.*float32'
    with pytest.raises(BackendError, match=r"^dtype: float64 is not supported on jax.*" + advice):
        b.dtype("float64")
    with pytest.raises(BackendError, match=r"^dtype: float64 data cannot go to jax.*" + advice):
        b.from_host(np.ones(3))
    with pytest.raises(BackendError, match=r"^dtype: float64 .*" + advice) as e:
        xprop.MLP([2, 1], backend="jax", dtype="float64")
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("x64", [True], indirect=True)
def test_jax_float64_with_x64(x64):
    b = resolve_backend("jax")
    assert b.supported_float_dtypes() == ("float32", "float64")  # read now, not cached
    h = np.random.default_rng(1).standard_normal((3, 4))
    x = b.from_host(h)
    assert x.dtype == b.dtype("float64")
    assert to_numpy(x).tobytes() == h.tobytes()


@pytest.mark.parametrize("x64", [False], indirect=True)
def test_jax_from_host_checks_the_dtype_it_got(x64, monkeypatch):
    """Defence in depth: if the dtype check were fooled, the silent downcast is still caught."""
    b = resolve_backend("jax")
    monkeypatch.setattr(type(b.adapter), "supported_float_dtypes",
                        lambda self, xp, device: ("float32", "float64"))
    with pytest.raises(BackendError, match=r"dtype: float64 data became float32 on jax"):
        b.from_host(np.ones(3))


def test_jax_to_other_backends_and_back():
    _jax()
    h = np.arange(6, dtype=np.float32).reshape(2, 3)
    x = xprop.to_backend(h, "jax")
    y = xprop.to_backend(x, "array_api_strict", "device1")
    np.testing.assert_array_equal(to_numpy(y), h)
    np.testing.assert_array_equal(to_numpy(xprop.to_backend(y, "jax")), h)


# --------------------------------------------------------------------------- no name chains


def _name_comparisons(path: pathlib.Path) -> list[str]:
    """Comparisons (``==``, ``in``, ``match``/``case``) against a backend-name string literal."""
    tree = ast.parse(path.read_text(), filename=str(path))

    def named(node):
        items = node.elts if isinstance(node, (ast.Tuple, ast.List, ast.Set)) else [node]
        return [c.value for c in items if isinstance(c, ast.Constant)
                and isinstance(c.value, str) and c.value.strip().lower() in LIBRARY_NAMES]

    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for operand in (node.left, *node.comparators):
                found += [f"line {node.lineno}: compares with {v!r}" for v in named(operand)]
        elif isinstance(node, ast.MatchValue):
            found += [f"line {node.lineno}: case {v!r}" for v in named(node.value)]
    return found


def test_the_name_checker_catches_chains(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f(b, x):\n    if b.name == 'cupy':\n        return 1\n"
                   "    if x in ('torch', 'jax'):\n        return 2\n"
                   "    match b:\n        case 'numpy':\n            return 3\n"
                   "    return resolve_backend('numpy')\n")
    assert len(_name_comparisons(bad)) == 4


def test_only_the_backend_package_compares_backend_names():
    modules = [p for p in PACKAGE.rglob("*.py") if "backend" not in p.relative_to(PACKAGE).parts]
    assert modules
    found = {str(p.relative_to(PACKAGE)): v for p in modules if (v := _name_comparisons(p))}
    assert found == {}


PUBLIC_NAMES = [
    "BACKEND_NAMES", "ENV_VAR", "FLOAT_DTYPES", "CUDA_INSTALL_HINT", "TF32_ENV", "Backend",
    "BackendError", "BackendUnavailableError", "DeviceMismatchError", "ProbeResult",
    "backend_info", "backend_of", "probe_cupy", "resolve_backend", "set_tf32", "to_backend",
    "to_numpy", "use_backend", "dtype_name", "fast_namespace", "is_array", "is_host_data",
    # new with the package
    "ADAPTERS", "Adapter", "GenericAdapter", "adapter_for", "device_str",
]


def test_every_public_name_is_importable_from_the_package():
    for name in PUBLIC_NAMES:
        assert hasattr(B, name), name
    assert set(B.__all__) <= set(dir(B))
    b = resolve_backend()
    assert b.adapter is ADAPTERS["numpy"] and b.synchronize() is None


# ------------------------------------------------------------------- CUDA-only code, on fakes


def test_torch_cuda_without_an_index_names_the_current_device(monkeypatch):
    """``torch:cuda`` resolves to ``cuda:N`` (N the current device, 0 before CUDA starts, found
    without starting it): tensors report their index, and ``device('cuda') !=
    device('cuda:0')`` would refuse the model's own arrays."""
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    adapter = B.ADAPTERS["torch"]

    def no_init():
        raise AssertionError("asking for the current device initialises CUDA")

    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)
    monkeypatch.setattr(torch.cuda, "current_device", no_init)
    assert adapter.parse_device(None, "cuda") == torch.device("cuda", 0)  # CUDA's default
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
    assert adapter.parse_device(None, "cuda") == torch.device("cuda", 1)
    assert adapter.parse_device(None, "cuda:0") == torch.device("cuda", 0)
    assert adapter.parse_device(None, None) == torch.device("cpu")


def test_cupy_without_nccl_reduces_on_the_host(monkeypatch):
    """``cupy.cuda.nccl`` imports without NCCL (``available`` False): the device all-reduce
    is then None (the host MPI reduce), before any rank waits for a unique id."""
    nccl = types.ModuleType("cupy.cuda.nccl")
    nccl.available = False
    cuda = types.ModuleType("cupy.cuda")
    cuda.nccl = nccl
    cupy = types.ModuleType("cupy")
    cupy.cuda = cuda
    for name, module in (("cupy", cupy), ("cupy.cuda", cuda), ("cupy.cuda.nccl", nccl)):
        monkeypatch.setitem(sys.modules, name, module)

    class NoComm:
        def __getattr__(self, name):
            raise AssertionError(f"the communicator was used: {name}")

    assert B.ADAPTERS["cupy"].device_allreduce(NoComm(), None) is None


def test_entry_points_run_with_the_model_device_current(monkeypatch):
    """xprop.fit (not only MLP.fit) enters the backend's device context (CuPy device N)."""
    import contextlib

    entered = []

    @contextlib.contextmanager
    def context(self, device):
        entered.append(device)
        yield

    monkeypatch.setattr(type(B.ADAPTERS["numpy"]), "context", context)
    m = xprop.MLP([2, 3, 1], "tanh", "sigmoid", "bce", seed=0)
    xprop.fit(m, np.zeros((4, 2)), np.array([0, 1, 1, 0]), epochs=1)
    assert entered == ["cpu"]
