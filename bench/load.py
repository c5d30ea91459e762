"""Capacity of one box: N simulated phones against ``python -m skinnyctl serve``.

    python bench/load.py                 # 1,000 phones, 10 s keepalive, 50 calls/s for 10 s, 3 runs
    python bench/load.py --phones 200 --runs 1 --keepalive-seconds 5 --call-rate 20

Each run starts a fresh server (a subprocess, cold), then:

1. registration storm: every phone connects at once and makes the whole §7.1 request sequence
   (the ``Swarm`` client: one selectors loop, not a thread per phone, so the client is not
   what is measured); prints the time from the first connect to the last phone registered;
2. keepalive: every phone sends KeepAlive every ``--keepalive-interval`` seconds;
3. calls: ``--call-rate`` calls a second for ``--call-seconds`` between distinct pairs of idle
   registered phones, through the real call flow: OffHook, the callee's number dialled
   (KeypadButton per digit after the dial tone, or ``--dial enbloc``; the site's dialplan has
   a ``process`` rule for the bench's numbers, so routing is immediate), the callee answers its
   RingIn with OffHook, both answer OpenReceiveChannel and send RTP (``--rtp-pps``) through the
   relay, the caller hangs up after ``--hold`` seconds. Call setup = the caller's OffHook sent
   to the callee's CallState RingIn received; a call is completed when both hung up with RTP
   received on both sides;
4. the server's CPU time (utime + stime) of each phase and its RSS (VmRSS, VmHWM) from
   /proc/PID;
5. the loopback floor, in the same run: a bare Python TCP server (one selectors loop, a
   subprocess too) answering every request with canned frames of the very sizes the real
   server sent, driven by the same client. The gap between the two is the server's own work.

Targets (issue 11): 1,000 phones registered in under 2 s, RSS under 150 MB, call setup p99
under 5 ms at 50 calls/s.
Figures are medians over ``--runs``; the machine's load average is printed: other work on the
machine shows up in the figures.
"""

from __future__ import annotations

import argparse
import collections
import gc
import math
import os
import pickle
import random
import selectors
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from skinnyctl.phone import SimPhone  # noqa: E402
from skinnyctl.phone.swarm import CallResult, Swarm, SwarmPhone  # noqa: E402
from skinnyctl.sccp import (  # noqa: E402
    MESSAGES,
    ButtonTemplateReq,
    ConfigStatReq,
    ForwardStatReq,
    KeepAlive,
    LineStatReq,
    Register,
    SoftKeySetReq,
    SoftKeyTemplateReq,
    SpeedDialStatReq,
    TimeDateReq,
    VersionReq,
)

CLK_TCK = os.sysconf("SC_CLK_TCK")
MODELS = ("7960", "7961")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def mac_of(i: int) -> str:
    return f"0011AB{i:06X}"


def write_site(directory: Path, phones: int, keepalive: int) -> tuple[Path, int]:
    """A site of ``phones`` devices (7960/7961 alternating) with one line + one speed dial
    each, plus the probe device (index ``phones``) the floor's frames are captured from."""
    port = free_port()
    out = [
        "[server]",
        'addresses = ["127.0.0.1"]',
        'listen = "127.0.0.1"',
        f"sccp_port = {port}",
        'tftp_root = "tftp"',
        f"tftp_port = {free_port()}",
        f"keepalive = {keepalive}",
        'media = "relay"',
        "rtp_port_min = 20000",  # below the ephemeral range free_port() draws from
        "rtp_port_max = 24000",
        "",
        # firmware set, as in a real site (else every 7960 logs that its VersionReq has none)
        '[models."7960"]',
        'firmware = "P0030801SR02"',
        '[models."7961"]',
        'firmware = "SCCP41.8-5-3S"',
        "",
        # the bench's numbers are five digits from 10000: routed at the last digit
        "[[dialplan]]",
        'pattern = "^1[0-9]{4}$"',
        'action = "process"',
        "",
    ]
    for i in range(phones + 1):
        out += ["[[lines]]", f'number = "{10000 + i}"', f'display_name = "Phone {i}"', ""]
    for i in range(phones + 1):
        out += [
            "[[devices]]",
            f'mac = "{mac_of(i)}"',
            f'model = "{MODELS[i % 2]}"',
            "[[devices.buttons]]",
            'type = "line"',
            f'line = "{10000 + i}"',
            "[[devices.buttons]]",
            'type = "speed_dial"',
            f'number = "{10000 + (i + 1) % phones}"',
            'label = "Next"',
            "",
        ]
    (directory / "tftp").mkdir(exist_ok=True)
    path = directory / "site.toml"
    path.write_text("\n".join(out))
    return path, port


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {timeout} s")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) in MB."""
    vals = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            key, value = line.split(":", 1)
            vals[key] = int(value.split()[0]) / 1024
    return vals["VmRSS"], vals["VmHWM"]


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- the loopback floor ----------------------------------------------------------------------

