"""Time one training step of xprop against a hand-written NumPy step, NumPy GEMMs of the same
FLOPs and (when installed) PyTorch autograd on the same model, all in this process.

    python scripts/bench_step.py                 # both models, NumPy backend
    python scripts/bench_step.py --backend torch  # xprop on another backend (host timings)

Reports medians and ratios (speed of xprop relative to the reference: > 1 is faster). The
targets of issue 2: 784-1024-1024-10 (B=512, float32) at >= 0.95x the hand-written step;
2-4-1 XOR (B=4) within 1.5x of its hand-written time.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np

import xprop
from xprop import network
from xprop.train import train_step


def median_time(fn: Callable[[], object], repeats: int, inner: int, sync=lambda: None) -> float:
    """Median over ``repeats`` of the mean time of ``inner`` calls (seconds)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        sync()
        times.append((time.perf_counter() - t0) / inner)
    return statistics.median(times)


def interleaved(fns: dict[str, Callable[[], object]], rounds: int, repeats: int, inner: int,
                sync=lambda: None) -> dict[str, float]:
    """Median per function over ``rounds`` rounds that run every function in turn, so slow
    phases of a noisy machine hit all variants alike."""
    out: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            out[name].append(median_time(fn, repeats, inner, sync))
    return {k: statistics.median(v) for k, v in out.items()}


# --------------------------------------------------------------------------- hand-written NumPy


def numpy_relu_softmax_step(params: list[np.ndarray], X: np.ndarray, Y: np.ndarray,
                            lr: float) -> None:
    """784-1024-1024-10: ReLU hidden layers, softmax + cross-entropy, plain SGD, in place.
    No input gradient for the first layer, no loss value (as a careful hand-written step)."""
    W0, b0, W1, b1, W2, b2 = params
    z0 = X @ W0
    z0 += b0
    a0 = np.maximum(z0, 0)
    z1 = a0 @ W1
    z1 += b1
    a1 = np.maximum(z1, 0)
    z2 = a1 @ W2
    z2 += b2
    e = np.exp(z2 - z2.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    dz2 = (p - Y) * (1.0 / X.shape[0])
    g = [None] * 6
    g[4] = a1.T @ dz2
    g[5] = dz2.sum(axis=0)
    dz1 = (dz2 @ W2.T) * (z1 > 0)
    g[2] = a0.T @ dz1
    g[3] = dz1.sum(axis=0)
    dz0 = (dz1 @ W1.T) * (z0 > 0)
    g[0] = X.T @ dz0
    g[1] = dz0.sum(axis=0)
    for p_, g_ in zip(params, g):
        p_ -= lr * g_


def numpy_xor_step(params: list[np.ndarray], X: np.ndarray, Y: np.ndarray, lr: float) -> None:
    """2-4-1: tanh hidden, sigmoid output + BCE (fused a - y), plain SGD, in place. The sigmoid
    is the overflow-free form xprop uses (exp(-|z|)), so the ratio measures the abstraction."""
    W0, b0, W1, b1 = params
    z0 = X @ W0
    z0 += b0
    a0 = np.tanh(z0)
    z1 = a0 @ W1
    z1 += b1
    e = np.exp(-np.abs(z1))
    r = 1.0 / (1.0 + e)
    a1 = np.where(z1 >= 0, r, e * r)
    dz1 = (a1 - Y) * (1.0 / Y.size)
    g2 = a0.T @ dz1
    g3 = dz1.sum(axis=0)
    dz0 = (dz1 @ W1.T) * (1.0 - a0 * a0)
    g0 = X.T @ dz0
    g1 = dz0.sum(axis=0)
    for p_, g_ in zip(params, (g0, g1, g2, g3)):
        p_ -= lr * g_


def step_flops(sizes: list[int], batch: int) -> int:
    """Forward + weight gradients + input gradients of every layer but the first."""
    mults = [a * b for a, b in itertools.pairwise(sizes)]
    return 2 * batch * (2 * sum(mults) + sum(mults[1:]))


def step_gemms(sizes: list[int], batch: int, dtype) -> Callable[[], object]:
    """The step's matrix products alone, same shapes and transposes (the GEMM bound)."""
    rng = np.random.default_rng(0)
    acts = [rng.standard_normal((batch, s)).astype(dtype) for s in sizes]
    ws = [rng.standard_normal((a, b)).astype(dtype) for a, b in itertools.pairwise(sizes)]

    def run() -> None:
        for i, w in enumerate(ws):
            acts[i] @ w
            acts[i].T @ acts[i + 1]
            if i > 0:
                acts[i + 1] @ w.T

    return run


# --------------------------------------------------------------------------- PyTorch reference


def torch_step_fn(sizes, acts, out_act, params_np, X, Y, lr, labels=None):
    import torch

    torch.set_num_threads(max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                              else 1))
    ps = [torch.tensor(p, requires_grad=True) for p in params_np]
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
    act = {"relu": torch.relu, "tanh": torch.tanh}[acts]
    opt = torch.optim.SGD(ps, lr=lr)

    def step() -> None:
        h = Xt
        for i in range(0, len(ps) - 2, 2):
            h = act(h @ ps[i] + ps[i + 1])
        z = h @ ps[-2] + ps[-1]
        if out_act == "softmax":
            loss = torch.nn.functional.cross_entropy(z, torch.from_numpy(labels))
        else:
            loss = torch.nn.functional.binary_cross_entropy_with_logits(z, Yt)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


