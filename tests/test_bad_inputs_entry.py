"""Bad input, second pass (issue 20): loaders never change data silently, output files are
checked before the work and written atomically, public functions raise only documented
exception types with one-line messages naming the argument; and a hypothesis property test
over every public entry point and CLI option."""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import xprop
from tests.test_cli import assert_cli_error, assert_ok, run_cli
from xprop import datasets

# --------------------------------------------------------------------------- loaders


def _csv(tmp_path, text, name="d.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_a_byte_order_mark_is_dropped_before_anything_else(tmp_path):
    """Before: a BOM made the first data row a header (2 rows of 3 loaded), and a BOM
    header's first name was '\\ufeffy'."""
    X, y = datasets.load_csv(_csv(tmp_path, "\ufeff1,2,0\n3,4,1\n5,6,0\n"))
    assert X.shape == (3, 2) and list(y) == [0, 1, 0]
    X, y = datasets.load_csv(_csv(tmp_path, "\ufeffy,a,b\n1,2,0\n0,4,1\n", "h.csv"), label="y")
    assert X.shape == (2, 2) and list(y) == [1, 0]


def test_a_bad_cell_is_an_error_wherever_it_is(tmp_path):
    """Before: an empty cell in the first row made it a header (a row lost, no word)."""
    for text, line in (("1,,0\n3,4,1\n5,6,0\n", 1), ("1,2,0\n3,,1\n", 2)):
        with pytest.raises(ValueError, match=rf"an empty cell at line {line}, column 2"):
            datasets.load_csv(_csv(tmp_path, text))
    with pytest.raises(ValueError, match=r"non-numeric cell 'x' at line 2, column 1"):
        datasets.load_csv(_csv(tmp_path, "1,2,0\nx,4,1\n"))


def test_header_is_taken_only_as_the_caller_says(tmp_path):
    path = _csv(tmp_path, "1,2,0\n3,4,1\n")
    assert datasets.load_csv(path)[0].shape == (2, 2)  # auto: numbers are data
    assert datasets.load_csv(path, header=True)[0].shape == (1, 2)
    named = _csv(tmp_path, "a,b,c\n3,4,1\n", "n.csv")
    assert datasets.load_csv(named)[0].shape == (1, 2)
    with pytest.raises(ValueError, match=r"non-numeric cell 'a' at line 1, column 1 \(a header"):
        datasets.load_csv(named, header=False)
    with pytest.raises(ValueError, match="header: expected True or False"):
        datasets.load_csv(path, header="yes")


def test_whole_numbers_beyond_int64_are_never_wrapped(tmp_path):
    """Before: a target of 1e20 became -9223372036854775808 (a RuntimeWarning only), and
    uint64 labels of 2**63 + 1 were reported as negative numbers."""
    _, y = datasets.load_csv(_csv(tmp_path, "1,2,1e20\n3,4,1\n"))
    assert y.dtype == np.float64 and y[0] == 1e20  # unchanged
    with pytest.raises(ValueError, match=r"y: whole-number labels up to 1e\+20 do not fit"):
        xprop.head.infer_task(y)
    assert xprop.head.infer_task(y, "mse").loss == "mse"  # regression takes them as they are
    big = np.array([2**63 + 1, 0], dtype=np.uint64)
    with pytest.raises(ValueError, match="y: labels up to 9223372036854775809 do not fit"):
        xprop.head.infer_task(big)


@pytest.mark.parametrize("label", [1.5, True, [1], None.__class__])
def test_a_label_that_is_not_a_name_or_an_index_is_refused(tmp_path, label):
    with pytest.raises(ValueError, match="label: expected a column name or an integer index"):
        datasets.load_csv(_csv(tmp_path, "1,2,0\n3,4,1\n"), label=label)


@pytest.mark.parametrize(("make", "name"), [
    (lambda: datasets.moons(10, noise=float("nan")), "noise"),
    (lambda: datasets.circles(10, noise=-1.0), "noise"),
    (lambda: datasets.circles(10, factor=float("inf")), "factor"),
    (lambda: datasets.spirals(10, turns="2"), "turns"),
    (lambda: datasets.moons(10, seed=-1), "seed")])
def test_generators_refuse_values_that_would_give_nan_data(make, name):
    with pytest.raises(ValueError, match=f"^{name}: expected"):
        make()


def test_an_explicit_regression_head_means_regression_in_the_cli(tmp_path):
    """Before: --loss mse on whole-number targets built one output per distinct value and
    failed with a shape error; negative whole numbers were 'class labels must be >= 0'."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    ages = np.round(30 + 10 * X[:, 0]).astype(int) - 35  # negative ones too
    (tmp_path / "ages.csv").write_text(
        "\n".join(f"{a},{b},{c}" for (a, b), c in zip(X, ages, strict=True)) + "\n")
    for args in (["--loss", "mse"], ["--loss", "mse", "--output-activation", "identity"]):
        r = run_cli(tmp_path, "train", "--data", "ages.csv", "--epochs", "3", "--quiet", *args)
        assert_ok(r)
        assert ", 1], activations=" in r.stdout and "test loss" in r.stdout


# --------------------------------------------------------------------------- files


def test_output_paths_are_checked_before_the_work(tmp_path):
    (tmp_path / "somedir.png").mkdir()
    r = run_cli(tmp_path, "train", "--data", "xor", "--epochs", "3", "--plot", "somedir.png")
    assert_cli_error(r, "--plot", "somedir.png", "directory")
    assert "done:" not in r.stdout
    r = run_cli(tmp_path, "train", "--data", "xor", "--epochs", "3", "--out", ".")
    assert_cli_error(r, "--out", "directory")
    assert not (tmp_path / "..npz").exists()
    m = xprop.MLP([2, 3, 1])
    assert m.save(tmp_path / "m.NPZ") == str(tmp_path / "m.NPZ")  # no m.NPZ.npz
    with pytest.raises(IsADirectoryError, match=r"checkpoint: '.*' is a directory"):
        xprop.load(tmp_path / "somedir.png")


def test_predictions_are_written_atomically(tmp_path, monkeypatch):
    """A failure while writing --out leaves the old file whole (before: rewritten in place)."""
    d = tmp_path
    assert_ok(run_cli(d, "train", "--data", "xor", "--epochs", "3", "--out", "m.npz",
                      "--quiet"))
    (d / "p.csv").write_text("old\n")
    r = run_cli(d, "predict", "--checkpoint", "m.npz", "--data", "xor", "--out", "p.csv",
                "--force")
    assert_ok(r)
    assert (d / "p.csv").read_text().splitlines() == ["0", "1", "1", "0"] or \
        len((d / "p.csv").read_text().splitlines()) == 4
    assert sorted(p.name for p in d.iterdir() if p.name.startswith(".xprop")) == []
    from xprop.checkpoint import write_atomically

    (d / "keep.csv").write_text("old\n")

    def broken(fh):
        fh.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(str(d / "keep.csv"), broken)
    assert (d / "keep.csv").read_text() == "old\n"
    assert sorted(p.name for p in d.iterdir() if p.name.startswith(".xprop")) == []


# --------------------------------------------------------------------------- messages


X3, Y3 = np.ones((3, 2)), np.array([0, 1, 0])


@pytest.mark.parametrize(("call", "kind", "fragment"), [
    (lambda m: m.accuracy(X3, None), ValueError, "y: expected"),
    (lambda m: m.loss(X3, None), ValueError, "y: expected"),
    (lambda m: m.set_parameters([np.ones((2, 3))]), TypeError, "parameters: expected a mapping"),
    (lambda m: xprop.gradcheck(None, X3, Y3), TypeError, "model: expected an xprop.MLP"),
    (lambda m: xprop.gradcheck(m, X3, Y3, check_input="yes"), ValueError, "check_input:"),
    (lambda m: xprop.gradcheck(m, X3, Y3, h="big"), ValueError, "h: expected"),
    (lambda m: xprop.check_gradients(lambda x: (x * x).sum(), [[1.0, 2.0]], [[2.0, 4.0]]),
     TypeError, "inputs[0]: expected an array"),
    (lambda m: xprop.check_gradients(lambda x: x * x, [np.ones(2)], [np.ones(2)]),
     ValueError, "f: expected a scalar"),
    (lambda m: xprop.check_gradients(lambda x: None, [np.ones(2)], [np.ones(2)]),
     TypeError, "f: expected a number"),
    (lambda m: xprop.MLP([2, 3, 1], output_activation="bogus"), ValueError,
     "output_activation: expected one of"),
    (lambda m: xprop.MLP([2, 3, 1], "tanh", "softmax", "cross_entropy"), ValueError,
     "output_activation: softmax needs at least 2 outputs"),
    (lambda m: xprop.MLP.from_arrays([np.zeros((0, 3))]), ValueError, "weights: shapes"),
    (lambda m: m.fit(X3, Y3,
                     config=xprop.FitConfig(callbacks=3)), ValueError, "callbacks: expected"),
    (lambda m: m.fit(X3, Y3,
                     config=xprop.FitConfig(seed=1.5)), ValueError, "seed: expected an integer"),
    (lambda m: xprop.sklearn.MLPClassifier(shuffle="no").fit(X3, Y3), ValueError,
     "shuffle: expected True or False"),
    (lambda m: xprop.sklearn.MLPClassifier(early_stopping="yes").fit(X3, Y3), ValueError,
     "early_stopping: expected True or False"),
])
def test_public_functions_name_the_argument(call, kind, fragment):
    """Before: AxisError, AttributeError or a message naming something else or nothing."""
    pytest.importorskip("sklearn")
    import xprop.sklearn

    m = xprop.MLP([2, 3, 2], "tanh", "softmax", "cross_entropy")
    with pytest.raises(kind) as e:
        call(m)
    assert type(e.value) is kind or issubclass(type(e.value), kind)
    message = str(e.value)
    assert fragment in message and "\n" not in message, message


def test_a_bad_backend_variable_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("XPROP_BACKEND", "garbage")
    with pytest.raises(xprop.BackendError, match=r"^XPROP_BACKEND=garbage: backend: expected"):
        xprop.MLP([2, 3, 1])


# --------------------------------------------------------------------------- property test

#: the README's "Errors" paragraph (xprop's BackendError, CheckpointError, ... are ValueErrors)
DOCUMENTED = (ValueError, TypeError, OSError, ImportError, xprop.BackendUnavailableError)

def _library_arrays() -> list:
    """Arrays of the other installed libraries (torch, JAX): values an argument may receive."""
    found = []
    try:
        import torch

        found += [torch.ones((3, 2)), torch.tensor(0.5), torch.tensor([1, 2])]
    except ImportError:
        pass
    try:
        import jax.numpy as jnp

        found += [jnp.ones((3, 2)), jnp.asarray(0.5)]
    except ImportError:
        pass
    return found


hostile = st.one_of(
    st.none(), st.booleans(), st.text(max_size=6),
    st.integers(-10**20, 10**20), st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.integers(-3, 3), max_size=4),
    st.lists(st.lists(st.floats(-5, 5), min_size=1, max_size=3), min_size=1, max_size=3),
    st.sampled_from([np.zeros((0, 2)), np.ones((2, 2, 2)), np.array(["a", "b"]),
                     np.array([1 + 2j, 3j]), np.full((3, 2), np.nan), np.ones((3, 5)),
                     np.array([[1e300, 1e300], [1, 2], [0, 0]]), {"a": 1}, (1, 2), object(),
                     10**400, -(10**400),  # ints beyond float's range (OverflowError)
                     *_library_arrays()]),
)

def _distributed(model=None, **options):
    from xprop.distributed import fit_distributed, world

    model = _M if model is None else model
    return fit_distributed(model, X3, Y3, comm=world(), **{"epochs": 1, **options})


def _estimator_with(name, value):
    return _estimator(**{name: value})


def _estimator(**params):
    from xprop.sklearn import MLPClassifier

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return MLPClassifier(**{"max_iter": 2, **params}).fit(X3, Y3)
EXPENSIVE = {"epochs", "n", "n_checks", "early_stopping", "verbose", "layer_sizes"}
#: argument name -> a call of a public function with the hostile value there (everything
#: else valid and small); arguments whose large valid values would mean long work say so
_M = xprop.MLP([2, 3, 2], "tanh", "softmax", "cross_entropy")
ENTRIES = {
    "layer_sizes": lambda v: xprop.MLP(v),
    "activation": lambda v: xprop.MLP([2, 3, 1], activation=v),
    "output_activation": lambda v: xprop.MLP([2, 3, 2], output_activation=v),
    "loss": lambda v: xprop.MLP([2, 3, 2], loss=v),
    "bias": lambda v: xprop.MLP([2, 3, 1], bias=v),
    "init": lambda v: xprop.MLP([2, 3, 1], init=v),
    "seed": lambda v: xprop.MLP([2, 3, 1], seed=v),
    "dtype": lambda v: xprop.MLP([2, 3, 1], dtype=v),
    "backend": lambda v: xprop.MLP([2, 3, 1], backend=v),
    "lr": lambda v: _M.fit(X3, Y3, lr=v, epochs=1),
    "epochs": lambda v: _M.fit(X3, Y3, epochs=v),
    "batch_size": lambda v: _M.fit(X3, Y3, batch_size=v, epochs=1),
    "optimizer": lambda v: _M.fit(X3, Y3, optimizer=v, epochs=1),
    "shuffle": lambda v: _M.fit(X3, Y3, epochs=1, config=xprop.FitConfig(shuffle=v)),
    "verbose": lambda v: _M.fit(X3, Y3, epochs=1,
                                config=xprop.FitConfig(verbose=v, log=lambda s: None)),
    "validation_split": lambda v: _M.fit(X3, Y3, validation_split=v, epochs=1),
    "early_stopping": lambda v: _M.fit(X3, Y3, early_stopping=v, validation_split=0.3,
                                       epochs=1),
    "min_delta": lambda v: _M.fit(X3, Y3, epochs=1, config=xprop.FitConfig(min_delta=v)),
    "restore_best": lambda v: _M.fit(X3, Y3, epochs=1, config=xprop.FitConfig(restore_best=v)),
    "schedule": lambda v: _M.fit(X3, Y3, epochs=1, config=xprop.FitConfig(schedule=v)),
    "clip_norm": lambda v: _M.fit(X3, Y3, epochs=1, config=xprop.FitConfig(clip_norm=v)),
    "callbacks": lambda v: _M.fit(X3, Y3, epochs=1, config=xprop.FitConfig(callbacks=v)),
    "compiled": lambda v: _M.fit(X3, Y3, epochs=1, config=xprop.FitConfig(compiled=v)),
    "X": lambda v: _M.predict(v),
    "y": lambda v: _M.loss(X3, v),
    "n_checks": lambda v: xprop.gradcheck(_M, X3, Y3, n_checks=v, mode="fast"),
    "h": lambda v: xprop.gradcheck(_M, X3, Y3, h=v, mode="fast"),
    "method": lambda v: xprop.gradcheck(_M, X3, Y3, method=v, mode="fast"),
    "mode": lambda v: xprop.gradcheck(_M, X3, Y3, mode=v, n_checks=1),
    "noise": lambda v: datasets.moons(10, noise=v),
    "n": lambda v: datasets.spirals(v),
    "label": lambda v: datasets.load_csv(_CSV, label=v),
    "header": lambda v: datasets.load_csv(_CSV, header=v),
    "test_size": lambda v: datasets.train_test_split(X3, Y3, test_size=v),
    "device": lambda v: xprop.MLP([2, 3, 1], device=v),
    "weights": lambda v: xprop.MLP.from_arrays(v),
    "W0": lambda v: _M.set_parameters({"W0": v}),
    "path": lambda v: xprop.load(v),
    "Standardizer.X": lambda v: datasets.Standardizer().fit(v),
    "fit_distributed.lr": lambda v: _distributed(lr=v),
    "fit.model": lambda v: xprop.fit(v, X3, Y3, epochs=1),
    "fit_distributed.model": lambda v: _distributed(model=v),
    "gradcheck.model": lambda v: xprop.gradcheck(v, X3, Y3, mode="fast"),
    "trace.model": lambda v: xprop.trace(v, X3, Y3),
    "MLP.backward.cache": lambda v: _M.backward(v, Y3),
    "network.loss_value.cache": lambda v: xprop.network.loss_value(v, Y3, _M.arch),
    "fit_distributed.epochs": lambda v: _distributed(epochs=v),
    **{f"MLPClassifier.{p}": functools.partial(_estimator_with, p) for p in (
        "hidden_layer_sizes", "activation", "solver", "alpha", "batch_size", "learning_rate",
        "learning_rate_init", "power_t", "max_iter", "tol", "momentum", "validation_fraction",
        "beta_1", "beta_2", "epsilon", "n_iter_no_change", "max_fun", "dtype", "verbose")},
}
EXPENSIVE_PREFIXES = ("MLPClassifier.max_iter", "MLPClassifier.max_fun",
                      "MLPClassifier.hidden_layer_sizes", "MLPClassifier.batch_size",
                      "fit_distributed.epochs")


_CSV = None


@pytest.fixture(scope="module", autouse=True)
def _a_csv(tmp_path_factory):
    global _CSV
    _CSV = str(tmp_path_factory.mktemp("csv") / "d.csv")
    with open(_CSV, "w") as f:
        f.write("a,b,y\n1,2,0\n3,4,1\n")


@settings(max_examples=400, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(name=st.sampled_from(sorted(ENTRIES)), value=hostile)
def test_every_entry_point_refuses_hostile_values_with_a_named_one_line_error(name, value):
    expensive = name in EXPENSIVE or name in EXPENSIVE_PREFIXES
    if expensive and isinstance(value, (int, float)) and not isinstance(value, bool):
        assume(not value >= 50)
    if expensive and isinstance(value, (list, tuple)):
        assume(all(abs(v) < 50 for v in value if isinstance(v, (int, float))))
    argument = name.split(".")[-1]
    try:
        ENTRIES[name](value)
    except DOCUMENTED as e:
        message = str(e)
        assert message and "\n" not in message.strip(), message
        # (the estimators raise scikit-learn's InvalidParameterError, as scikit-learn's do)
        own = ("builtins", "xprop", *(("sklearn",) if name.startswith("MLP") else ()))
        assert type(e).__module__.split(".")[0] in own, type(e)
        named = argument in message or (isinstance(e, OSError) and repr(value) in message)
        assert named, f"{name}={value!r}: {type(e).__name__}: {message}"  # a file: its name
    except Exception as e:  # an undocumented type is the failure
        pytest.fail(f"{name}={value!r}: {type(e).__module__}.{type(e).__name__}: {e}")


cli_values = st.one_of(st.sampled_from(["", "-1", "0", "nan", "inf", "1e400", "abc", "2.5",
                                        "-0", "1,2", "float16", "..", "/", "x.npz"]),
                       st.text(st.characters(blacklist_characters="\x00",
                                             blacklist_categories=("Cs",)), max_size=4))
OPTIONS = ["--epochs", "--lr", "--batch-size", "--hidden", "--activation", "--loss",
           "--optimizer", "--seed", "--dtype", "--validation-split", "--early-stopping",
           "--schedule", "--clip-norm", "--test-size", "--verbose", "--backend", "--label",
           "--output-activation", "--init"]


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(option=st.sampled_from(OPTIONS), value=cli_values)
def test_every_cli_option_refuses_hostile_values_in_one_line(tmp_path_factory, option, value):
    d = tmp_path_factory.mktemp("cli")
    if option == "--epochs":
        assume(not value.strip().isdigit() or int(value) < 50)
    r = run_cli(d, "train", "--data", "xor", "--epochs", "2", "--quiet", option, value)
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode in (0, 2), (r.returncode, r.stderr)
    if r.returncode == 2:
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
        flag = option.lstrip("-")
        assert flag in r.stderr or option in r.stderr or "data" in r.stderr, r.stderr


def test_second_audit_small_findings(tmp_path):
    """Before: save(overwrite="False") replaced the file; datasets.load(pathlib.Path)
    raised AttributeError; torch's own RuntimeError for device="tpu" named no argument and
    device="meta" gave tensors without values; a FIFO was said not to exist."""
    import os
    import pathlib

    m = xprop.MLP([2, 3, 1], seed=0)
    path = m.save(tmp_path / "keep.npz")
    before = pathlib.Path(path).read_bytes()
    with pytest.raises(ValueError, match=r"^overwrite: expected True or False, got 'False'$"):
        xprop.MLP([2, 3, 1], seed=1).save(path, overwrite="False")
    assert pathlib.Path(path).read_bytes() == before
    with pytest.raises(FileNotFoundError, match=r"nope\.csv' does not exist"):
        xprop.datasets.load(tmp_path / "nope.csv")
    with pytest.raises(TypeError, match=r"^data: expected a file name"):
        xprop.datasets.load(3)
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe.npz")
        with pytest.raises(ValueError, match="is not a regular file"):
            xprop.load(tmp_path / "pipe.npz")
    pytest.importorskip("torch")
    for device in ("tpu", "meta", "garbage!"):
        with pytest.raises(xprop.BackendError, match=r"^device: expected 'cpu', 'cuda' or "):
            xprop.MLP([2, 3, 1], backend="torch", device=device)
