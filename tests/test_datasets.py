"""Host datasets: the seeded generators, digits, the ``.npz``/``.csv`` loaders (and their error
messages), ``Standardizer`` and ``train_test_split``."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

import xprop
from xprop import datasets as D

# --------------------------------------------------------------------------- generators


def test_xor_both_conventions():
    X, y = D.xor()
    np.testing.assert_array_equal(X, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(y, [0, 1, 1, 0])
    assert X.dtype == np.float64 and y.dtype == np.int64
    Xs, ys = D.xor(signed=True)
    np.testing.assert_array_equal(Xs, [[-1, -1], [-1, 1], [1, -1], [1, 1]])
    np.testing.assert_array_equal(ys, y)
    # the label is the XOR of the two bits in either convention
    np.testing.assert_array_equal(ys, (Xs[:, 0] != Xs[:, 1]).astype(np.int64))
    for name, expected in (("xor", X), ("xor_signed", Xs)):
        got, _ = D.load(name)
        np.testing.assert_array_equal(got, expected)


GENERATORS = {
    "moons": lambda n, seed, **kw: D.moons(n, seed=seed, **kw),
    "circles": lambda n, seed, **kw: D.circles(n, seed=seed, **kw),
    "spirals2": lambda n, seed, **kw: D.spirals(n, arms=2, seed=seed, **kw),
    "spirals3": lambda n, seed, **kw: D.spirals(n, arms=3, seed=seed, **kw),
    "spirals5": lambda n, seed, **kw: D.spirals(n, arms=5, seed=seed, **kw),
}
N_CLASSES = {"moons": 2, "circles": 2, "spirals2": 2, "spirals3": 3, "spirals5": 5}


@pytest.mark.parametrize("name", sorted(GENERATORS))
@pytest.mark.parametrize("n", [101, 300])
def test_generator_shapes_and_label_counts(name, n):
    X, y = GENERATORS[name](n, 0)
    k = N_CLASSES[name]
    assert X.shape == (n, 2) and y.shape == (n,)
    assert X.dtype == np.float64 and y.dtype == np.int64
    assert np.all(np.isfinite(X))
    counts = np.bincount(y, minlength=k)
    assert len(counts) == k
    if name in ("moons", "circles"):
        expected = [n // 2, n - n // 2]
    else:
        expected = [n // k + (1 if i < n % k else 0) for i in range(k)]
    assert counts.tolist() == expected
    # shuffled: the labels are not sorted
    assert np.any(np.diff(y) < 0)


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_generators_are_deterministic_by_seed(name):
    X1, y1 = GENERATORS[name](120, 7)
    X2, y2 = GENERATORS[name](120, 7)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    X3, y3 = GENERATORS[name](120, 8)
    assert not np.array_equal(X1, X3)
    # the same points, up to noise and order: the label multiset does not depend on the seed
    assert sorted(y1.tolist()) == sorted(y3.tolist())


def test_generator_geometry_without_noise():
    X, y = D.circles(200, noise=0.0, factor=0.3)
    r = np.hypot(X[:, 0], X[:, 1])
    np.testing.assert_allclose(r[y == 0], 1.0, rtol=1e-12)
    np.testing.assert_allclose(r[y == 1], 0.3, rtol=1e-12)
    X, y = D.moons(200, noise=0.0)
    np.testing.assert_allclose(np.hypot(X[y == 0, 0], X[y == 0, 1]), 1.0, rtol=1e-12)
    assert np.all(X[y == 0, 1] >= -1e-12)  # upper half circle
    np.testing.assert_allclose(np.hypot(X[y == 1, 0] - 1.0, X[y == 1, 1] - 0.5), 1.0, rtol=1e-12)
    X, y = D.spirals(300, arms=3, noise=0.0)
    assert np.max(np.hypot(X[:, 0], X[:, 1])) == pytest.approx(1.0, rel=1e-12)


def test_generator_errors():
    with pytest.raises(ValueError, match=r"^n: "):
        D.moons(1)
    with pytest.raises(ValueError, match=r"^n: "):
        D.circles(2.5)
    with pytest.raises(ValueError, match=r"^n: "):
        D.spirals(2, arms=3)
    with pytest.raises(ValueError, match=r"^arms: "):
        D.spirals(10, arms=1)
    with pytest.raises(ValueError, match=r"^data: "):
        D.load("no_such_dataset")


def test_load_by_name_passes_arguments():
    X, y = D.load("spirals", n=30, arms=3, seed=4)
    X2, y2 = D.spirals(30, arms=3, seed=4)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)


def test_digits():
    pytest.importorskip("sklearn")
    X, y = D.digits()
    assert X.shape == (1797, 64) and y.shape == (1797,)
    assert X.dtype == np.float64 and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 16.0
    assert sorted(np.unique(y).tolist()) == list(range(10))


# --------------------------------------------------------------------------- npz


def test_load_npz_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 3))
    y = rng.integers(0, 3, size=12)
    path = tmp_path / "data.npz"
    np.savez(path, X=X, y=y)
    X2, y2 = D.load_npz(path)
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)
    assert X2.dtype == np.float64 and y2.dtype == y.dtype
    X3, y3 = D.load(str(path))
    np.testing.assert_array_equal(X3, X)
    np.testing.assert_array_equal(y3, y)


def test_load_npz_integer_features_and_unlabelled(tmp_path):
    path = tmp_path / "x.npz"
    np.savez(path, X=np.arange(6, dtype=np.int32).reshape(3, 2))
    X, y = D.load_npz(path, labels=False)
    assert y is None and X.dtype == np.float64
    np.testing.assert_array_equal(X, [[0, 1], [2, 3], [4, 5]])
    with pytest.raises(ValueError, match=r"missing \['y'\]"):
        D.load_npz(path)


def test_load_npz_refuses_object_arrays(tmp_path):
    path = tmp_path / "obj.npz"
    X = np.empty((2, 2), dtype=object)
    X[...] = 1.0
    np.savez(path, X=X, y=np.array([0, 1]))
    with pytest.raises(ValueError, match=r"obj\.npz.*(allow_pickle|[Oo]bject|pickle)"):
        D.load_npz(path)


def test_load_npz_reads_without_pickle(tmp_path, monkeypatch):
    path = tmp_path / "d.npz"
    np.savez(path, X=np.ones((2, 2)), y=np.array([0, 1]))
    calls = []
    real_load = np.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("allow_pickle", "default"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(np, "load", spy)
    D.load_npz(path)
    assert calls == [False]


@pytest.mark.parametrize(
    ("arrays", "match"),
    [
        ({"X": np.ones(4), "y": np.zeros(4, int)}, "2-D"),
        ({"X": np.ones((4, 2)), "y": np.zeros(3, int)}, "4 rows but y has 3"),
        ({"X": np.array([["a", "b"]]), "y": np.zeros(1, int)}, "numeric"),
        ({"X": np.array([[1.0, np.nan]]), "y": np.zeros(1, int)}, "X: expected finite values"),
        ({"X": np.ones((1, 2)), "y": np.array([np.inf])}, "y contains NaN or inf"),
        ({"y": np.zeros(2, int)}, r"missing \['X'\]"),
    ],
)
def test_load_npz_bad_contents(tmp_path, arrays, match):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=match):
        D.load_npz(path)


def test_load_npz_corrupt_and_missing(tmp_path):
    path = tmp_path / "junk.npz"
    path.write_bytes(np.random.default_rng(0).bytes(300))
    with pytest.raises(ValueError, match=r"not an \.npz \(zip\) archive"):
        D.load_npz(path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        D.load_npz(tmp_path / "nope.npz")
    with pytest.raises(IsADirectoryError, match="is a directory, not a file"):
        D.load_npz(tmp_path)


def test_load_npz_on_a_plain_npy_file_is_a_clear_error(tmp_path):
    path = tmp_path / "array.npz"
    with open(path, "wb") as fh:
        np.save(fh, np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"array\.npz"):
        D.load_npz(path)


# --------------------------------------------------------------------------- csv


def _write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


HEADER_CSV = "x1,x2,label\n0.5,1.0,0\n1.5,-2.0,1\n2.5,3.0,2\n"


def test_load_csv_header_label_by_name_and_index(tmp_path):
    path = _write(tmp_path, HEADER_CSV)
    expected_X = np.array([[0.5, 1.0], [1.5, -2.0], [2.5, 3.0]])
    for label in ("label", -1, 2, "2", "-1"):
        X, y = D.load_csv(path, label=label)
        np.testing.assert_array_equal(X, expected_X)
        np.testing.assert_array_equal(y, [0, 1, 2])
        assert X.dtype == np.float64 and y.dtype == np.int64
    X, y = D.load_csv(path)  # default: the last column
    np.testing.assert_array_equal(y, [0, 1, 2])
    # another column by name and by index 0
    for label in ("x1", 0):
        X, y = D.load_csv(path, label=label)
        np.testing.assert_array_equal(X, [[1.0, 0], [-2.0, 1], [3.0, 2]])
        np.testing.assert_array_equal(y, [0.5, 1.5, 2.5])
        assert y.dtype == np.float64


def test_load_csv_without_header(tmp_path):
    path = _write(tmp_path, "1,2,0\n3,4,1\n\n5,6,1\n")
    X, y = D.load_csv(path)
    np.testing.assert_array_equal(X, [[1, 2], [3, 4], [5, 6]])
    np.testing.assert_array_equal(y, [0, 1, 1])
    assert y.dtype == np.int64
    X, y = D.load_csv(path, label=None)
    assert y is None and X.shape == (3, 3)
    X, y = D.load_csv(path, label=0)
    np.testing.assert_array_equal(y, [1, 3, 5])


def test_load_csv_float_target(tmp_path):
    path = _write(tmp_path, "a,b,target\n1,2,0.25\n3,4,-1.5\n5,6,2\n")
    X, y = D.load_csv(path, label="target")
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y, [0.25, -1.5, 2.0])
    np.testing.assert_array_equal(X, [[1, 2], [3, 4], [5, 6]])


def test_load_csv_other_delimiters(tmp_path):
    path = _write(tmp_path, "a\tb\ty\n1\t2\t0\n3\t4\t1\n", name="data.tsv")
    X, y = D.load(str(path))
    np.testing.assert_array_equal(X, [[1, 2], [3, 4]])
    np.testing.assert_array_equal(y, [0, 1])
    path = _write(tmp_path, "1;2;1\n3;4;0\n", name="semi.csv")
    X, y = D.load_csv(path, delimiter=";")
    np.testing.assert_array_equal(y, [1, 0])


def test_load_csv_ragged_rows(tmp_path):
    path = _write(tmp_path, "a,b,y\n1,2,0\n3,4\n")
    with pytest.raises(ValueError, match=r"ragged rows: line 3 has 2 cells, expected 3"):
        D.load_csv(path)
    path = _write(tmp_path, "1,2,0\n3,4,1,7\n", name="nohead.csv")
    with pytest.raises(ValueError, match=r"ragged rows: line 2 has 4 cells, expected 3"):
        D.load_csv(path)


@pytest.mark.parametrize("text, header", [("a,b,y,\n1,2,0,\n3,4,1,\n", "auto"),
                                          ("a,b,y,\n1,2,0,\n3,4,1,\n", True),
                                          ("1,2,0,\n3,4,1,\n", "auto")])
def test_load_csv_a_delimiter_ending_every_line(tmp_path, text, header):
    """Named as such (the header's empty last cell made it look like data: its names were
    reported as non-numeric cells)."""
    path = _write(tmp_path, text)
    with pytest.raises(ValueError, match=r": column 4 is empty on every line \(a delimiter "
                                         r"at the end of each line\? remove it\)$"):
        D.load_csv(path, header=header)


def test_an_empty_named_column_is_an_empty_cell(tmp_path):
    """Review: a header naming the empty last column is no delimiter too many."""
    path = _write(tmp_path, "x1,x2,y\n1,2,\n3,4,\n")
    with pytest.raises(ValueError, match=r"an empty cell at line 2, column 3$"):
        D.load_csv(path)


def test_load_csv_error_line_numbers_count_blank_lines(tmp_path):
    path = _write(tmp_path, "a,b,y\n\n1,2,0\n\n3,4,1,5\n")  # the ragged row is line 5
    with pytest.raises(ValueError, match=r"line 5 has 4 cells"):
        D.load_csv(path)


def test_load_csv_non_numeric_cells(tmp_path):
    path = _write(tmp_path, "a,b,y\n1,2,0\n3,abc,1\n")
    with pytest.raises(ValueError, match=r"non-numeric cell 'abc' at line 3, column 2"):
        D.load_csv(path)
    path = _write(tmp_path, "a,b,y\n1,,0\n", name="empty_cell.csv")
    with pytest.raises(ValueError, match=r"an empty cell at line 2, column 2"):
        D.load_csv(path)


def test_load_csv_nan_cells(tmp_path):
    """A NaN or inf cell (or a number beyond float64) is named with its line and column, as
    a non-numeric cell is."""
    path = _write(tmp_path, "a,b,y\n1,nan,0\n3,4,1\n")
    with pytest.raises(ValueError, match=r"data\.csv.*: a NaN cell 'nan' at line 2, column 2 "
                                         r"\(1 such cells\)$"):
        D.load_csv(path)
    path = _write(tmp_path, "a,b,y\n1,2,0\n3,4,NaN\n", name="nan_label.csv")
    with pytest.raises(ValueError, match=r"a NaN cell 'NaN' at line 3, column 3"):
        D.load_csv(path)
    path = _write(tmp_path, "a,b,y\n1,inf,0\n2, 1e400 ,1\n", name="inf.csv")
    with pytest.raises(ValueError, match=r"an inf cell 'inf' at line 2, column 2 \(2 such"):
        D.load_csv(path)


def test_load_csv_a_label_name_that_appears_twice(tmp_path):
    path = _write(tmp_path, "f,f,y\n1,2,0\n3,4,1\n")
    with pytest.raises(ValueError, match=r"^label: column 'f' appears 2 times in the header of "
                                         r".*data\.csv'; pass its index instead$"):
        D.load_csv(path, label="f")
    X, y = D.load_csv(path, label=1)
    assert X.tolist() == [[1.0, 0.0], [3.0, 1.0]] and y.tolist() == [2, 4]


def test_load_csv_missing_label_column(tmp_path):
    path = _write(tmp_path, HEADER_CSV)
    with pytest.raises(ValueError, match=r"^label: column 'target' does not exist"):
        D.load_csv(path, label="target")
    with pytest.raises(ValueError, match=r"^label: column index 3 does not exist.*3 columns"):
        D.load_csv(path, label=3)
    with pytest.raises(ValueError, match=r"^label: column index -4 does not exist"):
        D.load_csv(path, label=-4)
    nohead = _write(tmp_path, "1,2,0\n", name="nohead.csv")
    with pytest.raises(ValueError, match=r"^label: column 'label' does not exist.*unnamed"):
        D.load_csv(nohead, label="label")


def test_load_csv_missing_file_and_directory(tmp_path):
    missing = tmp_path / "nope.csv"
    with pytest.raises(FileNotFoundError, match=r"nope\.csv.*does not exist"):
        D.load_csv(missing)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        D.load(str(missing))
    a_dir = tmp_path / "folder.csv"
    a_dir.mkdir()
    with pytest.raises(IsADirectoryError, match=r"folder\.csv.*is a directory, not a file"):
        D.load_csv(a_dir)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root reads files whatever their permissions")
def test_load_csv_unreadable_file(tmp_path):
    path = _write(tmp_path, HEADER_CSV)
    path.chmod(0)
    try:
        with pytest.raises(PermissionError, match="not a readable file"):
            D.load_csv(path)
    finally:
        path.chmod(0o644)


def test_load_csv_empty_and_header_only(tmp_path):
    with pytest.raises(ValueError, match="no rows"):
        D.load_csv(_write(tmp_path, "\n\n", name="empty.csv"))
    with pytest.raises(ValueError, match="a header but no data rows"):
        D.load_csv(_write(tmp_path, "a,b,y\n", name="header.csv"))


def test_load_unknown_extension():
    with pytest.raises(ValueError, match=r"^data: .*\.npz/\.csv"):
        D.load("data.parquet")


# --------------------------------------------------------------------------- Standardizer


def test_standardizer_fit_on_train_applied_to_test():
    rng = np.random.default_rng(1)
    train = rng.normal(loc=[3.0, -1.0, 5.0], scale=[2.0, 0.1, 1.0], size=(50, 3))
    train[:, 2] = 5.0  # a constant feature: std 0
    test = rng.normal(size=(10, 3))
    train0, test0 = train.copy(), test.copy()
    s = D.Standardizer().fit(train)
    t = s.transform(train)
    np.testing.assert_allclose(t.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(t[:, :2].std(axis=0), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(t[:, 2], 0.0)  # std 0 is treated as 1: no NaN, no inf
    np.testing.assert_array_equal(s.std[2], 1.0)
    # the test set uses the training statistics, not its own
    expected = (test - train.mean(axis=0)) / np.where(train.std(axis=0) > 0, train.std(axis=0), 1)
    np.testing.assert_allclose(s.transform(test), expected, rtol=1e-12)
    assert abs(s.transform(test)[:, 0].mean()) > 0.5  # not re-centred on the test set
    np.testing.assert_array_equal(train, train0)
    np.testing.assert_array_equal(test, test0)
    np.testing.assert_array_equal(D.Standardizer().fit_transform(train), t)


def test_standardizer_errors():
    with pytest.raises(ValueError, match="call fit"):
        D.Standardizer().transform(np.ones((2, 2)))
    s = D.Standardizer().fit(np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"^X: expected shape \(n, 2\)"):
        s.transform(np.ones((3, 3)))
    with pytest.raises(ValueError, match=r"^X: "):
        s.transform(np.ones(2))
    # what a model refuses, the standardizer refuses (no silent drop of imaginary parts,
    # no strings parsed as numbers, no None as NaN)
    for bad in (np.ones((2, 2)) + 1j, [["1", "2"], ["3", "4"]], [[1.0, None], [2.0, 3.0]]):
        for call in (D.Standardizer().fit, s.transform):
            with pytest.raises(TypeError, match=r"^X: expected real numbers, got dtype"):
                call(bad)


# --------------------------------------------------------------------------- train_test_split


def _xy(n=100):
    X = np.arange(n, dtype=np.float64).reshape(n, 1) * np.array([[1.0, 10.0]])
    y = np.arange(n) % 4
    return X, y


def test_train_test_split_sizes_and_pairing():
    X, y = _xy(100)
    Xtr, Xte, ytr, yte = D.train_test_split(X, y, test_size=0.25, seed=0)
    assert Xtr.shape == (75, 2) and Xte.shape == (25, 2)
    assert ytr.shape == (75,) and yte.shape == (25,)
    # rows stay paired with their labels, and every sample lands in exactly one split
    np.testing.assert_array_equal(Xtr[:, 0].astype(int) % 4, ytr)
    np.testing.assert_array_equal(Xte[:, 0].astype(int) % 4, yte)
    ids = np.concatenate([Xtr[:, 0], Xte[:, 0]]).astype(int)
    assert sorted(ids.tolist()) == list(range(100))
    test_ids = set(Xte[:, 0].astype(int).tolist())
    assert test_ids != set(range(25)) and test_ids != set(range(75, 100))  # shuffled
    Xtr2, Xte2, _, _ = D.train_test_split(X, y, test_size=0.1)
    assert len(Xte2) == 10 and len(Xtr2) == 90


def test_train_test_split_is_deterministic_by_seed():
    X, y = _xy(60)
    a = D.train_test_split(X, y, seed=3)
    b = D.train_test_split(X, y, seed=3)
    c = D.train_test_split(X, y, seed=4)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[1], c[1])


def test_train_test_split_stratify_keeps_proportions():
    y = np.array([0] * 60 + [1] * 30 + [2] * 10)
    X = np.arange(100, dtype=np.float64).reshape(100, 1)
    Xtr, Xte, ytr, yte = D.train_test_split(X, y, test_size=0.2, seed=1, stratify=True)
    assert np.bincount(yte).tolist() == [12, 6, 2]
    assert np.bincount(ytr).tolist() == [48, 24, 8]
    np.testing.assert_array_equal(y[Xte[:, 0].astype(int)], yte)
    assert sorted(np.concatenate([Xtr[:, 0], Xte[:, 0]]).astype(int).tolist()) == list(range(100))
    # without stratification the proportions drift for some seed
    drift = [np.bincount(D.train_test_split(X, y, test_size=0.2, seed=s)[3], minlength=3)
             .tolist() for s in range(5)]
    assert any(d != [12, 6, 2] for d in drift)


@pytest.mark.parametrize("test_size", [0, 0.0, 1.0, 1.5, -0.1, math.nan])
def test_train_test_split_bad_test_size(test_size):
    X, y = _xy(10)
    with pytest.raises(ValueError, match=r"^test_size: "):
        D.train_test_split(X, y, test_size=test_size)


def test_train_test_split_other_errors():
    X, y = _xy(10)
    with pytest.raises(ValueError, match=r"^y: expected 10 entries"):
        D.train_test_split(X, y[:9])
    # the test part has ceil(test_size * n) rows, as scikit-learn's (stratified too)
    for n, test_size, n_test in ((10, 0.25, 3), (18, 0.25, 5), (14, 0.25, 4), (10, 0.3, 3)):
        for stratify in (False, True):
            yy = np.arange(n) % 2
            split = D.train_test_split(np.zeros((n, 1)), yy, test_size, stratify=stratify)
            assert len(split[1]) == n_test
    for n in (0, 1):  # nothing to split (stratified: before reading the classes)
        for stratify in (False, True):
            with pytest.raises(ValueError, match=rf"^X: expected at least 2 samples to "
                                                 rf"split, got {n}$"):
                D.train_test_split(X[:n], y[:n], test_size=0.1, stratify=stratify)
    with pytest.raises(ValueError, match=r"^test_size: .*empty split"):
        D.train_test_split(X[:2], y[:2], test_size=0.9)


def test_stratified_split_breaks_ties_at_random_and_refuses_lone_classes():
    """Found by audit: the test rows left over after each class's share went to the lowest
    labels whatever the seed (4 classes of 5 at 0.3 gave [2, 2, 1, 1] for every seed, and
    distinct labels put the smallest in the test part); a class of one sample, or fewer
    test (training) samples than classes, left a class out of a part, which scikit-learn
    refuses; labels of Python objects (a pandas Series of strings) raised NumPy's error."""
    X, y = np.arange(40.0).reshape(20, 2), np.arange(20) % 4
    shares = {tuple(np.bincount(D.train_test_split(X, y, 0.3, seed=s, stratify=True)[3],
                                minlength=4)) for s in range(20)}
    assert len(shares) > 1 and all(sorted(c) == [1, 1, 2, 2] for c in shares)
    with pytest.raises(ValueError, match=r"^stratify: expected at least 2 samples of each "
                                         r"class, got 1 of class 'c'$"):
        D.train_test_split(X[:5], ["a", "b", "a", "b", "c"], 0.4, stratify=True)
    with pytest.raises(ValueError, match=r"^test_size: 0.05 leaves 1 test and 19 training "
                                         r"samples of 20, fewer than the 4 classes"):
        D.train_test_split(X, y, 0.05, stratify=True)
    labels = np.array(["cat", "dog", "emu", "cat"] * 5, dtype=object)
    _, _, ytr, yte = D.train_test_split(X, labels, 0.25, seed=0, stratify=True)
    assert sorted(yte.tolist()) == ["cat", "cat", "cat", "dog", "emu"]
    assert len(ytr) == 15


