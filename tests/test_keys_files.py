"""site.toml keys whose effect is on what skinnyctl writes or serves: the phones' files, the
DHCP configs (validated by each daemon's check mode), `serve`'s sockets and TFTP root, the
CLI's files. One key changed at a time; tests/test_site_keys.py maps each key to its test."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import wave
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from skinnyctl.apps.voicemail.pins import verify
from skinnyctl.media import MusicOnHold
from skinnyctl.phone import SimPhone
from skinnyctl.provision.dhcp import render_dhcp
from skinnyctl.provision.render import FAMILY_VENDOR_DEFAULTS, render_all
from skinnyctl.sccp import OffHook, OnHook, SoftKeyEvent, StartMediaTransmission
from skinnyctl.site import load_site, vendorconfig
from skinnyctl.site.model import Site
from tests.clirun import ROOT, run_cli
from tests.test_calls import K, S, dial, state
from tests.test_dhcp import dhcpd_check, dnsmasq_check, kea_check, need, parse_udhcpd
from tests.test_register import free_port, stop_serve, wait_listening
from tests.tshark import assert_clean

PHONE_SITE = """
[server]
addresses = ["192.168.50.2"]
tftp_root = "tftp"
{server}

[[lines]]
number = "101"

[[devices]]
mac = "00:11:20:aa:bb:cc"
model = "{model}"
{device}
[[devices.buttons]]
type = "line"
line = "101"
"""


def phone_file(tmp: Path, model: str = "7961", server: str = "", device: str = "") -> ET.Element:
    """The cnf.xml provision writes for the one device of PHONE_SITE."""
    (tmp / "site.toml").write_text(PHONE_SITE.format(model=model, server=server, device=device))
    files = render_all(load_site(tmp / "site.toml"))
    return ET.fromstring(files["SEP001120AABBCC.cnf.xml"])


# --- [server] URLs ------------------------------------------------------------------------------

URL_ELEMENTS = {
    "services_url": "servicesURL",
    "directory_url": "directoryURL",
    "idle_url": "idleURL",
    "information_url": "informationURL",
    "authentication_url": "authenticationURL",
}


@pytest.mark.parametrize("key", URL_ELEMENTS)
@pytest.mark.parametrize("model", ["7960", "7961"])
def test_each_url_reaches_the_phone_file(tmp_path: Path, key: str, model: str) -> None:
    url = "http://192.168.50.2/xml/" + key
    before = phone_file(tmp_path, model)
    after = phone_file(tmp_path, model, server=f'{key} = "{url}"')
    assert (before.findtext(URL_ELEMENTS[key]) or "") == ""
    assert after.findtext(URL_ELEMENTS[key]) == url
    if key == "idle_url":  # the phone goes to the idle URL after this many seconds
        assert (before.findtext("idleTimeout"), after.findtext("idleTimeout")) == ("0", "60")


# --- vendorConfig switches ----------------------------------------------------------------------

FAMILY_MODEL = {
    "java": "7961",
    "legacy": "7960",
    "69xx": "6921",
    "89xx": "8941",
    "wireless": "7921",
}
SAMPLE = {
    "hhmm": "07:30",
    "days": "1,7",
    "host": "192.0.2.9",
    "text": "k3y",
    "url": "http://192.0.2.9/ptt.xml",
}


def _sample(key: vendorconfig.VendorKey, default: str | None) -> tuple[str, str]:
    """A TOML value for ``key`` other than the family's default, and how the file spells it."""
    if key.kind == "bool":
        value = "false" if default == "true" else "true"
        return value, value
    if key.kind == "int":
        return str(key.high - 1), str(key.high - 1)
    if key.kind == "choice":
        value = next(v for v, _ in reversed(key.choices) if v != default)
        return value, value
    return f'"{SAMPLE[key.kind]}"', SAMPLE[key.kind]


@pytest.mark.parametrize("name", [k.name for k in vendorconfig.KEYS])
def test_each_vendor_config_switch_reaches_the_phone_file(tmp_path: Path, name: str) -> None:
    """Each switch, set on a device of a family that reads it, is in that device's file with
    the value written (the family's default, if it has one, differs)."""
    key = vendorconfig.lookup(name)
    assert key is not None
    family = next(f for f in FAMILY_MODEL if f in key.families)
    default = dict(FAMILY_VENDOR_DEFAULTS[family]).get(name)
    toml_value, written = _sample(key, default)
    before = phone_file(tmp_path, FAMILY_MODEL[family])
    after = phone_file(
        tmp_path, FAMILY_MODEL[family], device=f"vendor_config = {{ {name} = {toml_value} }}"
    )
    assert before.findtext(f"vendorConfig/{name}") == default
    assert after.findtext(f"vendorConfig/{name}") == written != default


