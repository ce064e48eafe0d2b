"""The training loop: full-batch gradient descent or seeded minibatch SGD with any optimizer.

One step on a batch ``(X_b, Y_b)``: :func:`xprop.network.forward`, :func:`~xprop.network.backward`
(no gradient for the input), then ``buffer = optimizer.update(buffer, grad_buffer)`` on the
model's flat parameter buffer. The data is validated and moved to the model's device once,
before the first epoch; each epoch draws one host permutation (seeded) and gathers each batch
from it on its own (``xp.take`` of the batch's rows), so training holds the data plus a few
batches, never a shuffled copy of the whole. Unshuffled batches are slices (a full batch is
the data itself). A NumPy memory-mapped ``X`` (``np.load(path, mmap_mode="r")``) stays on
the host: it is checked block by block and each batch's rows are read, cast and moved to the
device on their own, so data larger than memory trains. The history's records (loss,
accuracy) and the finite check on the loss and the parameter buffer are computed for a chunk
of epochs at once from the kept batch outputs, with one device sync and one copy of the
buffer (the snapshot to fall back on) per chunk; a chunk is a single epoch whenever
validation, early stopping or callbacks read every epoch (see :func:`_epochs`).

The model is anything with the public attributes ``arch`` (an
:class:`~xprop.network.Architecture`), ``params`` (:class:`~xprop.params.Params`), ``xp``,
``backend`` and a ``prepare(X, y)`` method, such as :class:`xprop.MLP`.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from xprop import network
from xprop import validation as V
from xprop.backend import dtype_name
from xprop.backend.core import adapter_of_namespace, on_device
from xprop.backend.host import epoch_records, host_matrix_problems, host_rows, is_memmap
from xprop.captured import CapturedStep
from xprop.compiled import CompiledEpochs
from xprop.init import permutation_stream
from xprop.optimizers import Optimizer, get_optimizer, get_schedule
from xprop.params import Params
from xprop.step import train_step

Array = Any

__all__ = ["History", "TrainingDivergedError", "fit", "train_step"]

RECOVERY_DEPTH = 8  # states kept while replaying a diverged chunk (see _recover)
CHUNK_EPOCHS = 256  # at most this many epochs' records are computed together (see _epochs)
CHUNK_ELEMENTS = 1 << 20  # ... keeping at most this many output entries for them


class TrainingDivergedError(FloatingPointError):
    """The loss or a parameter became NaN or inf; ``epoch`` and ``step`` say where (from 1)."""

    def __init__(self, message: str, epoch: int, step: int) -> None:
        super().__init__(message)
        self.epoch, self.step = epoch, step


@dataclass
class History:
    """Per-epoch records: training ``loss`` (mean over the epoch's batches, before each update)
    and ``accuracy`` (classifiers), ``val_loss``/``val_accuracy`` when validating, the learning
    rate ``lr`` and the cumulative wall ``time`` in seconds. ``history["loss"]`` works too."""

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    time: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def __len__(self) -> int:
        return len(self.loss)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items()}


@on_device
def fit(
    model: Any,
    X: Any,
    y: Any,
    *,
    lr: float | None = None,
    epochs: int = 100,
    batch_size: int | None = None,
    optimizer: str | Optimizer = "sgd",
    shuffle: bool = True,
    seed: int | None = 0,
    verbose: int = 0,
    validation_data: tuple[Any, Any] | None = None,
    validation_split: float = 0.0,
    early_stopping: int | None = None,
    min_delta: float = 0.0,
    restore_best: bool = True,
    schedule: str | Callable[[int], float] | None = None,
    clip_norm: float | None = None,
    callbacks: Sequence[Callable[[int, dict, Any], bool | None]] = (),
    log: Callable[[str], None] = print,
    compiled: bool | None = None,
) -> History:
    """Train ``model`` in place and return its :class:`History`.

    ``batch_size=None`` is full-batch gradient descent; ``batch_size=1`` is classic per-sample
    SGD. ``optimizer`` is a name (``sgd``, ``momentum``, ``nesterov``, ``adam``, ``adamw``, made
    with ``lr``, default 0.1) or an :class:`~xprop.optimizers.Optimizer` (which carries its own
    learning rate; passing ``lr`` too is an error). ``verbose=k`` logs every k epochs.
    ``early_stopping=p`` stops after ``p`` epochs without a validation-loss improvement larger
    than ``min_delta`` and (``restore_best``) restores the best parameters; it needs
    ``validation_data`` or ``validation_split``. ``schedule``: ``constant``, ``step``,
    ``cosine`` or ``epoch -> lr``. ``clip_norm`` clips gradients by global norm. Each callback
    gets ``(epoch, logs, model)`` after every epoch and stops training by returning True.

    ``X`` may be a NumPy memory-mapped array (``np.load(path, mmap_mode="r")``, ``np.memmap``):
    it is not loaded whole but checked block by block, and each batch is read from it and
    moved to the model's device (a validation split's rows are moved once); the results are
    those of the same data in memory. Shuffling reads rows in random order: keep the file on
    a fast disk or in the page cache.

    ``compiled``: None (the default) takes the fast path the model's library offers, where
    it is valid: on JAX whole chunks of epochs compiled into one call (no validation,
    callbacks or memory-mapped data; :mod:`xprop.compiled`), on PyTorch CUDA devices every
    full minibatch's step replayed from a CUDA graph (:mod:`xprop.captured`);
    ``False`` trains eagerly, step by step; ``True`` requires a fast path. Results agree
    within float rounding. Optimizers that override ``update``/``_update`` train eagerly.

    A non-finite loss or parameter raises :class:`TrainingDivergedError` naming the epoch and
    step; the model then keeps the last parameters (before that step) whose loss and outputs
    on the whole training data are finite.
    """
    epochs = V.check_int(epochs, "epochs")
    verbose = V.check_int(verbose, "verbose", 0)
    if isinstance(optimizer, Optimizer):
        if lr is not None:
            raise ValueError(
                f"lr: the optimizer {optimizer!r} carries its own learning rate; "
                f"pass lr to it, not to fit (got lr={lr!r})"
            )
        opt = optimizer
    else:
        opt = get_optimizer(optimizer, lr=V.check_positive(0.1 if lr is None else lr, "lr"))
    xp = model.xp
    if clip_norm is not None:
        V.check_positive(clip_norm, "clip_norm")
    if schedule is not None and not (callable(schedule) or isinstance(schedule, str)):
        raise ValueError(f"schedule: expected a name or a function epoch -> lr, got {schedule!r}")
    base_lr = opt.lr
    lr_at = schedule if callable(schedule) else get_schedule(schedule, base_lr, epochs)
    if schedule is None or (isinstance(schedule, str) and schedule.strip().lower() == "constant"):
        lr_at = None  # the rate stays the optimizer's own
    if isinstance(validation_split, bool) or not isinstance(validation_split, (int, float)) \
            or not 0.0 <= float(validation_split) < 1.0:
        raise ValueError(
            f"validation_split: expected a fraction in [0, 1), got {validation_split!r}"
        )
    if validation_data is not None:
        if validation_split:
            raise ValueError("validation_data, validation_split: give one of them, not both")
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError(
                "validation_data: expected a pair (X_val, y_val), got "
                f"{type(validation_data).__name__}"
                + (f" of length {len(validation_data)}" if isinstance(
                    validation_data, (tuple, list)) else "")
            )
    if early_stopping is not None:
        early_stopping = V.check_int(early_stopping, "early_stopping")
        if validation_data is None and not validation_split:
            raise ValueError(
                "early_stopping: needs validation_data=(X_val, y_val) or validation_split > 0"
            )
    if isinstance(min_delta, bool) or not isinstance(min_delta, (int, float)) or not (
            math.isfinite(min_delta) and min_delta >= 0):
        raise ValueError(f"min_delta: expected a finite number >= 0, got {min_delta!r}")
    if callable(callbacks) or not all(callable(cb) for cb in callbacks):
        raise ValueError("callbacks: expected a list of functions (epoch, logs, model)")
    if compiled is not None and not (isinstance(compiled, bool)
                                     or type(compiled).__name__ == "bool_"):
        raise ValueError(f"compiled: expected None, True or False, got {compiled!r}")
    compiled = None if compiled is None else bool(compiled)

    if y is None:
        raise ValueError("y: fit needs targets (class labels or values), got None")
    Xd, Yd, labels, host = _prepare(model, X, y)
    n = Xd.shape[0]
    if batch_size is None:
        batch_size = n
    batch_size = V.check_int(batch_size, "batch_size")
    perms = permutation_stream(n, seed)
    rows = None  # the training rows of Xd, Yd, labels (all of them, in order, when None)
    if validation_split:
        n_val = max(1, round(n * float(validation_split)))
        if n_val >= n:
            raise ValueError(f"validation_split: leaves no training data ({n} samples)")
        split = next(perms)
        rows, at = split[n_val:], model.backend.from_host(split[:n_val])
        Xv = _to_device(model, Xd, split[:n_val]) if host else xp.take(Xd, at, axis=0)
        Yv = xp.take(Yd, at, axis=0)
        Lv = None if labels is None else xp.take(labels, at, axis=0)
        n = n - n_val
        if batch_size >= n and not host:  # one batch of all the training rows: gather it once
            at = model.backend.from_host(rows)
            Xd, Yd = xp.take(Xd, at, axis=0), xp.take(Yd, at, axis=0)
            labels = None if labels is None else xp.take(labels, at, axis=0)
            rows = None
        perms = permutation_stream(n, None if seed is None else seed + 1)
        val = (Xv, Yv, Lv)
    elif validation_data is not None:
        try:
            val = model.prepare(*validation_data)
        except (ValueError, TypeError) as e:
            raise type(e)(f"validation_data: {e}") from None
    else:
        val = None
    batch_size = min(batch_size, n)
    try:
        return _epochs(model, opt, lr_at, epochs, Xd, Yd, labels, rows, host, val, n,
                       batch_size, perms, shuffle, verbose, early_stopping, min_delta,
                       restore_best, clip_norm, callbacks, log, compiled)
    finally:
        opt.lr = base_lr  # a schedule changes the optimizer's lr only for this fit


def _prepare(model: Any, X: Any, y: Any) -> tuple[Any, Array, Array | None, bool]:
    """``model.prepare(X, y)`` plus whether ``X`` stays on the host: a NumPy memory-mapped
    ``X`` (``np.memmap``, ``np.load(path, mmap_mode="r")``) is checked block by block on the
    host (no whole copy: its batches go to the device one at a time); its targets are
    prepared on the device as usual."""
    if not is_memmap(X):
        return (*model.prepare(X, y), False)
    _check_host_matrix(X, model.arch.sizes[0], model.params.buffer.dtype, model.xp)
    Y, labels = model.arch.head.prepare_targets(y, X.shape[0], model.arch.sizes[-1],
                                                model.backend, model.params.buffer.dtype,
                                                model.xp)
    return X, Y, labels, True


def _check_host_matrix(X: Any, n_features: int, dtype: Any, xp: Any) -> None:
    """The checks ``model.prepare`` makes on ``X`` (real numbers, shape, no value that the
    cast to ``dtype`` overflows, finite), on a host array read a block at a time."""
    if X.dtype.kind not in "biuf":
        raise TypeError(f"X: expected real numbers, got dtype {X.dtype}")
    V.check_matrix(X, "X", n_features)
    problem = host_matrix_problems(X, dtype_name(dtype, xp))
    if problem is not None:
        raise ValueError(f"X: {problem}")


def _epochs(model, opt, lr_at, epochs, Xd, Yd, labels, rows, host, val, n, batch_size, perms,
            shuffle, verbose, early_stopping, min_delta, restore_best, clip_norm, callbacks,
            log, compiled=None) -> History:
    """The epoch loop of :func:`fit`, on validated, prepared data.

    Epochs are trained in chunks whose records (loss, accuracy, the finite check) are computed
    together at the chunk's end from the batches' kept outputs, with one device sync: a
    chunk is one epoch when something reads every epoch's logs (validation, early stopping,
    callbacks), ends at every ``verbose`` epoch, and is otherwise up to ``CHUNK_EPOCHS``
    epochs holding at most ``CHUNK_ELEMENTS`` output entries. Each chunk starts with one copy
    of the parameter buffer, the state that :func:`_recover` replays from.
    """
    xp, arch, params, head = model.xp, model.arch, model.params, model.arch.head
    starts = list(range(0, n, batch_size))
    track_acc = head.is_classifier
    truth = head.truth(Yd, labels, xp) if track_acc else None
    per_epoch = bool(callbacks) or val is not None
    size = 1 if per_epoch else max(1, min(CHUNK_EPOCHS, CHUNK_ELEMENTS // (n * arch.sizes[-1])))
    history = History()
    best = (math.inf, None)
    since_best = 0
    snapshots: deque[_Snapshot] = deque(maxlen=2)  # starts of the previous and current chunk
    replay: list[_Epochs] = []  # the chunks since snapshots[0], for _recover
    t0 = time.perf_counter()
    mutable = adapter_of_namespace(xp).mutable  # immutable arrays need no defensive copies
    data = _Data(Xd, Yd, truth, rows, host, starts, batch_size, n,
                 perms if shuffle and len(starts) > 1 else None,
                 params.copy() if mutable else None)
    fast = _fast_path(model, opt, data, per_epoch, clip_norm, compiled)
    if isinstance(fast, CompiledEpochs):  # no outputs are kept: the records come out of the
        # call; shuffled chunks send (and keep, for _recover) each epoch's order of n rows
        size = fast.epochs_per_call if data.perms is None else max(
            1, min(fast.epochs_per_call, CHUNK_ELEMENTS // n))
    data.step = fast if isinstance(fast, _Capture) else None
    first = 0
    while first < epochs:
        last = min(epochs, first + size)
        if verbose:  # a chunk ends at every logged epoch
            last = min(last, (first // verbose + 1) * verbose)
        kept = xp.asarray(params.buffer, copy=True) if mutable else params.buffer
        snapshots.append(_Snapshot(first, kept, opt.state()))
        replay = [c for c in replay if c.first >= snapshots[0].epoch]
        if isinstance(fast, CompiledEpochs):
            columns, records = fast.run(range(first, last), lr_at, data.perms, t0)
            pending = _Epochs(first, *columns)
        else:
            chunk = _train(model, opt, lr_at, range(first, last), data, clip_norm, t0)
            pending = chunk.epochs
            records = _records(model, chunk, data)
            del chunk  # the outputs are accounted for
        replay.append(pending)
        first = last
        if records is None:
            where = _recover(model, opt, list(snapshots), [ep for c in replay for ep in c],
                             data, clip_norm)
            raise TrainingDivergedError(
                f"training diverged: the loss or a parameter became NaN or inf at epoch "
                f"{where.epoch}, step {where.step} of {len(starts)} (lr={where.lr:g}); "
                f"the model keeps its last finite parameters ({where.kept}, the last with a "
                f"finite loss and finite outputs on the training data). Try a smaller lr.",
                where.epoch, where.step,
            )
        stop = False
        if not per_epoch:  # the whole chunk's records at once; nothing reads them in between
            _extend(history, pending, records, n, head, verbose, epochs, log)
        else:  # chunks of one epoch: the parameters are this epoch's
            ep, loss, accuracy = pending[0], records[0][0], records[1][0]
            logs: dict[str, float] = {"loss": loss, "lr": ep.lr}
            if track_acc:
                logs["accuracy"] = accuracy
            if val is not None:
                Xv, Yv, Lv = val
                _, vcache = network.forward(params, Xv, arch, xp)
                logs["val_loss"] = float(network.loss_value(vcache, Yv, arch, xp))
                if track_acc:
                    logs["val_accuracy"] = float(
                        head.hits(vcache.output, Yv, Lv, xp)) / Xv.shape[0]
            logs["time"] = time.perf_counter() - t0
            for key, value in logs.items():
                getattr(history, key).append(value)
            done = ep.index + 1
            if verbose and (done % verbose == 0 or done == epochs):
                log(_progress(done, epochs, logs))
            if early_stopping is not None:
                if logs["val_loss"] < best[0] - min_delta:
                    best = (logs["val_loss"], xp.asarray(params.buffer, copy=True))
                    history.best_epoch = done
                    since_best = 0
                else:
                    since_best += 1
                    if since_best >= early_stopping:
                        stop = history.stopped_early = True
            for cb in callbacks:
                if cb(done, logs, model):
                    stop = True
        if stop:
            break
    if early_stopping is not None and restore_best and best[1] is not None:
        params.assign(best[1])
    return history


def _progress(done: int, epochs: int, logs: dict[str, float]) -> str:
    """The ``verbose`` line of one epoch."""
    return f"epoch {done:>{len(str(epochs))}d}/{epochs}  " + "  ".join(
        f"{k} {v:.6g}" for k, v in logs.items() if k not in ("lr", "time"))


def _extend(history: History, pending: _Epochs, records: tuple[list[float], list[float]],
            n: int, head: Any, verbose: int, epochs: int, log: Callable[[str], None]) -> None:
    """Append a chunk's records (losses, accuracies) to ``history`` and log its ``verbose``
    epochs."""
    losses, accuracies = records
    history.loss.extend(losses)
    history.lr.extend(pending.lrs)
    history.time.extend(pending.times)
    if head.is_classifier:
        history.accuracy.extend(accuracies)
    if verbose:
        for done in range(pending.first + 1, pending.first + len(pending) + 1):
            if done % verbose == 0 or done == epochs:
                logs = {"loss": history.loss[done - 1]}
                if head.is_classifier:
                    logs["accuracy"] = history.accuracy[done - 1]
                log(_progress(done, epochs, logs))


@dataclass
class _Data:
    """The prepared training data and how an epoch walks it.

    ``X`` is on the model's device, or (``host``) a NumPy memory-mapped array whose batches
    are read and moved to the device one at a time. ``Y`` and ``truth`` are on the device.
    ``rows``: the host indices of the training rows of ``X``, ``Y``, ``truth`` (the others are
    the validation split's), None when every row trains. Batches start at ``starts``;
    ``perms`` (a host permutation of ``range(n)`` per epoch) is None when epochs are not
    shuffled."""

    X: Array
    Y: Array
    truth: Array | None
    rows: Any
    host: bool
    starts: list[int]
    batch_size: int
    n: int
    perms: Any
    grads: Params | None  # the gradient buffer every step writes into (see network.backward;
    # None for immutable arrays, which are never written into)
    step: Any = None  # a _Capture when steps are replayed from a capture

    def order(self) -> Any:
        """The next epoch's rows in batch order (a host array), or None when the batches are
        the contiguous slices ``[s:e]`` of the data."""
        perm = None if self.perms is None else next(self.perms)
        if perm is None or self.rows is None:
            return self.rows if perm is None else perm
        return self.rows[perm]


def _to_device(model: Any, X: Any, idx: Any) -> Array:
    """Rows ``idx`` (host indices, or a slice) of host ``X``, in the model's dtype on its
    device: read (and cast) on the host, then one copy to the device."""
    return model.backend.from_host(host_rows(X, idx), model.params.buffer.dtype)


def _batch(model: Any, data: _Data, order: Any, at: Array | None, s: int,
           e: int) -> tuple[Array, Array, Array | None]:
    """The batch ``[s:e]`` of an epoch whose rows come in ``order`` (host indices; ``at``: the
    same on the device), as ``(X, Y, truth)`` on the device: gathered rows (``xp.take``), or
    slices of the data when ``order`` is None (the whole arrays for a full batch)."""
    xp = model.xp
    if order is None:
        if s == 0 and e == data.n and not data.host:
            return data.X, data.Y, data.truth
        X = _to_device(model, data.X, slice(s, e)) if data.host else data.X[s:e, ...]
        truth = None if data.truth is None else data.truth[s:e, ...]
        return X, data.Y[s:e, ...], truth
    idx = at[s:e, ...]
    X = _to_device(model, data.X, order[s:e]) if data.host else xp.take(data.X, idx, axis=0)
    truth = None if data.truth is None else xp.take(data.truth, idx, axis=0)
    return X, xp.take(data.Y, idx, axis=0), truth


def _train(model: Any, opt: Optimizer, lr_at: Callable[[int], float] | None, epochs: range,
           data: _Data, clip_norm: float | None, t0: float) -> _Chunk:
    """Train ``epochs`` and return them as a :class:`_Chunk`, the batches' outputs kept.
    Each batch is gathered from the epoch's order on its own (never the whole shuffled data).
    Every step writes its gradients into ``data.grads`` (where the namespace allows)."""
    chunk = _Chunk(_Epochs(epochs.start, [], [], []), [], [], [], [])
    fixed = None if data.perms is not None or data.rows is None else (
        data.rows, model.backend.from_host(data.rows))  # unshuffled rows: the same each epoch
    spans = [(s, min(s + data.batch_size, data.n)) for s in data.starts]  # in bounds (strict)
    # unshuffled in-memory data: the same batches (views) every epoch, made once
    same = None if data.perms is not None or fixed is not None or data.host else [
        _batch(model, data, None, None, s, e) for s, e in spans]
    try:
        _train_epochs(model, opt, lr_at, epochs, data, clip_norm, t0, chunk, spans, same, fixed)
    finally:
        if data.step is not None:
            data.step.sync()  # the optimizer's state as of now (snapshots, errors read it)
    return chunk


def _train_epochs(model, opt, lr_at, epochs, data, clip_norm, t0, chunk, spans, same,
                  fixed) -> None:
    """:func:`_train`'s loop."""
    for epoch in epochs:
        if lr_at is not None:
            lr = lr_at(epoch)
            if lr != opt.lr:  # a schedule's new rate (the first is the checked base rate)
                opt.lr = V.check_positive(lr, f"schedule({epoch})")
        order, at = fixed if fixed is not None else (None if same else data.order(), None)
        if order is not None and at is None:
            at = model.backend.from_host(order)
        for i, (s, e) in enumerate(spans):
            Xb, Yb, Tb = same[i] if same else _batch(model, data, order, at, s, e)
            if data.step is None:
                cache = train_step(model, Xb, Yb, opt, clip_norm, data.grads)
                logits, outputs = cache.pre[-1], cache.output
            else:  # replayed (full batches) or eager on the same optimizer state
                step = data.step.get(Xb, Yb)
                logits, outputs = (step(Xb, Yb) if e - s == data.batch_size
                                   else step.eager(Xb, Yb))
                cache = None
            chunk.logits.append(logits)
            chunk.outputs.append(outputs)
            if order is not None:  # the records need the gathered targets
                chunk.Y.append(Yb)
                chunk.truth.append(Tb)
            del Xb, cache  # not held while the next batch is gathered
        chunk.epochs.add(opt.lr, order, time.perf_counter() - t0)


class _Capture:
    """The captured step of a fit, made at the first full batch (see xprop.captured)."""

    def __init__(self, model: Any, opt: Optimizer, grads: Params, clip_norm: float | None):
        self.model, self.opt, self.grads, self.clip_norm = model, opt, grads, clip_norm
        self.step: CapturedStep | None = None

    def get(self, X: Array, Y: Array) -> CapturedStep:
        if self.step is None:
            self.step = CapturedStep(self.model, self.opt, adapter_of_namespace(self.model.xp),
                                     X, Y, self.grads, self.clip_norm)
        return self.step

    def sync(self) -> None:
        if self.step is not None:
            self.step.sync()


def _fast_path(model: Any, opt: Optimizer, data: _Data, per_epoch: bool,
               clip_norm: float | None, compiled: bool | None) -> CompiledEpochs | _Capture | None:
    """The fast path :func:`fit`'s ``compiled`` asks for and the model's library offers."""
    if compiled is False:
        return None
    ops = adapter_of_namespace(model.xp)
    standard = opt.pure
    if standard and ops.compiles and not (per_epoch or data.host or data.rows is not None):
        return CompiledEpochs(model, opt, ops, data.X, data.Y, data.truth, data.n,
                              data.batch_size, data.perms is not None, clip_norm)
    if (standard and ops.mutable and data.batch_size < data.n
            and ops.can_capture(model.backend.device)):  # a full batch: nothing to gain
        return _Capture(model, opt, data.grads, clip_norm)
    if compiled:
        why = ("the optimizer overrides update or _update, which compiled or captured "
               "steps would skip" if not standard else
               "whole epochs compile only without validation, callbacks and memory-mapped "
               "data" if ops.compiles else
               f"{model.backend.describe()} neither compiles nor captures steps (CUDA graphs: "
               "minibatches on torch CUDA devices, unless XPROP_CUDA_GRAPHS=0)")
        raise ValueError(f"compiled: no fast path here ({why}); pass compiled=None or False")
    return None


@dataclass
class _Snapshot:
    """The parameters and optimizer state before epoch ``epoch`` (0-based)."""

    epoch: int
    buffer: Array
    opt_state: dict


@dataclass(slots=True)
class _Epoch:
    """A trained epoch: its 0-based index, learning rate, rows in batch order (a host array,
    see :meth:`_Data.order`; what replaying it needs) and the cumulative time at its end."""

    index: int
    lr: float
    order: Any
    time: float


@dataclass(slots=True)
class _Epochs:
    """Consecutive trained epochs from ``first`` (0-based), as columns: each one's learning
    rate, rows in batch order and cumulative time (``_Epochs[i]`` is an :class:`_Epoch`).
    Columns, so that a compiled chunk of a thousand epochs costs no object per epoch."""

    first: int
    lrs: list[float]
    orders: list[Any]
    times: list[float]

    def add(self, lr: float, order: Any, time: float) -> None:
        self.lrs.append(lr)
        self.orders.append(order)
        self.times.append(time)

    def __len__(self) -> int:
        return len(self.lrs)

    def __getitem__(self, i: int) -> _Epoch:
        i = range(len(self.lrs))[i]
        return _Epoch(self.first + i, self.lrs[i], self.orders[i], self.times[i])

    def __iter__(self) -> Any:
        return map(_Epoch, range(self.first, self.first + len(self.lrs)), self.lrs,
                   self.orders, self.times)


@dataclass
class _Chunk:
    """Epochs trained since the last records: every batch's logits and outputs in order and,
    when the batches were gathered, every batch's targets and truth (else the data's own)."""

    epochs: _Epochs
    logits: list[Array]
    outputs: list[Array]
    Y: list[Array]
    truth: list[Array | None]


def _records(model: Any, chunk: _Chunk, data: _Data) -> tuple[list[float], list[float]] | None:
    """``(loss, accuracy)`` of each epoch of ``chunk`` from its kept outputs, or None when
    a loss or a parameter is not finite: per-sample losses and hits of all the epochs at once
    on ``(epochs, n, k)`` stacks, summed per epoch, and one transfer to the host (the only
    sync)."""
    xp, head, params = model.xp, model.arch.head, model.params
    k, n = len(chunk.epochs), data.n

    def stack(arrays: list[Array]) -> Array:
        """``(k, n, ...)`` from the chunk's batches in order (one copy)."""
        joined = arrays[0] if len(arrays) == 1 else xp.concat(arrays, axis=0)
        return xp.reshape(joined, (k, n, *joined.shape[1:]))

    outputs = stack(chunk.outputs)
    Y = stack(chunk.Y) if chunk.Y else data.Y  # unshuffled: one array, broadcast
    rows = head.rows(stack(chunk.logits), outputs, Y, xp)
    parts = [xp.sum(rows, axis=-1)]
    if head.is_classifier:
        truth = stack(chunk.truth) if chunk.truth else data.truth
        hit = head.hit_rows(outputs, truth, xp)
        parts.append(xp.sum(xp.astype(hit, rows.dtype), axis=-1))
    # 0 * every parameter: NaN if any is NaN or inf
    parts.append(xp.reshape(xp.sum(params.buffer * 0.0), (1,)))
    return epoch_records(xp.concat(parts), k, k if head.is_classifier else None,
                         1 if head.summed else n, n)


@dataclass
class _Recovery:
    epoch: int  # 1-based epoch and step whose batch loss or update was not finite
    step: int
    lr: float  # that epoch's learning rate
    kept: str  # which parameters the model kept, in words


def _finite_on(model: Any, X: Array, Y: Array) -> bool:
    """Whether the loss and every output on ``(X, Y)`` are finite (one forward, one sync)."""
    xp = model.xp
    out, cache = network.forward(model.params, X, model.arch, xp)
    value = network.loss_value(cache, Y, model.arch, xp)
    return bool(xp.isfinite(value) & xp.all(xp.isfinite(out)))


def _finite_on_training(model: Any, data: _Data) -> bool:
    """:func:`_finite_on` the training data. Device data is checked at once (the training
    rows gathered first, on this failure path only, when a validation split set some
    aside); a memory-mapped ``X`` batch by batch: every batch's outputs finite, and the sum of
    the per-sample losses (in the model's dtype, as the whole loss adds them up) finite."""
    xp, head = model.xp, model.arch.head
    at = None if data.rows is None else model.backend.from_host(data.rows)
    if not data.host:
        if at is None:
            return _finite_on(model, data.X, data.Y)
        return _finite_on(model, xp.take(data.X, at, axis=0), xp.take(data.Y, at, axis=0))
    total = None
    for s in data.starts:
        Xb, Yb, _ = _batch(model, data, data.rows, at, s, min(s + data.batch_size, data.n))
        out, cache = network.forward(model.params, Xb, model.arch, xp)
        if not bool(xp.all(xp.isfinite(out))):
            return False
        part = xp.sum(head.rows(cache.pre[-1], out, Yb, xp))
        total = part if total is None else total + part
    return bool(xp.isfinite(total))


def _recover(model: Any, opt: Optimizer, snapshots: list[_Snapshot], replay: list[_Epoch],
             data: _Data, clip_norm: float | None) -> _Recovery:
    """After a diverged chunk: replay the epochs since the oldest kept snapshot (the previous
    chunk's start), step by step (same batches, same order: deterministic), up to the first
    step whose batch loss or update is not finite. Of the states met on the way, keep the last
    whose loss and outputs on the whole training data are finite: the last
    ``RECOVERY_DEPTH`` states are tried from the newest back, then the snapshots. Runs only on
    this failure path, so its syncs cost nothing in training."""
    xp, params = model.xp, model.params
    recent: deque = deque(maxlen=RECOVERY_DEPTH)  # (buffer copy, opt state, description)
    first = snapshots[0]
    params.assign(xp.asarray(first.buffer, copy=True))
    opt.load_state(first.opt_state)
    failed = replay[-1].index + 1, len(data.starts), replay[-1].lr
    for ep in replay:
        opt.lr = ep.lr
        recent.append((xp.asarray(params.buffer, copy=True), opt.state(),
                       f"those at the start of epoch {ep.index + 1}"))
        at = None if ep.order is None else model.backend.from_host(ep.order)
        for step, s in enumerate(data.starts):
            e = min(s + data.batch_size, data.n)
            Xb, Yb, _ = _batch(model, data, ep.order, at, s, e)
            cache = train_step(model, Xb, Yb, opt, clip_norm)
            value = network.loss_value(cache, Yb, model.arch, xp)
            if not bool(xp.isfinite(value) & xp.all(xp.isfinite(params.buffer))):
                failed = ep.index + 1, step + 1, ep.lr
                break
            recent.append((xp.asarray(params.buffer, copy=True), opt.state(),
                           f"those after step {step + 1} of epoch {ep.index + 1}"))
        else:
            continue
        break
    candidates = list(reversed(recent))
    candidates += [(sn.buffer, sn.opt_state, f"those at the start of epoch {sn.epoch + 1}")
                   for sn in reversed(snapshots)]
    for buffer, state, words in candidates:
        params.assign(xp.asarray(buffer, copy=True))
        opt.load_state(state)
        if _finite_on_training(model, data):
            return _Recovery(*failed, words)
    return _Recovery(*failed, candidates[-1][2] + ", whose training loss is not finite "
                     "either: check the data")
