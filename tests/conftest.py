"""The test matrix: every backend x device x dtype that can run here.

``backend_dtype`` (and ``backend``) parametrise a test over NumPy, array-api-strict on its
default device, on ``device1`` (a stand-in for a non-host device: any missing ``device=`` fails
there) and on ``no_float64`` (float32 only), PyTorch and JAX (immutable arrays; x64 switched on
here) when installed, and PyTorch on ``cuda`` and CuPy when a CUDA device really works (marker
``cuda``). Unusable backends are skipped with the reason; with ``XPROP_REQUIRE_CUDA=1`` an
unusable CuPy or torch CUDA fails the test instead.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass

import pytest

import xprop
from xprop.backend import Backend, BackendError, BackendUnavailableError, resolve_backend

HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_JAX = importlib.util.find_spec("jax") is not None
if HAS_JAX:  # float64 on JAX needs x64 switched on before any array is made; on a GPU, true
    # float32 dots (JAX's default there is TF32-like) and memory left for CuPy and torch
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    import jax

    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_default_matmul_precision", "highest")
REQUIRE_CUDA = os.environ.get("XPROP_REQUIRE_CUDA", "") not in ("", "0")

BACKEND_SPECS = [
    pytest.param(("numpy", None), id="numpy"),
    pytest.param(("array_api_strict", None), id="strict"),
    pytest.param(("array_api_strict", "device1"), id="strict-device1"),
    pytest.param(("array_api_strict", "no_float64"), id="strict-no_float64"),
    pytest.param(("torch", "cpu"), id="torch",
                 marks=pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")),
    pytest.param(("jax", None), id="jax",
                 marks=pytest.mark.skipif(not HAS_JAX, reason="jax is not installed")),
    pytest.param(("torch", "cuda"), id="torch-cuda", marks=[pytest.mark.cuda, pytest.mark.skipif(
        not HAS_TORCH, reason="torch is not installed")]),
    pytest.param(("cupy", None), id="cupy", marks=pytest.mark.cuda),
]


def make_backend(name: str, device: str | None) -> Backend:
    if name == "cupy":
        probe = xprop.probe_cupy()
        if not probe.usable:
            if REQUIRE_CUDA:
                pytest.fail(f"XPROP_REQUIRE_CUDA=1 but CuPy is unusable: {probe.reason}")
            pytest.skip(f"CuPy is unusable: {probe.reason}")
    if device == "cuda":
        try:
            return resolve_backend(name, device)
        except (BackendError, BackendUnavailableError) as e:  # no CUDA device or CUDA build
            if REQUIRE_CUDA:
                pytest.fail(f"XPROP_REQUIRE_CUDA=1 but {name} has no CUDA device: {e}")
            pytest.skip(f"{name} has no CUDA device: {e}")
    return resolve_backend(name, device)


@dataclass(frozen=True)
class Case:
    """One cell of the matrix: a backend and a dtype name it supports."""

    backend: Backend
    dtype: str

    @property
    def xp(self):
        return self.backend.xp

    @property
    def id(self) -> str:
        return f"{self.backend.describe()} {self.dtype}"


def _cases(dtypes):
    """(backend spec, dtype) pairs, leaving out float64 on devices that lack it."""
    out = []
    for spec in BACKEND_SPECS:
        name, device = spec.values[0]
        for dt in dtypes:
            if device == "no_float64" and dt == "float64":
                continue
            out.append(pytest.param((name, device, dt), id=f"{spec.id}-{dt}", marks=spec.marks))
    return out


@pytest.fixture(params=BACKEND_SPECS)
def backend(request) -> Backend:
    return make_backend(*request.param)


@pytest.fixture(params=_cases(["float32", "float64"]))
def case(request) -> Case:
    name, device, dt = request.param
    return Case(make_backend(name, device), dt)


@pytest.fixture(params=_cases(["float64"]))
def case64(request) -> Case:
    """float64 on every backend that has it (gradient checks, exact parity)."""
    name, device, dt = request.param
    return Case(make_backend(name, device), dt)


def pytest_terminal_summary(terminalreporter):
    """One line per reason tests were skipped (instead of one per test), and the results that
    tests report with ``record_property("summary", line)`` (the peer-suite count)."""
    lines = [value for key in ("passed", "failed") for rep in terminalreporter.stats.get(key, [])
             for name, value in getattr(rep, "user_properties", ()) if name == "summary"]
    if lines:
        terminalreporter.section("results reported by tests")
        for line in lines:
            terminalreporter.write_line(line)
    skipped = terminalreporter.stats.get("skipped", [])
    reasons: dict[str, int] = {}
    for rep in skipped:
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        reason = reason.removeprefix("Skipped: ")
        reasons[reason] = reasons.get(reason, 0) + 1
    if reasons:
        terminalreporter.section("skipped tests, by reason")
        for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1]):
            terminalreporter.write_line(f"{count:5d} skipped: {reason}")
