"""`xprop train` on digits beside scikit-learn's MLPClassifier, same settings, same process.

    python scripts/bench_digits.py [--epochs 50] [--backend numpy]

Both get the same standardised 80/20 split (stratified, seed 0), one hidden layer of 128 ReLU
units, Adam (lr 1e-3), batch 64 and the same number of epochs; scikit-learn with alpha=0 (no L2,
as xprop's CLI) and early stopping off, its tolerance disabled so it runs every epoch. Prints
time per epoch and test accuracy of both (medians over --repeats runs).
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

from xprop import MLP, datasets


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--backend", default="numpy")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    from sklearn import __version__ as skv
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    X, y = datasets.digits()
    Xtr, Xte, ytr, yte = datasets.train_test_split(X, y, 0.2, seed=0, stratify=True)
    sc = datasets.Standardizer().fit(Xtr)
    Xtr, Xte = sc.transform(Xtr), sc.transform(Xte)
    print(f"digits: {len(ytr)} train / {len(yte)} test; 64-128-10 relu/softmax, adam lr 1e-3, "
          f"batch 64, {args.epochs} epochs; scikit-learn {skv}")
    rows = {"xprop": [], "sklearn": []}
    for seed in range(args.repeats):
        m = MLP([64, 128, 10], "relu", "softmax", "cross_entropy", seed=seed,
                dtype=args.dtype, backend=args.backend)
        t0 = time.perf_counter()
        m.fit(Xtr, ytr, optimizer="adam", lr=1e-3, epochs=args.epochs, batch_size=64, seed=seed)
        dt = time.perf_counter() - t0
        rows["xprop"].append((dt / args.epochs, m.accuracy(Xte, yte)))
        clf = MLPClassifier((128,), activation="relu", solver="adam", learning_rate_init=1e-3,
                            batch_size=64, max_iter=args.epochs, alpha=0.0, tol=0.0,
                            n_iter_no_change=10**9, shuffle=True, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            t0 = time.perf_counter()
            clf.fit(Xtr, ytr)
            dt = time.perf_counter() - t0
        rows["sklearn"].append((dt / clf.n_iter_, clf.score(Xte, yte)))
    for name, r in rows.items():
        per = statistics.median(t for t, _ in r)
        accs = [a for _, a in r]
        print(f"{name:<8} {per * 1e3:7.2f} ms/epoch  test accuracy median "
              f"{statistics.median(accs):.4f} (runs: {', '.join(f'{a:.4f}' for a in accs)})")
    ratio = statistics.median(t for t, _ in rows["sklearn"]) / statistics.median(
        t for t, _ in rows["xprop"])
    print(f"xprop epoch speed vs scikit-learn: {ratio:.2f}x")


if __name__ == "__main__":
    main()
