"""scikit-learn's own MLP tests on xprop's estimators: the installed scikit-learn's
``neural_network/tests/test_mlp.py``, copied at test time with its one import line swapped to
``xprop.sklearn``, run in a subprocess (no vendored copy). Only the tests of scikit-learn's
private internals may fail (they call ``_forward_pass``/``_backprop``/``_loss_grad_lbfgs``,
which xprop's estimators do not have: their math is xprop's core)."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

IMPORT = "from sklearn.neural_network import MLPClassifier, MLPRegressor"
#: tests of scikit-learn's private methods, and why they cannot pass
PRIVATE = {"test_fit": "sets coefs_ by hand and calls _forward_pass/_backprop",
           "test_gradient": "calls _loss_grad_lbfgs"}
#: failing for a reason xprop has not fixed yet (each one an open issue): none now
KNOWN: dict[str, str] = {}
CONFTEST = '''
import os
import pytest

@pytest.fixture
def global_random_seed():
    """scikit-learn's fixture (its conftest.py): SKLEARN_TESTS_GLOBAL_RANDOM_SEED or 42."""
    return int(os.environ.get("SKLEARN_TESTS_GLOBAL_RANDOM_SEED", "42").split("-")[0])
'''


def test_scikit_learns_own_mlp_tests_pass_on_xprop(tmp_path, record_property):
    sklearn = pytest.importorskip("sklearn")
    source = Path(sklearn.__file__).parent / "neural_network" / "tests" / "test_mlp.py"
    if not source.is_file():
        pytest.skip(f"scikit-learn {sklearn.__version__} was installed without its tests")
    text = source.read_text()
    assert text.count(IMPORT) == 1, "scikit-learn's import line moved: update IMPORT"
    (tmp_path / "test_peer_mlp.py").write_text(
        text.replace(IMPORT, "from xprop.sklearn import MLPClassifier, MLPRegressor"))
    (tmp_path / "conftest.py").write_text(CONFTEST)
    report = tmp_path / "report.xml"
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        f"--junitxml={report}", "test_peer_mlp.py"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=600)
    cases = ET.parse(report).getroot().iter("testcase")
    outcome = {}
    for case in cases:
        kinds = {child.tag for child in case}
        outcome[case.get("name")] = ("failed" if kinds & {"failure", "error"} else
                                     "skipped" if "skipped" in kinds else "passed")
    failed = sorted(name for name, o in outcome.items() if o == "failed")
    passed = sum(o == "passed" for o in outcome.values())
    record_property("summary", f"scikit-learn {sklearn.__version__}'s test_mlp.py on xprop: "
                    f"{passed} passed, {len(failed)} failed, "
                    f"{len(outcome) - passed - len(failed)} skipped of {len(outcome)}; "
                    f"failed: {', '.join(failed) or 'none'}")
    unexpected = [name for name in failed if name not in PRIVATE and name not in KNOWN]
    assert not unexpected, r.stdout[-3000:]
    # two of them need pandas (a test dependency: they skip only where it is missing)
    skipped_for_pandas = 0 if _has_pandas() else 2
    assert passed >= len(outcome) - len(PRIVATE) - len(KNOWN) - skipped_for_pandas


def _has_pandas() -> bool:
    try:
        import pandas  # noqa: F401
    except ImportError:
        return False
    return True
