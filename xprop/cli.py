"""The ``xprop`` command line: ``demo`` (the default), ``train``, ``gradcheck``, ``trace``,
``info``, ``predict``, ``evaluate`` and ``export`` (ONNX). Errors are one line on stderr with
exit code 2; a gradient check exits with 0 (passed), 1 (FAILED) or 3 (inconclusive). Set
``XPROP_DEBUG=1`` for tracebacks."""

from __future__ import annotations

import argparse
import contextlib
import difflib
import io
import json
import math
import os
import re
import signal
import stat
import sys
import threading
import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from xprop import datasets, validation
from xprop._version import __version__
from xprop.backend import (
    ADAPTERS,
    ENV_VAR,
    BackendError,
    BackendUnavailableError,
    backend_info,
    device_str,
    dtype_name,
    resolve_backend,
    to_numpy,
)
from xprop.checkpoint import check_writable, write_atomically
from xprop.checkpoint import save as save_checkpoint
from xprop.config import FitConfig
from xprop.export import export_onnx
from xprop.gradcheck import gradcheck
from xprop.head import infer_task
from xprop.mlp import MLP
from xprop.mlp import load as load_checkpoint
from xprop.optimizers import SCHEDULES
from xprop.tracing import trace
from xprop.train import format_duration, progress_line

# Off a terminal, xprop train prints a progress line after this many seconds of training.
LOG_SECONDS = 30.0

LABEL_HELP = ("CSV label column: name or index (default: the one the checkpoint's training "
              "recorded, else the last)")
HEADER_HELP = ("CSV: the first row names the columns (--no-header: it is data; default: a "
               "header when no cell of the first row is empty or a number)")

# The exit code of a gradient check, by verdict.
GRADCHECK_EXIT = {"passed": 0, "FAILED": 1, "inconclusive": 3}

# What `xprop train` uses for a built-in dataset when an option is not given.
TRAIN_DEFAULTS: dict[str, dict[str, Any]] = {
    "_": dict(hidden="64,64", activation="relu", optimizer="adam", lr=0.01, epochs=200,
              batch_size=32),
    "xor": dict(hidden="4", activation="tanh", optimizer="sgd", lr=0.5, epochs=2000,
                batch_size=4, test_size=0.0),
    "xor_signed": dict(hidden="4", activation="tanh", optimizer="sgd", lr=0.5, epochs=2000,
                       batch_size=4, test_size=0.0),
    "digits": dict(hidden="128", activation="relu", optimizer="adam", lr=0.001, epochs=50,
                   batch_size=64),
}


def _describe_defaults() -> str:
    """TRAIN_DEFAULTS in words, for ``xprop train --help``."""
    def one(values: dict[str, Any]) -> str:
        return ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in values.items())

    rest = "; ".join(f"{name}: {one(values)}" for name, values in TRAIN_DEFAULTS.items()
                     if name != "_")
    return f"{one(TRAIN_DEFAULTS['_'])} (any other dataset); {rest}"


class CLIError(Exception):
    """A user error reported as one line."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``xprop train: error: ...``, exit 2), no usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"xprop: error: {message} (see {self.prog} --help)\n")

    def parse_args(self, args: Any = None, namespace: Any = None) -> Any:  # type: ignore[override]
        """argparse's, an unknown option pointing to its command's help (``xprop train
        --help``), not to ``xprop --help``."""
        parsed, extra = self.parse_known_args(args, namespace)
        if extra:
            command = getattr(parsed, "command", None)
            self.exit(2, f"xprop: error: unrecognized arguments: {' '.join(extra)} (see "
                         f"{self.prog}{' ' + command if command else ''} --help)\n")
        return parsed


# --------------------------------------------------------------------------- progress


class Progress:
    """``xprop train``'s progress: on a terminal a one-line bar on stderr (loss, accuracy,
    validation loss, time per epoch, ETA) updated each epoch; elsewhere (logs, nohup, SLURM,
    CI) a :func:`~xprop.train.progress_line` on stdout every ``every`` seconds of training,
    so long runs show they are alive. ``enabled=False`` (``--quiet``, ``--verbose N``, whose
    lines the engine prints) shows nothing."""

    def __init__(self, epochs: int, enabled: bool | None = None, width: int = 24,
                 every: float = LOG_SECONDS, stream: Any = None, clock: Any = None) -> None:
        self.epochs, self.width, self.every = epochs, width, every
        self.stream = stream or sys.stderr
        self.bar = self.stream.isatty() if enabled is None else enabled
        self.lines = enabled is None and not self.bar
        self.clock = clock or time.perf_counter
        self.t0 = self.said = self.clock()

    @property
    def enabled(self) -> bool:
        return self.bar

    def __call__(self, epoch: int, logs: dict) -> None:
        if self.lines:
            now = self.clock()
            if now - self.said >= self.every and epoch < self.epochs:
                self.said = now
                print(progress_line(epoch, self.epochs, logs), flush=True)
            return
        if not self.bar:
            return
        done = int(self.width * epoch / self.epochs)
        bar = "#" * done + "-" * (self.width - done)
        parts = [f"loss {logs['loss']:.4f}"]
        if "accuracy" in logs:
            parts.append(f"acc {logs['accuracy']:.3f}")
        if "val_loss" in logs:
            parts.append(f"val_loss {logs['val_loss']:.4f}")
        rate = (self.clock() - self.t0) / epoch
        self.stream.write(f"\r[{bar}] epoch {epoch}/{self.epochs}  {'  '.join(parts)}  "
                          f"{rate * 1e3:.1f} ms/epoch  ETA "
                          f"{format_duration(rate * (self.epochs - epoch))} ")
        if epoch == self.epochs:
            self.stream.write("\n")
        self.stream.flush()

    def close(self) -> None:
        if self.bar:
            self.stream.write("\n")


# --------------------------------------------------------------------------- helpers


def _sizes(text: str, name: str) -> list[int]:
    parts = text.replace(" ", "").split(",")
    try:
        sizes = [int(s) for s in parts] if text.strip() else []  # "": no hidden layer
    except ValueError:
        raise CLIError(
            f"{name}: expected comma-separated integers like 64,64, got {text!r}"
        ) from None
    if any(s < 1 for s in sizes):
        raise CLIError(f"{name}: expected sizes >= 1, got {text!r}")
    return sizes


def _check_output_path(path: str | None, force: bool, what: str, suffix: str | None = None,
                       inputs: dict[str, str | None] | None = None) -> str | None:
    """The output path, checked before any work (:func:`xprop.checkpoint.check_writable`:
    not a directory, a writable directory, no existing file without ``--force``), and
    never one of the command's ``inputs`` (flag -> path), which ``--force`` would destroy."""
    if path is None:
        return None
    try:
        path = check_writable(path, force, what, suffix)
    except OSError as e:
        raise CLIError(str(e)) from None
    for flag, source in (inputs or {}).items():
        if source and os.path.isfile(source) and os.path.exists(path) and \
                os.path.samefile(source, path):
            raise CLIError(f"{what}: {path!r} is the {flag} file this command reads; give "
                           "another output file")
    return path


