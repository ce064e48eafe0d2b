"""The training engine: one epoch driver behind :func:`fit`, ``MLP.fit``,
:func:`xprop.distributed.fit_distributed` and ``xprop train``.

A fit is a validated :class:`~xprop.config.FitConfig`, prepared data (:class:`TrainingData`: checked
and moved to the model's device once) and the driver (:class:`_Run`), which trains chunks of
epochs and, between chunks, owns everything that is not a step: the optimizer's schedule,
history records, the finite check and divergence recovery, validation, early stopping with
restore, callbacks, progress, and keeping finished epochs when interrupted.

One step on a batch (:class:`xprop.step.Batch`, :func:`xprop.step.train_step`): forward,
backward (per-sample weights when the batch has them), the batch's *gradient hook* (the
all-reduce of data-parallel training, scikit-learn's L2 term; None here), optional clipping,
then ``buffer = optimizer.update(buffer, grad)``. How a chunk of steps runs is a *step
strategy*, one object behind one small protocol (``run(epochs, lr_at, t0) -> ((lrs, orders,
times), records, validation)`` and ``chunk_epochs``): eager (:class:`_EagerChunks`: step by
step, every batch gathered on its own from the epoch's seeded host permutation; on PyTorch
CUDA devices each full batch's step replayed from a CUDA graph, :mod:`xprop.captured`) or
compiled (:class:`~xprop.compiled.CompiledEpochs`, JAX: whole chunks of epochs in one call,
validation and early stopping inside). Results agree within float rounding; eager NumPy is
the reference.

Records (loss, accuracy) and the finite check of a chunk are computed at its end from the
kept batch outputs with one device sync; a chunk is one epoch when callbacks read every
epoch's model (validation and early stopping run inside compiled chunks, and between eager
chunks of one epoch); otherwise eager chunks start at one epoch, then take about
``CHUNK_SECONDS`` of training each (as the last chunk's epochs timed), at most
:data:`xprop.step.CHUNK_EPOCHS` epochs. A NumPy memory-mapped ``X``
stays on the host and each batch's rows are read and moved on their own.

The model is anything with the public attributes ``arch`` (an
:class:`~xprop.network.Architecture`), ``params`` (:class:`~xprop.params.Params`), ``xp``,
``backend`` and a ``prepare(X, y)`` method, such as :class:`xprop.MLP`.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from xprop import network
from xprop import step as steps
from xprop import validation as V
from xprop.backend import dtype_name
from xprop.backend.core import adapter_of_namespace, on_device
from xprop.backend.host import (
    at_most_finite,
    epoch_records,
    host_matrix_problems,
    host_rows,
    in_dtype,
    is_memmap,
)
from xprop.captured import CapturedStep, can_capture, captured_step
from xprop.compiled import CompiledEpochs
from xprop.config import FitConfig, takes_config
from xprop.init import permutation_stream
from xprop.optimizers import Optimizer
from xprop.params import Params
from xprop.step import Batch, train_step

Array = Any

__all__ = ["FitConfig", "History", "TrainingDivergedError", "fit", "run", "train_step"]

RECOVERY_DEPTH = 8  # states kept while replaying a diverged chunk (see _recover)
CHUNK_SECONDS = 0.25  # eager chunks take about this long (see xprop.step's chunk limits)


class TrainingDivergedError(FloatingPointError):
    """Training stopped because the loss or a parameter became NaN or inf.

    A ``FloatingPointError``. The model keeps its last finite parameters.

    Parameters
    ----------
    message : str
        What happened and what to try.
    epoch : int
        The epoch where it happened (from 1).
    step : int
        The step within that epoch (from 1).

    Examples
    --------
    >>> X, y = np.array([[1.0], [2.0]]), np.array([1.0, 2.0])
    >>> model = xprop.MLP([1, 1], seed=0)
    >>> with np.errstate(all="ignore"):
    ...     try:
    ...         model.fit(X, y, lr=100.0, epochs=1000)
    ...     except xprop.TrainingDivergedError as e:
    ...         print(type(e).__name__, e.epoch >= 1, model.all_finite())
    TrainingDivergedError True True
    """

    def __init__(self, message: str, epoch: int, step: int) -> None:
        super().__init__(message)
        self.epoch, self.step = epoch, step


@dataclass
class History:
    """Per-epoch records of a fit, as :func:`fit` returns them.

    ``history["loss"]`` works too; ``len(history)`` is the number of epochs; ``repr`` is one
    line.

    Parameters
    ----------
    loss : list of float
        Training loss per epoch: the mean of the per-sample losses over the epoch, each
        before the update of its batch.
    accuracy : list of float
        Training accuracy per epoch (classifiers).
    val_loss : list of float
        Validation loss per epoch, when validating.
    val_accuracy : list of float
        Validation accuracy per epoch, when validating a classifier.
    lr : list of float
        The learning rate of each epoch.
    time : list of float
        Cumulative wall time in seconds at the end of each epoch.
    best_epoch : int or None, default=None
        With early stopping, the epoch (from 1) of the best validation loss (the last that
        beat the best before it by more than ``min_delta``): the model's parameters are that
        epoch's with ``restore_best`` (the default) when the fit ends or diverges, else the
        last epoch's (also after Ctrl-C or an error of a callback).
    stopped_early : bool, default=False
        Whether early stopping ended the fit.

    Examples
    --------
    >>> X, y = xprop.datasets.xor()
    >>> model = xprop.MLP([2, 4, 1], "tanh", "sigmoid", "bce", seed=1)
    >>> history = model.fit(X, y, lr=1.0, epochs=300)
    >>> len(history), history.loss[-1] < history.loss[0], history["accuracy"][-1]
    (300, True, 1.0)
    >>> history
    History(epochs=300, loss ... -> ..., accuracy ... -> 1, ...)
    """

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
        """The records as a plain dict (for JSON or a DataFrame).

        Returns
        -------
        dict
            Every field by name.

        Examples
        --------
        >>> from xprop.train import History
        >>> History(loss=[0.5, 0.25], lr=[0.1, 0.1]).as_dict()["loss"]
        [0.5, 0.25]
        """
        return {k: v for k, v in vars(self).items()}

    def __repr__(self) -> str:
        """One line: the epochs, each record's first and last value, early stopping, time
        (the lists themselves are attributes)."""
        if not self.loss:
            return "History(epochs=0)"
        parts = [f"epochs={len(self)}"] + [
            f"{key} {values[0]:.4g} -> {values[-1]:.4g}"
            for key in ("loss", "accuracy", "val_loss", "val_accuracy")
            if (values := getattr(self, key))]
        if self.best_epoch is not None:
            parts.append(f"best_epoch={self.best_epoch}"
                         + (" (stopped early)" if self.stopped_early else ""))
        parts.append(f"{format_duration(self.time[-1])}")
        return f"History({', '.join(parts)})"

    def plot(self) -> Any:
        """Draw the loss (and accuracy) curves, train and validation.

        Returns
        -------
        matplotlib.figure.Figure
            The figure (made without pyplot: show it in a notebook, or ``savefig``).

        Raises
        ------
        ImportError
            Without matplotlib (``pip install "xprop[plot]"``).

        Examples
        --------
        >>> from xprop.train import History
        >>> figure = History(loss=[0.5, 0.25], lr=[0.1, 0.1], time=[0.1, 0.2]).plot()
        >>> type(figure).__name__
        'Figure'
        """
        from xprop.plots import training_figure

        return training_figure(self)[0]


def format_duration(seconds: float) -> str:
    """``520 ms``, ``2.5 s``, ``12 s``, ``3 min 20 s``, ``2 h 05 min``."""
    if seconds < 10:
        return f"{seconds * 1e3:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, sec = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {sec:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def progress_line(done: int, epochs: int, logs: dict[str, float]) -> str:
    """One epoch's progress: ``epoch  20/100  loss 0.341  accuracy 0.91  12.3 ms/epoch
    ETA 1.0 s`` (``logs["time"]`` is the training time so far)."""
    line = f"epoch {done:>{len(str(epochs))}d}/{epochs}  " + "  ".join(
        f"{k} {v:.6g}" for k, v in logs.items() if k not in ("lr", "time"))
    if "time" in logs and done:
        per_epoch = logs["time"] / done
        line += (f"  {per_epoch * 1e3:.3g} ms/epoch  ETA "
                 f"{format_duration(per_epoch * (epochs - done))}")
    return line


@on_device
@takes_config
def fit(
    model: Any,
    X: Any,
    y: Any,
    config: FitConfig | None = None,
    *,
    epochs: int | None = None,
    batch_size: int | None = None,
    optimizer: str | Optimizer | None = None,
    lr: float | None = None,
    validation_split: float | None = None,
    early_stopping: int | None = None,
) -> History:
    """Train a model in place and return its :class:`History`.

    ``model.fit(X, y, ...)`` is this function. How to train is a
    :class:`~xprop.config.FitConfig`, validated before any data is read: ``config``, with
    the common options given as keywords in place of its own (a keyword left at None keeps
    the config's value, or the default). Every other option (``shuffle``, ``seed``,
    ``verbose``, ``validation_data``, ``min_delta``, ``restore_best``, ``schedule``,
    ``clip_norm``, ``callbacks``, ``progress``, ``log``, ``compiled``) is a field of the
    config: ``model.fit(X, y, xprop.FitConfig(schedule="cosine", verbose=10), epochs=50)``.

    ``X`` may be a NumPy memory-mapped array (``np.load(path, mmap_mode="r")``,
    ``np.memmap``): it is not loaded whole but checked block by block, and each batch is read
    from it and moved to the model's device (a validation split's rows are moved once); the
    results are those of the same data in memory.

    By default (``compiled=None``) a fit takes the fast path the model's library offers,
    where it is valid: on JAX whole chunks of epochs compiled into one call, validation and
    early stopping included (not with memory-mapped data; :mod:`xprop.compiled`), on PyTorch
    CUDA devices every full minibatch's step replayed from a CUDA graph
    (:mod:`xprop.captured`). Results agree within float rounding. Optimizers that override
    ``update``/``_update`` train eagerly.

    A non-finite loss or parameter raises :class:`TrainingDivergedError` naming the epoch and
    step; the model then keeps the last parameters (before that step) whose loss and outputs
    on the whole training data are finite, or with early stopping and ``restore_best`` those
    of its best epoch; the error carries the :class:`History` of the epochs before the one
    that diverged as ``error.history``. A ``KeyboardInterrupt`` leaves the model with the
    parameters of the last completed epoch and carries the :class:`History` of the completed
    epochs as its ``history`` attribute.

    Parameters
    ----------
    model : MLP
        The model to train (any object with ``arch``, ``params``, ``xp``, ``backend`` and
        ``prepare``).
    X : array_like
        Features: host data (NumPy arrays, lists, a memory-mapped array) or arrays of the
        model's backend; standardised by the model's standardizer, if any.
    y : array_like
        Targets: class labels, 0/1 targets or real values, as the model's head takes them.
    config : FitConfig or None, default=None
        Every training option (:class:`~xprop.config.FitConfig`'s defaults when None).
    epochs : int or None, default=None
        Passes over the training data (the config's: 100 by default).
    batch_size : int or None, default=None
        Samples per step (the config's: by default the whole data, full-batch descent).
    optimizer : str or Optimizer or None, default=None
        ``sgd``, ``momentum``, ``nesterov``, ``adam``, ``adamw`` (made with ``lr``) or an
        :class:`~xprop.optimizers.Optimizer` (the config's: ``"sgd"`` by default).
    lr : float or None, default=None
        The learning rate of a named optimizer (the config's: 0.1 by default); not with
        an :class:`~xprop.optimizers.Optimizer`, which carries its own.
    validation_split : float or None, default=None
        The fraction of the training data held out for validation, in [0, 1).
    early_stopping : int or None, default=None
        Stop after this many epochs without a validation-loss improvement larger than
        ``min_delta`` (needs validation data); with ``restore_best`` (the default) the
        model ends with the best epoch's parameters.

    Returns
    -------
    History
        The per-epoch records.

    Raises
    ------
    ValueError
        For a bad option (named) or bad data, before any training.
    TypeError
        For an option or data of the wrong kind.
    TrainingDivergedError
        When the loss or a parameter becomes NaN or inf.
    KeyboardInterrupt
        On Ctrl-C, with the completed epochs' :class:`History` as ``error.history``; the
        model keeps the parameters of the last completed epoch (so it does on any error
        raised mid-fit, such as a schedule's bad rate or a callback's exception).

    Examples
    --------
    >>> X, y = xprop.datasets.moons(200, seed=0)
    >>> model = xprop.MLP([2, 16, 2], "relu", "softmax", "cross_entropy", seed=0)
    >>> history = xprop.fit(model, X, y, optimizer="adam", lr=0.01, epochs=20,
    ...                     batch_size=32, validation_split=0.2)
    >>> len(history), history.loss[-1] < history.loss[0], len(history.val_loss)
    (20, True, 20)
    >>> config = xprop.FitConfig(optimizer="adam", lr=0.01, schedule="cosine", seed=1)
    >>> len(model.fit(X, y, config, epochs=5))
    5
    >>> model.fit(X, y, lr=0.1, optimizer=xprop.SGD(0.1))
    Traceback (most recent call last):
    ...
    ValueError: lr: ...
    """
    config = FitConfig.of(config, epochs=epochs, batch_size=batch_size, optimizer=optimizer,
                          lr=lr, validation_split=validation_split,
                          early_stopping=early_stopping)
    return run(model, X, y, config)


def run(model: Any, X: Any, y: Any, config: FitConfig, data: TrainingData | None = None,
        started: tuple[Optimizer, Callable[[int], float] | None] | None = None) -> History:
    """Train ``model`` as ``config`` says on ``(X, y)``, or on ``data`` already prepared (what
    :func:`xprop.distributed.fit_distributed` passes: its ranks' shards and all-reduce), with
    what :func:`start` returned when the caller has started the fit already."""
    opt, lr_at = start(model, config) if started is None else started
    opt.bind(model)
    base_lr = opt.lr
    try:
        if data is None:
            require_targets(y)
            data = prepare_data(model, X, y, config)
        return _Run(model, config, opt, data, lr_at).train()
    finally:
        if lr_at is not None:  # (FitConfig.rate_schedule decides: "constant" is none)
            opt.lr = base_lr  # a schedule changes the optimizer's lr only for this fit


def start(model: Any, config: FitConfig) -> tuple[Optimizer, Callable[[int], float] | None]:
    """What a fit checks before any work (on every process of a distributed one): the
    optimizer ``config`` makes, its state checked against ``model`` (:func:`check_state`),
    and the rate schedule, its first rate read and checked."""
    opt = config.make_optimizer()
    check_state(opt, model)  # (and its rate, which may have been set since it was made)
    opt.lr = V.check_real(opt.lr, "optimizer.lr", 0.0, what="a finite learning rate")
    return opt, _checked(config.rate_schedule(opt.lr))


def check_state(opt: Optimizer, model: Any) -> None:
    """An optimizer given again keeps its state (moments, velocity: a fit goes on from
    them); state from a fit of another model (alive or gone, or of another size, dtype,
    library or device) is refused before any work."""
    buffer = model.params.buffer
    problem = opt.state_mismatch(buffer)
    if problem is None and not all(model.backend.owns(a) for a in opt.arrays()
                                   if a is not None and a.ndim == 1):
        problem = "state on another backend or device"
    if problem is not None:
        raise ValueError(
            f"optimizer: {V.show(opt)} holds {problem} from an earlier fit; this model has "
            f"{buffer.shape[0]} {dtype_name(buffer.dtype, model.xp)} parameters on "
            f"{model.backend.describe()}: give a new optimizer (or a name)")
    if opt.trained_another(model) and opt.holds_state():
        raise ValueError(
            f"optimizer: {V.show(opt)} holds the state of a fit of another model (its moments "
            f"or velocity, {opt.t} steps); give a new optimizer (or a name) to each model")


def _stop_said(said: Any, i: int) -> bool:
    """What ``callbacks[i]`` returned, as a stop: True, False, None or a 0-d boolean array
    of any library (``xp.any(...)``); anything else is a TypeError."""
    if said is None or V.is_bool(said):
        return bool(said)
    if getattr(said, "shape", None) == () and "bool" in str(getattr(said, "dtype", "")):
        return bool(said)
    raise TypeError(f"callbacks[{i}]: expected it to return True (stop), False or None, "
                    f"got {V.show(said)}")


def _checked(lr_at: Callable[[int], float] | None) -> Callable[[int], float] | None:
    """The schedule ``epoch -> lr`` with every rate checked as it is read: a finite number
    >= 0 (a rate that decays to 0 stops the updates, as in PyTorch). The first is read now,
    before any training; a function's later rates as their epochs come (it may read state
    that training changes, such as a callback's plateau count)."""
    if lr_at is None:
        return None

    def read(epoch: int) -> float:  # (a 0-d array of any library: its number)
        return V.check_real(lr_at(epoch), f"schedule({epoch})", 0.0, what="a finite learning rate")

    first = read(0)  # (read once: a schedule may keep state of its own)
    return lambda epoch: first if epoch == 0 else read(epoch)


def prepare_data(model: Any, X: Any, y: Any, config: FitConfig) -> TrainingData:
    """The training data (and validation data) of a fit on this process, checked and on the
    model's device, with the epochs' seeded host permutations."""
    Xd, Yd, labels, host = _prepare(model, X, y, place=not config.validation_split)
    split, n_val, batch_size, perms = row_plan(Xd.shape[0], config)
    n = Xd.shape[0] - n_val
    rows = val = None  # the training rows of Xd, Yd, labels (all of them, in order, when None)
    if split is not None:
        staged = (None if host else Xd, Yd, labels)  # (where prepare checked them)
        val = _rows_on_device(model, staged, split[:n_val])
        if host:
            val = (_to_device(model, Xd, split[:n_val]), *val[1:])
        if not host and (batch_size >= n or (config.compiled is not False  # the rows
                                             and adapter_of_namespace(model.xp).compiles)):
            Xd, Yd, labels = _rows_on_device(model, staged, split[n_val:])  # gathered once
        else:
            rows, place = split[n_val:], model.backend.place
            Xd, Yd, labels = Xd if host else place(Xd), place(Yd), place(labels)
    elif config.validation_data is not None:
        val = prepare_validation(model, config.validation_data)
    truth = model.arch.head.truth(Yd, labels, model.xp)
    return TrainingData(Xd, Yd, truth, rows, host, batch_size, n, perms, val)


def row_plan(n: int, config: FitConfig) -> tuple[Any, int, int, Iterator | None]:
    """How a fit walks ``n`` rows (in one process or over several): ``(split, n_val,
    batch_size, perms)``. With a ``validation_split``, ``split`` is the first seeded
    permutation, whose first ``n_val`` rows validate and the others train (else None and
    0); the training rows' batch size, and their epochs' permutations (a stream seeded
    ``seed + 1`` after a split; None when epochs are not shuffled)."""
    perms = permutation_stream(n, config.seed)
    split, n_val = None, validation_rows(n, config.validation_split)
    if n_val:
        split = next(perms)
        n -= n_val
        perms = permutation_stream(n, None if config.seed is None else config.seed + 1)
    batch_size = min(n if config.batch_size is None else config.batch_size, n)
    return split, n_val, batch_size, perms if config.shuffle and batch_size < n else None


def validation_rows(n: int, split: float | None) -> int:
    """The rows a ``validation_split`` holds out of ``n`` (at least one; 0 without a
    split); a ValueError when none would be left to train on."""
    if not split:
        return 0
    n_val = max(1, round(n * split))
    if n_val >= n:
        raise ValueError(f"validation_split: {split!r} of {n} samples leaves no training data "
                         "(at most (n - 1) / n)")
    return n_val


def prepare_validation(model: Any, pair: tuple[Any, Any]) -> tuple:
    """``model.prepare(*pair)`` of ``validation_data``, its errors naming it."""
    try:
        return model.prepare(*pair)
    except (ValueError, TypeError) as e:
        raise type(e)(f"validation_data: {e}") from None


def require_targets(y: Any) -> None:
    """Training needs targets."""
    if y is None:
        raise ValueError("y: fit needs targets (class labels or values), got None")


def _rows_on_device(model: Any, staged: tuple, idx: Any) -> tuple:
    """Rows ``idx`` (host indices) of each array that ``model.prepare(..., place=False)``
    gave (None stays None), on the device: taken on the host, then moved (host data: one
    transfer each), or taken on the device."""
    at, out = None, []
    for a in staged:
        if a is not None and model.backend.owns(a):
            at = model.backend.from_host(idx) if at is None else at
            a = model.xp.take(a, at, axis=0)
        elif a is not None:
            a = model.backend.place(host_rows(a, idx))
        out.append(a)
    return tuple(out)


def _prepare(model: Any, X: Any, y: Any, place: bool) -> tuple[Any, Array, Array | None, bool]:
    """``model.prepare(X, y, place=place)`` plus whether ``X`` stays on the host: a NumPy
    memory-mapped ``X`` (``np.memmap``, ``np.load(path, mmap_mode="r")``) is checked block by
    block on the host (no whole copy: its batches go to the device one at a time); its
    targets are prepared as usual."""
    if not is_memmap(X):
        return (*model.prepare(X, y, place=place), False)
    # the checks model.prepare makes on X (real numbers, shape, no value that the cast to
    # the model's dtype overflows, finite), a block at a time
    if X.dtype.kind not in "biuf":
        raise TypeError(f"X: expected real numbers, got dtype {X.dtype}")
    V.check_matrix(X, "X", model.arch.sizes[0])
    std = getattr(model, "standardizer", None)  # (values as prepare checks them: after it)
    problem = host_matrix_problems(X, dtype_name(model.params.buffer.dtype, model.xp),
                                   None if std is None else std.transform)
    if problem is not None:
        raise ValueError(f"X: {problem}")
    Y, labels = model.arch.head.prepare_targets(y, X.shape[0], model.arch.sizes[-1],
                                                model.backend, model.params.buffer.dtype,
                                                model.xp, place=place)
    return X, Y, labels, True


@dataclass
class TrainingData:
    """The prepared training data of a fit and how an epoch walks it.

    ``X`` is on the model's device, or (``host``) a NumPy memory-mapped array whose batches
    are read and moved to the device one at a time. ``Y`` and ``truth`` (what accuracy
    compares with, classifiers only) are on the device. ``rows``: the host indices of the
    training rows of ``X``, ``Y``, ``truth`` (the others are the validation split's), None
    when every row trains. ``perms`` (a host permutation of ``range(n)`` per epoch) is None
    when epochs are not shuffled. ``val``: the validation ``(X, Y, labels)`` or None.

    The methods that data-parallel training overrides (:mod:`xprop.distributed`) are the
    collective ones: :meth:`batches` (with each batch's gradient hook), :meth:`reduce`
    (records and validation sums) and :meth:`agree`. Here they are this process's alone.
    """

    X: Array
    Y: Array
    truth: Array | None
    rows: Any
    host: bool
    batch_size: int
    n: int
    perms: Any
    val: tuple[Array, Array, Array | None] | None = None
    grads: Params | None = None  # the gradient buffer every step writes into (None for
    # immutable arrays, which are never written into)
    step: Any = None  # a _Capture when steps are replayed from a capture
    #: steps are forward, backward, update (no hooks, no weights): the compiled and
    #: captured strategies apply
    plain: ClassVar[bool] = True
    #: a non-finite loss or parameter stops the fit (TrainingDivergedError, the model back
    #: at its last finite parameters); False: the epochs go on (scikit-learn's solvers do)
    stop_on_divergence: ClassVar[bool] = True
    #: several processes train together (their collectives pair up step by step)
    collective: ClassVar[bool] = False

    def __post_init__(self) -> None:
        self.starts = list(range(0, self.n, self.batch_size))
        self.spans = [(s, min(s + self.batch_size, self.n)) for s in self.starts]
        self._same = self._fixed = None

    def begin(self, model: Any) -> None:
        """Once per fit: what every epoch shares (the device rows of unshuffled training
        rows; the batches themselves for unshuffled in-memory data)."""
        if self.perms is None and self.rows is not None:
            self._fixed = (self.rows, model.backend.from_host(self.rows))
        elif self.perms is None and not self.host:
            self._same = list(self.batches(model, None))

    def epoch(self, model: Any) -> tuple[Any, Iterator[Batch]]:
        """The next epoch's rows in batch order (a host array; None when the batches are the
        contiguous slices of the data) and its batches."""
        if self._same is not None:
            return None, iter(self._same)
        if self._fixed is not None:
            return self._fixed[0], self.batches(model, *self._fixed)
        if self.perms is None:  # memory-mapped rows in order: read slice by slice
            return None, self.batches(model, None)
        order = next(self.perms)
        if self.rows is not None:
            order = self.rows[order]
        return order, self.batches(model, order)

    def batches(self, model: Any, order: Any, at: Array | None = None) -> Iterator[Batch]:
        """The :class:`~xprop.step.Batch` es of an epoch whose rows come in ``order``
        (``at``: the same on the device)."""
        if order is not None and at is None:
            at = model.backend.from_host(order)
        for s, e in self.spans:
            yield Batch(*self._batch(model, order, at, s, e))

    def _batch(self, model: Any, order: Any, at: Array | None, s: int,
               e: int) -> tuple[Array, Array, Array | None]:
        """The batch ``[s:e]`` as ``(X, Y, truth)`` on the device: gathered rows
        (``xp.take``), or slices of the data when ``order`` is None (the whole arrays for a
        full batch)."""
        xp = model.xp
        if order is None:
            if s == 0 and e == self.n and not self.host:
                return self.X, self.Y, self.truth
            X = _to_device(model, self.X, slice(s, e)) if self.host else self.X[s:e, ...]
            truth = None if self.truth is None else self.truth[s:e, ...]
            return X, self.Y[s:e, ...], truth
        idx = at[s:e, ...]
        X = _to_device(model, self.X, order[s:e]) if self.host else xp.take(self.X, idx, axis=0)
        truth = None if self.truth is None else xp.take(self.truth, idx, axis=0)
        return X, xp.take(self.Y, idx, axis=0), truth

    def reduce(self, values: Array) -> Array:
        """Sums over every process (an all-reduce when distributed)."""
        return values

    def agree(self, flag: bool) -> bool:
        """Whether ``flag`` holds on every process."""
        return flag

    def keeps(self, error: BaseException) -> bool:
        """Whether a hook's ``error`` (a callback's, progress's, the log's) waits for
        :meth:`agree` to be raised on every process at once (True: kept); False: it is
        raised at once (this process alone)."""
        return False

    def smallest(self, n: int) -> int:
        """The smallest ``n`` of every process (a chunk's length, which each process's own
        timing suggests, must be the same everywhere: its collectives pair up)."""
        return n

    def validate(self, model: Any) -> dict[str, float]:
        """``val_loss`` (and ``val_accuracy``) of the model on the validation rows, as the
        epochs' records are made: per-sample losses and hits summed (over every process:
        :meth:`reduce`, with the rows counted), then divided on the host."""
        head, (Xv, Yv, Lv) = model.arch.head, self.val
        sums = [0.0, 0.0, float(Xv.shape[0])]
        if Xv.shape[0]:  # (a process may hold none of them)
            sums[:2] = (float(v) for v in steps.evaluate(model.params, Xv, Yv, Lv,
                                                          model.arch, model.xp))
        total, hits, n_val = (float(v) for v in self.reduce(sums))
        logs = {"val_loss": total / head.divisor(n_val)}
        if head.is_classifier:
            logs["val_accuracy"] = hits / n_val
        return logs

    def finite_on_training(self, model: Any) -> bool:
        """Whether the loss and every output on the training rows are finite
        (:func:`finite_batches`): device data as one batch (the training rows gathered
        first, on this failure path only), a memory-mapped ``X`` batch by batch."""
        xp = model.xp
        at = None if self.rows is None else model.backend.from_host(self.rows)
        if not self.host:
            return finite_batches(model, [Batch(self.X, self.Y) if at is None else Batch(
                xp.take(self.X, at, axis=0), xp.take(self.Y, at, axis=0))])
        return finite_batches(model, self.batches(model, self.rows, at))


def finite_batches(model: Any, batches: Iterable[Batch]) -> bool:
    """Whether every batch's outputs, and the sum of their per-sample losses (in the model's
    dtype, as the loss adds them up), are finite."""
    xp, head = model.xp, model.arch.head
    total = None
    for Xb, Yb, *_ in batches:
        out, cache = network.forward(model.params, Xb, model.arch, xp)
        if not bool(xp.all(xp.isfinite(out))):
            return False
        part = xp.sum(head.rows(cache.pre[-1], out, Yb, xp))
        total = part if total is None else total + part
    return total is None or bool(xp.isfinite(total))


def _to_device(model: Any, X: Any, idx: Any) -> Array:
    """Rows ``idx`` (host indices, or a slice) of host ``X``, in the model's dtype on its
    device: read (standardised as ``model.prepare`` does, and cast) on the host, then one
    copy to the device."""
    rows = host_rows(X, idx)
    if getattr(model, "standardizer", None) is not None:
        rows = model.standardizer.transform(rows)
    return model.backend.from_host(rows, model.params.buffer.dtype)


class _Run:
    """One fit's epoch driver (see the module docstring): chunks of epochs trained by the
    step strategy, then records, the finite check, validation, early stopping, callbacks and
    progress, the same under every strategy."""

    def __init__(self, model: Any, config: FitConfig, opt: Optimizer, data: TrainingData,
                 lr_at: Callable[[int], float] | None) -> None:
        self.model, self.config, self.opt, self.data = model, config, opt, data
        self.xp, self.head, self.lr_at = model.xp, model.arch.head, lr_at
        self.dtype = dtype_name(model.params.buffer.dtype, model.xp)
        self.min_delta = at_most_finite(config.min_delta, self.dtype)  # (early stopping's)
        self.history = History()
        self.best: tuple[float, Array | None] = (math.inf, None)
        self.since_best = 0
        self.snapshots: deque[_Snapshot] = deque(maxlen=2)  # starts of the last two chunks
        self.replay: list[_Epochs] = []  # the chunks since snapshots[0], for _recover
        self.mutable = adapter_of_namespace(self.xp).mutable  # immutable: no defensive copies
        if self.mutable and data.grads is None:
            data.grads = model.params.copy()
        data.begin(model)
        #: the step strategy: ``run(epochs, lr_at, t0) -> ((lrs, orders, times), records,
        #: validation)``, and ``chunk_epochs``, the most epochs it trains in one chunk
        self.strategy = _strategy(model, opt, data, config)
        self.per_epoch = bool(config.callbacks) or (  # reads every epoch's model, or its
            data.val is not None and not self.strategy.validates) or (  # state: a function
            callable(config.schedule) and self.strategy.reads_ahead)  # schedule, read ahead

    def train(self) -> History:
        """Every epoch of the fit, chunk by chunk; the :class:`History`."""
        self.t0 = time.perf_counter()
        first, epochs = 0, self.config.epochs
        try:
            while first < epochs:
                last = self._chunk_end(first)
                self._snapshot(first)
                if last == first:  # the schedule failed at this epoch, read ahead
                    raise self.failed[1]
                columns, (*records, finite), vals = self.strategy.run(range(first, last),
                                                                      self.rates, self.t0)
                self.failed = self.failed or self.strategy.failed  # (the eager one's, as its
                # epochs came: the chunk ended there)
                pending = _Epochs(first, *columns)
                last = first + len(pending)
                self.replay.append(pending)
                if not finite and self.data.stop_on_divergence:
                    self._diverged(pending, records, vals)
                if not finite:  # epochs that go on: their records are NaN
                    records = [[math.nan] * len(pending)] * 2
                first = last
                stop = self._record(pending, records, vals)
                if not self.data.agree(not stop):  # any process's callback stops them all
                    break
                if self.failed is not None and self.failed[0] == first:
                    raise self.failed[1]  # (the epochs before it recorded: they are kept)
                self.failed = None
        except TrainingDivergedError as e:  # the model is back at finite parameters already
            e.history = self.history  # type: ignore[attr-defined]
            raise
        except BaseException as e:  # Ctrl-C, or an error of a schedule, a callback or the
            self._interrupted(e)  # library: the model of the last recorded epoch
            raise
        self._restore_best()
        return self.history

    def _restore_best(self) -> bool:
        """Early stopping's ``restore_best``: the model back at its best epoch's parameters,
        when it has one (True)."""
        config, best = self.config, self.best[1]
        if config.early_stopping is None or not config.restore_best or best is None:
            return False
        self.model.params.assign(best)
        return True

    def _chunk_end(self, first: int) -> int:
        """The end of the chunk from ``first``: one epoch when something reads every epoch's
        model; never past a ``verbose`` epoch, nor past the first epoch at which early
        stopping could stop (so the compiled strategy never trains past it)."""
        config = self.config
        last = min(config.epochs, first + (1 if self.per_epoch else self.strategy.chunk_epochs))
        if config.verbose:
            last = min(last, (first // config.verbose + 1) * config.verbose)
        if config.early_stopping is not None:
            last = min(last, first + config.early_stopping - self.since_best)
        last = self._read_rates(first, last)
        return first + self.data.smallest(last - first)

    def _read_rates(self, first: int, last: int) -> int:
        """A strategy that needs a chunk's scheduled rates before it trains any (compiled)
        gets them read ahead (:attr:`rates`, ``epoch -> lr``); an error of the schedule
        (Ctrl-C in it too) at an epoch ends the chunk there and is kept in :attr:`failed`
        ``(epoch, error)``, to be raised once the epochs before it are trained and recorded,
        as the eager strategy ends its chunk where its schedule fails (the same error keeps
        the same epochs, whatever the chunks' timing). Returns the chunk's end."""
        self.rates, self.failed = self.lr_at, None
        if self.lr_at is None or not self.strategy.reads_ahead:
            return last
        rates: list[float] = []
        try:
            for epoch in range(first, last):
                rates.append(self.lr_at(epoch))
        except BaseException as e:
            self.failed = (first + len(rates), e)
        self.rates = lambda epoch: rates[epoch - first]
        return first + len(rates)

    def _snapshot(self, first: int) -> None:
        """Keep the parameters and optimizer state before epoch ``first`` (what an
        interrupted or diverged fit returns to)."""
        params = self.model.params
        kept = self.xp.asarray(params.buffer, copy=True) if self.mutable else params.buffer
        self.snapshots.append(_Snapshot(first, kept, self.opt.state()))
        self.replay = [c for c in self.replay if c.first >= self.snapshots[0].epoch]

    def _record(self, pending: _Epochs, records: Any, vals: Any) -> bool:
        """Append a trained chunk's epochs to the history, then run what reads every epoch;
        True to stop."""
        return self._hear(pending.first, *self._append(pending, records, vals))

    def _hear(self, first: int, columns: dict[str, list], improved: list | None,
              keep: bool = True) -> bool:
        """Run what reads every epoch (:meth:`_after_epoch`) for the appended epochs from
        ``first`` (``columns``, ``improved``: what :meth:`_append` returned); True to stop.
        ``keep``: an error of theirs may wait for the processes to agree
        (:meth:`TrainingData.keeps`), else it is raised here."""
        config = self.config
        if not (config.progress or config.verbose or config.callbacks
                or config.early_stopping is not None):
            return False
        stop = False
        for i in range(len(columns["loss"])):
            logs = {key: column[i] for key, column in columns.items()}
            try:
                stop = self._after_epoch(first + i + 1, logs,
                                         None if improved is None else improved[i]) or stop
            except BaseException as e:  # several processes: raised where they agree
                if not keep or not self.data.keeps(e):  # (TrainingData.agree), on every one
                    raise
                return True
        return stop

    def _append(self, pending: _Epochs, records: Any, vals: Any,
                count: int | None = None) -> tuple[dict[str, list], list | None]:
        """Append the first ``count`` (all) epochs of a trained chunk to the history: their
        records, and the compiled chunk's validation or the model's now for an eager chunk
        of one epoch. Returns the appended columns and the compiled chunk's improvement
        flags (None without)."""
        count = len(pending) if count is None else count
        losses, accuracies = records
        columns: dict[str, list] = {"loss": losses, "lr": pending.lrs}
        if self.head.is_classifier:
            columns["accuracy"] = accuracies
        improved = None
        if vals is not None:
            columns["val_loss"] = vals[0]
            if self.head.is_classifier:
                columns["val_accuracy"] = vals[1]
            improved = None if vals[2] is None else vals[2][:count]
        elif self.data.val is not None and count:  # an eager chunk of one epoch
            columns.update({k: [v] for k, v in self.data.validate(self.model).items()})
        columns["time"] = pending.times
        columns = {key: column[:count] for key, column in columns.items()}
        for key, column in columns.items():
            getattr(self.history, key).extend(column)
        return columns, improved

    def _after_epoch(self, done: int, logs: dict[str, float], improved: bool | None) -> bool:
        """Progress, logging, early stopping and callbacks after epoch ``done``."""
        config = self.config
        stop = False
        if config.early_stopping is not None:  # (first: the hooks below get copies of logs,
            compiled = improved is not None  # and none of them steers it)
            if not compiled:  # (the compiled chunk judged in the model's dtype: so here)
                improved = bool(steps.improves(*in_dtype(
                    self.dtype, logs["val_loss"], self.best[0], self.min_delta)))
            if improved:
                kept = self.strategy.best_buffer if compiled else self.xp.asarray(
                    self.model.params.buffer, copy=True)
                self.best = (logs["val_loss"], kept)
                self.history.best_epoch, self.since_best = done, 0
            else:
                self.since_best += 1
                stop = self.history.stopped_early = self.since_best >= config.early_stopping
        if config.progress is not None:
            config.progress(done, dict(logs))
        logged = bool(config.verbose) and (
            done % config.verbose == 0 or done == config.epochs or stop)
        if logged:
            config.log(progress_line(done, config.epochs, logs))
        for i, cb in enumerate(config.callbacks):
            said = _stop_said(cb(done, dict(logs), self.model), i)
            stop = said or stop
        if stop and config.verbose and not logged:  # a callback stopped the fit here: the
            config.log(progress_line(done, config.epochs, logs))  # last epoch is logged
        return stop

    def _diverged(self, pending: _Epochs, records: Any, vals: Any) -> None:
        """Record the chunk's epochs before the one that diverged, return to the last finite
        parameters, or with early stopping's ``restore_best`` to the best epoch's (a compiled
        chunk tracks its own: ``vals``), and raise :class:`TrainingDivergedError`."""
        where = _recover(self.model, self.opt, list(self.snapshots),
                         [ep for c in self.replay for ep in c], self.data, self.config.clip_norm)
        count = max(0, where.epoch - 1 - pending.first)  # the chunk's epochs before it
        hook_error = None
        if self.data.val is None or vals is not None:  # (an eager chunk validates the model
            # of its epoch: here it has diverged; such chunks are one epoch long anyway)
            columns, improved = self._append(pending, records, vals, count)
            if improved is not None and any(vals[2][count:]):  # the compiled chunk's best
                improved = [False] * count  # buffer is of a later epoch: not one of these
            try:  # progress, logs and early stopping hear of them (callbacks read every
                self._hear(pending.first, columns, improved, False)  # epoch's model: their
            except BaseException as e:  # chunks are one epoch, count 0). Ctrl-C in a display:
                hook_error = e  # the fit still raises the divergence (every process diverges
                # at this step), the model recovered, from it
        kept = (f"its last finite parameters ({where.kept}, the last with a finite loss and "
                "finite outputs on the training data)")
        if self._restore_best():
            kept = (f"the parameters of its best epoch, {self.history.best_epoch} (early "
                    "stopping's restore_best, as when it stops early)")
        raise TrainingDivergedError(
            f"training diverged: the loss or a parameter became NaN or inf at epoch "
            f"{where.epoch}, step {where.step} of {len(self.data.starts)} (lr={where.lr:g}); "
            f"the model keeps {kept}. Try a smaller lr.", where.epoch, where.step,
        ) from hook_error

    def _interrupted(self, error: BaseException) -> None:
        """Ctrl-C or an error mid-fit: back to the parameters after the last recorded epoch;
        the history of the recorded epochs goes with the exception (``error.history``)."""
        if self.data.step is not None:
            self.data.step.sync()
        done = len(self.history)
        kept = next((s for s in reversed(self.snapshots) if s.epoch == done), None)
        if kept is not None:
            self.model.params.assign(self.xp.asarray(kept.buffer, copy=True))
            self.opt.load_state(kept.opt_state)
        try:
            error.history = self.history  # type: ignore[attr-defined]
        except (AttributeError, TypeError):  # an exception type that takes no attributes
            pass


def _train(model: Any, opt: Optimizer, lr_at: Callable[[int], float] | None, epochs: range,
           data: TrainingData, clip_norm: float | None, t0: float) -> _Chunk:
    """Train ``epochs`` step by step and return them as a :class:`_Chunk`, the batches'
    outputs kept. Every step writes its gradients into ``data.grads`` (where the namespace
    allows)."""
    chunk = _Chunk(_Epochs(epochs.start, [], [], []), [], [], [], [])
    logits, outputs, clock = chunk.logits, chunk.outputs, time.perf_counter
    lrs, orders, times = chunk.epochs.lrs, chunk.epochs.orders, chunk.epochs.times
    kernels, grads = network.kernels(model.arch, model.xp), data.grads  # once per chunk
    eager = data.step is None
    try:
        for epoch in epochs:
            if lr_at is not None:  # a schedule's rate
                try:
                    opt.lr = lr_at(epoch)
                except BaseException as e:  # the chunk ends here; the driver raises it once
                    if data.collective:  # the epochs before it are recorded (processes
                        raise  # training together: at once, as one process's error)
                    chunk.failed = (epoch, e)
                    break
            order, batches = data.epoch(model)
            for batch in batches:
                if eager:  # an eager step
                    cache = train_step(model, batch.X, batch.Y, opt, clip_norm, grads,
                                       batch.hook, batch.weights, kernels)
                    z, a = cache.pre[-1], cache.output
                    del cache
                else:  # captured: replayed for full batches, a short last batch eagerly
                    step = data.step.get(batch.X, batch.Y)  # (on the same optimizer state)
                    z, a = (step if batch.X.shape[0] == data.batch_size else step.eager)(
                        batch.X, batch.Y)
                logits.append(z)
                outputs.append(a)
                if order is not None:  # the records need the gathered targets
                    chunk.Y.append(batch.Y)
                    chunk.truth.append(batch.truth)
                del batch  # not held while the next batch is gathered
            lrs.append(opt.lr)
            orders.append(order)
            times.append(clock() - t0)
    finally:
        if data.step is not None:
            data.step.sync()  # the optimizer's state as of now (snapshots, errors read it)
    return chunk


class _Capture:
    """The captured step of a fit, made at the first full batch (see xprop.captured)."""

    def __init__(self, model: Any, opt: Optimizer, grads: Params, clip_norm: float | None):
        self.model, self.opt, self.grads, self.clip_norm = model, opt, grads, clip_norm
        self.step: CapturedStep | None = None

    def get(self, X: Array, Y: Array) -> CapturedStep:
        if self.step is None:  # (the strategy has checked that the library captures)
            self.step = captured_step(self.model, self.opt, X, Y, self.grads, self.clip_norm)
        return self.step

    def sync(self) -> None:
        if self.step is not None:
            self.step.sync()


class _EagerChunks:
    """The eager step strategy: every batch of every epoch stepped on its own (replayed from
    a CUDA graph when ``capture`` is given), the outputs kept and the records computed from
    them at the chunk's end."""

    validates = False  # the driver validates each epoch's model
    reads_ahead = False  # the schedule's rates are read as their epochs come

    def __init__(self, model: Any, opt: Optimizer, data: TrainingData, clip_norm: float | None,
                 capture: _Capture | None = None) -> None:
        self.model, self.opt, self.data, self.clip_norm = model, opt, data, clip_norm
        data.step = capture
        n, out = max(1, data.n), model.arch.sizes[-1]
        self.limit = max(1, min(steps.CHUNK_EPOCHS, steps.CHUNK_ELEMENTS // (n * out)))
        #: the next chunk's epochs: 1 at first, then about ``CHUNK_SECONDS`` of training, at
        #: most ``limit`` epochs (the first records, a Ctrl-C's last completed epoch and the
        #: progress display come soon and often; tiny epochs share few record passes)
        self.chunk_epochs = 1
        #: ``(epoch, error)`` of a schedule that failed in the last chunk, which ended there
        self.failed: tuple[int, BaseException] | None = None

    def run(self, epochs: range, lr_at: Callable[[int], float] | None,
            t0: float) -> tuple[tuple[list, list, list], Any, None]:
        start = time.perf_counter()
        chunk = _train(self.model, self.opt, lr_at, epochs, self.data, self.clip_norm, t0)
        self.failed = chunk.failed
        if not len(chunk.epochs):  # it failed at the chunk's first epoch: nothing to record
            raise chunk.failed[1]  # type: ignore[index]
        pending = chunk.epochs
        records = _records(self.model, chunk, self.data)
        per_epoch = (time.perf_counter() - start) / len(epochs)
        self.chunk_epochs = max(1, min(self.limit, int(CHUNK_SECONDS / max(per_epoch, 1e-9))))
        return (pending.lrs, pending.orders, pending.times), records, None


def _strategy(model: Any, opt: Optimizer, data: TrainingData,
              config: FitConfig) -> _EagerChunks | CompiledEpochs:
    """The step strategy ``config.compiled`` asks for and the model's library offers:
    compiled chunks (JAX), eager steps replayed from a capture (torch CUDA), or eager."""
    eager = _EagerChunks(model, opt, data, config.clip_norm)
    if config.compiled is False:
        return eager
    ops = adapter_of_namespace(model.xp)
    standard = opt.pure and data.plain
    if standard and ops.compiles and not (data.host or data.rows is not None):
        return CompiledEpochs(model, opt, ops, data, config)
    if standard and data.batch_size < data.n and can_capture(model):  # (a full batch:
        # nothing to gain)
        return _EagerChunks(model, opt, data, config.clip_norm,
                            _Capture(model, opt, data.grads, config.clip_norm))
    if config.compiled:
        why = ("the optimizer overrides update or _update, which compiled or captured "
               "steps would skip" if not opt.pure else
               "steps with gradient hooks run eagerly" if not data.plain else
               "whole epochs compile only with data in memory" if ops.compiles else
               f"{model.backend.describe()} neither compiles nor captures steps (CUDA graphs: "
               "minibatches on torch CUDA devices, unless XPROP_CUDA_GRAPHS=0)")
        raise ValueError(f"compiled: no fast path here ({why}); pass compiled=None or False")
    return eager


@dataclass
class _Snapshot:
    """The parameters and optimizer state before epoch ``epoch`` (0-based)."""

    epoch: int
    buffer: Array
    opt_state: dict


@dataclass(slots=True)
class _Epoch:
    """A trained epoch: its 0-based index, learning rate, rows in batch order (a host array,
    see :meth:`TrainingData.epoch`; what replaying it needs) and the cumulative time at its end."""

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

    def __len__(self) -> int:
        return len(self.lrs)

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
    failed: tuple[int, BaseException] | None = None  # the schedule's error, at that epoch


def _records(model: Any, chunk: _Chunk,
             data: TrainingData) -> tuple[list[float], list[float], bool]:
    """``(loss, accuracy)`` of each epoch of ``chunk`` from its kept outputs, and whether
    every loss and parameter is finite: per-sample losses and hits of several epochs at once
    on ``(epochs, rows, k)`` stacks (as many epochs as stay cache-sized:
    :meth:`~xprop.backend.base.Adapter.cache_elements`), summed per epoch, summed over the
    processes (:meth:`TrainingData.reduce`), and one transfer to the host (the only sync)."""
    xp, head, params = model.xp, model.arch.head, model.params
    k = len(chunk.epochs)
    per_epoch = len(chunk.outputs) // k  # batches
    size = sum(math.prod(a.shape) for a in chunk.outputs[:per_epoch])
    limit = adapter_of_namespace(xp).cache_elements(model.backend.device)
    block = k if limit is None else max(1, min(k, limit // max(1, size)))

    def stack(arrays: list[Array], first: int, n: int) -> Array:
        """``(n, rows, ...)`` from the batches of epochs ``first`` to ``first + n`` of the
        chunk, in order (one copy)."""
        arrays = arrays[first * per_epoch:(first + n) * per_epoch]
        joined = arrays[0] if len(arrays) == 1 else xp.concat(arrays, axis=0)
        return xp.reshape(joined, (n, joined.shape[0] // n, *joined.shape[1:]))

    losses, hits = [], []
    for first in range(0, k, block):
        n = min(block, k - first)
        outputs = stack(chunk.outputs, first, n)
        Y = stack(chunk.Y, first, n) if chunk.Y else data.Y  # unshuffled: broadcast
        rows = head.rows(stack(chunk.logits, first, n), outputs, Y, xp)
        losses.append(xp.sum(rows, axis=-1))
        if head.is_classifier:
            truth = stack(chunk.truth, first, n) if chunk.truth else data.truth
            hits.append(xp.sum(xp.astype(head.hit_rows(outputs, truth, xp), rows.dtype),
                               axis=-1))
    # 0 * every parameter: NaN if any is NaN or inf
    parts = [*losses, *hits, xp.reshape(xp.sum(params.buffer * 0.0), (1,))]
    return epoch_records(data.reduce(xp.concat(parts)), k, k if head.is_classifier else None,
                         head.divisor(data.n), data.n)


@dataclass
class _Recovery:
    epoch: int  # 1-based epoch and step whose batch loss or update was not finite
    step: int
    lr: float  # that epoch's learning rate
    kept: str  # which parameters the model kept, in words


def _recover(model: Any, opt: Optimizer, snapshots: list[_Snapshot], replay: list[_Epoch],
             data: TrainingData, clip_norm: float | None) -> _Recovery:
    """After a diverged chunk: replay the epochs since the oldest kept snapshot (the previous
    chunk's start), step by step (same batches, same order: deterministic), up to the first
    step whose batch loss or update is not finite. Of the states met on the way, keep the last
    whose loss and outputs on the whole training data are finite: the last
    ``RECOVERY_DEPTH`` states are tried from the newest back, then the snapshots. Runs only on
    this failure path, so its syncs cost nothing in training."""
    xp, params = model.xp, model.params
    recent: deque = deque(maxlen=RECOVERY_DEPTH)  # (buffer copy, opt state, description)
    params.assign(xp.asarray(snapshots[0].buffer, copy=True))
    opt.load_state(snapshots[0].opt_state)
    failed = replay[-1].index + 1, len(data.starts), replay[-1].lr
    for ep in replay:
        opt.lr = ep.lr
        recent.append((xp.asarray(params.buffer, copy=True), opt.state(),
                       f"those at the start of epoch {ep.index + 1}"))
        step = _replay_epoch(model, opt, data, ep, clip_norm, recent)
        if step is not None:
            failed = ep.index + 1, step, ep.lr
            break
    candidates = list(reversed(recent))
    candidates += [(sn.buffer, sn.opt_state, f"those at the start of epoch {sn.epoch + 1}")
                   for sn in reversed(snapshots)]
    for buffer, state, words in candidates:
        params.assign(xp.asarray(buffer, copy=True))
        opt.load_state(state)
        if data.agree(data.finite_on_training(model)):
            return _Recovery(*failed, words)
    return _Recovery(*failed, candidates[-1][2] + ", whose training loss is not finite "
                     "either: check the data")


def _replay_epoch(model: Any, opt: Optimizer, data: TrainingData, ep: _Epoch,
                  clip_norm: float | None, recent: deque) -> int | None:
    """Replay epoch ``ep`` step by step, keeping each finite state in ``recent``; the 1-based
    step whose batch loss, the epoch's loss so far (a sum that may overflow, as the records'
    does) or update is not finite (on any process), or None."""
    xp, params = model.xp, model.params
    total = None
    for step, batch in enumerate(data.batches(model, ep.order), start=1):
        cache = train_step(model, batch.X, batch.Y, opt, clip_norm, None, batch.hook,
                           batch.weights)
        value = xp.sum(model.arch.head.rows(cache.pre[-1], cache.output, batch.Y, xp))
        total = value if total is None else total + value
        if not data.agree(bool(xp.isfinite(total) & xp.all(xp.isfinite(params.buffer)))):
            return step
        recent.append((xp.asarray(params.buffer, copy=True), opt.state(),
                       f"those after step {step} of epoch {ep.index + 1}"))
    return None
