"""The docstrings' Examples run as doctests: once on NumPy, and once more with array-api-strict
as the default backend (``XPROP_BACKEND=array_api_strict``), so every example that makes a
model makes it there too and must print the same. Each example starts from
``import numpy as np`` and ``import xprop`` only (what the API reference says examples
assume), never from the module's own globals.
"""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import pkgutil

import numpy as np
import pytest

import xprop

OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
NEEDS = {"xprop.sklearn": "sklearn", "xprop.distributed": "mpi4py", "xprop.compiled": "jax",
         "xprop.plots": "matplotlib", "xprop.export": "ndonnx"}
#: examples of these methods need a package their module does not (ONNX export: ndonnx)
NEEDS_BY_NAME = {"export_onnx": "ndonnx"}


def _modules() -> list[str]:
    names = ["xprop"] + [m.name for m in pkgutil.walk_packages(xprop.__path__, "xprop.")]
    return [n for n in names if n not in NEEDS or importlib.util.find_spec(NEEDS[n])]


def _examples() -> dict[str, doctest.DocTest]:
    """Every docstring with ``>>>`` lines in xprop's modules, by qualified name."""
    finder = doctest.DocTestFinder(exclude_empty=True)
    found = {}
    for name in _modules():
        module = importlib.import_module(name)
        for test in finder.find(module, name, globs={}):
            if test.examples:
                found[test.name] = test
    return found


EXAMPLES = _examples()


def test_examples_are_found():
    assert len(EXAMPLES) > 100, sorted(EXAMPLES)


@pytest.mark.parametrize("backend", ["numpy", "array_api_strict"])
@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_runs(name, backend, monkeypatch, tmp_path):
    for method, package in NEEDS_BY_NAME.items():
        if name.endswith("." + method):
            pytest.importorskip(package)
    if backend == "array_api_strict":
        pytest.importorskip("array_api_strict")
        monkeypatch.setenv("XPROP_BACKEND", "array_api_strict")
    else:
        monkeypatch.delenv("XPROP_BACKEND", raising=False)
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    test = EXAMPLES[name]
    test.globs = {"np": np, "xprop": xprop}
    runner = doctest.DocTestRunner(optionflags=OPTIONS)
    out: list[str] = []
    result = runner.run(test, out=out.append, clear_globs=True)
    assert result.failed == 0, "".join(out)
    assert result.attempted == len(test.examples)
