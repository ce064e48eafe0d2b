"""MkDocs hook: the worked examples, one page per script in ``docs/examples/``.

Each ``docs/examples/*.py`` is a script in jupytext's percent format (``# %%`` starts a code
cell, ``# %% [markdown]`` a Markdown cell whose lines start with ``# ``). At build time every
script runs, cell by cell, in a fresh Python process in a scratch directory, as a notebook
would run it: a page ``examples/<name>.md`` shows each Markdown cell, each code cell and what
it printed, the value of its last expression (an object's ``_repr_html_``, a matplotlib
figure as a picture, else its ``repr``) and the pyplot figures it left open. A script that
fails fails the build (naming the cell). The pages are added under the nav section
"Worked examples" in file-name order, titled by each script's first Markdown heading, and
``<!-- xprop-examples -->`` on a page becomes their list: a new script needs no edit of the
configuration.

Nav entries named in ``extra.optional_pages`` of ``mkdocs.yml`` are kept only while their
page exists (a page that arrives with a later change).

Run as a script, ``python docs/hooks/examples.py SCRIPT OUT.json`` executes one example and
writes its cells' outputs as JSON (what the hook does in its subprocess).
"""

from __future__ import annotations

import ast
import base64
import importlib.util
import io
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import traceback
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

log = logging.getLogger("mkdocs.hooks.examples")
SECTION = "Worked examples"
MARKER = "<!-- xprop-examples -->"
CELL = re.compile(r"^# %%(?P<rest>.*)$")
TIMEOUT = 600  # seconds per script


# --------------------------------------------------------------------------- parsing


def cells(source: str) -> list[tuple[str, str]]:
    """``(kind, text)`` per cell: ``"markdown"`` (comment marks removed) or ``"code"``;
    jupytext's header (a ``# ---`` block at the top) and empty cells are left out."""
    lines = source.splitlines()
    if lines and lines[0].strip() == "# ---":
        end = next((i for i in range(1, len(lines)) if lines[i].strip() == "# ---"), 0)
        lines = lines[end + 1:]
    found: list[tuple[str, list[str]]] = [("code", [])]
    for line in lines:
        m = CELL.match(line)
        if m:
            rest = m["rest"]
            found.append(("markdown" if "[markdown]" in rest or "[md]" in rest else "code", []))
        else:
            found[-1][1].append(line)
    out = []
    for kind, body in found:
        if kind == "markdown":
            body = [re.sub(r"^# ?", "", line) for line in body]
        elif all(not line.strip() or line.lstrip().startswith("#") for line in body):
            continue  # comments only (such as the "# requires:" line): nothing to run
        text = "\n".join(body).strip("\n")
        if text.strip():
            out.append((kind, text))
    return out


def requires(path: Path) -> list[str]:
    """The modules a ``# requires: a b`` first line names (what tests/test_examples.py
    skips a script without)."""
    first = (path.read_text(encoding="utf-8").splitlines() or [""])[0]
    return first.removeprefix("# requires:").split() if first.startswith("# requires:") else []


def title(path: Path) -> str:
    """The script's first Markdown heading, else its name."""
    for kind, text in cells(path.read_text(encoding="utf-8")):
        if kind == "markdown":
            m = re.search(r"^#+\s+(.+)$", text, flags=re.M)
            if m:
                return m.group(1).strip()
    return path.stem.replace("_", " ")


# --------------------------------------------------------------------------- running


def _display(value: Any) -> dict[str, str] | None:
    """What a notebook shows for a cell's value."""
    if value is None:
        return None
    if hasattr(value, "savefig"):  # a matplotlib figure
        buffer = io.BytesIO()
        value.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
        return {"png": base64.b64encode(buffer.getvalue()).decode("ascii")}
    if hasattr(value, "_repr_html_"):
        return {"html": value._repr_html_()}
    return {"text": repr(value)}