def _natural(text: str) -> int:
    """An integer >= 0: a seed, ``--verbose`` (argparse type: its error names the option)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def _fraction(text: str) -> float:
    """A number in [0, 1) (argparse type: refused before any work)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {text!r}")
    return value


def _number(kind: type):
    """Text as an integer or a number (argparse type), for the training options: their
    ranges are the engine's configuration's to check (:func:`_check_fit_options`)."""
    what = "an integer" if kind is int else "a number"

    def parse(text: str) -> Any:
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    return parse


def _positive(kind: type):
    """An integer or a finite number > 0 (argparse type: its error names the option)."""
    what = "an integer > 0" if kind is int else "a finite number > 0"

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not value > 0 or (kind is float and not np.isfinite(value)):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value
    return parse


def _load_data(spec: str, label: str | None, labels: bool = True, seed: int = 0,
               header: bool | None = None, columns: dict[str, Any] | None = None):
    """``(X, y)`` of a built-in dataset or a file. ``columns``: the CSV layout a checkpoint
    recorded: its label column is the default ``--label``, and the features are read by
    name, in the model's order, wherever they stand in the file."""
    kwargs: dict[str, Any] = {}
    if spec in datasets.DATASETS and label is not None:
        raise CLIError(f"--label: only for data files; {spec!r} is a built-in dataset")
    if spec in datasets.DATASETS:
        if spec in ("moons", "circles", "spirals"):
            kwargs["seed"] = seed
    elif spec.lower().endswith(".npz"):
        given = "--label" if label is not None else "--header" if header is not None else None
        if given:
            raise CLIError(f"{given}: only for CSV files; {spec!r} holds its arrays X and y")
        kwargs["labels"] = labels
    else:
        if label is None and labels:
            label = -1 if columns is None or columns["label"] is None else columns["label"]
        kwargs["label"] = label  # without labels (predict): a column to drop, or None
        kwargs["header"] = "auto" if header is None else header
    wanted = None if columns is None else columns["features"]
    if wanted is None or "label" not in kwargs:
        return datasets.load(spec, **kwargs)
    layout = _csv_columns(spec, kwargs["label"], header, wanted)
    kwargs["header"] = layout["header"]
    X, y = datasets.load(spec, **kwargs)
    found = layout["features"]
    if found is None:  # a file without a header: its columns in the model's order
        return X, y
    missing = [name for name in wanted if name not in found]
    if missing:
        raise CLIError(f"data: {spec!r} has no column {missing[0]!r}, a feature of the model "
                       f"(it was trained on the columns {wanted})")
    return X[:, [found.index(name) for name in wanted]], y


def _csv_columns(spec: str, label: Any, header: bool | None,
                 names: list[str] | None = None) -> dict[str, Any]:
    """Which columns of the CSV file ``spec`` are the label and the features (``names``:
    the features a model reads by name)."""
    delimiter = "\t" if spec.lower().endswith(".tsv") else ","
    return datasets.csv_layout(spec, label, delimiter, "auto" if header is None else header,
                               names)


def _recorded_columns(args: argparse.Namespace) -> dict[str, Any] | None:
    """The CSV layout ``xprop train`` recorded in ``--checkpoint`` (None: none recorded, or
    no checkpoint)."""
    from xprop.checkpoint import read

    if getattr(args, "checkpoint", None) is None:
        return None
    return read(args.checkpoint)[0].get("columns")


def _trained_columns(args: argparse.Namespace) -> dict[str, Any] | None:
    """The CSV layout of ``xprop train``'s data file, to record in its checkpoint."""
    spec = args.data
    if spec in datasets.DATASETS or spec.lower().endswith(".npz"):
        return None
    layout = _csv_columns(spec, -1 if args.label is None else args.label, args.header)
    return {"label": layout["label"], "features": layout["features"]}


def _test_split(X: np.ndarray, y: np.ndarray, args: argparse.Namespace) -> tuple:
    """``(X_train, X_test, y_train, y_test)``: ``--test-size`` of the rows held out with
    ``--seed``, stratified for class labels; ``y`` as :func:`_task` made it (train and
    evaluate then hold out the same rows)."""
    try:
        return datasets.train_test_split(X, y, args.test_size, args.seed,
                                         stratify=y.dtype.kind in "iub")
    except ValueError as e:  # (stratified for class labels: no flag of its own)
        said = str(e).replace("stratify: expected", "test_size: a split by class expects")
        raise _flags(ValueError(f"{said} (--test-size 0: no test split)"),
                     ("test_size",)) from None


def _task(y: np.ndarray, loss: str | None = None, output_activation: str | None = None):
    """The head and targets for ``y`` (see :func:`xprop.head.infer_task`), with CLI-style
    errors."""
    try:
        return infer_task(y, loss, output_activation)
    except ValueError as e:
        raise _flags(e, ("loss", "output_activation")) from None


# --------------------------------------------------------------------------- commands


def cmd_demo(args: argparse.Namespace) -> int:
    """Train 2-16-16-2 (tanh, softmax + cross-entropy, Adam) on two moons, then gradcheck."""
    X, y = datasets.moons(400, noise=0.1, seed=0)
    Xtr, Xte, ytr, yte = datasets.train_test_split(X, y, test_size=0.25, seed=0)
    model = MLP([2, 16, 16, 2], "tanh", "softmax", "cross_entropy", seed=0,
                dtype="float64", backend=args.backend)
    print(f"xprop {__version__} demo: two moons (300 train / 100 test) on "
          f"{model.backend.describe()}")
    print(f"model: {model}")
    t0 = time.perf_counter()
    hist = model.fit(Xtr, ytr, optimizer="adam", lr=0.01, epochs=300, batch_size=32)
    dt = time.perf_counter() - t0
    print(f"trained 300 epochs in {dt:.2f} s: loss {hist.loss[0]:.4f} -> {hist.loss[-1]:.4f}, "
          f"train accuracy {hist.accuracy[-1]:.3f}, "
          f"test accuracy {model.accuracy(Xte, yte):.3f}")
    report = gradcheck(model, Xte[:16], yte[:16])
    print(report)
    print(f"gradient check: {report.verdict.upper()} ({report.reason})")
    return GRADCHECK_EXIT[report.verdict]


def _communicator(args: argparse.Namespace) -> Any:
    """MPI's world for ``--distributed`` (None otherwise)."""
    if not args.distributed:
        return None
    from xprop.distributed import world

    try:
        comm = world()
    except ImportError as e:
        raise CLIError(str(e)) from None
    _ACTIVE_COMM.append(comm)
    return comm


