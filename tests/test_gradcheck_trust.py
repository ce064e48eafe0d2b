"""A gradient check to trust (issue 8): the error model passes correct gradients of trained
models (the issue's reproductions and a corpus of trained models), fails planted errors,
says inconclusive where differences cannot resolve the gradient, and checks any function of
arrays, including user-registered activations and losses."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import xprop
from tests.helpers import host
from tests.test_cli import assert_ok, run_cli, run_script
from xprop import datasets, network
from xprop.activations import ACTIVATIONS
from xprop.gradcheck import check_gradients
from xprop.losses import LOSSES

# --------------------------------------------------------------------------- the reproductions


@pytest.mark.parametrize("sizes", [[2] + [16] * 9 + [2], [2, 16, 1, 16, 2]],
                         ids=["deep-9x16", "bottleneck"])
def test_trained_models_of_the_issue_pass(sizes):
    """Failed before with W0 1.8e-7 against rtol 1e-7: after training, entries of ~1e-7 carry
    a truncation error above any fixed relative tolerance. The error model judges each entry
    against its own estimate."""
    X, y = datasets.moons(200, noise=0.1, seed=0)
    m = xprop.MLP(sizes, "tanh", "softmax", "cross_entropy", seed=0)
    m.fit(X, y, epochs=300, optimizer="adam", lr=0.01, batch_size=32)
    report = xprop.gradcheck(m, X, y)
    assert report.verdict == "passed" and report.passed, str(report)
    assert report.max_ratio <= 1.0


def test_saturated_net_is_inconclusive_with_a_reason():
    """sigmoid + mse at huge logits: the loss is flat to rounding, so nothing can be resolved.
    Before: a refusal telling the user to use the eps they had used."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((16, 2))
    y = rng.uniform(size=(16, 1))
    m = xprop.MLP([2, 4, 1], "tanh", "sigmoid", "mse", seed=0)
    m.set_parameters({k: 400.0 * host(v) + (60.0 if k == "b1" else 0.0)
                      for k, v in m.parameters().items()})
    report = xprop.gradcheck(m, X, y)
    assert report.verdict == "inconclusive" and not report.passed, str(report)
    assert "cannot resolve" in report.reason and "\n" not in report.reason


# --------------------------------------------------------------------------- planted errors


def _moons_model(hidden, output="softmax", loss="cross_entropy", sizes=(2, 8, 8, 2), train=True,
                 y=None):
    X, labels = datasets.moons(64, noise=0.2, seed=0)
    y = labels if y is None else y(X, labels)
    m = xprop.MLP(list(sizes), hidden, output, loss, seed=0)
    if train:
        m.fit(X, y, optimizer="adam", lr=0.01, epochs=100, batch_size=16)
    return m, X, y


def _off_by(act, relative):
    """``act`` whose backward is too large by ``relative``."""
    good = act.backward
    return dataclasses.replace(act, name=f"{act.name}_off",
                               backward=lambda g, z, a, xp: good(g, z, a, xp) * (1.0 + relative))


@pytest.mark.parametrize("relative", [1e-6, 1e-8])
@pytest.mark.parametrize("mode", ["full", "fast"])
def test_an_activation_derivative_off_by_a_tiny_relative_error_fails(mode, relative):
    """The sensitivity stated in the README: a tanh derivative off by 1e-6 and by 1e-8
    (relative) FAILs in both modes on a trained 2-8-8-2 net."""
    m, X, y = _moons_model(_off_by(ACTIVATIONS["tanh"], relative))
    report = xprop.gradcheck(m, X, y, mode=mode)
    assert report.verdict == "FAILED", str(report)
    if mode == "fast":
        assert report.fast["verdict"] == "FAILED"
    # only parameters below the broken activations are wrong
    assert "W2" not in [e.name for e in report.entries if e.verdict == "FAILED"]


def test_a_loss_gradient_off_by_1e_4_fails():
    mse = LOSSES["mse"]
    bad = dataclasses.replace(mse, name="mse_off",
                              grad=lambda a, y, xp: mse.grad(a, y, xp) * (1.0 + 1e-4))
    m, X, y = _moons_model("tanh", "identity", bad, y=lambda X, lab: np.c_[X[:, 0] + lab, X[:, 1]])
    report = xprop.gradcheck(m, X, y)
    assert report.verdict == "FAILED", str(report)
    assert [e.verdict for e in report.entries] == ["FAILED"] * 6


