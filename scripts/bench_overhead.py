"""What `fit` costs on top of the arithmetic: xprop's training loop against hand-written NumPy
loops doing the same updates, interleaved in one process (medians of per-epoch times).

    python scripts/bench_overhead.py [--rounds 7] [--quick]

1. 2-4-1 XOR (tanh, sigmoid + BCE), full-batch gradient descent (SGD lr 0.5), float64, 2000
   epochs: ``model.fit`` against a hand-written loop (forward, fused backward, four in-place
   updates per epoch; the overflow-free sigmoid xprop uses) and the same loop that also records
   the epoch's loss (what ``fit``'s history holds). Target of issue 7: fit <= 1.2x the loop.
2. Digits-sized 64-128-10 (ReLU, softmax + cross-entropy), Adam lr 1e-3, batch 64, float32,
   shuffled every epoch, 1797 samples of random data: ``model.fit`` against a hand-written loop
   (per-epoch permutation and gather, forward, backward, Adam per parameter array). Target:
   fit <= 1.1x the loop.

3. The same digits-sized fit with ``validation_split=0.1`` on JAX (validation runs inside the
   compiled chunks) against NumPy. Target of issue 18: JAX >= 2x faster per epoch. Shown for
   fits of 10 epochs (a fit's fixed cost, about 3 ms on JAX, shared by its epochs) and for
   the marginal epoch (fits of 40 epochs against fits of 10).
4. ``xprop train --data spirals`` (the CLI's whole run: data, model, 200 epochs of Adam,
   progress, evaluation) on ``--backend jax`` against ``--backend numpy``, in this process
   after one JAX run that compiles. Target of issue 18: JAX no slower than NumPy.

``fit`` keeps its history, divergence check and snapshot; the ratios are xprop time / loop time
(lower is better). With JAX installed, both models also train through ``fit`` on JAX, whose
epochs are compiled (issue 12 targets: XOR >= 10x faster per epoch than the hand-written NumPy
loop, digits >= 2x faster than NumPy ``fit``); their first fit's compilation is printed apart.
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import time

import numpy as np

import xprop


def per_epoch(fn, epochs: int) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) / epochs


def interleave(fns: dict, rounds: int, epochs: int) -> dict[str, float]:
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            times[name].append(per_epoch(fn, epochs))
    return {k: statistics.median(v) for k, v in times.items()}


# --------------------------------------------------------------------------- XOR


def xor_loop(params: list[np.ndarray], X: np.ndarray, Y: np.ndarray, lr: float, epochs: int,
             record_loss: bool) -> list[float]:
    W0, b0, W1, b1 = params
    losses = []
    for _ in range(epochs):
        z0 = X @ W0
        z0 += b0
        a0 = np.tanh(z0)
        z1 = a0 @ W1
        z1 += b1
        e = np.exp(-np.abs(z1))
        r = 1.0 / (1.0 + e)
        a1 = np.where(z1 >= 0, r, e * r)
        if record_loss:
            losses.append(float(np.sum(np.maximum(z1, 0.0) - z1 * Y + np.log1p(e)) / Y.size))
        dz1 = (a1 - Y) * (1.0 / Y.size)
        g2 = a0.T @ dz1
        g3 = dz1.sum(axis=0)
        dz0 = (dz1 @ W1.T) * (1.0 - a0 * a0)
        g0 = X.T @ dz0
        g1 = dz0.sum(axis=0)
        W0 -= lr * g0
        b0 -= lr * g1
        W1 -= lr * g2
        b1 -= lr * g3
    return losses


def bench_xor(rounds: int, epochs: int) -> dict[str, float]:
    X, y = xprop.datasets.xor()
    Y = y.astype(np.float64)[:, None]
    lr = 0.5

    def fresh():
        return xprop.MLP([2, 4, 1], "tanh", "sigmoid", "bce", seed=1)

    start = [p.copy() for p in fresh().to_numpy_parameters().values()]
    fns = {
        "hand-written loop": lambda: xor_loop([p.copy() for p in start], X, Y, lr, epochs, False),
        "hand-written loop + loss": lambda: xor_loop([p.copy() for p in start], X, Y, lr, epochs,
                                                     True),
        "xprop fit": lambda: fresh().fit(X, y, lr=lr, epochs=epochs),
    }
    # same numbers: the loop with the loss gives fit's history
    m = fresh()
    hist = m.fit(X, y, lr=lr, epochs=50)
    ref = xor_loop([p.copy() for p in start], X, Y, lr, 50, True)
    assert np.allclose(hist.loss, ref, rtol=1e-12), "xprop and the hand loop disagree"
    if jax_ready():
        def fresh_jax():
            return xprop.MLP([2, 4, 1], "tanh", "sigmoid", "bce", seed=1, dtype="float32",
                             backend="jax")

        t0 = time.perf_counter()
        hist = fresh_jax().fit(X, y, lr=lr, epochs=epochs)  # compiles (once per process)
        COMPILE["xor"] = time.perf_counter() - t0
        assert np.allclose(hist.loss[:50], ref, rtol=1e-4), "jax and the hand loop disagree"
        fns["xprop fit, jax compiled (float32)"] = lambda: fresh_jax().fit(X, y, lr=lr,
                                                                           epochs=epochs)
    res = interleave(fns, rounds, epochs)
    if jax_ready():  # per epoch of longer fits: the ~1 ms set-up of a fit spread thinner
        long = 10 * epochs
        res[f"jax compiled, fits of {long} epochs"] = interleave(
            {"": lambda: fresh_jax().fit(X, y, lr=lr, epochs=long)}, rounds, long)[""]
    return res


COMPILE: dict[str, float] = {}  # the first jax fit of each model: compilation included


def jax_ready() -> bool:
    try:
        import jax  # noqa: F401
    except ImportError:
        return False
    return True


# --------------------------------------------------------------------------- digits


def digits_loop(params: list[np.ndarray], X: np.ndarray, labels: np.ndarray, epochs: int,
                batch: int, seed: int) -> None:
    lr, b1, b2, eps = 1e-3, 0.9, 0.999, 1e-8
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    eye = np.eye(params[-1].shape[0], dtype=X.dtype)
    Yall = eye[labels]
    rng = np.random.Generator(np.random.PCG64(seed))
    n, t = X.shape[0], 0
    for _ in range(epochs):
        idx = rng.permutation(n)
        Xe, Ye = X.take(idx, axis=0), Yall.take(idx, axis=0)
        for s in range(0, n, batch):
            Xb, Yb = Xe[s : s + batch], Ye[s : s + batch]
            W0, b0, W1, b1_ = params
            z0 = Xb @ W0
            z0 += b0
            a0 = np.maximum(z0, 0.0)
            z1 = a0 @ W1
            z1 += b1_
            ex = np.exp(z1 - z1.max(axis=1, keepdims=True))
            p = ex / ex.sum(axis=1, keepdims=True)
            dz1 = (p - Yb) * (1.0 / Xb.shape[0])
            dz0 = (dz1 @ W1.T) * (z0 > 0)
            grads = [Xb.T @ dz0, dz0.sum(axis=0), a0.T @ dz1, dz1.sum(axis=0)]
            t += 1
            step = lr / (1.0 - b1**t)
            root = math.sqrt(1.0 - b2**t)
            for i, g in enumerate(grads):
                m[i] = b1 * m[i] + (1.0 - b1) * g
                v[i] = b2 * v[i] + (1.0 - b2) * (g * g)
                params[i] -= step * (m[i] / (np.sqrt(v[i]) / root + eps))


def bench_digits(rounds: int, epochs: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1797, 64)).astype(np.float32)
    labels = rng.integers(0, 10, 1797)

    def fresh():
        return xprop.MLP([64, 128, 10], "relu", "softmax", "cross_entropy", dtype="float32",
                         seed=0)

    start = [p.copy() for p in fresh().to_numpy_parameters().values()]
    fns = {
        "hand-written loop": lambda: digits_loop([p.copy() for p in start], X, labels, epochs,
                                                 64, 0),
        "xprop fit": lambda: fresh().fit(X, labels, optimizer="adam", lr=1e-3, epochs=epochs,
                                         batch_size=64),
    }
    # same numbers (float32 rounding aside)
    m = fresh()
    m.fit(X, labels, optimizer="adam", lr=1e-3, epochs=2, batch_size=64)
    ref = [p.copy() for p in start]
    digits_loop(ref, X, labels, 2, 64, 0)
    for a, b in zip(m.to_numpy_parameters().values(), ref):
        assert np.allclose(a, b, rtol=1e-4, atol=1e-6), "xprop and the hand loop disagree"
    if jax_ready():
        def fit_jax(n_epochs=epochs):
            m = xprop.MLP([64, 128, 10], "relu", "softmax", "cross_entropy", dtype="float32",
                          seed=0, backend="jax")
            m.fit(X, labels, optimizer="adam", lr=1e-3, epochs=n_epochs, batch_size=64)
            return m

        t0 = time.perf_counter()
        m = fit_jax(2)  # compiles (once per process)
        COMPILE["digits"] = time.perf_counter() - t0
        for a, b in zip(m.to_numpy_parameters().values(), ref):
            assert np.allclose(a, b, rtol=1e-4, atol=1e-5), "jax and the hand loop disagree"
        fns["xprop fit, jax compiled"] = fit_jax
    return interleave(fns, rounds, epochs)


def bench_validation(rounds: int, epochs: int) -> dict[str, float]:
    """Digits-sized fit with a 10% validation split: NumPy and (compiled) JAX per epoch."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1797, 64)).astype(np.float32)
    labels = rng.integers(0, 10, 1797)

    def fit(backend: str, n_epochs: int = epochs):
        m = xprop.MLP([64, 128, 10], "relu", "softmax", "cross_entropy", dtype="float32",
                      seed=0, backend=backend)
        return m.fit(X, labels, optimizer="adam", lr=1e-3, epochs=n_epochs, batch_size=64,
                     validation_split=0.1)

    fns = {"numpy": lambda: fit("numpy")}
    if jax_ready():
        t0 = time.perf_counter()
        fit("jax", 2)
        COMPILE["digits with validation"] = time.perf_counter() - t0
        fit("jax", 4 * epochs)  # (chunks of another length: compiled before timing)
        fns["jax"] = lambda: fit("jax")
    res = interleave(fns, rounds, epochs)
    # the marginal epoch: fits of 4x the epochs against these (a fit's fixed cost cancels)
    longer = interleave({k: lambda k=k: fit(k, 4 * epochs) for k in fns}, rounds, 4 * epochs)
    for k in fns:
        res[f"{k}, marginal"] = (4 * longer[k] - res[k]) / 3
    return res


