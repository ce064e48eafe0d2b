"""The public functional core: ``xprop.network`` (pure forward/backward/loss), ``xprop.params``
(named views into one buffer), ``xprop.head`` (the output head) and task inference."""

from __future__ import annotations

import importlib.util
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import xprop
from tests.helpers import assert_backend_array, host
from tests.test_cli import assert_ok, run_cli
from xprop import network
from xprop.head import infer_task, make_head
from xprop.params import Layout, Params

# --------------------------------------------------------------------------- network


def test_core_functions_are_pure_and_take_any_mapping(case):
    """forward/backward/loss_value work on a plain dict of arrays, modify nothing they are
    given, and agree with the model's methods."""
    m = xprop.MLP([3, 5, 4, 2], "tanh", "softmax", "cross_entropy", seed=1, dtype=case.dtype,
                  backend=case.backend)
    rng = np.random.default_rng(0)
    X, Y, _ = m.prepare(rng.standard_normal((7, 3)), rng.integers(0, 2, 7))
    params = {k: case.xp.asarray(v, copy=True) for k, v in m.params.items()}
    before = {k: host(v).copy() for k, v in params.items()}
    X_before = host(X).copy()
    out, cache = network.forward(params, X, m.arch)
    grads = network.backward(params, cache, Y, m.arch)
    value = network.loss_value(cache, Y, m.arch)
    assert_backend_array(out, case.backend)
    assert tuple(out.shape) == (7, 2) and out.dtype == m.dtype
    assert tuple(value.shape) == ()
    assert list(grads) == ["W0", "b0", "W1", "b1", "W2", "b2"]
    assert tuple(grads.buffer.shape) == (m.count_parameters(),)
    assert_backend_array(grads.buffer, case.backend)
    for k, v in params.items():
        np.testing.assert_array_equal(host(v), before[k])
        assert tuple(grads[k].shape) == tuple(v.shape)
    np.testing.assert_array_equal(host(X), X_before)
    ref = m.backward(m.forward(X)[1], Y)
    for k in params:
        np.testing.assert_array_equal(host(grads[k]), host(ref[k]))
    assert float(value) == pytest.approx(m.loss(host(X), host(Y)), rel=1e-6)


def test_input_gradient_on_request(case64):
    m = xprop.MLP([3, 4, 2], "tanh", dtype="float64", backend=case64.backend, seed=2)
    rng = np.random.default_rng(1)
    X, Y, _ = m.prepare(rng.standard_normal((5, 3)), rng.standard_normal((5, 2)))
    _, cache = network.forward(m.params, X, m.arch)
    grads, dX = network.backward(m.params, cache, Y, m.arch, input_grad=True)
    assert tuple(dX.shape) == (5, 3)
    assert isinstance(grads, Params)


def test_architecture_checks_the_number_of_hidden_activations():
    head = make_head("identity", "mse")
    with pytest.raises(ValueError, match="hidden: expected 1 activations"):
        network.Architecture((2, 3, 1), (), head)


# --------------------------------------------------------------------------- params


def test_parameters_are_views_into_one_buffer(case):
    m = xprop.MLP([2, 3, 2], "relu", dtype=case.dtype, backend=case.backend, seed=0)
    buf = m.params.buffer
    assert tuple(buf.shape) == (2 * 3 + 3 + 3 * 2 + 2,)
    flat = np.concatenate([host(v).reshape(-1) for v in m.params.values()])
    np.testing.assert_array_equal(host(buf), flat)
    np.testing.assert_array_equal(
        np.concatenate([v.reshape(-1) for v in m.to_numpy_parameters().values()]), host(buf))
    # an optimizer step updates the whole buffer in one expression and every name sees it
    grad = case.xp.ones_like(buf)
    new = xprop.SGD(lr=0.5).update(buf, grad)
    m.params.assign(new)
    np.testing.assert_array_equal(host(m.params["W0"]).reshape(-1), flat[:6] - 0.5)
    np.testing.assert_array_equal(host(m.params["b1"]), flat[-2:] - 0.5)


