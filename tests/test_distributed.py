"""Data-parallel training over MPI (xprop.distributed): the same model on 1, 2 and 4 ranks.

Runs ``mpiexec -n R`` (the mpich wheel's, oversubscribed on small machines) in subprocesses,
each with a timeout so that a hang fails instead of blocking. Tolerance for N ranks against
one: the gradient of each batch is the same sum taken in another order (per-shard sums, then
an Allreduce), so parameters differ by float64 rounding, a few ulps per step; after 5 epochs
of Adam we allow 1e-12 absolute on parameters of order 0.1-1 (seen: 3e-16)."""

from __future__ import annotations

import itertools
import os
import pickle
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import xprop
from xprop import datasets
from xprop.distributed import fit_distributed, shard

pytest.importorskip("mpi4py")
MPIEXEC = shutil.which("mpiexec", path=os.path.dirname(sys.executable) + os.pathsep
                       + os.environ.get("PATH", ""))
needs_mpiexec = pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec (pip install mpich)")
TIMEOUT = 180
RANK_DEADLINE = str(Path(__file__).with_name("rank_deadline"))

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
h = fit_distributed(m, X, y, xprop.FitConfig(seed=1), comm=comm, optimizer="adam", lr=0.01,
                    epochs=5, batch_size=64)
np.savez(sys.argv[1] + f".{comm.rank}.npz", buffer=xprop.to_numpy(m.params.buffer),
         loss=np.asarray(h.loss), accuracy=np.asarray(h.accuracy), size=comm.size)
"""


def _job(cmd: list[str], *, cwd: Path, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    """Run ``cmd`` (an ``mpiexec`` job, or one process), its output captured. Each of its
    processes exits on its own ``timeout`` seconds after it started (``rank_deadline``: a
    test's timeout kills mpiexec, not its ranks), and the test fails a little later."""
    env = dict(os.environ, XPROP_RANK_DEADLINE=str(timeout), PYTHONPATH=os.pathsep.join(
        p for p in (RANK_DEADLINE, os.environ.get("PYTHONPATH")) if p))
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 20, cwd=cwd,
                          env=env)


def _mpirun(tmp_path: Path, ranks: int, source: str, *args: str) -> subprocess.CompletedProcess:
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent(source))
    return _job([MPIEXEC, "-n", str(ranks), sys.executable, str(script), *args], cwd=tmp_path)


def _reference():
    X, y = datasets.digits()
    X, y = X[:600] / 16.0, y[:600]
    m = xprop.MLP([64, 32, 10], "relu", "softmax", "cross_entropy", seed=0)
    h = m.fit(X, y, optimizer="adam", lr=0.01, epochs=5, batch_size=64,
              config=xprop.FitConfig(seed=1))
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
                        epochs=5, batch_size=64, config=xprop.FitConfig(seed=1))
    np.testing.assert_array_equal(xprop.to_numpy(m.params.buffer), ref)
    np.testing.assert_allclose(h.loss, h_ref.loss, rtol=1e-14)
    assert h.accuracy == h_ref.accuracy

    # validation too, bit for bit (it was summed and divided otherwise: the last digits)
    for options in ({"validation_split": 0.2}, {"config": xprop.FitConfig(
            validation_data=(X[600:700] / 16.0, y[600:700]))}):
        histories = []
        for train in (xprop.fit, lambda *a, **k: fit_distributed(*a, comm=world(), **k)):
            m = xprop.MLP([64, 32, 10], "relu", "softmax", "cross_entropy", seed=0)
            histories.append(train(m, X[:600] / 16.0, y[:600], optimizer="adam", lr=0.01,
                                   epochs=3, batch_size=64, **options))
        assert histories[0].val_loss == histories[1].val_loss
        assert histories[0].val_accuracy == histories[1].val_accuracy


def test_one_rank_keeps_the_epochs_before_a_failing_schedule_and_reads_each_rate_once():
    """Found by audit: on one rank a schedule that failed mid-fit lost the chunk of epochs
    under way (fit keeps the epochs before the failing one), and the schedule was read
    twice more for epoch 0 (a schedule that keeps state of its own shifted its rates)."""
    from xprop.distributed import world

    X, y = datasets.xor()
    results = {}
    for name, entry in (("fit", xprop.fit),
                        ("one rank", lambda *a: fit_distributed(*a, comm=world()))):
        read: list[int] = []

        def schedule(epoch, read=read):
            read.append(epoch)
            return float("nan") if epoch == 300 else 0.5 / (1 + epoch)

        m = xprop.MLP([2, 4, 1], "tanh", "sigmoid", "bce", seed=0)
        with pytest.raises(ValueError, match=r"schedule\(300\): expected a finite") as err:
            entry(m, X, y, xprop.FitConfig(epochs=600, schedule=schedule))
        results[name] = (read, len(err.value.history), xprop.to_numpy(m.params.buffer))
    (read1, n1, p1), (read2, n2, p2) = results.values()
    assert read1 == read2 == list(range(301)) and n1 == n2 == 300
    np.testing.assert_array_equal(p1, p2)


