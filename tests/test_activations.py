"""Activations: values against hand-computed numbers, numerical stability, derivatives against
finite differences, backward passes, name parsing and kink flags.

Tolerances: forward values are compared with float64 literals (computed with the ``math``
module) using ``parity_rtol(dtype)`` / ``parity_atol(dtype)``: 1e-12 relative for float64, and
1e-5 relative with a 1e-6 absolute floor for float32 (a single elementwise op in float32 is
within a few ulps, ~1e-7, of the float64 value, so 1e-5 leaves a wide margin). Derivatives are
checked in float64 against five-point central differences with step 1e-3 (truncation ~h^4,
rounding ~u/h, both ~1e-13), at 1e-8 relative.
"""

from __future__ import annotations

import contextlib
import math
import warnings

import numpy as np
import pytest

from tests.helpers import assert_backend_array, host
from xprop.activations import ACTIVATIONS, Activation, get_activation
from xprop.tolerances import parity_atol, parity_rtol

NAMES = sorted(ACTIVATIONS)
ELEMENTWISE = [n for n in NAMES if n != "softmax"]

# name -> (input rows, expected output rows), every number computed by hand / with ``math``
GELU_C = math.sqrt(2.0 / math.pi)
HAND = {
    "identity": ([[-2.0, 0.0, 1.5]], [[-2.0, 0.0, 1.5]]),
    "relu": ([[-1.0, 0.0, 2.5], [-0.5, 3.0, -7.0]], [[0.0, 0.0, 2.5], [0.0, 3.0, 0.0]]),
    "leaky_relu": ([[-2.0, 0.0, 3.0], [-100.0, 0.5, -0.5]],
                   [[-0.02, 0.0, 3.0], [-1.0, 0.5, -0.005]]),
    "sigmoid": ([[0.0, 1.0, -1.0], [2.0, -3.0, 0.0]],
                [[0.5, 0.7310585786300049, 0.2689414213699951],
                 [0.8807970779778823, 0.04742587317756678, 0.5]]),
    "tanh": ([[0.0, 0.5, -2.0], [1.0, -0.5, 0.0]],
             [[0.0, 0.46211715726000974, -0.9640275800758169],
              [0.7615941559557649, -0.46211715726000974, 0.0]]),
    "softmax": ([[1.0, 2.0, 3.0], [5.0, 5.0, 5.0], [0.0, 0.0, -math.inf]],
                [[0.09003057317038046, 0.24472847105479767, 0.6652409557748219],
                 [1 / 3, 1 / 3, 1 / 3],
                 [0.5, 0.5, 0.0]]),
    "softplus": ([[0.0, 1.0, -1.0], [3.0, -50.0, 0.0]],
                 [[0.6931471805599453, 1.3132616875182228, 0.31326168751822286],
                  [3.048587351573742, 1.9287498479639178e-22, 0.6931471805599453]]),
    "exp": ([[0.0, 1.0, -1.0], [2.0, -3.0, 0.5]],
            [[1.0, 2.718281828459045, 0.36787944117144233],
             [7.38905609893065, 0.049787068367863944, 1.6487212707001282]]),
    "gelu": ([[1.0, 0.0, 2.0], [-1.0, 0.0, 1.0]],
             [[0.8411919906082768, 0.0, 1.954597694087775],
              [-0.15880800939172324, 0.0, 0.8411919906082768]]),
}


def _to(case, rows):
    return case.backend.from_host(np.asarray(rows, dtype=np.float64), case.dtype)


def _forward(act, case, rows):
    z = _to(case, rows)
    a = act.forward(z, case.xp)
    assert_backend_array(a, case.backend)
    return z, a


def test_hand_table_covers_every_activation():
    assert set(HAND) == set(ACTIVATIONS)
    # the gelu literals are the tanh approximation, not the erf form
    assert math.isclose(0.5 * (1 + math.tanh(GELU_C * (1 + 0.044715))), 0.8411919906082768,
                        rel_tol=1e-15)


@pytest.mark.parametrize("name", NAMES)
def test_forward_matches_hand_values(case, name):
    rows, expected = HAND[name]
    _, a = _forward(ACTIVATIONS[name], case, rows)
    out = host(a)
    assert out.dtype == np.dtype(case.dtype)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out, np.asarray(expected), rtol=parity_rtol(case.dtype),
                               atol=parity_atol(case.dtype))