def test_in_place_update_where_the_namespace_allows_it():
    m = xprop.MLP([2, 3, 1], "tanh", seed=0)
    buf, W0 = m.params.buffer, m.params["W0"]
    before = W0.copy()
    out = xprop.SGD(lr=1.0).update(buf, np.ones_like(buf))
    assert out is buf  # NumPy: in place, so the views stay live
    np.testing.assert_array_equal(W0, before - 1.0)


def test_jax_buffer_is_replaced_functionally():
    jnp = pytest.importorskip("jax.numpy")
    layout = Layout.for_mlp([2, 3, 1], bias=True)
    buf = jnp.arange(layout.size, dtype=jnp.float32)
    p = Params(layout, buf, jnp)
    new = xprop.SGD(lr=1.0).update(p.buffer, jnp.ones_like(buf))
    assert new is not buf  # immutable: a new array comes back
    np.testing.assert_array_equal(np.asarray(buf), np.arange(layout.size))  # untouched
    p.assign(new)
    np.testing.assert_array_equal(np.asarray(p["b1"]), [layout.size - 2.0])


def test_params_refuse_a_buffer_of_the_wrong_length():
    layout = Layout.for_mlp([2, 2], bias=False)
    with pytest.raises(ValueError, match=r"buffer: expected an array of shape \(4,\)"):
        Params(layout, np.zeros(5), xprop.resolve_backend("numpy").xp)


# --------------------------------------------------------------------------- head

INVALID = [("softmax", "bce"), ("identity", "bce"), ("tanh", "cross_entropy"),
           ("sigmoid", "cross_entropy"), ("sigmoid", "bce_with_logits"),
           ("softmax", "bce_with_logits")]


@pytest.mark.parametrize(("output", "loss"), INVALID)
def test_invalid_pairs_are_refused_when_the_model_is_made(output, loss):
    with pytest.raises(ValueError, match="valid pairs: softmax\\+cross_entropy") as err:
        xprop.MLP([2, 3, 2], "tanh", output, loss)
    assert "output_activation, loss" in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("loss", ["mse", "half_sse"])
@pytest.mark.parametrize("targets", ["labels", "one-hot"])
def test_softmax_with_squared_error_trains_end_to_end(case, loss, targets):
    X, y = xprop.datasets.spirals(60, arms=3, seed=0)
    Y = y if targets == "labels" else np.eye(3)[y]
    m = xprop.MLP([2, 16, 3], "tanh", "softmax", loss, seed=0, dtype=case.dtype,
                  backend=case.backend)
    assert m.is_classifier and m.head.decision == "argmax"
    lr = 0.05 if loss == "half_sse" else 0.5
    h = m.fit(X, Y, lr=lr, epochs=30, batch_size=16)
    assert len(h.accuracy) == 30 and h.loss[-1] < h.loss[0]
    assert 0.0 <= m.accuracy(X, Y) <= 1.0
    pred = m.predict(X)
    assert tuple(pred.shape) == (60,)


def test_head_owns_decision_and_hits():
    xp = xprop.resolve_backend("numpy").xp
    out = np.array([[0.2, 0.8], [0.9, 0.1]])
    head = make_head("softmax", "cross_entropy")
    np.testing.assert_array_equal(head.decide(out, xp), [1, 0])
    assert float(head.hits(out, np.eye(2)[[1, 1]], np.array([1, 1]), xp)) == 1.0
    logit = make_head("identity", "bce_with_logits")
    assert logit.threshold == 0.0 and logit.is_classifier
    np.testing.assert_array_equal(logit.decide(np.array([[-0.1], [0.3]]), xp), [0, 1])
    assert not make_head("identity", "mse").is_classifier
    assert make_head("sigmoid", "bce").fused and not make_head("sigmoid", "mse").fused


# --------------------------------------------------------------------------- task inference


@pytest.mark.parametrize("y", [np.array([0.0, 1.0, 1.0, 0.0]), np.array([0, 1, 1, 0]),
                               np.array([False, True, True, False])], ids=["float", "int",
                                                                          "bool"])
def test_labels_of_any_dtype_make_the_same_classifier(y):
    task = infer_task(y)
    assert (task.n_outputs, task.output_activation, task.loss) == (2, "softmax",
                                                                   "cross_entropy")
    assert task.y.dtype == np.int64
    np.testing.assert_array_equal(task.y, [0, 1, 1, 0])