def test_standardizer_takes_columns_constant_up_to_rounding_as_constant():
    """Found by audit: 0.1 + 0.2 and 0.3 (one ulp apart) became 0 and 1.67 standard
    deviations (scikit-learn's StandardScaler takes them as constant); a subnormal std was
    fitted, then refused by the model; a NaN row hid another row's overflow."""
    std = D.Standardizer().fit([[0.3], [0.1 + 0.2], [0.3]])
    assert std.std.tolist() == [1.0] and np.abs(std.transform([[0.3]])).max() < 1e-15
    X = np.array([[1e-320, 1.0], [0.0, 2.0]])
    assert D.Standardizer().fit(X).std.tolist() == [1.0, 0.5]
    xprop.MLP([2, 2], seed=0).standardize(X)  # the model takes it
    assert D.Standardizer().fit([[1.0], [1.0 + 1e-9]]).std[0] == pytest.approx(5e-10)
    # real variation at a large offset stays (review: scikit-learn's n eps |mean| took
    # 1.7e9 + N(0, 0.01) of 1e5 rows as constant)
    big = 1.7e9 + np.random.default_rng(0).normal(0.0, 0.01, (100_000, 1))
    assert D.Standardizer().fit(big).std[0] == pytest.approx(0.01, rel=0.02)
    std = D.Standardizer().fit([[0.0], [1.0]])
    with pytest.raises(ValueError, match=r"^X: standardising overflows float64"):
        std.transform([[np.nan], [1e308]])
    assert np.isnan(std.transform([[np.nan]])).all()


