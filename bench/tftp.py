"""TFTP throughput: skinnyctl's TftpService against tftpd-hpa, side by side in the same run.

A 5 MiB random file is fetched with curl (a real client) once (median of several runs) and by 20
clients at once (wall time until all finish), with the default 512-byte blocks and with blksize
1428, from both servers on loopback. Every download is compared with the original. Prints the
times and our/tftpd-hpa ratio; the target is at most 1.5x.

    python bench/tftp.py [--runs 5] [--clients 20] [--size-mib 5]

Needs curl and tftpd-hpa's in.tftpd (Debian: apt-get install curl tftpd-hpa).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from skinnyctl.tftp.server import TftpService


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fetch_all(port: int, n: int, blksize: int | None, out: Path, digest: str) -> float:
    """Start n curl fetches at once; wall time until all are done. Checks every file."""
    cmds = []
    for i in range(n):
        cmd = ["curl", "-sS", "--path-as-is", "-o", str(out / f"c{i}.bin")]
        if blksize:
            cmd += ["--tftp-blksize", str(blksize)]
        cmds.append([*cmd, f"tftp://127.0.0.1:{port}/big.bin"])
    t0 = time.perf_counter()
    procs = [subprocess.Popen(c) for c in cmds]
    codes = [p.wait() for p in procs]
    elapsed = time.perf_counter() - t0
    for i, code in enumerate(codes):
        got = hashlib.sha256((out / f"c{i}.bin").read_bytes()).hexdigest()
        if code != 0 or got != digest:
            raise SystemExit(
                f"client {i} on port {port}: curl exit {code}, content ok={got == digest}"
            )
        (out / f"c{i}.bin").unlink()
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--size-mib", type=float, default=5.0)
    args = ap.parse_args()
    for tool in ("curl", "in.tftpd"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} not found: apt-get install curl tftpd-hpa")

    with tempfile.TemporaryDirectory() as tmp:
        root, out = Path(tmp, "root"), Path(tmp, "out")
        root.mkdir()
        out.mkdir()
        data = os.urandom(int(args.size_mib * 1024 * 1024))
        (root / "big.bin").write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()

        ours = TftpService(root, "127.0.0.1", 0, lambda: None)
        ours.start()
        ref_port = free_udp_port()
        ref = subprocess.Popen(
            ["in.tftpd", "-4", "-L", "-s", str(root), "-a", f"127.0.0.1:{ref_port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.3)
        if ref.poll() is not None:
            raise SystemExit(f"in.tftpd exited with {ref.returncode}")
        servers = {"skinnyctl": ours.port, "tftpd-hpa": ref_port}
        print(
            f"{args.size_mib:g} MiB file, curl on loopback; single = median of {args.runs}, "
            f"concurrent = {args.clients} clients at once, median of {max(1, args.runs // 2)}"
        )
        print(f"{'case':<28}{'skinnyctl':>12}{'tftpd-hpa':>12}{'ratio':>8}")
        worst = 0.0
        try:
            for blksize in (None, 1428):
                for label, n, runs in (
                    ("single", 1, args.runs),
                    (f"{args.clients} concurrent", args.clients, max(1, args.runs // 2)),
                ):
                    times: dict[str, list[float]] = {k: [] for k in servers}
                    for _ in range(runs):  # interleave so both see the same machine noise
                        for name, port in servers.items():
                            times[name].append(fetch_all(port, n, blksize, out, digest))
                    a = statistics.median(times["skinnyctl"])
                    b = statistics.median(times["tftpd-hpa"])
                    worst = max(worst, a / b)
                    case = f"{label}, blksize {blksize or 512}"
                    print(f"{case:<28}{a:>11.3f}s{b:>11.3f}s{a / b:>7.2f}x", flush=True)
        finally:
            ours.stop()
            ref.terminate()
            ref.wait()
        print(f"worst ratio {worst:.2f}x (target <= 1.5x): {'ok' if worst <= 1.5 else 'SLOWER'}")
        bad = [e for e in ours.fetch_log if e.result != "ok"]
        if bad:
            print(f"{len(bad)} transfers did not end ok on our server, e.g. {bad[0]}")


if __name__ == "__main__":
    main()