# --------------------------------------------------------------------------- main


def bench(name: str, sizes: list[int], batch: int, act: str, out_act: str, loss: str,
          backend: str, rounds: int, repeats: int, inner: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    labels = rng.integers(0, sizes[-1], batch)
    if out_act == "softmax":
        Y = np.eye(sizes[-1], dtype=np.float32)[labels]
    else:
        Y = rng.integers(0, 2, (batch, sizes[-1])).astype(np.float32)
    lr = 1e-3
    model = xprop.MLP(sizes, act, out_act, loss, dtype="float32", seed=0, backend=backend)
    Xd, Yd, _ = model.prepare(X, Y if out_act != "softmax" else labels)
    opt = xprop.SGD(lr=lr)
    host_params = [np.array(p) for p in model.to_numpy_parameters().values()]
    hand = [p.copy() for p in host_params]
    hand_fn = numpy_relu_softmax_step if out_act == "softmax" else numpy_xor_step

    def xprop_step() -> None:
        train_step(model, Xd, Yd, opt)

    def xprop_step_with_loss() -> None:
        cache = train_step(model, Xd, Yd, opt)
        network.loss_value(cache, Yd, model.arch, model.xp)

    fns: dict[str, Callable[[], object]] = {
        "numpy hand-written": lambda: hand_fn(hand, X, Y, lr),
        "xprop step": xprop_step,
        "xprop step + loss value": xprop_step_with_loss,
        "numpy GEMMs only": step_gemms(sizes, batch, np.float32),
    }
    try:
        fns["torch autograd"] = torch_step_fn(sizes, act, out_act, host_params, X, Y, lr,
                                              labels)
    except ImportError:
        pass
    res = interleaved(fns, rounds, repeats, inner, model.backend.synchronize)
    flops = step_flops(sizes, batch)
    print(f"\n== {name}: {sizes}, batch {batch}, float32, {act}/{out_act}+{loss}, "
          f"xprop on {model.backend.describe()}")
    print(f"   one step = {flops / 1e9:.3f} GFLOP")
    base = res["numpy hand-written"]
    for k, t in res.items():
        print(f"   {k:<26} {t * 1e6:>11.1f} us  {flops / t / 1e9:>8.1f} GFLOP/s  "
              f"hand-written/this = {base / t:5.2f}x")
    print(f"   RATIO xprop step speed vs hand-written NumPy: {base / res['xprop step']:.3f}x "
          f"(xprop time / hand-written time = {res['xprop step'] / base:.3f})")
    print(f"   RATIO xprop step speed vs its GEMMs alone:    "
          f"{res['numpy GEMMs only'] / res['xprop step']:.3f}x")
    if "torch autograd" in res:
        print(f"   RATIO xprop step speed vs PyTorch autograd:   "
              f"{res['torch autograd'] / res['xprop step']:.3f}x")
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="numpy")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="fewer repeats (smoke run)")
    args = ap.parse_args(argv)
    print(f"python {platform.python_version()}, numpy {np.__version__}, xprop "
          f"{xprop.__version__}, {platform.machine()}, {os.cpu_count()} cpus")
    print(f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')} "
          f"OPENBLAS_L2_SIZE={os.environ.get('OPENBLAS_L2_SIZE')}")
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            print(f"BLAS: {pool.get('internal_api')} {pool.get('version')} "
                  f"kernel={pool.get('architecture')} threads={pool.get('num_threads')}")
    except ImportError:
        print("BLAS: (threadpoolctl not installed)")
    r = 2 if args.quick else args.rounds
    bench("big", [784, 1024, 1024, 10], 512, "relu", "softmax", "cross_entropy",
          args.backend, r, 3 if not args.quick else 1, 3 if not args.quick else 1)
    bench("xor", [2, 4, 1], 4, "tanh", "sigmoid", "bce", args.backend, r,
          5 if not args.quick else 2, 2000 if not args.quick else 200)
    return 0


if __name__ == "__main__":
    sys.exit(main())