def test_loaders_refuse_what_they_used_to_drop_or_misread(tmp_path):
    """Found by audit: a CSV row of empty cells (",,") was dropped as a blank line;
    ``load_npz(labels="no")`` read y; csv_layout took header=np.True_ as no header and
    label=True as column 1 (load_csv refuses both); spirals of angles beyond float64 were
    NaN points."""
    path = _write(tmp_path, "a,b,y\n1,2,0\n,,\n\n  \n3,4,1\n")
    with pytest.raises(ValueError, match=r"an empty cell at line 3, column 1$"):
        D.load_csv(path)
    np.savez(tmp_path / "d.npz", X=np.eye(2), y=np.array([0, 1]))
    with pytest.raises(ValueError, match=r"^labels: expected True or False, got 'no'$"):
        D.load_npz(tmp_path / "d.npz", labels="no")
    good = _write(tmp_path, "x1,x2,y\n1,2,0\n", name="good.csv")
    assert D.csv_layout(good, header=np.True_)["features"] == ["x1", "x2"]
    for kwargs, name in (({"header": 1}, "header"), ({"header": "yes"}, "header"),
                         ({"label": True}, "label"), ({"label": 1.0}, "label")):
        with pytest.raises(ValueError, match=rf"^{name}: expected "):
            D.csv_layout(good, **kwargs)
    for kwargs in ({"noise": 1e308}, {"turns": 1e308}):
        with pytest.raises(ValueError, match=r"^noise, turns: .* make angles beyond float64"):
            D.spirals(60, **kwargs)


