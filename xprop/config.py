"""One validated, frozen training configuration: :class:`FitConfig`.

Every entry point that trains (:func:`xprop.fit`, :meth:`xprop.MLP.fit`,
:func:`xprop.distributed.fit_distributed`, ``xprop train``) builds one, and nothing after it
checks or defaults a training option again. Each bad value is a one-line ``ValueError`` naming
the option, what was expected and what was given, raised before any data is touched.

>>> from xprop.config import FitConfig
>>> FitConfig(epochs=3, lr=0.5).make_optimizer()
SGD(lr=0.5, momentum=0.0, nesterov=False, weight_decay=0.0)
>>> FitConfig(epochs=0)
Traceback (most recent call last):
...
ValueError: epochs: expected an integer >= 1, got 0
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from xprop import validation as V
from xprop.optimizers import Optimizer, get_optimizer, get_schedule

__all__ = ["FitConfig"]


@dataclass(frozen=True)
class FitConfig:
    """How to train (see :func:`xprop.fit` for each option's meaning), validated once.

    ``optimizer`` is a name (made with ``lr``, default 0.1) or an
    :class:`~xprop.optimizers.Optimizer` carrying its own rate (``lr`` with it is an error);
    :meth:`make_optimizer` gives the one a fit updates with. ``batch_size=None`` is the whole
    data set; ``schedule`` a name or a function ``epoch -> lr``; ``callbacks`` functions
    ``(epoch, logs, model) -> stop?``; ``progress`` a function ``(epoch, logs)`` called for
    every epoch when its record is known (the display; it never sees the model);
    ``compiled``: None (the fast path where valid), True (required) or False (eager).
    """

    epochs: int = 100
    lr: float | None = None
    batch_size: int | None = None
    optimizer: str | Optimizer = "sgd"
    shuffle: bool = True
    seed: int | None = 0
    verbose: int = 0
    validation_data: tuple[Any, Any] | None = field(default=None, compare=False)
    validation_split: float = 0.0
    early_stopping: int | None = None
    min_delta: float = 0.0
    restore_best: bool = True
    schedule: str | Callable[[int], float] | None = None
    clip_norm: float | None = None
    callbacks: tuple[Callable[[int, dict, Any], bool | None], ...] = ()
    progress: Callable[[int, dict], None] | None = field(default=None, compare=False)
    log: Callable[[str], None] = field(default=print, compare=False)
    compiled: bool | None = None

    def __post_init__(self) -> None:
        put = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731
        put("epochs", V.check_int(self.epochs, "epochs"))
        put("verbose", V.check_int(self.verbose, "verbose", 0))
        if self.batch_size is not None:
            put("batch_size", V.check_int(self.batch_size, "batch_size"))
        if self.seed is not None:
            put("seed", V.check_seed(self.seed))
        put("shuffle", V.check_bool(self.shuffle, "shuffle"))
        put("restore_best", V.check_bool(self.restore_best, "restore_best"))
        put("compiled", V.check_bool(self.compiled, "compiled", none=True))
        self._check_optimizer()
        self._check_validation()
        if self.clip_norm is not None:
            put("clip_norm", V.check_positive(self.clip_norm, "clip_norm"))
        if self.schedule is not None and not callable(self.schedule):
            if not isinstance(self.schedule, str):
                raise ValueError(
                    "schedule: expected a name or a function epoch -> lr, got "
                    f"{V.show(self.schedule)}")
            get_schedule(self.schedule, 1.0, self.epochs)  # an unknown name fails here
        callbacks = self.callbacks
        if callable(callbacks) or isinstance(callbacks, str | bytes) or not isinstance(
                callbacks, Sequence) or not all(callable(cb) for cb in callbacks):
            raise ValueError("callbacks: expected a list of functions (epoch, logs, model), "
                             f"got {V.show(callbacks)}")
        put("callbacks", tuple(callbacks))
        for name in ("progress", "log"):
            value = getattr(self, name)
            if value is not None and not callable(value):
                raise ValueError(f"{name}: expected a function, got {V.show(value)}")

    def _check_optimizer(self) -> None:
        if isinstance(self.optimizer, Optimizer):
            if self.lr is not None:
                raise ValueError(
                    f"lr: the optimizer {V.show(self.optimizer)} carries its own learning rate; "
                    f"pass lr to it, not to fit (got lr={V.show(self.lr)})")
            return
        if self.lr is not None:
            object.__setattr__(self, "lr", V.check_positive(self.lr, "lr"))
        get_optimizer(self.optimizer, lr=0.1 if self.lr is None else self.lr)  # a known name

    def _check_validation(self) -> None:
        split = V.check_real(self.validation_split, "validation_split", 0.0, 1.0,
                             high_open=True, what="a fraction")
        object.__setattr__(self, "validation_split", split)
        data = self.validation_data
        if data is not None:
            if split:
                raise ValueError("validation_data, validation_split: give one of them, not both")
            if not isinstance(data, tuple | list) or len(data) != 2:
                size = f" of length {len(data)}" if isinstance(data, tuple | list) else ""
                raise ValueError("validation_data: expected a pair (X_val, y_val), got "
                                 f"{type(data).__name__}{size}")
        if self.early_stopping is not None:
            object.__setattr__(self, "early_stopping",
                               V.check_int(self.early_stopping, "early_stopping"))
            if data is None and not split:
                raise ValueError("early_stopping: needs validation_data=(X_val, y_val) or "
                                 "validation_split > 0")
        object.__setattr__(self, "min_delta", V.check_real(self.min_delta, "min_delta", 0.0))

    @property
    def validates(self) -> bool:
        """Whether each epoch is validated (``validation_data`` or ``validation_split``)."""
        return self.validation_data is not None or self.validation_split > 0

    def make_optimizer(self) -> Optimizer:
        """The optimizer a fit updates with: the one given, or a new one of that name."""
        if isinstance(self.optimizer, Optimizer):
            return self.optimizer
        return get_optimizer(self.optimizer, lr=0.1 if self.lr is None else self.lr)

    def rate_schedule(self, base_lr: float) -> Callable[[int], float] | None:
        """``epoch -> lr``, or None when the rate stays the optimizer's own."""
        if callable(self.schedule):
            return self.schedule
        if self.schedule is None or self.schedule.strip().lower() == "constant":
            return None
        return get_schedule(self.schedule, base_lr, self.epochs)

    def replace(self, **changes: Any) -> FitConfig:
        """A copy with ``changes`` (validated again)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return FitConfig(**values)

    def describe(self) -> dict[str, str]:
        """The options every rank of a data-parallel fit must share, as comparable text
        (data, callbacks and the display are each rank's own)."""
        local = ("validation_data", "callbacks", "progress", "log", "verbose")
        out = {}
        for f in fields(self):
            if f.name in local:
                continue
            value = getattr(self, f.name)
            if isinstance(value, Optimizer):
                value = repr(value)
            elif callable(value):
                value = f"a function {getattr(value, '__qualname__', type(value).__name__)}"
            out[f.name] = repr(value)
        out["validation_data"] = repr(self.validation_data is not None)
        return out

