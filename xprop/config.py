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

import functools
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from xprop import validation as V
from xprop.optimizers import (
    Optimizer,
    get_optimizer,
    get_schedule,
    optimizer_name,
    schedule_name,
)

__all__ = ["FitConfig", "takes_config"]


@dataclass(frozen=True)
class FitConfig:
    """How to train: every option of a fit, validated once.

    :func:`xprop.fit` (``model.fit``) and :func:`xprop.distributed.fit_distributed` take one
    as ``config``, with the common options also as keywords that override it;
    ``xprop train`` builds one from its flags.

    Parameters
    ----------
    epochs : int, default=100
        Passes over the training data.
    lr : float or None, default=None
        The learning rate of a named optimizer (default 0.1); not with an
        :class:`~xprop.optimizers.Optimizer`, which carries its own.
    batch_size : int or None, default=None
        Samples per step; None is full-batch gradient descent, 1 classic per-sample SGD.
    optimizer : str or Optimizer, default="sgd"
        ``sgd``, ``momentum``, ``nesterov``, ``adam``, ``adamw`` (made with ``lr``) or an
        :class:`~xprop.optimizers.Optimizer`; :meth:`make_optimizer` gives the one a fit
        updates with.
    shuffle : bool, default=True
        Draw a seeded permutation of the samples every epoch.
    seed : int or None, default=0
        Seed of the shuffles and the validation split (None: fresh entropy). Each fit starts
        them afresh, as it starts the schedule at epoch 0: fits of one epoch in a loop see
        the first epoch's order each time (give each fit its own seed, or one fit of many
        epochs; an optimizer given again keeps its moments).
    verbose : int or bool, default=0
        Log a line every ``verbose`` epochs through ``log`` (0 or False: never; True: every
        epoch).
    validation_data : tuple or None, default=None
        ``(X_val, y_val)`` evaluated after every epoch.
    validation_split : float, default=0.0
        The fraction of the training data held out for validation instead, in [0, 1).
    early_stopping : int or None, default=None
        Stop after this many epochs without a validation-loss improvement larger than
        ``min_delta`` (needs validation data).
    min_delta : float, default=0.0
        An improvement counts when the validation loss is below the best by more than
        this (compared in the model's dtype).
    restore_best : bool, default=True
        With early stopping, end with the best epoch's parameters (the parameters only, as
        Keras's ``restore_best_weights``: the optimizer's state stays the last epoch's).
    schedule : str or callable or None, default=None
        ``constant``, ``step``, ``cosine`` or ``epoch -> lr`` (0-based epochs). Each rate
        must be a finite number >= 0 (0 stops the updates); the first is checked before
        any training, a function's later ones as their epochs come (a function may read
        state that training changes: on JAX, a fit with a function schedule trains compiled
        chunks of one epoch, as with callbacks).
    clip_norm : float or None, default=None
        Clip the gradients to this global L2 norm.
    callbacks : sequence of callable or None, default=()
        Each gets ``(epoch, logs, model)`` after every epoch (the model as of that epoch, so
        callbacks train in chunks of one epoch: compiled ones on JAX) and stops training by
        returning True (None: no callbacks).
    progress : callable or None, default=None
        ``progress(epoch, logs)`` is told every epoch's logs as soon as they are known (at
        the end of each chunk: it never slows training down; it never sees the model). Its
        error (Ctrl-C included) stops the fit with the whole chunk trained and recorded, not
        at the epoch it was told: to stop at an epoch, use ``callbacks``.
    log : callable, default=print
        Where ``verbose`` lines go.
    compiled : bool or None, default=None
        None takes the fast path the model's library offers, where it is valid; False
        trains eagerly, step by step; True requires a fast path.

    Raises
    ------
    ValueError
        For a bad value, naming the option, what was expected and what was given.

    Examples
    --------
    >>> from xprop.config import FitConfig
    >>> config = FitConfig(epochs=20, optimizer="adam", lr=0.01, early_stopping=5,
    ...                    validation_split=0.2)
    >>> config.replace(epochs=50).epochs, config.make_optimizer()
    (50, Adam(lr=0.01, betas=(0.9, 0.999), eps=1e-08, weight_decay=0.0))
    >>> FitConfig(early_stopping=5)
    Traceback (most recent call last):
    ...
    ValueError: early_stopping: needs validation_data=(X_val, y_val) or validation_split > 0
    """

    epochs: int = 100
    lr: float | None = None
    batch_size: int | None = None
    optimizer: str | Optimizer = "sgd"
    shuffle: bool = True
    seed: int | None = 0
    verbose: int | bool = 0
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
        put("verbose", int(self.verbose) if V.is_bool(self.verbose)
            else V.check_int(self.verbose, "verbose", 0))
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
            name = schedule_name(self.schedule)  # one spelling: "Cosine" is "cosine", and
            put("schedule", None if name == "constant" else name)  # "constant" no schedule
        callbacks = () if self.callbacks is None else self.callbacks
        if callable(callbacks) or isinstance(callbacks, str | bytes) or not isinstance(
                callbacks, Sequence) or not all(callable(cb) for cb in callbacks):
            raise ValueError("callbacks: expected a list of functions (epoch, logs, model), "
                             f"got {V.show(callbacks)}")
        put("callbacks", tuple(callbacks))
        if self.progress is not None and not callable(self.progress):
            raise ValueError(f"progress: expected None or a function, got {V.show(self.progress)}")
        if not callable(self.log):
            raise ValueError(f"log: expected a function, got {V.show(self.log)}")

    def _check_optimizer(self) -> None:
        if isinstance(self.optimizer, Optimizer):
            if self.lr is not None:
                raise ValueError(
                    f"lr: the optimizer {V.show(self.optimizer)} carries its own learning rate; "
                    f"give lr to it, not as an option (got lr={V.show(self.lr)})")
            return
        if self.lr is not None:
            object.__setattr__(self, "lr", V.check_positive(self.lr, "lr"))
        self.make_optimizer()  # a known name, in one spelling ("Adam" is "adam": ranks
        object.__setattr__(self, "optimizer", optimizer_name(self.optimizer))  # compare it)

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
            if data[0] is not None and data[1] is None:  # (predict takes X alone; validation
                # needs targets. (None, None): fit_distributed's ranks after the first)
                raise ValueError("validation_data: expected a pair (X_val, y_val) with targets, "
                                 "got y_val=None")
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
        """The optimizer a fit updates with.

        Returns
        -------
        Optimizer
            The one given, or a new one of that name with ``lr`` (default 0.1).

        Examples
        --------
        >>> xprop.FitConfig(optimizer="momentum", lr=0.05).make_optimizer()
        SGD(lr=0.05, momentum=0.9, nesterov=False, weight_decay=0.0)
        """
        if isinstance(self.optimizer, Optimizer):
            return self.optimizer
        return get_optimizer(self.optimizer, lr=0.1 if self.lr is None else self.lr)

    def rate_schedule(self, base_lr: float) -> Callable[[int], float] | None:
        """The learning rate of each epoch.

        Parameters
        ----------
        base_lr : float
            The optimizer's own rate, where a named schedule starts.

        Returns
        -------
        callable or None
            ``epoch -> lr`` (0-based epochs), or None when the rate stays the optimizer's.

        Examples
        --------
        >>> at = xprop.FitConfig(epochs=10, schedule="cosine").rate_schedule(0.1)
        >>> round(at(0), 4), round(at(5), 4)
        (0.1, 0.05)
        >>> xprop.FitConfig().rate_schedule(0.1) is None
        True
        """
        if callable(self.schedule):
            return self.schedule
        if self.schedule is None:  # ("constant" is None: __post_init__)
            return None
        return get_schedule(self.schedule, base_lr, self.epochs)

    def replace(self, **changes: Any) -> FitConfig:
        """A copy with some options changed, validated again.

        Parameters
        ----------
        **changes
            Options and their new values.

        Returns
        -------
        FitConfig
            The new configuration.

        Raises
        ------
        ValueError
            For a bad value.
        TypeError
            For a name that is not an option.

        Examples
        --------
        >>> xprop.FitConfig(epochs=5, lr=0.5).replace(epochs=8)
        FitConfig(epochs=8, lr=0.5, ...)
        """
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        unknown = sorted(set(changes) - set(values))
        if unknown:
            raise TypeError(f"{unknown[0]}: not an option of FitConfig (its options: "
                            f"{', '.join(values)})")
        values.update(changes)
        return FitConfig(**values)

    @classmethod
    def of(cls, config: FitConfig | None = None, **options: Any) -> FitConfig:
        """A configuration with the given options in place of ``config``'s own.

        What the keyword options of :func:`xprop.fit` do: an option given as None keeps the
        config's value.

        Parameters
        ----------
        config : FitConfig or None, default=None
            The configuration to start from (the defaults when None).
        **options
            Options and their values (None: left as they are).

        Returns
        -------
        FitConfig
            ``config`` itself when no option is given.

        Raises
        ------
        TypeError
            When ``config`` is not a FitConfig.
        ValueError
            For a bad option value.

        Examples
        --------
        >>> base = xprop.FitConfig(optimizer="adam", lr=0.01, seed=3)
        >>> xprop.FitConfig.of(base, epochs=7, lr=None) == base.replace(epochs=7)
        True
        """
        if config is not None and not isinstance(config, FitConfig):
            raise TypeError("config: expected a FitConfig (xprop.FitConfig(epochs=..., ...)) "
                            f"or None, got {V.show(config)}")
        given = {name: value for name, value in options.items() if value is not None}
        if config is None:
            return cls().replace(**given) if given else cls()
        if isinstance(given.get("optimizer"), Optimizer) and "lr" not in given:
            given["lr"] = None  # an optimizer given in place of the config's carries its rate
        return config.replace(**given) if given else config

    def describe(self) -> dict[str, str]:
        """The options every rank of a data-parallel fit must share, as comparable text.

        Data, callbacks and the display are each rank's own and left out.

        Returns
        -------
        dict of str to str
            Option name -> its ``repr`` (optimizers by their ``repr``, functions by name).

        Examples
        --------
        >>> xprop.FitConfig(epochs=3).describe()["epochs"]
        '3'
        """
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
        return out