def _claimed(m, X, y):
    Xd, Y, _ = m.prepare(X, y)
    _, cache = network.forward(m.params, Xd, m.arch)
    grads = network.backward(m.params, cache, Y, m.arch)
    return Xd, Y, cache, {k: grads[k] for k in grads}


def _loss_of(m, Xd, Y):
    names = list(m.params)

    def f(*arrays):
        _, c = network.forward(dict(zip(names, arrays)), Xd, m.arch)
        return network.loss_value(c, Y, m.arch)

    return f, names


def test_a_transposed_weight_gradient_in_a_square_layer_fails():
    m, X, y = _moons_model("tanh")
    Xd, Y, _, grads = _claimed(m, X, y)
    grads["W1"] = grads["W1"].T  # 8 x 8: the shape fits, the values do not
    f, names = _loss_of(m, Xd, Y)
    report = check_gradients(f, [m.params[k] for k in names], [grads[k] for k in names],
                             names=names)
    assert report.verdict == "FAILED", str(report)
    assert [e.name for e in report.entries if e.verdict == "FAILED"] == ["W1"]


def test_a_bias_gradient_summed_over_the_wrong_axis_fails():
    """A hand-written backward (as a user's own code) with db0 = sum(dZ0, axis=1): a batch of
    8 samples and 8 hidden units, so the shape fits."""
    m, X, y = _moons_model("tanh", train=False)
    X, y = X[:8], y[:8]
    Xd, Y, cache, grads = _claimed(m, X, y)
    xp = m.xp
    dZ1 = cache.output - Y  # softmax + cross-entropy, times n below
    dA1 = (dZ1 @ m.params["W2"].T) * (1.0 - cache.inputs[2] ** 2)
    dZ0 = (dA1 @ m.params["W1"].T) * (1.0 - cache.inputs[1] ** 2)
    grads["b0"] = xp.sum(dZ0, axis=1) / 8.0  # the bug: over units, not samples
    np.testing.assert_allclose(host(xp.sum(dZ0, axis=0) / 8.0), host(_claimed(m, X, y)[3]["b0"]),
                               rtol=1e-12)  # the right axis gives xprop's own gradient
    f, names = _loss_of(m, Xd, Y)
    report = check_gradients(f, [m.params[k] for k in names], [grads[k] for k in names],
                             names=names)
    assert [e.name for e in report.entries if e.verdict == "FAILED"] == ["b0"], str(report)


def test_a_relu_derivative_of_one_at_the_kink_fails_where_a_point_sits_on_it():
    """A sample with x = 0 and zero biases puts every first-layer pre-activation exactly on
    the kink. relu'(0) = 0 (xprop's, PyTorch's) matches the one-sided difference from below;
    relu'(0) = 1 does not."""
    relu = ACTIVATIONS["relu"]
    bad = dataclasses.replace(relu, name="relu_at_0_is_1",
                              derivative=lambda z, a, xp: xp.astype(z >= 0, z.dtype),
                              backward=lambda g, z, a, xp: g * xp.astype(z >= 0, g.dtype))
    X = np.array([[0.0, 0.0], [0.5, -1.0], [1.0, 0.3], [-0.7, 0.2]])
    y = np.array([0, 1, 1, 0])
    for act, verdict in ((relu, "passed"), (bad, "FAILED")):
        m = xprop.MLP([2, 6, 2], act, "softmax", "cross_entropy", seed=3)
        _, cache = m.forward(m.backend.from_host(X, "float64"))
        assert np.all(host(cache.pre[0])[0] == 0.0)
        report = xprop.gradcheck(m, X, y)
        assert report.verdict == verdict, str(report)
        b0 = report.entries[1]
        assert b0.name == "b0" and b0.n_one_sided > 0
        if verdict == "FAILED":
            assert b0.verdict == "FAILED"


# --------------------------------------------------------------------------- the function-level API


