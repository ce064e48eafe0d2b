"""The documentation site's generators (docs/hooks): the CLI reference names every command
and option the parser has, the worked-example pages follow jupytext's percent format, and the
exports table covers ``xprop.__all__``. ``mkdocs build --strict`` in CI builds the site."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import pytest

import xprop
from xprop.cli import build_parser

HOOKS = Path(__file__).resolve().parents[1] / "docs" / "hooks"


def _hook(name: str):
    spec = importlib.util.spec_from_file_location(f"xprop_docs_{name}", HOOKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


reference = _hook("reference")
examples = _hook("examples")


def test_the_cli_reference_names_every_command_and_option():
    parser = build_parser()
    text = reference.cli_reference(parser)
    commands = reference._commands(parser)
    assert {name for name, _, _ in commands} >= {"demo", "train", "gradcheck", "info",
                                                  "predict", "evaluate"}
    for name, _, sub in commands:
        assert f"## `xprop {name}`" in text
        assert sub.format_usage().split()[2] in text  # the usage line, e.g. "[-h]"
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            for flag in action.option_strings:
                assert f"`{flag}`" in text, (name, flag)


def test_the_cli_reference_expands_defaults_in_help():
    text = reference.cli_reference(build_parser())
    assert "%(default)s" not in text
    assert "(default spirals)" in text  # xprop train --data's help, expanded


def test_the_exports_table_has_a_row_per_export():
    table = reference.exports_table()
    for name in xprop.__all__:
        assert f"`xprop.{name}`" in table
    assert "[`xprop.MLP`][xprop.mlp.MLP]" in table
    assert ":class:" not in table  # Sphinx roles become code in summaries


SCRIPT = '''# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---
# requires: numpy
# %% [markdown]
# # A title
#
# Some *prose*.

# %%
x = 1 + 1
print(x)
x

# %%
# only a comment

# %% [markdown]
# The end.
'''


def test_percent_format_cells(tmp_path):
    cells = examples.cells(SCRIPT)
    assert cells == [("markdown", "# A title\n\nSome *prose*."),
                     ("code", "x = 1 + 1\nprint(x)\nx"),
                     ("markdown", "The end.")]
    script = tmp_path / "demo.py"
    script.write_text(SCRIPT)
    assert examples.title(script) == "A title"
    assert examples.requires(script) == []  # "# requires:" must be the first line
    script.write_text("# requires: numpy mpi4py\n" + SCRIPT)
    assert examples.requires(script) == ["numpy", "mpi4py"]


def test_a_script_runs_cell_by_cell_with_its_outputs(tmp_path):
    script = tmp_path / "demo.py"
    script.write_text(SCRIPT)
    outputs = examples.execute(script)
    assert outputs == [[], [{"text": "2\n"}, {"text": "2"}], []]


def test_a_failing_script_names_its_cell(tmp_path):
    script = tmp_path / "bad.py"
    script.write_text("# %%\nx = 1\n\n# %%\nraise ValueError('planted')\n")
    with pytest.raises(RuntimeError, match=r"bad.py: cell 2 failed[\s\S]*planted"):
        examples.execute(script)
