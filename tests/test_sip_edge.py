"""The SIP trunk edge against real SIP peers on loopback: SIPp as the provider (both ways),
Kamailio as a registrar with digest authentication, tshark on every message we send.

A small harness stands in for the call core: it collects the edge's inputs and answers with
commands; for media it offers a plain UDP socket and counts the RTP that reaches it.
Run inside a network namespace (HELPERS.md) so the fixed test ports never collide.
"""

from __future__ import annotations

import logging
import os
import queue
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skinnyctl.sip.edge import SipEdge
from skinnyctl.sip.events import (
    MediaDesc,
    SipAnswer,
    SipAnswered,
    SipCall,
    SipEnded,
    SipFailed,
    SipHangup,
    SipIncoming,
    SipReject,
    SipRing,
    SipRinging,
    TrunkState,
)
from skinnyctl.site.model import Trunk

SCENARIOS = Path(__file__).parent / "sipp"
KAMAILIO_MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules/"


def require(tool: str) -> str:
    """The tool's path; skip when missing on a developer box, fail in CI."""
    path = shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is required in CI (.ci/run installs it)")
        pytest.skip(f"{tool} not installed")
    return path


def free_udp_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class Harness:
    """In place of the core: inputs on a queue, an RTP socket for our side of the media."""

    def __init__(self, trunks: list[Trunk], **kwargs: Any) -> None:
        self.inputs: queue.Queue[Any] = queue.Queue()
        self.sent: list[tuple[str, str]] = []  # (destination "ip:port", message) we sent
        self.seen: list[Any] = []  # inputs passed over by wait()
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind(("127.0.0.1", 0))
        self.rtp.settimeout(0.2)
        self.local = MediaDesc("127.0.0.1", self.rtp.getsockname()[1], ("PCMA", "PCMU"))
        self.local_port = trunks[0].local_port
        self.edge = SipEdge(trunks, self.inputs.put, "127.0.0.1", trace=self._trace, **kwargs)

    def _trace(self, kind: str, head: str, data: str) -> None:
        if kind == "SENDING":
            self.sent.append((head.split(":", 1)[1].strip().rstrip(":"), data))

    def wait(self, kind: type, timeout: float = 10.0) -> Any:
        """The next input of ``kind``; other inputs in between are kept in ``seen``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                x = self.inputs.get(timeout=0.1)
            except queue.Empty:
                continue
            if isinstance(x, kind):
                return x
            self.seen.append(x)
        raise AssertionError(f"no {kind.__name__} within {timeout} s; saw {self.seen}")

    def rtp_received(self, seconds: float) -> int:
        got, deadline = 0, time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                data, _ = self.rtp.recvfrom(2048)
            except TimeoutError:
                continue
            if len(data) >= 12 and data[0] >> 6 == 2:
                got += 1
        return got

    def send_rtp(self, to: MediaDesc, count: int, pt: int = 8) -> None:
        for i in range(count):
            header = struct.pack("!BBHII", 0x80, pt, i, i * 160, 0x5EED)
            self.rtp.sendto(header + b"\xd5" * 160, (to.ip, to.port))
            time.sleep(0.02)


@pytest.fixture
def harness_factory() -> Iterator[Any]:
    made: list[Harness] = []

    def make(trunks: list[Trunk], **kwargs: Any) -> Harness:
        h = Harness(trunks, **kwargs)
        h.edge.start()
        made.append(h)
        return h

    yield make
    for h in made:
        h.edge.stop()
        h.rtp.close()


class Sipp:
    """One SIPp run in the background; ``finish()`` waits for it and returns its exit code."""

    def __init__(
        self,
        scenario: str,
        port: int,
        *args: str,
        ip: str = "127.0.0.1",
        subst: dict[str, str] | None = None,
    ) -> None:
        require("sipp")
        self.dir = tempfile.mkdtemp(prefix="sipp-")
        path = SCENARIOS / scenario
        if subst:  # SIPp takes no keyword in a status line or an rtp_stream file name
            text = path.read_text()
            for key, value in subst.items():
                text = text.replace(key, value)
            path = Path(self.dir) / scenario
            path.write_text(text)
        self.proc = subprocess.Popen(
            [
                "sipp",
                *args,
                "-sf",
                str(path),
                "-i",
                ip,
                "-p",
                str(port),
                "-m",
                "1",
                "-nostdin",
                "-trace_err",
                "-timeout",
                "40",
            ],
            cwd=self.dir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(0.3)  # let it bind

    def finish(self, timeout: float = 20.0) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return -1

    def errors(self) -> str:
        return "".join(p.read_text(errors="replace") for p in Path(self.dir).glob("*errors.log"))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def sipp() -> Iterator[Any]:
    runs: list[Sipp] = []

    def start(scenario: str, port: int, *args: str, **kwargs: Any) -> Sipp:
        s = Sipp(scenario, port, *args, **kwargs)
        runs.append(s)
        return s

    yield start
    for s in runs:
        s.stop()


def provider(port: int, local_port: int, **kw: Any) -> Trunk:
    base: dict[str, Any] = {
        "name": "provider",
        "host": "127.0.0.1",
        "port": port,
        "username": "alice",
        "password": "s3cret",
        "register": False,
        "local_port": local_port,
        "ping": 0,  # no OPTIONS: SIPp scenarios expect the INVITE first
    }
    base.update(kw)
    return Trunk(**base)


# ---- tshark on what we sent ------------------------------------------------------------------


def _udp_pcap(path: Path, messages: list[tuple[str, str]], sport: int) -> None:
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101))  # raw IP
    for i, (dest, text) in enumerate(messages):
        dest = dest.removeprefix("udp:")
        port = dest.rpartition(":")[2]
        payload = text.encode("utf-8")
        udp = struct.pack("!HHHH", sport, int(port), 8 + len(payload), 0) + payload
        src = socket.inet_aton("127.0.0.1")
        hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i, 0, 64, 17, 0, src, src)
        pkt = hdr + udp
        out += struct.pack("<IIII", 1_700_000_000 + i, 0, len(pkt), len(pkt)) + pkt
    path.write_bytes(bytes(out))


def assert_sip_clean(messages: list[tuple[str, str]], sport: int) -> list[str]:
    """Every message dissects as SIP with no malformed packet; returns the first lines."""
    tshark = require("tshark")
    assert messages, "the edge sent nothing"
    with tempfile.TemporaryDirectory() as tmp:
        pcap = Path(tmp) / "sent.pcap"
        _udp_pcap(pcap, messages, sport)
        ports = {int(d.rpartition(":")[2]) for d, _ in messages} | {sport}
        decode = [a for p in sorted(ports) for a in ("-d", f"udp.port=={p},sip")]
        run = subprocess.run(
            [tshark, "-r", str(pcap), *decode, "-T", "fields", "-e", "sip.Request-Line",
             "-e", "sip.Status-Line", "-e", "_ws.malformed", "-e", "_ws.expert.severity"],
            capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
    rows = [r.split("\t") for r in run.stdout.splitlines()]
    assert len(rows) == len(messages), run.stdout
    bad = [r for r in rows if r[2] or not (r[0] or r[1])]
    assert not bad, f"tshark: malformed or not SIP: {bad}"
    return [r[0] or r[1] for r in rows]


# ---- outbound: SIPp as the provider --------------------------------------------------------


def test_outbound_call_answers_a_challenge_gets_early_media_and_audio_both_ways(
    harness_factory: Any, sipp: Any
) -> None:
    sp, lp = free_udp_port(), free_udp_port()
    media = free_udp_port()
    run = sipp(
        "provider_answer.xml", sp, "-key", "user", "alice", "-key", "pass", "s3cret",
        "-rtp_echo", "-mp", str(media),
    )  # fmt: skip
    h = harness_factory([provider(sp, lp)])
    h.edge.apply(SipCall("out-1", "provider", "0123456789", "1001", "Reception", h.local))
    ring = h.wait(SipRinging)
    assert ring.status == 180 and ring.remote is None
    early = h.wait(SipRinging)
    assert early.status == 183 and early.remote is not None  # early media
    assert (early.remote.port, early.remote.codecs) == (media, ("PCMA",))
    answered = h.wait(SipAnswered)
    assert answered.remote is not None and answered.remote.dtmf_pt == 101
    h.send_rtp(answered.remote, 10)
    assert h.rtp_received(1.0) == 10  # echoed by the provider: audio both ways
    assert h.edge.status()[0]["calls"] == 1
    h.edge.apply(SipHangup("out-1"))
    assert run.finish() == 0, run.errors()  # SIPp saw 401 answered, and our BYE
    assert not any(isinstance(x, SipFailed) for x in h.seen)
    lines = assert_sip_clean(h.sent, lp)
    methods = [ln.split(" ")[0] for ln in lines]
    assert methods == ["INVITE", "ACK", "INVITE", "ACK", "BYE"], lines
    second_invite = h.sent[2][1]
    assert 'Authorization: Digest username="alice"' in second_invite
    assert "qop=auth" in second_invite and "nc=00000001" in second_invite
    assert "s3cret" not in "".join(m for _, m in h.sent)


def test_far_end_bye_ends_the_call(harness_factory: Any, sipp: Any) -> None:
    sp, lp = free_udp_port(), free_udp_port()
    run = sipp("provider_bye.xml", sp, "-key", "user", "alice", "-key", "pass", "s3cret")
    h = harness_factory([provider(sp, lp)])
    h.edge.apply(SipCall("out-2", "provider", "0123456789", "1001", "", h.local))
    h.wait(SipAnswered)
    assert h.wait(SipEnded, timeout=5) == SipEnded("out-2", "bye")
    assert run.finish() == 0, run.errors()
    assert_sip_clean(h.sent, lp)


@pytest.mark.parametrize(
    ("status", "reason"),
    [(486, "Busy Here"), (404, "Not Found"), (484, "Address Incomplete"), (503, "Unavailable")],
)
def test_final_refusals_fail_the_call_with_their_status(
    harness_factory: Any, sipp: Any, status: int, reason: str
) -> None:
    sp, lp = free_udp_port(), free_udp_port()
    run = sipp("provider_reject.xml", sp, subst={"STATUS": str(status), "REASON": reason})
    h = harness_factory([provider(sp, lp)])
    h.edge.apply(SipCall("out-3", "provider", "0999", "1001", "", h.local))
    assert h.wait(SipFailed) == SipFailed("out-3", status, reason)
    assert run.finish() == 0, run.errors()  # and it got our ACK
    assert_sip_clean(h.sent, lp)


def test_hanging_up_while_it_rings_sends_cancel(harness_factory: Any, sipp: Any) -> None:
    sp, lp = free_udp_port(), free_udp_port()
    run = sipp("provider_cancel.xml", sp)
    h = harness_factory([provider(sp, lp)])
    h.edge.apply(SipCall("out-4", "provider", "0123456789", "1001", "", h.local))
    h.wait(SipRinging)
    h.edge.apply(SipHangup("out-4"))
    assert run.finish() == 0, run.errors()  # CANCEL, then ACK of the 487
    methods = [ln.split(" ")[0] for ln in assert_sip_clean(h.sent, lp)]
    assert methods == ["INVITE", "CANCEL", "ACK"]


def test_a_trunk_whose_host_does_not_resolve_fails_calls_with_503(harness_factory: Any) -> None:
    lp = free_udp_port()
    h = harness_factory([provider(5060, lp, host="no-such-host.invalid")])
    state = h.wait(TrunkState)
    assert (state.state, state.status) == ("failed", 503)
    h.edge.apply(SipCall("out-5", "provider", "0123", "1001", "", h.local))
    failed = h.wait(SipFailed)
    assert failed.dialog == "out-5" and failed.status == 503


@pytest.mark.slow
def test_an_unanswered_invite_times_out_as_408(harness_factory: Any) -> None:
    lp, silent = free_udp_port(), free_udp_port()  # nobody listens on `silent`
    h = harness_factory([provider(silent, lp)])
    h.edge.apply(SipCall("out-6", "provider", "0123", "1001", "", h.local))
    failed = h.wait(SipFailed, timeout=40)  # Timer B: 64 x T1 = 32 s
    assert (failed.dialog, failed.status) == ("out-6", 408)
    invites = [m for _, m in h.sent if m.startswith("INVITE")]
    assert len(invites) >= 6  # Timer A retransmissions: 0.5, 1, 2, 4, 8, 16 s


# ---- inbound: SIPp calls our DID --------------------------------------------------------------


def _audio_file(tmp: Path) -> Path:
    """Two seconds of µ-law for SIPp's rtp_stream (a WAV it can read)."""
    wav = tmp / "tone.wav"
    with open(wav, "wb") as f:
        data = bytes([0xFF, 0x7F] * 8000)
        f.write(b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt ")
        f.write(struct.pack("<IHHIIHH", 16, 7, 1, 8000, 8000, 1, 8))  # format 7 = µ-law
        f.write(b"data" + struct.pack("<I", len(data)) + data)
    return wav


def test_inbound_call_rings_answers_and_carries_the_callers_rtp(
    harness_factory: Any, sipp: Any, tmp_path: Path
) -> None:
    lp, sp, media = free_udp_port(), free_udp_port(), free_udp_port()
    h = harness_factory([provider(sp, lp)])
    run = sipp(
        "caller.xml", sp, f"127.0.0.1:{lp}", "-s", "+33123456701", "-mp", str(media),
        subst={"AUDIO_FILE": str(_audio_file(tmp_path))},
    )  # fmt: skip
    inc = h.wait(SipIncoming)
    assert inc.dialog.startswith("sip-in-") and inc.trunk == "provider"
    assert inc.did == "+33123456701"
    assert (inc.caller_number, inc.caller_name) == ("+33611223344", "Jane Outside")  # PAI
    assert inc.remote is not None and inc.remote.codecs == ("PCMU", "PCMA")
    assert inc.source[0] == "127.0.0.1"
    h.edge.apply(SipRing(inc.dialog))
    h.edge.apply(SipAnswer(inc.dialog, h.local))
    assert h.rtp_received(1.2) >= 40  # the caller's stream reaches our media socket
    assert h.wait(SipEnded) == SipEnded(inc.dialog, "bye")
    assert run.finish() == 0, run.errors()
    lines = assert_sip_clean(h.sent, lp)
    assert [ln.split(" ", 2)[1] for ln in lines] == ["100", "180", "200", "200"], lines
    ok = next(m for _, m in h.sent if m.startswith("SIP/2.0 200") and "application/sdp" in m)
    assert f"m=audio {h.local.port} RTP/AVP 8 0 101" in ok


def test_inbound_cancel_before_the_answer_ends_the_dialog(harness_factory: Any, sipp: Any) -> None:
    lp, sp = free_udp_port(), free_udp_port()
    h = harness_factory([provider(sp, lp)])
    run = sipp("caller_cancel.xml", sp, f"127.0.0.1:{lp}", "-s", "1001")
    inc = h.wait(SipIncoming)
    h.edge.apply(SipRing(inc.dialog))
    assert h.wait(SipEnded) == SipEnded(inc.dialog, "cancel")
    assert run.finish() == 0, run.errors()  # 200 for the CANCEL, 487 for the INVITE
    assert_sip_clean(h.sent, lp)


def test_an_invite_from_an_address_not_allowed_gets_403_and_no_input(
    harness_factory: Any, sipp: Any, caplog: pytest.LogCaptureFixture
) -> None:
    lp, sp = free_udp_port(), free_udp_port()
    h = harness_factory([provider(sp, lp, allow=("127.0.0.1/32",))])
    with caplog.at_level(logging.WARNING, logger="skinnyctl.sip"):
        run = sipp("caller_refused.xml", sp, f"127.0.0.1:{lp}", "-s", "1001", ip="127.0.0.2")
        assert run.finish() == 0, run.errors()
    assert any("127.0.0.2" in r.getMessage() and "403" in r.getMessage() for r in caplog.records)
    time.sleep(0.2)
    assert h.inputs.empty() and not h.seen


# ---- bad input --------------------------------------------------------------------------------


def _invite(did: str, src_port: int, lp: int, n: int) -> bytes:
    return (
        f"INVITE sip:{did}@127.0.0.1:{lp} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.3:{src_port};branch=z9hG4bK-flood{n}\r\n"
        f"From: <sip:x@127.0.0.3>;tag=f{n}\r\nTo: <sip:{did}@127.0.0.1>\r\n"
        f"Call-ID: flood-{n}@127.0.0.3\r\nCSeq: 1 INVITE\r\n"
        f"Contact: <sip:x@127.0.0.3:{src_port}>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def test_garbage_and_floods_are_refused_while_a_call_keeps_its_audio(
    harness_factory: Any, sipp: Any, caplog: pytest.LogCaptureFixture
) -> None:
    sp, lp, media = free_udp_port(), free_udp_port(), free_udp_port()
    run = sipp(
        "provider_answer.xml", sp, "-key", "user", "alice", "-key", "pass", "s3cret",
        "-rtp_echo", "-mp", str(media),
    )  # fmt: skip
    h = harness_factory([provider(sp, lp)])
    h.edge.apply(SipCall("out-7", "provider", "0123456789", "1001", "", h.local))
    answered = h.wait(SipAnswered)
    attacker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    attacker.bind(("127.0.0.3", 0))
    attacker.settimeout(1.0)
    garbage = [
        b"\x00\xff" * 40,  # binary, not UTF-8
        b"HELLO WORLD THIS IS NOT SIP AT ALL, REALLY NOT\r\n\r\n",
        b"INVITE sip:1001@127.0.0.1 SIP/2.0\r\nVia: broken\r\n\r\n",  # no From/To/Call-ID
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1\r\nCSeq: x\r\n\r\n",
        b"INVITE sip:1001@127.0.0.1 SIP/2.0\r\nContent-Length: 99999\r\n" + b"X" * 300,
        b"A" * 20000,  # oversized
    ]
    with caplog.at_level(logging.WARNING, logger="skinnyctl.sip"):
        for g in garbage:
            attacker.sendto(g, ("127.0.0.1", lp))
        port = attacker.getsockname()[1]
        refused = set()  # Call-IDs refused (each 403 is retransmitted until ACKed: Timer G)

        def drain(wait: float) -> None:
            attacker.settimeout(wait)
            try:
                while True:
                    data, _ = attacker.recvfrom(4096)
                    if data.startswith(b"SIP/2.0 403"):
                        refused.add(data.split(b"Call-ID: ")[1].split(b"\r\n")[0])
            except TimeoutError:
                pass

        for n in range(200):  # an INVITE flood from an address no trunk allows
            attacker.sendto(_invite("1001", port, lp, n), ("127.0.0.1", lp))
            if n % 10 == 9:
                drain(0.05)  # read as we go: our socket buffer is no part of the test
        drain(1.0)
        # The call in progress keeps its audio and its signalling.
        h.send_rtp(answered.remote, 10)
        assert h.rtp_received(1.0) == 10
        h.edge.apply(SipHangup("out-7"))
        assert run.finish() == 0, run.errors()
    assert len(refused) == 200
    assert not any(isinstance(x, SipIncoming) for x in h.seen)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) < 30, f"{len(warnings)} log lines for a flood: not rate-limited"
    assert any("not UTF-8" in r.getMessage() for r in warnings)
    assert not [r for r in caplog.records if "Traceback" in r.getMessage()]


