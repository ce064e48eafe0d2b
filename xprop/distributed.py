"""Data-parallel training over MPI (mpi4py): the same model on 1 or N processes.

:func:`fit_distributed` is :func:`xprop.fit`'s engine (:mod:`xprop.train`) with collective
data: the same validated configuration, epoch driver, schedules, clipping, validation, early
stopping, callbacks and divergence recovery. Every rank holds the whole model; only rank 0
needs the data, and every epoch each rank receives just the rows of its shards (one
``Scatterv``). Each global batch of ``B`` rows (the same sequence of batches for any number of
ranks: one seeded permutation per epoch, as :func:`xprop.fit` draws it) is split into ``R``
contiguous shards, one per rank; each step's gradient hook weights the rank's mean gradient by
its share of the batch and all-reduces the flat buffer (one ``Allreduce``, MPI's buffer API, no
pickling), so every rank applies the batch's mean gradient (clipped after the reduction). The
parameters start from rank 0's (one ``Bcast``). Records, validation metrics and finite checks
are summed over the ranks, so every rank records the same history and stops early, or
diverges and returns to the same finite parameters, at the same epoch. Before any of this the
ranks compare their models (standardisation included), options and optimizer state in one
``allgather`` (of descriptions and shapes; the data never travel whole): a difference or an
error on any rank is the same one-line error on every rank, never a hang. A hook's error on
one rank after that (a callback's, progress's: ``KeyboardInterrupt`` and ``SystemExit``
too) stops every rank at the end of the chunk of epochs under way (a callback's epoch:
callbacks train one epoch a chunk), each raising with the epochs trained (that rank its own
error, the others one of its class where it takes a message, else a ``ValueError``, naming
the rank); Ctrl-C on any rank stops every rank at the same epoch. Any other error of one
rank (a schedule's, the library's) ends every rank with ``MPI_Abort``, after one line naming
the rank and the error.

With one rank this is exactly eager ``fit`` (``compiled=False``; JAX's compiled chunks agree
within rounding); with several, the gradient of each batch is the same
sum taken in another order, so parameters agree with the single-process run to float64
rounding (a few ulps per step, growing slowly with the number of steps).

Arrays of a host library (NumPy) are reduced in place. Device arrays are reduced on their
device when the backend's adapter offers it (CuPy: NCCL, written but not yet run on a GPU),
else through a host copy reduced with MPI (the portable path, tested).
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from xprop.backend import dtype_name, to_numpy
from xprop.backend.core import on_device
from xprop.backend.host import host_floats
from xprop.config import FitConfig, takes_config
from xprop.optimizers import Optimizer
from xprop.step import Batch
from xprop.train import (
    History,
    TrainingData,
    TrainingDivergedError,
    finite_batches,
    prepare_validation,
    require_targets,
    row_plan,
    run,
    start,
    validation_rows,
)
from xprop.validation import check_model, show

Array = Any

__all__ = ["Communicator", "fit_distributed", "mpi_info", "shard", "world"]

INSTALL_HINT = 'pip install "xprop[mpi]" (mpi4py and the mpich wheel)'


class Communicator:
    """An mpi4py communicator with the few collective operations training needs."""

    def __init__(self, comm: Any) -> None:
        from mpi4py import MPI

        self.comm, self._mpi = comm, MPI
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self._device: dict[tuple[str, str], Any] = {}  # backend -> device all-reduce or None

    @property
    def local_rank(self) -> int:
        """This rank's index among the ranks on its node (to pick its GPU)."""
        node = self.comm.Split_type(self._mpi.COMM_TYPE_SHARED)
        try:
            return node.Get_rank()
        finally:
            node.Free()

    @property
    def is_root(self) -> bool:
        return self.rank == 0

    def allreduce_sum(self, x: Array, backend: Any) -> Array:
        """The elementwise sum of ``x`` over all ranks (every rank gets it): on the device
        when the backend's adapter offers a device all-reduce (NCCL), else through a host
        copy reduced with MPI."""
        if self.size == 1:
            return x
        key = (backend.name, str(backend.device))
        if key not in self._device:
            self._device[key] = backend.adapter.device_allreduce(self.comm, backend.device)
        reduce = self._device[key]
        if reduce is not None:
            return reduce(backend.xp.asarray(x, copy=True))
        host = np.ascontiguousarray(backend.adapter.to_host(x), dtype=dtype_name(x.dtype,
                                                                                 backend.xp))
        host = host.copy() if not host.flags.writeable else host
        self.comm.Allreduce(self._mpi.IN_PLACE, host, op=self._mpi.SUM)
        # a host backend's array is the result itself; a device gets one copy back
        return host if backend.owns(host) else backend.from_host(host, host.dtype.name)

    def broadcast(self, x: Array, backend: Any) -> Array:
        """Rank 0's ``x`` on every rank."""
        if self.size == 1:
            return x
        host = np.array(backend.adapter.to_host(x), dtype=dtype_name(x.dtype, backend.xp),
                        copy=True)
        self.comm.Bcast(host, root=0)
        return backend.from_host(host, host.dtype.name)

    def allgather(self, value: Any) -> list[Any]:
        """Every rank's ``value`` (small Python objects), in rank order, on every rank."""
        return [value] if self.size == 1 else self.comm.allgather(value)

    def sum_floats(self, values: list[float]) -> list[float]:
        """Python floats summed over all ranks (one Allreduce)."""
        buf = np.asarray(values, dtype=np.float64)
        if self.size > 1:
            self.comm.Allreduce(self._mpi.IN_PLACE, buf, op=self._mpi.SUM)
        return buf.tolist()

    def scatter_rows(self, host: np.ndarray | None, parts: list[np.ndarray],
                     width: int) -> np.ndarray:
        """Rank ``r`` receives rows ``parts[r]`` of rank 0's ``host`` (``(n, width)``,
        float64), in that order: one ``Scatterv``; no other rank needs the data."""
        counts = [len(p) for p in parts]
        if self.size == 1:
            return np.ascontiguousarray(host[parts[0]], dtype=np.float64)
        mine = np.empty((counts[self.rank], width), dtype=np.float64)
        send = None
        if self.is_root:
            rows = np.ascontiguousarray(host[np.concatenate(parts)], dtype=np.float64)
            send = [rows, [c * width for c in counts], None, self._mpi.DOUBLE]
        self.comm.Scatterv(send, mine, root=0)
        return mine

    def abort(self, code: int = 2) -> None:
        """End every rank of the job (after a rank's error was reported). ``MPI_Abort`` kills
        the job at once, and ``mpiexec`` forwards a rank's output asynchronously: the streams
        are flushed and given ``ABORT_GRACE`` seconds to reach the launcher first, so the
        one line that says why is not lost (it was, under load, without this)."""
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        time.sleep(ABORT_GRACE)
        self.comm.Abort(code)
        os._exit(code)  # (an MPI_Abort may return before the job ends: this rank ends here)