@pytest.mark.parametrize(("rows", "outputs", "finite"), [(4, 1, False), (2, 2, True)])
def test_one_rank_judges_finite_training_as_fit_does(tmp_path, rows, outputs, finite):
    """Found by review: the shards' finite check summed the per-sample losses in Python
    floats, fit's in the model's dtype (as the loss adds them up). Rows whose losses are
    each finite in float32 but overflow it summed: fit's divergence recovery refused the
    state, the shards' accepted it. One loop now judges both (xprop.train.finite_batches),
    in-memory data too: it summed every output's term (4e38, inf in float32) where the
    others sum the rows' losses, each a mean over the outputs (2 x 1e38: finite)."""
    from xprop import train
    from xprop.distributed import _shards, _start, world

    X = np.full((rows, 1), 1e19)  # each row's loss 1e38
    y = np.zeros((rows, outputs)) if outputs > 1 else np.zeros(rows)
    np.save(tmp_path / "X.npy", X)
    config = xprop.FitConfig(epochs=1, batch_size=2, shuffle=False)
    verdicts = []
    for data in (X, np.load(tmp_path / "X.npy", mmap_mode="r"), None):
        m = xprop.MLP([1, outputs], "identity", "identity", "mse", dtype="float32", seed=0)
        m.set_parameters({"W0": [[1.0] * outputs], "b0": [0.0] * outputs})
        if data is None:  # the shards of one rank
            options = dict(config=config, epochs=None, batch_size=None, optimizer=None,
                           lr=None, validation_split=None, early_stopping=None)
            shards = _shards(world(), m, *_start(world(), m, X, y, options)[:2])
            verdicts.append(shards.finite_on_training(m))
        else:
            verdicts.append(train.prepare_data(m, data, y, config).finite_on_training(m))
    assert verdicts == [finite] * 3


def test_a_rank_without_data_takes_a_split_of_0_as_none():
    """Found by review: ranks other than 0 took rank 0's validation data for early stopping
    only when validation_split was None; 0.0 (the same: no split) refused early_stopping
    there ("needs validation_data"), while rank 0 had it."""
    from xprop.distributed import _start

    class Rank1:  # what rank 1 of 2 decides before its one collective
        rank, size, is_root = 1, 2, False

        def allgather(self, value):
            return [{**value, "shapes": {"n": 4}, "X, y": "rows", "validation_data": "rows"},
                    value]  # rank 0: the same model and options, with data

    m = xprop.MLP([2, 2, 1], "tanh", "sigmoid", "bce", seed=0)
    for split in (None, 0.0):
        config, shapes, _ = _start(Rank1(), m, None, None, dict(
            config=None, epochs=None, batch_size=None, optimizer=None, lr=None,
            early_stopping=3, validation_split=split))
        assert config.early_stopping == 3 and shapes == {"n": 4}


def test_ranks_compare_compiled_none_and_false_alike():
    """Found by review: ranks passing compiled=False and compiled=None (both: eager steps
    here) were refused as disagreeing once the start stopped setting compiled=False."""
    from xprop.distributed import _start

    said = []

    class Alone:  # one rank: what it sends in its one collective
        rank, size, is_root = 0, 1, True

        def allgather(self, value):
            said.append(value)
            return [value]

    X, y = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    for compiled in (False, None):
        m = xprop.MLP([2, 2, 1], "tanh", "sigmoid", "bce", seed=0)
        _start(Alone(), m, X, y, dict(config=xprop.FitConfig(compiled=compiled), epochs=None,
                                      batch_size=None, optimizer=None, lr=None,
                                      validation_split=None, early_stopping=None))
    assert said[0] == said[1] and said[0]["compiled"] == "False"


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
def test_ranks_whose_clocks_disagree_train_chunks_of_one_length(tmp_path):
    """Each rank's timing suggests its next chunk's length; the ranks take the smallest, so
    their collectives pair up (rank 0 alone would train 1 epoch, then the rest in one)."""
    uneven = ("import xprop.train\nfrom xprop.distributed import world\n"
              "xprop.train.CHUNK_SECONDS = 1e9 if world().rank == 0 else 0.0\n")
    r = _mpirun(tmp_path, 2, uneven + textwrap.dedent(SCRIPT), str(tmp_path / "out"))
    assert r.returncode == 0, r.stdout + r.stderr
    ref, h_ref = _reference()
    for rank in range(2):
        got = np.load(tmp_path / f"out.{rank}.npz")
        np.testing.assert_allclose(got["buffer"], ref, rtol=0, atol=1e-12)
        np.testing.assert_allclose(got["loss"], h_ref.loss, rtol=1e-12)


@needs_mpiexec
def test_the_cli_on_two_ranks_gives_the_single_process_model(tmp_path):
    common = ["-m", "xprop", "train", "--data", "digits", "--epochs", "4", "--quiet",
              "--dtype", "float64", "--seed", "3"]
    one = _job([sys.executable, *common, "--out", "one.npz"], cwd=tmp_path)
    assert one.returncode == 0, one.stderr
    two = _job([MPIEXEC, "-n", "2", sys.executable, "-m", "mpi4py", *common, "--distributed",
                "--out", "two.npz"], cwd=tmp_path)
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