@pytest.mark.parametrize("name", NAMES)
def test_call_and_grad_helpers_agree_with_forward_and_derivative(case, name):
    act = ACTIVATIONS[name]
    rows, _ = HAND[name]
    rows = np.nan_to_num(np.asarray(rows), neginf=-4.0)
    z, a = _forward(act, case, rows)
    via_call = act(z)
    assert_backend_array(via_call, case.backend)
    np.testing.assert_array_equal(host(via_call), host(a))
    d = act.grad(z)
    assert_backend_array(d, case.backend)
    np.testing.assert_array_equal(host(d), host(act.derivative(z, a, case.xp)))


# --------------------------------------------------------------------------- stability


@contextlib.contextmanager
def _strict():
    """Fail on any warning and on NumPy overflow / invalid / divide (underflow to 0 is fine)."""
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        yield


def test_sigmoid_is_stable_for_huge_inputs(case):
    z = _to(case, [[-1000.0, -800.0, 800.0, 1000.0], [-700.0, 0.0, 700.0, 30.0]])
    with _strict():
        a = ACTIVATIONS["sigmoid"].forward(z, case.xp)
        d = ACTIVATIONS["sigmoid"].derivative(z, a, case.xp)
    assert_backend_array(a, case.backend)
    out, dout = host(a), host(d)
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(dout))
    # exp(-800) underflows to 0 in both dtypes: the limits are exact
    np.testing.assert_array_equal(out[0], [0.0, 0.0, 1.0, 1.0])
    np.testing.assert_array_equal(dout[0], [0.0, 0.0, 0.0, 0.0])
    assert 0.0 <= out[1, 0] <= 1e-300 and out[1, 1] == 0.5 and out[1, 2] == 1.0
    np.testing.assert_allclose(out[1, 3], 1.0 / (1.0 + math.exp(-30.0)),
                               rtol=parity_rtol(case.dtype))


def test_gelu_keeps_its_relative_precision_in_the_negative_tail(case):
    """Found by audit: ``0.5 z (1 + tanh(u))`` cancels for negative z (float64 gelu(-8) came
    out 0 and its derivative 100% off; float32 from z = -5 on). Computed as ``z sigmoid(2u)``
    both hold every digit of the dtype. Literals: the tanh approximation in 60-digit
    arithmetic (mpmath)."""
    z = _to(case, [[-8.0, -5.0, -4.0]])
    act = ACTIVATIONS["gelu"]
    with _strict():
        a = act.forward(z, case.xp)
        d = act.derivative(z, a, case.xp)
    assert_backend_array(a, case.backend)
    rtol = parity_rtol(case.dtype)
    np.testing.assert_allclose(
        host(a), [[-3.1077829375011112e-21, -2.291796196629506e-07, -7.024594819237268e-05]],
        rtol=rtol, atol=0)
    np.testing.assert_allclose(
        host(d), [[-4.7147845041068414e-20, -1.5463619875325946e-06, -0.0003351231971226708]],
        rtol=rtol, atol=0)
    # finite z whose cube overflows (the derivative was 0 * inf = NaN): the exact limits
    z = _to(case, [[-1e20, -31.0, 31.0, 1e20]])
    with _strict():
        a = act.forward(z, case.xp)
        d = act.derivative(z, a, case.xp)
    np.testing.assert_array_equal(host(a), [[0.0, 0.0, *host(z)[0, 2:]]])  # (1e20 in float32)
    np.testing.assert_array_equal(host(d), [[0.0, 0.0, 1.0, 1.0]])


def test_softmax_is_stable_for_huge_logits(case):
    z = _to(case, [[1000.0, 1001.0], [-1000.0, -1001.0], [1000.0, 0.0]])
    with _strict():
        a = ACTIVATIONS["softmax"].forward(z, case.xp)
    assert_backend_array(a, case.backend)
    out = host(a)
    assert np.all(np.isfinite(out))
    lo, hi = 0.2689414213699951, 0.7310585786300049  # 1/(1+e), e/(1+e)
    np.testing.assert_allclose(out[:2], [[lo, hi], [hi, lo]], rtol=parity_rtol(case.dtype))
    np.testing.assert_array_equal(out[2], [1.0, 0.0])
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=parity_rtol(case.dtype))


def test_softplus_is_stable_for_huge_inputs(case):
    z = _to(case, [[-800.0, 800.0, -1000.0, 1000.0]])
    with _strict():
        a = ACTIVATIONS["softplus"].forward(z, case.xp)
        d = ACTIVATIONS["softplus"].derivative(z, a, case.xp)
    out = host(a)
    assert_backend_array(a, case.backend)
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(host(d)))
    np.testing.assert_array_equal(out, [[0.0, 800.0, 0.0, 1000.0]])
    np.testing.assert_array_equal(host(d), [[0.0, 1.0, 0.0, 1.0]])


