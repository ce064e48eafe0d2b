"""Imported at start-up by the processes that ``tests/test_distributed.py`` launches (this
folder leads their ``PYTHONPATH``): one still running ``XPROP_RANK_DEADLINE`` seconds after
it started prints its threads' tracebacks and exits. mpiexec starts its ranks in process
groups of their own, out of reach of the test's timeout, which kills only mpiexec: without
this a hung rank would outlive its test and slow every test after it."""

import faulthandler
import os

_deadline = os.environ.get("XPROP_RANK_DEADLINE")
if _deadline:
    faulthandler.dump_traceback_later(float(_deadline), exit=True)