#: seconds a failing rank waits after its error line before ``MPI_Abort`` (output forwarding)
ABORT_GRACE = 0.5
#: a signal again within this many seconds is the same one (:class:`_Signals`)
REPEAT_SECONDS = 1.0


class _Signals:
    """Ctrl-C (SIGINT) and a SIGTERM that Python handles, during a fit of several ranks.

    Raised where a rank happens to be, an interruption leaves the other ranks waiting in a
    collective that rank will never join (and rank 0 unable to save what they finished). So
    this rank's own handler runs at once, and what it raises (KeyboardInterrupt for Ctrl-C)
    is kept, not raised; at the next chunk's end the ranks agree on it
    (:meth:`_Shards.agree`; after the last chunk, on leaving) and every rank raises there, at
    the same epoch: the rank's kept exception, or what its own handler of that signal raises
    (KeyboardInterrupt when it raises nothing). A handler that returns is left to do so. A
    second signal a second later acts at once, as without this.
    """

    def __init__(self, comm: Communicator) -> None:
        self.comm, self.agreed, self.noted = comm, False, 0.0
        self.caught: tuple[int, BaseException] | None = None  # (signal, what its handler raised)
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> _Signals:
        if self.comm.size > 1 and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                if callable(signal.getsignal(sig)):  # (not SIG_DFL nor SIG_IGN: left as is)
                    self.previous[sig] = signal.signal(sig, self._note)
        return self

    def __exit__(self, kind: Any, *exc: Any) -> None:
        if self.comm.size > 1 and kind is None:  # a signal noted after the last chunk's end:
            self.agree()  # the ranks agree once more (each has finished the same chunks)
        self._restore()

    def _restore(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        self.previous = {}

    def _note(self, signum: int, frame: Any) -> None:
        if self.caught is not None:  # a second one acts at once, unless it is the same
            if time.monotonic() - self.noted > REPEAT_SECONDS:  # Ctrl-C delivered twice
                handler = self.previous[signum]  # (the terminal's and mpiexec's copy)
                self._restore()
                handler(signum, frame)
            return
        try:
            self.previous[signum](signum, frame)
        except BaseException as e:  # kept, to be raised where the ranks agree
            self.caught, self.noted = (signum, e), time.monotonic()
            if self.comm.is_root:
                print(f"xprop: fit_distributed: {signal.Signals(signum).name}: every rank "
                      "stops at the end of this chunk of epochs (again to stop at once)",
                      file=sys.stderr, flush=True)

    def keep(self, error: BaseException) -> None:
        """A hook's error on this rank (a callback's, progress's): kept as a signal's
        exception is, to be raised where the ranks agree; the others raise the same kind
        there (:meth:`agree`)."""
        if self.caught is None:
            self.caught = (0, error)  # (0: no signal)

    def agree(self) -> None:
        """Whether any rank has kept a signal's exception or a hook's error (one
        collective); if one has, every rank raises, at the same point: its own, or for
        another rank's hook error one of that kind naming the rank."""
        mine = None if self.caught is None else self.caught[0] or _refusal(self.caught[1])
        said = self.comm.allgather(mine)
        rank, what = next(((r, s) for r, s in enumerate(said) if s is not None), (0, None))
        if what is None:
            return
        self.agreed = True
        kept = self.caught
        handler = self.previous.get(what, signal.default_int_handler) if isinstance(
            what, int) else None
        self._restore()
        if kept is not None:
            raise kept[1]
        if handler is None:  # another rank's hook failed
            raise _stopped(what, f"fit_distributed: rank {rank} of {self.comm.size} stopped "
                                 f"every rank: {what['error']}")
        handler(what, None)  # this rank's own handler of that signal, if it raises
        raise KeyboardInterrupt  # (else: another rank stopped, so does this one)


def _stopped(what: dict[str, Any], message: str) -> BaseException:
    """The exception a rank raises for another rank's hook error: ``SystemExit`` with its
    code, ``KeyboardInterrupt``, else one of its class (:func:`_error_of`)."""
    if what["kind"] == "builtins.SystemExit":
        return SystemExit(what["code"])
    if what["kind"] == "builtins.KeyboardInterrupt":
        return KeyboardInterrupt(message)
    return _error_of(what["kind"], message)


def world() -> Communicator:
    """``MPI.COMM_WORLD`` as a :class:`Communicator`; an ImportError saying what to install
    when mpi4py is missing."""
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise ImportError(f"distributed training needs mpi4py ({e}); {INSTALL_HINT}") from e
    return Communicator(MPI.COMM_WORLD)


def mpi_info() -> dict[str, Any]:
    """mpi4py's version, the MPI library and the world's size and this rank, or why MPI is
    not available (for ``xprop info``)."""
    try:
        import mpi4py
        from mpi4py import MPI
    except ImportError as e:
        return {"available": False, "reason": f"{e}; {INSTALL_HINT}"}
    library = " ".join(MPI.Get_library_version().strip().splitlines()[0].split())
    return {"available": True, "mpi4py": mpi4py.__version__, "library": library,
            "world_size": MPI.COMM_WORLD.Get_size(), "rank": MPI.COMM_WORLD.Get_rank()}


def shard(start: int, stop: int, rank: int, size: int) -> tuple[int, int]:
    """Rank ``rank``'s contiguous part of rows ``[start, stop)`` split over ``size`` ranks
    (sizes differ by at most one; a rank may get none)."""
    n = stop - start
    return start + n * rank // size, start + n * (rank + 1) // size


class _Shards(TrainingData):
    """Data-parallel training data (the collective side of :class:`xprop.train.TrainingData`).

    Rank 0 holds the host copies ``source = (X (n, d), Y (n, k))`` (float64; None elsewhere).
    Each epoch every rank receives its rows of every batch of the epoch's order (one
    ``Scatterv`` each for ``X`` and ``Y``); its part of batch ``[s, e)`` is the contiguous
    shard :func:`shard` gives. Each batch's gradient hook weights the rank's gradient by its
    share of the batch and all-reduces it, so every rank applies the batch's mean gradient.
    Records, validation and the finite checks are summed over the ranks, so every rank
    records, stops and recovers alike."""

    plain = False

    @property
    def collective(self) -> bool:  # type: ignore[override]
        """Several ranks (one trains as :func:`xprop.fit` does)."""
        return self.comm.size > 1

    def __init__(self, comm: Communicator, model: Any, source: tuple | None,
                 dims: tuple[int, int], n: int, batch_size: int, perms: Any) -> None:
        super().__init__(None, None, None, None, False, batch_size, n, perms)
        self.comm, self.model, self.source, self.dims = comm, model, source, dims
        self._kept: tuple | None = None  # this rank's rows of unshuffled epochs
        self.signals = _Signals(comm)  # (entered by fit_distributed)

    def begin(self, model: Any) -> None:
        """Nothing is shared by every epoch before the first is received."""

    def epoch(self, model: Any) -> tuple[Any, Iterator[Batch]]:
        order = np.arange(self.n) if self.perms is None else next(self.perms)
        return order, self.batches(model, order)

    def batches(self, model: Any, order: Any, at: Any = None) -> Iterator[Batch]:
        """This rank's rows of each batch of ``order``, and the batch's all-reduce hook."""
        size, rank = self.comm.size, self.comm.rank
        bounds = [[shard(s, e, r, size) for s, e in self.spans] for r in range(size)]
        if self._kept is None or self.perms is not None:  # receive the epoch's rows
            parts = [np.concatenate([order[lo:hi] for lo, hi in b]) for b in bounds]
            Xr, Yr = self.receive(parts)
            self._kept = (Xr, Yr, model.arch.head.truth(Yr, None, model.xp))
        Xr, Yr, truth = self._kept
        offset = 0
        for (s, e), (lo, hi) in zip(self.spans, bounds[rank]):
            count = hi - lo
            rows = slice(offset, offset + count)
            offset += count
            yield Batch(Xr[rows, ...], Yr[rows, ...],
                        None if truth is None else truth[rows, ...], self._hook(count, e - s))

    def _hook(self, count: int, total: int) -> Any:
        """The batch's gradient hook: a mean loss's gradient weighted by this rank's share of
        the batch (exactly ``g`` on one rank), a summed loss's as it is, then summed over the
        ranks."""
        comm, backend = self.comm, self.model.backend
        weight = None if self.model.arch.head.summed else count / float(total)
        return lambda g, cache: comm.allreduce_sum(g if weight is None else g * weight, backend)

    def receive(self, parts: list[np.ndarray]) -> tuple[Array, Array]:
        """This rank's rows ``parts[rank]`` of rank 0's data, as device arrays of the
        model's dtype."""
        X, Y = (None, None) if self.source is None else self.source
        d, k = self.dims
        Xr = self.comm.scatter_rows(X, parts, d)
        Yr = self.comm.scatter_rows(Y, parts, k)
        be, dtype = self.model.backend, self.model.dtype
        return be.from_host(Xr, dtype), be.from_host(Yr, dtype)

    def reduce(self, values: Array) -> np.ndarray:
        return np.asarray(self.comm.sum_floats(host_floats(values).tolist()))

    def agree(self, flag: bool) -> bool:
        """Whether ``flag`` holds on every rank; a signal noted, or a hook's error kept, on
        any rank (:class:`_Signals`) is raised on every rank here."""
        self.signals.agree()
        return self.comm.sum_floats([0.0 if flag else 1.0])[0] == 0.0

    def keeps(self, error: BaseException) -> bool:
        """On several ranks a hook's error is kept (:meth:`_Signals.keep`): every rank then
        stops at this epoch, at the chunk's end (the others would wait for this one)."""
        if not self.collective:
            return False
        self.signals.keep(error)
        return True

    def smallest(self, n: int) -> int:
        return min(self.comm.allgather(n))

    def finite_on_training(self, model: Any) -> bool:
        """Whether this rank's outputs and summed loss on its rows of the training data are
        finite (:func:`xprop.train.finite_batches`; the caller agrees over the ranks)."""
        finite = finite_batches(model, self.batches(model, np.arange(self.n)))
        if self.perms is not None:
            self._kept = None
        return finite


def describe_model(model: Any) -> dict[str, str]:
    """What every rank's model must share: its library (each rank may have its own device),
    layer sizes, activations, loss, bias, dtype and standardisation (a digest of its
    statistics)."""
    std = getattr(model, "standardizer", None)
    return {"library": model.backend.name, "layer sizes": repr(list(model.arch.sizes)),
            "activations": repr([a.name for a in model.arch.activations]),
            "loss": repr(model.arch.head.loss.name), "bias": repr(model.arch.bias),
            "dtype": dtype_name(model.params.buffer.dtype, model.xp),
            "standardizer": "none" if std is None else _digest(std.mean, std.std)}


def _digest(*arrays: Any) -> str:
    """A short digest of host copies of ``arrays`` (what ranks compare instead of values)."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(to_numpy(a), dtype=np.float64)
        h.update(repr(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def _start(comm: Communicator, model: Any, X: Any, y: Any, options: dict[str, Any]
           ) -> tuple[FitConfig, dict[str, Any], tuple]:
    """Every rank validates its options (and rank 0 its data) and the ranks compare what
    they must share, in one collective: any rank's error, or any difference, is the same
    one-line error on every rank (never a hang). Returns the configuration, rank 0's data
    (host arrays there, shapes everywhere: only they travel) and what
    :func:`xprop.train.start` returned (the optimizer, the checked schedule)."""
    mine: dict[str, Any] = {}
    data: dict[str, Any] = {}
    started: tuple = ()
    try:
        check_model(model)
        if not comm.is_root and not options["validation_split"] and (
                options["config"] is None or not options["config"].validates):
            options = {**options, "validation_data": (None, None)}  # rank 0's, if any
        config = FitConfig.of(**options)
        if config.compiled:
            raise ValueError("compiled: data-parallel steps run eagerly (the all-reduce is "
                             "each step's gradient hook); pass compiled=None or False")
        config = config.replace(compiled=False)  # (None and False alike: the ranks compare)
        if not comm.is_root:  # only rank 0 displays; its validation data, if any, is shared
            config = config.replace(progress=None, log=_silent)
        started = opt, lr_at = start(model, config)  # its state checked, the first rate read
        state = [a for a in opt.arrays() if a is not None]  # moments, velocity: a fit
        mine = {**describe_model(model), **config.describe(),  # goes on from them
                "optimizer state": f"t={opt.t}, state {_digest(*state) if state else 'none'}",
                "the schedule's first rate": repr(None if lr_at is None else lr_at(0))}
        if comm.is_root:
            data = _root_data(model, X, y, config)
            mine.update(data.pop("given"))
            mine["shapes"] = {key: data[key] for key in ("n", "d", "k", "n_val")}
        else:  # data given here too: rank 0's are trained on, so they must be the same
            mine.update(_given(model, X, y, config.validation_data))
    except Exception as e:  # any rank's error ends every rank (below), never a hang
        mine = _refusal(e)
    everyone = _gather(comm, mine)
    for key in everyone[0]:  # the model and options first: the data digests follow from them
        if key not in ("shapes", *GIVEN) and len({str(d.get(key)) for d in everyone}) > 1:
            values = ", ".join(f"rank {r}: {d.get(key)}" for r, d in enumerate(everyone))
            raise ValueError(f"fit_distributed: the ranks disagree on {key} ({values}); "
                             "every rank must build the same model and options")
    for key in GIVEN:
        other = next((r for r, d in enumerate(everyone) if d[key] not in ("none",
                                                                           everyone[0][key])), None)
        if other is not None:
            raise ValueError(
                f"fit_distributed: rank {other} of {comm.size} was given other {key} than rank "
                f"0 ({everyone[other][key]} against {everyone[0][key]}): only rank 0's are "
                "used, each rank receiving its shards; pass None on the other ranks, "
                "or the same arrays")
    return config, data if comm.is_root else everyone[0]["shapes"], started


def _refusal(error: BaseException) -> dict[str, Any]:
    """What a rank says of its error to the others (a rank that cannot start, in the first
    collective; a hook's, where the ranks agree: :class:`_Signals`): its class
    (``module.qualname``), its text, and its exit code for a ``SystemExit``."""
    kind = type(error)
    return {"error": f"{kind.__name__}: {error}", "kind": f"{kind.__module__}.{kind.__qualname__}",
            "code": error.code if isinstance(error, SystemExit) else None}


def _gather(comm: Communicator, mine: dict[str, Any]) -> list[dict[str, Any]]:
    """Every rank's ``mine`` (one ``allgather``); the first :func:`_refusal` among them is
    raised on every rank, as the error it was where this process has its class with the
    same message (the ranks run one program: a ``DeviceMismatchError`` stays one), else as a
    ``ValueError``."""
    everyone = comm.allgather(mine)
    for rank, theirs in enumerate(everyone):
        if "error" in theirs:
            message = (f"fit_distributed: rank {rank} of {comm.size} refused to start: "
                       f"{theirs['error']}")
            raise _error_of(theirs["kind"], message)
    return everyone


def _error_of(kind: str, message: str) -> Exception:
    """An exception of the class named ``module.qualname`` saying ``message``, when this
    process has imported that module and the class takes a message as it is; else a
    ``ValueError``."""
    module, _, name = kind.rpartition(".")
    cls: Any = sys.modules.get(module)
    for part in name.split("."):
        cls = getattr(cls, part, None)
    if isinstance(cls, type) and issubclass(cls, Exception):
        try:
            error = cls(message)
        except Exception:  # (one with other arguments: TrainingDivergedError, ...)
            error = None
        if error is not None and str(error) == message:
            return error
    return ValueError(message)


#: what a rank says of the data it was given: a digest of them as prepared, or "none"
GIVEN = ("X, y", "validation_data")


def _given(model: Any, X: Any, y: Any, validation_data: Any) -> dict[str, str]:
    """A rank's :data:`GIVEN`: digests of its data prepared as rank 0 prepares them."""
    out = {key: "none" for key in GIVEN}
    for key, pair in zip(GIVEN, ((X, y), validation_data or (None, None))):
        if (pair[0] is None) != (pair[1] is None):
            raise ValueError(f"{key}: expected both (rank 0's) or neither (None) on ranks "
                             f"other than 0, got {'X' if pair[1] is None else 'y'} alone")
        if pair[0] is not None:  # (validation data's errors name it, as on rank 0)
            prepared = model.prepare(*pair) if key == "X, y" else prepare_validation(model, pair)
            out[key] = _digest(*prepared[:2])
    return out


def _root_data(model: Any, X: Any, y: Any, config: FitConfig) -> dict[str, Any]:
    """Rank 0's training (and validation) data checked and as float64 host copies, with
    their digests (``given``); only the shapes travel to the other ranks (the rows go with
    each epoch)."""
    require_targets(y)
    Xd, Yd, _ = model.prepare(X, y)
    Xh, Yh = host_floats(Xd), host_floats(Yd)
    out = {"n": Xh.shape[0], "d": Xh.shape[1], "k": Yh.shape[1],
           "n_val": validation_rows(Xh.shape[0], config.validation_split)}
    if config.validation_data is not None:
        Xv, Yv, _ = prepare_validation(model, config.validation_data)
        out["val"] = host_floats(Xv), host_floats(Yv)
        out["n_val"] = Xv.shape[0]
    out["X"], out["Y"] = Xh, Yh
    out["given"] = {"X, y": _digest(Xh, Yh),
                    "validation_data": _digest(*out["val"]) if "val" in out else "none"}
    return out


def _shards(comm: Communicator, model: Any, config: FitConfig, data: dict[str, Any]) -> _Shards:
    """The training shards and this rank's part of the validation rows (received once)."""
    split, n_split, batch_size, perms = row_plan(data["n"], config)  # (fit's)
    n, n_val = data["n"] - n_split, data["n_val"]
    source = (data["X"], data["Y"]) if comm.is_root else None
    val_source = data.get("val")
    if split is not None and comm.is_root:
        val_source = tuple(a[split[:n_val]] for a in source)
        source = tuple(a[split[n_val:]] for a in source)
    dims = (data["d"], data["k"])
    shards = _Shards(comm, model, source, dims, n, batch_size, perms)
    if n_val:
        held = _Shards(comm, model, val_source, dims, n_val, n_val, None)
        Xv, Yv = held.receive([np.arange(*shard(0, n_val, r, comm.size))
                               for r in range(comm.size)])
        shards.val = (Xv, Yv, None)  # this rank's part (validate sums over the ranks)
    return shards


def _agreed_call(fn: Any) -> Any:
    """``fn``'s arguments checked on every rank together (``fn`` takes a config:
    :func:`~xprop.config.takes_config`): a rank whose call is wrong (a keyword ``fn`` does
    not take, arguments that do not bind, a ``comm`` that is none) still joins the ranks'
    first collective, with its error (see :func:`_start`), so every rank raises it and none
    waits (over MPI's world when its own ``comm`` is the mistake)."""

    @functools.wraps(fn)
    def entry(*args: Any, **kwargs: Any) -> Any:
        try:
            fn.check_call(*args, **kwargs)
            given = kwargs.get("comm")
            kwargs["comm"] = world() if given is None else _communicator(given)
        except (TypeError, ValueError) as e:
            try:  # the ranks' communicator; MPI's world when it is the mistake
                comm = _communicator(kwargs.get("comm", world()))
            except TypeError:
                comm = world()
            except ImportError:  # no MPI: this process alone
                raise e from None
            _gather(comm, _refusal(e))
            raise  # (_gather raises it on every rank)
        return fn(*args, **kwargs)

    return entry


@on_device(collective=True)  # a rank's bad model is an error on every rank (_start)
@_agreed_call  # a rank's wrong call too
@takes_config
def fit_distributed(model: Any, X: Any, y: Any, config: FitConfig | None = None, *,
                    comm: Any = None, epochs: int | None = None,
                    batch_size: int | None = None, optimizer: str | Optimizer | None = None,
                    lr: float | None = None, validation_split: float | None = None,
                    early_stopping: int | None = None) -> History:
    """Train ``model`` data-parallel over ``comm`` (default: MPI's world; a
    :class:`Communicator` or an mpi4py communicator) and return the
    :class:`~xprop.train.History` every rank shares (how: see the module docstring).

    ``config`` and the keyword options mean what they mean for :func:`xprop.fit` and are
    checked as it checks them, on every rank: the same error types, their messages prefixed
    with the rank that refused, a wrong call on one rank (a keyword this does not take, a
    ``comm`` that is none) included (data-parallel steps run eagerly: ``compiled=True`` is
    refused). ``X, y`` and ``validation_data`` may be None on ranks other than 0 (given
    there, they must be rank 0's: they are compared, never trained on; a ``FitConfig`` with
    ``early_stopping`` made on such a rank takes ``validation_data=(None, None)``).
    ``batch_size`` is the *global* batch (None: all rows). Only rank 0 logs and reports
    progress. Ctrl-C (or a SIGTERM whose Python handler raises) on any rank stops every rank
    at the end of the chunk of epochs under way: each raises there, with the finished
    epochs' ``history`` and ``every_rank`` True (rank 0 may save, then all may meet in a
    collective); a second signal a second later stops at once, ending the job."""
    comm = world() if comm is None else _communicator(comm)
    options = dict(config=config, epochs=epochs, batch_size=batch_size, optimizer=optimizer,
                   lr=lr, validation_split=validation_split, early_stopping=early_stopping)
    config, data, started = _start(comm, model, X, y, options)
    model.params.assign(comm.broadcast(model.params.buffer, model.backend))
    shards = _shards(comm, model, config, data)
    try:
        with shards.signals:
            return run(model, None, None, config, shards, started)
    except TrainingDivergedError:
        raise  # every rank diverges at the same step (the finite checks are reduced)
    except BaseException as e:
        if shards.signals.agreed:  # raised on every rank at one epoch (Ctrl-C, SIGTERM, a
            try:  # hook's error on any rank): the caller may still save what it finished
                e.every_rank = True  # type: ignore[attr-defined]  # (xprop train does)
            except (AttributeError, TypeError):  # (an exception that takes no attributes)
                pass
        elif comm.size > 1:
            _end_every_rank(comm, e)
        raise


def _end_every_rank(comm: Communicator, error: BaseException) -> None:
    """One rank's own error mid-fit (a schedule's, the library's): the others would wait
    for it in their next collective forever, so the job ends, after one line naming the
    rank and the error: at once for an ``Exception``, else (Ctrl-C, ``SystemExit``) when
    this process exits, with its exit status (never 0: the other ranks are cut short)."""
    said = (f"xprop: fit_distributed: rank {comm.rank} of {comm.size} stopped: "
            f"{type(error).__name__}")
    if isinstance(error, Exception):
        print(f"{said}: {error}; ending every rank (MPI_Abort)", file=sys.stderr)
        comm.abort(1)
        return
    code = getattr(error, "exit_status", 130) if isinstance(error, KeyboardInterrupt) else (
        error.code if isinstance(error, SystemExit) and isinstance(error.code, int) else 1)
    print(f"{said}; every rank ends when this one exits (MPI_Abort)", file=sys.stderr)
    atexit.register(comm.abort, code or 1)


def _communicator(comm: Any) -> Communicator:
    """``comm`` as a :class:`Communicator`: itself, or an mpi4py communicator wrapped."""
    if isinstance(comm, Communicator):
        return comm
    mpi = sys.modules.get("mpi4py.MPI")  # (not imported: comm is no mpi4py communicator)
    if mpi is not None and isinstance(comm, mpi.Comm) and comm != mpi.COMM_NULL:
        return Communicator(comm)
    raise TypeError(f"comm: expected an xprop.distributed.Communicator "
                    f"(xprop.distributed.world()), an mpi4py communicator or None, got "
                    f"{show(comm)}")


def _silent(*args: Any, **kwargs: Any) -> None:
    """The log of ranks other than 0."""
