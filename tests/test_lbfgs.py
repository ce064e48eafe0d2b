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


def _rosen(x):
    return float(scipy_optimize.rosen(x)), scipy_optimize.rosen_der(x)


def _scipy(fg, x0, **options):
    return scipy_optimize.minimize(fg, x0, jac=True, method="L-BFGS-B", options=options)


@pytest.mark.parametrize("n", [2, 10, 40])
def test_rosenbrock_iterates_follow_scipys(n):
    """The same line search, first step, pair-skipping and stopping rules: after k iterations
    the iterate agrees with SciPy's to rounding (the valley amplifies it: 1e-12 at 20), with
    the same counts. (Before the Moré-Thuente search, 20 iterations differed by 0.24-2.6.)"""
    x0 = _rosen_start(n)
    for k, rtol in ((1, 1e-14), (5, 1e-14), (10, 1e-14), (20, 1e-10), (30, 1e-8)):
        ours, ref = minimize_lbfgs(_rosen, x0, xp=np, max_iter=k), _scipy(_rosen, x0, maxiter=k)
        assert (ours.n_iter, ours.n_fev, ours.status) == (ref.nit, ref.nfev, ref.status), k
        np.testing.assert_allclose(ours.x, ref.x, rtol=rtol, atol=rtol, err_msg=f"k={k}")
    ours = minimize_lbfgs(_rosen, x0, xp=np, max_iter=3000, gtol=1e-8)
    ref = _scipy(_rosen, x0, maxiter=3000, gtol=1e-8)
    assert ours.converged and ref.success
    np.testing.assert_allclose(ours.x, 1.0, atol=1e-4)
    assert abs(ours.n_iter - ref.nit) <= 2


def test_limits_stop_it_with_scipys_counts_and_status():
    x0 = _rosen_start(10)
    few = minimize_lbfgs(_rosen, x0, xp=np, max_iter=5)
    assert (few.status, few.n_iter) == (1, 5) and not few.converged
    assert "ITERATIONS" in few.message
    # max_fun is tested after each iteration, as SciPy does: the search in progress finishes
    for max_fun in (1, 7, 20):
        cheap, ref = (minimize_lbfgs(_rosen, x0, xp=np, max_fun=max_fun),
                      _scipy(_rosen, x0, maxfun=max_fun))
        assert (cheap.n_iter, cheap.n_fev, cheap.status) == (ref.nit, ref.nfev, ref.status)
        assert cheap.n_fev > max_fun and "EVALUATIONS" in cheap.message
        np.testing.assert_allclose(cheap.x, ref.x, rtol=1e-12, atol=1e-14)


def test_a_failed_line_search_ends_as_scipys_abnormal():
    """A gradient of the wrong sign: every search along "-g" climbs; after max_ls trials
    with no pairs to drop, the run ends at x0 (status 2) with SciPy's count (a trial repeated
    at the same point is not evaluated again)."""
    def wrong(x):
        return float(np.sum(x * x)), -2 * x

    x0 = np.linspace(-1, 1, 5)
    ours, ref = minimize_lbfgs(wrong, x0, xp=np), _scipy(wrong, x0)
    assert (ours.status, ours.n_iter, ours.n_fev) == (ref.status, ref.nit, ref.nfev) == (2, 0, 18)
    assert not ours.converged and "ABNORMAL" in ours.message
    np.testing.assert_array_equal(ours.x, x0)


def _phi_cases():
    """1-D functions along which a line search runs (phi'(0) < 0): Moré and Thuente's first
    two test functions, a quadratic, a steep exponential, a rough one."""
    beta2 = 0.004
    return {
        "mt1": (lambda a: -a / (a * a + 2.0), lambda a: (a * a - 2.0) / (a * a + 2.0) ** 2),
        "mt2": (lambda a: (a + beta2) ** 5 - 2 * (a + beta2) ** 4,
                lambda a: 5 * (a + beta2) ** 4 - 8 * (a + beta2) ** 3),
        "quadratic": (lambda a: (a - 3.0) ** 2, lambda a: 2 * (a - 3.0)),
        "exp": (lambda a: np.exp(5 * a) - 20 * a, lambda a: 5 * np.exp(5 * a) - 20),
        "rough": (lambda a: (a - 1) ** 2 + 0.02 * np.sin(40 * a + 1),
                  lambda a: 2 * (a - 1) + 0.8 * np.cos(40 * a + 1)),
    }


@pytest.mark.parametrize("name", sorted(_phi_cases()))
@pytest.mark.parametrize("step", [1e-3, 0.1, 1.0, 10.0, 1e3])
@pytest.mark.parametrize("tols", [(1e-3, 0.9, 0.1), (1e-3, 0.1, 0.1), (1e-4, 0.01, 1e-6)])
def test_the_line_search_tries_minpacks_steps(name, step, tols):
    """Trial by trial, the steps MINPACK-2's dcsrch proposes (SciPy's Python translation of
    it, when this SciPy has one), and the same outcome."""
    dcsrch = pytest.importorskip("scipy.optimize._dcsrch")
    from xprop.linesearch import MoreThuente

    phi, dphi = _phi_cases()[name]
    if not dphi(0.0) < 0:
        pytest.skip("not a descent direction at 0")
    ftol, gtol, xtol = tols
    theirs = []
    ref = dcsrch.DCSRCH(lambda a: theirs.append(a) or phi(a), dphi, ftol, gtol, xtol, 0.0,
                        1e10)
    ref_step, _, _, ref_task = ref(step, phi(0.0), dphi(0.0), maxiter=30)
    search, ours, stop = MoreThuente(float(phi(0.0)), float(dphi(0.0)), step, ftol=ftol, gtol=gtol,
                                     xtol=xtol), [], None
    for _ in range(30):
        ours.append(search.step)
        stop = search.update(float(phi(search.step)), float(dphi(search.step)))
        if stop is not None:
            break
    if ref_step is None and not np.isfinite(phi(theirs[-1])):
        # SciPy's Python translation gives up at a non-finite value; MINPACK's code (and the
        # C inside L-BFGS-B) goes back to the best step, here 0, and stops there
        assert ours[:-1] == theirs and ours[-1] == 0.0 and stop.startswith("WARNING")
        return
    np.testing.assert_allclose(ours, theirs, rtol=1e-13)
    assert stop.split(":")[0] == ref_task.decode().split(":")[0]
    if stop == "CONVERGENCE":
        assert ref_step == pytest.approx(search.step, rel=1e-13)
        f, g, f0, g0 = phi(search.step), dphi(search.step), phi(0.0), dphi(0.0)
        assert f <= f0 + ftol * search.step * g0 and abs(g) <= gtol * -g0


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


@pytest.mark.parametrize("name", ["iris", "digits", "wine", "breast_cancer"])
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
    for max_iter, loss_rtol, coef_rtol in ((20, 1e-8, 1e-6), (50, 1e-8, 1e-6), (200, 1e-7, 1e-6)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = sk.MLPClassifier(solver="lbfgs", max_iter=max_iter, random_state=1).fit(X, y)
            got = MLPClassifier(solver="lbfgs", max_iter=max_iter, random_state=1).fit(X, y)
        assert got.n_iter_ == ref.n_iter_
        assert got.loss_ == pytest.approx(ref.loss_, rel=loss_rtol)
        for a, b in zip(got.coefs_, ref.coefs_, strict=True):
            assert np.max(np.abs(a - b)) <= coef_rtol * np.max(np.abs(b))