def test_any_function_of_arrays_on_any_backend(case):
    """A user's own function and hand-derived gradients: f(W, b) = sum(tanh(X W + b)^2)."""
    xp, be = case.xp, case.backend
    rng = np.random.default_rng(0)
    X = be.from_host(rng.standard_normal((5, 3)), case.dtype)
    W = be.from_host(rng.standard_normal((3, 4)), case.dtype)
    b = be.from_host(rng.standard_normal(4), case.dtype)

    def f(W, b):
        return xp.sum(xp.tanh(X @ W + b) ** 2)

    t = xp.tanh(X @ W + b)
    dZ = 2.0 * t * (1.0 - t * t)
    report = check_gradients(f, [W, b], [X.T @ dZ, xp.sum(dZ, axis=0)], names=["W", "b"])
    assert report.passed, str(report)
    assert report.dtype == case.dtype and [e.name for e in report.entries] == ["W", "b"]
    wrong = check_gradients(f, [W, b], [X.T @ dZ, 1.05 * xp.sum(dZ, axis=0)])
    assert wrong.verdict == "FAILED" and [e.verdict for e in wrong.entries] == ["passed",
                                                                                "FAILED"]


def test_check_gradients_refuses_mismatched_gradients():
    x = np.ones((2, 3))
    with pytest.raises(ValueError, match=r"^grads\[0\]: expected shape \(2, 3\)"):
        check_gradients(lambda a: a.sum(), [x], [np.ones((3, 2))])
    with pytest.raises(ValueError, match=r"^grads: expected one gradient per input"):
        check_gradients(lambda a: a.sum(), [x], [])
    # one dtype and one device: a complex or bool gradient passed, a float32 one FAILED
    for bad in (x + 1j, x > 0, x.astype(np.float32)):
        with pytest.raises(TypeError, match=r"^grads\[0\]: expected float64 \(the dtype of "):
            check_gradients(lambda a: a.sum(), [x], [bad])
    with pytest.raises(TypeError, match=r"^inputs\[1\]: expected float64"):
        check_gradients(lambda a, b: a.sum(), [x, x.astype(np.float32)], [x, x])
    for bad in (x.astype(np.int64), x.astype(np.float16), x > 0):  # no float32/64 to check in
        with pytest.raises(TypeError, match=r"^inputs\[0\]: expected a float32 or float64 "):
            check_gradients(lambda a: a.sum(), [bad], [x])
    for value in (lambda a: a.sum() + 0j, lambda a: np.complex128(1j) * a.sum(),
                  lambda a: np.array([a.sum() > 0])):  # no real value: named, not float()'s
        with pytest.raises(TypeError, match=r"^f: expected a real number, got dtype"):
            check_gradients(value, [x], [x])
    strict = pytest.importorskip("array_api_strict")
    a = strict.asarray(x)
    other = strict.asarray(x, device=strict.Device("device1"))
    with pytest.raises(xprop.DeviceMismatchError, match=r"^grads\[0\]: expected an array on"):
        check_gradients(lambda t: strict.sum(t), [a], [other])


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_every_activation_checks(name):
    assert xprop.check_activation(name).passed


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_loss_checks(name):
    assert xprop.check_loss(name).passed
    if LOSSES[name].logit_terms is not None:
        assert xprop.check_loss(name, logits=True).passed


@pytest.fixture
def registry():
    """Registered names are removed again after the test."""
    yield
    for table in (ACTIVATIONS, LOSSES):
        for key in [k for k in table if k.startswith("test_")]:
            del table[key]


def test_registered_activation_and_loss_check_train_and_save_like_built_ins(tmp_path,
                                                                          registry):
    def swish(z, xp):
        return z / (1.0 + xp.exp(-z))

    def swish_derivative(z, a, xp):
        s = 1.0 / (1.0 + xp.exp(-z))
        return s + z * s * (1.0 - s)

    act = xprop.register_activation(xprop.make_activation("test_swish", swish, swish_derivative))
    loss = xprop.register_loss(xprop.make_loss(
        "test_log_cosh", lambda a, y, xp: xp.log(xp.cosh(a - y)),
        lambda a, y, xp: xp.tanh(a - y) / float(a.shape[0] * a.shape[1])))
    assert xprop.check_activation("test_swish").passed
    assert xprop.check_loss("test_log_cosh").passed
    X, labels = datasets.moons(64, noise=0.2, seed=0)
    y = np.c_[X[:, 0] + labels]
    m = xprop.MLP([2, 8, 1], "test_swish", "identity", "test_log_cosh", seed=0)
    assert m.activations[0] is act and m.loss_fn is loss
    hist = m.fit(X, y, optimizer="adam", lr=0.01, epochs=60, batch_size=16)
    assert hist.loss[-1] < hist.loss[0]
    assert xprop.gradcheck(m, X, y).passed
    path = m.save(tmp_path / "m.npz")
    back = xprop.load(path)
    np.testing.assert_array_equal(host(back.predict(X)), host(m.predict(X)))
    with pytest.raises(ValueError, match="already registered"):
        xprop.register_activation(act)
    with pytest.raises(ValueError, match="built-in"):
        xprop.register_loss(dataclasses.replace(loss, name="mse"))


