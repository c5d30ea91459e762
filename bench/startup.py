"""Size and start-up time of the one-file executable against ``python -m skinnyctl``.

    python3 bench/startup.py [--binary PATH] [--cold-runs 5] [--warm-runs 20]

Without --binary it builds one with packaging/build.py into a temporary directory first.
Times ``skinnyctl --help`` with hyperfine when it is installed (``apt-get install hyperfine``),
else with repeated runs timed here. Prints figures side by side; asserts nothing.

cold  binary: a fresh, empty TMPDIR for every run, so the executable unpacks itself into a
      directory that does not exist yet. python: a fresh, empty PYTHONPYCACHEPREFIX for every
      run, so every module (stdlib included) is compiled again instead of read from .pyc.
      Neither drops the kernel's page cache (that would disturb everything else on the machine).
warm  the same command repeated with the same TMPDIR / cache prefix, after warm-up runs.
      PYTHONDONTWRITEBYTECODE is unset for every run, else python would never get warm.
size  binary: the file. python: what ``pip install`` puts in site-packages for skinnyctl and
      its dependencies (not the interpreter itself, which the binary also carries).
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Timing:
    mean: float  # seconds
    stdev: float
    minimum: float
    runs: int

    def __str__(self) -> str:
        return (
            f"{self.mean * 1000:7.0f} ms ± {self.stdev * 1000:4.0f} (min {self.minimum * 1000:.0f})"
        )


def build(where: Path) -> Path:
    subprocess.run(
        [sys.executable, str(ROOT / "packaging" / "build.py"),
         "--dist", str(where / "dist"), "--work", str(where / "work")],
        check=True,
    )  # fmt: skip
    return where / "dist" / "skinnyctl"


def installed_size(name: str = "skinnyctl") -> tuple[int, list[str]]:
    """Bytes in site-packages of ``name`` and everything it requires (recursively)."""
    try:
        from packaging.requirements import Requirement
    except ImportError:  # pip always carries a copy
        from pip._vendor.packaging.requirements import Requirement

    seen: dict[str, md.Distribution] = {}
    todo = [name]
    while todo:
        wanted = todo.pop().lower().replace("_", "-")
        if wanted in seen:
            continue
        try:
            dist = md.distribution(wanted)
        except md.PackageNotFoundError:
            continue
        seen[wanted] = dist
        for text in dist.requires or []:
            req = Requirement(text)
            # Only what a user's install pulls in here: no extras, no other platforms.
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    total = 0
    for wanted, dist in seen.items():
        if wanted == name:
            # An editable install lists no files: count the package's own tree.
            total += sum(
                p.stat().st_size
                for p in (ROOT / "skinnyctl").rglob("*")
                if p.is_file() and "__pycache__" not in p.parts
            )
            continue
        for f in dist.files or []:
            path = Path(str(dist.locate_file(f)))
            if path.is_file():
                total += path.stat().st_size
    return total, sorted(seen)


def hyperfine(command: str, prepare: str | None, runs: int, warmup: int) -> Timing:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        args = ["hyperfine", "--style", "none", "--runs", str(runs), "--warmup", str(warmup),
                "--export-json", out.name, "--output", "null"]  # fmt: skip
        if prepare:
            args += ["--prepare", prepare]
        subprocess.run([*args, command], check=True, stdout=subprocess.DEVNULL)
        result = json.loads(Path(out.name).read_text())["results"][0]
    return Timing(result["mean"], result["stddev"] or 0.0, result["min"], runs)


def python_timer(argv: list[str], env: dict[str, str], fresh: Path | None, runs: int,
                 warmup: int) -> Timing:  # fmt: skip
    """Repeated runs; ``fresh`` is emptied before each one (the cold case)."""
    times: list[float] = []
    for i in range(warmup + runs):
        if fresh is not None:
            shutil.rmtree(fresh, ignore_errors=True)
            fresh.mkdir()
        started = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)
        if i >= warmup:
            times.append(time.perf_counter() - started)
    stdev = statistics.stdev(times) if len(times) > 1 else 0.0
    return Timing(statistics.mean(times), stdev, min(times), runs)


def measure(argv: list[str], var: str, scratch: Path, cold_runs: int, warm_runs: int,
            use_hyperfine: bool) -> tuple[Timing, Timing]:  # fmt: skip
    """(cold, warm) timings of ``argv`` with ``var`` pointing into ``scratch``."""
    cold_dir, warm_dir = scratch / "cold", scratch / "warm"
    warm_dir.mkdir(parents=True)
    cold_dir.mkdir()
    if use_hyperfine:
        # `env` keeps the command free of shell-specific syntax; hyperfine subtracts the shell.
        def line(d: Path) -> str:
            return shlex.join(["env", "-u", "PYTHONDONTWRITEBYTECODE", f"{var}={d}", "COLUMNS=100",
                               *argv])  # fmt: skip

        prepare = f"rm -rf {shlex.quote(str(cold_dir))} && mkdir {shlex.quote(str(cold_dir))}"
        cold = hyperfine(line(cold_dir), prepare, cold_runs, 0)
        warm = hyperfine(line(warm_dir), None, warm_runs, 3)
        return cold, warm
    base = dict(os.environ, COLUMNS="100")
    base.pop("PYTHONDONTWRITEBYTECODE", None)
    cold = python_timer(argv, {**base, var: str(cold_dir)}, cold_dir, cold_runs, 0)
    warm = python_timer(argv, {**base, var: str(warm_dir)}, None, warm_runs, 3)
    return cold, warm


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", type=Path, help="a built executable (default: build one)")
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument("--warm-runs", type=int, default=20)
    parser.add_argument("--no-hyperfine", action="store_true", help="time runs in Python")
    args = parser.parse_args()
    use_hyperfine = shutil.which("hyperfine") is not None and not args.no_hyperfine

    with tempfile.TemporaryDirectory(prefix="skinnyctl-bench-") as tmp:
        scratch = Path(tmp)
        binary = args.binary.resolve() if args.binary else build(scratch / "build")
        b_size = binary.stat().st_size
        print(f"timing with {'hyperfine' if use_hyperfine else 'Python (hyperfine not found)'}; "
              f"{args.cold_runs} cold runs, {args.warm_runs} warm runs; machine load "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")  # fmt: skip
        b_cold, b_warm = measure([str(binary), "--help"], "TMPDIR", scratch / "binary",
                                 args.cold_runs, args.warm_runs, use_hyperfine)  # fmt: skip
        p_cold, p_warm = measure([sys.executable, "-m", "skinnyctl", "--help"],
                                 "PYTHONPYCACHEPREFIX", scratch / "python",
                                 args.cold_runs, args.warm_runs, use_hyperfine)  # fmt: skip

    p_size, dists = installed_size()
    rows = [
        ("", "size", "--help cold", "--help warm"),
        ("one-file binary", f"{b_size / 1e6:.1f} MB", str(b_cold), str(b_warm)),
        ("python -m skinnyctl", f"{p_size / 1e6:.1f} MB", str(p_cold), str(p_warm)),
        ("binary / python", f"{b_size / p_size:.2f}x", f"{b_cold.mean / p_cold.mean:.2f}x",
         f"{b_warm.mean / p_warm.mean:.2f}x"),
    ]  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    print()
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    print(f"\npython size = site-packages of: {', '.join(dists)} (interpreter not counted)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