def test_bad_bytes_and_sparse_matrices_named(tmp_path):
    """Found by audit: the offset of a bad UTF-8 byte was counted within the decoder's
    chunk (1626 for byte 18010); a SciPy sparse X raised IndexError in train_test_split."""
    path = tmp_path / "bad.csv"
    path.write_bytes(b"a,b,y\n" + b"1,2,0\n" * 3000 + b"\xe9,2,0\n")
    with pytest.raises(ValueError, match=r"not a UTF-8 text CSV file \(.* at byte 18006\)$"):
        D.load_csv(path)
    sparse = pytest.importorskip("scipy.sparse")
    with pytest.raises(ValueError, match=r"^X: expected an array with one entry per sample, "
                                         r"got .*\(pass X.toarray\(\)\)$"):
        D.train_test_split(sparse.csr_matrix(np.eye(10)), np.arange(10) % 2)


def test_load_drops_the_file_options_where_they_do_not_apply(tmp_path):
    """As its docstring says (found by audit: ``load("moons", header=True)`` raised moons'
    TypeError, ``load("xor_signed", ...)`` named ``<lambda>``); other options are named."""
    assert D.load("moons", n=10, header=True, delimiter=";", label=0)[0].shape == (10, 2)
    np.savez(tmp_path / "d.npz", X=np.eye(2), y=np.array([0, 1]))
    assert D.load(str(tmp_path / "d.npz"), header=True, delimiter=",")[0].shape == (2, 2)
    path = _write(tmp_path, "a,b,y\n1,2,0\n3,4,1\n")
    assert D.load(path, labels=False)[1].tolist() == [0, 1]
    with pytest.raises(TypeError, match=r"^load: a CSV file takes label, delimiter, header "
                                        r"\(and the file options, dropped\), got seed$"):
        D.load(path, seed=3)
    with pytest.raises(TypeError, match=r"^load: 'digits' takes no options .*, got seed$"):
        D.load("digits", seed=1)
    with pytest.raises(TypeError, match=r"^load: 'xor_signed' takes signed .*, got n$"):
        D.load("xor_signed", n=3)


