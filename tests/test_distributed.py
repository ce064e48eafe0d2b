"""Data-parallel training over MPI (xprop.distributed): the same model on 1, 2 and 4 ranks.

Runs ``mpiexec -n R`` (the mpich wheel's, oversubscribed on small machines) in subprocesses,
each with a timeout so that a hang fails instead of blocking. Tolerance for N ranks against
one: the gradient of each batch is the same sum taken in another order (per-shard sums, then
an Allreduce), so parameters differ by float64 rounding, a few ulps per step; after 5 epochs
of Adam we allow 1e-12 absolute on parameters of order 0.1-1 (seen: 3e-16)."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import xprop
from xprop import datasets
from xprop.distributed import shard

pytest.importorskip("mpi4py")
MPIEXEC = shutil.which("mpiexec", path=os.path.dirname(sys.executable) + os.pathsep
                       + os.environ.get("PATH", ""))
needs_mpiexec = pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec (pip install mpich)")
TIMEOUT = 180

SCRIPT = """
import sys, numpy as np, xprop
from xprop import datasets
from xprop.distributed import fit_distributed, world
comm = world()
X, y = datasets.digits()
X, y = X[:600] / 16.0, y[:600]
if not comm.is_root:  # only rank 0 has the data; the others receive their rows
    X = y = None
m = xprop.MLP([64, 32, 10], "relu", "softmax", "cross_entropy", seed=0)
h = fit_distributed(m, X, y, comm=comm, optimizer="adam", lr=0.01, epochs=5, batch_size=64,
                    seed=1)
np.savez(sys.argv[1] + f".{comm.rank}.npz", buffer=xprop.to_numpy(m.params.buffer),
         loss=np.asarray(h.loss), accuracy=np.asarray(h.accuracy), size=comm.size)
