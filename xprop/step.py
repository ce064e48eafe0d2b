"""One training step, the piece every loop shares: eager ``fit``, compiled epochs
(:mod:`xprop.compiled`) and captured steps (:mod:`xprop.captured`).

``gradient`` is forward, backward, the gradient hook (data-parallel training's all-reduce)
and optional clipping by global norm; a loop then updates the parameter buffer with its
optimizer (``update`` eagerly, the pure ``apply`` when compiled or captured).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from xprop import network
from xprop.optimizers import Optimizer, clip_scale
from xprop.params import Params

Array = Any

__all__ = ["CHUNK_ELEMENTS", "CHUNK_EPOCHS", "Batch", "Hook", "evaluate", "gradient",
           "improves", "train_step"]

#: the most epochs one chunk trains: one call of the compiled function, or eager epochs whose
#: records are computed together at the chunk's end
CHUNK_EPOCHS = 4096
#: the most entries a chunk keeps of what it keeps per epoch: the eager chunk's batch outputs,
#: the compiled chunk's host shuffle orders
CHUNK_ELEMENTS = 1 << 20


class Batch(NamedTuple):
    """One batch of a training epoch on the model's device: inputs ``X`` ``(n, d)``, targets
    ``Y`` ``(n, k)``, ``truth`` (what accuracy compares with; classifiers), the batch's
    gradient ``hook`` and per-sample loss ``weights`` ``(n,)`` (None: none)."""

    X: Array
    Y: Array
    truth: Array | None = None
    hook: Hook | None = None
    weights: Array | None = None


#: ``hook(g, cache) -> g``: what a training loop does to a batch's flat gradient between
#: backward and the update (an all-reduce, an L2 term, recording a loss of its own)
Hook = Callable[[Array, network.Cache], Array]


def gradient(params: Params, X: Array, Y: Array, arch: network.Architecture, xp: Any,
             clip_norm: float | None = None, out: Params | None = None,
             hook: Hook | None = None, weights: Array | None = None,
             kernels: network.Kernels | None = None) -> tuple[network.Cache, Array]:
    """``(cache, g)``: the forward cache on ``X`` and the flat gradient buffer of the loss
    against ``Y`` (each sample's term times ``weights``, when given: see
    :func:`xprop.network.backward`'s ``row_weights``), passed through ``hook`` when given,
    then scaled by ``min(1, clip_norm / ||g||)`` when ``clip_norm`` is given. ``out``: a
    gradient buffer to write into; ``kernels``: the pass's functions, resolved once per fit
    (:func:`xprop.network.kernels`)."""
    _, cache = network.forward(params, X, arch, xp, kernels=kernels)
    grads = network.backward(params, cache, Y, arch, out=out, row_weights=weights, xp=xp,
                             kernels=kernels)
    g = grads.buffer
    if hook is not None:
        g = hook(g, cache)
    if clip_norm is not None:
        views = list(grads.values()) if hook is None else list(
            Params.wrap(arch.layout, g, xp).values())
        g = g * clip_scale(views, clip_norm, xp)[1]
    return cache, g


def train_step(model: Any, X: Array, Y: Array, optimizer: Optimizer,
               clip_norm: float | None = None, grads: Params | None = None,
               hook: Hook | None = None, weights: Array | None = None,
               kernels: network.Kernels | None = None) -> network.Cache:
    """One forward/backward/update on prepared data (model dtype and device, ``(n, k)``
    targets). Returns the forward cache (its output is the pre-update prediction).
    ``grads``: a gradient buffer to reuse (see :func:`xprop.network.backward`'s ``out``);
    ``hook``, ``weights``, ``kernels``: see :func:`gradient`."""
    params, xp = model.params, model.xp
    cache, g = gradient(params, X, Y, model.arch, xp, clip_norm, grads, hook, weights, kernels)
    params.assign(optimizer.update(params.buffer, g, xp))
    return cache


def evaluate(params: Params, X: Array, Y: Array, labels: Array | None,
             arch: network.Architecture, xp: Any) -> tuple[Array, Array]:
    """``(loss sum, hits)``: 0-d arrays in the parameters' dtype, the per-sample losses of
    the model on ``X`` against ``Y`` summed, and its correct predictions (``labels``: see
    :meth:`xprop.head.Head.hits`; zero for regressors). Validation, eager or compiled; the
    loss is their sum divided by ``n`` on the host (or the sum itself for summed heads)."""
    head = arch.head
    out, cache = network.forward(params, X, arch, xp)
    total = xp.sum(head.rows(cache.pre[-1], out, Y, xp))
    hits = xp.astype(head.hits(out, Y, labels, xp), total.dtype) if head.is_classifier \
        else xp.zeros_like(total)
    return total, hits


def improves(loss: Any, best: Any, min_delta: Any) -> Any:
    """Early stopping's test, eager and compiled alike: ``loss < best - min_delta``, all
    three in the model's dtype (0-d arrays in a compiled chunk; NumPy scalars on the host:
    :func:`xprop.backend.host.in_dtype`), so both round the same way."""
    return loss < best - min_delta