@pytest.mark.parametrize("factor", [1, 1.0, 2.5, -0.1])
def test_circles_factor_is_an_inner_radius(factor):
    """As scikit-learn's ``make_circles``: 1 would draw one circle for both classes, and
    more than 1 an "inner" circle outside the outer one."""
    with pytest.raises(ValueError, match=rf"^factor: expected a finite number in \[0, 1\), "
                                         rf"got {factor}$"):
        D.circles(10, factor=factor)


def test_spirals_arms_named_in_errors():
    with pytest.raises(ValueError, match=r"arms: expected an integer >= 2, got '3'"):
        D.spirals(arms="3")


def test_generators_and_split_take_numpy_numbers():
    """NumPy integers and floats are the numbers they hold (as ``seed`` already was);
    NumPy bools are not numbers."""
    assert D.moons(np.int64(10), seed=0)[0].shape == (10, 2)
    X, y = D.spirals(np.int32(9), arms=np.int64(3), seed=0)
    assert X.shape == (9, 2) and np.bincount(y).tolist() == [3, 3, 3]
    Xs, ys = _xy(10)
    assert len(D.train_test_split(Xs, ys, test_size=np.float32(0.2))[1]) == 2
    with pytest.raises(ValueError, match=r"^arms: expected an integer >= 2, got (np\.)?True"):
        D.spirals(10, arms=np.True_)


