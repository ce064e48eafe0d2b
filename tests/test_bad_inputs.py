"""Bad inputs get a clear one-line error before any long work, and lose nothing (issue 11):
the cases fixed so far, each reproduced."""

from __future__ import annotations

import re

import numpy as np
import pytest

import xprop
from tests.conftest import HAS_TORCH
from tests.test_cli import assert_cli_error, run_cli


def _data(n=20):
    X = np.random.default_rng(0).standard_normal((n, 2))
    return X, (X[:, 0] > 0).astype(int)


@pytest.mark.parametrize("out", ["outdir/", "adir.npz"])
def test_train_refuses_a_directory_as_out_before_training(tmp_path, out):
    """Before: ``--out outdir/`` wrote a hidden ``outdir/.npz`` and exited 0; ``--out adir.npz
    --force`` with a directory of that name trained, then lost the model."""
    (tmp_path / "outdir").mkdir()
    (tmp_path / "adir.npz").mkdir()
    r = run_cli(tmp_path, "train", "--data", "xor", "--epochs", "3", "--quiet", "--out", out,
                "--force")
    assert_cli_error(r, "--out", "directory")
    assert "done:" not in r.stdout  # refused before training
    assert sorted(p.name for p in (tmp_path / "outdir").iterdir()) == []


def test_train_refuses_an_unwritable_directory_before_training(tmp_path):
    """Before: ``--out /proc/m.npz`` trained to the end, then failed naming a temporary
    file."""
    r = run_cli(tmp_path, "train", "--data", "xor", "--epochs", "3", "--quiet", "--out",
                "/proc/m.npz")
    assert_cli_error(r, "--out", "cannot write")
    assert "done:" not in r.stdout


def test_a_name_next_to_a_directory_is_fine(tmp_path):
    """``--out model`` writes ``model.npz`` even when a directory ``model`` exists."""
    (tmp_path / "model").mkdir()
    r = run_cli(tmp_path, "train", "--data", "xor", "--epochs", "3", "--quiet", "--out",
                "model")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "model.npz").is_file()


def test_save_refuses_a_directory(tmp_path):
    m = xprop.MLP([2, 3, 2])
    (tmp_path / "d.npz").mkdir()
    for bad in (str(tmp_path) + "/", tmp_path / "d.npz"):
        with pytest.raises(IsADirectoryError, match="directory"):
            m.save(bad)
    assert not (tmp_path / ".npz").exists()


def test_fit_without_targets_names_y():
    X, _ = _data()
    with pytest.raises(ValueError, match=r"^y: fit needs targets"):
        xprop.MLP([2, 3, 2], "tanh", "softmax", "cross_entropy").fit(X, None, epochs=1)


@pytest.mark.parametrize("value, shown", [
    (np.float64(-1.0), repr(np.float64(-1.0))), (np.array(-2.0), "array(-2.)"),
    (np.ones(3), "ndarray of shape (3,) and dtype float64")])
def test_errors_show_a_scalar_arrays_value_and_a_larger_arrays_shape(value, shown):
    """A NumPy scalar or 0-d array in an option is shown with its value; a larger array by
    its type, shape and dtype (never its values)."""
    with pytest.raises(ValueError) as err:
        xprop.FitConfig(lr=value)
    assert str(err.value) == f"lr: expected a finite number > 0, got {shown}"


def test_validation_data_errors_name_it():
    X, y = _data()
    with pytest.raises(ValueError, match=r"^validation_data: X: expected 2 features"):
        xprop.MLP([2, 3, 2], "tanh", "softmax", "cross_entropy").fit(
            X, y, epochs=1, config=xprop.FitConfig(validation_data=(X[:, :1], y)))


