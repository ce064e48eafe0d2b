"""Weight initialisation and shuffling on the host.

The Array API has no random numbers, so every draw happens here with a seeded
``numpy.random.Generator(PCG64(seed))`` in float64; the caller casts on the host and moves the
result to its backend. One seed therefore gives bit-identical weights on every backend.

Schemes for a weight of shape ``(fan_in, fan_out)``:

| name | distribution |
|---|---|
| ``xavier_normal`` / ``glorot_normal`` | N(0, 2 / (fan_in + fan_out)) |
| ``xavier_uniform`` / ``glorot_uniform`` | U(-a, a), a = sqrt(6 / (fan_in + fan_out)) |
| ``he`` / ``he_normal`` | N(0, 2 / fan_in) |
| ``he_uniform`` | U(-a, a), a = sqrt(6 / fan_in) |
| ``normal(s)`` | N(0, s^2), default s = 0.01 |
| ``uniform`` | U[0, 1) |
| ``auto`` | ``he`` for a ReLU-like layer, ``xavier_uniform`` otherwise |

Biases start at zero.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from xprop.validation import parse_parameter, show

__all__ = ["INITS", "draw_parameters", "draw_weights", "parse_init", "permutation_stream",
           "random_directions", "sample_indices", "standard_normal"]

INITS = ("xavier_normal", "xavier_uniform", "glorot_normal", "glorot_uniform", "he",
         "he_normal", "he_uniform", "normal", "uniform", "auto", "xavier", "glorot", "kaiming")
_ALIASES = {"glorot_normal": "xavier_normal", "glorot_uniform": "xavier_uniform",
            "he_normal": "he", "kaiming": "he", "xavier": "xavier_normal",
            "glorot": "xavier_normal"}
_RELU_LIKE = ("relu", "leaky_relu", "gelu")


def parse_init(spec: str) -> tuple[str, float | None]:
    """``"normal(0.1)"`` -> ``("normal", 0.1)``; names are checked against :data:`INITS`."""
    if not isinstance(spec, str):
        raise ValueError(f"init: expected one of {INITS} or 'normal(scale)', got {show(spec)}")
    key = spec.strip().lower()
    scale = parse_parameter(key, "normal")
    if scale is not None:
        if not math.isfinite(scale) or scale <= 0:
            raise ValueError(f"init: normal(scale) needs a finite scale > 0, got {show(spec)}")
        return "normal", scale
    key = _ALIASES.get(key, key)
    if key not in INITS:
        raise ValueError(f"init: expected one of {INITS} or 'normal(scale)', got {show(spec)}")
    return key, (0.01 if key == "normal" else None)


def draw_weights(
    sizes: Sequence[int], inits: Sequence[str], activations: Sequence[str], seed: int
) -> list[np.ndarray]:
    """float64 host weights, one ``(sizes[i], sizes[i+1])`` array per layer, drawn in order
    from one generator seeded with ``seed``."""
    rng = np.random.Generator(np.random.PCG64(seed))
    out = []
    for i, (spec, act) in enumerate(zip(inits, activations)):
        fan_in, fan_out = sizes[i], sizes[i + 1]
        name, scale = parse_init(spec)
        if name == "auto":
            name = "he" if act.split("(")[0] in _RELU_LIKE else "xavier_uniform"
        shape = (fan_in, fan_out)
        if name == "xavier_normal":
            w = rng.normal(0.0, math.sqrt(2.0 / (fan_in + fan_out)), shape)
        elif name == "xavier_uniform":
            a = math.sqrt(6.0 / (fan_in + fan_out))
            w = rng.uniform(-a, a, shape)
        elif name == "he":
            w = rng.normal(0.0, math.sqrt(2.0 / fan_in), shape)
        elif name == "he_uniform":
            a = math.sqrt(6.0 / fan_in)
            w = rng.uniform(-a, a, shape)
        elif name == "normal":
            w = rng.normal(0.0, scale, shape)
        else:  # uniform
            w = rng.uniform(0.0, 1.0, shape)
        out.append(np.asarray(w, dtype=np.float64))
    return out


def draw_parameters(sizes: Sequence[int], inits: Sequence[str], activations: Sequence[str],
                    seed: int, bias: bool) -> np.ndarray:
    """The flat float64 host buffer ``[W0.ravel(), b0, W1.ravel(), b1, ...]`` of a new model:
    weights from :func:`draw_weights`, biases zero (left out without ``bias``)."""
    parts = []
    for i, w in enumerate(draw_weights(sizes, inits, activations, seed)):
        parts.append(w.reshape(-1))
        if bias:
            parts.append(np.zeros(sizes[i + 1], dtype=np.float64))
    return np.concatenate(parts)


def permutation_stream(n: int, seed: int | None):
    """An endless iterator of seeded host permutations of ``range(n)`` (one per epoch)."""
    rng = np.random.Generator(np.random.PCG64(seed))
    while True:
        yield rng.permutation(n)


def sample_indices(size: int, n: int | None, seed: int) -> list[int]:
    """All flat indices ``0..size-1``, or ``n`` of them drawn without replacement (sorted)."""
    if n is None or n >= size:
        return list(range(size))
    rng = np.random.Generator(np.random.PCG64(seed))
    return sorted(int(i) for i in rng.choice(size, size=n, replace=False))


def random_directions(shapes: Sequence[tuple[int, ...]], seed: int) -> list[np.ndarray]:
    """Standard-normal float64 arrays of the given shapes, scaled to unit joint L2 norm."""
    rng = np.random.Generator(np.random.PCG64(seed))
    dirs = [rng.standard_normal(s) for s in shapes]
    norm = math.sqrt(sum(float(np.sum(d * d)) for d in dirs))
    return [d / norm for d in dirs]


def standard_normal(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """float64 standard-normal draws of ``shape`` from a generator seeded with ``seed``."""
    return np.random.Generator(np.random.PCG64(seed)).standard_normal(shape)
