"""DHCP configs checked by the real servers' check modes; no DHCP server ever runs on a real
interface (udhcpd, which has no check mode, runs only inside a network namespace made here)."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from skinnyctl.errors import UserError
from skinnyctl.provision.dhcp import FILENAMES, render_dhcp
from skinnyctl.provision.run import provision
from skinnyctl.site import load_site
from skinnyctl.site.model import Site

SITE = """
[server]
addresses = ["192.168.50.2", "192.168.50.3"]

[[lines]]
number = "101"

[[devices]]
mac = "00:11:20:aa:bb:cc"
model = "7961"
ip = "192.168.50.20"
[[devices.buttons]]
type = "line"
line = "101"

[[devices]]
mac = "00:11:20:aa:bb:cd"
model = "7960"

[dhcp]
servers = ["isc", "dnsmasq", "kea", "udhcpd"]
subnet = "192.168.50.0/24"
range = ["192.168.50.100", "192.168.50.199"]
router = "192.168.50.1"
dns = ["192.168.50.1", "1.1.1.1"]
domain = "office.lan"
interface = "eth1"
"""


def need(tool: str) -> str:
    """The tool's path; skip when missing on a developer box, fail in CI."""
    path = shutil.which(tool) or next(
        (p for p in (f"/usr/sbin/{tool}", f"/sbin/{tool}") if os.access(p, os.X_OK)), None
    )
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is not installed (CI must install it)")
        pytest.skip(f"{tool} not installed")
    return path


@pytest.fixture
def site(tmp_path: Path) -> Site:
    (tmp_path / "site.toml").write_text(SITE, encoding="utf-8")
    return load_site(tmp_path / "site.toml")


def run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=60, **kw)  # type: ignore[call-overload]


# -- ISC dhcpd ----------------------------------------------------------------------------