# --- [dhcp] -------------------------------------------------------------------------------------

DHCP_SITE = """
[server]
addresses = ["192.168.50.2"]

[[lines]]
number = "101"

[[devices]]
mac = "00:11:20:aa:bb:cc"
model = "7961"
ip = "192.168.50.20"

[dhcp]
servers = ["isc", "dnsmasq", "kea", "udhcpd"]
subnet = "192.168.50.0/24"
range = ["192.168.50.100", "192.168.50.199"]
"""


def _kea_options(conf: dict[str, Any]) -> dict[str, str]:
    return {o["name"]: o["data"] for o in conf["subnet4"][0]["option-data"]}


def _kea_option150(conf: dict[str, Any]) -> str:
    options = conf["client-classes"][0]["option-data"]
    return str(next(o["data"] for o in options if o["name"] == "cisco-tftp-servers"))


@dataclass(frozen=True)
class DhcpCase:
    setting: str  # the key = value line added to [dhcp]
    lines: dict[str, str]  # flavour -> a line the setting writes ("-" first: a line it removes)
    kea: tuple[Callable[[dict[str, Any]], object], object]  # what Kea's JSON holds then


DHCP_CASES = {
    "router": DhcpCase(
        'router = "192.168.50.1"',
        {
            "isc": "option routers 192.168.50.1;",
            "dnsmasq": "dhcp-option=option:router,192.168.50.1",
            "udhcpd": "opt router 192.168.50.1",
        },
        (lambda d: _kea_options(d).get("routers"), "192.168.50.1"),
    ),
    "dns": DhcpCase(
        'dns = ["192.168.50.1", "1.1.1.1"]',
        {
            "isc": "option domain-name-servers 192.168.50.1, 1.1.1.1;",
            "dnsmasq": "dhcp-option=option:dns-server,192.168.50.1,1.1.1.1",
            "udhcpd": "opt dns 192.168.50.1 1.1.1.1",
        },
        (lambda d: _kea_options(d).get("domain-name-servers"), "192.168.50.1, 1.1.1.1"),
    ),
    "domain": DhcpCase(
        'domain = "office.lan"',
        {
            "isc": 'option domain-name "office.lan";',
            "dnsmasq": "dhcp-option=option:domain-name,office.lan",
            "udhcpd": "opt domain office.lan",
        },
        (lambda d: _kea_options(d).get("domain-name"), "office.lan"),
    ),
    "interface": DhcpCase(  # ISC dhcpd takes its interfaces on the command line
        'interface = "eth1"',
        {
            "dnsmasq": "interface=eth1",
            "udhcpd": "interface eth1",
        },
        (lambda d: d["interfaces-config"]["interfaces"], ["eth1"]),
    ),
    "lease_time": DhcpCase(
        "lease_time = 3600",
        {
            "isc": "default-lease-time 3600;",
            "dnsmasq": "dhcp-range=192.168.50.100,192.168.50.199,255.255.255.0,3600",
            "udhcpd": "opt lease 3600",
        },
        (lambda d: d["valid-lifetime"], 3600),
    ),
    "tftp_servers": DhcpCase(
        'tftp_servers = ["192.168.50.5"]',
        {
            "isc": "option voip-tftp-server 192.168.50.5;",
            "dnsmasq": "dhcp-option=tag:cisco,option:tftp-server-address,192.168.50.5",
            "udhcpd": "opt 150 c0a83205",
        },
        (_kea_option150, "192.168.50.5"),
    ),
    "reservations": DhcpCase(
        "reservations = false",
        {
            "isc": "-  fixed-address 192.168.50.20;",
            "dnsmasq": "-dhcp-host=00:11:20:aa:bb:cc,192.168.50.20,SEP001120AABBCC",
            "udhcpd": "-static_lease 00:11:20:aa:bb:cc 192.168.50.20",
        },
        (lambda d: d["subnet4"][0]["reservations"], []),
    ),
}


