# requires: mpi4py
# %% [markdown]
# # Data-parallel training over MPI
#
# `xprop.distributed.fit_distributed` is `fit` with one all-reduce of the flat gradient per
# step: each of the ranks takes its shard of every global batch, the gradients are summed
# (weighted by shard size) and every rank applies the same update. Only rank 0 needs the data.
# On 2 ranks the parameters agree with one process's `fit` to rounding (the sum of two
# partial gradients is not the full gradient bit for bit): here within 1e-12.
#
# Run the training part with `mpiexec -n 2 python -m mpi4py docs/examples/06_mpi.py out.npz`
# (rank 0 saves the parameters and losses to `out.npz`; needs `pip install "xprop[mpi]"`);
# run plainly, this script starts that itself and compares.

# %%
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

import xprop
from xprop import datasets


def data():
    X, y = datasets.digits()
    return X[:600] / 16.0, y[:600]


def model():
    return xprop.MLP([64, 32, 10], "relu", "softmax", "cross_entropy", seed=0)


CONFIG = xprop.FitConfig(optimizer="adam", lr=0.01, epochs=5, batch_size=64, seed=1)


def train_on_ranks(out: str) -> None:
    """What every rank runs (under mpiexec)."""
    from xprop.distributed import fit_distributed, world

    comm = world()
    X, y = data() if comm.is_root else (None, None)  # the others receive their rows
    m = model()
    history = fit_distributed(m, X, y, CONFIG, comm=comm)
    if comm.is_root:
        np.savez(out, buffer=xprop.to_numpy(m.params.buffer), loss=history.loss,
                 ranks=comm.size)


# %% [markdown]
# ## Two ranks against one process

# %%
if os.environ.get("PMI_RANK") is not None or os.environ.get("OMPI_COMM_WORLD_RANK"):
    train_on_ranks(sys.argv[1])  # started by mpiexec (below)
    sys.exit(0)

mpiexec = shutil.which("mpiexec", path=os.path.dirname(sys.executable) + os.pathsep
                       + os.environ.get("PATH", ""))
if mpiexec is None:
    print("no mpiexec here (pip install \"xprop[mpi]\"): nothing to compare")
    sys.exit(0)
with tempfile.TemporaryDirectory() as tmp:
    out = str(Path(tmp) / "ranks.npz")
    run = subprocess.run([mpiexec, "-n", "2", sys.executable, __file__, out],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    ranks = dict(np.load(out))
one = model()
history = one.fit(*data(), CONFIG)
diff = np.max(np.abs(ranks["buffer"] - xprop.to_numpy(one.params.buffer)))
print(f"{int(ranks['ranks'])} ranks vs one process: parameters differ by at most {diff:.1e}; "
      f"final loss {ranks['loss'][-1]:.6f} vs {history.loss[-1]:.6f}")
assert int(ranks["ranks"]) == 2 and diff < 1e-12