# Which requests the server answers, and with which messages (by id) in what order.
ANSWERS = {
    Register.MESSAGE_ID: (0x0081, 0x009B),  # RegisterAck, CapabilitiesReq
    VersionReq.MESSAGE_ID: (0x0098,),
    ButtonTemplateReq.MESSAGE_ID: (0x0097,),
    SoftKeyTemplateReq.MESSAGE_ID: (0x0108,),
    SoftKeySetReq.MESSAGE_ID: (0x0109, 0x0110),  # SoftKeySetRes, SelectSoftKeys
    LineStatReq.MESSAGE_ID: (0x0092,),
    ForwardStatReq.MESSAGE_ID: (0x0090,),
    SpeedDialStatReq.MESSAGE_ID: (0x0091,),
    TimeDateReq.MESSAGE_ID: (0x0094,),
    ConfigStatReq.MESSAGE_ID: (0x0093,),
    KeepAlive.MESSAGE_ID: (0x0100,),
}


def capture_answers(port: int, mac: str, model: str) -> dict[int, bytes]:
    """Register the probe phone for real; the bytes the server answers each request with."""
    with SimPhone("127.0.0.1", port, mac, model=model, keepalive_interval=3600) as phone:
        phone.connect()
        phone.register(timeout=30, keepalive=False)
        phone.ask(KeepAlive(), MESSAGES[0x0100], 10)
        got: dict[int, bytes] = {}
        for direction, frame in phone.frames:
            if direction == "from_cm":
                got.setdefault(struct.unpack_from("<I", frame, 8)[0], frame)
    return {req: b"".join(got[a] for a in answers if a in got) for req, answers in ANSWERS.items()}


def floor_server(port: int, answers_file: str) -> None:
    """A bare TCP server: frames in, the canned answer bytes out (no codec, no core)."""
    answers: dict[int, bytes] = pickle.loads(Path(answers_file).read_bytes())
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(1024)
    listener.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, None)
    bufs: dict[socket.socket, bytearray] = {}
    while True:
        for key, _ in sel.select():
            if key.data is None:
                while True:
                    try:
                        s, _ = listener.accept()
                    except BlockingIOError:
                        break
                    s.setblocking(False)
                    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    bufs[s] = bytearray()
                    sel.register(s, selectors.EVENT_READ, s)
                continue
            s = key.data
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            if not data:
                sel.unregister(s)
                s.close()
                del bufs[s]
                continue
            buf = bufs[s]
            buf += data
            pos = 0
            out = bytearray()
            while len(buf) - pos >= 12:
                length, _, mid = struct.unpack_from("<III", buf, pos)
                if len(buf) < pos + 8 + length:
                    break
                pos += 8 + length
                out += answers.get(mid, b"")
            del buf[:pos]
            if out:
                s.send(out)  # small; loopback buffers take it