def _kea_json(text: str) -> dict[str, Any]:
    body = json.loads("\n".join(x for x in text.splitlines() if not x.lstrip().startswith("#")))
    return dict(body["Dhcp4"])


def _dhcp(tmp: Path, setting: str = "") -> Site:
    (tmp / "site.toml").write_text(DHCP_SITE + setting + "\n")
    return load_site(tmp / "site.toml")


@pytest.mark.parametrize("key", DHCP_CASES)
def test_each_dhcp_key_changes_the_configs_and_each_daemon_accepts_them(
    tmp_path: Path, key: str
) -> None:
    case = DHCP_CASES[key]
    assert case.setting.startswith(f"{key} = ")
    base, changed = _dhcp(tmp_path), _dhcp(tmp_path, case.setting)
    checks = {"isc": dhcpd_check, "dnsmasq": dnsmasq_check, "kea": kea_check}
    for flavour in ("isc", "dnsmasq", "kea", "udhcpd"):
        before, after = render_dhcp(base, flavour), render_dhcp(changed, flavour)
        old, new = ({x.strip() for x in text.splitlines()} for text in (before, after))
        line = case.lines.get(flavour)
        if flavour == "kea":
            field, value = case.kea
            assert field(_kea_json(before)) != value and field(_kea_json(after)) == value
        elif line is None:
            assert after == before, flavour
        elif line.startswith("-"):  # the setting removes this line
            assert line[1:].strip() in old - new, flavour
        else:
            assert line in new - old, flavour
        if flavour == "udhcpd":
            parse_udhcpd(after)
        if flavour in checks:
            r = checks[flavour](after, tmp_path)
            assert r.returncode == 0, f"{flavour}: {r.stdout}{r.stderr}"


# --- `serve`: where it listens, what it serves, its control socket, its music ------------------


@dataclass
class Served:
    dir: Path
    site: Path
    sccp: int
    tftp: int
    proc: subprocess.Popen[str]


SERVE_SITE = """
[server]
addresses = ["127.0.0.2"]
listen = "127.0.0.2"
sccp_port = {sccp}
tftp_port = {tftp}
tftp_root = "boot"
control_socket = "run/ctl.sock"
music_on_hold = "hold.wav"
rtp_port_min = {rtp}
rtp_port_max = {rtp_max}

[[lines]]
number = "1001"
[[lines]]
number = "1002"

[[devices]]
mac = "001120CA0001"
model = "7960"
[[devices.buttons]]
type = "line"
line = "1001"

[[devices]]
mac = "001120CA0002"
model = "7961"
[[devices.buttons]]
type = "line"
line = "1002"

[[dialplan]]
pattern = "^1[0-9]{{3}}$"
action = "process"
"""
HOLD_HZ = 700


