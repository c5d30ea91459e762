"""Hostile neighbours: a live call and a keepalive phone while N hostile connections hammer
``python -m skinnyctl serve``.

    python bench/resilience.py                       # 5,000 hostile connections for 20 s
    python bench/resilience.py --hostile 1000 --seconds 10 --mix flooder=1
    python bench/resilience.py --pythonpath /tmp/old-tree     # another skinnyctl, same load
    python bench/resilience.py --hostile 1100 --mix idle=1 --server-nofile 256:1024

Each run starts a fresh server (a subprocess) and measures two phases of ``--seconds`` each:
first the reference, the same call and keepalive phone with no hostile connection, then with
``--hostile`` connections of the kinds in ``--mix`` (idle: connect and say nothing; half_open:
half a frame header, then nothing; flooder: KeepAlive frames as fast as the socket takes them,
never reading; register_spam: Register with a random unknown MAC; garbage: random bytes; each
connects again when closed). Per phase: RTP packets lost on the call (both directions, 50
packets/s each way through the relay), KeepAliveAck latency (p50, p99, max; one KeepAlive every
``--keepalive-interval`` s), the server's RSS peak (VmHWM) and CPU (utime + stime), and the
hostile churn (connections made, closed by the server).

Targets (issue 21): 0 RTP lost, keepalive ack p99 < 100 ms, RSS < 200 MB with 5,000 hostile
connections. The machine's load average is printed: other work shows up in the figures.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.hostile import (  # noqa: E402
    KINDS,
    Hostiles,
    KeepAliveProbe,
    LiveCall,
    Served,
    nofile,
    pct,
    write_site,
)


def parse_mix(text: str, total: int) -> dict[str, int]:
    weights = {}
    for part in text.split(","):
        kind, _, w = part.partition("=")
        if kind not in KINDS:
            raise SystemExit(f"--mix: unknown kind {kind!r}; kinds: {', '.join(KINDS)}")
        weights[kind] = float(w or 1)
    scale = sum(weights.values())
    counts = {k: int(total * w / scale) for k, w in weights.items()}
    first = next(iter(counts))
    counts[first] += total - sum(counts.values())
    return {k: n for k, n in counts.items() if n}


def phase(
    served: Served, port: int, counts: dict[str, int], seconds: float, interval: float
) -> dict[str, float]:
    call = LiveCall.start(port)
    probe = KeepAliveProbe(port, interval=interval)
    peak = [served.rss_mb()[0]]
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.25):
            peak[0] = max(peak[0], served.rss_mb()[0])

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    cpu0 = served.cpu_seconds()
    t0 = time.monotonic()
    hostiles = Hostiles(port, counts) if counts else None
    if hostiles is not None:
        hostiles.__enter__()
    try:
        time.sleep(seconds)
        open_now = hostiles.open_count() if hostiles else 0
    finally:
        if hostiles is not None:
            hostiles.close()
    elapsed = time.monotonic() - t0
    cpu = served.cpu_seconds() - cpu0
    call.stop()
    probe.stop()
    stop.set()
    watcher.join()
    call.hang_up()
    lat = probe.latencies
    return {
        "rtp_packets": call.packets,
        "rtp_lost": call.lost,
        "keepalives": len(lat),
        "keepalives_missed": probe.missed,
        "ka_p50_ms": 1000 * pct(lat, 0.5),
        "ka_p99_ms": 1000 * pct(lat, 0.99),
        "ka_max_ms": 1000 * max(lat, default=float("nan")),
        "rss_peak_mb": peak[0],
        "cpu_pct": 100 * cpu / elapsed,
        "connects": hostiles.connects if hostiles else 0,
        "closed_by_server": hostiles.closed_by_server if hostiles else 0,
        "connect_failures": hostiles.connect_failures if hostiles else 0,
        "open_at_end": open_now,
    }


def run(args: argparse.Namespace, tmp: Path) -> tuple[dict[str, float], dict[str, float]]:
    site, port = write_site(tmp)
    env = {"PYTHONPATH": args.pythonpath} if args.pythonpath else None
    limit = None
    if args.server_nofile:
        soft, _, hard = args.server_nofile.partition(":")
        limit = (int(soft), int(hard or soft))
    with Served(site, port, tmp / "serve.log", nofile=limit, env=env) as served:
        ref = phase(served, port, {}, args.seconds, args.keepalive_interval)
        counts = parse_mix(args.mix, args.hostile)
        hostile = phase(served, port, counts, args.seconds, args.keepalive_interval)
        hostile["rss_end_mb"] = served.rss_mb()[0]
        hostile["log_lines"] = served.log().count("\n")
        hostile["log_mb"] = len(served.log()) / 1e6
    return ref, hostile


def show(name: str, f: dict[str, float]) -> None:
    print(
        f"  {name:<22} RTP {f['rtp_lost']:.0f}/{f['rtp_packets']:.0f} lost   "
        f"keepalive ack p50 {f['ka_p50_ms']:.1f} ms, p99 {f['ka_p99_ms']:.1f} ms, "
        f"max {f['ka_max_ms']:.1f} ms ({f['keepalives']:.0f} acked, "
        f"{f['keepalives_missed']:.0f} missed)   RSS peak {f['rss_peak_mb']:.0f} MB   "
        f"CPU {f['cpu_pct']:.0f} %"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hostile", type=int, default=5000, help="hostile connections")
    ap.add_argument(
        "--mix",
        default="flooder=2,idle=1,half_open=1,register_spam=1",
        help="kind=weight,... of " + ", ".join(KINDS),
    )
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    ap.add_argument("--keepalive-interval", type=float, default=0.1)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--pythonpath", help="run the server from this tree instead")
    ap.add_argument("--keep", metavar="DIR", help="keep the site and serve.log of the last run")
    ap.add_argument(
        "--server-nofile", metavar="SOFT:HARD", help="the server's RLIMIT_NOFILE (e.g. 256:1024)"
    )
    args = ap.parse_args()
    print(f"load before: {os.getloadavg()[0]:.2f} (1-min average), {os.cpu_count()} CPUs")
    with nofile(args.hostile + 1000) as limit:
        if limit < args.hostile + 200:
            raise SystemExit(f"this process may open {limit} files: not enough for the load")
        for i in range(args.runs):
            if args.keep:
                Path(args.keep).mkdir(parents=True, exist_ok=True)
                ref, hostile = run(args, Path(args.keep))
            else:
                with tempfile.TemporaryDirectory(prefix="skinnyctl-resilience-") as tmp:
                    ref, hostile = run(args, Path(tmp))
            counts = parse_mix(args.mix, args.hostile)
            print(f"\nrun {i + 1}: {args.seconds:g} s per phase, server {args.pythonpath or REPO}")
            show("reference (no hostile)", ref)
            show(f"{args.hostile} hostile", hostile)
            print(
                f"  hostile load: {', '.join(f'{n} {k}' for k, n in counts.items())}; "
                f"{hostile['connects']:.0f} connections made, {hostile['closed_by_server']:.0f} "
                f"closed by the server, {hostile['connect_failures']:.0f} failed to connect, "
                f"{hostile['open_at_end']:.0f} open at the end; server log "
                f"{hostile['log_lines']:.0f} lines ({hostile['log_mb']:.1f} MB)"
            )
    print(f"\nload after: {os.getloadavg()[0]:.2f}")
    print("targets: 0 RTP lost, keepalive ack p99 < 100 ms, RSS < 200 MB at 5,000 hostile")


if __name__ == "__main__":
    main()