def test_real_targets_make_a_regression():
    task = infer_task(np.array([0.5, 1.25, 2.0]))
    assert (task.n_outputs, task.output_activation, task.loss) == (1, "identity", "mse")
    task = infer_task(np.array([[0.0, 1.0], [1.0, 0.0]]))  # 2-D: one output per column
    assert (task.n_outputs, task.loss) == (2, "mse")
    bce = infer_task(np.array([0, 1, 1]), loss="bce")
    assert (bce.n_outputs, bce.output_activation, bce.y.dtype) == (1, "sigmoid", np.float64)
    with pytest.raises(ValueError, match="0/1"):
        infer_task(np.array([0, 2]), loss="bce")


@pytest.mark.parametrize("labels", ["float", "bool"])
def test_npz_labels_train_a_classifier_as_csv_labels_do(tmp_path, labels):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 2))
    y = (X[:, 0] > 0).astype(np.float64 if labels == "float" else bool)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    np.savetxt(tmp_path / "d.csv", np.column_stack([X, y.astype(np.float64)]), delimiter=",")
    outs = []
    for name in ("d.npz", "d.csv"):
        r = run_cli(tmp_path, "train", "--data", name, "--epochs", "3", "--quiet")
        assert_ok(r)
        model_line = next(line for line in r.stdout.splitlines() if line.startswith("model:"))
        assert "softmax" in model_line and "cross_entropy" in model_line, model_line
        outs.append(model_line)
        assert "test accuracy" in r.stdout
    assert outs[0] == outs[1]


# --------------------------------------------------------------------------- architecture


