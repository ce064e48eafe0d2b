"""Training curves and 2-D decision boundaries with matplotlib (the ``plot`` extra)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from xprop.backend import to_numpy
from xprop.validation import check_rows

__all__ = ["plot_training", "require_matplotlib", "training_figure"]


def require_matplotlib() -> Any:
    """``matplotlib.pyplot`` on the non-interactive Agg backend, or a clear ImportError."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ImportError(
            f"--plot needs matplotlib ({e}); install it with: pip install \"xprop[plot]\""
        ) from None
    return plt


def plot_training(path: str | os.PathLike, history: Any, model: Any = None,
                  X: Any = None, y: Any = None, title: str = "", *,
                  overwrite: bool = True) -> list[str]:
    """Write a PNG with the loss and accuracy curves and, for 2-D inputs, the model's decision
    regions with the points; returns notes (e.g. why no boundary was drawn). Without
    ``overwrite`` an existing file at ``path`` is a ``FileExistsError`` (and is kept)."""
    from xprop.checkpoint import write_atomically

    fig, notes = training_figure(history, model, X, y, title)
    path = os.fspath(path)
    kind = os.path.splitext(path)[1].lstrip(".").lower() or "png"
    write_atomically(path, lambda fh: fig.savefig(fh, dpi=100, format=kind),
                     overwrite=overwrite)
    return notes


def training_figure(history: Any, model: Any = None, X: Any = None, y: Any = None,
                    title: str = "") -> tuple[Any, list[str]]:
    """A matplotlib ``Figure`` (made without pyplot: no global state, shown by notebooks as
    it is) of the loss and accuracy curves and, for a model with 2-D inputs ``X``, its
    decision regions; and notes (e.g. why no boundary was drawn)."""
    try:
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError(f"plots need matplotlib ({e}); install it with: "
                          "pip install \"xprop[plot]\"") from None
    if X is not None and y is not None and np.ndim(X) >= 1:
        check_rows(np.shape(y), np.shape(X)[0])
    notes: list[str] = []
    pred = _boundary(model, X, notes)
    boundary = pred is not None
    n_panels = 3 if boundary else 2
    fig = Figure(figsize=(5 * n_panels, 4.2))
    axes = fig.subplots(1, n_panels)
    epochs = np.arange(1, len(history.loss) + 1)
    ax = axes[0]
    ax.plot(epochs, history.loss, label="train")
    if history.val_loss:
        ax.plot(epochs, history.val_loss, label="validation")
    ax.set(title="loss", xlabel="epoch", yscale="log")
    ax.legend()
    ax = axes[1]
    if history.accuracy:
        ax.plot(epochs, history.accuracy, label="train")
        if history.val_accuracy:
            ax.plot(epochs, history.val_accuracy, label="validation")
        ax.set(title="accuracy", xlabel="epoch", ylim=(0, 1.02))
        ax.legend()
    else:
        ax.text(0.5, 0.5, "no accuracy (regression)", ha="center", va="center")
        ax.set_axis_off()
    if boundary:
        gx, gy, values = pred
        X = np.asarray(X, dtype=np.float64)
        ax = axes[2]
        ax.contourf(gx, gy, values, alpha=0.3, cmap="viridis")
        colours = {} if y is None else {"c": _colours(y, len(X)), "cmap": "viridis"}
        ax.scatter(X[:, 0], X[:, 1], s=12, edgecolors="k", linewidths=0.3, **colours)
        ax.set(title="decision boundary", xlabel="x1", ylabel="x2")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig, notes


def _boundary(model: Any, X: Any, notes: list[str]) -> tuple[Any, Any, Any] | None:
    """The model's predictions on a 300 x 300 grid over the rows of ``X`` (grid x, grid y,
    values), or None with a note saying why there is no boundary to draw (no model or data,
    not two features, several outputs per row)."""
    if model is None or X is None:
        return None
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != 2:
        what = f"{X.shape[1]} features" if X.ndim == 2 else f"shape {X.shape}"
        notes.append(f"no decision boundary: the data has {what}, not 2 features")
        return None
    X = X.astype(np.float64)
    lo, hi = X.min(axis=0), X.max(axis=0)
    span = hi - lo  # (a constant feature: a tenth of its size, or of 1 at 0)
    pad = 0.1 * np.where(span > 0, span, np.where(hi != 0, np.abs(hi), 1.0))
    gx, gy = np.meshgrid(np.linspace(lo[0] - pad[0], hi[0] + pad[0], 300),
                         np.linspace(lo[1] - pad[1], hi[1] + pad[1], 300))
    pred = to_numpy(model.predict(np.stack([gx.ravel(), gy.ravel()], axis=1)))  # standardised
    if pred.size != gx.size:  # by the model
        notes.append(f"no decision boundary: the model predicts {pred.size // gx.size} values "
                     "per row, not one")
        return None
    return gx, gy, pred.reshape(gx.shape)


def _colours(y: Any, n: int) -> Any:
    """The points' colours: the labels or values ``y``, a label per row of one-hot or
    probability rows (their argmax)."""
    y = np.asarray(y).reshape(n, -1)
    return y[:, 0] if y.shape[1] == 1 else np.argmax(y, axis=1)
