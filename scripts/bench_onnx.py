"""Serving latency: an exported model in ONNX Runtime against xprop's own ``predict``.

    python scripts/bench_onnx.py [--rounds 9] [--threads 1] [--quick]

Models (float32, standardised inputs, as ``xprop train`` makes them): the spirals net
2-64-64-3 (ReLU, softmax) and a digits-sized 64-128-10 (ReLU, softmax). For a batch of 1 row
and of 1024 rows, every variant predicts labels from host (NumPy) float32 data:

- ``ort``: ONNX Runtime's CPU session on ``model.export_onnx(...)``, fetching ``label``;
- ``ort, ndonnx's ops``: the same model recorded without the ndonnx adapter's own nodes
  (its ``affine``, one MatMul + Add, and its softmax, one Softmax): what ndonnx records for
  xprop's portable code (every MatMul inside an ``If``, softmax's max with a NaN check);
- ``xprop numpy``: ``model.predict(X)`` on NumPy (standardisation, checks, forward, argmax);
- ``xprop torch``: ``model.to("torch").predict(X)`` on the CPU, host data copied in, labels
  copied back to NumPy (what a caller holding NumPy data gets).

Each round times a block of calls of every variant in turn (interleaved, so drifts of a shared
machine hit all alike); the figures are medians over rounds of the time per call. RATIO lines
divide ONNX Runtime's time by xprop's (below 1: ONNX Runtime is faster). Every library gets
``--threads`` threads (default 1: NumPy's BLAS through threadpoolctl, torch's intra-op pool,
ONNX Runtime's intra-op pool, whose threads do not spin after a run): thread pools of several
libraries that spin while waiting take the cores from the variant timed next.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from unittest import mock

import numpy as np

import xprop
from xprop.backend import ADAPTERS, Adapter
from xprop.backend.ndonnx_ import NdonnxAdapter

MODELS = {"spirals 2-64-64-3": [2, 64, 64, 3], "digits-sized 64-128-10": [64, 128, 10]}
BATCHES = (1, 1024)


def model_for(sizes: list[int]) -> tuple[xprop.MLP, np.ndarray]:
    """A float32 ReLU/softmax model with a standardizer fitted on its random data."""
    rng = np.random.default_rng(0)
    X = rng.normal(1.0, 3.0, (1024, sizes[0])).astype(np.float32)
    model = xprop.MLP(sizes, "relu", "softmax", "cross_entropy", dtype="float32", seed=0)
    return model.standardize(X), X


@contextmanager
def portable_code() -> Iterator[None]:
    """The ndonnx adapter without its own nodes (affine and the softmax kernel), its cache of
    resolved activation functions emptied on the way in and out."""
    with mock.patch.object(NdonnxAdapter, "affine", Adapter.affine), \
            mock.patch.object(NdonnxAdapter, "kernel", Adapter.kernel):
        vars(ADAPTERS[NdonnxAdapter.name]).pop("_resolved", None)
        try:
            yield
        finally:
            vars(ADAPTERS[NdonnxAdapter.name]).pop("_resolved", None)


def session(model: xprop.MLP, path: str, threads: int, portable: bool = False):
    """An ONNX Runtime CPU session for the exported model (``portable``: recorded without
    the adapter's own nodes): ``threads`` intra-op threads that do not spin after a run."""
    import onnxruntime as ort

    if portable:
        with portable_code():
            model.export_onnx(path)
    else:
        model.export_onnx(path)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def variants(model: xprop.MLP, X: np.ndarray, tmp: str,
             threads: int) -> dict[str, Callable[[], object]]:
    """Label predictors for the batch ``X``, each checked against NumPy predict once."""
    ort_own = session(model, os.path.join(tmp, "own.onnx"), threads)
    ort_portable = session(model, os.path.join(tmp, "portable.onnx"), threads, portable=True)
    on_torch = model.to("torch") if "torch" in available() else None
    fns: dict[str, Callable[[], object]] = {
        "ort": lambda: ort_own.run(["label"], {"input": X})[0],
        "ort, ndonnx's ops": lambda: ort_portable.run(["label"], {"input": X})[0],
        "xprop numpy": lambda: model.predict(X),
    }
    if on_torch is not None:
        fns["xprop torch"] = lambda: xprop.to_numpy(on_torch.predict(X))
    want = model.predict(X)
    for name, fn in fns.items():
        assert np.array_equal(np.asarray(fn()), want), f"{name} predicts other labels"
    return fns


def interleaved(fns: dict[str, Callable[[], object]], rounds: int, calls: int) -> dict:
    """Median over ``rounds`` of the time per call of each function (blocks of ``calls``)."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for fn in fns.values():  # warm-up
        fn()
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(calls):
                fn()
            times[name].append((time.perf_counter() - t0) / calls)
    return {k: statistics.median(v) for k, v in times.items()}


def available() -> set[str]:
    found = set()
    for name in ("torch", "onnxruntime", "ndonnx", "onnx"):
        try:
            __import__(name)
            found.add(name)
        except ImportError:
            pass
    return found


def limit_threads(n: int) -> list:
    """NumPy's BLAS (and OpenMP pools) and torch's intra-op pool at ``n`` threads; returns
    what keeps the threadpoolctl limit alive."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        print("threadpoolctl is not installed: NumPy's BLAS keeps its threads")
        return []
    return [threadpool_limits(n)]


def header(threads: int) -> None:
    import ndonnx
    import onnx
    import onnxruntime

    torch = sys.modules.get("torch")
    print(f"{time.strftime('%Y-%m-%d')}: python {platform.python_version()}, numpy "
          f"{np.__version__}, xprop {xprop.__version__}, onnxruntime {onnxruntime.__version__}, "
          f"onnx {onnx.__version__}, ndonnx {ndonnx.__version__}, torch "
          f"{getattr(torch, '__version__', '-')}; machine "
          f"{platform.processor() or platform.machine()}")
    aff = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"cpus: os.cpu_count()={os.cpu_count()}, affinity={aff}; torch "
          f"{torch.get_num_threads() if torch else '-'} intra-op threads; onnxruntime "
          f"{threads} intra-op threads, session.intra_op.allow_spinning=0")
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            print(f"BLAS/OpenMP: {pool.get('internal_api')} {pool.get('version')} "
                  f"threads={pool.get('num_threads')}")
    except ImportError:
        print("BLAS: (threadpoolctl not installed)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=9, help="interleaved rounds (median)")
    p.add_argument("--threads", type=int, default=1, help="threads of every library")
    p.add_argument("--quick", action="store_true", help="3 rounds of short blocks")
    args = p.parse_args(argv)
    missing = {"onnxruntime", "ndonnx", "onnx"} - available()
    if missing:
        print(f"needs {', '.join(sorted(missing))}: pip install \"xprop[onnx]\"")
        return 2
    limits = limit_threads(args.threads)
    header(args.threads)
    rounds = 3 if args.quick else args.rounds
    with tempfile.TemporaryDirectory() as tmp:
        for title, sizes in MODELS.items():
            model, data = model_for(sizes)
            for batch in BATCHES:
                calls = max(2, (200 if batch == 1 else 20) // (4 if args.quick else 1))
                fns = variants(model, data[:batch], tmp, args.threads)
                res = interleaved(fns, rounds, calls)
                print(f"{title}, batch {batch}, per call ({rounds} rounds of {calls}):")
                for name, t in res.items():
                    print(f"  {name:<18} {t * 1e6:10.1f} us")
                for ref in ("xprop numpy", "xprop torch"):
                    if ref in res:
                        print(f"  RATIO ort / {ref}: {res['ort'] / res[ref]:.2f}")
                portable = res["ort, ndonnx's ops"]
                print(f"  RATIO ort, ndonnx's ops / ort: {portable / res['ort']:.2f}")
    del limits
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