def test_finite_values_that_overflow_float32_are_named_as_such(case):
    """Before: 'found NaN or inf' for data that is finite but too large for float32."""
    X, y = _data()
    if case.dtype != "float32":
        pytest.skip("float64 holds these values")
    m = xprop.MLP([2, 3, 2], "tanh", "softmax", "cross_entropy", dtype="float32",
                  backend=case.backend)
    for data in (X * 1e300, case.backend.from_host(X * 1e300, "float64")
                 if "float64" in case.backend.supported_float_dtypes() else X * 1e300):
        with pytest.raises(ValueError, match=r"^X: values up to 2.3\de\+300 overflow float32"):
            m.fit(data, y, epochs=1)


def test_the_cli_honours_xprop_backend_and_refuses_a_bad_one(tmp_path):
    """Before: the CLI always passed ``auto``, and ``XPROP_BACKEND=bogus xprop train``
    exited 0."""
    import os
    import subprocess
    import sys

    def run(env_value, *args):
        env = {**os.environ, "XPROP_BACKEND": env_value}
        return subprocess.run([sys.executable, "-m", "xprop", "train", "--data", "xor",
                               "--epochs", "2", *args], capture_output=True, text=True,
                              env=env, timeout=300, cwd=tmp_path)

    bad = run("bogus")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert "XPROP_BACKEND=bogus" in bad.stderr
    good = run("array_api_strict")
    assert good.returncode == 0, good.stderr
    assert "backend=array_api_strict" in good.stdout
    explicit = run("bogus", "--backend", "numpy")  # the option wins over the variable
    assert explicit.returncode == 0, explicit.stderr


def _default_sigint() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize(("name", "status", "said"), [
    ("SIGINT", 130, "interrupted"), ("SIGTERM", 143, "terminated (SIGTERM)")])