@needs_mpiexec
def test_a_hung_job_leaves_no_rank_behind(tmp_path):
    """A job whose ranks hang ends at its deadline with the ranks' tracebacks, and none of
    its ranks outlives it (they are not mpiexec's to kill when a test times out)."""
    (tmp_path / "job.py").write_text(textwrap.dedent("""
        import os, time
        from mpi4py import MPI
        open(f"pid.{MPI.COMM_WORLD.Get_rank()}", "w").write(str(os.getpid()))
        if MPI.COMM_WORLD.Get_rank() == 0:
            time.sleep(600)  # rank 1 waits for it at the barrier
        MPI.COMM_WORLD.Barrier()
    """))
    t0 = time.perf_counter()
    r = _job([MPIEXEC, "-n", "2", sys.executable, "job.py"], cwd=tmp_path, timeout=8)
    assert r.returncode != 0 and "Timeout" in r.stderr, r.stderr
    assert time.perf_counter() - t0 < 25
    for rank in (0, 1):
        pid = int((tmp_path / f"pid.{rank}").read_text())
        for _ in range(50):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.kill(pid, 9)
            pytest.fail(f"rank {rank} (pid {pid}) outlived its job")


def test_the_deadline_keeps_the_sitecustomize_it_shadows(tmp_path, monkeypatch):
    """A job's processes still run the environment's own sitecustomize (a distribution's,
    coverage's), which tests/rank_deadline's would otherwise hide."""
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text("open('ran', 'w').close()\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "site"))
    r = _job([sys.executable, "-c", "import faulthandler, sitecustomize; "
              "print(sitecustomize.__file__)"], cwd=tmp_path)
    assert r.returncode == 0 and (tmp_path / "ran").exists(), r.stderr
    assert r.stdout.strip() == str(tmp_path / "site" / "sitecustomize.py")


def test_distributed_without_mpi4py_is_a_one_line_error(tmp_path, monkeypatch):
    script = tmp_path / "no_mpi.py"
    script.write_text(textwrap.dedent("""
        import sys
        sys.modules["mpi4py"] = None  # as if it were not installed
        from xprop.cli import main
        sys.exit(main(["train", "--data", "xor", "--distributed", "--quiet"]))
    """))
    r = _job([sys.executable, str(script)], cwd=tmp_path)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "mpi4py" in lines[0] and 'xprop[mpi]' in lines[0]


def test_info_shows_the_mpi_library_and_world_size(tmp_path):
    r = _job([sys.executable, "-m", "xprop", "info"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    line = next(x for x in r.stdout.splitlines() if x.strip().startswith("mpi:"))
    assert "mpi4py" in line and "world size 1" in line
    if MPIEXEC is not None:
        r = _job([MPIEXEC, "-n", "2", sys.executable, "-m", "mpi4py", "-m", "xprop", "info"],
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
h = fit_distributed(m, X, y, xprop.FitConfig(seed=2), comm=comm, optimizer="adam", lr=0.05,
                    epochs=60, batch_size=50, validation_split=0.2, early_stopping=3)
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
              validation_split=0.2, early_stopping=3, config=xprop.FitConfig(seed=2))
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


BAD_OPTIONS_SCRIPT = """
import sys, numpy as np, xprop
from xprop import datasets
from xprop.distributed import fit_distributed, world
comm = world()
X, y = datasets.xor()
if not comm.is_root:
    X = y = None
cases = [dict(epochs=0), dict(batch_size=2.5), dict(batch_size=0),
         dict(validation_split=-0.5), dict(optimizer=xprop.Adam(lr=0.1), lr=0.5),
         dict(shuffle="no"), dict(early_stopping=3), dict(compiled=True)]
out = open(sys.argv[1] + f".{comm.rank}.txt", "w")
for options in cases:
    m = xprop.MLP([2, 4, 1], "tanh", "sigmoid", "bce", seed=0)
    try:
        if {"shuffle", "compiled"} & set(options):  # the config's options: shuffle="no" is
            options = {"config": xprop.FitConfig(**options)}  # refused where it is made
        h = fit_distributed(m, X, y, comm=comm, **options)
        out.write(f"TRAINED {len(h)}\\n")
    except ValueError as e:
        assert "\\n" not in str(e)
        out.write(f"REFUSED {comm.rank} {e}\\n")
"""


@needs_mpiexec
def test_every_option_is_checked_as_fit_checks_it_on_every_rank(tmp_path):
    """The options fit refuses are refused by fit_distributed, on every rank, before any
    data moves (they used to truncate, hold out a row, or be silently ignored)."""
    r = _mpirun(tmp_path, 2, BAD_OPTIONS_SCRIPT, str(tmp_path / "bad"))
    assert r.returncode == 0, r.stdout + r.stderr
    lines = [line for rank in range(2)
             for line in (tmp_path / f"bad.{rank}.txt").read_text().splitlines()]
    assert not [line for line in lines if line.startswith("TRAINED")]
    refusals = [line for line in lines if line.startswith("REFUSED")]
    assert len(refusals) == 2 * 8
    text = "\n".join(refusals)
    for words in ("epochs: expected an integer >= 1, got 0",
                  "batch_size: expected an integer >= 1, got 2.5",
                  "batch_size: expected an integer >= 1, got 0",
                  "validation_split: expected a fraction in [0, 1), got -0.5",
                  "lr: the optimizer", "shuffle: expected True or False, got 'no'",
                  "early_stopping: needs validation_data",
                  "compiled: data-parallel steps run eagerly"):
        assert text.count(words) == 2, words  # once on each rank


DIVERGE_SCRIPT = """
import sys, numpy as np, xprop
from xprop import datasets
from xprop.distributed import fit_distributed, world
comm = world()
X, y = datasets.moons(64, noise=0.1, seed=0)
if not comm.is_root:
    X = y = None
m = xprop.MLP([2, 8, 2], "relu", "softmax", "cross_entropy", seed=0)
try:
    fit_distributed(m, X, y, comm=comm, optimizer="sgd", lr=1e6, epochs=200, batch_size=8)
    print("NO ERROR", flush=True)
except xprop.TrainingDivergedError as e:
    open(sys.argv[1] + f".{comm.rank}.txt", "w").write(
        f"DIVERGED {comm.rank} {e.epoch} {e.step} {m.all_finite()}")
    np.save(sys.argv[1] + f".{comm.rank}.npy", xprop.to_numpy(m.params.buffer))
"""


@needs_mpiexec
def test_divergence_keeps_finite_parameters_on_every_rank(tmp_path):
    r = _mpirun(tmp_path, 2, DIVERGE_SCRIPT, str(tmp_path / "d"))
    assert r.returncode == 0, r.stdout + r.stderr
    lines = [(tmp_path / f"d.{rank}.txt").read_text().split() for rank in range(2)]
    assert len(lines) == 2, r.stdout
    assert all(words[-1] == "True" for words in lines)  # all_finite on both ranks
    assert lines[0][2:4] == lines[1][2:4]  # the same epoch and step
    np.testing.assert_array_equal(np.load(tmp_path / "d.0.npy"), np.load(tmp_path / "d.1.npy"))


MISMATCH_SCRIPT = """
import sys, time, xprop
from xprop import datasets
from xprop.distributed import fit_distributed, world
comm = world()
X, y = datasets.xor()
hidden = 4 if comm.rank == 0 else 5
m = xprop.MLP([2, hidden, 1], "tanh", "sigmoid", "bce", seed=0)
comm.comm.Barrier()  # both ranks started: time the refusal alone
t0 = time.perf_counter()
try:
    fit_distributed(m, X, y, comm=comm, epochs=3)
except ValueError as e:
    open(sys.argv[1] + f".{comm.rank}.txt", "w").write(
        f"REFUSED {comm.rank} {time.perf_counter() - t0:.3f} {e}")
"""


@needs_mpiexec
def test_ranks_with_different_models_fail_at_once_instead_of_hanging(tmp_path):
    r = _mpirun(tmp_path, 2, MISMATCH_SCRIPT, str(tmp_path / "m"))
    assert r.returncode == 0, r.stdout + r.stderr
    lines = [(tmp_path / f"m.{rank}.txt").read_text() for rank in range(2)]
    assert all(line.startswith("REFUSED") for line in lines), lines
    assert len(lines) == 2, r.stdout + r.stderr
    for line in lines:
        assert "disagree on layer sizes" in line and "[2, 4, 1]" in line and "[2, 5, 1]" in line
        assert float(line.split()[2]) < 5.0


@needs_mpiexec
def test_cli_ranks_given_different_epochs_fail_at_once(tmp_path):
    """``--epochs 3`` on rank 0 and ``--epochs 5`` on rank 1: a one-line error from every
    rank within seconds, not a hang."""
    source = """
    import sys
    from mpi4py import MPI
    from xprop.cli import main
    epochs = "3" if MPI.COMM_WORLD.Get_rank() == 0 else "5"
    sys.exit(main(["train", "--data", "xor", "--epochs", epochs, "--quiet", "--distributed"]))
    """
    r = _job([MPIEXEC, "-n", "2", sys.executable, "-c", textwrap.dedent(source)], cwd=tmp_path,
             timeout=60)
    assert r.returncode != 0
    assert "disagree on --epochs" in r.stderr and "rank 0: 3" in r.stderr, r.stderr


SCHEDULE_SCRIPT = """
import sys, numpy as np, xprop
from xprop import datasets
from xprop.distributed import fit_distributed, world
comm = world()
X, y = datasets.digits()
X, y = X[:300] / 16.0, y[:300]
if not comm.is_root:
    X = y = None
m = xprop.MLP([64, 16, 10], "relu", "softmax", "cross_entropy", seed=0)
h = fit_distributed(m, X, y, xprop.FitConfig(seed=5, schedule="cosine", clip_norm=0.5),
                    comm=comm, optimizer="momentum", lr=0.05, epochs=4, batch_size=40)
np.save(sys.argv[1] + f".{comm.rank}.npy", xprop.to_numpy(m.params.buffer))
"""


@needs_mpiexec
def test_schedules_and_clipping_train_as_fit_does(tmp_path):
    """What fit does, fit_distributed now does too (clipping after the all-reduce)."""
    r = _mpirun(tmp_path, 2, SCHEDULE_SCRIPT, str(tmp_path / "s"))
    assert r.returncode == 0, r.stdout + r.stderr
    X, y = datasets.digits()
    m = xprop.MLP([64, 16, 10], "relu", "softmax", "cross_entropy", seed=0)
    m.fit(X[:300] / 16.0, y[:300], optimizer="momentum", lr=0.05, epochs=4, batch_size=40,
          config=xprop.FitConfig(seed=5, schedule="cosine", clip_norm=0.5))
    for rank in range(2):
        np.testing.assert_allclose(np.load(tmp_path / f"s.{rank}.npy"),
                                   xprop.to_numpy(m.params.buffer), rtol=0, atol=1e-12)


CALLBACK_SCRIPT = """
import sys, numpy as np, xprop
from xprop import datasets
from xprop.distributed import fit_distributed, world
comm = world()
X, y = datasets.xor()
m = xprop.MLP([2, 4, 1], "tanh", "sigmoid", "bce", seed=0)
stop_at = 3 if comm.rank == 1 else None  # only rank 1's callback asks to stop
h = fit_distributed(m, X, y, xprop.FitConfig(callbacks=[lambda epoch, logs, model:
                                                      epoch == stop_at]), comm=comm, epochs=50)
open(sys.argv[1] + f".{comm.rank}.txt", "w").write(str(len(h)))
"""


@needs_mpiexec
def test_a_callback_that_stops_one_rank_stops_every_rank(tmp_path):
    r = _mpirun(tmp_path, 2, CALLBACK_SCRIPT, str(tmp_path / "c"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert [(tmp_path / f"c.{rank}.txt").read_text() for rank in range(2)] == ["3", "3"]


TINY_SCRIPT = """
import sys, numpy as np, xprop
from xprop.distributed import fit_distributed, world
comm = world()
X = np.array([[0., 1.], [1., 0.], [1., 1.]])
heads = {"softmax": ([2, 3, 2], "softmax", "cross_entropy", np.array([1, 1, 0])),
         "bce": ([2, 3, 1], "sigmoid", "bce", np.array([1, 1, 0])),
         "mse": ([2, 3, 1], "identity", "mse", np.array([0.5, -1.0, 2.0]))}
out = {}
for name, (sizes, act, loss, y) in heads.items():
    m = xprop.MLP(sizes, "tanh", act, loss, seed=0)
    h = fit_distributed(m, X if comm.is_root else None, y if comm.is_root else None, comm=comm,
                        epochs=4, batch_size=2, validation_split=0.34, optimizer="adam", lr=0.1)
    out[name] = xprop.to_numpy(m.params.buffer)
    out[name + "_loss"] = np.asarray(h.loss)
    out[name + "_val"] = np.asarray(h.val_loss)
np.savez(sys.argv[1] + f".{comm.rank}.npz", **out)
"""


@needs_mpiexec
def test_more_ranks_than_rows_of_a_batch(tmp_path):
    """4 ranks, 2 training rows in batches of 2 and 1 validation row: most ranks hold no row
    of a batch (their gradient is zero, their records empty) and training equals fit's."""
    r = _mpirun(tmp_path, 4, TINY_SCRIPT, str(tmp_path / "t"))
    assert r.returncode == 0, r.stdout + r.stderr
    X = np.array([[0., 1.], [1., 0.], [1., 1.]])
    cases = {"softmax": ([2, 3, 2], "softmax", "cross_entropy", np.array([1, 1, 0])),
             "bce": ([2, 3, 1], "sigmoid", "bce", np.array([1, 1, 0])),
             "mse": ([2, 3, 1], "identity", "mse", np.array([0.5, -1.0, 2.0]))}
    for name, (sizes, act, loss, y) in cases.items():
        m = xprop.MLP(sizes, "tanh", act, loss, seed=0)
        h = m.fit(X, y, epochs=4, batch_size=2, validation_split=0.34, optimizer="adam", lr=0.1)
        for rank in range(4):
            got = np.load(tmp_path / f"t.{rank}.npz")
            np.testing.assert_allclose(got[name], xprop.to_numpy(m.params.buffer), rtol=0,
                                       atol=1e-12)
            np.testing.assert_allclose(got[name + "_loss"], h.loss, rtol=1e-12)
            np.testing.assert_allclose(got[name + "_val"], h.val_loss, rtol=1e-12)


ONE_RANK_SCRIPT = """
import pickle, sys, time, numpy as np, xprop
from xprop import datasets
from xprop.distributed import fit_distributed, world
comm = world()
case = sys.argv[2]
X, y = datasets.xor()
m = xprop.MLP([2, 4, 1], "tanh", "sigmoid", "bce", seed=0,
              dtype="float32" if case == "other_dtype" and comm.rank == 1 else "float64")
options = dict(epochs=30)
if case == "stale_optimizer":  # state of another model's size, on rank 1 only
    opt = xprop.Adam(0.01)
    if comm.rank == 1:
        xprop.MLP([2, 3, 1], seed=0).fit(X, y, optimizer=opt, epochs=1)
    options["optimizer"] = opt
elif case in ("same_size_state", "another_models_state"):  # state of this size but
    opt = xprop.Adam(0.01)  # another fit's, on rank 1 only (unpickled: of no model known)
    if comm.rank == 1:
        xprop.MLP([2, 4, 1], "tanh", "sigmoid", "bce", seed=5).fit(X, y, optimizer=opt,
                                                                  epochs=1)
        if case == "same_size_state":
            opt = pickle.loads(pickle.dumps(opt))
    options["optimizer"] = opt
elif case == "standardizer":
    if comm.rank == 0:
        m.standardize(X)
elif case == "callback_raises":
    def boom(epoch, logs, model):
        if comm.rank == 1 and epoch == 3:
            raise RuntimeError("a callback of rank 1 failed")
    options["config"] = xprop.FitConfig(callbacks=[boom])
elif case == "validation_on_root_only":
    if comm.rank == 0:
        options["config"] = xprop.FitConfig(validation_data=(X, y), early_stopping=2)
    else:
        options["early_stopping"] = 2
elif case in ("interrupted", "exits"):
    def stop(epoch, logs, model):
        if comm.rank == 1 and epoch == 3:
            raise KeyboardInterrupt if case == "interrupted" else SystemExit(0)
    options["config"] = xprop.FitConfig(callbacks=[stop])
elif case == "schedule_fails_on_one_rank":
    def rate(epoch):
        if comm.rank == 1 and epoch == 3:
            raise RuntimeError("a schedule of rank 1 failed")
        return 0.1
    options["config"] = xprop.FitConfig(schedule=rate)
elif case == "model_none" and comm.rank == 1:  # only rank 0 builds the model
    m = None
elif case == "other_library" and comm.rank == 1:
    m = xprop.MLP([2, 4, 1], "tanh", "sigmoid", "bce", seed=0, backend="array_api_strict")
elif case == "bad_schedule":
    options["config"] = xprop.FitConfig(schedule=lambda epoch: -0.1)
elif case == "mpi4py_comm":
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
elif case == "keyword_on_root" and comm.rank == 0:  # "only rank 0 is verbose"
    options["verbose"] = 1
elif case == "other_schedule_function":
    rate = 0.5 if comm.rank == 0 else 0.05
    options["config"] = xprop.FitConfig(schedule=lambda epoch: rate)
elif case == "schedule_spellings":  # the same schedule
    options["config"] = xprop.FitConfig(schedule="Cosine" if comm.rank == 0 else "cosine")
elif case == "progress_fails_then_diverges":
    # chunks of every epoch after the first (timed chunks: the first epoch's time on a busy
    # machine ended a chunk at epoch 6, before the divergence at 7: STOPPED, a flaky test)
    xprop.train.CHUNK_SECONDS = 1e9
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((8, 2)), rng.standard_normal((8, 1)) * 100
    m = xprop.MLP([2, 4, 1], "relu", "identity", "mse", seed=0)

    def progress(done, logs):
        if done == 3:
            raise RuntimeError("progress failed at epoch 3")
    options["config"] = xprop.FitConfig(lr=0.2, progress=progress)
call_comm, extra = comm, ()
if case == "comm_typo" and comm.rank == 0:
    call_comm = "world"
if case == "subcommunicator_keyword":  # every rank on a communicator of its own
    from mpi4py import MPI
    call_comm = MPI.COMM_WORLD.Dup()
    if comm.rank == 0:
        options["verbose"] = 1
if case == "extra_positional" and comm.rank == 0:
    extra = (None, 3)
same = comm.rank == 0 or case in ("same_data", "other_dtype", "y_alone")
Xr = X if same and not (case == "y_alone" and comm.rank == 1) else X[:2] if \
    case == "other_data" else None
yr = y if same else y[:2] if case == "other_data" else None
if case == "other_validation_data" and comm.rank == 1:
    options["config"] = xprop.FitConfig(validation_data=(X[:2], y[:2]))
t0 = time.perf_counter()
try:
    h = fit_distributed(m, Xr, yr, *extra, comm=call_comm, **options)
    said = f"TRAINED {comm.rank} {len(h)} {len(h.val_loss)}"
except xprop.TrainingDivergedError as e:
    said = f"DIVERGED {comm.rank} {e.epoch} {len(e.history)} {e.__cause__!r}"
except (ValueError, TypeError) as e:
    assert "\\n" not in str(e)
    said = f"REFUSED {comm.rank} {e}"
except (RuntimeError, KeyboardInterrupt, SystemExit) as e:
    said = f"STOPPED {comm.rank} {type(e).__name__} {len(e.history)} {e.every_rank} {e}"
open(f"{sys.argv[1]}.{comm.rank}.txt", "w").write(said)
"""


@needs_mpiexec
@pytest.mark.parametrize(("case", "said"), [
    ("stale_optimizer", "holds state for 13 parameters from an earlier fit; this model has 17"),
    ("same_size_state", "the ranks disagree on optimizer state"),
    ("another_models_state", "holds the state of a fit of another model"),
    ("model_none", "rank 1 of 2 refused to start: TypeError: model: expected an xprop.MLP, "
                   "got NoneType"),
    ("other_library", "the ranks disagree on library (rank 0: numpy, rank 1: array_api_strict)"),
    ("bad_schedule", "rank 0 of 2 refused to start: ValueError: schedule(0): expected a finite "
                     "learning rate >= 0, got -0.1"),
    ("y_alone", "X, y: expected both (rank 0's) or neither (None) on ranks other than 0, got "
                "y alone"),
    ("standardizer", "the ranks disagree on standardizer"),
    ("other_data", "rank 1 of 2 was given other X, y than rank 0"),
    ("other_validation_data", "rank 1 of 2 was given other validation_data than rank 0"),
    ("other_dtype", "the ranks disagree on dtype (rank 0: float64, rank 1: float32)"),
    ("keyword_on_root", "rank 0 of 2 refused to start: TypeError: verbose: an option of "
                        "xprop.FitConfig, not a keyword of fit_distributed"),
    ("comm_typo", "rank 0 of 2 refused to start: TypeError: comm: expected an "
                  "xprop.distributed.Communicator"),
    ("extra_positional", "rank 0 of 2 refused to start: TypeError: fit_distributed() too "
                         "many positional arguments"),
    ("other_schedule_function", "the ranks disagree on the schedule's first rate (rank 0: "
                                "0.5, rank 1: 0.05)"),
    ("subcommunicator_keyword", "rank 0 of 2 refused to start: TypeError: verbose: an option "
                                "of xprop.FitConfig"),
])
def test_what_one_rank_alone_holds_is_refused_on_every_rank(tmp_path, case, said):
    """Before: a stale optimizer on rank 1 raised there after the start check and rank 0
    waited forever; one of the same size, or a standardizer on one rank only, trained
    models that differed between the ranks without a word. A wrong call on one rank (a
    keyword fit_distributed does not take, a comm that is none, one argument too many)
    raised there before the first collective and left the other waiting; schedule
    functions of other rates trained models that differed (functions were compared by
    name)."""
    r = _mpirun(tmp_path, 2, ONE_RANK_SCRIPT, "out", case)
    assert r.returncode == 0, r.stdout + r.stderr
    for rank in range(2):
        text = (tmp_path / f"out.{rank}.txt").read_text()
        assert text.startswith(f"REFUSED {rank} ") and said in text, text


@needs_mpiexec
def test_ranks_compare_what_options_mean_not_how_they_are_spelled(tmp_path):
    """``"Cosine"`` on one rank and ``"cosine"`` on the other are one schedule (they were
    refused as a disagreement)."""
    r = _mpirun(tmp_path, 2, ONE_RANK_SCRIPT, "out", "schedule_spellings")
    assert r.returncode == 0, r.stdout + r.stderr
    for rank in range(2):
        text = (tmp_path / f"out.{rank}.txt").read_text()
        assert text.startswith(f"TRAINED {rank} 30"), text


@needs_mpiexec
def test_an_error_of_one_rank_mid_fit_ends_every_rank_at_once(tmp_path):
    """Before: a schedule (or the library) that raised on one rank left the others waiting
    in their next collective forever; the job ends, after one line naming the rank."""
    r = _mpirun(tmp_path, 2, ONE_RANK_SCRIPT, "out", "schedule_fails_on_one_rank")
    assert r.returncode != 0
    assert "fit_distributed: rank 1 of 2 stopped: RuntimeError: a schedule of rank 1 " \
           "failed; ending every rank (MPI_Abort)" in r.stderr, r.stderr
    assert not (tmp_path / "out.0.txt").exists()


@needs_mpiexec
@pytest.mark.parametrize(("case", "said"), [
    ("callback_raises", ["RuntimeError 3 True fit_distributed: rank 1 of 2 stopped every rank: "
                         "RuntimeError: a callback of rank 1 failed",
                         "RuntimeError 3 True a callback of rank 1 failed"]),
    ("interrupted", ["KeyboardInterrupt 3 True fit_distributed: rank 1 of 2 stopped every "
                     "rank: KeyboardInterrupt: ", "KeyboardInterrupt 3 True "]),
    ("exits", ["SystemExit 3 True 0", "SystemExit 3 True 0"]),
    ("progress_fails_then_diverges",  # (as fit: the divergence, from the display's error)
     ["7 6 RuntimeError('progress failed at epoch 3')", "7 6 None"]),
])
def test_a_hook_of_one_rank_that_raises_stops_every_rank_at_its_epoch(tmp_path, case, said):
    """Found by audit: a callback's error on one rank ended the job (``MPI_Abort``: nothing
    kept), its KeyboardInterrupt left the others waiting until this one exited (status
    130 even when the script caught it), its ``sys.exit(0)`` cut the others short with
    status 0. Now every rank raises at the end of that epoch, with the epochs trained and
    ``every_rank`` True: the raising rank its own, the others one of its kind naming it."""
    r = _mpirun(tmp_path, 2, ONE_RANK_SCRIPT, "out", case)
    assert r.returncode == 0, r.stdout + r.stderr
    for rank in range(2):
        text = (tmp_path / f"out.{rank}.txt").read_text()
        word = "DIVERGED" if case == "progress_fails_then_diverges" else "STOPPED"
        assert text == f"{word} {rank} {said[rank]}", text


@needs_mpiexec
def test_the_same_data_everywhere_trains(tmp_path):
    """Found by audit: data given on other ranks than 0 were ignored even when they differed
    (now refused above); the same arrays on every rank train as usual, and so does an
    mpi4py communicator."""
    r = _mpirun(tmp_path, 2, ONE_RANK_SCRIPT, "same", "same_data")
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "same.1.txt").read_text().startswith("TRAINED 1 ")
    r = _mpirun(tmp_path, 2, ONE_RANK_SCRIPT, "mpi", "mpi4py_comm")  # an mpi4py communicator
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "mpi.1.txt").read_text() == "TRAINED 1 30 0"


STOPPED_SCRIPT = """
import signal, sys, time, numpy as np, xprop
from xprop.distributed import fit_distributed, world
comm = world()
X, y = xprop.datasets.xor()
m = xprop.MLP([2, 4, 1], "tanh", "sigmoid", "bce", seed=0)

def stop(epoch, logs, model):  # Ctrl-C on one rank, within the 5th epoch's chunk
    if epoch == 5 and comm.rank == int(sys.argv[1]):
        signal.raise_signal(signal.SIGINT)

try:
    fit_distributed(m, X, y, comm=comm, epochs=50, config=xprop.FitConfig(callbacks=[stop]))
except KeyboardInterrupt as e:
    if comm.is_root:
        time.sleep(2 * xprop.distributed.ABORT_GRACE)  # a save taking its time
    comm.comm.barrier()
    open(f"out.{comm.rank}.txt", "w").write(f"{len(e.history)} {e.every_rank} "
                                             f"{m.params.buffer.tolist()}")
"""


@needs_mpiexec
@pytest.mark.parametrize("rank", [0, 1])
def test_ctrl_c_on_any_rank_stops_every_rank_at_the_same_epoch(tmp_path, rank):
    """Found by audit: Ctrl-C raised where each rank happened to be; a rank with nothing to
    save ended the job (MPI_Abort) while rank 0 was still saving, or left it waiting in a
    collective. Now every rank raises it at the same chunk's end and may still meet."""
    r = _mpirun(tmp_path, 2, STOPPED_SCRIPT, str(rank))
    assert r.returncode == 0, r.stdout + r.stderr
    said = [(tmp_path / f"out.{i}.txt").read_text() for i in range(2)]
    assert said[0] == said[1] and said[0].startswith("5 True "), said


@needs_mpiexec
def test_only_rank_0_checks_the_files_it_writes(tmp_path):
    """Found by audit: every rank checked --out, so an output folder that only rank 0's node
    has (node-local scratch) failed the job on the others."""
    cmd = [sys.executable, "-m", "xprop", "train", "--quiet", "--distributed", "--data", "xor",
           "--epochs", "3"]
    r = _job([MPIEXEC, "-n", "1", *cmd, "--out", "m.npz", ":", "-n", "1", *cmd,
              "--out", "elsewhere/m.npz"], cwd=tmp_path, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "m.npz").exists() and not (tmp_path / "elsewhere").exists()


def test_the_ranks_compare_descriptions_and_shapes_never_the_data(monkeypatch):
    """Found by audit: rank 0's whole training set went to every rank in the start's
    allgather (each rank needs only its shards, sent with each epoch)."""
    pytest.importorskip("mpi4py")
    from xprop.distributed import Communicator

    sent: list[int] = []
    gather = Communicator.allgather
    monkeypatch.setattr(Communicator, "allgather",
                        lambda self, value: sent.append(len(pickle.dumps(value)))
                        or gather(self, value))
    X = np.random.default_rng(0).normal(size=(2000, 50))  # 800 kB
    model = xprop.MLP([50, 4, 1], "tanh", "sigmoid", "bce", seed=0)
    fit_distributed(model, X, (X[:, 0] > 0).astype(int), epochs=1)
    assert sent and max(sent) < 20_000, sent


@needs_mpiexec
def test_validation_data_of_rank_0_serves_early_stopping_on_every_rank(tmp_path):
    r = _mpirun(tmp_path, 2, ONE_RANK_SCRIPT, "out", "validation_on_root_only")
    assert r.returncode == 0, r.stdout + r.stderr
    for rank in range(2):  # 30 epochs, each validated
        assert (tmp_path / f"out.{rank}.txt").read_text() == f"TRAINED {rank} 30 30"


@needs_mpiexec
@pytest.mark.parametrize("bad", [["--early-stopping", "2"], ["--validation-split", "1.5"]])
def test_a_bad_flag_on_one_rank_of_the_cli_ends_every_rank(tmp_path, bad):
    """Before: rank 1 printed its error and exited; rank 0 waited in its broadcast forever."""
    cmd = [sys.executable, "-m", "xprop", "train", "--quiet", "--distributed", "--data", "xor",
           "--epochs", "3"]
    r = _job([MPIEXEC, "-n", "1", *cmd, ":", "-n", "1", *cmd, *bad], cwd=tmp_path, timeout=60)
    assert r.returncode != 0
    assert bad[0] in r.stderr, r.stderr


@needs_mpiexec
def test_help_on_one_rank_of_the_cli_ends_every_rank(tmp_path):
    """Found by audit: ``-h`` on one rank printed the help and exited 0; rank 0 waited in
    its broadcast forever."""
    cmd = [sys.executable, "-m", "xprop", "train", "--quiet", "--distributed", "--data", "xor",
           "--epochs", "3"]
    r = _job([MPIEXEC, "-n", "1", *cmd, ":", "-n", "1", *cmd, "-h"], cwd=tmp_path, timeout=60)
    assert "usage: xprop train" in r.stdout, r.stdout + r.stderr


def test_comm_must_be_a_communicator():
    from xprop.distributed import fit_distributed

    X, y = datasets.xor()
    with pytest.raises(TypeError, match=r"^fit_distributed: rank 0 of 1 refused to start: "
                                        r"TypeError: comm: expected an xprop\.distributed\."
                                        r"Communicator"):
        fit_distributed(xprop.MLP([2, 3, 1], seed=0), X, y, comm="world")


NOTED_SCRIPT = """
import signal, sys, numpy as np, xprop
from xprop.distributed import fit_distributed, world
comm = world()
X, y = xprop.datasets.xor()
m = xprop.MLP([2, 4, 1], "tanh", "sigmoid", "bce", seed=0)
noted = []
signal.signal(signal.SIGTERM, lambda signum, frame: noted.append(signum))  # notes, returns

def term(epoch, logs, model):
    if epoch == 5 and comm.rank == 1:
        signal.raise_signal(signal.SIGTERM)

h = fit_distributed(m, X, y, comm=comm, epochs=20, config=xprop.FitConfig(callbacks=[term]))
open(f"out.{comm.rank}.txt", "w").write(f"{len(h)} {noted}")
"""


@needs_mpiexec
def test_a_signal_handler_that_returns_is_left_to_return(tmp_path):
    """Found by review: a SIGTERM handler of the program that notes the signal and returns
    became a KeyboardInterrupt on every rank."""
    r = _mpirun(tmp_path, 2, NOTED_SCRIPT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert [(tmp_path / f"out.{i}.txt").read_text() for i in range(2)] == ["20 []", "20 [15]"]