@pytest.mark.parametrize("name", ["tanh", "gelu", "relu", "leaky_relu", "identity"])
def test_other_activations_finite_for_huge_inputs(case, name):
    z = _to(case, [[-1000.0, -800.0, 800.0, 1000.0]])
    act = ACTIVATIONS[name]
    with _strict():
        a = act.forward(z, case.xp)
        d = act.derivative(z, a, case.xp)
    assert np.all(np.isfinite(host(a))) and np.all(np.isfinite(host(d)))
    # every one of them is the identity for large positive z
    np.testing.assert_array_equal(host(a)[0, 2:], [800.0, 1000.0] if name != "tanh" else 1.0)


# --------------------------------------------------------------------------- derivatives

# float64 points away from the kink at 0 (relu, leaky_relu)
Z_POINTS = np.array([[-2.1, -0.7, -0.3, 0.4, 1.3, 2.6],
                     [3.2, -1.7, 0.05, -0.05, 0.9, -4.0]])
FD_STEP = 1e-3
FD_RTOL = 1e-8
FD_ATOL = 1e-10


def _five_point(f, z: np.ndarray, h: float = FD_STEP) -> np.ndarray:
    """(-f(z+2h) + 8 f(z+h) - 8 f(z-h) + f(z-2h)) / (12 h), elementwise."""
    return (-f(z + 2 * h) + 8 * f(z + h) - 8 * f(z - h) + f(z - 2 * h)) / (12 * h)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_derivative_matches_finite_differences(case64, name):
    act = ACTIVATIONS[name]
    xp = case64.xp

    def f(zh):
        return host(act.forward(case64.backend.from_host(zh, "float64"), xp))

    z, a = _forward(act, case64, Z_POINTS)
    d = act.derivative(z, a, xp)
    assert_backend_array(d, case64.backend)
    np.testing.assert_allclose(host(d), _five_point(f, Z_POINTS), rtol=FD_RTOL, atol=FD_ATOL)


def test_kinked_derivatives_use_a_subgradient_at_zero(case):
    z = _to(case, [[0.0, -1.0, 1.0]])
    relu, leaky = ACTIVATIONS["relu"], ACTIVATIONS["leaky_relu"]
    dr = host(relu.derivative(z, relu.forward(z, case.xp), case.xp))
    dl = host(leaky.derivative(z, leaky.forward(z, case.xp), case.xp))
    assert 0.0 <= dr[0, 0] <= 1.0
    np.testing.assert_array_equal(dr[0, 1:], [0.0, 1.0])
    assert 0.01 - 1e-8 <= dl[0, 0] <= 1.0
    np.testing.assert_allclose(dl[0, 1:], [0.01, 1.0], rtol=parity_rtol(case.dtype))


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_backward_is_g_times_derivative(case, name):
    act = ACTIVATIONS[name]
    rng = np.random.default_rng(7)
    g_host = rng.normal(size=Z_POINTS.shape)
    z, a = _forward(act, case, Z_POINTS)
    g = case.backend.from_host(g_host, case.dtype)
    out = act.backward(g, z, a, case.xp)
    assert_backend_array(out, case.backend)
    assert host(out).dtype == np.dtype(case.dtype)
    expected = host(g) * host(act.derivative(z, a, case.xp))
    np.testing.assert_allclose(host(out), expected, rtol=parity_rtol(case.dtype),
                               atol=parity_atol(case.dtype))


def test_softmax_jacobian_matches_finite_differences(case64):
    sm = ACTIVATIONS["softmax"]
    xp = case64.xp
    z_host = Z_POINTS[:, :4]
    n, k = z_host.shape
    z, a = _forward(sm, case64, z_host)
    jac = sm.derivative(z, a, xp)
    assert_backend_array(jac, case64.backend)
    jac_h = host(jac)
    assert jac_h.shape == (n, k, k)
    fd = np.empty((n, k, k))  # fd[r, i, j] = d a_i / d z_j on row r
    for j in range(k):
        def f(zj, j=j):
            zp = z_host.copy()
            zp[:, j] = zj
            return host(sm.forward(case64.backend.from_host(zp, "float64"), xp))
        h = FD_STEP
        col = z_host[:, j]
        fd[:, :, j] = (-f(col + 2 * h) + 8 * f(col + h) - 8 * f(col - h) + f(col - 2 * h)) / (
            12 * h)
    np.testing.assert_allclose(jac_h, fd, rtol=FD_RTOL, atol=FD_ATOL)
    # each row of the Jacobian of softmax sums to 0 (outputs sum to 1)
    np.testing.assert_allclose(jac_h.sum(axis=1), 0.0, atol=1e-15)


