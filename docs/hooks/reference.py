"""MkDocs hook: reference text generated from the code at build time, never copied by hand.

A page holding ``<!-- xprop-cli -->`` gets the command-line reference, walked from
:func:`xprop.cli.build_parser` (every command with its usage and options, defaults and
help as argparse has them); ``<!-- xprop-exports -->`` gets the table of what
``import xprop`` exports, each linked to its entry in the API reference.
"""

from __future__ import annotations

import argparse
import inspect
import re
from typing import Any

WIDTH = 88  # usage lines are wrapped at this width (argparse would follow the terminal)
ROLE = re.compile(r":(?:py:)?\w+:`~?(?:[\w]+\.)*(?P<name>\w+)`")


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    head, *body = rows
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in body]
    return lines


def _default(action: argparse.Action) -> str:
    if action.default in (None, argparse.SUPPRESS) or (
            action.nargs == 0 and action.default is False):
        return ""
    return f"`{action.default}`"


def _option(action: argparse.Action, parser: argparse.ArgumentParser) -> tuple[str, ...]:
    """One row: flags (with the value's name or choices), default, help."""
    flags = ", ".join(f"`{s}`" for s in action.option_strings) or f"`{action.dest}`"
    if action.nargs != 0 and not isinstance(action, argparse.BooleanOptionalAction):
        if action.choices is not None:
            value = "{" + ",".join(map(str, action.choices)) + "}"
        else:
            value = action.metavar or action.dest.upper()
        flags += f" `{value}`"
    formatter = parser._get_formatter()  # noqa: SLF001 (argparse's own %(default)s expansion)
    text = formatter._expand_help(action) if action.help else ""  # noqa: SLF001
    if action.required:
        text = f"required. {text}".strip()
    return flags, _default(action), text


def _commands(parser: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    """``(name, one-line help, parser)`` of each sub-command, in the parser's order."""
    for action in parser._actions:  # noqa: SLF001
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            helps = {a.dest: a.help or "" for a in action._choices_actions}  # noqa: SLF001
            return [(name, helps.get(name, ""), sub) for name, sub in action.choices.items()]
    return []


def _command(title: str, summary: str, parser: argparse.ArgumentParser) -> list[str]:
    parser.formatter_class = lambda prog: argparse.HelpFormatter(prog, width=WIDTH)
    lines = [f"## `{title}`", ""]
    if summary:
        lines += [summary[0].upper() + summary[1:] + ".", ""]
    if parser.description:
        lines += [parser.description, ""]
    lines += ["```text", parser.format_usage().strip(), "```", ""]
    rows = [_option(a, parser) for a in parser._actions  # noqa: SLF001
            if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))]  # noqa: SLF001
    if rows:
        lines += [*_table([("option", "default", "description"), *rows]), ""]
    return lines


def cli_reference(parser: argparse.ArgumentParser) -> str:
    """Markdown for the whole command line: the program, then each command."""
    lines = _command(parser.prog, "", parser)
    commands = _commands(parser)
    if commands:
        lines += ["Commands:", ""]
        lines += [f"- [`{parser.prog} {name}`](#{parser.prog}-{name}): {text}"
                  for name, text, _ in commands] + [""]
    for name, text, sub in commands:
        lines += _command(f"{parser.prog} {name}", text, sub)
    return "\n".join(lines)


def _kind(obj: Any) -> str:
    if inspect.isclass(obj):
        return "exception" if issubclass(obj, BaseException) else "class"
    return "function" if callable(obj) else "data"


def exports_table() -> str:
    """Markdown table of ``xprop.__all__``: name, kind, where it is defined, summary."""
    import xprop

    rows = [("name", "kind", "summary")]
    for name in xprop.__all__:
        obj = getattr(xprop, name)
        if callable(obj):
            target = f"{obj.__module__}.{obj.__qualname__}"
            summary = (inspect.getdoc(obj) or "").split("\n\n")[0].replace("\n", " ")
            summary = ROLE.sub(lambda m: f"`{m['name']}`", summary)  # Sphinx roles: code
            rows.append((f"[`xprop.{name}`][{target}]", _kind(obj), summary))
        elif name == "__version__":
            rows.append(("`xprop.__version__`", "data", "The installed version."))
        else:
            module = _defined_in(name)
            rows.append((f"[`xprop.{name}`][{module}.{name}]", "data",
                         f"Defined in `{module}`."))
    return "\n".join(_table(rows))


def _defined_in(name: str) -> str:
    """The public module whose ``__all__`` holds data ``name`` (e.g. ``LOSSES``)."""
    import importlib

    for module in ("xprop.activations", "xprop.losses", "xprop.datasets", "xprop.checkpoint"):
        if name in importlib.import_module(module).__all__:
            return module
    raise LookupError(f"xprop.{name}: not in the __all__ of a documented module")


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if "<!-- xprop-cli -->" in markdown:
        from xprop.cli import build_parser

        markdown = markdown.replace("<!-- xprop-cli -->", cli_reference(build_parser()))
    if "<!-- xprop-exports -->" in markdown:
        markdown = markdown.replace("<!-- xprop-exports -->", exports_table())
    return markdown
