"""The README's Python snippets run as written (in a scratch directory)."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_python_snippets():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_snippet_runs(tmp_path, index):
    pytest.importorskip("array_api_strict")
    if "export_onnx" in BLOCKS[index]:  # the ONNX snippet: pip install "xprop[onnx]"
        for module in ("onnx", "onnxruntime", "ndonnx"):
            pytest.importorskip(module)
    script = tmp_path / "snippet.py"
    script.write_text(BLOCKS[index])
    r = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    if "xprop.gradcheck" in BLOCKS[index]:
        assert "verdict: PASSED" in r.stdout, r.stdout