def bench_cli(rounds: int) -> dict[str, float]:
    """Seconds of a whole ``xprop train --data spirals --quiet`` per backend (stdout
    swallowed); JAX after one compiling run."""
    import contextlib
    import io

    from xprop.cli import main as cli

    def run(backend: str) -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            assert cli(["train", "--data", "spirals", "--backend", backend, "--quiet"]) == 0

    fns = {"numpy": lambda: run("numpy")}
    if jax_ready():
        t0 = time.perf_counter()
        run("jax")
        COMPILE["spirals CLI"] = time.perf_counter() - t0
        fns["jax"] = lambda: run("jax")
    return interleave(fns, rounds, 1)


def report(title: str, res: dict[str, float], unit: str, scale: float, target: float) -> None:
    """Per-epoch times and the ratio of fit to the hand-written loop."""
    print(f"{title}, per epoch:")
    for k, t in res.items():
        print(f"  {k:<26} {t * scale:8.3f} {unit}")
    ratio = res["xprop fit"] / res["hand-written loop"]
    print(f"  RATIO fit / hand-written loop:          {ratio:.3f}  (target <= {target})")
    for k, t in res.items():
        if "jax" in k:
            print(f"  RATIO speed of {k} vs the NumPy hand-written loop: "
                  f"{res['hand-written loop'] / t:.2f}x, vs NumPy fit: {res['xprop fit'] / t:.2f}x")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--quick", action="store_true", help="fewer rounds and epochs (smoke run)")
    args = ap.parse_args(argv)
    rounds = 2 if args.quick else args.rounds
    print(f"{time.strftime('%Y-%m-%d')}: python {platform.python_version()}, numpy "
          f"{np.__version__}, xprop {xprop.__version__}, {platform.machine()}")
    res = bench_xor(rounds, 200 if args.quick else 2000)
    report("XOR 2-4-1, full-batch GD, float64", res, "us", 1e6, 1.2)
    print(f"  RATIO fit / hand-written loop + loss:   "
          f"{res['xprop fit'] / res['hand-written loop + loss']:.3f}")
    res = bench_digits(rounds, 2 if args.quick else 10)
    report("digits-sized 64-128-10, Adam, batch 64, float32", res, "ms", 1e3, 1.1)
    epochs = 2 if args.quick else 10
    res = bench_validation(rounds, epochs)
    print("digits-sized fit with validation_split=0.1, per epoch:")
    for k, t in res.items():
        print(f"  {k:<26} {t * 1e3:8.3f} ms")
    if "jax" in res:
        print(f"  RATIO speed of jax vs numpy, validating: {res['numpy'] / res['jax']:.2f}x "
              f"(target >= 2; fits of {epochs} epochs, each fit's fixed cost included)")
        print(f"  RATIO speed of jax vs numpy, validating, marginal epoch: "
              f"{res['numpy, marginal'] / res['jax, marginal']:.2f}x (fits of {4 * epochs} "
              f"epochs against fits of {epochs}: the fixed cost cancels)")
    res = bench_cli(rounds)
    print("xprop train --data spirals --quiet (whole run):")
    for k, t in res.items():
        print(f"  {k:<26} {t:8.3f} s")
    if "jax" in res:
        print(f"  RATIO jax / numpy time: {res['jax'] / res['numpy']:.2f} (target <= 1, "
              "compilation excluded)")
    for name, t in COMPILE.items():
        print(f"jax: the first {name} fit, compilation included: {t:.2f} s (later fits of the "
              "same shapes reuse it)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