# --------------------------------------------------------------------------- the CLI


def test_cli_exit_codes_0_1_3(tmp_path):
    assert_ok(run_cli(tmp_path, "gradcheck"))
    r = run_cli(tmp_path, "gradcheck", "--step", "1e-300")
    assert r.returncode == 3, r.stdout + r.stderr
    assert "INCONCLUSIVE" in r.stdout
    r = run_script(tmp_path, """
        import dataclasses, sys
        import xprop
        from xprop.activations import ACTIVATIONS
        from xprop.cli import main
        tanh = ACTIVATIONS["tanh"]
        xprop.register_activation(dataclasses.replace(
            tanh, name="tanh_off", backward=lambda g, z, a, xp: 1.001 * tanh.backward(g, z, a, xp)))
        sys.exit(main(["gradcheck", "--activation", "tanh_off"]))
    """)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "FAILED" in r.stdout and "Traceback" not in r.stderr


# --------------------------------------------------------------------------- the corpus

HIDDEN = ["identity", "relu", "leaky_relu", "sigmoid", "tanh", "softplus", "gelu"]
# (sizes, hidden, output, loss, data, optimizer, lr, epochs)
CORPUS = [
    ([2, 16, 2], "relu", "softmax", "cross_entropy", "moons", "adam", 0.01, 300),
    ([2, 64, 64, 3], "relu", "softmax", "cross_entropy", "spirals", "adam", 0.005, 300),
    ([2] + [16] * 10 + [2], "tanh", "softmax", "cross_entropy", "moons", "adam", 0.005, 200),
    ([2] + [8] * 10 + [2], "relu", "softmax", "cross_entropy", "moons", "adam", 0.005, 200),
    ([2, 16, 1, 16, 2], "tanh", "softmax", "cross_entropy", "moons", "adam", 0.01, 300),
    ([2, 32, 2, 32, 3], "gelu", "softmax", "cross_entropy", "spirals", "adam", 0.01, 300),
    ([2, 1, 2], "sigmoid", "softmax", "cross_entropy", "moons", "sgd", 0.5, 300),
    ([2, 12, 1], "leaky_relu", "sigmoid", "bce", "moons", "sgd", 0.5, 400),
    ([2, 12, 12, 1], "softplus", "sigmoid", "bce", "moons", "adam", 0.01, 300),
    ([2, 16, 1], "tanh", "identity", "bce_with_logits", "moons", "adam", 0.01, 300),
    ([2, 24, 24, 1], "gelu", "identity", "bce_with_logits", "moons", "adam", 0.01, 300),
    ([2, 16, 1], "identity", "identity", "mse", "moons", "sgd", 0.05, 300),
    ([2, 16, 16, 1], "tanh", "identity", "mse", "moons", "sgd", 0.1, 400),
    ([2, 16, 16, 2], "sigmoid", "sigmoid", "mse", "moons", "adam", 0.01, 300),
    ([2, 8, 1], "relu", "identity", "half_sse", "moons", "sgd", 0.002, 300),
    ([2, 32, 8, 2], "softplus", "softmax", "half_sse", "moons", "adam", 0.01, 300),
    ([2, 32, 3], "leaky_relu", "softmax", "mse", "spirals", "adam", 0.01, 300),
    ([64, 32, 10], "relu", "softmax", "cross_entropy", "digits", "adam", 0.005, 60),
    ([64, 16, 16, 10], "tanh", "softmax", "cross_entropy", "digits", "sgd", 0.1, 60),
    ([64, 48, 10], "gelu", "softmax", "mse", "digits", "adam", 0.005, 60),
    ([64, 1, 10], "sigmoid", "softmax", "cross_entropy", "digits", "adam", 0.01, 60),
    ([2] + [4] * 6 + [1], "softplus", "identity", "half_sse", "moons", "adam", 0.003, 300),
]