# --- the call phase --------------------------------------------------------------------------


def number_of(i: int) -> str:
    return str(10000 + i)


def call_phase(swarm: Swarm, args: argparse.Namespace) -> list[CallResult]:
    """``args.call_rate`` calls a second for ``args.call_seconds``, each between two idle
    registered phones (a phone is in one call at a time); waits for the last to end."""
    index = {id(p): i for i, p in enumerate(swarm.phones)}
    live = [p for p in swarm.phones if p.registered_at and not p.error]
    idle = collections.deque(random.Random(11).sample(live, k=len(live)))
    swarm.rtp_pps = args.rtp_pps
    # The client's own collector pauses would be counted as server latency: keep it off for
    # the measured phase (the phase is short and allocates little that is cyclic).
    gc.collect()
    gc.disable()
    try:
        return _place_calls(swarm, args, index, idle)
    finally:
        gc.enable()


def _place_calls(
    swarm: Swarm,
    args: argparse.Namespace,
    index: dict[int, int],
    idle: collections.deque[SwarmPhone],
) -> list[CallResult]:
    planned = int(args.call_rate * args.call_seconds)
    results: list[CallResult] = []
    active: list[CallResult] = []
    t0 = time.perf_counter()
    deadline = t0 + args.call_seconds + args.hold + 15.0
    k = 0
    while (k < planned or active) and time.perf_counter() < deadline:
        now = time.perf_counter()
        while k < planned and t0 + k / args.call_rate <= now:
            k += 1
            if len(idle) < 2:
                results.append(CallResult(swarm.phones[0], swarm.phones[0], "", error="no idle"))
                continue
            a, b = idle.popleft(), idle.popleft()
            call = swarm.place_call(a, b, number_of(index[id(b)]), hold=args.hold, dial=args.dial)
            results.append(call)
            active.append(call)
        next_call = t0 + k / args.call_rate if k < planned else now + 0.05
        swarm.poll(max(0.0, min(0.05, next_call - time.perf_counter())))
        still = []
        for call in active:
            if call.done:
                idle.extend((call.caller, call.callee))
            else:
                still.append(call)
        active = still
    for call in active:
        call.error = call.error or "not over in time"
    return results


