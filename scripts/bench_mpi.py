"""Time one data-parallel training step on R MPI ranks: compute, all-reduce and update.

    mpiexec -n 1 python scripts/bench_mpi.py
    mpiexec -n 2 python scripts/bench_mpi.py          # then compare

For a digits-sized 64-128-10 model (global batch 64) and 784-1024-1024-10 (global batch 512),
float32, SGD, NumPy backend: each rank computes the gradient of its shard of the global
batch, one Allreduce of the flat gradient buffer sums the shards, every rank updates. Prints,
on rank 0, the median step time, the all-reduce time and its share of the step, and the
gradient's size; the speedup over one rank and the scaling efficiency (speedup / R) come
from comparing two runs.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

import xprop
from xprop import network
from xprop.distributed import shard, world
from xprop.optimizers import get_optimizer

CASES = [("digits 64-128-10", [64, 128, 10], 64, 200),
         ("784-1024-1024-10", [784, 1024, 1024, 10], 512, 12)]


def main() -> None:
    comm = world()
    for name, sizes, batch, steps in CASES:
        rng = np.random.default_rng(0)
        X = rng.standard_normal((batch, sizes[0])).astype(np.float32)
        y = rng.integers(0, sizes[-1], batch)
        m = xprop.MLP(sizes, "relu", "softmax", "cross_entropy", seed=0, dtype="float32")
        Xd, Yd, _ = m.prepare(X, y)
        lo, hi = shard(0, batch, comm.rank, comm.size)
        Xb, Yb = Xd[lo:hi, ...], Yd[lo:hi, ...]
        opt = get_optimizer("sgd", lr=0.01)
        xp, be, arch, params = m.xp, m.backend, m.arch, m.params
        totals, reduces = [], []
        for _ in range(steps + 3):
            comm.comm.Barrier()
            t0 = time.perf_counter()
            _, cache = network.forward(params, Xb, arch, xp)
            g = network.backward(params, cache, Yb, arch, xp=xp).buffer * ((hi - lo) / batch)
            t1 = time.perf_counter()
            g = comm.allreduce_sum(g, be)
            t2 = time.perf_counter()
            params.assign(opt.update(params.buffer, g, xp))
            t3 = time.perf_counter()
            totals.append(t3 - t0)
            reduces.append(t2 - t1)
        total, reduce = statistics.median(totals[3:]), statistics.median(reduces[3:])
        if comm.is_root:
            mb = params.buffer.size * 4 / 1e6
            print(f"{name}: {comm.size} rank(s), global batch {batch}: step {total * 1e3:.3f} ms, "
                  f"all-reduce {reduce * 1e3:.3f} ms ({100 * reduce / total:.1f}% of the step), "
                  f"gradient {mb:.2f} MB", flush=True)


if __name__ == "__main__":
    main()
