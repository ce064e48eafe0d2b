"""The training loop: full-batch gradient descent or seeded minibatch SGD with any optimizer.

One step on a batch ``(X_b, Y_b)``: :func:`xprop.network.forward`, :func:`~xprop.network.backward`
(no gradient for the input), then ``buffer = optimizer.update(buffer, grad_buffer)`` on the
model's flat parameter buffer. The data is validated and moved to the model's device once,
before the first epoch; each epoch draws one host permutation (seeded), gathers the shuffled
data once with ``xp.take`` and slices contiguous batches. Per epoch: one copy of the parameter
buffer (the snapshot to fall back on), one finite check on the buffer and the summed loss,
and one device sync.

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
from xprop.init import permutation_stream
from xprop.optimizers import Optimizer, clip_scale, get_optimizer, get_schedule

Array = Any

__all__ = ["History", "TrainingDivergedError", "fit", "train_step"]

RECOVERY_DEPTH = 8  # states kept while replaying a diverged epoch (see _recover)


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


def train_step(model: Any, X: Array, Y: Array, optimizer: Optimizer,
               clip_norm: float | None = None) -> network.Cache:
    """One forward/backward/update on prepared data (model dtype and device, ``(n, k)``
    targets). Returns the forward cache (its output is the pre-update prediction)."""
    arch, params, xp = model.arch, model.params, model.xp
    _, cache = network.forward(params, X, arch, xp)
    grads = network.backward(params, cache, Y, arch, xp=xp)
    grad = grads.buffer
    if clip_norm is not None:
        grad = grad * clip_scale(list(grads.values()), clip_norm, xp)[1]
    params.assign(optimizer.update(params.buffer, grad, xp))
    return cache


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

    Xd, Yd, labels = model.prepare(X, y)
    n = Xd.shape[0]
    if batch_size is None:
        batch_size = n
    batch_size = V.check_int(batch_size, "batch_size")
    perms = permutation_stream(n, seed)
    if validation_split:
        n_val = max(1, round(n * float(validation_split)))
        if n_val >= n:
            raise ValueError(f"validation_split: leaves no training data ({n} samples)")
        idx = model.backend.from_host(next(perms))
        Xv, Yv = xp.take(Xd, idx[:n_val], axis=0), xp.take(Yd, idx[:n_val], axis=0)
        Lv = None if labels is None else xp.take(labels, idx[:n_val], axis=0)
        Xd, Yd = xp.take(Xd, idx[n_val:], axis=0), xp.take(Yd, idx[n_val:], axis=0)
        labels = None if labels is None else xp.take(labels, idx[n_val:], axis=0)
        n = n - n_val
        perms = permutation_stream(n, None if seed is None else seed + 1)
        val = (Xv, Yv, Lv)
    elif validation_data is not None:
        val = model.prepare(*validation_data)
    else:
        val = None
    batch_size = min(batch_size, n)
    try:
        return _epochs(model, opt, lr_at, epochs, Xd, Yd, labels, val, n, batch_size, perms,
                       shuffle, verbose, early_stopping, min_delta, restore_best, clip_norm,
                       callbacks, log)
    finally:
        opt.lr = base_lr  # a schedule changes the optimizer's lr only for this fit


def _epochs(model, opt, lr_at, epochs, Xd, Yd, labels, val, n, batch_size, perms, shuffle,
            verbose, early_stopping, min_delta, restore_best, clip_norm, callbacks,
            log) -> History:
    """The epoch loop of :func:`fit`, on validated, prepared data."""
    xp, arch, params, head = model.xp, model.arch, model.params, model.arch.head
    starts = list(range(0, n, batch_size))
    track_acc = head.is_classifier
    truth = head.truth(Yd, labels, xp) if track_acc else None
    summed = head.summed
    history = History()
    best = (math.inf, None)
    since_best = 0
    previous = None  # the last epoch's start, for recovery after a divergence
    t0 = time.perf_counter()
    for epoch in range(epochs):
        opt.lr = V.check_positive(lr_at(epoch), f"schedule({epoch})")
        if shuffle and len(starts) > 1:
            idx = model.backend.from_host(next(perms))
            Xe, Ye = xp.take(Xd, idx, axis=0), xp.take(Yd, idx, axis=0)
            Te = xp.take(truth, idx, axis=0) if track_acc else None
        else:
            Xe, Ye, Te = Xd, Yd, truth
        start = _EpochStart(epoch, xp.asarray(params.buffer, copy=True), opt.state(), opt.lr,
                            Xe, Ye)
        losses, hits = [], []
        for s in starts:
            e = min(s + batch_size, n)  # slices must stay in bounds (array-api-strict)
            Xb, Yb = Xe[s:e, ...], Ye[s:e, ...]
            cache = train_step(model, Xb, Yb, opt, clip_norm)
            # a mean loss counts by batch size, a summed one (half_sse) as it is
            value = network.loss_value(cache, Yb, arch, xp)
            losses.append(value if summed else value * float(e - s))
            if track_acc:
                hits.append(head.count_hits(cache.output, Te[s:e, ...], xp))
        total = losses[0] if len(losses) == 1 else xp.sum(xp.stack(losses))
        # one sync: the summed loss, plus 0 * every parameter (NaN if any is NaN or inf)
        checked = float(total + xp.sum(params.buffer * 0.0))
        if not math.isfinite(checked):
            where = _recover(model, opt, [p for p in (previous, start) if p is not None],
                             Xd, Yd, starts, batch_size, n, clip_norm)
            raise TrainingDivergedError(
                f"training diverged: the loss or a parameter became NaN or inf at epoch "
                f"{epoch + 1}, step {where.failed_step} of {len(starts)} (lr={opt.lr:g}); "
                f"the model keeps its last finite parameters ({where.kept}, the last with a "
                f"finite loss and finite outputs on the training data). Try a smaller lr.",
                epoch + 1, where.failed_step,
            )
        previous = start
        logs: dict[str, float] = {"loss": checked / (1 if summed else n), "lr": opt.lr}
        if track_acc:
            count = hits[0] if len(hits) == 1 else xp.sum(xp.stack(hits))
            logs["accuracy"] = float(count) / n
        if val is not None:
            Xv, Yv, Lv = val
            _, vcache = network.forward(params, Xv, arch, xp)
            logs["val_loss"] = float(network.loss_value(vcache, Yv, arch, xp))
            if track_acc:
                logs["val_accuracy"] = float(head.hits(vcache.output, Yv, Lv, xp)) / Xv.shape[0]
        logs["time"] = time.perf_counter() - t0
        for key, value in logs.items():
            getattr(history, key).append(value)
        if verbose and ((epoch + 1) % verbose == 0 or epoch + 1 == epochs):
            log(f"epoch {epoch + 1:>{len(str(epochs))}d}/{epochs}  " + "  ".join(
                f"{k} {v:.6g}" for k, v in logs.items() if k not in ("lr", "time")))
        stop = False
        if early_stopping is not None:
            if logs["val_loss"] < best[0] - min_delta:
                best = (logs["val_loss"], xp.asarray(params.buffer, copy=True))
                history.best_epoch = epoch + 1
                since_best = 0
            else:
                since_best += 1
                if since_best >= early_stopping:
                    stop = history.stopped_early = True
        for cb in callbacks:
            if cb(epoch + 1, logs, model):
                stop = True
        if stop:
            break
    if early_stopping is not None and restore_best and best[1] is not None:
        params.assign(best[1])
    return history


@dataclass
class _EpochStart:
    """What replaying an epoch needs: the parameters and optimizer state at its start, its
    learning rate and its shuffled data."""

    epoch: int
    buffer: Array
    opt_state: dict
    lr: float
    Xe: Array
    Ye: Array


@dataclass
class _Recovery:
    failed_step: int  # 1-based step of the failing epoch whose loss or update was not finite
    kept: str  # which parameters the model kept, in words


def _finite_on(model: Any, X: Array, Y: Array) -> bool:
    """Whether the loss and every output on ``(X, Y)`` are finite (one forward, one sync)."""
    xp = model.xp
    out, cache = network.forward(model.params, X, model.arch, xp)
    value = network.loss_value(cache, Y, model.arch, xp)
    return bool(xp.isfinite(value) & xp.all(xp.isfinite(out)))


def _recover(model: Any, opt: Optimizer, epochs: list[_EpochStart], Xd: Array, Yd: Array,
             starts: list[int], batch_size: int, n: int, clip_norm: float | None) -> _Recovery:
    """After a diverged epoch: replay it (and the one before, when kept) from its start, step
    by step (same batches, same order: deterministic), up to the first step whose batch loss
    or update is not finite. Of the states met on the way, keep the last whose loss and
    outputs on the whole training data ``(Xd, Yd)`` are finite: the last ``RECOVERY_DEPTH``
    states are tried from the newest back, then each epoch's start. Runs only on this failure
    path, so its syncs cost nothing in training."""
    xp, params = model.xp, model.params
    recent: deque = deque(maxlen=RECOVERY_DEPTH)  # (buffer copy, opt state, description)
    failed_step = len(starts)
    for k, ep in enumerate(epochs):
        params.assign(xp.asarray(ep.buffer, copy=True))
        opt.load_state(ep.opt_state)
        opt.lr = ep.lr
        recent.append((xp.asarray(ep.buffer, copy=True), opt.state(),
                       f"those at the start of epoch {ep.epoch + 1}"))
        last = k == len(epochs) - 1
        for step, s in enumerate(starts):
            e = min(s + batch_size, n)
            Xb, Yb = ep.Xe[s:e, ...], ep.Ye[s:e, ...]
            cache = train_step(model, Xb, Yb, opt, clip_norm)
            value = network.loss_value(cache, Yb, model.arch, xp)
            if not bool(xp.isfinite(value) & xp.all(xp.isfinite(params.buffer))):
                failed_step = step + 1
                break
            if not (last and step + 1 == len(starts)):
                recent.append((xp.asarray(params.buffer, copy=True), opt.state(),
                               f"those after step {step + 1} of epoch {ep.epoch + 1}"))
        else:
            continue
        break
    candidates = list(reversed(recent))
    candidates += [(ep.buffer, ep.opt_state, f"those at the start of epoch {ep.epoch + 1}")
                   for ep in reversed(epochs)]
    for buffer, state, words in candidates:
        params.assign(xp.asarray(buffer, copy=True))
        opt.load_state(state)
        if _finite_on(model, Xd, Yd):
            return _Recovery(failed_step, words)
    return _Recovery(failed_step, candidates[-1][2] + ", whose training loss is not finite "
                     "either: check the data")
