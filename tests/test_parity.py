"""Device parity: one model, one seed, one gradient check give the same numbers everywhere.

For every backend x device x dtype of the matrix (tests/conftest.py) and the full grid of
models, every hidden activation x every loss x depth 1-4 x bias on/off (xprop.parity.grid,
320 models), the initial weights are bit-identical to NumPy's, and the forward output, loss,
every gradient and the parameters after 20 SGD steps agree with the NumPy float64 reference
within the dtype-keyed tolerances of xprop.tolerances; the gradient check passes and its report
agrees with NumPy's report of the same model. ``scripts/parity_report.py`` writes the same
comparison as a table.
"""

from __future__ import annotations

import numpy as np
import pytest

import xprop
from xprop import parity as P

pytestmark = pytest.mark.parity  # -m "cuda or parity": the GPU check (scripts/gpu_check.py)
SPECS = P.grid(full=True)


def test_grid_covers_every_option():
    assert {s.activation for s in SPECS} == set(P.HIDDEN)
    assert {s.loss for s in SPECS} == set(P.LOSSES)
    assert {s.depth for s in SPECS} == {1, 2, 3, 4}
    assert {s.bias for s in SPECS} == {True, False}
    full = P.grid(full=True)
    assert len(full) == len(P.HIDDEN) * len(P.LOSSES) * 4 * 2


@pytest.mark.slow  # about 15 s per backend/dtype cell on 2 cores; -m "not slow" skips it
def test_parity_with_numpy_float64(case):
    failures = []
    for spec in SPECS:
        result = P.run_case(spec, case.backend, case.dtype)
        for quantity, row in P.compare(result, P.reference(spec), case.dtype, spec).items():
            if not row["passed"]:
                failures.append(f"{spec.name}: {quantity} max_rel {row['max_rel']:.2e} "
                                f"(tol {row['tol']:.1e})")
    assert not failures, f"{case.id}: {len(failures)} mismatches\n" + "\n".join(failures[:20])


REPEAT_SPECS = [s for s in SPECS if s.depth == 3][::16]


def test_same_backend_twice_is_bit_identical(case):
    """CPU backends promise bit-identical reruns; CuPy's cuBLAS does too for the same GPU and
    shapes (no atomics in GEMM or in the CUB reductions used here), so no tolerance is taken."""
    for spec in REPEAT_SPECS:
        a = P.run_case(spec, case.backend, case.dtype, n_checks=1)
        b = P.run_case(spec, case.backend, case.dtype, n_checks=1)
        for key in ("output", "grads", "trained"):
            for x, y in zip(a[key] if isinstance(a[key], list) else [a[key]],
                            b[key] if isinstance(b[key], list) else [b[key]]):
                np.testing.assert_array_equal(x, y, err_msg=f"{spec.name} {key}")
        assert a["loss"] == b["loss"]


@pytest.mark.parametrize("spec", [s for s in SPECS if s.depth == 2][:3], ids=lambda s: s.name)
def test_model_to_another_backend_keeps_every_value(backend, spec):
    import xprop

    dtype = backend.supported_float_dtypes()[0]
    m = xprop.MLP(spec.sizes, spec.activation, "identity", "mse", bias=spec.bias, seed=3,
                  dtype=dtype)
    moved = m.to(backend)
    assert all(backend.owns(p) for p in moved.params.values())
    assert backend.owns(moved.params.buffer)
    back = moved.to("numpy")
    for a, b in zip(m.to_numpy_parameters().values(), back.to_numpy_parameters().values()):
        np.testing.assert_array_equal(a, b)


def test_compare_fails_nan_results():
    spec = SPECS[0]
    ref = P.reference(spec)
    bad = dict(ref, output=ref["output"] * np.nan, loss=float("nan"),
               grads=[g * np.nan for g in ref["grads"]])
    rows = P.compare(bad, ref, "float64", spec)
    for q in ("output", "loss", "gradients"):
        assert not rows[q]["passed"] and rows[q]["max_rel"] == float("inf")


def test_tolerances_take_dtype_objects_and_refuse_other_dtypes():
    """``np.float64`` (the type) is float64, not float32's looser tolerance; dtypes without
    a tolerance are refused, never given float32's."""
    from xprop.tolerances import parity_atol, parity_rtol

    assert parity_rtol(np.float64) == parity_rtol("float64") == 1e-12
    assert parity_atol(np.dtype("float64")) == parity_atol("float64")
    assert parity_rtol(np.float32, 100) == parity_rtol("float32", 100)
    for bad in ("f8", "Float64", "float16", None):
        with pytest.raises(xprop.BackendError, match="dtype: expected one of"):
            parity_rtol(bad)
        with pytest.raises(xprop.BackendError, match="dtype: expected one of"):
            parity_atol(bad)
