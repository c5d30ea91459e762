"""Benchmark: skinnyctl's RTP relay against rtpengine (userspace forwarding), on loopback.

For each number of concurrent calls N, 2N simulated phones each send 50 packets/s of 172-byte
RTP (160-byte payload) through the relay under test to their partner. A forked sender paces the
packets (1 ms slots, spread over the 20 ms ptime); the parent receives them. Each payload carries
its send time (CLOCK_MONOTONIC, shared by all processes), so the receiver measures one-way latency.

Reported per N and relay: offered and forwarded packets/s, loss, one-way latency p50/p99, the
relay process's CPU (all its threads, from /proc), and CPU µs per forwarded packet. A "direct"
run (phones sending straight to each other) gives the latency of the harness itself, so
"added" latency = relay p50/p99 minus direct p50/p99.

    python bench/relay.py                       # N = 50,100,200,400, 5 s each
    python bench/relay.py --calls 200 --seconds 10 --no-rtpengine

rtpengine: Debian package rtpengine-daemon (`apt-get install -y rtpengine-daemon`, then
`service rtpengine-daemon stop`); started here as
`rtpengine --foreground --table=-1 ...` and driven over its ng protocol (offer/answer/delete).
The load generator runs on the same machine as the relay; on a small machine it competes with
the relay for CPU, so the highest loss-free rate is a floor, and CPU per packet is the fairer
efficiency comparison.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import resource
import select
import shutil
import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PTIME = 0.020
PKT_LEN = 172
OURS_PORTS = (10000, 19999)  # below the kernel's ephemeral range, where the phones bind
RTPE_PORTS = (20000, 29999)
NG_ADDR = ("127.0.0.1", 22223)
WARMUP = 1.0
TICK = os.sysconf("SC_CLK_TCK")


# -- relay backends -------------------------------------------------------------------------


def serve_ours() -> None:
    """Child process: our relay, set up from JSON lines on stdin."""
    from skinnyctl.media import Relay

    relay = Relay(host="127.0.0.1", port_min=OURS_PORTS[0], port_max=OURS_PORTS[1])
    relay.start()
    for line in sys.stdin:
        req = json.loads(line)
        if req == "quit":
            break
        out = []
        for i, (pa, pb) in enumerate(req):
            la, lb = relay.open_leg(i), relay.open_leg(i)
            relay.learn(la, "127.0.0.1", pa)
            relay.learn(lb, "127.0.0.1", pb)
            relay.bridge(la, lb)
            out.append((la.local_port, lb.local_port))  # A sends to la, B sends to lb
        print(json.dumps(out), flush=True)
    relay.stop()


class Ours:
    name = "skinnyctl"

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve-ours"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.pid = self.proc.pid

    def setup(self, phone_ports: list[tuple[int, int]]) -> list[tuple[int, int]]:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps(phone_ports) + "\n")
        self.proc.stdin.flush()
        return [tuple(p) for p in json.loads(self.proc.stdout.readline())]  # type: ignore[misc]

    def close(self) -> None:
        assert self.proc.stdin
        try:
            self.proc.stdin.write('"quit"\n')
            self.proc.stdin.close()
            self.proc.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(5)


def bencode(o: object) -> bytes:
    if isinstance(o, int):
        return b"i%de" % o
    if isinstance(o, str):
        o = o.encode()
    if isinstance(o, bytes):
        return b"%d:%s" % (len(o), o)
    if isinstance(o, list):
        return b"l" + b"".join(bencode(x) for x in o) + b"e"
    if isinstance(o, dict):
        return b"d" + b"".join(bencode(k) + bencode(v) for k, v in sorted(o.items())) + b"e"
    raise TypeError(type(o))


def bdecode(b: bytes, i: int = 0) -> tuple[object, int]:
    c = b[i : i + 1]
    if c == b"i":
        j = b.index(b"e", i)
        return int(b[i + 1 : j]), j + 1
    if c in (b"l", b"d"):
        i += 1
        items: list[object] = []
        while b[i : i + 1] != b"e":
            v, i = bdecode(b, i)
            items.append(v)
        if c == b"l":
            return items, i + 1
        it = iter(items)
        return {k.decode(): v for k, v in zip(it, it, strict=True)}, i + 1  # type: ignore[union-attr]
    j = b.index(b":", i)
    n = int(b[i:j])
    return b[j + 1 : j + 1 + n], j + 1 + n


def sdp(port: int) -> str:
    return (
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
    )


class Rtpengine:
    name = "rtpengine"

    def __init__(self, exe: str) -> None:
        self.proc = subprocess.Popen(
            [
                exe,
                "--foreground",
                "--table=-1",
                "--interface=127.0.0.1",
                f"--listen-ng={NG_ADDR[0]}:{NG_ADDR[1]}",
                f"--port-min={RTPE_PORTS[0]}",
                f"--port-max={RTPE_PORTS[1]}",
                "--log-stderr",
                "--log-level=3",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.pid = self.proc.pid
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(0.5)
        self.calls: list[str] = []
        for _ in range(20):
            try:
                if self.ng({"command": "ping"}).get("result") == b"pong":
                    return
            except OSError:
                time.sleep(0.25)
        self.close()
        raise RuntimeError("rtpengine did not answer ping on the ng port")

    def ng(self, req: dict[str, object]) -> dict[str, object]:
        cookie = os.urandom(6).hex().encode()
        self.sock.sendto(cookie + b" " + bencode(req), NG_ADDR)
        while True:
            data = self.sock.recv(65535)
            c, _, body = data.partition(b" ")
            if c == cookie:
                return bdecode(body)[0]  # type: ignore[return-value]

    @staticmethod
    def port_of(answer: dict[str, object]) -> int:
        body = answer["sdp"]
        assert isinstance(body, bytes)
        for line in body.decode().splitlines():
            if line.startswith("m=audio "):
                return int(line.split()[1])
        raise RuntimeError(f"no m=audio in rtpengine answer: {answer}")

    def setup(self, phone_ports: list[tuple[int, int]]) -> list[tuple[int, int]]:
        out = []
        for i, (pa, pb) in enumerate(phone_ports):
            cid = f"bench-{i}-{random.getrandbits(32)}"
            self.calls.append(cid)
            offer = self.ng({"command": "offer", "call-id": cid, "from-tag": "a", "sdp": sdp(pa)})
            answer = self.ng(
                {
                    "command": "answer",
                    "call-id": cid,
                    "from-tag": "a",
                    "to-tag": "b",
                    "sdp": sdp(pb),
                }
            )
            # offer's SDP goes to B: B sends there, reaching A; answer's SDP goes to A.
            out.append((self.port_of(answer), self.port_of(offer)))
        return out

    def close(self) -> None:
        for cid in self.calls:
            try:
                self.ng({"command": "delete", "call-id": cid, "from-tag": "a"})
            except OSError:
                break
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.sock.close()


class Direct:
    name = "direct"
    pid = 0

    def setup(self, phone_ports: list[tuple[int, int]]) -> list[tuple[int, int]]:
        return [(pb, pa) for pa, pb in phone_ports]

    def close(self) -> None:
        pass


# -- load -------------------------------------------------------------------------------------


def sender(
    socks: list[socket.socket],
    dests: list[tuple[str, int]],
    t0: float,
    seconds: float,
    result: mp.connection.Connection,
) -> None:
    """Forked child: every phone sends one packet per 20 ms, spread over 1 ms slots."""
    n = len(socks)
    slots = 20
    per_slot = [list(range(k, n, slots)) for k in range(slots)]
    pkt = bytearray(PKT_LEN)
    seqs = [random.getrandbits(16) for _ in range(n)]
    sent = 0
    late = 0
    now_ns = time.monotonic_ns
    warm_ns = int((t0 + WARMUP) * 1e9)
    end = t0 + WARMUP + seconds
    tick = 0
    while True:
        slot_t = t0 + tick * (PTIME / slots)
        if slot_t >= end:
            break
        delay = slot_t - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        elif delay < -PTIME:
            late += 1
        for k in per_slot[tick % slots]:
            seq = seqs[k]
            ts = now_ns()
            struct.pack_into("!BBHIIqI", pkt, 0, 0x80, 0, seq, seq * 160, k, ts, k)
            seqs[k] = (seq + 1) & 0xFFFF
            try:
                socks[k].sendto(pkt, dests[k])
            except OSError:
                continue
            if ts >= warm_ns:
                sent += 1
        tick += 1
    result.send((sent, late))
    result.close()


@dataclass
class Result:
    name: str
    calls: int
    offered_pps: float
    forwarded_pps: float
    loss_pct: float
    p50_us: float
    p99_us: float
    cpu_pct: float
    cpu_us_per_pkt: float
    late_slots: int


def cpu_seconds(pid: int) -> float:
    if not pid:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime, all threads


def run(backend: Ours | Rtpengine | Direct, calls: int, seconds: float) -> Result:
    socks = []
    for _ in range(2 * calls):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 18)
        s.setblocking(False)
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    relay_ports = backend.setup([(ports[2 * i], ports[2 * i + 1]) for i in range(calls)])
    dests = []
    for ra, rb in relay_ports:
        dests += [("127.0.0.1", ra), ("127.0.0.1", rb)]
    ep = select.epoll()
    for s in socks:
        ep.register(s.fileno(), select.EPOLLIN)
    by_fd = {s.fileno(): s for s in socks}
    t0 = time.monotonic() + 0.2
    warm_ns = int((t0 + WARMUP) * 1e9)
    end = t0 + WARMUP + seconds
    parent_end, child_end = mp.Pipe()
    ctx = mp.get_context("fork")
    proc = ctx.Process(target=sender, args=(socks, dests, t0, seconds, child_end))
    proc.start()
    cpu0 = None
    cpu_t0 = cpu_t1 = 0.0
    cpu1 = 0.0
    lat: list[int] = []
    received = 0
    buf = bytearray(2048)
    now_ns = time.monotonic_ns
    stop_at = end + 0.5  # stragglers
    while True:
        now = time.monotonic()
        if cpu0 is None and now >= t0 + WARMUP:
            cpu0, cpu_t0 = cpu_seconds(backend.pid), now
        if now >= end and not cpu_t1:
            cpu1, cpu_t1 = cpu_seconds(backend.pid), now
        if now >= stop_at:
            break
        for fd, _ in ep.poll(0.05):
            try:
                n = by_fd[fd].recv_into(buf)
            except OSError:
                continue
            if n != PKT_LEN:
                continue
            sent_ns = struct.unpack_from("!q", buf, 12)[0]
            if sent_ns >= warm_ns:
                received += 1
                lat.append(now_ns() - sent_ns)
    sent, late = parent_end.recv()
    proc.join(5)
    ep.close()
    for s in socks:
        s.close()
    backend_cpu = cpu1 - (cpu0 or 0.0)
    lat.sort()

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] / 1000 if lat else float("nan")

    fwd = received / seconds
    return Result(
        name=backend.name,
        calls=calls,
        offered_pps=sent / seconds,
        forwarded_pps=fwd,
        loss_pct=100.0 * max(0, sent - received) / sent if sent else 100.0,
        p50_us=pct(0.50),
        p99_us=pct(0.99),
        cpu_pct=100.0 * backend_cpu / (cpu_t1 - cpu_t0) if cpu_t1 > cpu_t0 else 0.0,
        cpu_us_per_pkt=1e6 * backend_cpu / received if received and backend.pid else 0.0,
        late_slots=late,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", default="50,100,200,400", help="comma-separated call counts")
    ap.add_argument("--seconds", type=float, default=5.0, help="measured seconds per run")
    ap.add_argument("--no-rtpengine", action="store_true")
    ap.add_argument("--serve-ours", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_ours:
        serve_ours()
        return
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    counts = [int(c) for c in args.calls.split(",")]
    exe = None if args.no_rtpengine else shutil.which("rtpengine")
    if exe is None and not args.no_rtpengine:
        print(
            "rtpengine not found (apt-get install -y rtpengine-daemon; service rtpengine-daemon "
            "stop): measuring skinnyctl only"
        )
    print(
        f"cpus={os.cpu_count()} python={sys.version.split()[0]} ptime=20ms payload=160B "
        f"warmup={WARMUP}s measured={args.seconds}s per run "
        f"loadavg(1m)={os.getloadavg()[0]:.1f} (other load on the machine skews every figure)"
    )
    hdr = (
        f"{'relay':<10} {'calls':>5} {'offered/s':>10} {'fwd/s':>9} {'loss%':>7} "
        f"{'p50us':>8} {'p99us':>8} {'add50':>7} {'add99':>7} {'cpu%':>6} {'us/pkt':>7}"
    )
    print(hdr)
    table: dict[str, list[Result]] = {}
    for n in counts:
        backends: list[Ours | Rtpengine | Direct] = [Direct(), Ours()]
        if exe:
            try:
                backends.append(Rtpengine(exe))
            except (RuntimeError, OSError) as exc:
                print(f"rtpengine could not run ({exc}); measuring skinnyctl only")
                exe = None
        base: Result | None = None
        for b in backends:
            try:
                r = run(b, n, args.seconds)
            finally:
                b.close()
            table.setdefault(r.name, []).append(r)
            if r.name == "direct":
                base = r
                if r.loss_pct >= 0.1 or r.late_slots:
                    print(
                        f"  ! the harness alone cannot carry {n} calls here (direct run lost "
                        f"{r.loss_pct:.1f}% / sender late): the figures below are not "
                        "meaningful for this N; run on an idle machine"
                    )
            add50 = r.p50_us - base.p50_us if base else float("nan")
            add99 = r.p99_us - base.p99_us if base else float("nan")
            print(
                f"{r.name:<10} {n:>5} {r.offered_pps:>10.0f} {r.forwarded_pps:>9.0f} "
                f"{r.loss_pct:>7.3f} {r.p50_us:>8.0f} {r.p99_us:>8.0f} {add50:>7.0f} "
                f"{add99:>7.0f} {r.cpu_pct:>6.1f} {r.cpu_us_per_pkt:>7.1f}"
                + (f"  (sender late {r.late_slots} slots)" if r.late_slots else ""),
                flush=True,
            )
    print()

    def best(name: str) -> Result | None:
        ok = [r for r in table.get(name, []) if r.loss_pct < 0.1]
        return max(ok, key=lambda r: r.forwarded_pps) if ok else None

    ours, ref = best("skinnyctl"), best("rtpengine")
    if ours:
        print(
            f"skinnyctl: {ours.forwarded_pps:.0f} pkt/s forwarded at <0.1% loss "
            f"({ours.calls} calls), {ours.cpu_us_per_pkt:.1f} CPU us/pkt "
            f"-> ~{1e6 / ours.cpu_us_per_pkt:.0f} pkt/s per core if the relay had it alone"
        )
    else:
        print("skinnyctl: no run below 0.1% loss")
    if ref:
        print(
            f"rtpengine: {ref.forwarded_pps:.0f} pkt/s forwarded at <0.1% loss "
            f"({ref.calls} calls), {ref.cpu_us_per_pkt:.1f} CPU us/pkt"
        )
    if ours and ref:
        print(
            f"ratio skinnyctl/rtpengine: forwarded rate at <0.1% loss "
            f"{ours.forwarded_pps / ref.forwarded_pps:.2f}x, "
            f"CPU efficiency {ref.cpu_us_per_pkt / ours.cpu_us_per_pkt:.2f}x "
            f"(target >= 0.5x)"
        )
    for r in table.get("skinnyctl", []):
        if r.calls == 200:
            d = next(x for x in table["direct"] if x.calls == 200)
            print(
                f"200 calls: added p99 {r.p99_us - d.p99_us:.0f} us (target < 1000 us), "
                f"loss {r.loss_pct:.3f}%"
            )


if __name__ == "__main__":
    main()
