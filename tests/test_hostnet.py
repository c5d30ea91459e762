"""This machine's addresses: the /proc parsers on their text, and init/provision in network
namespaces made for the test (so nothing depends on the network of the machine running it)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from skinnyctl.site.hostnet import (
    HostNetwork,
    default_route_interface,
    fib_trie_addresses,
    if_inet6_addresses,
)
from tests.clirun import ROOT

ROUTE = """\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth1\t00000000\t0102A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0
eth0\t0002A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
eth0\t00000000\t0100A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0
wg0\t00000000\t00000000\t0000\t0\t0\t0\t00000000\t0\t0\t0
"""

FIB_TRIE = """\
Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     +-- 192.168.0.0/24 2 0 2
           |-- 192.168.0.0
              /24 link UNICAST
           |-- 192.168.0.20
              /32 host LOCAL
        |-- 192.168.0.255
           /32 link BROADCAST
"""

IF_INET6 = """\
00000000000000000000000000000001 01 80 10 80       lo
fe8000000000000002163efffe000001 02 40 20 80     eth0
"""


def test_default_route_is_the_lowest_metric_that_is_up() -> None:
    assert default_route_interface(ROUTE) == "eth0"  # 100 beats 600; wg0 is down
    assert default_route_interface(ROUTE.splitlines()[0]) is None
    assert default_route_interface("") is None


def test_local_addresses_from_proc_text() -> None:
    assert fib_trie_addresses(FIB_TRIE) == {"127.0.0.1", "192.168.0.20"}
    assert if_inet6_addresses(IF_INET6) == {"::1", "fe80::216:3eff:fe00:1"}
    net = HostNetwork(frozenset({"192.168.0.20", "::1"}), "192.168.0.20")
    assert net.has("192.168.0.20") and net.has("::0001") and not net.has("192.168.0.21")
    assert HostNetwork(None, None).has("192.168.0.20") is None  # unknown, not "no"


def in_namespace(commands: list[list[str]], *, lan: bool) -> subprocess.CompletedProcess[str]:
    """Run skinnyctl commands in a fresh network namespace: only loopback, or loopback plus a
    veth interface 192.0.2.10/24 with a default route (a LAN that leads nowhere)."""
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("needs unshare and root (CI is set)")
        pytest.skip("needs unshare and root to make a network namespace")
    setup = ["ip link set lo up"]
    if lan:
        setup += [
            "ip link add v0 type veth peer name v1",
            "ip addr add 192.0.2.10/24 dev v0",
            "ip link set v0 up",
            "ip link set v1 up",
            "ip route add default via 192.0.2.1 dev v0",
        ]
    run = [shlex.join([sys.executable, "-m", "skinnyctl", *c]) + "; echo rc=$?" for c in commands]
    script = "set -e; " + "; ".join(setup) + "; set +e; " + "; ".join(run)
    return subprocess.run(
        [unshare, "-n", "sh", "-c", script],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )


def test_init_without_a_lan_writes_loopback_and_provision_warns(tmp_path: Path) -> None:
    site = tmp_path / "office"
    r = in_namespace([["init", str(site)], ["provision", str(site)]], lan=False)
    assert "found no default route" in r.stdout
    assert r.stdout.count("rc=0") == 2, r.stdout + r.stderr
    # Which key, where, and what to write.
    assert (
        f"warning: {site / 'site.toml'}:24:14: [server] addresses lists 127.0.0.1, a loopback "
        "address: phones on the LAN cannot reach it" in r.stderr
    )
    assert "skinnyctl init --address ADDRESS" in r.stderr
    assert f"{site / 'site.toml'}:28:10: [server] listen" in r.stderr
    assert "option 150" not in r.stdout  # no DHCP hint naming 127.0.0.1
    # With --strict the warnings are errors and nothing is written.
    (site / "tftp").rename(tmp_path / "first-tftp")
    r = in_namespace([["provision", "--strict", str(site)]], lan=False)
    assert "rc=1" in r.stdout and "2 warnings and --strict: nothing written" in r.stderr
    assert not (site / "tftp").exists()


def test_init_detects_the_lan_address_and_provision_is_quiet(tmp_path: Path) -> None:
    site = tmp_path / "office"
    r = in_namespace(
        [["init", str(site)], ["provision", "--strict", str(site)], ["check", str(site)]],
        lan=True,
    )
    assert "detected this machine's LAN address 192.0.2.10" in r.stdout
    assert r.stdout.count("rc=0") == 3, r.stdout + r.stderr
    assert "warning" not in r.stderr
    text = (site / "site.toml").read_text()
    assert 'addresses = ["192.0.2.10"]' in text and "tftp_port = 69\n" in text
    assert "option 150 (TFTP server list) = 192.0.2.10" in r.stdout


def test_init_with_address_removes_the_warning(tmp_path: Path) -> None:
    site = tmp_path / "office"
    r = in_namespace(
        [["init", str(site)], ["init", "--force", "--address", "192.0.2.10", str(site)]],
        lan=False,
    )
    assert r.stdout.count("rc=0") == 2, r.stdout + r.stderr
    # 192.0.2.10 is this machine's in the LAN namespace: provision there has nothing to say.
    r = in_namespace([["provision", str(site)]], lan=True)
    assert "rc=0" in r.stdout and "warning" not in r.stderr, r.stderr
    # ...and where it is not this machine's, provision says so.
    r = in_namespace([["provision", str(site)]], lan=False)
    assert "none of [server] addresses (192.0.2.10) is an address of this machine" in r.stderr
