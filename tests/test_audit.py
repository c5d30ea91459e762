"""Warnings about what real phones would trip on, each at the site.toml key it comes from."""

from __future__ import annotations

from pathlib import Path

from skinnyctl.provision.audit import audit
from skinnyctl.provision.run import provision
from skinnyctl.site import load_site
from skinnyctl.site.hostnet import HostNetwork
from skinnyctl.site.model import Site
from tests.clirun import ROOT, run_cli

HERE = HostNetwork(frozenset({"127.0.0.1", "::1", "192.168.10.5"}), "192.168.10.5")


def site_at(tmp_path: Path, text: str) -> Site:
    path = tmp_path / "site.toml"
    path.write_text(text, encoding="utf-8")
    return load_site(path)


def messages(site: Site, root: Path, net: HostNetwork = HERE) -> list[str]:
    return [str(w) for w in audit(site, root, network=net).warnings]


def test_addresses_phones_cannot_reach(tmp_path: Path) -> None:
    site = site_at(
        tmp_path,
        "[server]\n"
        'addresses = ["0.0.0.0", "127.0.0.1", "::1"]\n'
        'listen = "127.0.0.1"\n'
        "tftp_port = 69\n"
        "[dhcp]\n"
        'tftp_servers = ["127.0.0.2"]\n',
    )
    got = messages(site, tmp_path)
    f = site.path
    assert got == [
        f"{f}:2:14: [server] addresses lists 0.0.0.0, no address anyone can reach: phones on the "
        "LAN cannot reach it\n"
        '    write this machine\'s LAN address: addresses = ["192.168.10.5"]',
        f"{f}:2:25: [server] addresses lists 127.0.0.1, a loopback address: phones on the LAN "
        "cannot reach it\n"
        '    write this machine\'s LAN address: addresses = ["192.168.10.5"]',
        f"{f}:2:38: [server] addresses lists ::1, a loopback address: phones on the LAN cannot "
        "reach it\n"
        '    write this machine\'s LAN address: addresses = ["192.168.10.5"]',
        f'{f}:3:10: [server] listen = "127.0.0.1" answers on this machine only\n'
        '    write listen = "0.0.0.0" (every interface) or this machine\'s LAN address',
        f"{f}:6:17: [dhcp] tftp_servers lists 127.0.0.2, a loopback address: phones on the LAN "
        "cannot reach it\n"
        '    write this machine\'s LAN address: tftp_servers = ["192.168.10.5"]',
    ]


def test_an_address_of_another_machine_and_the_tftp_port(tmp_path: Path) -> None:
    site = site_at(tmp_path, '[server]\naddresses = ["192.168.10.6"]\ntftp_port = 6969\n')
    got = messages(site, tmp_path)
    assert len(got) == 2
    assert got[0].startswith(
        f"{site.path}:2:14: none of [server] addresses (192.168.10.6) is an address of this "
        "machine\n"
    )
    assert got[1].startswith(
        f"{site.path}:3:13: [server] tftp_port = 6969: phones only ever ask TFTP port 69\n"
    )
    # This machine first and a second call manager elsewhere is fine; so is a host name, and
    # a machine whose addresses cannot be read.
    ok = '[server]\naddresses = ["{}", "192.168.10.6"]\ntftp_port = 69\n'
    assert messages(site_at(tmp_path, ok.format("192.168.10.5")), tmp_path) == []
    assert messages(site_at(tmp_path, ok.format("pbx.office.lan")), tmp_path) == []
    unknown = HostNetwork(None, None)
    assert messages(site_at(tmp_path, ok.format("192.168.10.7")), tmp_path, unknown) == []


