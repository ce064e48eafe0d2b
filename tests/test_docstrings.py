"""Docstrings as reference: every public function, class and method of the public API has a
numpydoc docstring with a one-line summary, a Parameters section naming exactly the
signature's parameters, a Returns (or Yields) section when it returns something, a Raises
section naming every exception it raises itself, and an Examples section with ``>>>`` lines
(run as doctests by ``tests/test_doctests.py``). Properties are attributes: a one-line
summary. The public API is what ``xprop/__init__.py`` exports, the ``__all__`` of the public
modules and the scikit-learn estimators.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import importlib
import importlib.util
import inspect
import re
import textwrap
from typing import Any

import pytest

import xprop

PUBLIC_MODULES = ["xprop.network", "xprop.head", "xprop.params", "xprop.activations",
                  "xprop.losses", "xprop.gradcheck", "xprop.datasets", "xprop.optimizers",
                  "xprop.checkpoint"]
HAS_SKLEARN = importlib.util.find_spec("sklearn") is not None


def _is_code(obj: Any) -> bool:
    """A class or a function (also one wrapped by a decorator such as ``lru_cache``)."""
    return inspect.isclass(obj) or inspect.isfunction(inspect.unwrap(obj)) if callable(obj) \
        else False


def _own(module: Any, name: str) -> Any:
    obj = getattr(module, name)
    return obj if getattr(obj, "__module__", None) == module.__name__ else None


def public_objects() -> dict[str, Any]:
    """Qualified name -> public function or class (data such as ``LOSSES`` left out)."""
    found: dict[str, Any] = {}
    for name in xprop.__all__:
        obj = getattr(xprop, name)
        if _is_code(obj):
            found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    modules = [importlib.import_module(m) for m in PUBLIC_MODULES]
    if HAS_SKLEARN:
        modules.append(importlib.import_module("xprop.sklearn"))
    for module in modules:
        for name in module.__all__:
            obj = _own(module, name)
            if _is_code(obj):
                found[f"{module.__name__}.{name}"] = obj
    return found


def _xprop_classes(cls: type) -> list[type]:
    """``cls`` and the private xprop classes it inherits from (public bases are checked on
    their own)."""
    return [c for c in cls.__mro__ if c is cls or (
        c.__module__.startswith("xprop") and c.__name__.startswith("_"))]


def _documented_above(owner: type, name: str) -> bool:
    """Whether a base class of ``owner`` defines ``name`` with a docstring."""
    return any(getattr(vars(base).get(name), "__doc__", None) for base in owner.__mro__[1:])


def members() -> dict[str, Any]:
    """Every public function, class, method and property to check, by qualified name."""
    out: dict[str, Any] = {}
    for qual, obj in public_objects().items():
        out[qual] = obj
        if not inspect.isclass(obj):
            continue
        for owner in _xprop_classes(obj):
            for name, value in vars(owner).items():
                if name.startswith("_") and name != "__call__":
                    continue
                if getattr(value, "__doc__", None) is None and _documented_above(owner, name):
                    continue  # an override: documented where it is defined (as help() shows)
                if isinstance(value, (classmethod, staticmethod)):
                    value = value.__func__
                if inspect.isfunction(getattr(value, "fn", None)):  # scikit-learn's available_if
                    value = value.fn
                if isinstance(value, property) or inspect.isfunction(value):
                    out.setdefault(f"{qual}.{name}", value)
    return out


MEMBERS = members()

SECTION = re.compile(r"^(\w[\w ]*)\n-{3,}$", flags=re.M)


def sections(doc: str) -> dict[str, str]:
    """numpydoc sections by title (the text before the first is ``""``)."""
    doc = inspect.cleandoc(doc)
    found, last, title = {}, 0, ""
    for m in SECTION.finditer(doc):
        found[title] = doc[last:m.start()]
        title, last = m.group(1), m.end()
    found[title] = doc[last:]
    return found


def documented_names(text: str) -> list[str]:
    """The names a Parameters section documents (``a, b : type`` documents two)."""
    names = []
    for line in text.splitlines():
        if line and not line[0].isspace():
            head = line.split(" : ")[0].strip()
            names += [n.strip() for n in head.split(",")]
    return names


def signature_names(obj: Any) -> list[str]:
    """The parameters a caller passes (``*args``/``**kwargs`` keep their stars)."""
    if inspect.isclass(obj):
        if dataclasses.is_dataclass(obj):
            return [f.name for f in dataclasses.fields(obj) if f.init]
        obj = _own_init(obj)
        if obj is None:
            return []
    sig = inspect.signature(inspect.unwrap(obj))
    names = []
    for p in sig.parameters.values():
        if p.name in ("self", "cls"):
            continue
        star = {p.VAR_POSITIONAL: "*", p.VAR_KEYWORD: "**"}.get(p.kind, "")
        names.append(star + p.name)
    return names


def _own_init(cls: type) -> Any:
    """The ``__init__`` an xprop class defines or inherits from another xprop class (None for
    one inherited from outside, e.g. an exception's)."""
    for c in cls.__mro__:
        if "__init__" in vars(c):
            return vars(c)["__init__"] if c.__module__.startswith("xprop") else None
    return None


def _returns_something(func: Any) -> bool:
    """Annotated to return something other than None, or (unannotated) a ``return value``."""
    func = inspect.unwrap(func)
    ann = inspect.signature(func).return_annotation
    if ann is not inspect.Signature.empty:
        return ann not in (None, "None")
    tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    return any(isinstance(node, ast.Return) and node.value is not None
               for node in ast.walk(tree.body[0]))


def raised_here(func: Any) -> set[str]:
    """Names of the exception classes ``func``'s own code raises (``raise E(...)``)."""
    func = inspect.unwrap(func)
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    except (OSError, TypeError):
        return set()
    names = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Raise) or node.exc is None:
            continue
        exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        if isinstance(exc, ast.Attribute) and isinstance(exc.value, ast.Name):
            name = exc.attr
            value = getattr(func.__globals__.get(exc.value.id), name, None)
        elif isinstance(exc, ast.Name):
            name = exc.id
            value = func.__globals__.get(name, getattr(builtins, name, None))
        else:
            continue
        if inspect.isclass(value) and issubclass(value, BaseException):
            names.add(name)
    return names


