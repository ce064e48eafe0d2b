"""A griffe extension for the documentation site: the Sphinx roles of xprop's docstrings
(``:class:`~xprop.params.Params```, ``:func:`fit```, ``:meth:`assign```, ...) become
cross-references to the API reference, a paragraph ending in ``::`` before an indented
block (reST's literal block) ends in ``:`` (Markdown shows the block as code anyway), and a
doctest paragraph outside the Examples section (``>>>`` lines in a module's description)
is fenced as code, so Markdown never reads ``x[0, 0]`` as a link.

A role's target is resolved in the scope of the object whose docstring holds it, as Python
would look the name up there; the link is *optional*: a target the site does not document
(a private helper, another library) stays plain code instead of failing the build.

A class docstring completed at import (``xprop.sklearn``'s estimators: their shared
Parameters and Attributes entries are written once and filled in by a class decorator at
the ``{parameters}`` and ``{attributes}`` lines) is read from the imported class.
"""

from __future__ import annotations

import html
import importlib
import inspect
import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|exc|obj):"
                  r"`(?P<tilde>~)?(?P<target>[\w.]+)`")
LITERAL = re.compile(r"(?<=\S)::\n(?=[ \t]*\n)")
SECTION = re.compile(r"^\w[\w ]*\n-{3,}$", flags=re.M)  # a numpydoc section's title


def _canonical(root: griffe.Object, path: str) -> str:
    """``path`` (``xprop.MLP.to``) through the package's aliases (``xprop.mlp.MLP.to``)."""
    parts = path.split(".")
    if parts[0] != root.name:
        return path
    obj = root
    for i, part in enumerate(parts[1:], 1):
        member = obj.members.get(part)
        if member is None:
            return ".".join([obj.path, *parts[i:]])
        try:
            obj = member.final_target if member.is_alias else member
        except (griffe.AliasResolutionError, griffe.CyclicAliasError):
            return path
    return obj.path


def _resolve(obj: griffe.Object, target: str) -> str | None:
    """The full path of ``target`` seen from ``obj`` (None when it cannot be resolved)."""
    if target.split(".")[0] == obj.package.name:
        return _canonical(obj.package, target)
    head, _, rest = target.partition(".")
    try:
        path = obj.resolve(head)
    except (griffe.NameResolutionError, ValueError, KeyError, AttributeError):
        return None
    return _canonical(obj.package, f"{path}.{rest}" if rest else path)


def convert(text: str, obj: griffe.Object) -> str:
    """``text`` with its roles as optional cross-references and ``::`` as ``:``."""
    def link(m: re.Match) -> str:
        target = m["target"]
        title = target.rsplit(".", 1)[-1] if m["tilde"] else target
        path = _resolve(obj, target)
        code = f"<code>{html.escape(title)}</code>"
        if path is None:
            return code
        return f'<autoref identifier="{html.escape(path)}" optional>{code}</autoref>'

    text = LITERAL.sub(":\n", ROLE.sub(link, text))
    first = SECTION.search(text)
    head, rest = (text[:first.start()], text[first.start():]) if first else (text, "")
    paragraphs = [f"```pycon\n{p.rstrip()}\n```" if p.lstrip().startswith(">>>") else p
                  for p in head.split("\n\n")]
    return "\n\n".join(paragraphs) + rest


def _walk(obj: griffe.Object) -> Any:
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from _walk(member)


FILLED_AT_IMPORT = re.compile(r"^\{(parameters|attributes)\}$", flags=re.M)


def _imported_doc(obj: griffe.Object) -> str | None:
    """The docstring of the imported class behind ``obj`` (None when it cannot be imported)."""
    try:
        module = importlib.import_module(obj.module.path)
        return inspect.cleandoc(getattr(module, obj.name).__doc__)
    except (ImportError, AttributeError, TypeError):
        return None


class SphinxRoles(griffe.Extension):
    """Convert the docstrings of a package once it is loaded (every name is known then)."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        for obj in _walk(pkg):
            if obj.docstring is None:
                continue
            if obj.is_class and FILLED_AT_IMPORT.search(obj.docstring.value):
                obj.docstring.value = _imported_doc(obj) or obj.docstring.value
            obj.docstring.value = convert(obj.docstring.value, obj)