"""


def _mpirun(tmp_path: Path, ranks: int, source: str, *args: str) -> subprocess.CompletedProcess:
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent(source))
    return subprocess.run([MPIEXEC, "-n", str(ranks), sys.executable, str(script), *args],
                          capture_output=True, text=True, timeout=TIMEOUT, cwd=tmp_path)


def _reference():
    X, y = datasets.digits()
    X, y = X[:600] / 16.0, y[:600]
    m = xprop.MLP([64, 32, 10], "relu", "softmax", "cross_entropy", seed=0)
    h = m.fit(X, y, optimizer="adam", lr=0.01, epochs=5, batch_size=64, seed=1)
    return xprop.to_numpy(m.params.buffer), h


def test_shards_split_each_batch_in_order():
    for n, size in ((64, 2), (64, 3), (5, 4), (3, 4), (1, 2)):
        parts = [shard(10, 10 + n, r, size) for r in range(size)]
        assert parts[0][0] == 10 and parts[-1][1] == 10 + n
        assert all(a[1] == b[0] for a, b in itertools.pairwise(parts))
        sizes = [hi - lo for lo, hi in parts]
        assert max(sizes) - min(sizes) <= 1


def test_one_rank_is_exactly_fit():
    from xprop.distributed import fit_distributed, world

    ref, h_ref = _reference()
    X, y = datasets.digits()
    m = xprop.MLP([64, 32, 10], "relu", "softmax", "cross_entropy", seed=0)
    h = fit_distributed(m, X[:600] / 16.0, y[:600], comm=world(), optimizer="adam", lr=0.01,
                        epochs=5, batch_size=64, seed=1)
    np.testing.assert_array_equal(xprop.to_numpy(m.params.buffer), ref)
    np.testing.assert_allclose(h.loss, h_ref.loss, rtol=1e-14)
    assert h.accuracy == h_ref.accuracy


@needs_mpiexec
@pytest.mark.parametrize("ranks", [2, 4])
def test_n_ranks_train_the_model_of_one(tmp_path, ranks):
    r = _mpirun(tmp_path, ranks, SCRIPT, str(tmp_path / "out"))
    assert r.returncode == 0, r.stdout + r.stderr
    ref, h_ref = _reference()
    for rank in range(ranks):
        got = np.load(tmp_path / f"out.{rank}.npz")
        assert int(got["size"]) == ranks
        np.testing.assert_allclose(got["buffer"], ref, rtol=0, atol=1e-12)
        np.testing.assert_allclose(got["loss"], h_ref.loss, rtol=1e-12)
        np.testing.assert_array_equal(got["accuracy"], h_ref.accuracy)


@needs_mpiexec
def test_the_cli_on_two_ranks_gives_the_single_process_model(tmp_path):
    common = ["-m", "xprop", "train", "--data", "digits", "--epochs", "4", "--quiet",
              "--dtype", "float64", "--seed", "3"]
    one = subprocess.run([sys.executable, *common, "--out", "one.npz"], capture_output=True,
                         text=True, timeout=TIMEOUT, cwd=tmp_path)
    assert one.returncode == 0, one.stderr
    two = subprocess.run([MPIEXEC, "-n", "2", sys.executable, "-m", "mpi4py", *common,
                          "--distributed", "--out", "two.npz"], capture_output=True, text=True,
                         timeout=TIMEOUT, cwd=tmp_path)
    assert two.returncode == 0, two.stdout + two.stderr
    assert two.stdout.count("done:") == 1  # rank 0 alone prints
    acc = [line.split("test accuracy")[1] for line in (one.stdout + two.stdout).splitlines()
           if "test accuracy" in line]
    assert len(acc) == 2 and acc[0] == acc[1]
    a, b = np.load(tmp_path / "one.npz"), np.load(tmp_path / "two.npz")
    for key in ("W0", "b0", "W1", "b1"):
        np.testing.assert_allclose(a[key], b[key], rtol=0, atol=1e-12)


@needs_mpiexec
def test_a_failing_rank_ends_the_whole_job(tmp_path):
    """Rank 0 cannot read the data while the others wait for it: the job ends (no hang) with
    the error on stderr."""
    source = """
    import sys
    from xprop.cli import main
    sys.exit(main(["train", "--data", "no_such_file.csv", "--epochs", "50", "--quiet",
                   "--distributed"]))
    """
    r = _mpirun(tmp_path, 2, source)
    assert r.returncode != 0
    assert "error on rank 0" in r.stderr and "no_such_file.csv" in r.stderr


def test_distributed_without_mpi4py_is_a_one_line_error(tmp_path, monkeypatch):
    script = tmp_path / "no_mpi.py"
    script.write_text(textwrap.dedent("""
        import sys
        sys.modules["mpi4py"] = None  # as if it were not installed
        from xprop.cli import main
        sys.exit(main(["train", "--data", "xor", "--distributed", "--quiet"]))
    """))
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                       timeout=TIMEOUT, cwd=tmp_path)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "mpi4py" in lines[0] and 'xprop[mpi]' in lines[0]


def test_info_shows_the_mpi_library_and_world_size(tmp_path):
    r = subprocess.run([sys.executable, "-m", "xprop", "info"], capture_output=True, text=True,
                       timeout=TIMEOUT, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    line = next(x for x in r.stdout.splitlines() if x.strip().startswith("mpi:"))
    assert "mpi4py" in line and "world size 1" in line
    if MPIEXEC is not None:
        r = subprocess.run([MPIEXEC, "-n", "2", sys.executable, "-m", "mpi4py", "-m", "xprop",
                            "info"], capture_output=True, text=True, timeout=TIMEOUT,
                           cwd=tmp_path)
        assert r.returncode == 0 and "world size 2" in r.stdout, r.stdout + r.stderr


VALIDATION_SCRIPT = """
import sys, numpy as np, xprop
from xprop import datasets
from xprop.distributed import fit_distributed, world
comm = world()
X, y = datasets.digits()
X, y = X[:500] / 16.0, y[:500]
if not comm.is_root:
    X = y = None
m = xprop.MLP([64, 16, 10], "tanh", "softmax", "cross_entropy", seed=0)
h = fit_distributed(m, X, y, comm=comm, optimizer="adam", lr=0.05, epochs=60, batch_size=50,
                    seed=2, validation_split=0.2, early_stopping=3)
np.savez(sys.argv[1] + f".{comm.rank}.npz", buffer=xprop.to_numpy(m.params.buffer),
         val_loss=np.asarray(h.val_loss), val_accuracy=np.asarray(h.val_accuracy),
         best=h.best_epoch, stopped=h.stopped_early)