def dhcpd_check(text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    conf = tmp_path / "dhcpd.conf"
    conf.write_text(text)
    return run([need("dhcpd"), "-t", "-4", "-cf", str(conf)])


def test_isc_dhcpd_accepts_ours_and_rejects_a_broken_one(site: Site, tmp_path: Path) -> None:
    text = render_dhcp(site, "isc")
    assert 'substring(option vendor-class-identifier, 0, 13) = "Cisco Systems"' in text
    assert "option voip-tftp-server 192.168.50.2, 192.168.50.3;" in text
    assert 'option tftp-server-name "192.168.50.2";' in text
    assert "hardware ethernet 00:11:20:aa:bb:cc;" in text and "fixed-address 192.168.50.20;" in text
    r = dhcpd_check(text, tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    r = dhcpd_check(text.replace("array of ip-address", "array of ip-adress"), tmp_path)
    assert r.returncode != 0 and "unknown" in (r.stdout + r.stderr)


# -- dnsmasq ------------------------------------------------------------------------------


def dnsmasq_check(text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    conf = tmp_path / "dnsmasq.conf"
    conf.write_text(text)
    return run([need("dnsmasq"), "--test", "-C", str(conf)])


def test_dnsmasq_accepts_ours_and_rejects_a_broken_one(site: Site, tmp_path: Path) -> None:
    text = render_dhcp(site, "dnsmasq")
    assert 'dhcp-vendorclass=set:cisco,"Cisco Systems"' in text
    assert "dhcp-option=tag:cisco,option:tftp-server-address,192.168.50.2,192.168.50.3" in text
    assert "dhcp-host=00:11:20:aa:bb:cc,192.168.50.20,SEP001120AABBCC" in text
    r = dnsmasq_check(text, tmp_path)
    assert r.returncode == 0 and "syntax check OK" in r.stderr + r.stdout, r.stderr
    r = dnsmasq_check(text.replace("192.168.50.3", "192.168.50.300"), tmp_path)
    assert r.returncode != 0 and "bad" in r.stderr


# -- Kea ----------------------------------------------------------------------------------


def kea_check(text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    # -t also checks that the interfaces exist: validate a copy listening on "*".
    copy = re.sub(r'"interfaces": \[[^\]]*\]', '"interfaces": [ "*" ]', text)
    conf = tmp_path / "kea-dhcp4.conf"
    conf.write_text(copy)
    run_dir = tmp_path / "kea-run"
    run_dir.mkdir(exist_ok=True)
    env = {**os.environ, "KEA_PIDFILE_DIR": str(run_dir), "KEA_LOCKFILE_DIR": str(run_dir)}
    return run([need("kea-dhcp4"), "-t", str(conf)], env=env)


def test_kea_accepts_ours_and_rejects_a_broken_one(site: Site, tmp_path: Path) -> None:
    text = render_dhcp(site, "kea")
    body = json.loads("\n".join(ln for ln in text.splitlines() if not ln.startswith("#")))
    d4 = body["Dhcp4"]
    assert d4["interfaces-config"]["interfaces"] == ["eth1"]
    assert d4["option-def"][0]["code"] == 150 and d4["option-def"][0]["array"] is True
    cls = d4["client-classes"][0]
    assert cls["test"] == "substring(option[60].hex, 0, 13) == 'Cisco Systems'"
    assert {o["name"]: o["data"] for o in cls["option-data"]} == {
        "cisco-tftp-servers": "192.168.50.2, 192.168.50.3",
        "tftp-server-name": "192.168.50.2",
    }
    assert d4["subnet4"][0]["reservations"][0]["hw-address"] == "00:11:20:aa:bb:cc"
    r = kea_check(text, tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    broken = re.sub(r'\{ "name": "cisco-tftp-servers", "code": 150[^}]*\}', "", text)
    broken = broken.replace('"option-def": [\n      \n    ]', '"option-def": [ ]')
    r = kea_check(broken, tmp_path)
    assert r.returncode != 0, "Kea accepted option 150 data without its definition"
    r = kea_check(text.replace('"subnet4"', '"subnet4-typo"'), tmp_path)
    assert r.returncode != 0


# -- BusyBox udhcpd -----------------------------------------------------------------------

UDHCPD_KEYWORDS = {
    "start",
    "end",
    "interface",
    "max_leases",
    "lease_file",
    "pidfile",
    "siaddr",
    "opt",
    "option",
    "static_lease",
}
UDHCPD_OPTIONS = {"subnet", "lease", "router", "dns", "domain", "tftp"}


def parse_udhcpd(text: str) -> dict[str, list[str]]:
    """A strict reading of udhcpd.conf: udhcpd itself ignores misspelt keywords silently."""
    out: dict[str, list[str]] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        key, _, value = line.partition(" ")
        assert key in UDHCPD_KEYWORDS, f"line {n}: unknown keyword {key!r}"
        if key in ("opt", "option"):
            name, _, arg = value.strip().partition(" ")
            if name.isdigit() or name.startswith("0x"):
                assert re.fullmatch(r"([0-9a-f]{2})+", arg.strip()), f"line {n}: not hex"
            else:
                assert name in UDHCPD_OPTIONS, f"line {n}: unknown option {name!r}"
            key = f"opt {name}"
            value = arg
        out.setdefault(key, []).append(value.strip())
    return out


def udhcpd_in_namespace(text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """One second of udhcpd on the loopback of a network namespace created for this run only:
    exit 1 = parse error; still running (killed by timeout, 124) = the file parsed."""
    unshare = need("unshare")
    busybox = need("busybox")
    conf = tmp_path / "udhcpd.conf"
    leases = tmp_path / "udhcpd.leases"
    leases.write_bytes(b"")
    copy = re.sub(r"(?m)^interface .*$", "interface lo", text)
    copy = re.sub(r"(?m)^lease_file .*$", f"lease_file {leases}", copy)
    conf.write_text(copy + f"pidfile {tmp_path / 'udhcpd.pid'}\n")
    script = f"ip link set lo up && exec timeout 1 {busybox} udhcpd -f {conf}"
    return run([unshare, "--net", "sh", "-c", script])


def test_udhcpd_parses_ours_and_rejects_a_broken_one(site: Site, tmp_path: Path) -> None:
    text = render_dhcp(site, "udhcpd")
    conf = parse_udhcpd(text)
    assert conf["start"] == ["192.168.50.100"] and conf["end"] == ["192.168.50.199"]
    hex150 = conf["opt 150"][0]
    servers = [str(ipaddress.IPv4Address(bytes.fromhex(hex150)[i : i + 4])) for i in (0, 4)]
    assert servers == ["192.168.50.2", "192.168.50.3"]
    assert conf["opt tftp"] == ["192.168.50.2"]
    assert conf["static_lease"] == ["00:11:20:aa:bb:cc 192.168.50.20"]
    r = udhcpd_in_namespace(text, tmp_path)
    assert r.returncode == 124 and "started" in r.stderr, r.stderr
    broken = text.replace(f"opt 150 {hex150}", "opt 150 192.168.50.2")
    with pytest.raises(AssertionError):
        parse_udhcpd(broken)
    r = udhcpd_in_namespace(broken, tmp_path)
    assert r.returncode == 1 and "malformed hex" in r.stderr, r.stderr


# -- common -------------------------------------------------------------------------------


def test_defaults_and_refusals(tmp_path: Path) -> None:
    (tmp_path / "site.toml").write_text(
        '[server]\naddresses = ["10.1.2.3", "pbx.example"]\n[dhcp]\nsubnet = "10.1.2.0/24"\n'
        "reservations = false\n"
    )
    site = load_site(tmp_path / "site.toml")
    text = render_dhcp(site, "dnsmasq")
    # Range defaults to the upper half; option 150 skips the host name.
    assert "dhcp-range=10.1.2.128,10.1.2.254,255.255.255.0,86400" in text
    assert "tftp-server-address,10.1.2.3\n" in text
    r = dnsmasq_check(text, tmp_path)
    assert r.returncode == 0, r.stderr
    with pytest.raises(UserError, match="unknown DHCP server"):
        render_dhcp(site, "windows")
    (tmp_path / "site.toml").write_text("[server]\n")
    with pytest.raises(UserError, match="subnet"):
        render_dhcp(load_site(tmp_path / "site.toml"), "isc")


def test_dhcp_out_writes_every_flavour_and_each_validates(site: Site, tmp_path: Path) -> None:
    out = tmp_path / "dhcp"
    lines: list[str] = []
    provision(site, out=tmp_path / "tftp", dhcp_out=out, echo=lines.append, warn=lines.append)
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == sorted(
        FILENAMES.values()
    )
    assert dhcpd_check((out / "dhcpd.conf").read_text(), tmp_path).returncode == 0
    assert dnsmasq_check((out / "dnsmasq.conf").read_text(), tmp_path).returncode == 0
    assert kea_check((out / "kea-dhcp4.conf").read_text(), tmp_path).returncode == 0
    parse_udhcpd((out / "udhcpd.conf").read_text())