def test_locale_folders_missing_from_the_tftp_root(tmp_path: Path) -> None:
    text = (
        '[server]\naddresses = ["192.168.10.5"]\ntftp_port = 69\n'
        'user_locale = "French_France"\nnetwork_locale = "France"\n'
        '[[devices]]\nmac = "001120AABB01"\nmodel = "7961"\n'
        '[[devices]]\nmac = "001120AABB02"\nmodel = "7960"\n'
    )
    site = site_at(tmp_path, text)
    root = tmp_path / "tftp"
    root.mkdir()
    got = messages(site, root)
    assert got == [
        f'{site.path}:4:15: [server] user_locale = "French_France": there is no folder '
        f"French_France/ in {root}\n"
        "    the phones will ask for French_France/7960-dictionary.xml, "
        "French_France/mk-sccp.jar and keep English menus; unpack Cisco's locale installer "
        f"for French_France into {root}/French_France/, or write user_locale = "
        '"English_United_States"',
        f'{site.path}:5:18: [server] network_locale = "France": there is no folder France/ in '
        f"{root}\n"
        "    the phones will ask for France/7960-tones.xml, France/g3-tones.xml and keep US "
        f"tones; unpack Cisco's locale installer for France into {root}/France/, or write "
        'network_locale = "United_States"',
    ]
    (root / "french_france").mkdir()  # the TFTP server is case-insensitive: this one counts
    (root / "France").mkdir()
    assert messages(site, root) == []


def test_backgrounds_for_one_screen_size_but_not_another(tmp_path: Path) -> None:
    text = (
        '[server]\naddresses = ["192.168.10.5"]\ntftp_port = 69\n'
        '[[devices]]\nmac = "001120AABB01"\nmodel = "7961"\n'
        '[[devices]]\nmac = "001120AABB02"\nmodel = "7965"\n'
        '[[devices]]\nmac = "001120AABB03"\nmodel = "7965"\n'
        '[[devices]]\nmac = "001120AABB04"\nmodel = "7975"\n'
    )
    site = site_at(tmp_path, text)
    root = tmp_path / "tftp"
    assert messages(site, root) == []  # no backgrounds at all: nothing to warn about
    grey = root / "Desktops" / "320x196x4"
    grey.mkdir(parents=True)
    (grey / "Lake.png").write_bytes(b"png")
    found = audit(site, root, ["Desktops/320x196x4/List.xml"], network=HERE)
    got = [str(w) for w in found.warnings]
    assert len(got) == 2
    assert got[0].startswith(
        f"{site.path}:9:9: 7965 phones ask for Desktops/320x212x16/List.xml, which is absent "
        "(backgrounds exist for 320x196x4)\n"
    )
    assert got[1].startswith(f"{site.path}:15:9: 7975 phones ask for Desktops/320x216x16/")
    # The report lists, per model, what the phones ask for and what is there.
    assert found.report(site) == [
        "optional files the phones ask for (a phone does without an absent one):",
        "  7961 (1 phone): RingList.xml absent; DistinctiveRingList.xml absent; "
        "Desktops/320x196x4/List.xml present",
        "  7965 (2 phones): RingList.xml absent; DistinctiveRingList.xml absent; "
        "Desktops/320x212x16/List.xml absent",
        "  7975 (1 phone): RingList.xml absent; DistinctiveRingList.xml absent; "
        "Desktops/320x216x16/List.xml absent",
    ]


def test_provision_prints_the_report_and_check_the_warnings(tmp_path: Path) -> None:
    example = (ROOT / "examples" / "small-office" / "site.toml").read_text()
    (tmp_path / "site.toml").write_text(example)
    site = load_site(tmp_path / "site.toml")
    out: list[str] = []
    warned: list[str] = []
    provision(site, echo=out.append, warn=warned.append, network=HERE)
    assert any(line.startswith("  7961 (1 phone): ") for line in out)
    # The example's France tones are not in its (empty) TFTP root.
    assert next(w for w in warned if "network_locale" in w).startswith(
        f'warning: {tmp_path / "site.toml"}:16:18: [server] network_locale = "France"'
    )
    r = run_cli("check", tmp_path / "site.toml")
    assert r.returncode == 0 and 'network_locale = "France": there is no folder' in r.stderr
    r = run_cli("check", "--strict", tmp_path / "site.toml")
    assert r.returncode == 1 and "--strict" in r.stderr