_ACTIVE_COMM: list[Any] = []  # the communicator of a --distributed run, to abort it on error


def _rank_backend(args: argparse.Namespace, comm: Any) -> Any:
    """``--backend``, or with ``--distributed`` and several devices (GPUs) and none named,
    the device of this rank's node-local rank."""
    if comm is None or ":" in str(args.backend or ""):
        return args.backend
    be = resolve_backend(args.backend)
    device = rank_device(be.adapter.devices(be.xp), comm.local_rank)
    return be if device is None else resolve_backend(be.name, device)


def rank_device(devices: list[Any], local_rank: int) -> Any:
    """The device of node-local rank ``local_rank``: the GPUs (or other non-CPU devices) in
    turn when there are any, else the devices in turn when there are several, else None (the
    backend's default)."""
    accelerators = [d for d in devices if not device_str(d).lower().startswith("cpu")]
    if accelerators:  # torch lists the CPU too: one GPU still takes every rank
        return accelerators[local_rank % len(accelerators)]
    return devices[local_rank % len(devices)] if len(devices) > 1 else None


def _fit_options(args: argparse.Namespace) -> dict[str, Any]:
    """The training options of ``xprop train`` (one set for a process and for MPI ranks)."""
    return dict(optimizer=args.optimizer, lr=args.lr, epochs=args.epochs,
                batch_size=args.batch_size, seed=args.seed, schedule=args.schedule,
                clip_norm=args.clip_norm, validation_split=args.validation_split,
                early_stopping=args.early_stopping, verbose=args.verbose)


def _flag_named(message: str, args: argparse.Namespace) -> str:
    """A library error that starts with one of this command's arguments, given or defaulted,
    names its flag (``test_size: ...`` -> ``--test-size: ...``; ``trace``'s ``y`` from a data
    file stays ``y``)."""
    found = re.match(r"(\w+): ", message)
    if found and found.group(1) != "func" and getattr(args, found.group(1), None) is not None:
        return "--" + found.group(1).replace("_", "-") + message[found.end(1):]
    return message


def _flags(error: Exception, names: Sequence[str]) -> CLIError:
    """``error`` as a CLI error whose message names the command-line flags of the Python
    arguments ``names`` it mentions (``early_stopping`` -> ``--early-stopping``)."""
    pattern = "|".join(sorted(map(re.escape, names), key=len, reverse=True))
    return CLIError(re.sub(rf"(?<![\w-])({pattern})\b",
                           lambda m: "--" + m.group(1).replace("_", "-"), str(error)))


#: the model's arguments that ``xprop train`` and ``xprop gradcheck`` take as flags
MODEL_FLAGS = ("output_activation", "activation", "loss", "init", "dtype", "seed")


def _model(*args: Any, **kwargs: Any) -> MLP:
    """``MLP(*args, **kwargs)``, its errors naming the command-line flags."""
    try:
        return MLP(*args, **kwargs)
    except ValueError as e:
        raise _flags(e, MODEL_FLAGS) from None


def _check_fit_options(args: argparse.Namespace) -> None:
    """The training options checked by the engine's one configuration before any work, its
    errors naming the command-line flags."""
    try:
        FitConfig(**_fit_options(args))
    except ValueError as e:  # (the command line takes no validation_data)
        e.args = (str(e).replace("validation_data=(X_val, y_val) or ", ""),)
        raise _flags(e, list(_fit_options(args))) from None


def _fit(model: MLP, X: Any, y: Any, args: argparse.Namespace, comm: Any,
         progress: Any = None) -> Any:
    """Train with the engine: on this process, or data-parallel over ``comm``'s ranks."""
    config = FitConfig(**_fit_options(args), progress=progress)
    try:
        if comm is None:
            return model.fit(X, y, config)
        from xprop.distributed import fit_distributed

        return fit_distributed(model, X, y, config, comm=comm)
    except ValueError as e:  # e.g. "validation_split: leaves no training data": the flag
        raise _flags(e, list(_fit_options(args))) from None


def _train_rank(args: argparse.Namespace, comm: Any) -> int:
    """A rank other than 0 of ``xprop train --distributed``: it never reads the data; it
    builds rank 0's model from its description and trains on the rows it receives."""
    spec = comm.comm.bcast(None, root=0)
    model = _model(spec["sizes"], args.activation, spec["output_activation"], spec["loss"],
                init=args.init, seed=args.seed, dtype=args.dtype,
                backend=_rank_backend(args, comm))
    model.set_standardizer(spec["standardizer"])  # rank 0's model, whole
    try:
        _fit(model, None, None, args, comm)
    except KeyboardInterrupt as e:  # rank 0 saves first: this rank's failing exit status
        _together(comm, e)  # would end the job (python -m mpi4py aborts on it)
        raise
    return 0


def _together(comm: Any, stopped: KeyboardInterrupt) -> None:
    """After a distributed fit stopped on every rank at once (Ctrl-C, SIGTERM: its
    ``every_rank``), the ranks meet once rank 0 has saved what they finished."""
    if comm is not None and getattr(stopped, "every_rank", False):
        comm.comm.barrier()


def _check_train_args(args: argparse.Namespace, writes: bool = True) -> None:
    """``xprop train``'s defaults filled in and every option checked before any work: the
    output files and the plot's file type (``writes``: on the process that writes them, not
    on the other ranks of a distributed run), the split and the training options (the
    engine's configuration)."""
    defaults = dict(TRAIN_DEFAULTS["_"], test_size=0.2)
    defaults.update(TRAIN_DEFAULTS.get(args.data, {}))
    for key, value in defaults.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if not 0.0 <= args.test_size < 1.0:
        raise CLIError(f"--test-size: expected a fraction in [0, 1), got {args.test_size}")
    _check_fit_options(args)
    if not writes:
        args.out = args.plot = None
        return
    args.out = _check_output_path(args.out, args.force, "--out", ".npz",  # before training
                                  {"--data": args.data})
    if args.plot:
        args.plot = _check_output_path(args.plot, args.force, "--plot")
        from xprop.plots import require_matplotlib

        try:
            plt = require_matplotlib()
        except ImportError as e:
            raise CLIError(str(e)) from None
        kinds = plt.figure().canvas.get_supported_filetypes()
        plt.close("all")
        suffix = os.path.splitext(args.plot)[1].lstrip(".").lower()
        if suffix not in kinds:
            raise CLIError(f"--plot: expected a file ending in one of "
                           f"{', '.join('.' + k for k in sorted(kinds))}, got {args.plot!r}")