def test_softmax_backward_is_g_times_jacobian(case):
    sm = ACTIVATIONS["softmax"]
    z_host = Z_POINTS[:, :5]
    rng = np.random.default_rng(11)
    g_host = rng.normal(size=z_host.shape)
    z, a = _forward(sm, case, z_host)
    g = case.backend.from_host(g_host, case.dtype)
    out = sm.backward(g, z, a, case.xp)
    assert_backend_array(out, case.backend)
    jac = host(sm.derivative(z, a, case.xp))
    expected = np.einsum("ni,nij->nj", host(g).astype(np.float64), jac.astype(np.float64))
    np.testing.assert_allclose(host(out), expected, rtol=parity_rtol(case.dtype, 5),
                               atol=parity_atol(case.dtype))


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(("spec", "name"), [
    ("linear", "identity"), ("none", "identity"), ("logistic", "sigmoid"),
    (" ReLU ", "relu"), ("TANH", "tanh"), ("softmax", "softmax"), ("gelu", "gelu"),
    ("Leaky_ReLU", "leaky_relu"), ("softplus", "softplus"),
])
def test_get_activation_names_and_aliases(spec, name):
    act = get_activation(spec)
    assert act is ACTIVATIONS[name]
    assert act.name == name


def test_get_activation_passes_an_activation_through():
    act = ACTIVATIONS["tanh"]
    assert get_activation(act) is act
    custom = Activation("mine", lambda z, xp: z, lambda z, a, xp: xp.ones_like(z),
                        lambda g, z, a, xp: g)
    assert get_activation(custom) is custom


@pytest.mark.parametrize(("spec", "alpha"), [
    ("leaky_relu(0.2)", 0.2), ("leaky_relu( 0.3 )", 0.3), ("LEAKY_RELU(1e-3)", 1e-3),
    ("leaky_relu(0)", 0.0),
])
def test_get_activation_parses_leaky_relu_slope(case, spec, alpha):
    act = get_activation(spec)
    assert act.kink is True
    assert act.name == f"leaky_relu({alpha!r})"
    z = _to(case, [[-2.0, 3.0]])
    a = act.forward(z, case.xp)
    assert_backend_array(a, case.backend)
    np.testing.assert_allclose(host(a), [[-2.0 * alpha, 3.0]], rtol=parity_rtol(case.dtype),
                               atol=parity_atol(case.dtype))
    d = host(act.derivative(z, a, case.xp))
    np.testing.assert_allclose(d, [[alpha, 1.0]], rtol=parity_rtol(case.dtype))


def test_default_leaky_slope_spelled_out_keeps_plain_name():
    assert get_activation("leaky_relu(0.01)").name == "leaky_relu"


@pytest.mark.parametrize(("spec", "shown"), [
    ("swish", "'swish'"), ("relu6", "'relu6'"), ("", "''"), ("leaky_relu()", "'leaky_relu()'"),
])
def test_get_activation_unknown_name(spec, shown):
    with pytest.raises(ValueError, match=r"^activation: ") as info:
        get_activation(spec)
    assert shown in str(info.value)
    assert "relu" in str(info.value)  # lists the valid names


@pytest.mark.parametrize("bad", ["-0.1", "abc", "inf", "nan", "-inf"])
def test_get_activation_bad_leaky_slope(bad):
    with pytest.raises(ValueError, match=r"^activation: leaky_relu slope") as info:
        get_activation(f"leaky_relu({bad})")
    assert f"leaky_relu({bad})" in str(info.value)


@pytest.mark.parametrize("bad", [None, 3, 0.5, ["relu"]])
def test_get_activation_rejects_non_strings(bad):
    with pytest.raises(ValueError, match=r"^activation: ") as info:
        get_activation(bad)
    assert repr(bad) in str(info.value)


@pytest.mark.parametrize("name", NAMES)
def test_kink_flags(name):
    assert ACTIVATIONS[name].kink is (name in ("relu", "leaky_relu"))
    assert ACTIVATIONS[name].name == name


