"""xprop.sklearn against scikit-learn's own MLP estimators: the same parameters, the same data,
fit time interleaved in one process (medians), and how far the fitted models differ.

    python scripts/bench_sklearn.py [--rounds 5] [--backend numpy]

1. digits (1797 x 64, scaled to [0, 1]): MLPClassifier((128,)), adam, batch 64, 50 epochs
   (tol=0 so both run every epoch).
2. a regression job: make_regression(4000 x 20, 3 targets), MLPRegressor((64, 64)), adam,
   batch "auto" (200), 50 epochs.

Ratios are xprop's fit time / scikit-learn's (lower is better). With the same random_state
both draw the same initial weights and shuffles, so on the numpy backend the fitted
coefficients agree to float64 rounding (printed).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
import warnings

import numpy as np
import sklearn
from sklearn import neural_network as sk
from sklearn.datasets import load_digits, make_regression
from sklearn.exceptions import ConvergenceWarning

import xprop
from xprop import sklearn as xs


def timed(make, X, y, rounds):
    times, est = [], None
    for _ in range(rounds):
        est = make()
        t0 = time.perf_counter()
        est.fit(X, y)
        times.append(time.perf_counter() - t0)
    return times, est


def compare(name, ours, theirs, X, y, rounds, epochs):
    t_ours, t_theirs = [], []
    for _ in range(rounds):  # interleaved
        a, fitted_ours = timed(ours, X, y, 1)
        b, fitted_theirs = timed(theirs, X, y, 1)
        t_ours += a
        t_theirs += b
    mo, mt = statistics.median(t_ours), statistics.median(t_theirs)
    diff = max(float(np.max(np.abs(xprop.to_numpy(p) - q)))
               for p, q in zip(fitted_ours.coefs_, fitted_theirs.coefs_))
    print(f"{name}: xprop {mo * 1e3 / epochs:.2f} ms/epoch, scikit-learn {mt * 1e3 / epochs:.2f} "
          f"ms/epoch; RATIO xprop / scikit-learn: {mo / mt:.2f}; max |coef difference| "
          f"{diff:.1e}; scores {fitted_ours.score(X, y):.4f} / {fitted_theirs.score(X, y):.4f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--backend", default="numpy")
    args = ap.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    print(f"python {platform.python_version()}, numpy {np.__version__}, scikit-learn "
          f"{sklearn.__version__}, xprop {xprop.__version__}, backend {args.backend}")
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    kw = dict(hidden_layer_sizes=(128,), batch_size=64, max_iter=50, tol=0.0, random_state=0)
    compare("digits MLPClassifier", lambda: xs.MLPClassifier(**kw, backend=args.backend),
            lambda: sk.MLPClassifier(**kw), X, y, args.rounds, 50)
    X, y = make_regression(4000, 20, n_targets=3, noise=5.0, random_state=0)
    y = y / np.std(y)
    kw = dict(hidden_layer_sizes=(64, 64), max_iter=50, tol=0.0, random_state=0)
    compare("regression MLPRegressor", lambda: xs.MLPRegressor(**kw, backend=args.backend),
            lambda: sk.MLPRegressor(**kw), X, y, args.rounds, 50)


if __name__ == "__main__":
    main()