def cmd_train(args: argparse.Namespace) -> int:
    comm = _communicator(args)  # first: a rank's bad flag then ends every rank (main)
    _check_train_args(args, writes=comm is None or comm.is_root)
    if comm is not None and not comm.is_root:
        return _train_rank(args, comm)
    X, y = _load_data(args.data, args.label, seed=args.seed, header=args.header)
    if y is None:
        raise CLIError("data: training needs labels or targets (y)")
    task = _task(y, args.loss, args.output_activation)
    y = task.y
    if args.test_size > 0:
        Xtr, Xte, ytr, yte = _test_split(X, y, args)
    else:
        Xtr, Xte, ytr, yte = X, None, y, None
    sizes = [X.shape[1], *_sizes(args.hidden, "--hidden"), task.n_outputs]
    scaler = datasets.Standardizer().fit(Xtr) if args.standardize else None
    if comm is not None:  # the other ranks build the same model from this
        comm.comm.bcast({"sizes": sizes, "output_activation": task.output_activation,
                         "loss": task.loss, "standardizer": scaler}, root=0)
    model = _model(sizes, args.activation, task.output_activation, task.loss, init=args.init,
                seed=args.seed, dtype=args.dtype, backend=_rank_backend(args, comm))
    model.set_standardizer(scaler)  # the model standardises what it is given, and saves it
    print(f"data: {args.data} ({len(ytr)} train"
          + (f" / {len(yte)} test" if yte is not None else "") + f", {X.shape[1]} features)")
    print(f"model: {model}, {model.count_parameters()} parameters")
    print(f"training: {args.optimizer} lr={args.lr:g}, {args.epochs} epochs, "
          f"batch {args.batch_size}, seed {args.seed}"
          + (f", {comm.size} MPI ranks (global batch)" if comm is not None else ""))
    progress = Progress(args.epochs, enabled=False if args.quiet or args.verbose else None)
    try:
        hist = _fit(model, Xtr, ytr, args, comm, progress)
    except KeyboardInterrupt as e:  # Ctrl-C or SIGTERM: the engine kept the last epoch
        try:
            return _save_interrupted(args, model, progress, e)
        finally:
            _together(comm, e)
    if len(hist) < args.epochs and progress.enabled:
        progress.close()
    path, moved = _save_trained(model, args) if args.out else (None, False)  # (before the
    _report(model, hist, (Xtr, ytr), (Xte, yte))  # report: Ctrl-C there keeps the model)
    if path is not None:
        print(f"saved checkpoint: {path}")
    if args.plot:
        moved = _save_plot(args, hist, model, (X, y), sizes) or moved
    return 1 if moved else 0


def _save_plot(args: argparse.Namespace, hist: Any, model: MLP, data: tuple[Any, Any],
               sizes: list[int]) -> bool:
    """Plot the training to ``--plot`` (and say where, with the plot's notes); whether it
    went elsewhere (:func:`_kept_output`)."""
    from xprop.plots import plot_training

    notes: list[str] = []

    def plot(path: str, overwrite: bool) -> str:
        check_writable(path, overwrite, "--plot", suffix=None)
        notes.extend(plot_training(path, hist, model, *data,
                                   title=f"xprop: {args.data}, {sizes}", overwrite=overwrite))
        return path

    path, moved = _kept_output(plot, args.plot, args.force, "--plot", "plot")
    print(f"saved plot: {path}")
    for note in notes:
        print(f"note: {note}")
    return moved


def _save_trained(model: MLP, args: argparse.Namespace) -> tuple[str, bool]:
    """Save the trained model to ``--out``: ``(path, moved)`` (:func:`_kept_output`)."""
    columns = _trained_columns(args)
    return _kept_output(lambda path, overwrite: save_checkpoint(
        model, path, overwrite=overwrite, columns=columns), args.out, args.force, "--out", "model")


def _kept_output(write: Any, path: str, force: bool, flag: str, what: str
                 ) -> tuple[str, bool]:
    """``(path written, moved)`` of ``write(path, overwrite)``: a file that appeared at the
    output path while training ran (no ``--force``) is kept, and the output goes to the
    first free name beside it (``m.1.npz``, ...), said on stderr: finished work is never
    lost."""
    try:
        return write(path, force), False
    except FileExistsError:
        root, ext = os.path.splitext(path)
        for i in range(1, 1000):
            try:
                written = write(f"{root}.{i}{ext}", False)
            except FileExistsError:
                continue
            print(f"xprop: {flag}: {path!r} appeared while training ran (no --force); saved "
                  f"the {what} to {written!r} instead", file=sys.stderr)
            return written, True
        raise


class Terminated(KeyboardInterrupt):
    """SIGTERM (``timeout``, SLURM, Kubernetes, ``docker stop``), raised where the program
    is, as Ctrl-C raises KeyboardInterrupt: the same handlers keep the finished work."""

    exit_status, said = 143, "terminated (SIGTERM)"


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated


def _stopped(e: KeyboardInterrupt) -> tuple[int, str]:
    """The exit status and the word for an interruption: 130 Ctrl-C, 143 SIGTERM."""
    return (e.exit_status, e.said) if isinstance(e, Terminated) else (130, "interrupted")


def _save_interrupted(args: argparse.Namespace, model: MLP, progress: Progress,
                      error: KeyboardInterrupt) -> int:
    """Ctrl-C or SIGTERM during ``xprop train``: with ``--out``, save the model of the last
    completed epoch and say so in one line; exit status 130 (Ctrl-C) or 143 (SIGTERM)."""
    if progress.enabled:
        progress.close()
    done = len(getattr(error, "history", ()))
    if not (args.out and done):
        raise error
    path = _save_trained(model, args)[0]
    status, said = _stopped(error)
    print(f"xprop: {said}; saved the model after epoch {done} (the last completed) to "
          f"{path}", file=sys.stderr)
    return status


def _report(model: MLP, hist: Any, train: tuple[Any, Any], test: tuple[Any, Any]) -> None:
    """The closing lines of ``xprop train``: epochs, time, training and test figures."""
    epochs_run = len(hist)
    per_epoch = hist.time[-1] / epochs_run
    line = (f"done: {epochs_run} epochs in {hist.time[-1]:.2f} s ({per_epoch * 1e3:.2f} ms/epoch)"
            f", train loss {model.loss(*train):.4f}")
    if hist.best_epoch is not None:
        print(f"early stopping: best validation loss at epoch {hist.best_epoch} of "
              f"{epochs_run}; the model has that epoch's parameters")
    if model.is_classifier:
        line += f", train accuracy {model.accuracy(*train):.4f}"
        if test[1] is not None:
            line += f", test accuracy {model.accuracy(*test):.4f}"
    elif test[1] is not None:
        line += f", test loss {model.loss(*test):.4f}"
    print(line)


