"""Peak memory and samples per second of ``fit`` against the size of the training data.

    python scripts/bench_memory.py [--rows 10000 50000 200000] [--samples 400000] [--repeat 3]
                                   [--no-mmap] [--before PATH] [--write FILE.md]

Each case runs in a fresh subprocess: random float32 data of ``rows x 784`` (filled in
blocks, so making it costs no temporary copy), 10 integer classes, a 784-256-10 ReLU/softmax
MLP (float32, NumPy backend), ``fit(epochs, batch_size=256, optimizer="adam")`` shuffled
every epoch, for at least ``--samples`` samples (and 2 epochs). The data is either in memory
or a ``.npy`` file (written by the parent) that the child opens with
``np.load(path, mmap_mode="r")``.

Measured in the child, from ``/proc/self/status`` (Linux):

* baseline: ``VmRSS`` once the data and the model exist (for the memory-mapped file, none of
  its pages has been read yet);
* peak RSS: ``VmHWM`` after ``fit`` (reset to the baseline through ``/proc/self/clear_refs``
  before it); for a memory-mapped file this counts the file's pages the kernel keeps cached
  in the process's mapping, which it can drop again under memory pressure;
* peak anon: the largest ``RssAnon`` (memory that is not a file's page cache) seen by a thread
  sampling every millisecond during ``fit``: what the process needs of RAM;
* samples/s: ``rows * epochs / fit's wall time`` (validation and first-call costs included).

``--before PATH`` runs every case with ``PYTHONPATH=PATH`` too (a directory holding an older
``xprop`` package), interleaved with the current one, for a before/after table.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

FEATURES, CLASSES, HIDDEN, BATCH = 784, 10, 256, 256
MIB = 1 << 20


def status() -> dict[str, int]:
    """``VmRSS``, ``VmHWM``, ``RssAnon``, ``RssFile`` of this process in bytes."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, value = line.split(":", 1)
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[key] = int(value.split()[0]) * 1024
    return out


def fill(X: np.ndarray, seed: int) -> None:
    """Random normal float32 rows written block by block (no whole-size temporary)."""
    rng = np.random.default_rng(seed)
    for s in range(0, X.shape[0], 8192):
        X[s:s + 8192] = rng.standard_normal((min(8192, X.shape[0] - s), X.shape[1]),
                                            dtype=np.float32)


def child(rows: int, source: str, epochs: int, path: str) -> None:
    """One measured case; prints one JSON line."""
    import xprop

    if source == "mmap":
        X = np.load(path, mmap_mode="r")
    else:
        X = np.empty((rows, FEATURES), dtype=np.float32)
        fill(X, 0)
    y = np.random.default_rng(1).integers(0, CLASSES, rows)
    model = xprop.MLP([FEATURES, HIDDEN, CLASSES], "relu", "softmax", "cross_entropy",
                      seed=0, dtype="float32", backend="numpy")
    base = status()
    with open("/proc/self/clear_refs", "w") as f:  # VmHWM := VmRSS
        f.write("5")
    peak_anon = [base["RssAnon"]]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak_anon[0] = max(peak_anon[0], status()["RssAnon"])
            time.sleep(0.001)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    hist = model.fit(X, y, epochs=epochs, batch_size=BATCH, optimizer="adam", lr=1e-3)
    wall = time.perf_counter() - t0
    done.set()
    sampler.join()
    end = status()
    print(json.dumps({
        "rows": rows, "source": source, "data_mib": rows * FEATURES * 4 / MIB,
        "base_mib": base["VmRSS"] / MIB,
        "peak_rss_mib": (end["VmHWM"] - base["VmRSS"]) / MIB,
        "peak_anon_mib": (max(peak_anon[0], end["RssAnon"]) - base["RssAnon"]) / MIB,
        "epochs": epochs, "samples_per_s": rows * epochs / wall, "wall_s": wall,
        "loss": hist.loss[-1],
        "xprop": os.path.dirname(xprop.__file__),
    }))


def run_case(rows: int, source: str, epochs: int, path: str, xprop_path: str | None) -> dict:
    cmd = [sys.executable, __file__, "--child", str(rows), source, str(epochs), path]
    env = dict(os.environ)
    if xprop_path:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [xprop_path, env.get("PYTHONPATH")]))
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise SystemExit(f"case {rows} {source} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        rows, source, epochs, path = sys.argv[2:6]
        child(int(rows), source, int(epochs), path)
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[10_000, 50_000, 200_000])
    ap.add_argument("--samples", type=int, default=400_000,
                    help="train at least this many samples per case (epochs = samples / rows, "
                         "at least 2), so that small cases are timed long enough")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs per case; the table gives the median memory and the best rate")
    ap.add_argument("--no-mmap", action="store_true", help="skip the memory-mapped cases")
    ap.add_argument("--before", metavar="PATH",
                    help="a directory holding another xprop package (e.g. a copy of an older "
                         "commit's xprop/) to measure too, interleaved with this one")
    ap.add_argument("--write", help="also write the table to this Markdown file")
    args = ap.parse_args()
    versions = [("after", None)] + ([("before", args.before)] if args.before else [])
    sources = ["memory"] + ([] if args.no_mmap else ["mmap"])
    runs: dict[tuple, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for rows in args.rows:
            epochs = max(2, -(-args.samples // rows))
            path = os.path.join(tmp, f"X{rows}.npy")
            if not args.no_mmap:
                X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32,
                                              shape=(rows, FEATURES))
                fill(X, 0)
                X.flush()
                del X
            for _ in range(args.repeat):  # interleaved: a busy machine slows all alike
                for label, where in versions:
                    for source in sources:
                        runs.setdefault((rows, source, label), []).append(
                            run_case(rows, source, epochs, path, where))
            if not args.no_mmap:
                os.remove(path)
    import xprop

    lines = ["| rows | data MiB | source | xprop | epochs | peak RSS over baseline MiB "
             "| peak anon over baseline MiB | samples/s |",
             "|---:|---:|---|---|---:|---:|---:|---:|"]
    for (rows, source, label), rs in runs.items():
        r = rs[0]
        lines.append(
            f"| {rows:,} | {r['data_mib']:.0f} | {source} | {label} | {r['epochs']} | "
            f"{statistics.median(x['peak_rss_mib'] for x in rs):.0f} | "
            f"{statistics.median(x['peak_anon_mib'] for x in rs):.0f} | "
            f"{max(x['samples_per_s'] for x in rs):,.0f} |")
    machine = (f"{platform.platform()}, {platform.machine()}, {os.cpu_count()} CPUs; Python "
               f"{platform.python_version()}, NumPy {np.__version__}, xprop "
               f"{xprop.__version__}")
    setup = (f"{FEATURES}-{HIDDEN}-{CLASSES} ReLU/softmax, float32, NumPy backend, Adam, "
             f"batch {BATCH}, shuffled every epoch, one fresh process per run, "
             f"{args.repeat} runs per row (median memory, best samples/s)")
    paths = {label: rs[0]["xprop"] for (_, _, label), rs in runs.items()}
    setup += "; xprop imported from " + ", ".join(f"{k}: {v}" for k, v in paths.items())
    print(machine)
    print(setup)
    print("\n".join(lines))
    if args.write:
        command = " ".join(["python scripts/bench_memory.py", *sys.argv[1:]])
        with open(args.write, "w") as f:
            f.write(f"# Peak memory and samples per second of fit against data size "
                    f"({datetime.date.today().isoformat()})\n\n`{command}`\n\n{machine}.\n"
                    f"{setup}.\n\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
