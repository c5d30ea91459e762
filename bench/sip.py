"""Inbound calls through the SIP trunk at rising rates: SIPp as the provider, auto-answering
simulated phones, ``python -m skinnyctl serve`` in between.

    python bench/sip.py                              # 300 phones; 10..100 calls/s, 10 s each
    python bench/sip.py --rates 20,50 --seconds 5 --phones 100

Run it in a network namespace (``unshare -n sh -c 'ip link set lo up && python bench/sip.py'``)
so its ports collide with nothing. The server (a subprocess, so its CPU is its own) has one
trunk to SIPp and one DID per phone; every phone (the ``Swarm`` client: one selectors loop)
registers, then answers every call that rings it (OffHook on RingIn) and sends RTP
(``--rtp-pps``) through the media engine. At each rate SIPp (``bench/sip_caller.xml``) places
``rate x seconds`` calls to the DIDs in turn; each rings its phone, is answered (200 OK),
held ``--hold`` seconds and hung up by SIPp (BYE). For each rate:

- failed calls (SIPp's count: any call that did not see its 200 OK and the 200 for its BYE);
- setup time, the INVITE sent to its 200 OK received, p50 and p99 (SIPp's own clock, in µs);
- the server's CPU time (utime + stime from /proc) over the step, per call.

The reference, measured in the same run at the same rates: the same SIPp caller against SIPp's
built-in answering scenario (``-sn uas``): what SIPp and loopback cost by themselves. The
stepping stops at the first rate with failures; the highest rate with none is the result.
Target (issue 18): 50 calls/s with 0 failures on this box. The load average is printed before
and after: other work on the machine shows up in the figures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.load import cpu_seconds, pct, rss_mb, stop, wait_port  # noqa: E402
from skinnyctl.phone.swarm import Swarm  # noqa: E402

SCENARIO = Path(__file__).parent / "sip_caller.xml"
MODELS = ("7960", "7961")


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def mac_of(i: int) -> str:
    return f"0011AC{i:06X}"


def did_of(i: int) -> str:
    return f"+3310{i:06d}"


def write_site(directory: Path, phones: int, sipp_port: int) -> tuple[Path, int, int]:
    """Lines 20000.. on one phone each, DID +3310000000.. each, one trunk to SIPp."""
    sccp, sip = free_port(), free_port(socket.SOCK_DGRAM)
    out = [
        "[server]",
        'addresses = ["127.0.0.1"]',
        'listen = "127.0.0.1"',
        f"sccp_port = {sccp}",
        'tftp_root = "tftp"',
        f"tftp_port = {free_port(socket.SOCK_DGRAM)}",
        "keepalive = 60",
        "rtp_port_min = 20000",  # below the ephemeral range free_port() draws from
        "rtp_port_max = 26000",
        "",
        '[models."7960"]',
        'firmware = "P0030801SR02"',
        '[models."7961"]',
        'firmware = "SCCP41.8-5-3S"',
        "",
        "[[trunks]]",
        'name = "provider"',
        'host = "127.0.0.1"',
        f"port = {sipp_port}",
        "register = false",
        "ping = 0",
        f"local_port = {sip}",
        'allow = ["127.0.0.1/32"]',
        "",
    ]
    for i in range(phones):
        out += ["[[lines]]", f'number = "{20000 + i}"', ""]
        out += ["[[inbound]]", f'did = "{did_of(i)}"', f'target = "{20000 + i}"', ""]
        out += [
            "[[devices]]",
            f'mac = "{mac_of(i)}"',
            f'model = "{MODELS[i % 2]}"',
            "[[devices.buttons]]",
            'type = "line"',
            f'line = "{20000 + i}"',
            "",
        ]
    (directory / "tftp").mkdir(exist_ok=True)
    path = directory / "site.toml"
    path.write_text("\n".join(out))
    return path, sccp, sip


class Step:
    """One SIPp run: ``rate`` calls/s for ``seconds`` against ``target`` (ip:port)."""

    def __init__(
        self, work: Path, target: str, port: int, rate: int, seconds: float, hold: float
    ) -> None:
        self.dir = work / f"sipp-{port}-{rate}"
        self.dir.mkdir()
        self.calls = int(rate * seconds)
        self.proc = subprocess.Popen(
            ["sipp", target, "-sf", str(SCENARIO), "-inf", str(work / "dids.csv"),
             "-i", "127.0.0.1", "-p", str(port), "-mp", str(free_port(socket.SOCK_DGRAM)),
             "-r", str(rate), "-m", str(self.calls), "-d", str(int(hold * 1000)),
             "-l", str(max(100, int(rate * (hold + 5)))), "-nostdin",
             "-trace_logs", "-trace_stat", "-fd", "1", "-timeout", str(int(seconds + hold + 60))],
            cwd=self.dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def finish(self, swarm: Swarm | None) -> dict[str, float]:
        while self.proc.poll() is None:
            if swarm is not None:
                swarm.poll(0.05)  # the phones answer meanwhile
            else:
                time.sleep(0.05)
        return self._figures()

    def _figures(self) -> dict[str, float]:
        sent: dict[str, float] = {}
        setups: list[float] = []
        for log in self.dir.glob("*_logs.log"):
            for line in log.read_text().splitlines():
                parts = line.split()
                if len(parts) < 3:
                    continue
                when = float(parts[-1])
                if parts[1] == "invite":
                    sent[parts[0]] = when
                elif parts[1] == "ok" and parts[0] in sent:
                    setups.append(when - sent.pop(parts[0]))
        ok = failed = 0
        for stats in self.dir.glob("*_.csv"):
            rows = [r.split(";") for r in stats.read_text().splitlines() if r.strip()]
            head, last = rows[0], rows[-1]
            ok = int(last[head.index("SuccessfulCall(C)")])
            failed = int(last[head.index("FailedCall(C)")])
        return {
            "calls": self.calls,
            "ok": ok,
            "failed": failed + max(0, self.calls - ok - failed),  # never started: failed too
            "p50_ms": 1000 * pct(setups, 0.50),
            "p99_ms": 1000 * pct(setups, 0.99),
            "mean_ms": 1000 * statistics.fmean(setups) if setups else float("nan"),
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--phones", type=int, default=300)
    ap.add_argument("--rates", default="10,20,30,40,50,60,80,100", help="calls/s, rising")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each step")
    ap.add_argument("--hold", type=float, default=1.0, help="seconds each call lasts")
    ap.add_argument("--rtp-pps", type=float, default=10.0, help="RTP each phone sends a second")
    args = ap.parse_args()
    if shutil.which("sipp") is None:
        sys.exit("bench/sip.py needs SIPp (Debian: apt-get install sip-tester)")
    rates = [int(r) for r in args.rates.split(",")]
    if max(rates) * args.hold * 2 > args.phones:
        print(
            f"note: {args.phones} phones for {max(rates)} calls/s held {args.hold} s: a DID "
            "may ring again before its phone hung up (raise --phones)",
            file=sys.stderr,
        )
    print(f"load before: {os.getloadavg()[0]:.2f} (1-min average), {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="bench-sip-") as tmp:
        work = Path(tmp)
        (work / "dids.csv").write_text(
            "SEQUENTIAL\n" + "".join(f"{did_of(i)}\n" for i in range(args.phones))
        )
        results, reference = run(work, args, rates)
    print(f"load after: {os.getloadavg()[0]:.2f}")
    print()
    print(
        f"{'calls/s':>8} {'calls':>6} {'failed':>6} {'setup p50':>10} {'p99':>8} "
        f"{'server CPU/call':>16}   reference (SIPp uas) p50 / p99"
    )
    best = 0
    for rate, fig in results:
        ref = reference.get(rate, {})
        print(
            f"{rate:>8} {fig['calls']:>6.0f} {fig['failed']:>6.0f} {fig['p50_ms']:>8.2f}ms "
            f"{fig['p99_ms']:>6.2f}ms {fig['cpu_ms_per_call']:>13.2f} ms   "
            f"{ref.get('p50_ms', float('nan')):.2f} ms / {ref.get('p99_ms', float('nan')):.2f} ms"
        )
        if fig["failed"] == 0:
            best = max(best, rate)
    if results:
        print(f"\nserver RSS after: {results[-1][1]['rss_mb']:.0f} MB")
    print(f"highest rate with 0 failed calls: {best} calls/s (target 50)")


def run(
    work: Path, args: argparse.Namespace, rates: list[int]
) -> tuple[list[tuple[int, dict[str, float]]], dict[int, dict[str, float]]]:
    sipp_port = free_port(socket.SOCK_DGRAM)
    site, sccp, sip = write_site(work, args.phones, sipp_port)
    server = subprocess.Popen(
        [sys.executable, "-m", "skinnyctl", "serve", str(site)],
        cwd=work,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=open(work / "serve.log", "wb"),  # noqa: SIM115
    )
    results: list[tuple[int, dict[str, float]]] = []
    try:
        wait_port(sccp, server)
        swarm = Swarm("127.0.0.1", sccp, [(mac_of(i), MODELS[i % 2]) for i in range(args.phones)])
        with swarm:
            storm = swarm.register_all(timeout=120)
            if storm.registered != args.phones:
                sys.exit(f"only {storm.registered} of {args.phones} phones registered")
            swarm.rtp_pps = args.rtp_pps
            swarm.auto_answer(swarm.phones)
            for rate in rates:
                cpu0 = cpu_seconds(server.pid)
                step = Step(work, f"127.0.0.1:{sip}", sipp_port, rate, args.seconds, args.hold)
                fig = step.finish(swarm)
                fig["cpu_ms_per_call"] = 1000 * (cpu_seconds(server.pid) - cpu0) / step.calls
                fig["rss_mb"] = rss_mb(server.pid)[0]
                results.append((rate, fig))
                print(
                    f"  {rate} calls/s: {fig['failed']:.0f} failed of {fig['calls']:.0f}, "
                    f"setup p50 {fig['p50_ms']:.2f} ms p99 {fig['p99_ms']:.2f} ms",
                    flush=True,
                )
                swarm.poll(args.hold + 1.0)  # the last calls end
                if fig["failed"]:
                    break
    finally:
        stop(server)
    reference: dict[int, dict[str, float]] = {}
    uas_port = free_port(socket.SOCK_DGRAM)
    uas = subprocess.Popen(
        ["sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", str(uas_port), "-nostdin"],
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.5)
        for rate, _ in results:
            step = Step(work, f"127.0.0.1:{uas_port}", free_port(socket.SOCK_DGRAM), rate,
                        args.seconds, args.hold)  # fmt: skip
            reference[rate] = step.finish(None)
    finally:
        uas.terminate()
        uas.wait(10)
    return results, reference


if __name__ == "__main__":
    main()
