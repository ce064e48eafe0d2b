"""The worked examples under docs/examples run as scripts and assert the numbers their prose
quotes (jupytext percent format: the same files open as notebooks)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "docs" / "examples").glob("*.py"))


def _requires(script: Path) -> list[str]:
    first = script.read_text().splitlines()[0]
    return first.removeprefix("# requires:").split() if first.startswith("# requires:") else []


def test_there_are_examples():
    assert len(EXAMPLES) >= 6


@pytest.mark.slow  # seconds each, in a subprocess; the docs build runs them too
@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs_and_its_numbers_hold(script, tmp_path):
    for module in _requires(script):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{script.name} needs {module}, which is not installed")
    env = {**os.environ, "XPROP_EXAMPLES_OUT": str(tmp_path), "MPLBACKEND": "Agg",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(script.parents[2]),
                                                       os.environ.get("PYTHONPATH")]))}
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=300, cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    assert run.stdout.strip(), "an example shows its output"
