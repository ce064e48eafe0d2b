"""Time one training step of xprop against a hand-written step in the same array library, the
step's GEMMs alone and PyTorch eager autograd on the same model and device, in one process; and
sweep the hidden width (32 to 4096) over every installed CPU backend.

    python scripts/bench_step.py                       # models xor, digits, big on NumPy + sweep
    python scripts/bench_step.py --backend torch       # xprop on PyTorch (CPU)
    python scripts/bench_step.py --backend jax         # xprop on JAX (eager train_step)
    python scripts/bench_step.py --backend torch:cuda  # GPU: all five models, PyTorch on the GPU
    python scripts/bench_step.py --backend cupy --no-sweep
    python scripts/bench_step.py --models big,wide --no-sweep
    python scripts/bench_step.py --sweep-only --widths 32,256,2048
    python scripts/bench_step.py --threads 1           # every library on one thread, one core
    python scripts/bench_step.py --quick               # smoke run, ~10-20 s with the imports

Models (float32, plain SGD, lr 1e-3):
    xor     2-4-1, tanh, sigmoid + bce, batch 4 (the four XOR points)
    digits  64-128-10, ReLU, softmax + cross_entropy, batch 64 (scikit-learn's digits if
            installed, else random data of that shape)
    big     784-1024-1024-10, ReLU, softmax + cross_entropy, batch 512
    wide    1024-4096-4096-1024, ReLU, softmax + cross_entropy, batch 4096 (~0.58 TFLOP a
            step: opt-in on a CPU)
    deep    8 layers of width 512 (512-512x7-10), ReLU, softmax + cross_entropy, batch 256
Default: xor, digits, big on a CPU device; all five on a GPU.

Width sweep: 784-w-w-w-10 (three ReLU hidden layers of width w), softmax + cross_entropy,
batch 256, float32, SGD, for w = 32 ... 4096; xprop on each installed CPU backend (numpy,
torch, jax; ``--sweep-backends`` to choose, e.g. ``cupy``) and PyTorch eager autograd. A
table of medians, one of the fastest rounds, and summary lines: the fastest backend per width,
``fastest from width X: backend Y`` (Y stays fastest from X to the widest) and from which width
each backend stays within 3% of the fastest (a tie on this noisy machine).

Where the library has a fast path, ``fit(compiled=True)`` on one batch (one step an epoch) is
timed per step too: ``xprop fit compiled, /step`` in the model tables, ``xprop jax jit`` in the
sweep (JAX: chunks of epochs compiled into one call, :mod:`xprop.compiled`; PyTorch on CUDA:
captured CUDA graphs). ``xprop step`` is always the eager :func:`xprop.train.train_step`.

The hand-written step and the GEMMs-alone reference are written once against the Array API
(``array_api_compat.array_namespace``; NumPy itself for NumPy arrays, with its ufunc
reductions, as a hand-written NumPy step calls them): in-place updates on NumPy, PyTorch and
CuPy, new arrays on JAX; data and parameters on the model's device. PyTorch autograd runs on
the model's GPU when the model is on one, else on the CPU.

Every time is a median over interleaved rounds (each round runs every variant in turn, so slow
phases of a noisy machine hit all alike; ``--gap`` seconds of sleep between variants let one
library's spinning worker threads rest before the next runs); a variant is timed after a
warm-up, ``inner`` calls per sample with ``inner`` chosen so one sample lasts ``--target``
seconds, and the device is synchronized before the clock is read. The fastest round is shown
too: other processes only ever slow a round down. RATIO lines give the speed of xprop
relative to the reference (> 1: xprop is faster). GPU runs keep float32 matmuls in true
float32 (TF32 off in PyTorch, CuPy and JAX; the settings are printed).
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import math
import os
import platform
import statistics
import sys
import time
import types
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import array_api_compat
import numpy as np

import xprop
from xprop import datasets, network
from xprop.backend import device_str, resolve_backend
from xprop.train import train_step

LR = 1e-3
FIT_NAME = "xprop fit compiled, /step"  # fit(compiled=True), where the library has a fast path
SWEEP_WIDTHS = (32, 64, 128, 256, 512, 1024, 2048, 4096)
QUICK_WIDTHS = (32, 256, 1024)
SWEEP_BATCH = 256
TIE = 0.03  # sweep summaries: within 3% of the fastest counts as a tie (this machine's noise)
CPU_BACKENDS = ("numpy", "torch", "jax")  # array_api_strict is a referee, not a fast backend


@dataclass(frozen=True)
class ModelSpec:
    name: str
    sizes: tuple[int, ...]
    batch: int
    act: str
    out_act: str
    loss: str


MODELS = {
    m.name: m for m in (
        ModelSpec("xor", (2, 4, 1), 4, "tanh", "sigmoid", "bce"),
        ModelSpec("digits", (64, 128, 10), 64, "relu", "softmax", "cross_entropy"),
        ModelSpec("big", (784, 1024, 1024, 10), 512, "relu", "softmax", "cross_entropy"),
        ModelSpec("wide", (1024, 4096, 4096, 1024), 4096, "relu", "softmax", "cross_entropy"),
        ModelSpec("deep", (512,) * 8 + (10,), 256, "relu", "softmax", "cross_entropy"),
    )
}
CPU_DEFAULT_MODELS = ("xor", "digits", "big")


# --------------------------------------------------------------------------- timing


LAST_MIN: dict[str, float] = {}  # the fastest round of the last interleaved() call, per variant


@dataclass
class Variant:
    """A step to time: ``fn()`` runs one step and returns something ``sync`` can wait on."""

    fn: Callable[[], Any]
    sync: Callable[[Any], None]
    inner: int = 1
    one: float = 0.0  # seconds of one call, from the calibration
    steps: int = 1  # training steps one call makes (the compiled fit makes many)


def calibrate(v: Variant, target: float, warmup: int) -> None:
    """Warm up (JAX compiles each eager op on first use, CUDA loads kernels), then choose
    ``inner`` so that one sample lasts about ``target`` seconds."""
    for _ in range(warmup):
        t0 = time.perf_counter()
        v.sync(v.fn())
        if time.perf_counter() - t0 > 1.0:  # a slow step: one warm-up call is enough
            break
    t0 = time.perf_counter()
    v.sync(v.fn())
    v.one = time.perf_counter() - t0
    if v.one < target / 4:  # a second, longer look for fast steps (timer resolution, noise)
        n = max(1, int(target / 4 / max(v.one, 1e-7)))
        t0 = time.perf_counter()
        r = None
        for _ in range(n):
            r = v.fn()
        v.sync(r)
        v.one = (time.perf_counter() - t0) / n
    v.inner = max(1, min(100_000, round(target / max(v.one, 1e-7))))


def sample(v: Variant) -> float:
    """Mean time of ``v.inner`` calls, the device synchronized before reading the clock."""
    r = None
    t0 = time.perf_counter()
    for _ in range(v.inner):
        r = v.fn()
    v.sync(r)
    return (time.perf_counter() - t0) / v.inner / v.steps


def interleaved(variants: dict[str, Variant], rounds: int, repeats: int, target: float,
                gap: float = 0.0, warmup: int = 2) -> dict[str, float]:
    """Median per variant over ``rounds`` rounds that run every variant in turn (each
    contributing the median of ``repeats`` samples); variants whose single call already
    exceeds 4x ``target`` take one sample per round. ``gap`` seconds of sleep after each
    variant let the previous library's worker threads (OpenBLAS, OpenMP, JAX's pool) stop
    spinning before the next library runs on the same cores."""
    for v in variants.values():
        calibrate(v, target, warmup)
        time.sleep(gap)
    out: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(rounds):
        for name, v in variants.items():
            reps = 1 if v.one > 4 * target else repeats
            out[name].append(statistics.median(sample(v) for _ in range(reps)))
            time.sleep(gap)
    for k, ts in out.items():
        LAST_MIN[k] = min(ts)
    return {k: statistics.median(ts) for k, ts in out.items()}


# --------------------------------------------------------------------------- hand-written step


def host_namespace(x: Any) -> Any:
    """The Array-API namespace of ``x``. For NumPy arrays: NumPy itself (NumPy >= 2 is an
    Array-API namespace) with ``sum`` and ``max`` calling the ufunc reductions, as the
    ``ndarray.sum``/``.max`` methods do, which is what a hand-written NumPy step calls (the
    ``np.sum`` wrapper and array-api-compat's cost about 2 us a call)."""
    xp = array_api_compat.array_namespace(x)
    if not array_api_compat.is_numpy_namespace(xp):
        return xp
    add, maximum = np.add.reduce, np.maximum.reduce
    return types.SimpleNamespace(
        maximum=np.maximum, tanh=np.tanh, exp=np.exp, abs=np.abs, where=np.where,
        sum=lambda a, axis=None, keepdims=False: add(a, axis=axis, keepdims=keepdims),
        max=lambda a, axis=None, keepdims=False: maximum(a, axis=axis, keepdims=keepdims),
        __name__="numpy (ufunc reductions)")


def hand_written_step(params: list[Any], X: Any, Y: Any, lr: float, act: str, out_act: str,
                      xp: Any, inplace: bool) -> list[Any]:
    """One SGD step of a dense net written out by hand against the Array API: ReLU or tanh
    hidden layers; softmax + cross-entropy or sigmoid + BCE (both fused to ``a - y``); no input
    gradient for the first layer, no loss value. Mutable libraries (NumPy, PyTorch, CuPy) add
    biases and update parameters in place; JAX gets new arrays. Returns the parameters.
    A 2-layer tanh/sigmoid net (XOR) takes the unrolled :func:`xor_step`."""
    if len(params) == 4 and act == "tanh" and out_act == "sigmoid":
        return xor_step(params, X, Y, lr, xp, inplace)
    n_layers = len(params) // 2
    h, hs, zs = X, [X], []
    z = X
    for i in range(n_layers):
        z = h @ params[2 * i]
        if inplace:
            z += params[2 * i + 1]
        else:
            z = z + params[2 * i + 1]
        if i < n_layers - 1:
            h = xp.maximum(z, 0) if act == "relu" else xp.tanh(z)
            zs.append(z)
            hs.append(h)
    if out_act == "softmax":
        e = xp.exp(z - xp.max(z, axis=1, keepdims=True))
        p = e / xp.sum(e, axis=1, keepdims=True)
        dz = (p - Y) * (1.0 / X.shape[0])
    else:
        e = xp.exp(-xp.abs(z))
        r = 1.0 / (1.0 + e)
        a = xp.where(z >= 0, r, e * r)
        dz = (a - Y) * (1.0 / math.prod(Y.shape))
    grads: list[Any] = [None] * len(params)
    for i in reversed(range(n_layers)):
        grads[2 * i] = hs[i].T @ dz
        grads[2 * i + 1] = xp.sum(dz, axis=0)
        if i > 0:
            da = dz @ params[2 * i].T
            if act == "relu":
                dz = da * (zs[i - 1] > 0)
            else:
                dz = da * (1.0 - hs[i] * hs[i])
    if inplace:
        for p_, g_ in zip(params, grads):
            p_ -= lr * g_
        return params
    return [p_ - lr * g_ for p_, g_ in zip(params, grads)]


def xor_step(params: list[Any], X: Any, Y: Any, lr: float, xp: Any, inplace: bool
             ) -> list[Any]:
    """2-4-1: tanh hidden, sigmoid output + BCE (fused a - y), plain SGD, unrolled (the
    previous NumPy-only hand-written step, now in any namespace). The sigmoid is the
    overflow-free form xprop uses (exp(-|z|)), so the ratio measures the abstraction."""
    W0, b0, W1, b1 = params
    if inplace:
        z0 = X @ W0
        z0 += b0
        a0 = xp.tanh(z0)
        z1 = a0 @ W1
        z1 += b1
    else:
        a0 = xp.tanh(X @ W0 + b0)
        z1 = a0 @ W1 + b1
    e = xp.exp(-xp.abs(z1))
    r = 1.0 / (1.0 + e)
    a1 = xp.where(z1 >= 0, r, e * r)
    dz1 = (a1 - Y) * (1.0 / (Y.shape[0] * Y.shape[1]))
    g2 = a0.T @ dz1
    g3 = xp.sum(dz1, axis=0)
    dz0 = (dz1 @ W1.T) * (1.0 - a0 * a0)
    g0 = X.T @ dz0
    g1 = xp.sum(dz0, axis=0)
    if inplace:
        for p_, g_ in zip(params, (g0, g1, g2, g3)):
            p_ -= lr * g_
        return params
    return [p_ - lr * g_ for p_, g_ in zip(params, (g0, g1, g2, g3))]


def step_flops(sizes: tuple[int, ...], batch: int) -> int:
    """Forward + weight gradients + input gradients of every layer but the first."""
    mults = [a * b for a, b in itertools.pairwise(sizes)]
    return 2 * batch * (2 * sum(mults) + sum(mults[1:]))


def step_gemms(backend: Any, sizes: tuple[int, ...], batch: int) -> Callable[[], Any]:
    """The step's matrix products alone, same shapes and transposes, on the model's device
    (the GEMM bound). Returns the last product (something to synchronize on)."""
    rng = np.random.default_rng(0)
    acts = [backend.from_host(rng.standard_normal((batch, s)), "float32") for s in sizes]
    ws = [backend.from_host(rng.standard_normal((a, b)), "float32")
          for a, b in itertools.pairwise(sizes)]

    def run() -> Any:
        r = None
        for i, w in enumerate(ws):
            r = acts[i] @ w
            r = acts[i].T @ acts[i + 1]
            if i > 0:
                r = acts[i + 1] @ w.T
        return r

    return run


# --------------------------------------------------------------------------- PyTorch reference


def torch_device_for(backend: Any) -> str:
    """PyTorch runs on the model's GPU when the model is on one (and PyTorch sees CUDA),
    else on the CPU."""
    dev = device_str(backend.device)
    if is_gpu(backend):
        torch = importlib.import_module("torch")
        if torch.cuda.is_available():
            idx = dev.rpartition(":")[2]
            return f"cuda:{idx if idx.isdigit() else 0}"
    return "cpu"


def is_gpu(backend: Any) -> bool:
    dev = device_str(backend.device).lower()
    return "cuda" in dev or "gpu" in dev or "rocm" in dev


def torch_step_fn(spec: ModelSpec, params_np: list[np.ndarray], X: np.ndarray, Y: np.ndarray,
                  labels: np.ndarray | None, lr: float, device: str) -> Variant:
    """PyTorch eager autograd on ``device``: the same layers, loss and SGD."""
    import torch

    ps = [torch.tensor(p, requires_grad=True, device=device) for p in params_np]
    Xt = torch.from_numpy(X).to(device)
    Yt = torch.from_numpy(Y).to(device)
    lt = None if labels is None else torch.from_numpy(labels).to(device)
    act = {"relu": torch.relu, "tanh": torch.tanh}[spec.act]
    opt = torch.optim.SGD(ps, lr=lr)
    F = torch.nn.functional

    def step() -> None:
        h = Xt
        for i in range(0, len(ps) - 2, 2):
            h = act(h @ ps[i] + ps[i + 1])
        z = h @ ps[-2] + ps[-1]
        if spec.out_act == "softmax":
            loss = F.cross_entropy(z, lt)
        else:
            loss = F.binary_cross_entropy_with_logits(z, Yt)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    if device.startswith("cuda"):
        return Variant(step, lambda _r: torch.cuda.synchronize(device))
    return Variant(step, lambda _r: None)


# --------------------------------------------------------------------------- variants


def make_data(spec: ModelSpec, batch: int | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, str]:
    """Host data for ``spec``: X (float32), one-hot or 0/1 targets Y (float32), the integer
    labels (softmax heads) and where the data came from."""
    n = spec.batch if batch is None else batch
    rng = np.random.default_rng(0)
    k = spec.sizes[-1]
    if spec.name == "xor":
        X, y = datasets.xor()
        return (X.astype(np.float32), y.reshape(-1, 1).astype(np.float32), None,
                "the four XOR points")
    src = "random normal data"
    X = rng.standard_normal((n, spec.sizes[0]))
    labels = rng.integers(0, k, n)
    if spec.name == "digits":
        try:
            Xd, yd = datasets.digits()
            X, labels, src = Xd[:n] / 16.0, yd[:n], "scikit-learn digits"
        except ImportError:
            src = "random data (scikit-learn not installed)"
    if spec.out_act != "softmax":
        return (X.astype(np.float32), rng.integers(0, 2, (n, k)).astype(np.float32), None,
                src)
    Y = np.eye(k, dtype=np.float32)[labels]
    return X.astype(np.float32), Y, labels.astype(np.int64), src


def xprop_model(spec: ModelSpec, backend: str) -> Any:
    return xprop.MLP(list(spec.sizes), spec.act, spec.out_act, spec.loss, dtype="float32",
                     seed=0, backend=backend)


def xprop_variants(model: Any, X: np.ndarray, Y: np.ndarray, labels: np.ndarray | None,
                   with_loss: bool) -> tuple[dict[str, Variant], Any, Any]:
    """xprop's ``train_step`` (and, with ``with_loss``, the step plus the loss value) on the
    model's device, writing its gradients into one reused buffer as ``fit`` does; returns the
    variants and the device data."""
    be = model.backend
    Xd, Yd, _ = model.prepare(X, Y if labels is None else labels)
    opt = xprop.SGD(lr=LR)
    grads = model.params.copy()  # the gradient buffer fit reuses every step

    def sync(r: Any) -> None:
        be.synchronize(r)

    def step() -> Any:
        train_step(model, Xd, Yd, opt, grads=grads)
        return model.params.buffer

    def step_with_loss() -> Any:
        cache = train_step(model, Xd, Yd, opt, grads=grads)
        return network.loss_value(cache, Yd, model.arch, model.xp)

    out = {"xprop step": Variant(step, sync)}
    if with_loss:
        out["xprop step + loss value"] = Variant(step_with_loss, sync)
    return out, Xd, Yd


def compiled_fit_variant(spec: ModelSpec, backend: str, X: np.ndarray, Y: np.ndarray,
                         labels: np.ndarray | None, target: float) -> Variant | None:
    """``fit(..., compiled=True)`` on two batches (the data twice: two steps an epoch, as
    captured steps need more than one batch), timed per step: the library's fast path, where
    it has one (JAX: chunks of epochs compiled into one call, see :mod:`xprop.compiled`;
    PyTorch on CUDA: a captured CUDA graph, captured again at each fit, which the per-step
    time includes). None where there is no fast path (fit raises ValueError). Its model is a
    second one with the same weights."""
    model = xprop_model(spec, backend)
    be = model.backend
    y = Y if labels is None else labels
    with be.context():
        Xd, _, _ = model.prepare(np.concatenate([X, X]))
    y = np.concatenate([y, y])
    opt = xprop.SGD(lr=LR)

    def run(k: int) -> Any:
        with be.context():
            model.fit(Xd, y, epochs=k, batch_size=spec.batch, optimizer=opt,
                      config=xprop.FitConfig(shuffle=False, compiled=True, verbose=0))
        return model.params.buffer

    # xprop's head casts labels to int64 for the hit count, which JAX without x64 truncates
    # to int32 with a UserWarning: harmless here (labels < 2**31), kept out of the tables
    warnings.filterwarnings("ignore", message="Explicitly requested dtype int64")
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("error", "CUDA graph capture failed", RuntimeWarning)
            be.synchronize(run(2))  # compiles (once per configuration) or captures
    except RuntimeWarning as e:  # would time eager steps under the fast path's name
        print(f"   (no compiled fit row: {e})")
        return None
    except (ValueError, TypeError, NotImplementedError):
        return None
    t0 = time.perf_counter()
    be.synchronize(run(2))
    per_step = (time.perf_counter() - t0) / 4
    k = max(2, min(1024, round(target / max(2 * per_step, 1e-7))))  # epochs of two steps
    return Variant(lambda: run(k), be.synchronize, steps=2 * k)


def lib_name(model: Any) -> str:
    return {"numpy": "NumPy", "torch": "torch", "jax": "JAX", "cupy": "CuPy"}.get(
        model.backend.name, model.backend.name)


# --------------------------------------------------------------------------- models


def bench_model(spec: ModelSpec, backend: str, rounds: int, repeats: int, target: float,
                gap: float, torch_ok: bool) -> dict[str, float]:
    t_start = time.perf_counter()
    X, Y, labels, src = make_data(spec)
    model = xprop_model(spec, backend)
    be = model.backend
    lib = lib_name(model)
    with be.context():
        xv, Xd, Yd = xprop_variants(model, X, Y, labels, with_loss=True)
        host_params = [np.array(p) for p in model.to_numpy_parameters().values()]
        hx = host_namespace(Xd)
        inplace = be.mutable
        state = [be.from_host(p, "float32") for p in host_params]

        def hand() -> Any:
            state[:] = hand_written_step(state, Xd, Yd, LR, spec.act, spec.out_act, hx,
                                         inplace)
            return state

        variants: dict[str, Variant] = {
            f"{lib} hand-written": Variant(hand, be.synchronize),
            "xprop step": xv["xprop step"],
            "xprop step + loss value": xv["xprop step + loss value"],
            f"{lib} GEMMs only": Variant(step_gemms(be, spec.sizes, spec.batch), be.synchronize),
        }
        fitv = compiled_fit_variant(spec, backend, X, Y, labels, target)
        if fitv is not None:
            variants[FIT_NAME] = fitv
        tdev = None
        if torch_ok:
            tdev = torch_device_for(be)
            variants["torch autograd"] = torch_step_fn(spec, host_params, X, Y, labels, LR,
                                                       tdev)
        res = interleaved(variants, rounds, repeats, target, gap)
    flops = step_flops(spec.sizes, spec.batch)
    sizes = list(spec.sizes)
    print(f"\n== {spec.name}: {sizes}, batch {spec.batch}, float32, "
          f"{spec.act}/{spec.out_act}+{spec.loss}, xprop on {be.describe()}; {src}")
    print(f"   one step = {flops / 1e9:.3f} GFLOP"
          + (f"; PyTorch autograd on {tdev}" if tdev else ""))
    base = res[f"{lib} hand-written"]
    print(f"   {'':<26} {'median':>14}  {'':>16}  {'':>26}   {'fastest round':>13}")
    for k, t in res.items():
        print(f"   {k:<26} {t * 1e6:>11.1f} us  {flops / t / 1e9:>8.1f} GFLOP/s  "
              f"hand-written/this = {base / t:5.2f}x   {LAST_MIN[k] * 1e6:>10.1f} us")
    xs = res["xprop step"]
    label = f"hand-written {lib}:"
    print(f"   RATIO xprop step speed vs {label:<20}{base / xs:.3f}x "
          f"(xprop time / hand-written time = {xs / base:.3f})")
    print(f"   RATIO xprop step speed vs its GEMMs alone:    "
          f"{res[f'{lib} GEMMs only'] / xs:.3f}x")
    if FIT_NAME in res:
        print(f"   RATIO xprop compiled fit per step vs {label} {base / res[FIT_NAME]:.3f}x"
              f"; vs xprop step: {xs / res[FIT_NAME]:.3f}x")
    if "torch autograd" in res:
        where = "" if tdev == "cpu" else f" ({tdev})"
        print(f"   RATIO xprop step speed vs PyTorch autograd:   "
              f"{res['torch autograd'] / xs:.3f}x{where}")
    print(f"   [{spec.name}: {time.perf_counter() - t_start:.1f} s]")
    return res


# --------------------------------------------------------------------------- width sweep


def sweep(backends: list[str], widths: list[int], rounds: int, repeats: int, target: float,
          gap: float, torch_ok: bool) -> dict[int, dict[str, float]]:
    """xprop's step on each backend and PyTorch autograd for 784-w-w-w-10, interleaved per
    width. Prints a table of medians (as it goes), one of the fastest rounds, and the width
    from which one backend stays fastest."""
    usable = []
    for b in backends:
        try:
            resolve_backend(b)  # early: skip what is not installed or has no device here
            usable.append(b)
        except Exception as e:
            print(f"   sweep: skipping backend {b!r} ({type(e).__name__}: {e})")
    backends = usable
    first = resolve_backend(backends[0]) if backends else resolve_backend("numpy")
    tdev = torch_device_for(first) if torch_ok else None
    xor = MODELS["xor"]
    jit = [b for b in backends
           if compiled_fit_variant(xor, b, *make_data(xor)[:3], 1e-3) is not None]
    names = ([f"xprop {b}" for b in backends] + [f"xprop {b} jit" for b in jit]
             + (["torch autograd"] if torch_ok else []))
    print(f"\n== width sweep: 784-w-w-w-10 (3 ReLU hidden layers of width w), softmax + "
          f"cross_entropy, batch {SWEEP_BATCH}, float32, SGD lr {LR}")
    print("   xprop backends: " + ", ".join(f"{b} ({resolve_backend(b).describe()})"
                                            for b in backends)
          + (f"; PyTorch eager autograd on {tdev}" if tdev else ""))
    if jit:
        print(f"   'xprop {' / '.join(jit)} jit': fit(compiled=True) on one batch, per step "
              "(whole chunks of epochs compiled into one call; xprop.compiled)")
    head = f"   {'width':>5} {'GFLOP':>7} " + " ".join(f"{n:>15}" for n in names)
    head += f"  {'fastest xprop':>14}  {'fastest':>15}  {'GFLOP/s':>7}"
    print("   milliseconds per step, MEDIANS of interleaved rounds; GFLOP/s of the fastest")
    print(head)
    table: dict[int, dict[str, float]] = {}
    table_min: dict[int, dict[str, float]] = {}
    t_start = time.perf_counter()
    for w in widths:
        spec = ModelSpec(f"w{w}", (784, w, w, w, 10), SWEEP_BATCH, "relu", "softmax",
                         "cross_entropy")
        X, Y, labels, _ = make_data(spec)
        variants: dict[str, Variant] = {}
        host_params = None
        for b in backends:
            model = xprop_model(spec, b)
            host_params = host_params or [np.array(p) for p in
                                          model.to_numpy_parameters().values()]
            with model.backend.context():
                xv, _, _ = xprop_variants(model, X, Y, labels, with_loss=False)
            variants[f"xprop {b}"] = xv["xprop step"]
            if b in jit:  # fit(compiled=True) per step: the library's fast path
                fitv = compiled_fit_variant(spec, b, X, Y, labels, target)
                if fitv is not None:
                    variants[f"xprop {b} jit"] = fitv
        if torch_ok:
            variants["torch autograd"] = torch_step_fn(spec, host_params, X, Y, labels, LR,
                                                       tdev)
        table[w] = interleaved(variants, rounds, repeats, target, gap)
        table_min[w] = {k: LAST_MIN[k] for k in table[w]}
        print(sweep_row(w, table[w], names))
    print(f"   [sweep: {time.perf_counter() - t_start:.1f} s]")
    if not table:
        return table
    print("   milliseconds per step, FASTEST ROUND (the least disturbed by other processes)")
    print(head)
    for w in widths:
        print(sweep_row(w, table_min[w], names))
    xprop_names = [n for n in names if n.startswith("xprop")]
    for stat, tab in (("medians", table), ("fastest rounds", table_min)):
        for label, pool in (("xprop backend", xprop_names),
                            ("overall, PyTorch autograd included", names)):
            if pool and (label == "xprop backend" or (len(pool) > len(xprop_names)
                                                      and stat == "medians")):
                summarize(tab, widths, pool, f"{label}, by {stat}")
    return table


def sweep_row(w: int, res: dict[str, float], names: list[str]) -> str:
    flops = step_flops((784, w, w, w, 10), SWEEP_BATCH)
    fx = min((n for n in res if n.startswith("xprop")), key=res.__getitem__)
    fa = min(res, key=res.__getitem__)
    return (f"   {w:>5} {flops / 1e9:>7.3f} "
            + " ".join(f"{res.get(n, math.nan) * 1e3:>15.3f}" for n in names)
            + f"  {fx.removeprefix('xprop '):>14}  {fa:>15}  {flops / res[fa] / 1e9:>7.1f}")


def summarize(table: dict[int, dict[str, float]], widths: list[int], pool: list[str],
              label: str) -> None:
    """Which of ``pool`` is fastest at each width, and from which width the winner at the
    largest width stays fastest: ``fastest from width X: backend Y``."""
    def time_of(w: int) -> Callable[[str], float]:
        return lambda n: table[w].get(n, math.inf)

    winners = [(w, min(pool, key=time_of(w))) for w in widths]
    runs = [(k, [w for w, _ in g]) for k, g in itertools.groupby(winners, key=lambda t: t[1])]
    desc = "; ".join(f"{k} at w={ws[0]}" if len(ws) == 1 else f"{k} at w={ws[0]}-{ws[-1]}"
                     for k, ws in runs)
    print(f"   SWEEP fastest ({label}): {desc}")
    last, ws = runs[-1]
    top = widths[-1]
    second = min((n for n in pool if n != last), key=time_of(top), default=None)
    margin = ("" if second is None else
              f"; {table[top][second] / table[top][last]:.2f}x {second} at w={top}")
    print(f"   fastest from width {ws[0]}: backend {last.removeprefix('xprop ')} "
          f"[{label}{margin}]")
    near = []  # from which width each stays within TIE of the fastest (noise-tolerant)
    for n in pool:
        ok = [table[w].get(n, math.inf) <= (1 + TIE) * min(time_of(w)(m) for m in pool)
              for w in widths]
        if ok[-1]:
            first = len(ok) - next(i for i, v in enumerate(reversed(ok)) if not v) \
                if not all(ok) else 0
            near.append(f"{n.removeprefix('xprop ')} from w={widths[first]}")
    print(f"   within {TIE:.0%} of the fastest up to w={top}: {'; '.join(near)} [{label}]")


# --------------------------------------------------------------------------- environment


def try_import(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except Exception:
        return None


def set_precision(gpu: bool, backend: str) -> None:
    """True float32 matmuls: TF32 off in PyTorch (CUDA matmul and cuDNN), CuPy and, on a
    GPU, JAX (whose default float32 GPU matmul precision uses TF32); print the settings."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.set_float32_matmul_precision("highest")
        print(f"TF32: torch.backends.cuda.matmul.allow_tf32="
              f"{torch.backends.cuda.matmul.allow_tf32} torch.backends.cudnn.allow_tf32="
              f"{torch.backends.cudnn.allow_tf32} float32_matmul_precision="
              f"{torch.get_float32_matmul_precision()}")
    cupy_tf32 = os.environ.get("CUPY_TF32")
    line = (f"TF32: CUPY_TF32={cupy_tf32!r} XPROP_ALLOW_TF32="
            f"{os.environ.get('XPROP_ALLOW_TF32')!r} NVIDIA_TF32_OVERRIDE="
            f"{os.environ.get('NVIDIA_TF32_OVERRIDE')!r}")
    cupy_set = backend.startswith("cupy")
    if cupy_set:  # an explicit compute type, which CuPy then uses whatever CUPY_TF32 says
        from xprop.backend import set_tf32

        line += f"; xprop CuPy: {set_tf32(False)}"
    print(line)
    if cupy_tf32 == "1" and not cupy_set:
        print("WARNING: CUPY_TF32=1 makes CuPy use TF32 tensor cores: float32 figures of "
              "CuPy code not run through xprop's backend are not true float32; unset it")
    jax = sys.modules.get("jax")
    if jax is not None and gpu:
        jax.config.update("jax_default_matmul_precision", "highest")
        print(f"TF32: jax_default_matmul_precision={jax.config.jax_default_matmul_precision}")


def print_environment(gpu: bool, torch_device: str | None) -> None:
    print(f"date {time.strftime('%Y-%m-%d %H:%M')}, python {platform.python_version()}, "
          f"{platform.machine()}, {platform.processor() or platform.system()}")
    vers = [f"numpy {np.__version__}", f"xprop {xprop.__version__}",
            f"array-api-compat {array_api_compat.__version__}"]
    for mod in ("torch", "jax", "cupy", "array_api_strict"):
        m = sys.modules.get(mod) or try_import(mod)
        vers.append(f"{mod} {getattr(m, '__version__', '?')}" if m else f"{mod} -")
    print(", ".join(vers))
    aff = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"XLA_FLAGS={os.environ.get('XLA_FLAGS')!r}")
    print(f"cpus: os.cpu_count()={os.cpu_count()}, affinity={aff}; "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')} "
          f"OPENBLAS_L2_SIZE={os.environ.get('OPENBLAS_L2_SIZE')} "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            print(f"BLAS/OpenMP: {pool.get('internal_api')} {pool.get('version')} "
                  f"kernel={pool.get('architecture')} threads={pool.get('num_threads')} "
                  f"({os.path.basename(pool.get('filepath', ''))})")
    except ImportError:
        print("BLAS: (threadpoolctl not installed)")
    torch = sys.modules.get("torch")
    if torch is not None:
        print(f"torch: {torch.get_num_threads()} intra-op threads, "
              f"{torch.__config__.parallel_info().splitlines()[-1].strip()}")
        if torch_device and torch_device.startswith("cuda"):
            print(f"GPU (torch): {torch.cuda.get_device_name(torch_device)}, CUDA "
                  f"{torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}")
    jax = sys.modules.get("jax")
    if jax is not None:
        print(f"jax devices: {', '.join(str(d) for d in jax.devices())}")
    cupy = sys.modules.get("cupy")
    if cupy is not None and gpu:
        try:
            rt = cupy.cuda.runtime
            props = rt.getDeviceProperties(cupy.cuda.Device().id)
            name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
            print(f"GPU (cupy): {name}, driver {rt.driverGetVersion()}, runtime "
                  f"{rt.runtimeGetVersion()}")
        except Exception as e:
            print(f"GPU (cupy): unknown ({type(e).__name__}: {e})")
    if gpu and torch is None and cupy is None:
        print("GPU: (neither torch nor cupy importable to name it)")


# --------------------------------------------------------------------------- main


_LIMITS: list[Any] = []  # keeps the threadpoolctl limit alive for the whole run


def limit_threads(n: int) -> None:
    """``n`` threads in every library, on ``n`` cores: BLAS and OpenMP pools loaded now or
    later (env vars and threadpoolctl), PyTorch's intra-op pool (set in main), JAX's pool
    (XLA_FLAGS; XLA's CPU runtime does not always honour them, so the process is also pinned to
    the first ``n`` of its CPUs: whatever a library starts, it computes on ``n`` cores)."""
    if hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))
        if n < len(cpus):
            os.sched_setaffinity(0, cpus[:n])
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
    flags = os.environ.get("XLA_FLAGS", "")
    if n == 1 and "xla_cpu_multi_thread_eigen" not in flags:
        flags += " --xla_cpu_multi_thread_eigen=false"
    if "intra_op_parallelism_threads" not in flags:
        flags += f" intra_op_parallelism_threads={n}"
    os.environ["XLA_FLAGS"] = flags.strip()
    try:
        from threadpoolctl import threadpool_limits

        _LIMITS.append(threadpool_limits(n))
    except ImportError:
        print("--threads: threadpoolctl is not installed; NumPy's BLAS keeps its threads")


def load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def parse_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[3:]))
    ap.add_argument("--backend", default="numpy",
                    help="xprop backend for the models: numpy, torch, torch:cuda, cupy, jax, "
                         "jax:cpu, ... (default numpy)")
    ap.add_argument("--models", default=None,
                    help=f"comma list of {', '.join(MODELS)}, 'all' or 'none' (default "
                         f"{','.join(CPU_DEFAULT_MODELS)} on a CPU, all on a GPU)")
    ap.add_argument("--no-sweep", action="store_true", help="skip the width sweep")
    ap.add_argument("--sweep-only", action="store_true", help="only the width sweep")
    ap.add_argument("--sweep-backends", default=None,
                    help="comma list of xprop backends for the sweep (default: the installed "
                         "CPU backends numpy,torch,jax; on a GPU --backend, that backend)")
    ap.add_argument("--widths", default=None,
                    help="comma list of sweep widths (default 32,64,...,4096)")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    ap.add_argument("--repeats", type=int, default=3,
                    help="samples per variant per round (default 3; 1 for slow steps)")
    ap.add_argument("--target", type=float, default=0.05,
                    help="seconds one sample should last (default 0.05)")
    ap.add_argument("--gap", type=float, default=None,
                    help="seconds of sleep between variants, so one library's spinning worker "
                         "threads do not slow the next (default 0.1; 0.01 with --quick)")
    ap.add_argument("--threads", type=int, default=None,
                    help="threads for every library (OpenBLAS/OpenMP via threadpoolctl, "
                         "torch.set_num_threads, JAX via XLA_FLAGS), the process pinned to "
                         "that many cores; default: all cores")
    ap.add_argument("--no-torch", action="store_true", help="no PyTorch autograd reference")
    ap.add_argument("--quick", action="store_true",
                    help=f"smoke run: 2 rounds, 1 repeat, 5 ms samples, widths "
                         f"{','.join(map(str, QUICK_WIDTHS))}")
    args = ap.parse_args(argv)
    if args.threads is not None:
        limit_threads(args.threads)  # before JAX is imported: XLA reads its flags once
    rounds, repeats, target = args.rounds, args.repeats, args.target
    if args.quick:
        rounds, repeats, target = 2, 1, 0.005
    gap = args.gap if args.gap is not None else (0.01 if args.quick else 0.1)
    t_start = time.perf_counter()
    # JAX on a GPU would otherwise take 75% of its memory at import, starving PyTorch
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

    try:
        main_backend = resolve_backend(args.backend)  # fails early for unknown / missing ones
    except Exception as e:
        print(f"--backend {args.backend}: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    gpu = is_gpu(main_backend)
    if args.models is None:
        models = list(MODELS) if gpu else list(CPU_DEFAULT_MODELS)
    elif args.models in ("all", "none"):
        models = list(MODELS) if args.models == "all" else []
    else:
        models = parse_list(args.models)
        bad = [m for m in models if m not in MODELS]
        if bad:
            ap.error(f"--models: unknown {bad}; expected some of {', '.join(MODELS)}")
    if args.sweep_only:
        models = []
    if args.sweep_backends is not None:
        sweep_backends = parse_list(args.sweep_backends)
    elif gpu:
        sweep_backends = [args.backend]
    else:
        sweep_backends = [b for b in CPU_BACKENDS if try_import(b) is not None]
    if args.widths is not None:
        widths = [int(w) for w in parse_list(args.widths)]
    else:
        widths = list(QUICK_WIDTHS if args.quick else SWEEP_WIDTHS)
    do_sweep = not args.no_sweep and bool(widths)

    torch = None if args.no_torch else try_import("torch")
    torch_ok = torch is not None
    if torch is not None:
        aff = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
        torch.set_num_threads(args.threads or max(1, aff))
    for b in sweep_backends if do_sweep else []:
        if b.startswith("jax"):
            try_import("jax")
    if main_backend.name == "jax":
        try_import("jax")
    set_precision(gpu or any(b.startswith(("cupy", "torch:cuda")) for b in sweep_backends),
                  args.backend)
    print_environment(gpu, torch_device_for(main_backend) if torch_ok else None)
    if "wide" in models and not gpu:
        print("NOTE: 'wide' is ~0.58 TFLOP a step: seconds per step on a CPU")
    print(f"load average {load()} (other processes on these cores make every figure noisy)")
    print(f"settings: rounds {rounds}, repeats {repeats}, target {target * 1e3:.0f} ms per "
          f"sample, gap {gap * 1e3:.0f} ms, models {models or '-'}, sweep "
          f"{widths if do_sweep else '-'} on {sweep_backends if do_sweep else '-'}")

    for name in models:
        bench_model(MODELS[name], args.backend, rounds, repeats, target, gap, torch_ok)
    if do_sweep:
        sweep(sweep_backends, widths, rounds, repeats, target, gap, torch_ok)
    print(f"\ntotal {time.perf_counter() - t_start:.1f} s, load average {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