def test_load_csv_integer_labels_beyond_2_53_stay_exact(tmp_path):
    """Labels written as integers are read as integers: float64 would merge 2**53 + 1 into
    2**53 (three classes into two)."""
    labels = [2**53 + 1, 2**53, 2**53 + 3, -(2**63)]
    p = tmp_path / "ids.csv"
    p.write_text("x,label\n" + "".join(f"{i}.5,{v}\n" for i, v in enumerate(labels)))
    _, y = D.load_csv(p, label="label")
    assert y.dtype == np.int64 and y.tolist() == labels
    p.write_text("x,label\n0.5,1.0\n1.5,2\n")  # not all written as integers: from the floats
    assert D.load_csv(p, label="label")[1].tolist() == [1, 2]


def test_a_first_row_of_pandas_default_names_is_pointed_out(tmp_path):
    """Found by audit: pandas writes 0,1,2 as the header of a frame made from an array;
    header='auto' reads it as a sample, silently (now with a warning saying so)."""
    path = tmp_path / "d.csv"
    path.write_text("0,1,2\n0.5,-1.5,1\n0.25,2.5,0\n")
    with pytest.warns(UserWarning, match=r"its first row, 0,1,2, is read as data .* pass "
                                         r"header=True \(xprop: --header\)"):
        X, _ = D.load_csv(path)
    assert X.shape == (3, 2)
    X, _ = D.load_csv(path, header=True)
    assert X.shape == (2, 2)