def pct(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank) of ``values``; nan when empty."""
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, max(0, math.ceil(q * len(v)) - 1))]


# --- one run ---------------------------------------------------------------------------------


def run_once(args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    site, port = write_site(tmp, args.phones, args.keepalive)
    phones = [(mac_of(i), MODELS[i % 2]) for i in range(args.phones)]
    fig: dict[str, float] = {}
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    server = subprocess.Popen(
        [sys.executable, "-m", "skinnyctl", "serve", str(site)],
        cwd=tmp,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp / "serve.log", "wb"),  # noqa: SIM115
    )
    try:
        try:
            wait_port(port, server)
        except RuntimeError:
            print((tmp / "serve.log").read_text()[-2000:], file=sys.stderr)
            raise
        fig["rss_idle_mb"] = rss_mb(server.pid)[0]
        cpu0 = cpu_seconds(server.pid)
        with Swarm("127.0.0.1", port, phones) as swarm:
            client0 = time.process_time()
            # well below the server's expiry (2 x keepalive): a phone that never finishes must
            # not leave the others silent until the server drops them
            res = swarm.register_all(timeout=min(30.0, args.keepalive))
            cpu1 = cpu_seconds(server.pid)
            fig["client_cpu_s"] = time.process_time() - client0
            if res.failures:
                print(f"  failures: {res.failures}", file=sys.stderr)
            fig["registered"] = res.registered
            fig["storm_s"] = res.seconds
            fig["storm_cpu_s"] = cpu1 - cpu0
            fig["phone_p50_ms"] = 1000 * res.per_phone[len(res.per_phone) // 2]
            fig["rss_mb"], fig["hwm_mb"] = rss_mb(server.pid)
            acks = swarm.keepalive_for(args.keepalive_seconds, args.keepalive_interval)
            cpu2 = cpu_seconds(server.pid)
            fig["keepalive_acks"] = acks
            fig["keepalive_cpu_pct"] = 100 * (cpu2 - cpu1) / args.keepalive_seconds
            fig["rss_after_keepalive_mb"] = rss_mb(server.pid)[0]
            if args.call_rate > 0 and args.call_seconds > 0:
                client0 = time.process_time()
                spy = None
                if args.profile_calls:  # the server's stacks during the call phase (py-spy)
                    fmt = "raw" if args.profile_calls.endswith(".txt") else "flamegraph"
                    spy = subprocess.Popen(
                        [
                            *("py-spy", "record", "-p", str(server.pid), "-o", args.profile_calls),
                            *("-d", str(int(args.call_seconds)), "-r", "250", "--threads"),
                            *("-f", fmt),
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                    time.sleep(1.0)  # py-spy attaches
                t0 = time.perf_counter()
                calls = call_phase(swarm, args)
                elapsed = time.perf_counter() - t0
                cpu3 = cpu_seconds(server.pid)
                fig["call_client_cpu_s"] = time.process_time() - client0
                ok = [c for c in calls if c.ok]
                rang = [1000 * c.setup_time for c in calls if c.ring_in]
                fig["calls"] = len(calls)
                fig["calls_ok"] = len(ok)
                fig["calls_failed"] = len(calls) - len(ok)
                fig["setup_p50_ms"] = pct(rang, 0.50)
                fig["setup_p99_ms"] = pct(rang, 0.99)
                fig["setup_max_ms"] = max(rang, default=float("nan"))
                tone = [1000 * (c.dial_tone - c.off_hook) for c in calls if c.dial_tone]
                fig["dial_tone_p50_ms"] = pct(tone, 0.50)
                fig["dial_tone_p99_ms"] = pct(tone, 0.99)
                fig["calls_cpu_pct"] = 100 * (cpu3 - cpu2) / elapsed
                fig["calls_cpu_ms_per_call"] = 1000 * (cpu3 - cpu2) / max(1, len(calls))
                fig["rtp_per_call"] = statistics.median(
                    [c.caller_rtp + c.callee_rtp for c in ok] or [0]
                )
                fig["rss_after_calls_mb"] = rss_mb(server.pid)[0]
                if spy is not None:
                    spy.wait(30)
                reasons = collections.Counter(c.error or "no RTP" for c in calls if not c.ok)
                if reasons:
                    print(f"  call failures: {dict(reasons.most_common(5))}", file=sys.stderr)
            closed = collections.Counter(p.error for p in swarm.phones if p.error)
            fig["phones_closed"] = sum(closed.values())
            if closed:
                print(f"  phones closed: {dict(closed.most_common(5))}", file=sys.stderr)
        answers = capture_answers(port, mac_of(args.phones), MODELS[args.phones % 2])
    finally:
        stop(server)

    answers_file = tmp / "answers.pickle"
    answers_file.write_bytes(pickle.dumps(answers))
    fport = free_port()
    floor = subprocess.Popen(
        [sys.executable, __file__, "--floor-server", str(fport), str(answers_file)],
        env=env,
    )
    try:
        wait_port(fport, floor)
        cpu0 = cpu_seconds(floor.pid)
        with Swarm("127.0.0.1", fport, phones) as swarm:
            res = swarm.register_all(timeout=30)
            fig["floor_storm_s"] = res.seconds
            fig["floor_storm_cpu_s"] = cpu_seconds(floor.pid) - cpu0
            fig["floor_registered"] = res.registered
    finally:
        stop(floor)
    return fig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--phones", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keepalive", type=int, default=30, help="site keepalive (s)")
    ap.add_argument("--keepalive-seconds", type=float, default=10.0)
    ap.add_argument("--keepalive-interval", type=float, default=2.0)
    ap.add_argument("--call-rate", type=float, default=50.0, help="calls per second (0: none)")
    ap.add_argument("--call-seconds", type=float, default=10.0)
    ap.add_argument("--hold", type=float, default=1.0, help="seconds each call stays connected")
    ap.add_argument("--rtp-pps", type=float, default=10.0, help="RTP packets/s per phone")
    ap.add_argument("--dial", choices=("keypad", "enbloc"), default="keypad")
    ap.add_argument(
        "--profile-calls",
        metavar="FILE",
        help="py-spy the server during the call phase: collapsed stacks (FILE.txt) or an SVG",
    )
    ap.add_argument("--floor-server", nargs=2, metavar=("PORT", "ANSWERS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.floor_server:
        floor_server(int(args.floor_server[0]), args.floor_server[1])
        return
    print(f"load before: {os.getloadavg()[0]:.2f} (1-min average), {os.cpu_count()} CPUs")
    runs: list[dict[str, float]] = []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="skinnyctl-load-") as tmp:
            fig = run_once(args, Path(tmp))
        runs.append(fig)
        print(f"run {i + 1}: " + ", ".join(f"{k}={v:.3g}" for k, v in fig.items()), flush=True)
    print(f"load after: {os.getloadavg()[0]:.2f}")

    def med(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    n = args.phones
    print(f"\nmedians over {len(runs)} runs, {n} phones (7960/7961, 1 line + 1 speed dial each)")
    print(
        f"  registration storm   {med('storm_s'):6.2f} s   (target < 2 s; "
        f"{med('registered'):.0f}/{n} registered, per phone p50 {med('phone_p50_ms'):.0f} ms)"
    )
    print(
        f"  server CPU, storm    {med('storm_cpu_s'):6.2f} s   "
        f"({1000 * med('storm_cpu_s') / n:.2f} ms per phone)"
    )
    print(
        f"  loopback floor       {med('floor_storm_s'):6.2f} s   "
        f"(bare server CPU {med('floor_storm_cpu_s'):.2f} s)"
    )
    print(
        f"  server RSS           {med('rss_mb'):6.1f} MB  (peak {med('hwm_mb'):.1f} MB, "
        f"idle {med('rss_idle_mb'):.1f} MB, after keepalive "
        f"{med('rss_after_keepalive_mb'):.1f} MB; target < 150 MB)"
    )
    ka_rate = n / args.keepalive_interval
    print(
        f"  keepalive            {med('keepalive_cpu_pct'):6.1f} % CPU at {ka_rate:.0f} "
        f"KeepAlive/s ({med('keepalive_acks'):.0f} acks in {args.keepalive_seconds:g} s)"
    )
    if "calls" in runs[0]:
        print(
            f"  call setup           p50 {med('setup_p50_ms'):.2f} ms, p99 "
            f"{med('setup_p99_ms'):.2f} ms (max {med('setup_max_ms'):.1f} ms; target p99 < 5 ms)"
            f" at {args.call_rate:g} calls/s, off-hook to the far end's RingIn"
        )
        print(
            f"    of which           p50 {med('dial_tone_p50_ms'):.2f} ms, p99 "
            f"{med('dial_tone_p99_ms'):.2f} ms off-hook to dial tone (the caller's CallState)"
        )
        print(
            f"  calls                {med('calls_ok'):.0f}/{med('calls'):.0f} completed "
            f"({med('calls_failed'):.0f} failed), {med('rtp_per_call'):.0f} RTP packets received "
            f"per call; server CPU {med('calls_cpu_pct'):.1f} % "
            f"({med('calls_cpu_ms_per_call'):.2f} ms per call), RSS after "
            f"{med('rss_after_calls_mb'):.1f} MB"
        )
    print(f"  phones closed        {med('phones_closed'):.0f}")


if __name__ == "__main__":
    main()