def test_a_signal_during_train_saves_the_last_completed_epoch(tmp_path, name, status, said):
    """Before: Ctrl-C said 'interrupted' but lost every epoch, and SIGTERM (``timeout``,
    SLURM, Kubernetes, ``docker stop``) left no file. Now --out gets the model of the last
    completed epoch, and one line says so."""
    import signal
    import subprocess
    import sys

    # SIGINT as a terminal delivers it: a test run in the background (`pytest &` ignores
    # SIGINT, and the child inherits that) must not turn Ctrl-C into nothing
    proc = subprocess.Popen([sys.executable, "-u", "-m", "xprop", "train", "--data", "digits",
                             "--epochs", "1000000", "--quiet", "--verbose", "1", "--out",
                             "m.npz"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=_default_sigint)
    import threading

    watchdog = threading.Timer(120, proc.kill)  # never a hang, whatever is printed
    watchdog.start()
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if line.split()[:2] == ["epoch", "2/1000000"]:  # epochs 1 and 2 are recorded:
                break  # no sleep, no race
        proc.send_signal(getattr(signal, name))
        _, err = proc.communicate(timeout=120)
    finally:
        watchdog.cancel()
        proc.kill()
    assert proc.returncode == status, (err, seen[-5:])  # what the run said before the end
    assert err.startswith(f"xprop: {said}; saved the model after epoch") \
        and err.count("\n") == 1, err
    done = int(err.split("after epoch ")[1].split()[0])
    assert done >= 2
    model = xprop.load(tmp_path / "m.npz")
    assert model.sizes[0] == 64 and model.all_finite()


def test_standardising_features_near_1e300_works_as_for_small_ones(tmp_path):
    """Before: the std overflowed, every feature became 0.0 and training 'succeeded' at
    chance accuracy."""
    from xprop.datasets import Standardizer

    X, y = _data(40)
    small = Standardizer().fit_transform(X)
    with np.errstate(all="raise"):  # no overflow on the way
        huge = Standardizer().fit_transform(X * 1e300)
    np.testing.assert_allclose(huge, small, rtol=1e-12, atol=1e-12)
    np.savez(tmp_path / "huge.npz", X=X * 1e300, y=y)
    np.savez(tmp_path / "plain.npz", X=X, y=y)
    runs = [run_cli(tmp_path, "train", "--data", f, "--epochs", "50", "--quiet")
            for f in ("huge.npz", "plain.npz")]
    for r in runs:
        assert r.returncode == 0 and r.stderr == "", r.stderr
    accuracy = [line.split("train accuracy")[1].split(",")[0] for r in runs
                for line in r.stdout.splitlines() if line.startswith("done:")]
    assert accuracy[0] == accuracy[1]
    with pytest.raises(ValueError, match="finite"):
        Standardizer().fit(np.array([[1.0], [np.inf]]))


@pytest.mark.parametrize(("change", "message"), [
    ({"input_mean": np.zeros(5)}, r"array input_mean has shape \(5,\), expected \(2,\)"),
    ({"input_std": None}, "input_mean without the other"),
    ({"input_mean": np.array(["a", "b"])}, "input_mean: expected 2 numbers"),
    ({"input_std": np.zeros(2)}, "input_std: expected values > 0"),
    ({"input_std": np.array([1.0, np.nan])}, "input_std: expected finite values"),
])
def test_a_checkpoints_standardisation_is_checked_at_load(tmp_path, change, message):
    """Before: a wrong-length input_mean loaded and then blamed the data; a lone input_mean
    or a string mean leaked raw Python errors; std 0 gave a NaN cascade."""
    m = xprop.MLP([2, 3, 2], "tanh", "softmax", "cross_entropy")
    path = m.save(tmp_path / "m.npz", input_mean=np.zeros(2), input_std=np.ones(2))
    arrays = dict(np.load(path))
    for key, value in change.items():
        if value is None:
            del arrays[key]
        else:
            arrays[key] = value
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(xprop.CheckpointError, match=message):
        xprop.load(tmp_path / "bad.npz")


def test_a_torch_input_that_requires_grad_does_not_leak_into_training():
    """Before: the parameters became autograd nodes (7x the time, 10x the memory)."""
    torch = pytest.importorskip("torch")
    X, y = _data()
    Xt = torch.asarray(X, dtype=torch.float64).requires_grad_(True)
    m = xprop.MLP([2, 3, 2], "tanh", "softmax", "cross_entropy", backend="torch")
    m.fit(Xt, torch.asarray(y), epochs=2)
    assert not m.params.buffer.requires_grad
    assert not m.predict_output(Xt).requires_grad


def test_a_closed_pipe_ends_the_cli_quietly(tmp_path):
    """Before: ``xprop ... | head`` ended with '[Errno 32] Broken pipe'."""
    import subprocess
    import sys

    r = subprocess.run(f"{sys.executable} -m xprop train --data spirals --epochs 30 | head -1",
                       shell=True, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.stdout.startswith("data: spirals") and r.stderr == "", r.stderr


def test_divergence_in_the_cli_is_one_line(tmp_path):
    """Before: multi-line RuntimeWarning blocks with file paths came first."""
    r = run_cli(tmp_path, "train", "--data", "spirals", "--epochs", "50", "--lr", "1e8",
                "--quiet", "--optimizer", "sgd")
    assert_cli_error(r, "diverged")


@pytest.mark.parametrize(("args", "fragment"), [
    (["--schedule", "bogus"], "--schedule"), (["--validation-split", "1.5"], "--validation-split"),
    (["--epochs", "5.0"], "--epochs: expected an integer, got '5.0'"),
    (["--verbose", "-1"], "--verbose: expected an integer >= 0, got -1"),
    (["--lr", "inf"], "--lr: expected a finite number > 0, got inf"),
    (["--hidden", "8,,8"], "--hidden: expected comma-separated integers like 64,64, got '8,,8'"),
])
def test_bad_training_options_are_refused_before_loading_data(tmp_path, args, fragment):
    """Before: caught only after loading the data and printing the model."""
    r = run_cli(tmp_path, "train", "--data", "digits", *args)
    assert_cli_error(r, fragment)
    assert r.stdout == ""


def test_gradcheck_and_evaluate_say_which_samples_they_used(tmp_path):
    r = run_cli(tmp_path, "gradcheck", "--data", "spirals", "--samples", "10")
    assert "samples: the first 10 of 600 (--samples)" in r.stdout
    assert run_cli(tmp_path, "train", "--data", "xor", "--epochs", "2", "--quiet", "--out",
                   "x.npz").returncode == 0
    r = run_cli(tmp_path, "evaluate", "--checkpoint", "x.npz", "--data", "xor")
    assert r.returncode == 0 and "samples: all 4 of xor" in r.stdout


def test_train_help_is_readable_and_states_the_dtype(tmp_path):
    r = run_cli(tmp_path, "train", "--help")
    assert r.returncode == 0
    assert "{" not in r.stdout.split("options:")[0].split("\n\n", 1)[1]  # no raw JSON
    assert "--hidden 64,64" in r.stdout and "float32" in r.stdout


def test_seed_errors_name_the_option_and_numpy_seeds_work_everywhere(tmp_path):
    assert_cli_error(run_cli(tmp_path, "train", "--data", "xor", "--seed", "-1"), "--seed")
    X, y = _data()
    m = xprop.MLP([2, 3, 2], "tanh", "softmax", "cross_entropy", seed=np.int64(3))
    m.fit(X, y, epochs=1, config=xprop.FitConfig(seed=np.int64(4)))
    assert xprop.gradcheck(m, X, y, seed=np.int64(5), n_checks=2).passed


def test_evaluate_can_score_the_test_part_train_held_out(tmp_path):
    r = run_cli(tmp_path, "train", "--data", "digits", "--epochs", "3", "--quiet", "--out",
                "d.npz")
    assert r.returncode == 0, r.stderr
    trained = r.stdout.split("test accuracy")[1].split()[0]
    r = run_cli(tmp_path, "evaluate", "--checkpoint", "d.npz", "--data", "digits",
                "--test-size", "0.2")
    assert r.returncode == 0, r.stderr
    assert "the 360 test samples of digits" in r.stdout
    assert f"accuracy: {trained}" in r.stdout


def test_empty_and_bool_label_npz_files(tmp_path):
    """Before: an empty .npz crashed in a reduction; bool labels chose a model, printed it,
    then refused it."""
    np.savez(tmp_path / "empty.npz", X=np.zeros((0, 2)), y=np.zeros(0, dtype=int))
    r = run_cli(tmp_path, "train", "--data", "empty.npz", "--epochs", "2")
    assert_cli_error(r, "y")
    assert r.stdout == ""
    X, y = _data(40)
    np.savez(tmp_path / "bools.npz", X=X, y=y.astype(bool))
    r = run_cli(tmp_path, "train", "--data", "bools.npz", "--epochs", "5", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "softmax" in r.stdout and "train accuracy" in r.stdout


def test_layer_sizes_as_a_1d_integer_array_and_what_is_refused():
    """np.r_[2, 8, 1] is a list of sizes (as hidden_layer_sizes takes arrays); float, bool and
    2-D arrays are refused naming the entry or the shape."""
    assert xprop.MLP(np.array([2, 8, 1]), seed=0).sizes == [2, 8, 1]
    assert xprop.MLP(np.r_[np.int32(2), 3, 1], seed=0).sizes == [2, 3, 1]
    for bad in (np.array([2.0, 1.0]), np.array([True, True])):  # NumPy's repr of an entry
        with pytest.raises(ValueError, match=r"^layer_sizes\[0\]: expected an integer >= 1, "
                                             rf"got {re.escape(repr(bad[0]))}$"):
            xprop.MLP(bad)
    with pytest.raises(ValueError, match=r"^layer_sizes: expected a list of at least 2 integers "
                                         r">= 1, got ndarray of shape \(1, 2\)"):
        xprop.MLP(np.array([[2, 1]]))


# ------------------------------------------------- data edge cases, found by a hostile review


def _three_classes(**kw):
    return xprop.MLP([2, 4, 3], "tanh", "softmax", "cross_entropy", seed=0, **kw)


def test_ndarray_subclasses_train_as_plain_arrays_or_are_refused_by_name():
    """np.matrix (whose * is a matrix product) trains, scores and checks as the plain array;
    a masked array is refused naming the argument (dropping its mask would train on masked
    entries), on NumPy and on other backends alike."""
    import warnings

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((20, 2)), np.arange(20) % 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        M = np.asmatrix(X)
        a, b = _three_classes(), _three_classes()
        assert a.fit(M, y, epochs=3).loss == b.fit(X, y, epochs=3).loss
        assert a.loss(M, y) == b.loss(X, y) and a.accuracy(M, y) == b.accuracy(X, y)
        assert xprop.gradcheck(a, M[:4], y[:4]).passed
    for backend in ["numpy"] + (["torch"] if HAS_TORCH else []):
        with pytest.raises(TypeError, match=r"^X: expected an array without a mask, got a "
                                            r"masked array; fill or drop"):
            _three_classes(backend=backend).predict(np.ma.masked_array(X, mask=X > 1))
        with pytest.raises(TypeError, match=r"^y: expected an array without a mask"):
            _three_classes(backend=backend).fit(X, np.ma.masked_array(y), epochs=1)


@pytest.mark.skipif(not HAS_TORCH, reason="needs torch")
def test_a_sparse_tensor_is_refused_by_name():
    import torch

    X = torch.tensor(np.ones((4, 2)), dtype=torch.float32).to_sparse()
    with pytest.raises(TypeError, match=r"^X: expected a dense tensor, got a torch.sparse_coo "
                                        r"one; pass X.to_dense\(\)$"):
        _three_classes(backend="torch").predict(X)


@pytest.mark.parametrize("labels, shown", [
    (np.full(20, 2**64 - 1, dtype=np.uint64), "1.84467e+19 to 1.84467e+19"),
    (np.full(20, 1e20), "1e+20 to 1e+20"), (np.full(20, -1), "-1 to -1"),
    (np.arange(20) % 5, "0 to 4")])
def test_label_range_errors_show_the_labels_as_given(labels, shown):
    """Labels out of range are reported as the caller gave them, never wrapped by a cast
    to int64 first."""
    X = np.zeros((20, 2))
    with pytest.raises(ValueError) as err:
        _three_classes().fit(X, labels, epochs=1)
    assert str(err.value) == ("y: expected class labels in [0, 3) for 3 outputs, got labels "
                              f"from {shown}")


def test_a_whole_number_regression_target_is_not_taken_for_class_labels(tmp_path):
    """More classes than samples is a regression target (prices): refused with the loss to
    pass, in Python and the CLI, before a model of max(y) + 1 outputs is built."""
    from xprop.head import infer_task

    with pytest.raises(ValueError, match=r"^y: whole-number labels up to 250000 would make "
                                         r"250001 classes for 3 samples .* loss='mse'"):
        infer_task(np.array([200000, 250000, 199000]))
    assert infer_task(np.array([0, 10, 20] * 10)).n_outputs == 21  # fewer than the samples
    assert infer_task(np.array([200000, 250000, 199000]), loss="mse").n_outputs == 1
    rng = np.random.default_rng(0)
    rows = [f"{a:.3f},{200000 + round(50000 * a)}" for a in rng.standard_normal(40)]
    (tmp_path / "price.csv").write_text("a,price\n" + "\n".join(rows) + "\n")
    r = run_cli(tmp_path, "train", "--data", "price.csv", "--epochs", "1")
    assert_cli_error(r, "would make", "--loss='mse'")
    r = run_cli(tmp_path, "train", "--data", "price.csv", "--epochs", "1", "--loss", "mse",
                "--quiet")
    assert r.returncode == 0, r.stderr
    # errors about what the file holds, not about options the user never gave
    (tmp_path / "single.csv").write_text("f1,f2,label\n0.1,0.2,0\n0.3,0.4,0\n0.5,0.1,0\n")
    (tmp_path / "onecol.csv").write_text("label\n1\n0\n1\n")
    r = run_cli(tmp_path, "train", "--data", "single.csv", "--test-size", "0")
    assert_cli_error(r, "y: only one class (label 0) in the labels")
    r = run_cli(tmp_path, "train", "--data", "onecol.csv", "--test-size", "0")
    assert_cli_error(r, "data file 'onecol.csv': no feature columns besides the label")


def test_train_test_split_stratifies_one_hot_rows_and_keeps_the_test_size():
    """Stratified: each distinct row of a 2-D y is a class (as scikit-learn's stratify=y), and
    the test part has ceil(n * test_size) rows shared out by largest remainders (a class of
    2 at 0.25 no longer rounds the test part away); a scalar X or y is refused by name."""
    from xprop.datasets import train_test_split

    X, y = np.arange(40.0).reshape(20, 2), np.arange(20) % 3
    _, _, _, test = train_test_split(X, np.eye(3)[y], test_size=0.2, stratify=True)
    assert test.shape == (4, 3) and set(test.sum(axis=0).tolist()) <= {1.0, 2.0}
    assert len(train_test_split(X[:4], np.array([0, 1, 0, 1]), test_size=0.5,
                                stratify=True)[1]) == 2
    labels = np.array([0] * 7 + [1] * 7 + [2] * 6)
    assert np.bincount(train_test_split(X, labels, test_size=0.2, stratify=True)[3]).sum() == 4
    for bad_X, bad_y, name in ((3.0, y, "X"), (None, y, "X"), (X, 3, "y")):
        with pytest.raises(ValueError, match=rf"^{name}: expected an array with one entry per "
                                             "sample, got"):
            train_test_split(bad_X, bad_y)


def test_object_data_is_read_when_it_holds_real_numbers_only():
    """Object arrays and pandas frames are read as scikit-learn reads them: real numbers
    (bools, fractions, numeric, nullable and categorical columns) as float64; strings, dates,
    None and complex numbers are refused as not real numbers, never parsed or counted."""
    import fractions

    pd = pytest.importorskip("pandas")
    m = xprop.MLP([2, 3, 3], "tanh", "softmax", "cross_entropy", seed=0)
    ref = m.predict_output(np.array([[1.0, 2.0], [0.0, 4.0]]))
    for X in (pd.DataFrame({"a": [True, False], "b": [2.0, 4.0]}).values,  # object dtype
              np.array([[fractions.Fraction(1), 2], [0, 4.0]], dtype=object),
              pd.DataFrame({"a": pd.array([1, 0], dtype="Int64"), "b": [2.0, 4.0]}),
              pd.DataFrame({"a": pd.Categorical([1.0, 0.0]), "b": [2.0, 4.0]})):
        np.testing.assert_array_equal(m.predict_output(X), ref)
    for X in (pd.DataFrame({"a": ["1", "0"], "b": [2.0, 4.0]}),
              pd.DataFrame({"a": pd.date_range("2020", periods=2), "b": [2.0, 4.0]}),
              pd.DataFrame({"a": pd.to_timedelta([1, 2], unit="s"), "b": [2.0, 4.0]}),
              np.array([[None, 2.0], [0.0, 4.0]], dtype=object),
              np.array([[1j, 2.0], [0.0, 4.0]], dtype=object)):
        with pytest.raises(TypeError, match=r"^X: expected real numbers, got dtype"):
            m.predict(X)
        with pytest.raises(TypeError, match=r"^X: expected real numbers, got dtype"):
            m.standardize(X)
    with pytest.raises(TypeError, match=r"^y: expected real numbers"):
        m.loss([[0, 1], [1, 0]], pd.Series(["0", "2"]))