def cmd_gradcheck(args: argparse.Namespace) -> int:
    X, y = _load_data(args.data, args.label, seed=args.seed, header=args.header,
                      columns=_recorded_columns(args))
    built = {"--hidden": args.hidden, "--activation": args.activation,
             "--output-activation": args.output_activation, "--loss": args.loss}
    if args.checkpoint:
        given = [k for k, v in built.items() if v is not None]
        if given:
            raise CLIError(f"{given[0]}: describes a model to build; with --checkpoint the "
                           "saved model is checked")
        model = _load_model(args)
    else:
        task = _task(y, args.loss, args.output_activation)
        n_out, out_act, loss, y = task.n_outputs, task.output_activation, task.loss, task.y
        sizes = [X.shape[1], *_sizes(args.hidden or "4", "--hidden"), n_out]
        model = _model(sizes, args.activation or "tanh", out_act, loss, seed=args.seed,
                    dtype=args.dtype, backend=args.backend)
    total = len(y)
    if args.samples is not None:
        X, y = X[: args.samples], y[: args.samples]
    report = gradcheck(model, X, y, n_checks=args.n_checks, seed=args.seed, mode=args.mode,
                       check_input=args.check_input, dtype=args.dtype, h=args.step)
    print(f"model: {model}")
    print(f"samples: the first {len(y)} of {total} (--samples)")
    print(report)
    return GRADCHECK_EXIT[report.verdict]


def cmd_info(args: argparse.Namespace) -> int:
    from xprop.distributed import mpi_info

    info = backend_info()
    info["mpi"] = mpi_info()
    if args.json:
        print(_json(info, indent=2, default=str))
        return 0
    print(f"xprop {__version__}, Python {sys.version.split()[0]}, "
          f"array-api-compat {info['array_api_compat']['version']}")
    for name in ADAPTERS:  # every registered backend, in registry order
        e = info[name]
        if e.get("available"):
            devices = ", ".join(e.get("devices", []))
            extra = f" ({e['device_name']})" if e.get("device_name") else ""
            if "x64" in e:
                extra += " float64 " + ("on" if e["x64"] else "off (jax_enable_x64)")
            print(f"  {name:<17} {e['version']:<10} devices: {devices}{extra}")
        else:
            print(f"  {name:<17} unusable: {e.get('reason')}")
    print(f"  auto chooses {info['auto']['chooses']}: {info['auto']['reason']}")
    print(f"  default backend: {info['default']['backend']}"
          + (f" (XPROP_BACKEND={info['default']['XPROP_BACKEND']})"
             if info["default"]["XPROP_BACKEND"] else ""))
    mpi = info["mpi"]
    if mpi["available"]:
        print(f"  mpi: mpi4py {mpi['mpi4py']}, {mpi['library']}, world size "
              f"{mpi['world_size']}")
    else:
        print(f"  mpi: unavailable: {mpi['reason']}")
    return 0


def _round_trip_digits(dtype: Any) -> int:
    """Significant digits that write a float of ``dtype`` exactly (float32 9, float64 17)."""
    return math.ceil((np.finfo(dtype).nmant + 1) * math.log10(2)) + 1


def _load_model(args: argparse.Namespace) -> MLP:
    """The model of ``--checkpoint`` on ``--backend``, in ``--dtype`` (None: the
    checkpoint's dtype)."""
    return load_checkpoint(args.checkpoint, backend=args.backend, dtype=args.dtype)


def cmd_predict(args: argparse.Namespace) -> int:
    args.out = _check_output_path(args.out, args.force, "--out",
                                  inputs={"--checkpoint": args.checkpoint, "--data": args.data})
    model = _load_model(args)
    X, _ = _load_data(args.data, args.label, labels=False, seed=args.seed, header=args.header,
                      columns=_recorded_columns(args))
    pred = to_numpy(model.predict(X))
    if args.out:
        fmt = "%d" if pred.dtype.kind in "iub" else f"%.{_round_trip_digits(pred.dtype)}g"
        write_atomically(args.out, lambda fh: np.savetxt(fh, pred.reshape(len(pred), -1),
                                                         delimiter=",", fmt=fmt),
                         overwrite=args.force, what="--out")
        print(f"saved {len(pred)} predictions: {args.out} (data: {args.data}, {X.shape[0]} "
              f"rows, {X.shape[1]} features)")
    else:
        for row in pred.reshape(len(pred), -1):
            print(",".join(str(v) for v in row))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    model = _load_model(args)
    X, y = _load_data(args.data, args.label, seed=args.seed, header=args.header,
                      columns=_recorded_columns(args))
    lines = [f"model: {model}", f"data: {args.data} ({X.shape[0]} rows, {X.shape[1]} features)"]
    if args.test_size > 0:  # the targets as xprop train made them for this head
        y = _task(y, model.loss_fn.name, model.head.activation.name).y
        _, X, _, y = _test_split(X, y, args)
        lines.append(f"samples: the {len(y)} test samples of {args.data} that xprop train "
                     f"holds out with --test-size {args.test_size:g} --seed {args.seed}")
    else:
        lines.append(f"samples: all {len(y)} of {args.data} (a checkpoint does not record its "
                     "training split: with the data it was trained on, this mixes train and "
                     "test samples; --test-size picks the test part)")
    lines.append(f"loss: {model.loss(X, y):.6f}")  # every error before any line is printed
    if model.is_classifier:
        lines.append(f"accuracy: {model.accuracy(X, y):.4f}")
    print("\n".join(lines))
    return 0


def cmd_trace(args: argparse.Namespace) -> int:
    """One forward and backward pass of a saved model (or of weights in a file) on a few
    samples, every number with its formula (:func:`xprop.trace`)."""
    if (args.checkpoint is None) == (args.weights is None):
        raise CLIError("--checkpoint/--weights: expected exactly one of them, got "
                       + ("both" if args.checkpoint else "neither"))
    if args.x is None and args.data is None:
        raise CLIError("--x/--data: expected samples (--x 0.05,0.1 --y 0.01,0.99, repeated "
                       "per sample, or --data NAME|FILE), got neither")
    if args.checkpoint is not None:
        given = [f for f, v in (("--activation", args.activation), ("--loss", args.loss),
                                ("--output-activation", args.output_activation)) if v]
        if given:
            raise CLIError(f"{given[0]}: describes the model of --weights; a checkpoint "
                           "records its own")
        model = _load_model(args)
    else:
        model = _weights_model(args)
    X, y = _trace_samples(args, model)
    try:
        result = trace(model, X, y, lr=args.lr)
    except ValueError as e:
        raise _flags(e, ("lr",)) from None
    print(_json(result.to_dict(), indent=1) if args.json else result)
    return 0