def test_cells_are_numbers_as_csv_readers_take_them(tmp_path):
    """Found by audit: Python's float() read 1_000 as 1000 and other scripts' digits (an
    Arabic-Indic 4) as numbers, where NumPy and pandas refuse them."""
    for cell in ("1_000", "\u0664", "1_0"):
        path = tmp_path / "d.csv"
        path.write_text(f"a,b,y\n{cell},2,0\n3,4,1\n")
        with pytest.raises(ValueError, match=r"non-numeric cell .* at line 2, column 1"):
            D.load_csv(path)
    path.write_text("a,b,y\n+1.5e3, -.5 ,0\n3.,4E-1,1\n")
    X, y = D.load_csv(path)
    np.testing.assert_array_equal(X, [[1500.0, -0.5], [3.0, 0.4]])
    np.testing.assert_array_equal(y, [0, 1])


def test_values_are_checked_as_float64_and_read_in_native_byte_order(tmp_path):
    """Found by audit: finite ``longdouble`` values that overflow float64 were checked
    before the cast (a standardizer with an inf mean, a saved checkpoint that then did not
    load, ``load_npz`` giving inf features), a checkpoint or data file written on a
    big-endian machine was refused, and ``load_npz(labels=False)`` refused a file for a ``y``
    it does not read."""
    wide = np.array([1e300, 1.0], dtype=np.longdouble) * np.longdouble(1e100)
    if np.isinf(wide[0]):
        pytest.skip("longdouble is float64 here")
    with pytest.raises(ValueError, match=r"input_mean: expected finite values, found NaN or "
                                         r"inf \(its .* values overflow float64\)"):
        D.Standardizer.from_arrays(wide, np.ones(2))
    model = xprop.MLP([2, 3, 2], "tanh", "softmax", "cross_entropy", seed=0)
    with pytest.raises(ValueError, match="input_mean: expected finite values"):
        model.save(tmp_path / "m.npz", input_mean=wide, input_std=np.ones(2))
    assert not (tmp_path / "m.npz").exists()
    np.savez(tmp_path / "x.npz", X=np.stack([wide, wide]), y=np.zeros(2))
    with pytest.raises(ValueError, match=r"X: expected finite values.*overflow float64"):
        D.load_npz(tmp_path / "x.npz")
    np.savez(tmp_path / "y.npz", X=np.ones((2, 2)), y=wide)
    with pytest.raises(ValueError, match=r"y: expected finite values.*overflow float64"):
        D.load_npz(tmp_path / "y.npz")
    # the other byte order: the same model, the same data
    with np.load(model.save(tmp_path / "le.npz")) as f:
        arrays = {k: f[k] for k in f.files}
    swapped = {k: a if k == "header" else a.astype(a.dtype.newbyteorder(">"))
               for k, a in arrays.items()}
    np.savez(tmp_path / "be.npz", **swapped)
    back = xprop.load(tmp_path / "be.npz")
    np.testing.assert_array_equal(xprop.to_numpy(back.params.buffer),
                                  xprop.to_numpy(model.params.buffer))
    X = np.arange(6.0).reshape(3, 2)
    np.savez(tmp_path / "d.npz", X=X.astype(">f8"), y=np.array(["a", "b"]))
    got, y = D.load_npz(tmp_path / "d.npz", labels=False)
    assert y is None and got.dtype == np.float64 and got.dtype.isnative
    np.testing.assert_array_equal(got, X)


def test_generators_and_splits_refuse_what_they_cannot_hold():
    """Found by audit: ``moons(noise=1e308)`` returned inf points; ``train_test_split`` of a
    torch tensor that requires grad raised torch's RuntimeError; ``Params(layout, list)``
    raised an AttributeError."""
    torch = pytest.importorskip("torch")
    for make in (D.moons, D.circles):
        with pytest.raises(ValueError, match=r"^noise: 1e\+308 makes points beyond float64"):
            make(10, noise=1e308)
    X = torch.ones(4, 2, requires_grad=True)
    parts = D.train_test_split(X, np.array([0, 1, 0, 1]), test_size=0.5)
    assert all(isinstance(p, np.ndarray) for p in parts) and parts[0].shape == (2, 2)
    from xprop.params import Params

    layout = xprop.MLP([2, 1]).arch.layout
    with pytest.raises(ValueError, match=r"^buffer: expected an array of shape \(3,\) for 2 "
                                         r"parameters, got \[0.0, 0.0, 0.0\]"):
        Params(layout, [0.0] * 3, np)
