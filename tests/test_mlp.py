"""Tests of xprop.MLP: construction and initialisation, the textbook backprop example, parity of
every backend with the NumPy float64 reference, prediction, training, and input validation."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import xprop
from tests import helpers
from tests.helpers import assert_backend_array, fit_options, host
from xprop import MLP
from xprop.tolerances import parity_atol, parity_rtol

XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = np.array([0, 1, 1, 0])


def is_strict(backend) -> bool:
    return backend.name == "array_api_strict"


def supports_float64(backend) -> bool:
    return "float64" in backend.supported_float_dtypes()


def snapshot(model: MLP) -> dict[str, np.ndarray]:
    """Host copies of the parameters (explicit copies: host() may return a view)."""
    return {k: np.array(host(v), copy=True) for k, v in model.parameters().items()}


def assert_same_parameters(model: MLP, before: dict[str, np.ndarray]) -> None:
    params = model.parameters()
    assert list(params) == list(before)
    for k, v in params.items():
        np.testing.assert_array_equal(host(v), before[k])


def make_data(loss: str, n: int = 16, n_in: int = 4, n_out: int = 3, seed: int = 5):
    return helpers.make_data(loss, n, n_in, n_out, seed)


# =========================================================================== construction


@pytest.mark.parametrize(
    ("sizes", "bias", "expected"),
    [
        ([2, 4, 1], True, 17),
        ([2, 4, 1], False, 12),
        ([1, 1], True, 2),
        ([1, 1], False, 1),
        ([3, 5, 5, 2], True, 3 * 5 + 5 + 5 * 5 + 5 + 5 * 2 + 2),
        ([784, 128, 10], True, 784 * 128 + 128 + 128 * 10 + 10),
    ],
)
def test_layer_sizes_and_count_parameters(sizes, bias, expected):
    model = MLP(sizes, bias=bias)
    assert model.sizes == sizes
    assert model.n_layers == len(sizes) - 1
    assert model.count_parameters() == expected
    params = model.parameters()
    names = [f"{k}{i}" for i in range(len(sizes) - 1) for k in (("W", "b") if bias else ("W",))]
    assert list(params) == names
    assert model.parameter_shapes() == {n: tuple(p.shape) for n, p in params.items()}
    assert sum(int(np.prod(p.shape)) for p in params.values()) == expected
    for i in range(len(sizes) - 1):
        assert tuple(params[f"W{i}"].shape) == (sizes[i], sizes[i + 1])
        if bias:
            assert tuple(params[f"b{i}"].shape) == (sizes[i + 1],)


def test_layer_sizes_accept_numpy_integers_and_tuples():
    model = MLP((np.int64(3), np.int32(4), 2))
    assert model.sizes == [3, 4, 2]
    assert all(type(s) is int for s in model.sizes)


def test_weights_and_biases_properties(case):
    model = MLP([3, 4, 2], "tanh", dtype=case.dtype, backend=case.backend)
    assert model.dtype == case.backend.dtype(case.dtype)
    assert len(model.weights) == len(model.biases) == 2
    for i, (w, b) in enumerate(zip(model.weights, model.biases, strict=True)):
        assert_backend_array(w, case.backend)
        assert_backend_array(b, case.backend)
        assert w.dtype == b.dtype == model.dtype
        assert tuple(w.shape) == (model.sizes[i], model.sizes[i + 1])
        assert tuple(b.shape) == (model.sizes[i + 1],)
        np.testing.assert_array_equal(host(b), np.zeros(model.sizes[i + 1]))
        assert np.any(host(w) != 0)
        # the properties are the live arrays that parameters() returns
        assert w is model.parameters()[f"W{i}"]
        assert b is model.parameters()[f"b{i}"]


def test_no_bias():
    model = MLP([3, 4, 2], "tanh", bias=False)
    assert model.bias is False
    assert model.biases is None
    assert list(model.parameters()) == ["W0", "W1"]
    assert model.count_parameters() == 3 * 4 + 4 * 2
    X = np.random.default_rng(0).standard_normal((5, 3))
    # without biases a zero input maps to a zero output (tanh(0) = 0, identity output)
    np.testing.assert_array_equal(host(model.predict_output(np.zeros((2, 3)))), np.zeros((2, 2)))
    expected = np.tanh(X @ host(model.weights[0])) @ host(model.weights[1])
    np.testing.assert_allclose(host(model.predict_output(X)), expected, rtol=1e-12)


def test_per_layer_activations():
    rng = np.random.default_rng(1)
    W = [rng.standard_normal((2, 3)), rng.standard_normal((3, 2)), rng.standard_normal((2, 1))]
    b = [rng.standard_normal(3), rng.standard_normal(2), rng.standard_normal(1)]
    model = MLP.from_arrays(W, b, ["relu", "tanh"], "sigmoid", "bce")
    assert [a.name for a in model.activations] == ["relu", "tanh", "sigmoid"]
    X = rng.standard_normal((6, 2))
    a1 = np.maximum(X @ W[0] + b[0], 0.0)
    a2 = np.tanh(a1 @ W[1] + b[1])
    out = 1.0 / (1.0 + np.exp(-(a2 @ W[2] + b[2])))
    np.testing.assert_allclose(host(model.predict_output(X)), out, rtol=1e-12)

    built = MLP([2, 3, 2, 1], ["relu", "tanh"], "sigmoid", "bce")
    assert [a.name for a in built.activations] == ["relu", "tanh", "sigmoid"]


def test_parameters_and_set_parameters(case):
    model = MLP([2, 3, 1], "tanh", dtype=case.dtype, backend=case.backend)
    W0 = np.arange(6, dtype=case.dtype).reshape(2, 3) / 10
    b0 = np.array([0.5, -0.5, 0.25], dtype=case.dtype)
    model.set_parameters({"W0": W0, "b0": b0, "W1": [[1], [2], [3]]})  # host arrays and lists
    params = model.parameters()
    assert list(params) == ["W0", "b0", "W1", "b1"]
    for p in params.values():
        assert_backend_array(p, case.backend)
        assert p.dtype == model.dtype
    np.testing.assert_array_equal(host(params["W0"]), W0)
    np.testing.assert_array_equal(host(params["b0"]), b0)
    np.testing.assert_array_equal(host(params["W1"]), np.array([[1.0], [2.0], [3.0]]))
    np.testing.assert_array_equal(host(params["b1"]), np.zeros(1))  # untouched

    # copies: changing the source afterwards does not change the model
    W0[0, 0] = 99.0
    assert host(model.parameters()["W0"])[0, 0] == 0.0
    dev = case.backend.from_host(np.ones((2, 3)), case.dtype)
    model.set_parameters({"W0": dev})
    assert model.parameters()["W0"] is not dev
    if case.backend.mutable:  # JAX arrays cannot be changed in place
        dev[0, 0] = 7.0
    np.testing.assert_array_equal(host(model.parameters()["W0"]), np.ones((2, 3)))

    # shapes and names are checked, and a failed call changes nothing
    before = snapshot(model)
    with pytest.raises(ValueError, match="W1"):
        model.set_parameters({"W0": np.zeros((2, 3), case.dtype),
                              "W1": np.zeros((3, 2), case.dtype)})
    with pytest.raises(ValueError, match="b0"):
        model.set_parameters({"b0": np.zeros(2, case.dtype)})
    with pytest.raises(ValueError, match="W7"):
        model.set_parameters({"W7": np.zeros((2, 3), case.dtype)})
    with pytest.raises(ValueError, match="W0"):
        model.set_parameters({"W0": np.full((2, 3), np.nan, case.dtype)})
    assert_same_parameters(model, before)


def test_from_arrays_copies_and_infers_dtype():
    W = [np.ones((2, 3), np.float32), np.ones((3, 1), np.float32)]
    b = [np.zeros(3, np.float32), np.zeros(1, np.float32)]
    model = MLP.from_arrays(W, b)
    assert model.dtype == np.float32
    assert model.sizes == [2, 3, 1]
    W[0][0, 0] = 5.0
    assert host(model.weights[0])[0, 0] == 1.0
    no_bias = MLP.from_arrays([[[1.0, 2.0]]])
    assert no_bias.bias is False and no_bias.sizes == [1, 2]
    assert no_bias.dtype == np.float64
    np.testing.assert_array_equal(host(no_bias.weights[0]), [[1.0, 2.0]])
    # integer weights name no float dtype: float64 where the device has it (exact to 2**53;
    # torch's default float32 rounded 2**24 + 1), else the device's default
    big = 2**24 + 1
    torch = pytest.importorskip("torch")
    exact = MLP.from_arrays([torch.tensor([[big, 1]])], backend="torch")
    assert exact.dtype == torch.float64 and int(host(exact.weights[0])[0, 0]) == big
    assert MLP.from_arrays([[[big, 1]]], backend="array_api_strict:no_float64").dtype == \
        xprop.resolve_backend("array_api_strict:no_float64").xp.float32


# =========================================================================== initialisation

FAN_IN, FAN_OUT = 400, 300
XAVIER_STD = math.sqrt(2.0 / (FAN_IN + FAN_OUT))
HE_STD = math.sqrt(2.0 / FAN_IN)


@pytest.mark.parametrize(
    ("init", "output_activation", "kind", "std"),
    [
        ("xavier_normal", "identity", "normal", XAVIER_STD),
        ("glorot_normal", "identity", "normal", XAVIER_STD),
        ("xavier_uniform", "identity", "symmetric_uniform", XAVIER_STD),
        ("glorot_uniform", "identity", "symmetric_uniform", XAVIER_STD),
        ("he", "identity", "normal", HE_STD),
        ("he_uniform", "identity", "symmetric_uniform", HE_STD),
        ("normal(0.5)", "identity", "normal", 0.5),
        ("normal", "identity", "normal", 0.01),
        ("uniform", "identity", "unit_uniform", 1.0 / math.sqrt(12.0)),
        ("auto", "relu", "normal", HE_STD),  # he for ReLU-like layers
        ("auto", "tanh", "symmetric_uniform", XAVIER_STD),  # xavier_uniform otherwise
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_init_statistics(init, output_activation, kind, std):
    model = MLP([FAN_IN, FAN_OUT], output_activation=output_activation, init=init, seed=3)
    w = host(model.weights[0])
    assert w.shape == (FAN_IN, FAN_OUT)
    np.testing.assert_array_equal(host(model.biases[0]), np.zeros(FAN_OUT))
    n = w.size
    assert np.std(w) == pytest.approx(std, rel=0.02)
    if kind == "unit_uniform":
        assert w.min() >= 0.0 and w.max() < 1.0
        assert w.min() < 0.001 and w.max() > 0.999
        assert np.mean(w) == pytest.approx(0.5, abs=5 * std / math.sqrt(n))
        return
    assert abs(np.mean(w)) < 5 * std / math.sqrt(n)
    if kind == "symmetric_uniform":
        bound = std * math.sqrt(3.0)  # U(-a, a) has std a / sqrt(3)
        assert np.max(np.abs(w)) <= bound
        assert np.max(np.abs(w)) > 0.999 * bound
    else:  # normal: tails well beyond the uniform's sqrt(3) std
        assert np.max(np.abs(w)) > 3.5 * std


def test_init_per_layer():
    model = MLP([300, 200, 100], "tanh", init=["uniform", "normal(0.5)"], seed=1)
    w0, w1 = host(model.weights[0]), host(model.weights[1])
    assert w0.min() >= 0.0 and w0.max() < 1.0
    assert np.mean(w0) == pytest.approx(0.5, abs=0.01)
    assert np.std(w1) == pytest.approx(0.5, rel=0.03)
    assert w1.min() < 0.0


def test_same_seed_same_bits_on_every_backend(case):
    kwargs = dict(activation="relu", output_activation="softmax", loss="cross_entropy")
    model = MLP([5, 7, 6, 3], **kwargs, seed=42, dtype=case.dtype, backend=case.backend)
    ref = MLP([5, 7, 6, 3], **kwargs, seed=42, dtype=case.dtype)
    again = MLP([5, 7, 6, 3], **kwargs, seed=42, dtype=case.dtype, backend=case.backend)
    for name, p in model.parameters().items():
        assert_backend_array(p, case.backend)
        h = host(p)
        assert h.dtype == np.dtype(case.dtype)
        np.testing.assert_array_equal(h, host(ref.parameters()[name]))
        np.testing.assert_array_equal(h, host(again.parameters()[name]))
    other = MLP([5, 7, 6, 3], **kwargs, seed=43, dtype=case.dtype, backend=case.backend)
    for w, w_other in zip(model.weights, other.weights, strict=True):
        assert not np.array_equal(host(w), host(w_other))


def test_float32_weights_are_float64_draws_rounded():
    w64 = host(MLP([6, 5], seed=9).weights[0])
    w32 = host(MLP([6, 5], seed=9, dtype="float32").weights[0])
    np.testing.assert_array_equal(w32, w64.astype(np.float32))


# =========================================================================== Matt Mazur's example

MAZUR = dict(
    W=[[[0.15, 0.25], [0.20, 0.30]], [[0.40, 0.50], [0.45, 0.55]]],
    b=[[0.35, 0.35], [0.60, 0.60]],
    X=[[0.05, 0.10]],
    y=[[0.01, 0.99]],
)


def test_mazur_backprop_example(case):
    dt = case.dtype
    # host NumPy arrays of the model's dtype (float64 host data on a float32-only device is
    # covered by test_float64_host_data_on_float32_only_device)
    W = [np.asarray(w, dtype=dt) for w in MAZUR["W"]]
    b = [np.asarray(v, dtype=dt) for v in MAZUR["b"]]
    model = MLP.from_arrays(W, b, "sigmoid", "sigmoid", "half_sse", dtype=dt,
                            backend=case.backend)
    assert model.dtype == case.backend.dtype(dt)
    X = case.backend.from_host(MAZUR["X"], dt)
    y = case.backend.from_host(MAZUR["y"], dt)

    out, cache = model.forward(X)
    grads = model.backward(cache, y)
    assert_backend_array(out, case.backend)
    for g in grads.values():
        assert_backend_array(g, case.backend)

    def close(v):
        # the published values have 9 decimals; float32 adds its own rounding
        return pytest.approx(v, abs=1e-9) if dt == "float64" else pytest.approx(
            v, rel=parity_rtol(dt, 2), abs=1e-9)

    o = host(out)
    assert o[0, 0] == close(0.75136507)
    assert o[0, 1] == close(0.772928465)
    assert model.loss(X, y) == close(0.298371109)
    assert model.loss(np.asarray(MAZUR["X"], dt), np.asarray(MAZUR["y"], dt)) == close(
        0.298371109)
    assert host(grads["W1"])[0, 0] == close(0.082167041)  # dE/dw5
    assert host(grads["W0"])[0, 0] == close(0.000438568)  # dE/dw1
    # the hidden outputs of the tutorial: out_h1 = 0.593269992, out_h2 = 0.596884378
    h = host(cache.inputs[1])
    assert h[0, 0] == close(0.593269992)
    assert h[0, 1] == close(0.596884378)
    # one step of gradient descent with lr 0.5 gives the tutorial's w5+ = 0.35891648
    model.fit(X, y, lr=0.5, epochs=1)
    assert host(model.weights[1])[0, 0] == close(0.35891648)
    assert host(model.weights[0])[0, 0] == close(0.149780716)  # w1+


# =========================================================================== parity with NumPy

PARITY_CONFIGS = {
    "tanh-softmax-cross_entropy": dict(activation="tanh", output_activation="softmax",
                                       loss="cross_entropy"),
    "relu,gelu-identity-mse": dict(activation=["relu", "gelu"], output_activation="identity",
                                   loss="mse"),
    "sigmoid-identity-bce_with_logits": dict(activation="sigmoid",
                                             output_activation="identity",
                                             loss="bce_with_logits"),
    "softplus-sigmoid-bce": dict(activation="softplus", output_activation="sigmoid",
                                 loss="bce"),
}
PARITY_SIZES = [4, 6, 5, 3]


@pytest.mark.parametrize("config", list(PARITY_CONFIGS), ids=list(PARITY_CONFIGS))
def test_parity_with_numpy_float64(case, config):
    kwargs = PARITY_CONFIGS[config]
    X, y = make_data(kwargs["loss"], n=16, n_in=PARITY_SIZES[0], n_out=PARITY_SIZES[-1])
    ref = MLP(PARITY_SIZES, **kwargs, seed=3)
    model = MLP(PARITY_SIZES, **kwargs, seed=3, dtype=case.dtype, backend=case.backend)
    be, dt = case.backend, case.dtype
    labels = kwargs["loss"] == "cross_entropy"
    Xd = be.from_host(X, dt)
    yd = be.from_host(y, None if labels else dt)

    out_ref, cache_ref = ref.forward(X)
    grads_ref = ref.backward(cache_ref, y, input_grad=True)
    out, cache = model.forward(Xd)
    grads = model.backward(cache, yd, input_grad=True)

    # everything stays on the model's backend
    assert_backend_array(out, be)
    for arrays in (cache.inputs, cache.pre):
        for a in arrays:
            assert_backend_array(a, be)
            assert a.dtype == model.dtype
    assert list(grads) == [*model.parameters(), "X"]
    for name, g in grads.items():
        assert_backend_array(g, be)
        assert g.dtype == model.dtype
        assert tuple(g.shape) == (tuple(Xd.shape) if name == "X"
                                  else tuple(model.parameters()[name].shape))

    fan_in = max(PARITY_SIZES[:-1])
    n = X.shape[0]

    def check(got, want, length):
        want = np.asarray(want, dtype=np.float64)
        rtol = parity_rtol(dt, length)
        if dt == "float64":
            assert rtol == 1e-12
        np.testing.assert_allclose(np.asarray(host(got), dtype=np.float64), want, rtol=rtol,
                                   atol=parity_atol(dt, float(np.max(np.abs(want)))))

    check(out, out_ref, fan_in)
    loss = model.loss(Xd, yd)
    assert isinstance(loss, float)
    assert loss == pytest.approx(ref.loss(X, y), rel=parity_rtol(dt, fan_in + n))
    assert model.loss(X, y) == loss  # host data and device data give the same number
    for name, g in grads.items():
        check(g, grads_ref[name], fan_in + n)

    pred, pred_ref = model.predict(Xd), host(ref.predict(X))
    assert_backend_array(pred, be)
    assert tuple(pred.shape) == pred_ref.shape
    if pred_ref.dtype.kind == "f":
        check(pred, pred_ref, fan_in)
    else:
        np.testing.assert_array_equal(host(pred), pred_ref)
    assert_backend_array(model.predict(X), be)  # host input, device output
    assert_backend_array(model.predict_output(X), be)


def test_backward_input_gradient(case):
    model = MLP([3, 4, 2], "tanh", dtype=case.dtype, backend=case.backend)
    Xd = case.backend.from_host(np.random.default_rng(0).standard_normal((5, 3)), case.dtype)
    yd = case.backend.from_host(np.zeros((5, 2)), case.dtype)
    _, cache = model.forward(Xd)
    grads = model.backward(cache, yd)
    assert "X" not in grads
    assert list(grads) == ["W0", "b0", "W1", "b1"]
    with_x = model.backward(cache, yd, input_grad=True)
    assert list(with_x) == ["W0", "b0", "W1", "b1", "X"]
    assert tuple(with_x["X"].shape) == tuple(Xd.shape)
    assert_backend_array(with_x["X"], case.backend)
    assert with_x["X"].dtype == model.dtype
    for name in grads:
        np.testing.assert_array_equal(host(with_x[name]), host(grads[name]))
    # dL/dX = dZ0 @ W0.T and dL/db0 = sum(dZ0, axis=0), so sum(dL/dX, axis=0) = dL/db0 @ W0.T
    np.testing.assert_allclose(
        host(with_x["X"]).sum(axis=0), host(grads["b0"]) @ host(model.weights[0]).T,
        rtol=parity_rtol(case.dtype, 5), atol=parity_atol(case.dtype))


# =========================================================================== prediction


def test_predict_softmax_is_argmax():
    model = MLP.from_arrays([np.eye(3)], [np.zeros(3)], output_activation="softmax",
                            loss="cross_entropy")
    X = np.array([[3.0, 1.0, 2.0], [0.0, 5.0, 1.0], [-1.0, -2.0, 0.5], [0.1, 0.0, -0.1]])
    pred = host(model.predict(X))
    assert pred.shape == (4,)
    assert pred.dtype.kind == "i"
    np.testing.assert_array_equal(pred, [0, 1, 2, 0])
    np.testing.assert_array_equal(pred, np.argmax(host(model.predict_output(X)), axis=1))


def test_predict_single_sigmoid_output_is_zero_one():
    model = MLP.from_arrays([[[1.0], [-1.0]]], [[0.0]], output_activation="sigmoid", loss="bce")
    X = np.array([[2.0, 1.0], [1.0, 2.0], [0.0, 0.3], [0.4, 0.0]])
    pred = host(model.predict(X))
    assert pred.shape == (4,)
    assert pred.dtype.kind == "i"
    np.testing.assert_array_equal(pred, [1, 0, 0, 1])


def test_predict_several_sigmoid_outputs():
    model = MLP.from_arrays([np.eye(2)], [np.zeros(2)], output_activation="sigmoid", loss="bce")
    pred = host(model.predict(np.array([[1.0, -1.0], [-2.0, 3.0]])))
    assert pred.shape == (2, 2)
    np.testing.assert_array_equal(pred, [[1, 0], [0, 1]])


def test_predict_bce_with_logits_thresholds_logit_at_zero():
    model = MLP.from_arrays([[[1.0]]], [[0.0]], output_activation="identity",
                            loss="bce_with_logits")
    X = np.array([[-2.0], [-1e-3], [1e-3], [0.3], [3.0]])
    pred = host(model.predict(X))
    assert pred.shape == (5,)
    # 0.3 is a positive logit (probability 0.57): class 1, not "below 0.5"
    np.testing.assert_array_equal(pred, [0, 0, 1, 1, 1])
    assert model.accuracy(X, [0, 0, 1, 1, 1]) == 1.0


def test_predict_identity_is_raw_output(case):
    model = MLP([3, 4, 2], "tanh", dtype=case.dtype, backend=case.backend)
    X = np.random.default_rng(2).standard_normal((5, 3))
    pred = model.predict(X)
    assert_backend_array(pred, case.backend)
    assert pred.dtype == model.dtype
    assert tuple(pred.shape) == (5, 2)
    np.testing.assert_array_equal(host(pred), host(model.predict_output(X)))


def test_accuracy_and_loss_values():
    sig = MLP.from_arrays([[[1.0], [-1.0]]], [[0.0]], output_activation="sigmoid", loss="bce")
    X = np.array([[2.0, 1.0], [1.0, 2.0], [0.0, 0.3], [0.4, 0.0]])  # predicts 1, 0, 0, 1
    acc = sig.accuracy(X, [1, 0, 0, 0])
    assert isinstance(acc, float)
    assert acc == 0.75
    assert sig.accuracy(X, np.array([[1.0], [0.0], [0.0], [1.0]])) == 1.0

    soft = MLP.from_arrays([np.eye(3)], [np.zeros(3)], output_activation="softmax",
                           loss="cross_entropy")
    Xs = np.array([[3.0, 1.0, 2.0], [0.0, 5.0, 1.0], [-1.0, -2.0, 0.5], [0.1, 0.0, -0.1]])
    assert soft.accuracy(Xs, [0, 1, 2, 2]) == 0.75
    assert soft.accuracy(Xs, np.eye(3)[[0, 1, 2, 0]]) == 1.0  # one-hot targets

    lin = MLP.from_arrays([[[2.0]]], [[1.0]], output_activation="identity", loss="mse")
    loss = lin.loss([[1.0], [2.0]], [3.0, 4.0])  # outputs 3 and 5
    assert isinstance(loss, float)
    assert loss == 0.5
    with pytest.raises(ValueError, match="accuracy"):
        lin.accuracy([[1.0]], [1.0])


# =========================================================================== training


def test_fit_learns_xor(case):
    model = MLP([2, 4, 1], "tanh", "sigmoid", "bce", seed=0, dtype=case.dtype,
                backend=case.backend)
    epochs = 300 if is_strict(case.backend) else 2000  # array-api-strict is slow
    history = model.fit(XOR_X, XOR_Y, lr=0.5, epochs=epochs)
    assert len(history) == len(history.loss) == epochs
    assert model.accuracy(XOR_X, XOR_Y) == 1.0
    pred = model.predict(XOR_X)
    assert_backend_array(pred, case.backend)
    np.testing.assert_array_equal(host(pred), XOR_Y)
    loss = np.array(history.loss)
    assert np.all(np.diff(loss) <= 0)  # full-batch GD with a small step: never goes up
    assert loss[-1] < 0.1 * loss[0]
    assert history.accuracy[-1] == 1.0
    for p in model.parameters().values():
        assert p.dtype == case.backend.dtype(case.dtype)
        assert_backend_array(p, case.backend)


def test_minibatch_sgd_is_reproducible(case):
    X, y = make_data("bce", n=8, n_in=2, n_out=1, seed=3)

    def run(seed):
        model = MLP([2, 4, 1], "tanh", "sigmoid", "bce", seed=0, dtype=case.dtype,
                    backend=case.backend)
        history = model.fit(X, y, lr=0.1, epochs=4, batch_size=1, config=xprop.FitConfig(seed=seed))
        return history, snapshot(model)

    (h1, p1), (h2, p2), (h3, p3) = run(5), run(5), run(6)
    assert len(h1.loss) == 4
    assert h1.loss == h2.loss
    assert h1.accuracy == h2.accuracy
    for k in p1:
        np.testing.assert_array_equal(p1[k], p2[k])
    assert h1.loss != h3.loss
    assert any(not np.array_equal(p1[k], p3[k]) for k in p1)


def test_history_loss_decreases_with_minibatches():
    X = np.random.default_rng(8).standard_normal((60, 4))
    y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0.5)  # learnable labels 0..2
    model = MLP([4, 8, 3], "tanh", "softmax", "cross_entropy", seed=1)
    history = model.fit(X, y, lr=0.2, epochs=40, batch_size=10, config=xprop.FitConfig(seed=2))
    assert len(history.loss) == 40
    assert history.loss[-1] < 0.5 * history.loss[0]
    assert np.mean(history.loss[-5:]) < np.mean(history.loss[:5])
    assert history.accuracy[-1] > history.accuracy[0]
    assert history["loss"] is history.loss


@pytest.mark.parametrize(("epochs", "verbose", "logged"),
                         [(10, 3, [3, 6, 9, 10]), (6, 2, [2, 4, 6]), (4, 1, [1, 2, 3, 4]),
                          (5, 0, [])])
def test_verbose_logs_every_k_epochs(epochs, verbose, logged):
    lines: list[str] = []
    model = MLP([2, 4, 1], "tanh", "sigmoid", "bce")
    model.fit(XOR_X, XOR_Y, lr=0.5, epochs=epochs,
              config=xprop.FitConfig(verbose=verbose, log=lines.append))
    assert len(lines) == len(logged)
    width = len(str(epochs))
    for line, epoch in zip(lines, logged, strict=True):
        assert line.startswith(f"epoch {epoch:>{width}d}/{epochs}")
        assert "loss" in line and "accuracy" in line


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_fit_keeps_dtype(case, optimizer):
    model = MLP([3, 4, 2], "tanh", "softmax", "cross_entropy", dtype=case.dtype,
                backend=case.backend)
    dtype = model.dtype
    X, y = make_data("cross_entropy", n=6, n_in=3, n_out=2)
    # float64 host data for a float32 model: converted once, parameters stay float32
    model.fit(X, y, lr=0.05, epochs=2, batch_size=3, optimizer=optimizer)
    model.fit(case.backend.from_host(X, case.dtype), case.backend.from_host(y), lr=0.05,
              epochs=2, optimizer=optimizer)
    assert model.dtype == dtype
    for p in model.parameters().values():
        assert p.dtype == dtype
        assert_backend_array(p, case.backend)
        assert host(p).dtype == np.dtype(case.dtype)


# =========================================================================== bad input


@pytest.mark.parametrize(
    "sizes",
    [[], [3], [2, 2.5, 1], [2, 0, 1], [2, -1], [0, 2], "23", [2, True], None, [2, "3"]],
    ids=repr,
)
def test_bad_layer_sizes(sizes):
    with pytest.raises(ValueError, match="layer_sizes"):
        MLP(sizes)


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"activation": "swish"}, ValueError, "activation"),
        ({"activation": ["relu"]}, ValueError, "activation"),  # 2 hidden layers
        ({"output_activation": "swish"}, ValueError, "activation"),
        ({"loss": "hinge"}, ValueError, "loss"),
        ({"init": "orthogonal"}, ValueError, "init"),
        ({"init": "normal(-1)"}, ValueError, "init"),
        ({"init": ["he"]}, ValueError, "init"),  # 3 layers
        ({"backend": "tensorflow"}, xprop.BackendError, "backend"),
        ({"dtype": "float16"}, xprop.BackendError, "dtype"),
        ({"bias": "yes"}, ValueError, "bias"),
        ({"backend": "numpy", "device": "cuda:0"}, xprop.BackendError, "device"),
    ],
    ids=lambda v: "-".join(f"{k}={v[k]}" for k in v) if isinstance(v, dict) else None,
)
def test_unknown_names(kwargs, error, name):
    with pytest.raises(error, match=name):
        MLP([2, 3, 3, 1], **kwargs)


def test_float64_refused_on_float32_only_device():
    with pytest.raises(xprop.BackendError, match="dtype"):
        MLP([2, 3], backend="array_api_strict", device="no_float64", dtype="float64")
    assert MLP([2, 3], backend="array_api_strict", device="no_float64").dtype == \
        xprop.resolve_backend("array_api_strict", "no_float64").xp.float32  # its default


def _nan_at(a, value=np.nan):
    a = np.array(a, dtype=np.float64)
    a.flat[1] = value
    return a


BIN_X, BIN_Y = make_data("bce", n=6, n_in=2, n_out=1, seed=1)
BIN_Y = BIN_Y[:, 0]
CE_X, CE_Y = make_data("cross_entropy", n=6, n_in=2, n_out=3, seed=1)

BAD_DATA = {
    # id: (model kind, X, y, error, name)
    "X-1d": ("bin", BIN_X[:, 0], BIN_Y, ValueError, "X"),
    "X-3d": ("bin", BIN_X[None], BIN_Y, ValueError, "X"),
    "X-features": ("bin", np.ones((6, 3)), BIN_Y, ValueError, "X"),
    "X-nan": ("bin", _nan_at(BIN_X), BIN_Y, ValueError, "X"),
    "X-inf": ("bin", _nan_at(BIN_X, np.inf), BIN_Y, ValueError, "X"),
    "X-strings": ("bin", np.array([["a", "b"]] * 6), BIN_Y, TypeError, "X"),
    "y-length": ("bin", BIN_X, BIN_Y[:5], ValueError, "y"),
    "y-nan": ("bin", BIN_X, _nan_at(BIN_Y), ValueError, "y"),
    "y-inf": ("bin", BIN_X, _nan_at(BIN_Y, -np.inf), ValueError, "y"),
    "y-outside-01": ("bin", BIN_X, BIN_Y * 2.0, ValueError, "y"),
    "y-shape": ("bin", BIN_X, np.ones((6, 2)), ValueError, "y"),
    "labels-too-big": ("ce", CE_X, np.array([0, 1, 2, 3, 0, 1]), ValueError, "y"),
    "labels-negative": ("ce", CE_X, np.array([0, 1, -1, 2, 0, 1]), ValueError, "y"),
    "labels-float": ("ce", CE_X, CE_Y + 0.5, TypeError, "y"),
    "labels-length": ("ce", CE_X, CE_Y[:4], ValueError, "y"),
    "onehot-nan": ("ce", CE_X, _nan_at(np.eye(3)[CE_Y]), ValueError, "y"),
    "onehot-columns": ("ce", CE_X, np.eye(4)[[0, 1, 2, 3, 0, 1]], ValueError, "y"),
}


def _model(kind: str) -> MLP:
    if kind == "bin":
        return MLP([2, 3, 1], "tanh", "sigmoid", "bce", seed=0)
    return MLP([2, 3, 3], "tanh", "softmax", "cross_entropy", seed=0)


BAD_DATA_CALLS = [
    pytest.param(bad, entry, id=f"{bad}-{entry}")
    for bad, spec in BAD_DATA.items()
    for entry in ["fit", "loss", "accuracy", "gradcheck"] + (["predict"] if spec[4] == "X" else [])
]


@pytest.mark.parametrize(("bad", "entry"), BAD_DATA_CALLS)
def test_bad_data(bad, entry):
    kind, X, y, error, name = BAD_DATA[bad]
    model = _model(kind)
    before = snapshot(model)
    X0, y0 = X.copy(), y.copy()
    calls = {
        "fit": lambda: model.fit(X, y, epochs=2),
        "loss": lambda: model.loss(X, y),
        "accuracy": lambda: model.accuracy(X, y),
        "gradcheck": lambda: xprop.gradcheck(model, X, y),
        "predict": lambda: model.predict(X),
    }
    with pytest.raises(error, match=rf"^{name}\b"):
        calls[entry]()
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)
    assert_same_parameters(model, before)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"lr": 0}, "lr"),
        ({"lr": -0.1}, "lr"),
        ({"lr": float("nan")}, "lr"),
        ({"lr": float("inf")}, "lr"),
        ({"lr": "0.1"}, "lr"),
        ({"epochs": 0}, "epochs"),
        ({"epochs": -1}, "epochs"),
        ({"epochs": 2.5}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": -4}, "batch_size"),
        ({"batch_size": 1.5}, "batch_size"),
        ({"optimizer": "lbfgs"}, "optimizer"),
    ],
    ids=lambda v: "-".join(f"{k}={v[k]}" for k in v) if isinstance(v, dict) else None,
)
def test_bad_training_arguments(kwargs, name):
    model = _model("bin")
    before = snapshot(model)
    X0, y0 = BIN_X.copy(), BIN_Y.copy()
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        model.fit(BIN_X, BIN_Y, **fit_options(**kwargs))
    np.testing.assert_array_equal(BIN_X, X0)
    np.testing.assert_array_equal(BIN_Y, y0)
    assert_same_parameters(model, before)


@pytest.mark.parametrize(
    ("weights", "biases", "name"),
    [
        ([np.ones((2, 3)), np.ones((4, 1))], None, r"weights\[1\]"),
        ([np.ones(3)], None, r"weights\[0\]"),
        ([np.ones((2, 3, 1))], None, r"weights\[0\]"),
        ([], None, "weights"),
        ([np.ones((2, 3))], [np.ones(4)], "b0"),
        ([np.ones((2, 3)), np.ones((3, 1))], [np.ones(3)], "biases"),
        ([np.ones((2, 3)), np.ones((3, 1))], [np.ones(3), np.ones((1, 1))], "b1"),
    ],
    ids=["chain", "1d", "3d", "empty", "bias-shape", "bias-count", "bias-2d"],
)
def test_from_arrays_wrong_shapes(weights, biases, name):
    copies = [w.copy() for w in weights]
    with pytest.raises(ValueError, match=name):
        MLP.from_arrays(weights, biases)
    for w, c in zip(weights, copies, strict=True):
        np.testing.assert_array_equal(w, c)


def test_explicit_weights_from_another_backend():
    import array_api_strict as xps

    strict_w = xps.ones((2, 3), dtype=xps.float64)
    with pytest.raises(xprop.DeviceMismatchError, match=r"weights\[0\]"):
        MLP.from_arrays([strict_w], backend="numpy")
    with pytest.raises(xprop.DeviceMismatchError, match=r"weights\[0\]"):
        MLP.from_arrays([strict_w], backend="array_api_strict", device="device1")
    with pytest.raises(xprop.DeviceMismatchError, match=r"biases\[0\]|weights\[0\]"):
        MLP.from_arrays([strict_w], [xps.zeros((3,), dtype=xps.float64,
                                                device=xps.Device("device1"))])
    # host data goes to the requested backend, device arrays decide the backend themselves
    on_strict = MLP.from_arrays([np.ones((2, 3))], backend="array_api_strict", device="device1")
    assert_backend_array(on_strict.weights[0], on_strict.backend)
    assert on_strict.backend.describe() == "array_api_strict (device device1)"
    inferred = MLP.from_arrays([strict_w])
    assert inferred.backend.name == "array_api_strict"

    model = MLP([2, 3])
    with pytest.raises(xprop.DeviceMismatchError, match="W0"):
        model.set_parameters({"W0": strict_w})
    with pytest.raises(xprop.DeviceMismatchError, match="X"):
        model.fit(xps.ones((4, 2), dtype=xps.float64), np.ones((4, 3)), epochs=1)
    with pytest.raises(xprop.DeviceMismatchError, match="X"):
        model.predict(xps.ones((4, 2), dtype=xps.float64))


def test_explicit_torch_weights_refused_for_numpy():
    torch = pytest.importorskip("torch")
    w = torch.ones((2, 3), dtype=torch.float64)
    with pytest.raises(xprop.DeviceMismatchError, match=r"weights\[0\]"):
        MLP.from_arrays([w], backend="numpy")
    with pytest.raises(xprop.DeviceMismatchError, match="X"):
        MLP([2, 3]).predict(torch.ones((1, 2), dtype=torch.float64))


def _strict(device=None):
    return xprop.resolve_backend("array_api_strict", device)


LOW_LEVEL = {
    # id: (model backend spec, model dtype, builder of X, error)
    "f32-to-f64-numpy": (("numpy", None), "float64",
                         lambda: np.ones((2, 2), np.float32), TypeError),
    "f64-to-f32-numpy": (("numpy", None), "float32", lambda: np.ones((2, 2)), TypeError),
    "f32-to-f64-strict": (("array_api_strict", None), "float64",
                          lambda: _strict().from_host(np.ones((2, 2)), "float32"), TypeError),
    "numpy-to-strict-device1": (("array_api_strict", "device1"), "float64",
                                lambda: np.ones((2, 2)), xprop.DeviceMismatchError),
    "strict-default-to-device1": (("array_api_strict", "device1"), "float64",
                                  lambda: _strict().from_host(np.ones((2, 2)), "float64"),
                                  xprop.DeviceMismatchError),
    "strict-to-numpy": (("numpy", None), "float64",
                        lambda: _strict().from_host(np.ones((2, 2)), "float64"),
                        xprop.DeviceMismatchError),
    "list-to-numpy": (("numpy", None), "float64", lambda: [[1.0, 2.0]], TypeError),
    "numpy-to-no_float64": (("array_api_strict", "no_float64"), "float32",
                            lambda: np.ones((2, 2), np.float32), xprop.DeviceMismatchError),
}


@pytest.mark.parametrize("which", list(LOW_LEVEL), ids=list(LOW_LEVEL))
def test_low_level_forward_refuses_mismatch(which):
    (name, device), dtype, make_x, error = LOW_LEVEL[which]
    model = MLP([2, 3, 1], "tanh", dtype=dtype, backend=name, device=device)
    X = make_x()
    with pytest.raises(error, match="X"):
        model.forward(X)


def test_low_level_backward_refuses_mismatch():
    be = _strict("device1")
    model = MLP([2, 3, 1], "tanh", backend=be)
    _, cache = model.forward(be.from_host(np.ones((4, 2)), "float64"))
    with pytest.raises(xprop.DeviceMismatchError, match="y"):
        model.backward(cache, np.ones((4, 1)))
    with pytest.raises(xprop.DeviceMismatchError, match="y"):
        model.backward(cache, _strict().from_host(np.ones((4, 1)), "float64"))
    with pytest.raises(TypeError, match="y"):
        model.backward(cache, be.from_host(np.ones((4, 1)), "float32"))
    with pytest.raises(ValueError, match="y"):
        model.backward(cache, be.from_host(np.ones((3, 1)), "float64"))
    assert set(model.backward(cache, be.from_host(np.ones((4, 1)), "float64"))) == {
        "W0", "b0", "W1", "b1"}


def test_low_level_backward_refuses_cross_entropy_rows_that_are_not_distributions(case):
    """Found by audit: rows summing to 1.5 and 0.2 gave the loss of those targets but the
    gradient ``(a - y) / n`` of normalised ones (0.33 off); ``prepare`` refused them."""
    model = MLP([2, 3, 3], "tanh", "softmax", "cross_entropy", dtype=case.dtype,
                backend=case.backend, seed=0)
    _, cache = model.forward(case.backend.from_host(np.ones((2, 2)), case.dtype))
    bad = case.backend.from_host([[0.5, 0.5, 0.5], [0.2, 0.0, 0.0]], case.dtype)
    with pytest.raises(ValueError, match=r"^y: "):
        model.backward(cache, bad)
    good = case.backend.from_host([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]], case.dtype)
    assert set(model.backward(cache, good)) == {"W0", "b0", "W1", "b1"}


def test_low_level_refuses_host_data_on_every_backend(case):
    model = MLP([2, 3, 1], "tanh", dtype=case.dtype, backend=case.backend)
    with pytest.raises(TypeError, match="X"):
        model.forward([[1.0, 2.0]])
    other = "float32" if case.dtype == "float64" else "float64"
    if case.backend.name == "numpy":
        with pytest.raises(TypeError, match="X"):
            model.forward(np.ones((2, 2), dtype=other))
    else:
        with pytest.raises(xprop.DeviceMismatchError, match="X"):
            model.forward(np.ones((2, 2), dtype=case.dtype))
    if other in case.backend.supported_float_dtypes():
        with pytest.raises(TypeError, match="X"):
            model.forward(case.backend.from_host(np.ones((2, 2)), other))
    good = case.backend.from_host(np.ones((2, 2)), case.dtype)
    out, _ = model.forward(good)
    assert_backend_array(out, case.backend)


# =========================================================================== caller's data


@pytest.mark.parametrize("loss", ["cross_entropy", "bce"])
def test_caller_arrays_are_never_modified(case, loss):
    n_out = 3 if loss == "cross_entropy" else 1
    out_act = "softmax" if loss == "cross_entropy" else "sigmoid"
    X, y = make_data(loss, n=6, n_in=2, n_out=n_out, seed=4)
    if loss == "bce":
        y = y[:, 0]
    X0, y0 = X.copy(), y.copy()
    be, dt = case.backend, case.dtype
    Xd = be.from_host(X, dt)
    yd = be.from_host(y, None if loss == "cross_entropy" else dt)
    model = MLP([2, 4, n_out], "relu", out_act, loss, dtype=dt, backend=be)
    check_dtype = "float64" if supports_float64(be) else "float32"
    for data_X, data_y in ((X, y), (Xd, yd)):
        model.fit(data_X, data_y, lr=0.1, epochs=2)  # full batch: no copy is made by shuffling
        model.fit(data_X, data_y, lr=0.1, epochs=2, batch_size=2, config=xprop.FitConfig(seed=1))
        model.predict(data_X)
        model.predict_output(data_X)
        model.loss(data_X, data_y)
        model.accuracy(data_X, data_y)
        xprop.gradcheck(model, data_X, data_y, check_input=True, dtype=check_dtype)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)
    np.testing.assert_array_equal(host(Xd), X0.astype(dt))
    np.testing.assert_array_equal(host(yd), y0 if loss == "cross_entropy" else y0.astype(dt))
    assert Xd.dtype == be.dtype(dt)


# =========================================================================== known bugs


@pytest.mark.parametrize("entry", ["set_parameters", "from_arrays", "one_hot_targets"])
def test_float64_host_data_on_float32_only_device(entry):
    be = _strict("no_float64")
    if entry == "set_parameters":
        model = MLP([2, 2], dtype="float32", backend=be)
        model.set_parameters({"W0": np.ones((2, 2))})
        np.testing.assert_array_equal(host(model.weights[0]), np.ones((2, 2)))
    elif entry == "from_arrays":
        model = MLP.from_arrays(MAZUR["W"], MAZUR["b"], "sigmoid", "sigmoid", "half_sse",
                                dtype="float32", backend=be)
        assert model.loss(MAZUR["X"], MAZUR["y"]) == pytest.approx(0.298371109, rel=1e-6)
    else:
        model = MLP([2, 3, 3], "tanh", "softmax", "cross_entropy", dtype="float32", backend=be)
        X = np.ones((3, 2))
        assert model.loss(X, np.eye(3)) == pytest.approx(model.loss(X, [0, 1, 2]))
    assert model.dtype == be.dtype("float32")


@pytest.mark.parametrize("backend_name", ["numpy", "array_api_strict", "torch"])
def test_to_numpy_parameters_returns_copies(backend_name):
    if backend_name == "torch":
        pytest.importorskip("torch")
    model = MLP([2, 3, 1], "tanh", backend=backend_name)
    saved = model.to_numpy_parameters()
    expected = {k: v.copy() for k, v in saved.items()}
    model.fit(XOR_X, XOR_Y.astype(np.float64), lr=0.5, epochs=3)
    for k, v in saved.items():
        np.testing.assert_array_equal(v, expected[k])


def test_from_arrays_host_weights_on_strict_emit_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = MLP.from_arrays([np.ones((2, 3))], backend="array_api_strict")
    assert model.dtype == model.backend.dtype("float64")


@pytest.mark.parametrize("Y", [
    [[1.0, 1.0, 0.0], [0.0, 1.0, 0.0]],      # a row summing to 2
    [[0.5, 0.5, 0.5], [0.0, 1.0, 0.0]],
    [[1.5, -0.5, 0.0], [0.0, 1.0, 0.0]],     # negative entries
])
def test_cross_entropy_targets_must_be_distributions(Y):
    m = xprop.MLP([2, 3], "relu", "softmax", "cross_entropy")
    with pytest.raises(ValueError, match=r"y: cross_entropy expects one-hot or probability rows"):
        m.loss(np.ones((2, 2)), np.array(Y))
    soft = np.array([[0.2, 0.3, 0.5], [0.0, 1.0, 0.0]])
    assert np.isfinite(m.loss(np.ones((2, 2)), soft))
    assert xprop.gradcheck(m, np.ones((2, 2)), soft).passed


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"seed": -1}, r"seed: expected an integer >= 0"),
    ({"seed": 1.5}, r"seed: expected an integer >= 0"),
    ({"activation": 123}, r"activation: expected a name or a list of names"),
    ({"activation": None}, r"activation: expected a name or a list of names"),
    ({"init": 5}, r"init: expected a name or a list of names"),
])
def test_constructor_arguments_named_in_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        xprop.MLP([2, 3, 1], **kwargs)


def test_from_arrays_wants_a_list():
    with pytest.raises(ValueError, match=r"weights: expected a list of 2-D arrays"):
        xprop.MLP.from_arrays(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"biases: expected a list"):
        xprop.MLP.from_arrays([np.ones((2, 3))], np.ones(3))


def test_float64_data_to_a_float32_only_device_is_a_clear_error():
    with pytest.raises(xprop.BackendError, match=r"dtype: float64 data cannot go to"):
        xprop.to_backend(np.ones(3), "array_api_strict:no_float64")


def test_models_and_optimizers_pickle_and_deepcopy_on_every_backend(case):
    """A model (parameters, architecture by names, its other attributes) and an optimizer
    with state survive pickle and deepcopy on every backend: the copy lives on the same
    backend and device, predicts bit-identically and trains on exactly as the original."""
    import copy
    import pickle

    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((24, 3)), rng.integers(0, 3, 24)
    m = xprop.MLP([3, 5, 3], "leaky_relu(0.2)", "softmax", "cross_entropy", seed=2,
                  dtype=case.dtype, backend=case.backend)
    opt = xprop.Adam(lr=0.01)
    m.fit(X, y, optimizer=opt, epochs=2, batch_size=8, config=xprop.FitConfig(compiled=False))
    m.note = "kept"
    for twin, twin_opt in ((pickle.loads(pickle.dumps(m)), pickle.loads(pickle.dumps(opt))),
                           (copy.deepcopy(m), copy.deepcopy(opt))):
        assert twin.backend.describe() == m.backend.describe() and twin.note == "kept"
        assert twin.sizes == m.sizes and twin.dtype == m.dtype
        assert [a.name for a in twin.activations] == [a.name for a in m.activations]
        np.testing.assert_array_equal(host(twin.predict_output(X)), host(m.predict_output(X)))
        assert twin_opt.t == opt.t and twin_opt._m is not opt._m
        np.testing.assert_array_equal(host(twin_opt._m), host(opt._m))
    a, b = copy.deepcopy(m), copy.deepcopy(m)
    a.fit(X, y, optimizer=copy.deepcopy(opt), epochs=1, batch_size=8,
          config=xprop.FitConfig(compiled=False))
    b.fit(X, y, optimizer=pickle.loads(pickle.dumps(opt)), epochs=1, batch_size=8,
          config=xprop.FitConfig(compiled=False))
    np.testing.assert_array_equal(host(a.params.buffer), host(b.params.buffer))
    history = pickle.loads(pickle.dumps(m.fit(X, y, epochs=1)))
    assert len(history) == 1


def test_an_unregistered_custom_activation_pickles_by_value_or_says_what_to_do():
    """An unregistered activation of module-level functions pickles by value; one of
    lambdas or closures is refused by pickle.dumps (before: dumps wrote its name, which no
    process could load, and deepcopy failed), and deep-copies and copies."""
    import copy
    import dataclasses
    import pickle

    from xprop.activations import ACTIVATIONS, make_activation

    mine = dataclasses.replace(ACTIVATIONS["tanh"], name="my_unregistered_tanh")
    m = xprop.MLP([2, 3, 1], mine, "sigmoid", "bce", seed=0)
    back = pickle.loads(pickle.dumps(m))
    assert back.arch.hidden[0].name == "my_unregistered_tanh"
    np.testing.assert_array_equal(back.predict(np.ones((2, 2))), m.predict(np.ones((2, 2))))
    cube = make_activation("my_cube", lambda z, xp: z ** 3, lambda z, a, xp: 3 * z ** 2)
    m = xprop.MLP([2, 3, 1], cube, seed=0)
    with pytest.raises((pickle.PicklingError, AttributeError), match="pickle"):
        pickle.dumps(m)  # (pickle's own refusal of a closure; cloudpickle takes it)
    twin = copy.deepcopy(m)
    np.testing.assert_array_equal(twin.predict(np.ones((2, 2))), m.predict(np.ones((2, 2))))
    assert copy.copy(cube) is cube and copy.copy(m.loss_fn) is m.loss_fn


@pytest.mark.parametrize(("activation", "output", "loss"), [
    ("relu", "identity", "mse"), ("leaky_relu(0.2)", "softmax", "cross_entropy"),
    ("gelu", "sigmoid", "bce"), ("tanh", "identity", "bce_with_logits"),
    ("softplus", "exp", "poisson"), ("sigmoid", "identity", "half_sse")])
def test_architectures_activations_and_losses_pickle_by_name(activation, output, loss):
    """Before: ``pickle.dumps(MLP([2, 3, 1]).arch)`` failed on a lambda (identity's
    backward); activations and losses now pickle by name (a few hundred bytes)."""
    import copy
    import pickle

    arch = xprop.MLP([2, 3, 2], activation, output, loss).arch
    for twin in (pickle.loads(pickle.dumps(arch)), copy.deepcopy(arch)):
        assert [a.name for a in twin.activations] == [a.name for a in arch.activations]
        assert twin.head.loss.name == arch.head.loss.name and twin.sizes == arch.sizes
        assert twin.head.fused == arch.head.fused
    assert len(pickle.dumps(arch)) < 1000
    if "(" not in activation:  # leaky_relu(alpha)'s functions are made per alpha
        assert pickle.loads(pickle.dumps(arch)) == arch


def test_a_model_goes_through_joblib_worker_processes(tmp_path):
    """joblib (as scikit-learn's searches use it) sends models to worker processes and back,
    and dumps them to files: the results are the ones trained in this process, bit for bit."""
    pytest.importorskip("joblib")
    import subprocess
    import sys
    import textwrap

    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent("""
        import sys
        import joblib, numpy as np, xprop

        def train(model, X, y, seed):
            model.fit(X, y, xprop.FitConfig(seed=seed), optimizer="adam", lr=0.01, epochs=3,
                      batch_size=8)
            return model

        if __name__ == "__main__":
            rng = np.random.default_rng(0)
            X, y = rng.normal(size=(40, 3)) * 20 + 5, rng.integers(0, 3, 40)
            m = xprop.MLP([3, 6, 3], "tanh", "softmax", "cross_entropy", seed=1).standardize(X)
            remote = joblib.Parallel(n_jobs=2)(
                joblib.delayed(train)(m, X, y, s) for s in (0, 1))
            for seed, got in zip((0, 1), remote):
                here = train(xprop.MLP([3, 6, 3], "tanh", "softmax", "cross_entropy",
                                       seed=1).standardize(X), X, y, seed)
                assert got.standardizer is not None
                assert np.array_equal(got.params.buffer, here.params.buffer), seed
                assert np.array_equal(got.predict_output(X), here.predict_output(X)), seed
            joblib.dump(remote[0], sys.argv[1])
            back = joblib.load(sys.argv[1])
            assert np.array_equal(back.predict(X), remote[0].predict(X))
            print("ok")
    """))
    r = subprocess.run([sys.executable, str(script), str(tmp_path / "m.joblib")],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stdout + r.stderr


def test_layer_sizes_too_large_for_memory_are_named(monkeypatch):
    """A network whose parameters cannot be allocated is a one-line MemoryError naming
    ``layer_sizes`` and the count, not NumPy's bare allocation error."""
    import xprop.mlp

    def no_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate 3 TiB")

    monkeypatch.setattr(xprop.mlp, "draw_parameters", no_memory)
    with pytest.raises(MemoryError, match=r"^layer_sizes: \[2, 1000000000000, 1\] make "
                                          r"4000000000001 parameters"):
        MLP([2, 10**12, 1])


def test_sixth_audit_api_cases():
    """Found by audit: backend=np failed inside the error message's own code; an init
    scale beyond the dtype made inf weights silently; a layer size beyond NumPy's index gave
    NumPy's error; predict_proba of a regression model refused after the forward pass;
    to() advised a dtype argument it does not take."""
    import numpy

    for bad in (numpy, numpy.sum):
        with pytest.raises(xprop.BackendError, match=r"^backend: expected one of"):
            xprop.MLP([2, 3], backend=bad)
    with pytest.raises(ValueError, match=r"^init: 'normal\(1e39\)' draws weights beyond what "
                                         r"float32 holds"):
        xprop.MLP([20, 30], init="normal(1e39)", dtype="float32")
    with pytest.raises(MemoryError, match=r"^layer_sizes: "):
        xprop.MLP([2, 2**62, 2])
    with pytest.raises(ValueError, match=r"^predict_proba: defined for classifiers; this "
                                         r"model has the identity\+mse head"):
        xprop.MLP([2, 3, 1]).predict_proba(numpy.zeros((10**6, 2)))
    with pytest.raises(xprop.BackendError, match=r"use model.astype\('float32'\).to"):
        xprop.MLP([2, 3]).to("array_api_strict", "no_float64")


def _cube(z, xp):
    return z * z * z


def _cube_derivative(z, a, xp):
    return 3.0 * z * z


def test_a_custom_activation_of_module_functions_pickles_by_value():
    """Found by audit: make_activation wrapped the functions in closures, so a model using
    an unregistered activation never pickled (AttributeError on a local object)."""
    import pickle

    import numpy

    cube = xprop.make_activation("cube_unregistered", _cube, _cube_derivative)
    model = xprop.MLP([2, 3, 1], cube, seed=0)
    back = pickle.loads(pickle.dumps(model))
    X = numpy.array([[0.5, -1.0]])
    numpy.testing.assert_array_equal(xprop.to_numpy(back.predict_output(X)),
                                     xprop.to_numpy(model.predict_output(X)))
    assert back.activations[0] == cube


def test_device_features_are_standardised_in_float64_where_the_device_has_it():
    """Found by audit: a float32 model standardised device arrays in float32, rounding the
    mean (1e6) before the subtraction: a feature 1e-3 wide became 0 on torch and
    array-api-strict, while NumPy input kept it."""
    import numpy

    X = numpy.array([[1e6, 0.0], [1e6 + 0.0625, 1.0]])  # float32 values, a mean it has not
    model = xprop.MLP([2, 3, 1], seed=0, dtype="float32")
    model.standardize(X)
    host = xprop.to_numpy(model.prepare(X.astype(numpy.float32))[0])
    device = model.backend.from_host(X.astype(numpy.float32), "float32")
    strict = xprop.MLP([2, 3, 1], seed=0, dtype="float32", backend="array_api_strict")
    strict.set_standardizer(model.standardizer)
    moved = strict.backend.from_host(X.astype(numpy.float32), "float32")
    numpy.testing.assert_array_equal(xprop.to_numpy(model.prepare(device)[0]), host)
    numpy.testing.assert_array_equal(xprop.to_numpy(strict.prepare(moved)[0]), host)
    numpy.testing.assert_array_equal(host[:, 0], [-1.0, 1.0])


def test_a_traced_jax_array_is_refused_in_one_line():
    """Found by audit: model methods under jax.jit/grad/vmap said the tracer was on
    'device None' and advised xprop.to_backend, which a tracer cannot take."""
    jax = pytest.importorskip("jax")
    import numpy

    model = xprop.MLP([2, 3, 1], seed=0, backend="jax", dtype="float32")
    X = model.backend.from_host(numpy.ones((4, 2)), "float32")
    with pytest.raises(TypeError, match=r"^X: a traced jax array \(inside jit, grad or vmap\)"):
        jax.jit(model.predict_output)(X)
    from xprop import network

    out = jax.jit(lambda X: network.forward(model.params, X, model.arch)[0])(X)
    assert out.shape == (4, 1)


def test_labels_as_a_column_and_a_cache_of_another_model():
    """Found by audit: labels given as a column (n, 1) for a softmax model were refused as
    the wrong shape (scikit-learn takes them); backward with another model's cache gave
    NumPy's broadcasting error."""
    import numpy

    model = xprop.MLP([2, 3, 3], "relu", "softmax", "cross_entropy", seed=0)
    X = numpy.ones((4, 2))
    assert model.loss(X, numpy.array([[0], [1], [2], [1]])) == model.loss(X, [0, 1, 2, 1])
    other = xprop.MLP([2, 4, 3], "relu", "softmax", "cross_entropy", seed=0)
    _, cache = other.forward(other.prepare(X)[0])
    with pytest.raises(ValueError, match=r"^cache: from a forward pass of layers \[4, 3\]; "
                                         r"this model's are \[3, 3\]"):
        model.backward(cache, model.backend.from_host([0, 1, 2, 1]))


def test_custom_blocks_return_arrays_of_their_input_shape_and_dtype():
    """Found by audit: a custom loss's ``grad`` of shape ``(n, 1)`` for two outputs was
    broadcast and trained with a wrong gradient (a 0-d ``terms`` crashed inside fit); a
    custom activation returning float64 for float32 input turned a float32 model's output
    float64. Both are one-line errors naming the block."""
    import xprop

    X, y = xprop.datasets.moons(20, seed=0)
    Y = np.eye(2)[y]
    rows = xprop.make_loss("rowgrad_test", lambda a, y, xp: (a - y) ** 2,
                           lambda a, y, xp: xp.sum(2.0 * (a - y), axis=1, keepdims=True))
    model = xprop.MLP([2, 3, 2], "tanh", "tanh", rows, seed=0)
    with pytest.raises(TypeError, match=r"^loss 'rowgrad_test': grad\(a, y, xp\) returned .*"
                                        r"shape \(20, 1\).*expected an array of its input's "
                                        r"type, shape and dtype \(ndarray, \(20, 2\), float64\)"):
        model.fit(X, Y, epochs=2)
    upcast = xprop.make_activation("upcast_test", lambda z, xp: xp.astype(z, xp.float64),
                                   lambda z, a, xp: xp.ones_like(z))
    model = xprop.MLP([2, 3, 2], upcast, dtype="float32", seed=0)
    with pytest.raises(TypeError, match=r"^activation 'upcast_test': forward\(z, xp\) "
                                        r"returned .*float64.*float32\)"):
        model.predict_output(X)


def test_params_are_replaced_only_by_params_of_the_model():
    """Found by audit: ``model.params = other_model.params`` of another layout was accepted
    (predict used the other network, ``save`` wrote part of it, the pickle did not load);
    ``Params.assign`` took a float32 or torch buffer for a float64 NumPy model; and
    ``params == params.copy()`` raised."""
    import xprop

    small = xprop.MLP([2, 3, 1], seed=0)
    big = xprop.MLP([2, 5, 1], seed=0)
    with pytest.raises(ValueError, match=r"^params: expected Params of this model's layout "
                                         r"\(13 values: W0, b0, W1, b1\), got Params of 21"):
        small.params = big.params
    with pytest.raises(ValueError, match=r"^params: expected float32 arrays of numpy"):
        xprop.MLP([2, 3, 1], dtype="float32", seed=0).params = small.params
    buffer = small.params.buffer
    with pytest.raises(ValueError, match=r"^buffer: expected ndarray of shape \(13,\) and "
                                         r"dtype float64.*got ndarray of shape \(13,\) and "
                                         r"dtype float32"):
        small.params.assign(buffer.astype(np.float32))
    assert small.params.buffer is buffer
    small.params.assign(buffer * 2.0)  # a buffer like it: taken
    assert small.params != small.params.copy() and small.params == small.params


def test_model_api_refuses_what_it_would_get_wrong(tmp_path):
    """Found by audit: ``astype(None)`` narrowed a float64 torch model to float32 (the
    namespace's default); ``MLP([2, 1], activation="nope")`` was accepted (no hidden layer
    looked it up); ``to``/``astype`` copies shared the recorded ``columns`` with the
    original; ``to_backend(x, dtype="float32")`` turned values beyond float32 into inf;
    ``Layout.shape_of`` of an unknown name said "tuple.index(x): x not in tuple"; truthy
    strings were taken for ``xor(signed=)`` and ``train_test_split(stratify=)``, and an
    array for ``make_loss(targets=)`` raised NumPy's ambiguity error."""
    import xprop

    model = xprop.MLP([2, 3, 1], seed=0)
    with pytest.raises(ValueError, match=r"^dtype: expected 'float32', 'float64' or a dtype "
                                         r"object, got None"):
        model.astype(None)
    with pytest.raises(ValueError, match=r"^activation: expected one of .* got 'nope'"):
        xprop.MLP([2, 1], activation="nope")
    big = xprop.MLP.from_arrays([np.full((2, 1), 1e39)], None, "identity", "identity", "mse")
    with pytest.raises(ValueError, match=r"^dtype: the parameters overflow float32"), \
            np.errstate(over="ignore"):
        big.astype("float32")  # (they became inf)
    path = big.save(str(tmp_path / "big.npz"))
    with pytest.raises(ValueError, match=r"^dtype: .* holds values beyond float32 .* load it "
                                         r"as float64"):
        xprop.load(path, dtype="float32")  # (the file is fine: it blamed the file)
    model.columns = {"label": "y", "features": ["a", "b"]}
    copy = model.astype("float32")
    copy.columns["features"].append("c")
    assert model.columns == {"label": "y", "features": ["a", "b"]}
    with pytest.raises(ValueError, match=r"^x: values up to 1e\+300 overflow float32"):
        xprop.to_backend(np.array([1.0, 1e300]), "numpy", dtype="float32")
    assert xprop.to_numpy(xprop.to_backend(np.array([np.inf]), "numpy",
                                           dtype="float32")).tolist() == [np.inf]
    with pytest.raises(ValueError, match=r"^name: expected one of W0, b0, W1, b1, got 'W9'"):
        model.arch.layout.shape_of("W9")
    with pytest.raises(ValueError, match=r"^signed: expected True or False, got 'no'"):
        xprop.datasets.xor(signed="no")
    X, y = xprop.datasets.moons(20, seed=0)
    with pytest.raises(ValueError, match=r"^stratify: expected True or False, got 'no'"):
        xprop.datasets.train_test_split(X, y, stratify="no")
    with pytest.raises(ValueError, match=r"^targets: expected 'real', 'counts', 'binary' or "
                                         r"'labels', got"):
        xprop.make_loss("arr_test", lambda a, y, xp: a, lambda a, y, xp: a,
                        targets=np.array(["real", "x"]))