def _corpus_data(name):
    if name == "digits":
        X, y = datasets.digits()
        X = X[:256] / 16.0
        y = y[:256]
    elif name == "spirals":
        X, y = datasets.spirals(200, noise=0.1, seed=0)
    else:
        X, y = datasets.moons(200, noise=0.1, seed=0)
    return X, y


def _corpus_model(spec):
    sizes, hidden, output, loss, data, opt, lr, epochs = spec
    X, y = _corpus_data(data)
    if sizes[-1] == 1:  # binary targets, or a regression on the moons
        y = y.astype(np.float64) if loss in ("bce", "bce_with_logits") else np.c_[
            X[:, 0] * 0.5 + y]
    elif output == "sigmoid":  # one 0/1 output per class, squared error
        y = np.eye(sizes[-1])[y]
    m = xprop.MLP(sizes, hidden, output, loss, seed=0)
    m.fit(X, y, optimizer=opt, lr=lr, epochs=epochs, batch_size=32)
    return m, X[:64], y[:64]


def test_the_corpus_covers_what_the_issue_asks():
    assert len(CORPUS) >= 20
    assert {s[1] for s in CORPUS} == set(HIDDEN)
    assert {s[3] for s in CORPUS} == {"mse", "half_sse", "bce", "bce_with_logits",
                                      "cross_entropy"}
    assert {s[4] for s in CORPUS} == {"moons", "spirals", "digits"}
    assert max(len(s[0]) - 2 for s in CORPUS) == 10
    widths = {w for s in CORPUS for w in s[0][1:-1]}
    assert min(widths) == 1 and max(widths) == 64
    assert {s[5] for s in CORPUS} == {"adam", "sgd"}


@pytest.mark.parametrize("spec", CORPUS, ids=lambda s: f"{'-'.join(map(str, s[0]))}-{s[1]}-"
                                                        f"{s[2]}-{s[3]}-{s[4]}-{s[5]}")
def test_corpus_of_trained_models_passes(spec):
    """Trained float64 models pass the full check (40 entries per parameter) and the fast
    one, and, evaluated at float32 precision, do not FAIL."""
    m, X, y = _corpus_model(spec)
    report = xprop.gradcheck(m, X, y, n_checks=40)
    assert report.verdict == "passed", str(report)
    assert xprop.gradcheck(m, X, y, mode="fast").passed
    low = xprop.gradcheck(m.astype("float32"), X, y, n_checks=10, dtype="float32")
    assert low.verdict != "FAILED", str(low)


# --------------------------------------------------------------------------- steps f can take


@pytest.mark.parametrize("K", [10.0, 3300.0, 1e4, 1e6])
def test_a_rough_function_with_correct_gradients_never_fails(K):
    """Before: sum(sin(K x)) was FAILED for K = 3300 and 1e4 (h = 1e-3 is 3 to 10 radians
    there): the differences at h and 2h disagree, so the step is halved until they settle."""
    x = np.random.default_rng(0).uniform(-1, 1, 12)
    report = xprop.check_gradients(lambda v: np.sum(np.sin(K * v)), [x], [K * np.cos(K * x)])
    assert report.verdict == "passed", str(report)
    # the step reached resolves at least GRADCHECK_RESOLVE = 10% relative errors (smooth
    # scales much smaller ones: 1e-3 at K = 10)
    for relative in (0.1, 1e-3) if K == 10.0 else (0.1,):
        wrong = K * np.cos(K * x)
        wrong[3] *= 1 + relative
        assert xprop.check_gradients(lambda v: np.sum(np.sin(K * v)), [x],
                                     [wrong]).verdict == "FAILED", (K, relative)


def test_slogdet_near_a_singular_matrix_passes():
    """Before: FAILED (five-point values 139.3 at h and 34.7 at 2h against the true 9012):
    an eigenvalue of 1e-4 is smaller than h."""
    Q, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(4, 4)))
    A = Q @ np.diag([1.0, 0.5, 0.3, 1e-4]) @ Q.T
    report = xprop.check_gradients(lambda a: np.linalg.slogdet(a)[1], [A],
                                   [np.linalg.inv(A).T])
    assert report.verdict == "passed", str(report)


