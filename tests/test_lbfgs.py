"""xprop.lbfgs against SciPy's L-BFGS-B on the same problems, on every backend."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from tests.helpers import host
from xprop.lbfgs import minimize_lbfgs

scipy_optimize = pytest.importorskip("scipy.optimize")


def _rosen_start(n):
    x0 = np.full(n, -1.2)
    x0[1::2] = 1.0
    return x0


@pytest.mark.parametrize("n", [2, 10, 40])
def test_rosenbrock_as_scipy_solves_it(n):
    def fg(x):
        return float(scipy_optimize.rosen(x)), scipy_optimize.rosen_der(x)

    x0 = _rosen_start(n)
    ours = minimize_lbfgs(fg, x0, xp=np, max_iter=3000, gtol=1e-8)
    ref = scipy_optimize.minimize(fg, x0, jac=True, method="L-BFGS-B",
                                  options={"maxiter": 3000, "gtol": 1e-8})
    assert ours.converged and ref.success
    np.testing.assert_allclose(ours.x, ref.x, atol=1e-4)
    np.testing.assert_allclose(ours.x, 1.0, atol=1e-4)
    assert ours.fun < 1e-8
    assert ours.n_iter <= 1.3 * ref.nit + 5  # about as many iterations as SciPy


def test_limits_stop_it_with_the_reason():
    def fg(x):
        return float(scipy_optimize.rosen(x)), scipy_optimize.rosen_der(x)

    few = minimize_lbfgs(fg, _rosen_start(10), xp=np, max_iter=5)
    assert not few.converged and few.n_iter == 5 and "ITERATIONS" in few.message
    cheap = minimize_lbfgs(fg, _rosen_start(10), xp=np, max_fun=7)
    assert not cheap.converged and cheap.n_fev <= 7 and "EVALUATIONS" in cheap.message


def test_a_quadratic_on_every_backend(case64):
    """f(x) = 1/2 x.A x - b.x with A symmetric positive definite: the minimizer solves
    A x = b; the iterates stay in the backend's namespace and on its device."""
    xp, be = case64.xp, case64.backend
    rng = np.random.default_rng(0)
    M = rng.standard_normal((12, 12))
    A_h = M @ M.T + 12 * np.eye(12)
    b_h = rng.standard_normal(12)
    A, b = be.from_host(A_h), be.from_host(b_h)

    def fg(x):
        Ax = A @ x
        return float(0.5 * xp.sum(x * Ax) - xp.sum(b * x)), Ax - b

    res = minimize_lbfgs(fg, xp.zeros(12, dtype=A.dtype, device=be.device), xp=xp, gtol=1e-7,
                         ftol=0.0)  # only the gradient test stops it
    assert res.converged
    assert be.owns(res.x)
    np.testing.assert_allclose(host(res.x), np.linalg.solve(A_h, b_h), rtol=1e-6, atol=1e-8)
    ref = scipy_optimize.minimize(lambda x: (0.5 * x @ A_h @ x - b_h @ x, A_h @ x - b_h),
                                  np.zeros(12), jac=True, method="L-BFGS-B",
                                  options={"gtol": 1e-7, "ftol": 0.0})
    np.testing.assert_allclose(host(res.x), ref.x, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", ["iris", "digits"])
def test_the_estimators_lbfgs_follows_scikit_learns(name):
    """scikit-learn calls SciPy's L-BFGS-B: the same first step (1/||g||_2, uncapped: iris's
    gradient norm is below 1, so a cap at 1 made the first iterate differ by 6% in the loss)
    and the same stopping rules give the same iterates here."""
    sk = pytest.importorskip("sklearn.neural_network")
    from sklearn import datasets as skd
    from sklearn.preprocessing import StandardScaler

    from xprop.sklearn import MLPClassifier

    X, y = getattr(skd, f"load_{name}")(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    for max_iter, loss_rtol, coef_rtol in ((20, 1e-8, 1e-6), (50, 1e-8, 1e-6)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = sk.MLPClassifier(solver="lbfgs", max_iter=max_iter, random_state=1).fit(X, y)
            got = MLPClassifier(solver="lbfgs", max_iter=max_iter, random_state=1).fit(X, y)
        assert got.n_iter_ == ref.n_iter_
        assert got.loss_ == pytest.approx(ref.loss_, rel=loss_rtol)
        for a, b in zip(got.coefs_, ref.coefs_, strict=True):
            assert np.max(np.abs(a - b)) <= coef_rtol * np.max(np.abs(b))