def test_user_blocks_cannot_take_names_a_lookup_reads_otherwise():
    """Found by audit: ``make_activation("tanh", 2 tanh)`` was rebuilt as the built-in tanh
    by save/load, pickle and deepcopy (outputs changed) and ``"sigmoid"`` was fused with
    bce (correct derivatives FAILED); ``register_activation`` took ``leaky_relu(0.1)``,
    ``MyAct`` or a non-string name that no lookup returns (a non-string broke every later
    unknown-name error); the same for losses."""
    import xprop

    tanh2 = (lambda z, xp: 2.0 * xp.tanh(z), lambda z, a, xp: 2.0 - a * a / 2.0)
    for name in ("tanh", " Sigmoid ", "logistic", "leaky_relu(0.1)", "", 5):
        with pytest.raises(ValueError, match=r"^name: "):
            xprop.make_activation(name, *tanh2)
    for name in ("mse", "BCE", "half_squared_error", "x(1)"):
        with pytest.raises(ValueError, match=r"^name: "):
            xprop.make_loss(name, lambda a, y, xp: (a - y) ** 2, lambda a, y, xp: 2 * (a - y))
    made = xprop.make_activation(" My_Act ", *tanh2)
    assert made.name == "my_act"
    from xprop.activations import Activation

    for odd in (Activation("MyAct", made.forward, made.derivative, made.backward),
                Activation(5, made.forward, made.derivative, made.backward)):
        with pytest.raises(ValueError, match=r"^activation: "):
            xprop.register_activation(odd)
    with pytest.raises(ValueError, match=r"^activation: expected one of"):
        xprop.get_activation("swish")  # the registry stays searchable


def test_a_user_activation_that_returns_no_array_of_its_input_is_named():
    """Found by audit: a float, None or (on torch) a NumPy array from a user's activation
    let an AttributeError escape from inside the next layer; ``backward=5`` and
    ``kink="yes"`` were accepted."""
    import xprop

    bad = xprop.make_activation("returns_float", lambda z, xp: 1.0, lambda z, a, xp: z)
    m = xprop.MLP([2, 3, 1], activation=bad, seed=0)
    with pytest.raises(TypeError, match=r"^activation 'returns_float': forward\(z, xp\) "
                                        r"returned 1.0; expected an array of its input's"):
        m.predict(np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"^backward: expected a function, got 5"):
        xprop.make_activation("b5", lambda z, xp: z, lambda z, a, xp: z, backward=5)
    with pytest.raises(ValueError, match=r"^kink: expected True or False, got 'yes'"):
        xprop.make_activation("k", lambda z, xp: z, lambda z, a, xp: z, kink="yes")
    with pytest.raises(ValueError, match=r"^shape: expected \(samples, outputs\)"):
        xprop.check_activation("tanh", shape=(6,))
    with pytest.raises(ValueError, match=r"^seed: expected an integer >= 0"):
        xprop.check_loss("mse", seed=-1)


def test_a_name_registered_again_never_swaps_a_models_functions(tmp_path):
    """Found by audit: a model whose activation's name was registered again (replace=True)
    pickled and saved that name alone, and came back computing the new function; now
    pickling refuses (its functions are closures) and save refuses, while a model made
    after the replacement pickles by name."""
    import pickle

    import xprop
    from xprop.activations import ACTIVATIONS

    cube = xprop.register_activation(xprop.make_activation(
        "test_swapped", lambda z, xp: z ** 3, lambda z, a, xp: 3 * z ** 2))
    try:
        old = xprop.MLP([2, 3, 1], "test_swapped", seed=0)
        assert old.activations[0].stands_for_name()
        xprop.register_activation(xprop.make_activation(
            "test_swapped", lambda z, xp: -z, lambda z, a, xp: -xp.ones_like(z)), replace=True)
        assert not old.activations[0].stands_for_name() and cube is old.activations[0]
        with pytest.raises((pickle.PicklingError, AttributeError), match="pickle"):
            pickle.dumps(old)  # by value: pickle refuses its closures (never the new name)
        with pytest.raises(xprop.CheckpointError, match=r"activation 'test_swapped' of this "
                                                        r"model is not what that name stands"):
            old.save(tmp_path / "old.npz")
        assert not (tmp_path / "old.npz").exists()
        new = xprop.MLP([2, 3, 1], "test_swapped", seed=0)
        back = pickle.loads(pickle.dumps(new))
        np.testing.assert_array_equal(back.predict(np.ones((2, 2))), new.predict(np.ones((2, 2))))
    finally:
        ACTIVATIONS.pop("test_swapped", None)
    assert xprop.get_activation("leaky_relu(0.3)").stands_for_name()  # made per call, same
    square = (_square, _square_derivative)  # made again from the same functions: the same
    again = xprop.register_activation(xprop.make_activation("test_again", *square))
    try:
        model = xprop.MLP([2, 3, 1], again, seed=0)
        xprop.register_activation(xprop.make_activation("test_again", *square), replace=True)
        assert model.activations[0].stands_for_name()
        model.save(tmp_path / "again.npz")
        pickle.loads(pickle.dumps(model))
    finally:
        ACTIVATIONS.pop("test_again", None)


def _square(z, xp):
    return z * z


def _square_derivative(z, a, xp):
    return 2 * z