def run(path: Path) -> list[list[dict[str, str]]]:
    """Run a script's code cells in this process; the outputs of each cell."""
    namespace: dict[str, Any] = {"__name__": "__main__", "__file__": str(path)}
    outputs = []
    for number, (kind, text) in enumerate(cells(path.read_text(encoding="utf-8")), 1):
        if kind != "code":
            outputs.append([])
            continue
        stream = io.StringIO()
        tree = ast.parse(text, filename=f"{path.name}, cell {number}")
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        with redirect_stdout(stream), redirect_stderr(stream):
            try:
                exec(compile(tree, f"{path.name}, cell {number}", "exec"), namespace)
                value = None if last is None else eval(
                    compile(ast.Expression(last.value), f"{path.name}, cell {number}", "eval"),
                    namespace)
            except BaseException:
                sys.__stderr__.write(f"{path.name}: cell {number} failed\n{stream.getvalue()}"
                                     f"{traceback.format_exc()}")
                raise SystemExit(1) from None
        shown = [{"text": stream.getvalue()}] if stream.getvalue() else []
        item = _display(value)
        if item is not None:
            shown.append(item)
        if "matplotlib.pyplot" in sys.modules:
            plt = sys.modules["matplotlib.pyplot"]
            for figure_number in plt.get_fignums():
                shown.append(_display(plt.figure(figure_number)))
            plt.close("all")
        outputs.append(shown)
    return outputs


def execute(path: Path) -> list[list[dict[str, str]]]:
    """Run ``path`` in a fresh process in a scratch directory (see :func:`run`)."""
    with tempfile.TemporaryDirectory(prefix="xprop-example-") as scratch:
        # pictures a script writes go to the scratch directory, not over committed files
        env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0",
               "XPROP_EXAMPLES_OUT": scratch}
        result = Path(scratch, ".outputs.json")
        done = subprocess.run([sys.executable, str(Path(__file__).resolve()), str(path.resolve()),
                               str(result)], cwd=scratch, env=env, capture_output=True,
                              text=True, timeout=TIMEOUT)
        if done.returncode != 0:
            raise RuntimeError(f"worked example {path} failed:\n{done.stderr}")
        return json.loads(result.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- pages


def page(path: Path, relative: str) -> str:
    """The Markdown page of one script, its outputs included."""
    note = [f"*Generated from `{relative}`, which ran to give the output shown "
            f"(`python {relative}` runs it).*", ""]
    missing = [m for m in requires(path) if importlib.util.find_spec(m) is None]
    source = cells(path.read_text(encoding="utf-8"))
    if missing:  # shown without its output (a warning: mkdocs build --strict fails)
        log.warning("worked example %s needs %s, which is not installed: shown without "
                    "its output", relative, ", ".join(missing))
        note = [f'!!! warning "Not run here"\n    This example needs '
                f'{", ".join(missing)}, which was not installed where this page was '
                "built: its output is not shown.", ""]
    outputs = [[] for _ in source] if missing else execute(path)
    parts = [] if source and source[0][0] == "markdown" else note
    for (kind, text), shown in zip(source, outputs, strict=True):
        if kind == "markdown":
            parts += [text, ""] + (note if not parts else [])
            continue
        parts += ["```python", text, "```", ""]
        for item in shown:
            if "text" in item:
                parts += ["```text", item["text"].rstrip("\n"), "```", ""]
            elif "html" in item:
                parts += ['<div class="xprop-output" markdown="0">', item["html"], "</div>", ""]
            else:
                parts += [f'<img alt="figure" src="data:image/png;base64,{item["png"]}">', ""]
    return "\n".join(parts)


def scripts(docs_dir: str) -> list[Path]:
    return sorted(Path(docs_dir, "examples").glob("*.py"))


def _prune(nav: list, docs_dir: str, optional: set[str]) -> list:
    """``nav`` without the entries of ``optional`` pages that do not exist."""
    kept = []
    for entry in nav:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        if isinstance(value, list):
            entry = {next(iter(entry)): _prune(value, docs_dir, optional)}
        elif value in optional and not Path(docs_dir, value).exists():
            continue
        kept.append(entry)
    return kept


def on_config(config: Any) -> Any:
    optional = set((config.extra or {}).get("optional_pages", []))
    nav = _prune(config.nav or [], config.docs_dir, optional)
    for entry in nav:
        if isinstance(entry, dict) and SECTION in entry:
            entry[SECTION] = list(entry[SECTION]) + [
                {title(p): f"examples/{p.stem}.md"} for p in scripts(config.docs_dir)]
    config.nav = nav
    return config


def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File

    for path in scripts(config.docs_dir):
        relative = f"docs/examples/{path.name}"
        files.append(File.generated(config, f"examples/{path.stem}.md",
                                    content=page(path, relative)))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if MARKER not in markdown:
        return markdown
    items = [f"- [{title(p)}]({p.stem}.md): `docs/examples/{p.name}`"
             for p in scripts(config.docs_dir)]
    return markdown.replace(MARKER, "\n".join(items))


if __name__ == "__main__":
    outputs = run(Path(sys.argv[1]).resolve())
    Path(sys.argv[2]).write_text(json.dumps(outputs), encoding="utf-8")