@pytest.mark.skipif(importlib.util.find_spec("ruff") is None, reason="ruff is not installed")
def test_no_module_reaches_past_another_modules_public_names():
    """ruff's SLF001 (private member access) finds nothing in the package."""
    r = subprocess.run([sys.executable, "-m", "ruff", "check", "--select", "SLF001",
                        "--no-cache", "xprop"], capture_output=True, text=True,
                       cwd=pathlib.Path(__file__).resolve().parent.parent, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


# --------------------------------------------------------------------------- gradient buffers


def test_backward_into_a_gradient_buffer_gives_the_same_gradients(case):
    """``out=``: on mutable namespaces the result *is* ``out`` (written through its views,
    with the adapter's ``out=`` kernels where it has them); on JAX a new buffer. Either way
    the values equal the portable backward's exactly."""
    m = xprop.MLP([3, 6, 4, 2], ["relu", "tanh"], "softmax", "cross_entropy", seed=2,
                  dtype=case.dtype, backend=case.backend)
    rng = np.random.default_rng(1)
    X, Y, _ = m.prepare(rng.standard_normal((9, 3)), rng.integers(0, 2, 9))
    _, cache = network.forward(m.params, X, m.arch)
    plain = network.backward(m.params, cache, Y, m.arch)
    out = m.params.copy()
    got = network.backward(m.params, cache, Y, m.arch, out=out)
    assert_backend_array(got.buffer, case.backend)
    assert got.buffer.dtype == m.dtype and tuple(got.buffer.shape) == (m.arch.layout.size,)
    assert (got is out) == case.backend.mutable
    np.testing.assert_array_equal(host(got.buffer), host(plain.buffer))
    assert host(out["W1"]).shape == (6, 4)


def test_adapter_kernels_agree_with_the_portable_versions(case):
    """An adapter's ``out=`` kernels (NumPy, torch) write what the portable Adapter's
    assignment writes, bit for bit, and return what they return without ``out``."""
    from xprop.backend import Adapter

    if not case.backend.mutable:
        pytest.skip("immutable arrays: backward never writes into a buffer")
    xp, adapter = case.xp, case.backend.adapter
    if case.backend.name in ("numpy", "torch"):  # libraries whose functions take out=
        assert type(adapter).matmul is not Adapter.matmul
        assert type(adapter).sum_rows is not Adapter.sum_rows
    rng = np.random.default_rng(2)
    a = case.backend.from_host(rng.standard_normal((5, 3)), case.dtype)
    b = case.backend.from_host(rng.standard_normal((5, 4)), case.dtype)
    for ops in (adapter, Adapter()):
        buf = xp.zeros((3 * 4 + 4,), dtype=a.dtype, device=case.backend.device)
        ops.matmul(a.T, b, xp, out=xp.reshape(buf[:12], (3, 4)))
        ops.sum_rows(b, xp, out=buf[12:])
        new = (ops.matmul(a.T, b, xp), ops.sum_rows(b, xp))
        assert all(type(x) is type(a) and x.dtype == a.dtype for x in new)
        np.testing.assert_array_equal(host(xp.reshape(new[0], (-1,))), host(buf[:12]))
        np.testing.assert_array_equal(host(new[1]), host(buf[12:]))
        if ops is adapter:
            fast = host(buf).copy()
    np.testing.assert_array_equal(fast, host(buf))
    np.testing.assert_array_equal(host(buf[12:]), host(xp.sum(b, axis=0)))


def test_named_operation_kernels_agree_with_the_portable_versions(case):
    """A library's own kernels for named operations (torch: addmm, fused activation
    forward/backward, ``sub_`` with alpha) agree with the portable Array-API versions to a
    few ulps, in the namespace, dtype and shape of the portable result."""
    from xprop.activations import ACTIVATIONS
    from xprop.backend import Adapter

    xp, adapter, portable = case.xp, case.backend.adapter, Adapter()
    rng = np.random.default_rng(4)
    put = case.backend.from_host
    A, W = put(rng.standard_normal((5, 3)), case.dtype), put(rng.standard_normal((3, 4)),
                                                             case.dtype)
    b, G = put(rng.standard_normal(4), case.dtype), put(rng.standard_normal((5, 4)), case.dtype)
    rtol = 1e-6 if case.dtype == "float32" else 1e-14

    def same(got, want):
        assert_backend_array(got, case.backend)
        assert got.dtype == want.dtype and tuple(got.shape) == tuple(want.shape)
        np.testing.assert_allclose(host(got), host(want), rtol=rtol, atol=rtol)

    same(adapter.affine(A, W, b, xp), portable.affine(A, W, b, xp))
    same(adapter.affine(A, W, None, xp), A @ W)
    Z = portable.affine(A, W, b, xp)
    acts = tuple(ACTIVATIONS[n] for n in ("relu", "sigmoid", "tanh", "gelu"))
    for act, (f, bwd) in zip(acts, adapter.activation_functions(acts)):
        a = act.forward(Z, xp)
        same(f(Z, xp), a)
        same(bwd(xp.asarray(G, copy=True), Z, a, xp), act.backward(G, Z, a, xp))  # may
        # overwrite its g (backprop's own dA)
    p1, p2 = put(rng.standard_normal(7), case.dtype), put(rng.standard_normal(7), case.dtype)
    g = put(rng.standard_normal(7), case.dtype)
    fast = adapter.sub_scaled(xp.asarray(p1, copy=True), 0.25, g, xp)
    slow = portable.sub_scaled(xp.asarray(p1, copy=True), 0.25, g, xp)
    same(fast, slow)
    alpha = put(0.25, case.dtype)  # a 0-d array (a captured step's learning rate)
    same(adapter.sub_scaled(xp.asarray(p1, copy=True), alpha, g, xp), slow)
    kept = xp.asarray(p2, copy=True)
    got = adapter.sub_scaled(kept, 0.5, g, xp)
    assert (got is kept) == case.backend.mutable  # in place where arrays are mutable


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(3, 5), (64, 128), (300, 700)])
def test_numpy_relu_kernel_is_np_maximum_bit_for_bit(dtype, shape):
    """NumPy's ReLU kernel (blocks against zeros above a size) gives the values, zero signs
    and NaNs of ``np.maximum(z, 0.0)``, for contiguous and strided inputs, across blocks."""
    from xprop.activations import ACTIVATIONS
    from xprop.backend.numpy_ import BLOCK, NumpyAdapter

    rng = np.random.default_rng(5)
    z = rng.standard_normal(shape).astype(dtype)
    z.reshape(-1)[::7] = -0.0
    z.reshape(-1)[3::11] = np.nan
    z.reshape(-1)[5::13] = -np.inf
    z.reshape(-1)[-1] = np.inf
    (forward, _), = NumpyAdapter().activation_functions((ACTIVATIONS["relu"],))
    assert shape[0] * shape[1] < BLOCK or shape[0] * shape[1] > 2 * BLOCK  # one or 3+ blocks
    for x in (z, z[:, ::2], z.T):
        got, want = forward(x, np), np.maximum(x, 0.0)
        assert type(got) is np.ndarray and got.dtype == x.dtype and got.shape == x.shape
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int64"])
@pytest.mark.parametrize("shape", [(5,), (64, 10), (300, 2), (3, 400, 10), (300, 16),
                                   (300, 17), (0, 10)])
