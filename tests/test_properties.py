"""Property-based tests (hypothesis): invariants that must hold for any input."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import xprop
from xprop.activations import ACTIVATIONS, OUTPUT_ONLY
from xprop.backend import fast_namespace, resolve_backend

XP = fast_namespace(resolve_backend("numpy").xp)
finite = st.floats(-1e4, 1e4, allow_nan=False, width=64)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(1, 6)), elements=finite))
def test_activations_stay_finite_and_in_range(z):
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow is benign
        for name, act in ACTIVATIONS.items():
            if name in OUTPUT_ONLY:  # exp is unbounded: finite up to log(max float) only
                continue
            a = act.forward(z, XP)
            assert np.all(np.isfinite(a)), name
            d = act.derivative(z, a, XP)
            assert np.all(np.isfinite(d)), name
    s = ACTIVATIONS["sigmoid"].forward(z, XP)
    assert np.all((s >= 0) & (s <= 1))
    p = ACTIVATIONS["softmax"].forward(z, XP)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 5), min_size=2, max_size=4),
    n=st.integers(2, 6),
    seed=st.integers(0, 2**16),
    activation=st.sampled_from(sorted(set(ACTIVATIONS) - OUTPUT_ONLY)),
)
def test_batch_gradient_is_the_mean_of_sample_gradients(sizes, n, seed, activation):
    """For a mean loss, the batch gradient equals the average of per-sample gradients."""
    rng = np.random.default_rng(seed)
    m = xprop.MLP(sizes, activation, "identity", "mse", seed=seed)
    X = rng.standard_normal((n, sizes[0]))
    Y = rng.standard_normal((n, sizes[-1]))
    _, cache = m.forward(X)
    batch = m.backward(cache, Y)
    per_sample = []
    for i in range(n):
        _, c = m.forward(X[i : i + 1])
        per_sample.append(m.backward(c, Y[i : i + 1]))
    for name, g in batch.items():
        mean = sum(s[name] for s in per_sample) / n
        np.testing.assert_allclose(g, mean, rtol=1e-10, atol=1e-13, err_msg=name)


@settings(max_examples=20, deadline=None)
@given(sizes=st.lists(st.integers(1, 4), min_size=2, max_size=4), seed=st.integers(0, 2**16))
def test_same_seed_same_bits_on_strict_device1(sizes, seed):
    a = xprop.MLP(sizes, "tanh", seed=seed, dtype="float32")
    b = xprop.MLP(sizes, "tanh", seed=seed, dtype="float32", backend="array_api_strict:device1")
    for x, y in zip(a.to_numpy_parameters().values(), b.to_numpy_parameters().values()):
        np.testing.assert_array_equal(x, y)
