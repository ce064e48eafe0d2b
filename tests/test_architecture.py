"""The math is written once: math modules import no array library and name no backend."""

from __future__ import annotations

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "xprop"
MATH_MODULES = ["activations", "losses", "params", "head", "network", "mlp", "gradcheck",
                "optimizers", "train", "validation", "tolerances"]
ARRAY_LIBRARIES = {"numpy", "cupy", "cupyx", "torch", "jax", "array_api_strict", "dask"}
BACKEND_NAMES = ARRAY_LIBRARIES | {"cuda", "cpu", "gpu"}


def _violations(path: pathlib.Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in ARRAY_LIBRARIES:
                    found.append(f"line {node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] in ARRAY_LIBRARIES:
                found.append(f"line {node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value.strip().lower() in BACKEND_NAMES:
                found.append(f"line {node.lineno}: names backend {node.value!r}")
        elif isinstance(node, ast.Name) and node.id in BACKEND_NAMES:
            found.append(f"line {node.lineno}: uses name {node.id!r}")
        elif isinstance(node, ast.Attribute) and node.attr in BACKEND_NAMES:
            found.append(f"line {node.lineno}: uses attribute .{node.attr}")
    return found


@pytest.mark.parametrize("module", MATH_MODULES)
def test_math_module_is_backend_free(module):
    path = PACKAGE / f"{module}.py"
    assert path.exists(), path
    assert _violations(path) == []


def test_the_checker_catches_violations(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import numpy as np\nfrom cupy import asarray\n"
                   "def f(b):\n    if b == 'cupy':\n        return torch.ones(1)\n")
    found = _violations(bad)
    assert len(found) == 4, found


def test_only_the_host_modules_import_numpy():
    importing = set()
    for path in PACKAGE.glob("*.py"):
        if any("import numpy" in v or "from numpy" in v for v in _violations(path)):
            importing.add(path.stem)
    # distributed: MPI's buffer API reduces host (NumPy) buffers; tracing: a trace holds host
    # copies of the pass's arrays, for display
    assert importing <= {"backend", "init", "datasets", "checkpoint", "cli", "plots", "sklearn",
                         "distributed", "tracing"}