def test_numpy_row_maximum_gives_the_values_of_np_max(dtype, shape):
    """NumPy's ``max_rows`` (column by column for many short rows of floats: here the
    (300, 2), (3, 400, 10) and (300, 16) stacks) gives ``np.max(x, axis=-1, keepdims=True)``
    and the portable adapter's values and NaNs, for contiguous, strided and reversed views
    (values: of a tie of 0.0 and -0.0 either zero may come, as in NumPy's SIMD loop)."""
    from xprop.backend import Adapter
    from xprop.backend.numpy_ import NumpyAdapter

    rng = np.random.default_rng(6)
    x = np.asarray(rng.standard_normal(shape) * 50, dtype)
    if x.size and dtype != "int64":
        flat = x.reshape(-1)
        flat[::7], flat[3::11], flat[5::13], flat[-1] = -0.0, np.nan, -np.inf, np.inf
    for y in (x, x[..., ::2], x[::-1]):
        got, want = NumpyAdapter().max_rows(y, np), np.max(y, axis=-1, keepdims=True)
        assert type(got) is np.ndarray and got.dtype == y.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(got, Adapter().max_rows(y, np))


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("shape", [(), (4, 1), (64, 10)])
def test_numpy_sigmoid_kernel_is_the_portable_formula_bit_for_bit(dtype, shape):
    """NumPy's sigmoid kernel gives the portable sigmoid's values bit for bit (zeros of
    both signs, infinities, overflowing and NaN inputs, strided views), as a new array of
    ``z``'s type, dtype and shape."""
    from xprop.activations import ACTIVATIONS, sigmoid
    from xprop.backend.numpy_ import NumpyAdapter

    (forward, _), = NumpyAdapter().activation_functions((ACTIVATIONS["sigmoid"],))
    assert forward is not sigmoid
    rng = np.random.default_rng(9)
    z = np.asarray(rng.standard_normal(shape) * 40, dtype)
    if z.ndim:
        special = np.array([-0.0, 0.0, np.inf, -np.inf, np.nan, 800.0, -800.0, 1e-30])
        z.reshape(-1)[:special.size] = special[:z.size]
    for x in (z, z[:, ::2] if z.ndim else z, z.T):
        kept = x.copy()
        got, want = forward(x, np), sigmoid(x, np)
        assert type(got) is type(want) and got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(x, kept)  # z is left as it was


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("shape", [(4, 1), (64, 10), (3, 0)])
def test_numpy_tanh_backward_kernel_is_the_portable_formula_bit_for_bit(dtype, shape):
    """NumPy's tanh backward writes the portable ``g * (1 - a * a)`` into ``g``, bit for
    bit (saturated, zero and NaN activations included)."""
    from xprop.activations import ACTIVATIONS
    from xprop.backend.numpy_ import NumpyAdapter

    tanh = ACTIVATIONS["tanh"]
    (_, backward), = NumpyAdapter().activation_functions((tanh,))
    assert backward is not tanh.backward
    rng = np.random.default_rng(3)
    z = np.asarray(rng.standard_normal(shape) * 5, dtype)
    if z.size:
        z.reshape(-1)[:4] = [0.0, 30.0, -30.0, np.nan][: z.size]
    a, g = np.tanh(z), np.asarray(rng.standard_normal(shape), dtype)
    want = tanh.backward(g, z, a, np)
    got = backward(g, z, a, np)
    assert got is g and got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int64"])