def takes_config(fn: Callable) -> Callable:
    """Decorate an entry point that takes a :class:`FitConfig` and some of its options as
    keywords (:func:`xprop.fit`, :func:`xprop.distributed.fit_distributed`): a config
    option passed as a keyword it does not take is a one-line ``TypeError`` that says where
    the option goes (Python's own error would only name it). The decorated function's
    ``check_call(*args, **kwargs)`` raises what a call with those arguments would raise
    before ``fn`` runs (that ``TypeError``, or Python's for arguments that do not bind)."""
    signature = inspect.signature(fn)
    own = frozenset(signature.parameters)
    options = frozenset(f.name for f in fields(FitConfig))

    def check_call(*args: Any, **kwargs: Any) -> None:
        for name in sorted(set(kwargs) - own):
            if name in options:
                raise TypeError(
                    f"{name}: an option of xprop.FitConfig, not a keyword of "
                    f"{fn.__name__} (its keywords: {', '.join(sorted(own & options))}); "
                    f"pass config=xprop.FitConfig({name}=...)")
        try:
            signature.bind(*args, **kwargs)
        except TypeError as e:  # Python's message, naming the function as a call would
            raise TypeError(f"{fn.__name__}() {e}") from None

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not own.issuperset(kwargs):
            check_call(*args, **kwargs)
        return fn(*args, **kwargs)

    wrapper.check_call = check_call  # type: ignore[attr-defined]
    return wrapper