def _json(value: Any, **kwargs: Any) -> str:
    """``value`` as strict JSON (RFC 8259): a NaN or infinity, which ``json`` writes as bare
    ``NaN``/``Infinity`` (no JSON reader takes them), as the string ``"nan"``, ``"inf"`` or
    ``"-inf"`` (``float()`` reads them back)."""
    def strict(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return repr(v)
        if isinstance(v, dict):
            return {k: strict(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [strict(x) for x in v]
        return v

    return json.dumps(strict(value), allow_nan=False, **kwargs)


def _weights_model(args: argparse.Namespace) -> MLP:
    """The model of ``--weights``: ``W0, b0, W1, ...`` from a .json or .npz file; the
    activations and loss from the flags or, for JSON, the file's ``activation``,
    ``output_activation`` and ``loss`` keys."""
    path, settings = args.weights, {}
    if path.lower().endswith(".json"):
        try:
            with open(path, encoding="utf-8") as fh:
                content = json.load(fh)
        except (OSError, ValueError) as e:
            raise CLIError(f"--weights: cannot read {path!r} as JSON: {e}") from None
        if not isinstance(content, dict):
            raise CLIError(f"--weights: expected a JSON object of W0, b0, ..., got "
                           f"{type(content).__name__}")
        settings = {k: content.pop(k) for k in ("activation", "output_activation", "loss")
                    if k in content}
        arrays = content
    elif path.lower().endswith(".npz"):
        try:
            validation.check_readable(path, f"--weights: {path!r}")
        except OSError as e:
            raise CLIError(str(e)) from None
        arrays = datasets.read_npz(path, f"--weights: {path!r}")
    else:
        raise CLIError(f"--weights: expected a .json or .npz file, got {path!r}")
    unknown = sorted(k for k in arrays if not re.fullmatch(r"[Wb]\d+", k))
    n = sum(1 for k in arrays if k.startswith("W"))
    missing = [k for k in (f"W{i}" for i in range(n)) if k not in arrays]
    if unknown or missing or n == 0:
        raise CLIError(f"--weights: expected arrays W0, b0, W1, ... (W0..W{max(n - 1, 0)}), "
                       f"got {', '.join(sorted(arrays)) or 'none'}")
    has_b = any(k.startswith("b") for k in arrays)
    biases = [arrays.get(f"b{i}") for i in range(n)] if has_b else None
    if biases is not None and any(b is None for b in biases):
        raise CLIError(f"--weights: expected b0..b{n - 1} (one bias per layer) or none, got "
                       f"{', '.join(sorted(k for k in arrays if k.startswith('b')))}")
    kwargs = {k: v for k, v in (("activation", args.activation or settings.get("activation")),
                                ("output_activation", args.output_activation
                                 or settings.get("output_activation")),
                                ("loss", args.loss or settings.get("loss"))) if v}
    try:
        return MLP.from_arrays([arrays[f"W{i}"] for i in range(n)], biases, **kwargs,
                               dtype=args.dtype or "float64", backend=args.backend)
    except (ValueError, TypeError) as e:
        raise _flags(e, ("output_activation", "activation", "loss", "weights")) from None


def _trace_samples(args: argparse.Namespace, model: MLP) -> tuple[Any, Any]:
    """``(X, y)`` from ``--x``/``--y`` (one comma-separated row per sample) or the first
    ``--samples`` rows of ``--data``."""
    if args.data is not None:
        if args.x is not None or args.y is not None:
            raise CLIError("--x/--y: give samples either with --x/--y or with --data, not both")
        X, y = _load_data(args.data, args.label, seed=args.seed, header=args.header,
                          columns=_recorded_columns(args))
        return X[: args.samples], y[: args.samples]
    if args.y is None or len(args.y) != len(args.x):
        raise CLIError(f"--y: expected one target row per --x ({len(args.x)}), got "
                       f"{0 if args.y is None else len(args.y)}")
    X = np.array([_numbers(r, "--x") for r in args.x])
    Y = [_numbers(r, "--y") for r in args.y]
    if model.head.targets == "labels" and all(len(r) == 1 for r in Y):  # class labels
        bad = next((r[0] for r in Y if not (r[0] >= 0 and float(r[0]).is_integer())), None)
        if bad is not None:
            raise CLIError(f"--y: expected a class label (0, 1, ...) per sample, got {bad:g}")
        return X, np.array([r[0] for r in Y], dtype=np.int64)
    return X, np.array(Y)


def _numbers(text: str, flag: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise CLIError(f"{flag}: expected comma-separated numbers like 0.05,0.1, got "
                       f"{text!r}") from None


def cmd_export(args: argparse.Namespace) -> int:
    """A checkpoint as an ONNX graph (see :mod:`xprop.export`); ``--out`` is checked first."""
    args.out = _check_output_path(args.out, args.force, "--out", ".onnx",
                                  {"--checkpoint": args.checkpoint})
    try:  # on NumPy whatever $XPROP_BACKEND says: the graph is made from host copies
        model = load_checkpoint(args.checkpoint, backend="numpy")
    except (ValueError, OSError) as e:  # "checkpoint: 'm.npz' does not exist" names the flag
        message = str(e).removeprefix("checkpoint: ")
        raise CLIError(f"--checkpoint: {message}") from None
    try:
        export_onnx(model, args.out, overwrite=args.force)
    except FileExistsError:  # one that appeared while the graph was made: kept
        raise CLIError(f"--out: {args.out!r} exists (it appeared while the graph was made); "
                       "pass --force") from None
    outputs = "probabilities, label" if model.is_classifier else "output"
    print(f"exported {args.checkpoint} to {args.out}: input 'input' (batch, {model.sizes[0]}) "
          f"{dtype_name(model.dtype, model.xp)}, outputs {outputs}"
          + (", standardised inside the graph" if model.standardizer is not None else ""))
    return 0


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="xprop",
        description="Train, check and use multilayer perceptrons on NumPy, CuPy, PyTorch, JAX "
                    "or array-api-strict. Without a command: the demo.",
    )
    p.add_argument("--version", action="version", version=f"xprop {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    q = sub.add_parser("demo", help="train a small net on two moons and gradcheck it")
    _backend_arg(q)
    q.set_defaults(func=cmd_demo)

    _add_train(sub)
    _add_gradcheck(sub)
    _add_trace(sub)
    _add_model_commands(sub)
    return p


def _backend_arg(q: argparse.ArgumentParser, default: str = "auto") -> None:
    """``--backend`` with the command's default."""
    q.add_argument("--backend", default=None,
                   help="numpy, cupy[:N], torch[:DEVICE], array_api_strict[:DEVICE], jax "
                        "or auto (CuPy when a GPU works, else NumPy); default: "
                        f"$XPROP_BACKEND, else {default}")
    q.set_defaults(backend_default=default)


def _add_train(sub: Any) -> None:
    """``xprop train``: the data, the model, the training options, the outputs."""
    q = sub.add_parser("train", help="train a model on a built-in dataset or a file",
                       description="Train an MLP. Options left out take per-dataset "
                                   "defaults: " + _describe_defaults() + ".")
    q.add_argument("--data", default="spirals",
                   help=f"built-in dataset ({', '.join(datasets.DATASETS)}) or a .npz/.csv "
                        "file (default %(default)s)")
    q.add_argument("--label", default=None, help="CSV label column: name or index (default: last)")
    q.add_argument("--header", action=argparse.BooleanOptionalAction, default=None,
                   help=HEADER_HELP)
    q.add_argument("--hidden", default=None, help="hidden layer sizes, e.g. 64,64")
    q.add_argument("--activation", default=None, help="hidden activation (relu, tanh, ...)")
    q.add_argument("--output-activation", default=None,
                   help="default: softmax for labels, identity for real targets")
    q.add_argument("--loss", default=None, help="default: cross_entropy or mse")
    q.add_argument("--init", default="auto", help="weight init (default %(default)s)")
    q.add_argument("--optimizer", default=None, help="sgd, momentum, nesterov, adam, adamw")
    q.add_argument("--lr", type=_number(float), default=None, help="learning rate")
    q.add_argument("--schedule", default=None, metavar="{" + ",".join(SCHEDULES) + "}",
                   help="learning-rate schedule (default constant; any case)")
    q.add_argument("--clip-norm", type=_number(float), default=None,
                   help="clip gradients to this global norm")
    q.add_argument("--epochs", type=_number(int), default=None,
                   help="passes over the training data (per-dataset default above)")
    q.add_argument("--batch-size", type=_number(int), default=None,
                   help="samples per step (per-dataset default above)")
    q.add_argument("--test-size", type=float, default=None,
                   help="held-out fraction (default 0.2; 0 for none)")
    q.add_argument("--validation-split", type=_number(float), default=0.0,
                   help="fraction of the training data held out for validation, in [0, 1)")
    q.add_argument("--early-stopping", type=_number(int), default=None, metavar="PATIENCE",
                   help="stop after PATIENCE epochs without a lower validation loss "
                        "(needs --validation-split)")
    q.add_argument("--standardize", action=argparse.BooleanOptionalAction, default=True,
                   help="standardise features with training statistics (default on; saved "
                        "in the checkpoint)")
    q.add_argument("--dtype", default="float32", choices=["float32", "float64"],
                   help="the network's dtype (default float32 here; Python's MLP defaults to "
                        "float64)")
    q.add_argument("--seed", type=_number(int), default=0,
                   help="seed of the weights, the shuffling, the splits and generated data")
    q.add_argument("--out", default=None, help="checkpoint file to write (.npz)")
    q.add_argument("--force", action="store_true",
                   help="overwrite an existing --out or --plot (without it, an --out that "
                        "appears while training runs is kept and the model is saved beside "
                        "it, NAME.1.npz, exit status 1)")
    q.add_argument("--plot", default=None, metavar="FILE.png",
                   help="write loss/accuracy curves (and the decision boundary for 2-D data)")
    q.add_argument("--quiet", action="store_true", help="no progress bar")
    q.add_argument("--verbose", type=_number(int), default=0, metavar="N",
                   help="print a line every N epochs (loss, accuracy, validation): for logs, "
                        "where the progress bar is not shown")
    q.add_argument("--distributed", action="store_true",
                   help="data-parallel over MPI: mpiexec -n 4 python -m mpi4py -m xprop train "
                        "--distributed ... (--batch-size is the global batch)")
    _backend_arg(q)
    q.set_defaults(func=cmd_train)


def _add_gradcheck(sub: Any) -> None:
    """``xprop gradcheck``: a new or saved model checked on a dataset."""
    q = sub.add_parser("gradcheck", help="gradient-check a new or saved model; exit 0 passed, "
                       "1 FAILED, 3 inconclusive")
    q.add_argument("--checkpoint", default=None, help="a saved model (else one is built)")
    q.add_argument("--data", default="xor", help="dataset name or file (default %(default)s)")
    q.add_argument("--label", default=None, help=LABEL_HELP)
    q.add_argument("--header", action=argparse.BooleanOptionalAction, default=None,
                   help=HEADER_HELP)
    q.add_argument("--samples", type=_positive(int), default=64,
                   help="use the first N samples (default %(default)s)")
    q.add_argument("--hidden", default=None, help="hidden sizes of a built model (default 4)")
    q.add_argument("--activation", default=None, help="hidden activation (default tanh)")
    q.add_argument("--output-activation", default=None)
    q.add_argument("--loss", default=None)
    q.add_argument("--n-checks", type=_positive(int), default=None,
                   help="entries checked per parameter (default: all)")
    q.add_argument("--mode", choices=["full", "fast"], default="full")
    q.add_argument("--step", type=_positive(float), default=None,
                   help="finite-difference step (default 1e-3 in float64, 1e-2 in float32)")
    q.add_argument("--check-input", action="store_true", help="check dL/dX too")
    q.add_argument("--dtype", choices=["float64", "float32"], default="float64",
                   help="evaluation dtype; float32 (loose) for devices without float64")
    q.add_argument("--seed", type=_natural, default=0,
                   help="seed of the weights, the shuffling, the splits and generated data")
    _backend_arg(q, "numpy")
    q.set_defaults(func=cmd_gradcheck)


def _add_trace(sub: Any) -> None:
    """``xprop trace``: one pass on a few samples, every number shown."""
    q = sub.add_parser("trace", help="every number of one forward and backward pass, with "
                       "its formula, on a few samples")
    q.add_argument("--checkpoint", default=None, help="a saved model (.npz from xprop train)")
    q.add_argument("--weights", default=None, metavar="FILE",
                   help="or weights W0, b0, W1, ... in a .json (may also hold activation, "
                        "output_activation and loss) or .npz file")
    q.add_argument("--activation", default=None, help="hidden activation of --weights")
    q.add_argument("--output-activation", default=None, help="output activation of --weights")
    q.add_argument("--loss", default=None, help="loss of --weights")
    q.add_argument("--dtype", choices=["float64", "float32"], default=None,
                   help="dtype of the model (default: a --checkpoint's own, else float64)")
    q.add_argument("--x", action="append", default=None, metavar="X1,X2,...",
                   help="one sample's inputs; repeat per sample")
    q.add_argument("--y", action="append", default=None, metavar="Y1,...",
                   help="that sample's targets (or class label); repeat per sample")
    q.add_argument("--data", default=None, help="or a dataset name or .npz/.csv file")
    q.add_argument("--label", default=None, help=LABEL_HELP)
    q.add_argument("--header", action=argparse.BooleanOptionalAction, default=None,
                   help=HEADER_HELP)
    q.add_argument("--samples", type=_positive(int), default=4,
                   help="with --data: trace its first N samples (default %(default)s)")
    q.add_argument("--seed", type=_natural, default=0, help="seed of a generated dataset")
    q.add_argument("--lr", type=_positive(float), default=None,
                   help="also show the parameters after one gradient step of this rate")
    q.add_argument("--json", action="store_true", help="print the trace as JSON")
    _backend_arg(q, "numpy")
    q.set_defaults(func=cmd_trace)


def _add_model_commands(sub: Any) -> None:
    """``xprop info``, ``predict``, ``evaluate`` and ``export``: a machine or a saved model."""
    q = sub.add_parser("info", help="backends, devices, versions and why any is unusable")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_info)

    for name, func, text in (("predict", cmd_predict, "print or save predictions"),
                             ("evaluate", cmd_evaluate, "loss and accuracy on labelled data")):
        q = sub.add_parser(name, help=f"{text} of a saved model")
        q.add_argument("--checkpoint", required=True)
        q.add_argument("--data", required=True, help="dataset name or .npz/.csv file")
        q.add_argument("--label", default=None,
                       help="CSV label column to drop (default: none)" if name == "predict"
                       else LABEL_HELP)
        q.add_argument("--header", action=argparse.BooleanOptionalAction, default=None,
                       help=HEADER_HELP)
        q.add_argument("--seed", type=_natural, default=0,
                       help="seed of a generated dataset" + (" (and of --test-size's split)"
                                                             if name == "evaluate" else ""))
        if name == "evaluate":
            q.add_argument("--test-size", type=_fraction, default=0.0,
                           help="score only the test part of the split xprop train makes "
                                "with this fraction and --seed (default 0: every sample)")
        q.add_argument("--dtype", choices=["float64", "float32"], default=None,
                       help="compute in this dtype (default: the checkpoint's; float32 for "
                            "devices without float64)")
        if name == "predict":
            q.add_argument("--out", default=None, help="CSV file for the predictions")
            q.add_argument("--force", action="store_true", help="overwrite an existing --out")
        _backend_arg(q, "numpy")
        q.set_defaults(func=func)

    q = sub.add_parser("export", help="write a saved model as an ONNX graph (pip install "
                       '"xprop[onnx]")')
    q.add_argument("--checkpoint", required=True, help="a saved model (.npz)")
    q.add_argument("--out", required=True, help="the ONNX file to write (.onnx)")
    q.add_argument("--force", action="store_true", help="overwrite an existing --out")
    q.set_defaults(func=cmd_export)


def _choose_backend(args: argparse.Namespace) -> None:
    """``--backend``, else ``$XPROP_BACKEND``, else the command's default; refused at once
    (naming where it came from) when it names no usable backend."""
    if not hasattr(args, "backend_default"):
        return
    source = "--backend"
    if args.backend is None:
        env = os.environ.get(ENV_VAR)
        source, args.backend = (ENV_VAR, env) if env else ("--backend", args.backend_default)
    try:
        resolve_backend(args.backend)
    except (BackendError, BackendUnavailableError) as e:
        raise CLIError(f"{source}={args.backend}: {e}") from None


def _abort_other_ranks(code: int = 2) -> None:
    """End an MPI job of several ranks after this rank's usage error or help (printed
    already)."""
    try:
        from xprop.distributed import world

        comm = world()
    except ImportError:
        return
    if comm.size > 1:
        comm.abort(code)


def _show_warning(message: Any, category: type, *args: Any, **kwargs: Any) -> None:
    """A warning as one line on stderr, as the command's errors are (not Python's source
    line)."""
    print(f"xprop: warning: {message}", file=sys.stderr)


def _outputs_to_stdout(args: argparse.Namespace) -> bool:
    """Whether a file the command writes (``--out``, ``--plot``) is this process's standard
    output, a pipe or terminal, such as ``--out /dev/stdout``: its report lines then go to
    stderr. Standard output redirected to a regular file is refused there (that file is to
    be named: the write would replace it, or a name beside ``/dev/stdout``)."""
    for flag, path in (("--out", getattr(args, "out", None)),
                       ("--plot", getattr(args, "plot", None))):
        try:
            found, out = os.stat(path), os.fstat(sys.stdout.fileno())
        except (TypeError, OSError, ValueError, AttributeError, io.UnsupportedOperation):
            continue  # no such file yet, or a stdout with no file behind it
        if not os.path.samestat(found, out) or os.path.samefile(path, os.devnull):
            continue
        if stat.S_ISREG(out.st_mode):
            raise CLIError(f"{flag}: {path!r} is standard output, redirected to a file; "
                           f"name that file as {flag} instead")
        return True
    return False


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = ("demo", "train", "gradcheck", "trace", "info", "predict", "evaluate", "export")
    if argv and not argv[0].startswith("-") and argv[0] not in commands:  # (demo takes
        near = difflib.get_close_matches(argv[0], commands, n=1)  # no positional argument)
        print(f"xprop: error: unknown command {argv[0]!r}"
              + (f" (did you mean {near[0]!r}?)" if near else "")
              + f"; commands: {', '.join(commands)} (see xprop --help)", file=sys.stderr)
        if "--distributed" in argv:
            _abort_other_ranks(2)
        return 2
    if not argv or (argv[0] not in commands and argv[0] not in ("-h", "--help", "--version")):
        argv = ["demo", *argv]
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # a usage error, or --help: with --distributed, the other ranks
        if "--distributed" in argv:  # would wait for this one forever
            _abort_other_ranks(2 if e.code else 0)
        raise
    on_term = None
    if threading.current_thread() is threading.main_thread():
        on_term = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        _choose_backend(args)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            # one line per error: overflow warnings on the way to a divergence stay quiet
            warnings.simplefilter("ignore", RuntimeWarning)
            warnings.showwarning = _show_warning
            with contextlib.redirect_stdout(sys.stderr) if _outputs_to_stdout(args) \
                    else contextlib.nullcontext():  # (the output alone on stdout)
                return int(args.func(args) or 0)
    except BrokenPipeError:  # `xprop ... | head`: the reader left; end quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt as e:
        status, said = _stopped(e)
        print(f"xprop: {said}", file=sys.stderr)
        return status
    except Exception as e:
        if os.environ.get("XPROP_DEBUG"):
            raise
        message = (str(e) or type(e).__name__).replace("pass overwrite=True (--force)",
                                                       "pass --force")
        if not isinstance(e, CLIError):
            message = _flag_named(message, args)
        if hasattr(args, "dtype"):  # the library's advice, as this command's flag
            message = re.sub(r"(use|pass) dtype='(float\d+)'", r"\1 --dtype \2", message)
        if _ACTIVE_COMM and _ACTIVE_COMM[-1].size > 1:  # end every rank, not just this one
            comm = _ACTIVE_COMM[-1]
            print(f"xprop: error on rank {comm.rank}: {message}", file=sys.stderr, flush=True)
            comm.abort(2)
        print(f"xprop: error: {message}", file=sys.stderr)
        return 2
    finally:
        if on_term is not None:
            signal.signal(signal.SIGTERM, on_term)


__all__ = ["build_parser", "main"]