def _write_hold_music(path: Path) -> None:
    t = np.arange(2 * 16000) / 16000  # 2 s at 16 kHz: serve converts it to 8 kHz G.711
    pcm = (np.sin(2 * np.pi * HOLD_HZ * t) * 10000).astype("<i2").tobytes()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(pcm)


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    """`skinnyctl serve` of SERVE_SITE (a short directory: the control socket path is bounded)."""
    directory = Path(tempfile.mkdtemp(prefix="skc-keys-", dir="/tmp"))
    rtp = 42000 + (os.getpid() % 400) * 20
    sccp, tftp = free_port(), free_port(socket.SOCK_DGRAM)
    site = directory / "site.toml"
    site.write_text(SERVE_SITE.format(sccp=sccp, tftp=tftp, rtp=rtp, rtp_max=rtp + 19))
    _write_hold_music(directory / "hold.wav")
    proc = subprocess.Popen(
        [sys.executable, "-m", "skinnyctl", "serve", str(site)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        wait_listening(proc, sccp, host="127.0.0.2")
        yield Served(directory, site, sccp, tftp, proc)
    finally:
        stop_serve(proc)
        shutil.rmtree(directory, ignore_errors=True)


def _tftp_refused(host: str, port: int) -> bool:
    """A read request to ``host:port`` is answered by ICMP port unreachable."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        s.connect((host, port))
        s.send(b"\x00\x01XMLDefault.cnf.xml\x00octet\x00")
        try:
            s.recv(600)
        except ConnectionRefusedError:
            return True
        except TimeoutError:
            return False
        return False


def test_listen_is_the_one_address_serve_answers_on(served: Served) -> None:
    wait_listening(served.proc, served.sccp, host="127.0.0.2")
    with socket.socket() as s, pytest.raises(ConnectionRefusedError):
        s.connect(("127.0.0.1", served.sccp))  # listen = "0.0.0.0" (the default) would answer
    assert _tftp_refused("127.0.0.1", served.tftp)
    with SimPhone("127.0.0.2", served.sccp, "001120CA0001", "7960") as a:
        a.connect()
        a.register(keepalive=False)
        assert_clean(list(a.frames))


def test_tftp_port_and_tftp_root_are_where_phones_fetch_from(served: Served) -> None:
    """serve made the TFTP root tftp_root names, serves its files on tftp_port, and
    provision writes the phones' files there."""
    curl = need("curl")
    root = served.dir / "boot"
    assert root.is_dir() and not (served.dir / "tftp").exists()
    (root / "hello.txt").write_text("from tftp_root\n")
    out = subprocess.run(
        [curl, "-sS", f"tftp://127.0.0.2:{served.tftp}/hello.txt"],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert out.returncode == 0 and out.stdout == "from tftp_root\n", out.stderr
    done = run_cli("provision", served.site)
    assert done.returncode == 0, done.stderr
    assert (root / "SEP001120CA0001.cnf.xml").is_file()


def test_control_socket_is_where_serve_answers_the_cli(served: Served) -> None:
    sock = served.dir / "run" / "ctl.sock"
    assert sock.is_socket() and not (served.dir / "skinnyctl.sock").exists()
    out = run_cli("status", "--site", served.site)  # finds the socket through the site
    assert out.returncode == 0 and "2 configured" in out.stdout, out.stdout + out.stderr


def test_music_on_hold_is_what_a_held_caller_hears(served: Served) -> None:
    """B holds A's call: A hears the site's WAV file (700 Hz), not the built-in tune."""
    ours = set(MusicOnHold.from_wav(served.dir / "hold.wav").frames("ulaw", 20))
    builtin = set(MusicOnHold.default().frames("ulaw", 20))
    with (
        SimPhone("127.0.0.2", served.sccp, "001120CA0001", "7960") as a,
        SimPhone("127.0.0.2", served.sccp, "001120CA0002", "7961") as b,
    ):
        a.connect().register()
        b.connect().register()
        a.send(OffHook(line_instance=1, call_reference=0))
        ra = state(a, S.OFF_HOOK).call_reference
        dial(a, "1002", ra)
        rb = state(b, S.RING_IN).call_reference
        b.send(OffHook(line_instance=1, call_reference=rb))
        state(a, S.CONNECTED)
        assert a.wait_for(StartMediaTransmission, 5).remote_ip_addr == "127.0.0.2"
        b.send(SoftKeyEvent(soft_key_event=K.HOLD, line_instance=1, call_reference=rb))
        state(b, S.HOLD)
        a.rtp_in.clear()
        deadline = time.monotonic() + 5
        while len(a.rtp_in) < 25 and time.monotonic() < deadline:
            time.sleep(0.05)
        heard = [p.payload for p in list(a.rtp_in)]
        assert len(heard) >= 25, "no music"
        assert all(p in ours for p in heard[5:]), "A hears something else than hold.wav"
        assert not any(p in builtin for p in heard[5:])
        a.send(OnHook(line_instance=1, call_reference=ra))
        state(b, S.ON_HOOK)
        for p in (a, b):
            assert_clean(list(p.frames))


# --- [voicemail] pin_file -----------------------------------------------------------------------


def test_pin_file_is_where_the_pins_are_written(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text(
        '[[lines]]\nnumber = "1001"\nvoicemail_box = "1001"\n\n'
        '[voicemail]\npin_file = "private/pins.toml"\n'
    )
    (tmp_path / "private").mkdir()
    cmd = [sys.executable, "-m", "skinnyctl", "voicemail", "pin", "1001", "--site", str(site)]
    done = subprocess.run(cmd, input="86420\n", capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "voicemail-pins.toml").exists()  # the default
    text = (tmp_path / "private" / "pins.toml").read_text()
    assert verify("86420", text.split('"1001" = "')[1].split('"')[0])