def test_numpy_matmul_kernel_is_np_matmul_bit_for_bit(dtype, tmp_path):
    """NumPy's matmul kernel (``np.dot`` for BLAS-ready matrices) gives ``np.matmul``'s
    values bit for bit, of its type, dtype and shape, with and without ``out``: C- and
    Fortran-ordered matrices, strided views (which ``np.dot`` would sum in another order),
    matrix-vector shapes, empty ones, stacks and memory-mapped arrays; and the affine map
    built on it agrees with ``A @ W + b``."""
    from xprop.backend import Adapter
    from xprop.backend.numpy_ import NumpyAdapter

    ops, rng = NumpyAdapter(), np.random.default_rng(11)

    def draw(*shape):
        return np.asarray(rng.standard_normal(shape) * 10, dtype)

    mapped = np.lib.format.open_memmap(tmp_path / "a.npy", "w+", dtype, (3, 600))
    mapped[...] = draw(3, 600)
    pairs = [(draw(m, k), draw(k, n)) for m, k, n in
             [(4, 2, 4), (4, 4, 1), (1, 5, 3), (64, 130, 33), (300, 600, 1), (0, 3, 2), (3, 0, 2)]]
    pairs += [(a.T.copy().T, b) for a, b in pairs[:4]]  # Fortran-ordered
    pairs += [(draw(3, 1200)[:, ::2], draw(600, 1)), (draw(6, 600)[::2], draw(1200, 1)[::2]),
              (draw(5, 4, 3), draw(3, 2)), (mapped, draw(600, 2)), (draw(4, 3), draw(3)),
              (draw(4, 3).T, draw(4, 2).T.copy().T), (np.asmatrix(draw(3, 4)), draw(4, 2)),
              (draw(4, 5), draw(5, 3).astype(np.float32)), (draw(4, 5) > 0, draw(5, 2) > 0),
              (draw(4, 5) + 1j * draw(4, 5), draw(5, 3))]
    for a, b in pairs:
        want = np.matmul(a, b)
        got = ops.matmul(a, b, np)
        assert type(got) is type(want) and got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)
        for order in ("C", "F"):  # (np.matmul itself may round otherwise into F order)
            out, into = (np.empty(want.shape, want.dtype, order=order) for _ in "ab")
            assert ops.matmul(a, b, np, out=out) is out
            np.testing.assert_array_equal(out, np.matmul(a, b, out=into))
        if a.ndim == b.ndim == 2 and want.dtype.kind == "f" and type(a) is np.ndarray:
            bias = draw(b.shape[1])
            np.testing.assert_array_equal(ops.affine(a, b, bias, np),
                                          Adapter().affine(a, b, bias, np))


