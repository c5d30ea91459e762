"""The control API against the real program: ``python -m skinnyctl serve`` in a subprocess,
simulated phones over TCP on loopback, and the CLI (``python -m skinnyctl status|send|mwi|
reload|events|calls``) as a user runs it. Frames the phones receive are checked with tshark."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from queue import Empty, Queue

import pytest

from skinnyctl.control import ControlClient, ControlError
from skinnyctl.control.build import BuildError, build, parse_args
from skinnyctl.phone import Rejected, SimPhone
from skinnyctl.sccp import (
    DeviceToUserDataVersion1,
    KeepAlive,
    KeepAliveAck,
    LampMode,
    RegisterAck,
    Reset,
    ResetType,
    RingMode,
    RingType,
    SetLamp,
    SetRinger,
    StimulusType,
    UserToDeviceDataVersion1,
)
from tests.test_register import free_port
from tests.tshark import assert_clean

REPO = Path(__file__).resolve().parent.parent
A, B, C = "SEP001120AABB01", "SEP001120AABB02", "SEP001120AABB03"
XML = (
    "<CiscoIPPhoneText><Title>Hello</Title><Prompt>Amazing</Prompt>"
    "<Text>This is some text</Text></CiscoIPPhoneText>"
)

SITE = """
[server]
addresses = ["127.0.0.1"]
listen = "127.0.0.1"
sccp_port = {sccp}
tftp_root = "tftp"
tftp_port = {tftp}
rtp_port_min = {rtp}
rtp_port_max = {rtp_max}
{extra}

[[lines]]
number = "1001"
display_name = "Reception"

[[lines]]
number = "1002"
display_name = "Office"

[[devices]]
mac = "001120AABB01"
model = "7960"
[[devices.buttons]]
type = "line"
line = "1001"
[[devices.buttons]]
type = "speed_dial"
number = "1002"
label = "Office"

[[devices]]
mac = "001120AABB02"
model = "7961"
[[devices.buttons]]
type = "line"
line = "1002"
[[devices.buttons]]
type = "line"
line = "1001"

[[devices]]
mac = "001120AABB03"
model = "7941"
description = "never plugged in"
[[devices.buttons]]
type = "line"
line = "1002"

