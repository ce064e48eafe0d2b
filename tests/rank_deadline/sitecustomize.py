"""Imported at start-up by the processes that ``tests/test_distributed.py`` launches (this
folder leads their ``PYTHONPATH``): one still running ``XPROP_RANK_DEADLINE`` seconds after
it started prints its threads' tracebacks and exits. mpiexec starts its ranks in process
groups of their own, out of reach of the test's timeout, which kills only mpiexec: without
this a hung rank would outlive its test and slow every test after it.

Python imports one ``sitecustomize``: the one this shadows (a distribution's, coverage's)
is run after it."""

import faulthandler
import importlib.machinery
import importlib.util
import os
import sys

_deadline = os.environ.get("XPROP_RANK_DEADLINE")
if _deadline:
    faulthandler.dump_traceback_later(float(_deadline), exit=True)

_here = os.path.dirname(os.path.abspath(__file__))
_rest = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]
_spec = importlib.machinery.PathFinder.find_spec("sitecustomize", _rest)
if _spec is not None and _spec.loader is not None:
    _shadowed = importlib.util.module_from_spec(_spec)
    sys.modules["sitecustomize"] = _shadowed
    _spec.loader.exec_module(_shadowed)
