"""Run the parity grid on every available backend and write a Markdown report.

    python scripts/parity_report.py                       # prints the report
    python scripts/parity_report.py --out docs/parity/cpu.md
    python scripts/parity_report.py --quick               # the reduced grid of the test suite
    python scripts/parity_report.py --backends numpy,torch:cuda,cupy   # only these cells

For every backend x device x dtype that can run here, every model of the grid (hidden activation
x loss x depth 1-4 x bias on/off) is compared with the NumPy float64 reference; the table gives,
per quantity, the worst max-abs and norm-wise relative difference over the grid, the tolerance
and how many models passed. Exit code 1 if anything failed, or if a cell named in --backends
cannot run here (without --backends such cells are listed as unavailable and skipped).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time

import numpy as np

import xprop
from xprop import parity as P
from xprop.backend import BACKEND_NAMES, BackendError, BackendUnavailableError, resolve_backend

CELLS = [
    ("numpy", None), ("array_api_strict", None), ("array_api_strict", "device1"),
    ("array_api_strict", "no_float64"), ("torch", "cpu"), ("torch", "cuda"), ("cupy", None),
    ("jax", None),
]


def enable_jax_float64() -> None:
    """JAX computes in float32 unless x64 is on (xprop refuses float64 then): switch it on
    before any JAX array exists, as the test suite does, so the jax rows cover both dtypes.
    On a GPU, as there too: true float32 dots (JAX's GPU default is TF32-like) and no
    preallocation of most of the GPU's memory (CuPy and torch run in the same process)."""
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    try:
        import jax
    except ImportError:
        return
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_default_matmul_precision", "highest")


def environment() -> list[str]:
    info = xprop.backend_info()
    lines = [
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}",
        f"- machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
        f"- Python {platform.python_version()}, xprop {xprop.__version__}, NumPy {np.__version__}, "
        f"array-api-compat {info['array_api_compat']['version']}, "
        f"array-api-strict {info['array_api_strict'].get('version')}, "
        f"torch {info['torch'].get('version')}, jax {info.get('jax', {}).get('version')}",
    ]
    cupy = info["cupy"]
    if cupy["available"]:
        import cupy as cp

        rt = cp.cuda.runtime
        lines.append(
            f"- GPU: {cupy.get('device_name')}, driver {rt.driverGetVersion()}, CUDA runtime "
            f"{rt.runtimeGetVersion()}, CuPy {cupy['version']}, "
            f"CUPY_TF32={os.environ.get('CUPY_TF32', 'unset')} (xprop keeps TF32 off unless "
            "XPROP_ALLOW_TF32=1)"
        )
    else:
        lines.append(f"- GPU: none usable here ({cupy['reason']})")
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():  # true float32 matmuls, as CuPy's
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.set_float32_matmul_precision("highest")
        lines.append(f"- torch CUDA: {torch.cuda.get_device_name()}, TF32 off "
                     f"(float32_matmul_precision={torch.get_float32_matmul_precision()})")
    return lines


def write(path: str, lines: list[str]) -> None:
    """Replace ``path`` at once with ``lines`` (a reader never sees half a file)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="write the Markdown here (else print it)")
    ap.add_argument("--quick", action="store_true", help="the reduced grid (as the tests)")
    ap.add_argument("--backends", default=None,
                    help="comma list of cells, each a backend name or name:device (numpy, "
                         "array_api_strict:device1, torch:cuda, cupy, jax:gpu, ...; default: "
                         "every cell of " + ",".join(n + (f":{d}" if d else "") for n, d in CELLS)
                         + ")")
    args = ap.parse_args(argv)
    cells = CELLS
    if args.backends is not None:
        cells = [(n, d or None) for n, _, d in
                 (c.strip().partition(":") for c in args.backends.split(",") if c.strip())]
        bad = [n for n, _ in cells if n not in BACKEND_NAMES]
        if not cells or bad:
            ap.error(f"--backends: expected a comma list of {', '.join(BACKEND_NAMES)} (each "
                     f"optionally :device), got {args.backends!r}")
    enable_jax_float64()
    specs = P.grid(full=not args.quick)
    lines = ["# xprop device parity report", "", *environment(), "",
             f"Grid: {len(specs)} models ({'reduced' if args.quick else 'full'}: hidden "
             "activation x loss x depth 1-4 x bias), 16 samples, 20 full-batch SGD steps; "
             "reference: NumPy float64. Differences are norm-wise relative "
             "(max|x - ref| / max|ref|); the gradient check is xprop.gradcheck on 3 entries "
             "per parameter (float64, or float32 where the device lacks float64): its "
             "'verdict' row gives its own worst relative error, its 'vs NumPy's report' row "
             "the difference from NumPy's check of the same model.", "",
             "| backend | device | dtype | quantity | max abs diff | max rel diff | tolerance "
             "| passed |", "|---|---|---|---|---|---|---|---|"]
    failed = missing = 0
    t0 = time.perf_counter()
    for name, device in cells:
        try:
            b = resolve_backend(name, device)
        except (BackendError, BackendUnavailableError) as e:
            lines.append(f"| {name} | {device or '-'} | - | unavailable: {str(e)[:90]} | | | | |")
            missing += args.backends is not None  # asked for by name: a failure
            continue
        for dtype in b.supported_float_dtypes():
            rows: dict[str, dict] = {}
            for spec in specs:
                result = P.run_case(spec, b, dtype)
                for q, row in P.compare(result, P.reference(spec), dtype, spec).items():
                    agg = rows.setdefault(q, {"max_abs": 0.0, "max_rel": 0.0, "tol": row["tol"],
                                              "passed": 0})
                    agg["max_abs"] = max(agg["max_abs"], row["max_abs"])
                    agg["max_rel"] = max(agg["max_rel"], row["max_rel"])
                    agg["tol"] = max(agg["tol"], row["tol"])
                    agg["passed"] += int(row["passed"])
            for q, agg in rows.items():
                ok = agg["passed"] == len(specs)
                failed += 0 if ok else 1
                lines.append(
                    f"| {b.name} | {b.describe().split('device ')[-1].rstrip(')')} | {dtype} | {q} "
                    f"| {agg['max_abs']:.2e} | {agg['max_rel']:.2e} | {agg['tol']:.1e} | "
                    f"{agg['passed']}/{len(specs)} {'ok' if ok else 'FAILED'} |"
                )
            print(f"{b.describe()} {dtype}: done ({time.perf_counter() - t0:.0f} s)",
                  file=sys.stderr)
            if args.out:  # what is done so far survives a run cut short (a time limit)
                write(args.out, [*lines, "", f"Verdict: incomplete, the run stopped after "
                                 f"{b.describe()} {dtype} ({failed} quantity rows FAILED so "
                                 "far)."])
    verdict = [f"{failed} quantity rows FAILED"] if failed else []
    verdict += [f"{missing} requested cells unavailable"] if missing else []
    lines += ["", f"Verdict: {'; '.join(verdict) or 'all passed'} "
              f"({time.perf_counter() - t0:.0f} s)."]
    if args.out:
        write(args.out, lines)
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        print("\n".join(lines))
    return 1 if failed or missing else 0


if __name__ == "__main__":
    sys.exit(main())