[[dialplan]]
pattern = "^1[0-9]{{3}}$"
action = "process"
"""


@dataclass
class Served:
    site: Path
    port: int
    proc: subprocess.Popen[str]
    socket: Path
    log: Path

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "skinnyctl", *args, "--site", str(self.site)],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            timeout=60,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"{args} exited {proc.returncode}: {proc.stderr}")
        return proc

    def json(self, *args: str) -> object:
        return json.loads(self.cli(*args, "--json").stdout)

    def phone(self, mac: str, model: str) -> SimPhone:
        p = SimPhone("127.0.0.1", self.port, mac, model)
        p.connect()
        p.register()
        return p


def write_site(directory: Path, extra: str = "") -> Path:
    (directory / "tftp").mkdir(exist_ok=True)
    rtp = 42000 + (os.getpid() % 400) * 40
    path = directory / "site.toml"
    path.write_text(
        SITE.format(
            sccp=free_port(),
            tftp=free_port(socket.SOCK_DGRAM),
            rtp=rtp,
            rtp_max=rtp + 39,
            extra=extra,
        )
    )
    return path


def start(site: Path) -> Served:
    log = site.parent / "serve.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "skinnyctl", "serve", str(site)],
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    port = int(site.read_text().split("sccp_port = ")[1].split()[0])
    sock = site.parent / "skinnyctl.sock"
    deadline = time.monotonic() + 30
    while not sock.exists():
        if proc.poll() is not None:
            raise AssertionError(f"serve exited {proc.returncode}: {log.read_text()}")
        if time.monotonic() > deadline:
            raise AssertionError("serve made no control socket")
        time.sleep(0.05)
    return Served(site, port, proc, sock, log)


def stop(s: Served) -> None:
    if s.proc.poll() is None:
        s.proc.terminate()
        try:
            s.proc.wait(15)
        except subprocess.TimeoutExpired:
            s.proc.kill()
            s.proc.wait()


@pytest.fixture
def served() -> Iterator[Served]:
    # Under /tmp with mode 0755 (pytest's tmp_path is 0700): the permission test must be
    # refused by the socket's own mode, not by a directory on the way.
    directory = Path(tempfile.mkdtemp(prefix="skinnyctl-control-", dir="/tmp"))
    directory.chmod(0o755)
    s = start(write_site(directory))
    try:
        yield s
    finally:
        stop(s)
        shutil.rmtree(directory, ignore_errors=True)


# --- the message builder (no server) ------------------------------------------------------------


def test_builder_accepts_the_protocol_and_mod_skinny_spellings() -> None:
    assert build(
        "SetLampMessage",
        {"stimulus": "Voicemail", "stimulusInstance": "2", "lamp-mode": "SKINNY_LAMP_ON"},
    ) == SetLamp(stimulus=StimulusType.VOICEMAIL, stimulus_instance=2, lamp_mode=LampMode.ON)
    assert build("ResetMessage", {"reset_type": "DeviceRestart"}) == Reset(
        reset_type=ResetType.RESTART
    )
    assert build("setringer", {"ring_mode": "0x2", "ring_duration": "once"}) == SetRinger(
        ring_mode=RingType.INSIDE, ring_duration=RingMode.SINGLE
    )
    # the seed's form: a bare argument is the payload, even with '=' inside the XML
    xml = '<CiscoIPPhoneExecute><ExecuteItem URL="Play:ring.raw"/></CiscoIPPhoneExecute>'
    values = parse_args("UserToDeviceDataVersion1Message", ["sequence-flag=2", xml])
    msg = build("UserToDeviceDataVersion1Message", values)
    assert isinstance(msg, UserToDeviceDataVersion1)
    assert (msg.sequence_flag, msg.data) == (2, xml.encode())


@pytest.mark.parametrize(
    ("name", "values", "says", "lists"),
    [
        ("SetLampp", {}, "unknown message 'SetLampp'", "SetLamp"),
        ("SetLamp", {"lamp": "on"}, "SetLamp has no field 'lamp'", "lamp_mode=off|on|wink"),
        ("SetLamp", {"lamp_mode": "bright"}, "lamp_mode='bright' is not valid", "blink"),
        ("SetLamp", {"stimulus_instance": "4294967296"}, "out of range", None),
        ("CallInfo", {"calling_party": "x" * 24}, "at most 23 characters", None),
        ("StopTone", {"tone": "-1"}, "not valid", "inside_dial_tone"),
    ],
)
def test_builder_refuses_with_the_valid_choices(
    name: str, values: dict[str, str], says: str, lists: str | None
) -> None:
    with pytest.raises(BuildError) as err:
        build(name, values)
    assert says in str(err.value)
    if lists is not None:
        assert any(lists in v for v in err.value.valid), err.value.valid


# --- against a running serve ----------------------------------------------------------------------


def test_status_shows_exactly_the_registered_discovered_devices_and_calls(served: Served) -> None:
    with served.phone("001120AABB01", "7960"), served.phone("001120AABB02", "7961"):
        with SimPhone("127.0.0.1", served.port, "001120FFFF99", "7941") as stranger:
            stranger.connect()
            with pytest.raises(Rejected):
                stranger.register()

        summary = served.json("status")
        assert summary["devices"] == {"registered": 2, "configured": 3, "discovered": 1}
        assert summary["calls"] == 0

        devices = served.json("status", "devices")
        assert sorted(d["device_name"] for d in devices["registered"]) == [A, B]
        by_name = {d["device_name"]: d for d in devices["registered"]}
        assert by_name[A]["device_type"] == 7 and by_name[B]["device_type"] == 30018
        assert by_name[B]["codecs"] == ["G711_ULAW_64K", "G711_ALAW_64K", "G729_ANNEX_A"]
        assert [d["device_name"] for d in devices["configured"] if not d["registered"]] == [C]
        assert [d["device_name"] for d in devices["discovered"]] == ["SEP001120FFFF99"]
        assert devices["discovered"][0]["model"] == "7941"

        device = served.json("status", "device", B)
        assert device["lines"] == ["1002", "1001"]
        assert device["firmware_load"] == "SCCP41.8-5-3S"
        assert [
            (b["position"], b["type"], b["instance"], b["value"], b["state"])
            for b in device["buttons"]
        ] == [
            (1, "line", 1, "1002", "idle"),
            (2, "line", 2, "1001", "idle"),
        ]
        unplugged = served.json("status", "device", C)
        assert unplugged["registered"] is False and unplugged["model"] == "7941"

        lines = {ln["number"]: ln for ln in served.json("status", "lines")}
        assert lines["1001"]["registered_on"] == [
            {"device_name": A, "instance": 1},
            {"device_name": B, "instance": 2},
        ]
        assert lines["1002"]["configured_on"] == [B, C]

        calls = served.json("status", "calls")
        assert calls["calls"] == [] and calls["rtp"] == []

        # the same, as tables for people
        text = served.cli("status").stdout
        assert "devices: 2 registered, 3 configured, 1 discovered" in text
        table = served.cli("status", "devices").stdout
        registered, rest = table.split("Configured, not registered")
        assert A in registered and B in registered and C not in registered
        not_registered, discovered = rest.split("Discovered, not in the site")
        assert C in not_registered and "SEP001120FFFF99" in discovered
        assert "no calls" in served.cli("status", "calls").stdout
        detail = served.cli("status", "device", A).stdout
        assert "type id 7" in detail and "speed_dial" in detail

        missing = served.cli("status", "device", "SEP001120ABCDEF", check=False)
        assert missing.returncode == 1
        assert "no device" in missing.stderr and A in missing.stderr
        assert "Traceback" not in missing.stderr

    # after both unregistered (phones closed): the server shows none registered
    deadline = time.monotonic() + 10
    while served.json("status")["devices"]["registered"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert served.json("status")["devices"]["registered"] == 0


def test_send_reaches_the_phone_and_device_to_user_appears_in_events(served: Served) -> None:
    with served.phone("001120AABB01", "7960") as a:
        follow = _follow_events(served)
        try:
            served.cli(
                "send", A, "SetLamp", "stimulus=line", "stimulus_instance=1", "lamp_mode=blink"
            )
            lamp = a.wait_for(SetLamp, 5, lambda m: m.stimulus == StimulusType.LINE)
            assert (lamp.stimulus_instance, lamp.lamp_mode) == (1, LampMode.BLINK)

            served.cli(
                "send",
                A,
                "SetRingerMessage",
                "ring_mode=outside",
                "ring_duration=once",
                "line_instance=1",
            )
            ring = a.wait_for(SetRinger, 5)
            assert (ring.ring_mode, ring.ring_duration, ring.line_instance) == (
                RingType.OUTSIDE,
                RingMode.SINGLE,
                1,
            )

            served.cli(
                "send",
                A,
                "UserToDeviceDataVersion1Message",
                "sequence-flag=2",
                "application_id=7",
                XML,
            )
            u2d = a.wait_for(UserToDeviceDataVersion1, 5)
            assert (u2d.data, u2d.sequence_flag, u2d.application_id) == (XML.encode(), 2, 7)

            response = (
                '<?xml version="1.0" encoding="iso8859-1"?><CiscoIPPhoneResponse>'
                '<ResponseItem URL="cip.xml.XmlTextObject@e771b" Data="SUCCESS" Status="0"/>'
                "</CiscoIPPhoneResponse>"
            )
            a.send(
                DeviceToUserDataVersion1(
                    application_id=7,
                    transaction_id=3,
                    sequence_flag=2,
                    data=response.encode("latin-1"),
                )
            )
            a.send(KeepAlive())
            a.wait_for(KeepAliveAck, 5)

            # every frame the phone exchanged, both directions, is clean SCCP for Wireshark
            assert_clean(list(a.frames))

            kinds = []
            while "device_to_user" not in kinds:
                event = follow.get(timeout=15)
                kinds.append(event["event"])
                if event["event"] == "user_to_device":
                    assert event["data"] == XML and event["device_name"] == A
                    assert event["message"] == "UserToDeviceDataVersion1"
                    assert event["sequence_flag"] == 2
                if event["event"] == "device_to_user":
                    assert event["data"] == response
                    assert event["message"] == "DeviceToUserDataVersion1"
                    assert (event["message_id"], event["transaction_id"]) == (0x41, 3)
                    assert event["device_name"] == A and event["device_type"] == 7
            assert "user_to_device" in kinds
        finally:
            follow.close()

        # the history without --follow has them too, in order
        recent = [json.loads(line) for line in served.cli("events", "--json").stdout.splitlines()]
        assert [e["event"] for e in recent] == ["register", "user_to_device", "device_to_user"]
        assert recent[0]["device_name"] == A and recent[0]["device_type"] == 7

        # a device that is not registered: refused, listing the registered ones
        bad = served.cli("send", C, "Reset", check=False)
        assert bad.returncode == 1 and "not registered" in bad.stderr and A in bad.stderr
        wrong = served.cli("send", A, "SetLamp", "lamp_mod=on", check=False)
        assert wrong.returncode == 1 and "lamp_mode=off|on" in wrong.stderr


def test_mwi_lights_every_device_carrying_the_line(served: Served) -> None:
    with served.phone("001120AABB01", "7960") as a, served.phone("001120AABB02", "7961") as b:
        out = served.cli("mwi", "1001", "on").stdout
        assert A in out and B in out

        def lamps(p: SimPhone, n: int = 2) -> set[tuple[int, int]]:
            got = set()
            for _ in range(n):
                m = p.wait_for(SetLamp, 5, lambda m: m.stimulus == StimulusType.VOICEMAIL)
                got.add((m.stimulus_instance, int(m.lamp_mode)))
            return got

        on = int(LampMode.ON)
        assert lamps(a) == {(1, on), (0, on)}  # 1001 is A's line 1
        assert lamps(b) == {(2, on), (0, on)}  # and B's line 2
        assert_clean(list(a.frames))
        assert_clean(list(b.frames))
        lines = {ln["number"]: ln for ln in served.json("status", "lines")}
        assert lines["1001"]["mwi"] is True and lines["1002"]["mwi"] is False

        # B registers again (new connection): its lamps come back with the registration,
        # every line's (1002 on line 1 does not wait) and the handset's
        b.close()
        with served.phone("001120AABB02", "7961") as b2:
            assert lamps(b2, 3) == {(1, int(LampMode.OFF)), (2, on), (0, on)}
            served.cli("mwi", "1001", "off")
            off = int(LampMode.OFF)
            assert lamps(b2) == {(2, off), (0, off)}
            assert lamps(a) == {(1, off), (0, off)}
            assert_clean(list(b2.frames))


def test_reload_refuses_a_broken_site_and_keeps_serving(served: Served) -> None:
    good = served.site.read_text()
    with served.phone("001120AABB01", "7960") as a, served.phone("001120AABB02", "7961") as b:
        served.site.write_text(good.replace('model = "7961"', 'model = "7999"'))
        refused = served.cli("reload", check=False)
        assert refused.returncode == 1
        assert "running configuration is kept" in refused.stderr
        assert "unknown phone model '7999'" in refused.stderr
        assert f"{served.site}:" in refused.stderr  # with its position
        assert "Traceback" not in refused.stderr

        # SIGHUP does the same: refused, logged, still serving
        served.site.write_text(good + "\n[[devices\n")
        served.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 15
        while "refused" not in served.log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "reload of" in served.log.read_text() and served.proc.poll() is None

        # both registrations survived both refusals, and the phones are still answered
        assert sorted(d["device_name"] for d in served.json("status", "devices")["registered"]) == [
            A,
            B,
        ]
        for p in (a, b):
            p.send(KeepAlive())
            p.wait_for(KeepAliveAck, 5)
            assert not p.closed.is_set()

        # a valid change is taken; the device it touches is named; still registered
        served.site.write_text(good.replace('display_name = "Office"', 'display_name = "Back"'))
        ok = served.cli("reload").stdout
        assert "reloaded" in ok and B in ok and A not in ok
        assert served.json("status")["devices"]["registered"] == 2


def test_settings_change_at_run_time(served: Served) -> None:
    assert "keepalive = 45" in served.cli("set", "keepalive", "45").stdout
    with served.phone("001120AABB01", "7960") as a:
        ack = next(m for m in a.received if isinstance(m, RegisterAck))
        assert ack.keep_alive_interval == 45  # what a phone registering now is told
    bad = served.cli("set", "keepalive", "2", check=False)
    assert bad.returncode == 1 and "out of range" in bad.stderr
    assert "keepalive = 45" in served.cli("set", "digit_timeout", "4.5").stdout
    assert served.json("status")["devices"]["configured"] == 3
    assert "log_level = debug" in served.cli("set", "log_level", "debug").stdout
    unknown = served.cli("set", "volume", "11", check=False)
    assert unknown.returncode == 1 and "keepalive" in unknown.stderr


def test_shell_completion_of_devices_messages_and_fields(tmp_path: Path) -> None:
    site = write_site(tmp_path)

    def complete(words: str) -> list[str]:
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "_SKINNYCTL_COMPLETE": "complete_bash",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
        }
        out = subprocess.run(
            [sys.executable, "-c", "from skinnyctl.cli import app; app(prog_name='skinnyctl')"],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=60,
            check=False,
        )
        return out.stdout.split()

    assert site.name == "site.toml"  # found as the default --site in the working directory
    assert complete("skinnyctl send SEP") == [A, B, C]  # from the site file, no server
    assert complete("skinnyctl send SEP001120AABB01 SetL") == ["SetLamp"]
    assert complete("skinnyctl send SEP001120AABB01 SetLamp lamp_mode=b") == ["lamp_mode=blink"]
    assert "stimulus_instance=" in complete("skinnyctl send SEP001120AABB01 SetLamp st")
    assert complete("skinnyctl status device SEP001120AABB0") == [A, B, C]


def test_control_socket_is_owner_only(served: Served) -> None:
    assert served.socket.stat().st_mode & 0o777 == 0o600
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        if os.environ.get("CI"):
            pytest.fail("this test needs root and setpriv (util-linux) in CI")
        pytest.skip("needs root to act as another user")
    probe = (
        "import socket,sys\n"
        "s=socket.socket(socket.AF_UNIX)\n"
        "try:\n s.connect(sys.argv[1]); print('connected')\n"
        "except OSError as e: print('errno', e.errno)\n"
    )

    def as_nobody() -> str:
        return subprocess.run(
            [
                "setpriv",
                "--reuid=nobody",
                "--regid=nogroup",
                "--clear-groups",
                sys.executable,
                "-c",
                probe,
                str(served.socket),
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()

    assert as_nobody() == f"errno {errno.EACCES}"
    # the probe can succeed: with the mode opened up, the same user gets in
    served.socket.chmod(0o666)
    try:
        assert as_nobody() == "connected"
    finally:
        served.socket.chmod(0o600)


def test_bad_requests_get_answers_and_the_server_keeps_going(served: Served) -> None:
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(served.socket))
        reader = s.makefile("rb")
        for line in (
            b"not json\n",
            b"[1,2]\n",
            b'{"command": 5}\n',
            b'{"command": "nope"}\n',
            b'{"command": "device", "args": {"x": 1}}\n',
            b"\xff\xfe\n",
        ):
            s.sendall(line)
            answer = json.loads(reader.readline())
            assert answer["ok"] is False and answer["error"]
        s.sendall(b'{"command": "nope"}\n')
        assert "status" in json.loads(reader.readline())["valid"]
    assert served.json("status")["devices"]["configured"] == 3


def test_tcp_endpoint_needs_the_token() -> None:
    directory = Path(tempfile.mkdtemp(prefix="skinnyctl-control-", dir="/tmp"))
    port = free_port()
    token = "0123456789abcdef0123"
    s = start(write_site(directory, f'control_tcp_port = {port}\ncontrol_token = "{token}"'))
    try:
        good = ControlClient(tcp=("127.0.0.1", port), token=token)
        assert good.request("status")["devices"]["configured"] == 3
        for wrong in ("", "0123456789abcdef0124"):
            with pytest.raises(ControlError, match="token"):
                ControlClient(tcp=("127.0.0.1", port), token=wrong).request("status")
        out = s.cli("status", "--tcp", f"127.0.0.1:{port}").stdout  # token from the site
        assert "3 configured" in out
        # only on loopback
        with socket.socket() as probe:
            probe.settimeout(2)
            addr = [a for a in _other_addresses() if a != "127.0.0.1"]
            if addr:
                assert probe.connect_ex((addr[0], port)) != 0
    finally:
        stop(s)
        shutil.rmtree(directory, ignore_errors=True)


def test_call_history_filters_by_number_and_date(tmp_path: Path) -> None:
    cdr = pytest.importorskip("skinnyctl.calls.cdr")
    from datetime import datetime

    from skinnyctl.site import load_site

    site_path = write_site(tmp_path)
    store = cdr.CdrStore(cdr.cdr_path(load_site(site_path)))
    day1 = datetime(2024, 5, 1, 10, 0).astimezone()
    day2 = datetime(2024, 5, 2, 23, 30).astimezone()
    store.append(
        {
            "call_id": 1,
            "caller": "1001",
            "called": "1002",
            "start": day1,
            "answer": day1,
            "end": day1.replace(minute=5),
            "reason": "hangup",
        }
    )
    store.append(
        {
            "call_id": 2,
            "caller": "1002",
            "called": "1003",
            "start": day2,
            "end": day2.replace(minute=31),
            "reason": "no answer",
        }
    )
    store.close()
    run = Served(site_path, 0, None, tmp_path / "x", tmp_path / "y")  # type: ignore[arg-type]
    rows = run.json("calls", "--history")
    assert [r["call_id"] for r in rows] == [1, 2]
    assert [r["call_id"] for r in run.json("calls", "--history", "--number", "1003")] == [2]
    assert [r["call_id"] for r in run.json("calls", "--history", "--until", "2024-05-01")] == [1]
    assert [r["call_id"] for r in run.json("calls", "--history", "--since", "2024-05-02")] == [2]
    table = run.cli("calls", "--history", "--number", "1001").stdout
    assert "1001" in table and "1003" not in table
    bad = run.cli("calls", "--history", "--since", "May 1st", check=False)
    assert bad.returncode == 1 and "not a date" in bad.stderr


def test_a_call_shows_in_status_survives_a_refused_reload_and_lands_in_history(
    served: Served,
) -> None:
    pytest.importorskip("skinnyctl.calls.switch")
    from skinnyctl.sccp import CallState, CallStateValue, KeypadButton, OffHook, OnHook

    def state(p: SimPhone, value: int) -> CallState:
        return p.wait_for(CallState, 5, lambda m: m.call_state == value)

    with served.phone("001120AABB01", "7960") as a, served.phone("001120AABB02", "7961") as b:
        a.send(OffHook(line_instance=1, call_reference=0))
        ra = state(a, CallStateValue.OFF_HOOK).call_reference
        for d in "1002":
            a.send(KeypadButton(kp_button=int(d), line_instance=1, call_reference=ra))
        rb = state(b, CallStateValue.RING_IN).call_reference
        b.send(OffHook(line_instance=1, call_reference=rb))
        state(a, CallStateValue.CONNECTED)
        state(b, CallStateValue.CONNECTED)
        assert a.media_flows_with(b), "no RTP between A and B"

        calls = served.json("status", "calls")
        assert len(calls["calls"]) == 1
        call = calls["calls"][0]
        assert (call["caller"], call["called"]) == ("1001", "1002")
        legs = {leg["device_name"]: leg for leg in call["legs"]}
        assert set(legs) == {A, B}
        assert legs[A]["state"] == legs[B]["state"] == "connected"
        assert legs[A]["rtp_phone"].startswith("127.0.0.1:")
        assert calls["rtp"] and all(r["rx_packets"] > 0 for r in calls["rtp"])
        assert served.json("status")["calls"] == 1
        lines = {ln["number"]: ln for ln in served.json("status", "lines")}
        assert lines["1001"]["state"] == "connected" and lines["1002"]["state"] == "connected"
        table = served.cli("status", "calls").stdout
        assert A in table and B in table and "RTP relay" in table

        good = served.site.read_text()
        served.site.write_text(good.replace("[[devices]]", "[[devices]\n", 1))
        assert served.cli("reload", check=False).returncode == 1
        served.site.write_text(good)
        assert served.cli("reload").returncode == 0
        # the call goes on: same call, audio still flows both ways
        assert [c["call_id"] for c in served.json("status", "calls")["calls"]] == [call["call_id"]]
        a.rtp_in.clear()
        b.rtp_in.clear()
        assert a.media_flows_with(b), "no RTP between A and B"

        b.send(OnHook(line_instance=1, call_reference=rb))
        deadline = time.monotonic() + 10
        while served.json("status")["calls"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert served.json("status", "calls")["calls"] == []
    history = served.json("calls", "--history", "--number", "1002")
    assert [(r["caller"], r["called"]) for r in history] == [("1001", "1002")]
    assert history[0]["answer"] is not None


# --- helpers ---------------------------------------------------------------------------------


class _Follower:
    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.queue: Queue[dict[str, object]] = Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.queue.put(json.loads(line))

    def get(self, timeout: float) -> dict[str, object]:
        try:
            return self.queue.get(timeout=timeout)
        except Empty:
            raise AssertionError("no event arrived") from None

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def _follow_events(served: Served) -> _Follower:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "skinnyctl",
            "events",
            "--follow",
            "--json",
            "--site",
            str(served.site),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    follower = _Follower(proc)
    # --follow prints the recent events first: wait for the phone's register to know the
    # stream is live before anything is sent
    while follower.get(timeout=20)["event"] != "register":
        pass
    return follower


def _other_addresses() -> list[str]:
    try:
        return [socket.gethostbyname(socket.gethostname())]
    except OSError:
        return []