def problems(qual: str, obj: Any) -> list[str]:
    doc = obj.__doc__ if not isinstance(obj, property) else (obj.fget.__doc__ or "")
    if not doc or not doc.strip():
        return ["no docstring"]
    parts = sections(doc)
    summary = parts[""].strip().split("\n\n")[0]
    found = []
    if "\n" in summary or not summary.endswith("."):
        found.append(f"summary is not one line ending with a period: {summary[:60]!r}")
    if isinstance(obj, property):
        return found
    expected = signature_names(obj)
    if expected:
        if "Parameters" not in parts:
            found.append(f"no Parameters section (expected {expected})")
        elif sorted(documented_names(parts["Parameters"])) != sorted(expected):
            found.append(f"Parameters document {documented_names(parts['Parameters'])}, "
                         f"the signature has {expected}")
    if not inspect.isclass(obj) and _returns_something(obj) and not (
            "Returns" in parts or "Yields" in parts):
        found.append("no Returns section")
    code = obj
    if inspect.isclass(obj):  # what runs when one is made
        code = vars(obj).get("__post_init__") if dataclasses.is_dataclass(obj) \
            else _own_init(obj)
    raised = raised_here(code) if code is not None else set()
    if raised:
        listed = documented_names(parts.get("Raises", ""))
        missing = sorted(raised - set(listed))
        if missing:
            found.append(f"Raises does not name {missing}")
    if ">>>" not in parts.get("Examples", ""):
        found.append("no Examples section with >>> lines")
    return found


def test_the_public_api_is_found():
    assert "xprop.mlp.MLP.fit" in MEMBERS and "xprop.network.backward" in MEMBERS
    assert len(MEMBERS) > 100


@pytest.mark.parametrize("qual", sorted(MEMBERS))
def test_docstring_is_a_reference(qual):
    assert problems(qual, MEMBERS[qual]) == []


def test_the_checker_finds_what_is_missing():
    def bare(x: int) -> int:
        """Add one
        to x."""
        if x < 0:
            raise ValueError("x")
        return x + 1

    found = problems("bare", bare)
    assert any("summary" in p for p in found)
    assert any("Parameters" in p for p in found)
    assert any("Returns" in p for p in found)
    assert any("Raises" in p and "ValueError" in p for p in found)
    assert any("Examples" in p for p in found)