def test_an_unknown_did_is_the_cores_404(harness_factory: Any) -> None:
    lp = free_udp_port()
    h = harness_factory([provider(5060, lp, allow=("127.0.0.3/32",))])
    caller = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    caller.bind(("127.0.0.3", 0))
    caller.settimeout(3.0)
    caller.sendto(_invite("5550000", caller.getsockname()[1], lp, 1), ("127.0.0.1", lp))
    inc = h.wait(SipIncoming)
    assert inc.did == "5550000" and inc.remote is None  # no SDP offered
    h.edge.apply(SipReject(inc.dialog, 404))
    statuses = []
    try:
        while len(statuses) < 2:
            statuses.append(caller.recvfrom(4096)[0].split(b"\r\n", 1)[0])
    except TimeoutError:
        pass
    assert b"SIP/2.0 404 Not Found" in statuses, statuses
    assert_sip_clean(h.sent, lp)


# ---- registration: Kamailio with digest authentication ---------------------------------------


class Kamailio:
    def __init__(self, port: int, tmp: Path) -> None:
        require("kamailio")
        cfg = (SCENARIOS / "kamailio.cfg").read_text().replace("KAMAILIO_PORT", str(port))
        self.cfg = tmp / "kamailio.cfg"
        self.cfg.write_text(cfg)
        self.run_dir = tmp / "run"
        self.run_dir.mkdir(exist_ok=True)
        check = subprocess.run(
            ["kamailio", "-c", "-f", str(self.cfg)], capture_output=True, text=True, check=False
        )
        assert check.returncode == 0, check.stderr[-2000:]
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["kamailio", "-DD", "-E", "-f", str(self.cfg), "-Y", str(self.run_dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        time.sleep(1.0)
        assert self.proc.poll() is None, "kamailio exited"

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@pytest.fixture
def kamailio(tmp_path: Path) -> Iterator[Kamailio]:
    k = Kamailio(free_udp_port(), tmp_path)
    k.start()
    yield k
    k.kill()


@pytest.mark.slow
def test_registers_with_digest_refreshes_and_recovers_after_a_registrar_restart(
    harness_factory: Any, kamailio: Kamailio
) -> None:
    port = int(kamailio.cfg.read_text().split("listen=udp:127.0.0.1:")[1].split()[0])
    lp = free_udp_port()
    trunk = provider(port, lp, register=True, username="alice", password="s3cret")
    h = harness_factory([trunk], retry_base=1.0, retry_cap=4.0)
    state = h.wait(TrunkState)
    # Kamailio grants at most 10 s (max_expires), whatever we asked
    assert (state.state, state.status, state.expires) == ("registered", 200, 10)
    registers = lambda: [m for _, m in h.sent if m.startswith("REGISTER")]  # noqa: E731
    n = len(registers())
    assert n == 2  # challenged once, then authenticated
    time.sleep(9)  # the refresh comes before the 10 s run out, with no state change
    assert len(registers()) >= n + 2, "no refresh before expiry"
    assert h.inputs.empty()
    status = h.edge.status()[0]
    assert status["state"] == "registered" and 0 < status["expires_in"] <= 10
    assert "s3cret" not in repr(status)
    kamailio.kill()
    failed = h.wait(TrunkState, timeout=45)  # the next refresh times out (Timer F, 32 s)
    assert (failed.state, failed.status) == ("failed", 408)
    kamailio.start()
    back = h.wait(TrunkState, timeout=15)  # back-off is capped at 4 s here
    assert (back.state, back.status) == ("registered", 200)
    assert_sip_clean(h.sent, lp)


def test_a_wrong_password_fails_with_the_registrars_status(
    harness_factory: Any, kamailio: Kamailio, caplog: pytest.LogCaptureFixture
) -> None:
    port = int(kamailio.cfg.read_text().split("listen=udp:127.0.0.1:")[1].split()[0])
    lp = free_udp_port()
    trunk = provider(port, lp, register=True, username="alice", password="wrong-pw")
    with caplog.at_level(logging.INFO, logger="skinnyctl.sip"):
        h = harness_factory([trunk], retry_base=30.0)
        state = h.wait(TrunkState)
    assert (state.state, state.status) == ("failed", 401)
    assert h.edge.status()[0]["state"] == "failed"
    assert "wrong-pw" not in caplog.text
    assert len([m for _, m in h.sent if m.startswith("REGISTER")]) == 2  # no retry storm


def test_an_ip_authenticated_trunk_is_up_when_options_are_answered(
    harness_factory: Any, kamailio: Kamailio
) -> None:
    port = int(kamailio.cfg.read_text().split("listen=udp:127.0.0.1:")[1].split()[0])
    h = harness_factory([provider(port, free_udp_port(), ping=30)])
    state = h.wait(TrunkState)
    assert (state.state, state.status) == ("registered", 200)
    assert [m.split(" ")[0] for _, m in h.sent] == ["OPTIONS"]


def test_register_asks_for_register_expires(harness_factory: Any, kamailio: Kamailio) -> None:
    """register_expires is what our REGISTER asks for; Kamailio grants at most 10 s."""
    port = int(kamailio.cfg.read_text().split("listen=udp:127.0.0.1:")[1].split()[0])
    trunk = provider(port, free_udp_port(), register=True, register_expires=120)
    h = harness_factory([trunk])
    state = h.wait(TrunkState)
    assert (state.state, state.status, state.expires) == ("registered", 200, 10)
    registers = [m for _, m in h.sent if m.startswith("REGISTER")]
    assert registers and all("\r\nExpires: 120\r\n" in m for m in registers), registers
    assert_sip_clean(h.sent, trunk.local_port)