def test_numpy_relu_kernel_keeps_what_np_maximum_does_for_other_arrays(tmp_path):
    """Above a block, ndarray subclasses (np.matrix, memmap) and integer arrays still get
    ``np.maximum(z, 0.0)``'s result and type."""
    from xprop.activations import ACTIVATIONS
    from xprop.backend.numpy_ import BLOCK, NumpyAdapter

    (forward, _), = NumpyAdapter().activation_functions((ACTIVATIONS["relu"],))
    rng = np.random.default_rng(7)
    z = rng.standard_normal((300, BLOCK // 100))
    mm = np.lib.format.open_memmap(tmp_path / "z.npy", mode="w+", dtype=z.dtype, shape=z.shape)
    mm[...] = z
    for x in (np.asmatrix(z), mm, (z * 10).astype(np.int64)):
        got, want = forward(x, np), np.maximum(x, 0.0)
        assert type(got) is type(want) and got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("blas", [True, False])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_numpy_long_update_is_the_one_expression(dtype, blas, monkeypatch, tmp_path):
    """NumPy's ``sub_scaled`` on a long buffer (BLAS ``?axpy`` where NumPy's wheel has it,
    else slices through a small temporary) writes what ``p -= alpha * g`` writes, for Python,
    0-d and NumPy-scalar learning rates: bit for bit through the temporary; through BLAS
    within the rounding of the product, which a fused multiply-add saves (NaN, inf and
    signed zeros alike)."""
    from xprop.backend import numpy_
    from xprop.backend.numpy_ import UPDATE_BLOCK, NumpyAdapter

    if not blas:
        monkeypatch.setattr(numpy_, "blas_axpy", dict)
    calls = []
    if blas and numpy_.blas_axpy():
        def counted(f):
            return lambda *a: calls.append(a[0]) or f(*a)

        wrapped = {k: counted(f) for k, f in numpy_.blas_axpy().items()}
        monkeypatch.setattr(numpy_, "blas_axpy", lambda: wrapped)
    rng = np.random.default_rng(6)
    n = 2 * UPDATE_BLOCK + 12345
    p0, g = rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)
    g[::97] = np.nan
    g[5::101] = np.inf
    p0[7::89] = -0.0
    g[7::178] = 0.0

    def check(got, want, alpha):
        assert got.dtype == want.dtype and got.shape == want.shape
        if not blas:
            np.testing.assert_array_equal(got, want)
        nan = np.isnan(want)
        np.testing.assert_array_equal(np.isnan(got), nan)
        np.testing.assert_array_equal(np.signbit(got[~nan]), np.signbit(want[~nan]))
        fin = np.isfinite(want)
        np.testing.assert_array_equal(got[~fin & ~nan], want[~fin & ~nan])  # +-inf
        # the product's own rounding, which a fused multiply-add skips, plus the result's
        tol = np.spacing(np.abs(alpha * g)) + np.spacing(np.abs(want))
        assert np.all(np.abs(got[fin] - want[fin]) <= tol[fin])

    for alpha in (0.1, np.asarray(0.1, dtype=dtype), np.float64(0.1), np.float32(0.1),
                  np.full(n, 0.1, dtype=dtype), 0.0, 1e-50):  # 1e-50: 0 in float32
        want = p0.copy()
        want -= alpha * g
        p = p0.copy()
        got = NumpyAdapter().sub_scaled(p, alpha, g, np)
        assert got is p
        check(got, want, alpha)
    if blas and numpy_.blas_axpy():  # the 0.1 cases of the model's dtype (not 0, not a
        # vector), and 1e-50 in float64
        assert calls == [n] * (3 if dtype == "float32" else 4)
        mapped = np.memmap(tmp_path / "p.bin", dtype=dtype, mode="w+", shape=(n,))
        mapped[:] = p0
        want = p0.copy()
        want -= 0.1 * g
        check(NumpyAdapter().sub_scaled(mapped, 0.1, g, np), want, 0.1)
        assert len(calls) == (3 if dtype == "float32" else 4)  # memmaps: NumPy's update
    other = g.astype(np.float64 if dtype == "float32" else np.float32)  # another dtype
    want, p = p0.copy(), p0.copy()
    want -= 0.1 * other
    np.testing.assert_array_equal(NumpyAdapter().sub_scaled(p, 0.1, other, np), want)
    buf = np.concatenate([p0, p0[:1]])  # g overlapping p one element further on
    want = buf.copy()
    want[:-1] -= 0.1 * want[1:]
    np.testing.assert_array_equal(NumpyAdapter().sub_scaled(buf[:-1], 0.1, buf[1:], np),
                                  want[:-1])
    swapped = p0.astype(p0.dtype.newbyteorder())  # same values, other byte order
    want = p0.copy()
    want -= 0.1 * g
    got = NumpyAdapter().sub_scaled(swapped, 0.1, g.astype(swapped.dtype), np)
    np.testing.assert_array_equal(got, want)
    frozen = p0.copy()
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        NumpyAdapter().sub_scaled(frozen, 0.1, g, np)


def test_numpy_blas_axpy_is_found_in_numpy_wheels_and_can_be_turned_off(monkeypatch):
    """NumPy's Linux, macOS and Windows wheels bundle an ILP64 OpenBLAS: the update finds
    its ``?axpy`` there (other builds fall back to NumPy, which the test above covers);
    ``XPROP_NUMPY_BLAS_AXPY=0`` turns it off."""
    from xprop.backend import numpy_

    cfg = getattr(np, "__config__", None)
    blas = str(getattr(cfg, "CONFIG", {}).get("Build Dependencies", {}).get("blas", {}))
    if "scipy-openblas" not in blas and "openblas64" not in blas:  # NumPy 2 / 1.26 wheels
        pytest.skip("NumPy was not built with the OpenBLAS of its wheels")
    assert set(numpy_.blas_axpy()) == {"float32", "float64"}
    numpy_.blas_axpy.cache_clear()
    try:
        monkeypatch.setenv(numpy_.AXPY_ENV, "0")
        assert numpy_.blas_axpy() == {}
    finally:
        numpy_.blas_axpy.cache_clear()


# --------------------------------------------------------------------------- per-sample losses


@pytest.mark.parametrize(("output", "loss"), [
    ("softmax", "cross_entropy"), ("sigmoid", "bce"), ("identity", "bce_with_logits"),
    ("identity", "mse"), ("tanh", "half_sse"), ("softmax", "mse"),
])
def test_head_rows_add_up_to_the_value_also_for_stacks_of_epochs(case64, output, loss):
    """``rows`` are per-sample losses whose mean (sum for half_sse) is the value; a stack
    ``(epochs, n, k)`` gives each epoch's rows at once (what fit's records use)."""
    xp = case64.xp
    head = make_head(output, loss)
    rng = np.random.default_rng(3)
    k = 3
    zs = [case64.backend.from_host(rng.standard_normal((6, k)) * 2) for _ in range(4)]
    Y = case64.backend.from_host(np.eye(k)[rng.integers(0, k, 6)])
    stacked = head.rows(xp.stack(zs), xp.stack([head.forward(z, xp) for z in zs]), Y, xp)
    assert tuple(stacked.shape) == (4, 6)
    for i, z in enumerate(zs):
        a = head.forward(z, xp)
        rows = head.rows(z, a, Y, xp)
        value = float(head.value(z, a, Y, xp))
        total = float(xp.sum(rows)) / (1 if head.summed else 6)
        np.testing.assert_allclose(total, value, rtol=1e-14)
        np.testing.assert_array_equal(host(stacked[i, ...]), host(rows))


def test_a_replaced_activation_runs_its_own_functions(case):
    """``dataclasses.replace`` of a built-in with other functions keeps its name and kernel
    field, but no library kernel stands in for the new functions."""
    import dataclasses

    from xprop.activations import ACTIVATIONS

    relu = ACTIVATIONS["relu"]
    mine = dataclasses.replace(relu, backward=lambda g, z, a, xp: 2.0 * g)
    assert relu.named_operation == "relu" and mine.named_operation is None
    (_, bwd), = case.backend.adapter.activation_functions((mine,))
    assert bwd is mine.backward


def test_an_architecture_pickles_after_use():
    import pickle

    m = xprop.MLP([2, 3, 1], "relu", "sigmoid", "bce")
    m.forward(np.zeros((1, 2)))
    arch = pickle.loads(pickle.dumps(m.arch))
    assert arch == m.arch


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bool"])
def test_numpys_fast_namespace_gives_the_canonical_results(dtype):
    """``fast_namespace``'s ``sum``, ``max`` and ``take`` skip NumPy's Python wrappers: the
    same dtypes, shapes and bits as ``array_api_compat.numpy``'s, for every axis, keepdims and
    index array (memory-mapped and other ndarray subclasses go through the canonical take)."""
    import array_api_compat.numpy as canonical

    from xprop.backend import fast_namespace

    fast = fast_namespace(canonical)
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((7, 5, 3)) * 10).astype(dtype)
    idx = rng.integers(0, 5, 9)
    cases = [("sum", {"axis": a, "keepdims": k}) for a in (None, 0, 1, -1, (0, 2))
             for k in (False, True)]
    cases += [("max", {"axis": a, "keepdims": k}) for a in (None, 0, -1) for k in (False, True)]
    cases += [("take", {"indices": idx, "axis": a}) for a in (1, -2)]
    cases += [("take", {"indices": idx[:3], "axis": 0})]
    for name, kw in cases:
        if name == "take":
            kw = dict(kw)
            args = (x, kw.pop("indices"))
        else:
            args = (x,)
        got, want = getattr(fast, name)(*args, **kw), getattr(canonical, name)(*args, **kw)
        assert type(got) is type(want) and got.dtype == want.dtype, (name, kw)
        assert got.shape == want.shape, (name, kw)
        np.testing.assert_array_equal(got, want)
    sub = x.view(np.recarray) if dtype == "float64" else np.asmatrix(x[0])
    np.testing.assert_array_equal(fast.take(sub, idx[:2], axis=0),
                                  canonical.take(sub, idx[:2], axis=0))