@pytest.mark.parametrize("scale", [100.0, 1000.0, 1e4])
@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "softplus", "gelu"])
def test_unstandardised_inputs_never_fail_correct_gradients(scale, activation):
    """Before: at 1000x moons' inputs tanh failed; at 1e4x two of four seeds failed for
    tanh, sigmoid, softplus and gelu (the gradients agree with autograd to 4.5e-16)."""
    X, y = datasets.moons(64, noise=0.1, seed=0)
    for seed in range(4):
        m = xprop.MLP([2, 8, 8, 2], activation, "softmax", "cross_entropy", seed=seed)
        report = xprop.gradcheck(m, scale * X, y)
        assert report.verdict != "FAILED", str(report)


@pytest.mark.parametrize("h", [0.3, 1.0])
def test_a_step_too_large_for_the_model_never_fails(h):
    X, y = datasets.moons(64, noise=0.1, seed=0)
    m = xprop.MLP([2, 4, 2], "tanh", "softmax", "cross_entropy", seed=0)
    assert xprop.gradcheck(m, X, y, h=h).verdict != "FAILED"


def test_passed_only_when_every_parameter_was_judged():
    """Before: W0 and b0 were inconclusive (every entry too small to resolve at 1e4 x the
    inputs) and the verdict was PASSED, so a bug in them would have passed."""
    X, y = datasets.moons(64, noise=0.1, seed=0)
    m = xprop.MLP([2, 4, 1], "tanh", "sigmoid", "mse", seed=0)
    report = xprop.gradcheck(m, 1e4 * X, y)
    unjudged = [e.name for e in report.entries if e.verdict != "passed"]
    assert unjudged, str(report)
    assert report.verdict == "inconclusive" and not report.passed
    assert report.reason.startswith(f"{', '.join(unjudged)}: no entry could be judged")


def test_the_cli_with_a_step_of_one_does_not_fail_a_fresh_model(tmp_path):
    """Before: ``xprop gradcheck --step 1`` exited 1 (FAILED) on a correct fresh model."""
    r = run_cli(tmp_path, "gradcheck", "--step", "1")
    assert r.returncode == 0, r.stdout + r.stderr


# ------------------------------------------------------------- the second audit's verdicts


def test_a_wrong_gradient_fails_where_the_default_step_is_too_large():
    """Before: sin(1000 x) at the default step h = 1e-3 passed gradients 1% wrong (the first
    step that passed was judged, with a tolerance up to 10% of the value); a coarse pass is
    now refined to the best step, where the error shows."""
    x = np.random.default_rng(0).uniform(-1, 1, 12)
    for K in (300.0, 1e3, 3e3):
        def f(x, K=K):
            return np.sum(np.sin(K * x))

        right = xprop.check_gradients(f, [x], [K * np.cos(K * x)])
        wrong = xprop.check_gradients(f, [x], [1.01 * K * np.cos(K * x)])
        assert right.verdict == "passed", str(right)
        assert wrong.verdict == "FAILED", str(wrong)
    x6 = x[:6]
    assert xprop.check_gradients(lambda x: np.sum(np.sin(x)), [x6], [1.02 * np.cos(x6)],
                                 h=10).verdict == "FAILED"


def test_a_correct_gradient_never_fails_on_nan_steps_rounding_or_a_large_step():
    """Before, each of these correct gradients FAILED: f NaN at a perturbed point (log near
    0), the rounding of theta + h at theta = 400 (exp), and a user step so large that the
    differences were exactly 0 at h, 2h and h/2."""
    x = np.array([1e-4, 0.5])
    assert xprop.check_gradients(lambda x: np.sum(np.log(x)), [x], [1 / x]).verdict == \
        "passed"
    assert xprop.check_gradients(lambda x: np.sum(np.sqrt(x)), [x], [0.5 / np.sqrt(x)]) \
        .verdict == "passed"
    big = np.array([400.0, 300.0])
    assert xprop.check_gradients(lambda x: np.sum(np.exp(x)), [big], [np.exp(big)]).verdict \
        == "passed"
    X, y = xprop.datasets.moons(64, noise=0.1, seed=0)
    for act in ("gelu", "softplus"):
        m = xprop.MLP([2, 8, 8, 2], act, "softmax", "cross_entropy", seed=0)
        assert xprop.gradcheck(m, X, y, h=100, check_input=True).verdict != "FAILED"
    m = xprop.MLP([2, 8, 8, 2], "relu", "softmax", "cross_entropy", seed=1)
    assert xprop.gradcheck(m, 1000 * X, y, h=0.05).verdict != "FAILED"