"""


@needs_mpiexec
@pytest.mark.parametrize("ranks", [1, 2, 4])
def test_validation_and_early_stopping_decide_alike_on_every_rank(tmp_path, ranks):
    """Validation rows are split over the ranks and the metrics reduced: every rank stops at
    the same epoch with the same best parameters, and as fit with the same split does."""
    r = _mpirun(tmp_path, ranks, VALIDATION_SCRIPT, str(tmp_path / "v"))
    assert r.returncode == 0, r.stdout + r.stderr
    X, y = datasets.digits()
    m = xprop.MLP([64, 16, 10], "tanh", "softmax", "cross_entropy", seed=0)
    h = m.fit(X[:500] / 16.0, y[:500], optimizer="adam", lr=0.05, epochs=60, batch_size=50,
              seed=2, validation_split=0.2, early_stopping=3)
    assert h.stopped_early and h.best_epoch < 60
    for rank in range(ranks):
        got = np.load(tmp_path / f"v.{rank}.npz")
        assert int(got["best"]) == h.best_epoch and bool(got["stopped"])
        np.testing.assert_allclose(got["val_loss"], h.val_loss, rtol=1e-12)
        np.testing.assert_array_equal(got["val_accuracy"], h.val_accuracy)
        np.testing.assert_allclose(got["buffer"], xprop.to_numpy(m.params.buffer), rtol=0,
                                   atol=1e-12)


@needs_mpiexec
def test_device_arrays_reduce_through_the_host(tmp_path):
    """A stand-in for GPUs: array-api-strict's non-host ``device1`` on 2 ranks trains the same
    model as NumPy on 1 (gradients cross through host copies)."""
    pytest.importorskip("array_api_strict")
    source = SCRIPT.replace('seed=0)\nh =', 'seed=0, backend="array_api_strict:device1")\nh =')
    assert 'backend="array_api_strict:device1"' in source
    r = _mpirun(tmp_path, 2, source, str(tmp_path / "dev"))
    assert r.returncode == 0, r.stdout + r.stderr
    ref, _ = _reference()
    for rank in range(2):
        got = np.load(tmp_path / f"dev.{rank}.npz")
        np.testing.assert_allclose(got["buffer"], ref, rtol=0, atol=1e-12)


@needs_mpiexec
def test_an_adapters_device_allreduce_is_used_when_offered(tmp_path):
    """The path CuPy takes with NCCL, with a stand-in: an adapter whose device all-reduce
    (here MPI on the array itself, counting its calls) replaces the host copy."""
    stand_in = """
from mpi4py import MPI
from xprop.backend.numpy_ import NumpyAdapter
CALLS = []
def device_allreduce(self, comm, device):
    def allreduce(x):
        CALLS.append(x.size)
        comm.Allreduce(MPI.IN_PLACE, x, op=MPI.SUM)
        return x
    return allreduce
NumpyAdapter.device_allreduce = device_allreduce
"""
    source = stand_in + SCRIPT + "\nassert len(CALLS) == 5 * 10, len(CALLS)\n"
    r = _mpirun(tmp_path, 2, source, str(tmp_path / "nccl"))
    assert r.returncode == 0, r.stdout + r.stderr
    ref, _ = _reference()
    np.testing.assert_allclose(np.load(tmp_path / "nccl.0.npz")["buffer"], ref, rtol=0,
                               atol=1e-12)


@needs_mpiexec
def test_a_rank_that_fails_while_the_others_train_ends_the_job(tmp_path):
    source = """
    import sys
    from mpi4py import MPI
    import xprop.distributed as D
    from xprop.cli import main
    if MPI.COMM_WORLD.Get_rank() == 1:
        def broken(*args, **kwargs):
            raise ValueError("rank 1 cannot train")
        D.fit_distributed = broken
    sys.exit(main(["train", "--data", "digits", "--epochs", "50", "--quiet", "--distributed"]))
    """
    r = _mpirun(tmp_path, 2, source)
    assert r.returncode != 0
    assert "error on rank 1: rank 1 cannot train" in r.stderr
