"""`xprop train --data digits` (the CLI, run in this process) beside scikit-learn's
MLPClassifier with the same layers, optimizer, batch size and epochs.

    python scripts/bench_digits.py [--repeats 3] [--backend numpy]

Both get the split and standardisation the CLI makes (stratified 80/20, seed = run index,
statistics of the training part): one hidden layer of 128 ReLU units, Adam (lr 1e-3), batch 64,
50 epochs (the CLI defaults for digits). scikit-learn runs with alpha=0 (no L2, as the CLI) and
its early-stopping tolerance disabled so it trains all 50 epochs. Prints time per epoch (the
training loop only) and test accuracy of both, medians over the runs; also ``model.fit``
itself (float32) on NumPy and JAX (compiled epochs; issue 12's target: fit at <= 0.4x
scikit-learn's time per epoch at equal accuracy).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import statistics
import time
import warnings

from xprop import cli, datasets
from xprop.config import FitConfig

EPOCHS = 50


def run_cli(seed: int, backend: str) -> tuple[float, float, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(["train", "--data", "digits", "--quiet", "--seed", str(seed),
                         "--backend", backend])
    if code:
        raise SystemExit(f"xprop train failed with exit code {code}")
    done = next(line for line in out.getvalue().splitlines() if line.startswith("done:"))
    per_epoch = float(done.split("(")[1].split(" ms/epoch")[0]) / 1e3
    accuracy = float(done.split("test accuracy")[1])
    return per_epoch, accuracy, done


def run_sklearn(seed: int) -> tuple[float, float]:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    X, y = datasets.digits()
    Xtr, Xte, ytr, yte = datasets.train_test_split(X, y, 0.2, seed=seed, stratify=True)
    sc = datasets.Standardizer().fit(Xtr)
    clf = MLPClassifier((128,), activation="relu", solver="adam", learning_rate_init=1e-3,
                        batch_size=64, max_iter=EPOCHS, alpha=0.0, tol=0.0,
                        n_iter_no_change=10**9, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t0 = time.perf_counter()
        clf.fit(sc.transform(Xtr), ytr)
        dt = time.perf_counter() - t0
    return dt / clf.n_iter_, clf.score(sc.transform(Xte), yte)


def run_fit(seed: int, backend: str) -> tuple[float, float]:
    """``model.fit`` itself (no CLI callbacks, so JAX compiles whole epochs), float32, on the
    CLI's split and standardisation; time per epoch of the fit call (a first fit of the same
    shapes compiled beforehand on JAX) and test accuracy."""
    import xprop

    X, y = datasets.digits()
    Xtr, Xte, ytr, yte = datasets.train_test_split(X, y, 0.2, seed=seed, stratify=True)
    sc = datasets.Standardizer().fit(Xtr)
    Xtr, Xte = sc.transform(Xtr), sc.transform(Xte)

    def model():
        return xprop.MLP([64, 128, 10], "relu", "softmax", "cross_entropy", dtype="float32",
                         seed=seed, backend=backend)

    if backend.startswith("jax"):
        model().fit(Xtr, ytr, optimizer="adam", lr=1e-3, epochs=EPOCHS, batch_size=64,
                    config=FitConfig(seed=seed))  # compiles: later fits of these shapes reuse it
    m = model()
    t0 = time.perf_counter()
    m.fit(Xtr, ytr, optimizer="adam", lr=1e-3, epochs=EPOCHS, batch_size=64,
          config=FitConfig(seed=seed))
    dt = time.perf_counter() - t0
    return dt / EPOCHS, m.accuracy(Xte, yte)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="numpy")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--fit-backends", default="numpy,jax",
                    help="backends whose model.fit is timed too (comma-separated; missing ones "
                    "are skipped)")
    args = ap.parse_args()
    import sklearn

    print(f"digits (1797 x 64), 64-128-10 relu/softmax, adam lr 1e-3, batch 64, {EPOCHS} epochs; "
          f"scikit-learn {sklearn.__version__}; xprop train --backend {args.backend}")
    rows: dict[str, list[tuple[float, float]]] = {"xprop train": [], "sklearn": []}
    fit_backends = []
    for name in filter(None, args.fit_backends.split(",")):
        try:
            importlib.import_module(name.split(":")[0])
        except ImportError:
            print(f"  ({name} is not installed: no fit row)")
            continue
        fit_backends.append(name)
        rows[f"fit {name}"] = []
    for seed in range(args.repeats):
        per, acc, done = run_cli(seed, args.backend)
        print(f"  run {seed}: {done}")
        rows["xprop train"].append((per, acc))
        rows["sklearn"].append(run_sklearn(seed))
        for name in fit_backends:
            rows[f"fit {name}"].append(run_fit(seed, name))
    for name, r in rows.items():
        per = statistics.median(t for t, _ in r)
        accs = [a for _, a in r]
        print(f"{name:<12} {per * 1e3:7.2f} ms/epoch  test accuracy median "
              f"{statistics.median(accs):.4f} (runs: {', '.join(f'{a:.4f}' for a in accs)})")
    sk = statistics.median(t for t, _ in rows["sklearn"])
    for name, r in rows.items():
        if name != "sklearn":
            per = statistics.median(t for t, _ in r)
            print(f"RATIO {name}: time per epoch / scikit-learn's = {per / sk:.2f} "
                  f"(speed {sk / per:.2f}x)")


if __name__ == "__main__":
    main()