def test_fast_mode_judges_every_array_and_never_passes_what_the_table_fails():
    """Before: one random direction over all parameters passed where the entry table said
    FAILED (a tanh derivative 1% off, inputs x 1e4) or inconclusive (10% off, saturated)."""
    X, y = xprop.datasets.moons(64, noise=0.1, seed=0)
    tanh = xprop.activations.get_activation("tanh")
    for factor, scale_w, scale_x in ((1.01, 1.0, 1e4), (1.1, 100.0, 1.0)):
        bad = xprop.make_activation(
            f"tanh_times_{factor}", tanh.forward,
            lambda z, a, xp, factor=factor: tanh.derivative(z, a, xp) * factor)
        m = xprop.MLP([2, 8, 8, 2], bad, "softmax", "cross_entropy", seed=0)
        m.set_parameters({k: scale_w * np.asarray(v) for k, v in m.parameters().items()})
        full = xprop.gradcheck(m, scale_x * X, y)
        fast = xprop.gradcheck(m, scale_x * X, y, mode="fast")
        assert full.verdict != "passed"
        assert fast.verdict != "passed", str(fast)
    good = xprop.gradcheck(xprop.MLP([2, 8, 2], "tanh", "softmax", "cross_entropy", seed=0),
                           X, y, mode="fast")
    assert good.passed and good.entries == []
    assert [d["array"] for d in good.fast["directions"]] == ["W0", "b0", "W1", "b1"]


def test_check_gradients_refuses_mixed_libraries_and_empty_arrays():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match=r"^grads: expected arrays of the inputs' library, got "
                                        r"a mix of numpy and torch arrays$"):
        xprop.check_gradients(lambda x: np.sum(x**2), [np.ones(3)], [torch.ones(3)])
    with pytest.raises(ValueError, match=r"^inputs\[0\]: expected at least one entry"):
        xprop.check_gradients(lambda x: np.sum(x), [np.zeros(0)], [np.zeros(0)])


def test_trace_refuses_what_is_not_a_model():
    from xprop.sklearn import MLPClassifier

    X, y = xprop.datasets.xor()
    clf = MLPClassifier(hidden_layer_sizes=(3,), solver="lbfgs", max_iter=5).fit(X, y)
    with pytest.raises(TypeError, match=r"^model: expected an xprop\.MLP, got MLPClassifier; "
                                        r"pass its model_$"):
        xprop.trace(clf, X, y)
    with pytest.raises(TypeError, match=r"^model: expected an xprop\.MLP, got str$"):
        xprop.trace("model", X, y)


def test_confident_classifiers_never_fail_correct_gradients():
    """A confident classifier's loss rounds like its logits, not like its tiny value, and its
    fused gradient ``(a - y) / N`` carries the rounding of ``a ~ 1``: correct gradients pass
    or are inconclusive (a loss of exactly 0 cannot resolve them), never FAILED; a gradient
    1% wrong still fails there."""
    X, y = np.array([[18.0, 1.0], [-16.2, -1.0]]), np.array([1, 0])
    m = xprop.MLP.from_arrays([[[1.0], [0.3]]], [[0.0]], output_activation="sigmoid",
                              loss="bce")
    assert xprop.gradcheck(m, X, y).verdict == "passed"
    bce = LOSSES["bce"]
    off = dataclasses.replace(bce, name="bce_off",
                              fused_grad=lambda a, t, xp: bce.fused_grad(a, t, xp) * 1.01)
    bad = xprop.MLP.from_arrays([[[1.0], [0.3]]], [[0.0]], output_activation="sigmoid",
                                loss=off)
    assert xprop.gradcheck(bad, X, y).verdict == "FAILED"
    sure = xprop.MLP.from_arrays([[[1.0, 0.0, 0.0]]], [[0.0, 0.0, 0.0]],
                                 output_activation="softmax", loss="cross_entropy")
    report = xprop.gradcheck(sure, np.array([[40.0]]), np.array([0]))  # loss exactly 0
    assert report.verdict == "inconclusive" and "cannot resolve" in report.reason
    for margin in (9.0, 10.0):  # float32 losses ~1e-4: quantised at the logits' rounding
        m = xprop.MLP.from_arrays([[[1.0, 0.0, 0.0], [0.3, -0.2, 0.5]]], [[0.0, 0.0, 0.0]],
                                  output_activation="softmax", loss="cross_entropy")
        X32 = np.array([[margin, 1.0], [margin * 0.9, -1.0]])
        assert xprop.gradcheck(m, X32, np.array([0, 0]), dtype="float32").verdict != "FAILED"


