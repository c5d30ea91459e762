"""Build the one-file ``skinnyctl`` executable with PyInstaller and check it.

    python3 packaging/build.py [--dist DIR] [--work DIR]

Writes DIR/skinnyctl (default packaging/dist/skinnyctl). The version is the package's
``skinnyctl.__version__``; the build refuses to run when it differs from pyproject.toml's, and
fails unless the finished binary's ``--version`` prints it. Needs ``pip install 'pyinstaller>=6'``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "packaging" / "skinnyctl.spec"


class BuildError(Exception):
    pass


def package_version() -> str:
    """The version the binary must report: the package's, which must match pyproject's."""
    init = (ROOT / "skinnyctl" / "__init__.py").read_text()
    match = re.search(r'^__version__\s*=\s*"([^"]+)"', init, re.M)
    if not match:
        raise BuildError('skinnyctl/__init__.py has no __version__ = "..." line')
    version = match.group(1)
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    if declared != version:
        raise BuildError(
            f"pyproject.toml says version {declared} but skinnyctl.__version__ is {version}: "
            "make them equal before building"
        )
    return version


def build(dist: Path, work: Path) -> Path:
    """Run PyInstaller on the spec; return the path of the checked executable."""
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        hint = "python3 -m pip install 'pyinstaller>=6'"
        raise BuildError(f"PyInstaller is missing: {hint}") from None
    version = package_version()
    # The source tree, not whatever skinnyctl happens to be installed, is what gets frozen.
    pythonpath = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, PYTHONPATH=pythonpath)
    command = [
        sys.executable,
        "-m",
        "PyInstaller",
        "--noconfirm",
        "--clean",
        "--log-level",
        "WARN",
        "--distpath",
        str(dist),
        "--workpath",
        str(work),
        str(SPEC),
    ]
    result = subprocess.run(command, cwd=ROOT, env=env, check=False)
    if result.returncode != 0:
        raise BuildError(f"PyInstaller failed with exit code {result.returncode}")
    binary = dist / "skinnyctl"
    if not binary.is_file():
        raise BuildError(f"PyInstaller finished but {binary} is missing")
    out = subprocess.run(
        [str(binary), "--version"], capture_output=True, text=True, timeout=120, check=False
    )
    if out.returncode != 0 or out.stdout.strip() != f"skinnyctl {version}":
        raise BuildError(
            f"{binary} --version exited {out.returncode} printing {out.stdout.strip()!r}"
            f"{out.stderr.strip()!r}; expected 'skinnyctl {version}'"
        )
    return binary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dist",
        type=Path,
        default=ROOT / "packaging" / "dist",
        help="where the executable goes (default: packaging/dist)",
    )
    parser.add_argument(
        "--work",
        type=Path,
        default=ROOT / "packaging" / "build",
        help="PyInstaller's scratch directory (default: packaging/build)",
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        binary = build(args.dist.resolve(), args.work.resolve())
    except BuildError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    data = binary.read_bytes()
    print(f"built {binary}")
    print(f"  version  {package_version()}")
    print(f"  size     {len(data) / 1e6:.1f} MB ({len(data)} bytes)")
    print(f"  sha256   {hashlib.sha256(data).hexdigest()}")
    print(f"  took     {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