def test_correct_gradients_of_coarsely_rounded_subnormal_or_overflowing_f_never_fail():
    """Found by audit: ``check_gradients`` gave FAILED for correct gradients where ``f``
    rounds more coarsely than the noise probe's steps move it (an intermediate far larger
    than ``f``; float32 inside a float64 ``f``), where ``f`` is subnormal (every floor was
    relative and underflowed to 0), and where the gradient overflows the dtype while ``f``
    is finite (``inf`` claimed, ``inf`` or NaN differences). The probe grows its steps until
    a second difference moves; the noise is at least the dtype's tiniest number; a
    non-finite claim fails only against a finite difference. Wrong gradients still fail."""
    c = 0.016235577277417163
    x = np.array([-0.053073602114499636, -0.07058187409216041, 0.17473219567952053])
    cauchy = (lambda x: np.sum(np.log(1 + (c * x) ** 2)), 2 * c * c * x / (1 + (c * x) ** 2))
    x32 = np.random.default_rng(0).normal(size=6)
    inside32 = (lambda x: float(np.sum(np.exp(x.astype(np.float32)))), np.exp(x32))
    cases = [(cauchy, x), (inside32, x32),
             ((lambda x: np.sum(np.exp(x)), np.exp(np.array([-740.0]))), np.array([-740.0]))]
    t = np.array([10.0], dtype=np.float32)
    cases.append(((lambda x: np.sum(np.exp(-x * x)), -2 * t * np.exp(-t * t)), t))
    w = np.array([709.0 / 1e10])
    with np.errstate(over="ignore"):
        cases.append(((lambda w: np.sum(np.exp(1e10 * w)) * 1e-9,
                       1e10 * np.exp(1e10 * w) * 1e-9), w))
        verdicts = [check_gradients(f, [at], [g]).verdict for (f, g), at in cases]
        assert verdicts == ["passed", "passed", "inconclusive", "inconclusive",
                            "inconclusive"], verdicts
        for (f, g), at in cases[:2]:  # resolvable: a 5% error still fails (float32 inside:
            assert check_gradients(f, [at], [g * 1.05]).verdict == "FAILED"  # ~1% resolved)
    with np.errstate(all="ignore"):
        for claim in (np.inf, np.nan):  # a non-finite claim against a finite slope
            assert check_gradients(lambda x: np.sum(x * x), [x], [np.full(3, claim)]).verdict \
                == "FAILED"
            assert check_gradients(lambda x: np.sum(np.log(x)), [np.array([1e-3, 0.5])],
                                   [np.array([claim, 2.0])]).verdict == "FAILED"  # (NaN
            # differences at h: log leaves its domain; half the step sees the slope)
    # a locally flat f with a kink nearby: the probe's growth never takes the kink's jump for
    # rounding, so a wrong gradient still fails
    assert check_gradients(lambda x: np.sum(np.maximum(0, 1 - x)), [np.full(10, 1.002)],
                           [-np.ones(10)]).verdict == "FAILED"
    assert check_gradients(lambda x: np.sum(np.maximum(0, x)), [np.full(5, -0.003)],
                           [np.full(5, 0.5)]).verdict == "FAILED"
    z = np.log(1e307)
    model = xprop.MLP.from_arrays([[[z / 100.0]]], [[0.0]], "identity", "exp", "poisson")
    with np.errstate(over="ignore", invalid="ignore"):
        assert xprop.gradcheck(model, np.array([[100.0]]), np.array([1.0])).verdict \
            == "inconclusive"
