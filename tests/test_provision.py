"""skinnyctl provision: rendered cnf.xml files, firmware index, overrides and safe writes."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from skinnyctl.errors import UserError
from skinnyctl.provision import writer
from skinnyctl.provision.render import (
    _STAMP_PLACEHOLDER,
    FAMILY_VENDOR_DEFAULTS,
    Renderer,
    render_all,
    render_device_file,
)
from skinnyctl.provision.run import export_templates, provision
from skinnyctl.site import SiteError, load_site, vendorconfig
from skinnyctl.site.catalog import PHONE_MODELS
from skinnyctl.site.model import Site
from tests.clirun import run_cli

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((REPO / "examples").glob("*/site.toml"))

BASE = """
[server]
addresses = ["192.168.50.2", "192.168.50.3"]
sccp_port = 2001
time_zone = "Europe/Berlin"
date_format = "M/D/YA"
tftp_root = "tftp"
services_url = "http://192.168.50.2/services?a=1&b=2"
directory_url = "http://192.168.50.2/dir"
user_locale = "German_Germany"
network_locale = "Germany"

[[lines]]
number = "101"
display_name = "Alice"
"""


def device(mac: str, model: str, extra: str = "") -> str:
    return (
        f'\n[[devices]]\nmac = "{mac}"\nmodel = "{model}"\n{extra}\n'
        '[[devices.buttons]]\ntype = "line"\nline = "101"\n'
    )


def make_site(tmp_path: Path, text: str) -> Site:
    (tmp_path / "site.toml").write_text(text, encoding="utf-8")
    return load_site(tmp_path / "site.toml")


def parse(data: bytes) -> ET.Element:
    return ET.fromstring(data)


# -- examples -----------------------------------------------------------------------------


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.parent.name)
def test_every_example_provisions(example: Path, tmp_path: Path) -> None:
    site = load_site(example)
    files = render_all(site, root=tmp_path / "empty-root")
    assert "XMLDefault.cnf.xml" in files
    for dev in site.devices:
        root = parse(files[f"SEP{dev.mac}.cnf.xml"])
        assert root.tag == "device"
        assert root.findtext("devicePool/dateTimeSetting/timeZone") == site.server.cisco_time_zone
    # And through the command line, into a directory of our choosing.
    out = tmp_path / "out"
    r = subprocess.run(
        [sys.executable, "-m", "skinnyctl", "provision", str(example), "--out", str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.glob("*.cnf.xml")) == sorted(
        n for n in files if n.endswith(".cnf.xml")
    )


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 2, "examples/*/site.toml missing"


# -- content ------------------------------------------------------------------------------


def test_sep_file_carries_the_site_values(tmp_path: Path) -> None:
    site = make_site(
        tmp_path,
        BASE
        + device("00:11:20:aa:bb:cc", "7961", "vendor_config = { sshAccess = 0, pcPort = 1 }")
        + '\n[models."7961"]\nvendor_config = { webAccess = 2, pcPort = 0 }\n',
    )
    files = render_all(site)
    assert set(files) == {"XMLDefault.cnf.xml", "SEP001120AABBCC.cnf.xml"}
    root = parse(files["SEP001120AABBCC.cnf.xml"])
    members = root.findall("devicePool/callManagerGroup/members/member")
    assert [m.get("priority") for m in members] == ["0", "1"]
    assert [m.findtext("callManager/processNodeName") for m in members] == [
        "192.168.50.2",
        "192.168.50.3",
    ]
    assert {m.findtext("callManager/ports/ethernetPhonePort") for m in members} == {"2001"}
    assert root.findtext("devicePool/dateTimeSetting/dateTemplate") == "M/D/YA"
    assert root.findtext("devicePool/dateTimeSetting/timeZone") == (
        "W. Europe Standard/Daylight Time"
    )
    assert root.findtext("devicePool/srstInfo/srstOption") == "Disable"
    assert root.findtext("devicePool/connectionMonitorDuration") == "22"  # 0.75 × 30
    assert root.findtext("userLocale/name") == "German_Germany"
    assert root.findtext("userLocale/langCode") == "de_DE"
    assert root.findtext("networkLocaleInfo/name") == "Germany"
    assert root.findtext("servicesURL") == "http://192.168.50.2/services?a=1&b=2"
    assert root.findtext("directoryURL") == "http://192.168.50.2/dir"
    # Security inert.
    assert root.findtext("deviceSecurityMode") == "1"
    assert root.findtext("encrConfig") == "false"
    assert root.findtext("capfAuthMode") == "0"
    # vendorConfig: device beats model beats family default.
    vc = {e.tag: e.text for e in root.find("vendorConfig")}
    assert vc["sshAccess"] == "0" and vc["pcPort"] == "1" and vc["webAccess"] == "2"
    assert vc["disableSpeaker"] == "false"
    assert root.findtext("loadInformation") in ("", None)


def test_every_model_renders_a_complete_file(tmp_path: Path) -> None:
    text = BASE
    macs = {}
    for i, name in enumerate(sorted(PHONE_MODELS)):
        mac = f"0011220000{i:02X}"
        macs[name] = mac
        # An ATA's configuration cannot be written (the loader says why): set up by hand.
        text += device(mac, name, "provision = false" if name.startswith("ATA") else "")
    site = make_site(tmp_path, text)
    files = render_all(site)
    for name, mac in macs.items():
        if name.startswith("ATA"):
            assert f"SEP{mac}.cnf.xml" not in files
            assert render_device_file(site, f"SEP{mac}.cnf.xml") is None  # not over TFTP either
            continue
        root = parse(files[f"SEP{mac}.cnf.xml"])
        assert root.tag == "device", name
        # Complete on its own: call managers, time zone, locale (a phone never merges files).
        assert root.find("devicePool/callManagerGroup/members/member") is not None, name
        assert root.findtext("devicePool/dateTimeSetting/timeZone"), name
        assert root.findtext("userLocale/name") == "German_Germany", name
        assert root.findtext("deviceSecurityMode") == "1", name
    java = parse(files[f"SEP{macs['7975']}.cnf.xml"])
    legacy = parse(files[f"SEP{macs['7960']}.cnf.xml"])
    assert java.findtext("fullConfig") == "true" and legacy.find("fullConfig") is None
    # Built-in call lists and voicemail in the Java family's menus, and there only.
    services = java.find("phoneServices")
    assert services is not None and services.findtext("provisioning") == "2"
    assert [e.findtext("url") for e in services.findall("phoneService")] == [
        "Application:Cisco/MissedCalls",
        "Application:Cisco/ReceivedCalls",
        "Application:Cisco/PlacedCalls",
        "Application:Cisco/Voicemail",
    ]
    for other in ("7960", "6921", "8945", "7925", "CIPC", "7905"):
        assert parse(files[f"SEP{macs[other]}.cnf.xml"]).find("phoneServices") is None, other
    # 69xx: the prime line on off-hook, as chan-sccp's 69xx template.
    vc69 = {e.tag: e.text for e in parse(files[f"SEP{macs['6921']}.cnf.xml"]).find("vendorConfig")}
    assert vc69["alwaysUsePrimeLine"] == "true"
    assert vc69["alwaysUsePrimeLineVoiceMail"] == "false"
    assert "alwaysUsePrimeLine" not in {e.tag for e in java.find("vendorConfig")}
    # XMLDefault: the clock inside devicePool, as in the SEP files.
    default = parse(files["XMLDefault.cnf.xml"])
    assert default.findtext("devicePool/dateTimeSetting/timeZone") == site.server.cisco_time_zone
    assert default.findtext("devicePool/dateTimeSetting/dateTemplate") == "M/D/YA"
    assert default.find("dateTimeSetting") is None
    for where in ("devicePool/callManagerGroup", "callManagerGroup"):
        assert default.findtext(f"{where}/members/member/callManager/processNodeName") == (
            "192.168.50.2"
        ), where


def test_family_vendor_defaults_are_switches_the_family_reads() -> None:
    for family, defaults in FAMILY_VENDOR_DEFAULTS.items():
        known = vendorconfig.keys_for(family)
        for key, value in defaults:
            assert key in known, (family, key)
            assert vendorconfig.convert(known[key], value) == value, (family, key, value)


def test_version_stamp_is_a_hash_of_the_content(tmp_path: Path) -> None:
    site = make_site(tmp_path, BASE + device("001120AABBCC", "7960"))
    a = render_all(site)["SEP001120AABBCC.cnf.xml"]
    b = render_all(site)["SEP001120AABBCC.cnf.xml"]
    assert a == b  # deterministic
    stamp = parse(a).findtext("versionStamp")
    assert stamp and len(stamp) == 32
    with_placeholder = a.replace(stamp.encode(), _STAMP_PLACEHOLDER.encode())
    assert hashlib.sha256(with_placeholder).hexdigest()[:32] == stamp
    other = make_site(tmp_path, (BASE + device("001120AABBCC", "7960")).replace("2001", "2002"))
    assert parse(render_all(other)["SEP001120AABBCC.cnf.xml"]).findtext("versionStamp") != stamp


def test_firmware_from_the_tftp_root_and_from_the_site(tmp_path: Path) -> None:
    fw = tmp_path / "tftp" / "firmware" / "7961"
    fw.mkdir(parents=True)
    for name in [
        "SCCP41.9-4-2SR3-1S.loads",
        "SCCP41.9-3-1SR1-1S.loads",  # older: must not be chosen
        "jar41sccp.9-4-2ES26.sbn",
        "term42.default.loads",
        "P0030801SR02.loads",
        "P0030801SR02.sb2",
        "readme.txt",
    ]:
        (fw / name).write_bytes(b"x")
    site = make_site(
        tmp_path,
        BASE
        + device("001120AABBC1", "7961")
        + device("001120AABBC2", "7960", 'firmware = "P00308010200"')
        + device("001120AABBC3", "7942")
        + device("001120AABBC4", "7945")
        + '\n[models."7940"]\nfirmware = "P00399999999"\n',
    )
    r = Renderer(site)
    files = r.render_all()
    assert parse(files["SEP001120AABBC1.cnf.xml"]).findtext("loadInformation") == (
        "SCCP41.9-4-2SR3-1S"
    )
    # Configured firmware wins even when absent (with a warning).
    assert parse(files["SEP001120AABBC2.cnf.xml"]).findtext("loadInformation") == "P00308010200"
    assert any("P00308010200" in w for w in r.warnings)
    assert parse(files["SEP001120AABBC3.cnf.xml"]).findtext("loadInformation") == "term42.default"
    assert (parse(files["SEP001120AABBC4.cnf.xml"]).findtext("loadInformation") or "") == ""
    default = parse(files["XMLDefault.cnf.xml"])
    assert default.tag == "Default"
    loads = {e.tag: (e.get("model"), e.text) for e in default if e.tag.startswith("loadInfo")}
    assert loads["loadInformation115"] == ("Cisco 7941", "SCCP41.9-4-2SR3-1S")
    assert loads["loadInformation30018"][1] == "SCCP41.9-4-2SR3-1S"
    assert loads["loadInformation7"] == ("Cisco 7960", "P0030801SR02")
    # 7940's configured load is absent: XMLDefault falls back to the one present.
    assert loads["loadInformation8"][1] == "P0030801SR02"
    assert loads["loadInformation434"][1] == "term42.default"
    assert "loadInformation435" not in loads and "loadInformation30016" not in loads


def test_firmware_names_that_clash_stop_provision(tmp_path: Path) -> None:
    for model, content in (("7941", b"one"), ("7961", b"two"), ("7962", b"two")):
        folder = tmp_path / "tftp" / "firmware" / model
        folder.mkdir(parents=True)
        (folder / "SCCP41.9-4-2SR3-1S.loads").write_bytes(content)
        (folder / "dsp41.9-4-2ES26.sbn").write_bytes(b"same everywhere")
    site = make_site(tmp_path, BASE + device("001120AABBC1", "7961"))
    with pytest.raises(UserError, match=r"SCCP41\.9-4-2SR3-1S\.loads is at firmware/7941/.*7961"):
        Renderer(site).render_all()
    (tmp_path / "tftp" / "firmware" / "7941" / "SCCP41.9-4-2SR3-1S.loads").write_bytes(b"two")
    files = Renderer(site).render_all()  # identical copies are one file
    assert parse(files["SEP001120AABBC1.cnf.xml"]).findtext("loadInformation") == (
        "SCCP41.9-4-2SR3-1S"
    )


def test_render_device_file_matches_render_all(tmp_path: Path) -> None:
    site = make_site(tmp_path, BASE + device("001120AABBCC", "7960"))
    files = render_all(site)
    assert render_device_file(site, "SEP001120AABBCC.cnf.xml") == files["SEP001120AABBCC.cnf.xml"]
    assert render_device_file(site, "sep001120aabbcc.CNF.XML") == files["SEP001120AABBCC.cnf.xml"]
    assert render_device_file(site, "xmldefault.cnf.xml") == files["XMLDefault.cnf.xml"]
    assert render_device_file(site, "SEP001120AABBCD.cnf.xml") is None  # not configured
    for other in ["CTLSEP001120AABBCC.tlv", "SEP001120AABBCC.cnf.xml.sgn", "../x", "", "RingList"]:
        assert render_device_file(site, other) is None


def test_ring_list_and_backgrounds_when_present(tmp_path: Path) -> None:
    rings = tmp_path / "tftp" / "ringtones"
    rings.mkdir(parents=True)
    (rings / "chime_soft.raw").write_bytes(b"\xff" * 480)
    (rings / "bad_length.raw").write_bytes(b"\xff" * 100)  # not a multiple of 240: left out
    desk = tmp_path / "tftp" / "Desktops" / "320x212x16"
    desk.mkdir(parents=True)
    (desk / "Fountain.png").write_bytes(b"png")
    (desk / "TN-Fountain.png").write_bytes(b"png")
    site = make_site(tmp_path, BASE + device("001120AABBCC", "7965"))
    r = Renderer(site)
    files = r.render_all()
    ring = parse(files["RingList.xml"])
    assert ring.tag == "CiscoIPPhoneRingList"
    assert [(x.findtext("DisplayName"), x.findtext("FileName")) for x in ring] == [
        ("chime soft", "ringtones/chime_soft.raw")
    ]
    assert files["DistinctiveRingList.xml"] == files["RingList.xml"]
    assert any("bad_length" in w for w in r.warnings)
    images = parse(files["Desktops/320x212x16/List.xml"])
    assert images.tag == "CiscoIPPhoneImageList"
    assert [(i.get("Image"), i.get("URL")) for i in images] == [
        ("TFTP:Desktops/320x212x16/TN-Fountain.png", "TFTP:Desktops/320x212x16/Fountain.png")
    ]
    sep = parse(files["SEP001120AABBCC.cnf.xml"])
    assert sep.findtext("commonProfile/backgroundImageAccess") == "true"
    # Without those folders there are no optional files.
    (tmp_path / "x").mkdir()
    plain = make_site(tmp_path / "x", BASE)
    assert set(render_all(plain)) == {"XMLDefault.cnf.xml"}


def test_values_are_escaped_and_bad_vendor_keys_refused(tmp_path: Path) -> None:
    site = make_site(
        tmp_path,
        BASE + device("001120AABBCC", "7961", 'vendor_config = { lldpAssetId = "a<b&c" }'),
    )
    root = parse(render_all(site)["SEP001120AABBCC.cnf.xml"])
    assert root.findtext("vendorConfig/lldpAssetId") == "a<b&c"
    # A key that is no switch (let alone an XML name) never reaches a template.
    with pytest.raises(SiteError, match="unknown vendor_config key 'a b><x'"):
        make_site(
            tmp_path, BASE + device("001120AABBCC", "7960", 'vendor_config = { "a b><x" = 1 }')
        )


# -- templates ----------------------------------------------------------------------------


def test_user_template_replaces_the_builtin(tmp_path: Path) -> None:
    tpl = tmp_path / "tpl"
    export_templates(tpl)
    assert (tpl / "SEP.cnf.xml.j2").is_file() and (tpl / "dhcp" / "kea.json.j2").is_file()
    with pytest.raises(UserError, match="exists"):
        export_templates(tpl)
    legacy = tpl / "SEP-legacy.cnf.xml.j2"
    legacy.write_text(
        legacy.read_text().replace(
            '{% extends "SEP.cnf.xml.j2" %}',
            '{% extends "SEP.cnf.xml.j2" %}{% block protocol %}\n  <mine>{{ device.model }}</mine>'
            "{% endblock %}",
        )
    )
    (tpl / "SEP-java.cnf.xml.j2").unlink()  # a partial copy falls back to the built-ins
    site = make_site(
        tmp_path,
        BASE.replace("[server]", '[server]\ntemplates_dir = "tpl"')
        + device("001120AABBCC", "7960")
        + device("001120AABBCD", "7961"),
    )
    files = render_all(site)
    assert parse(files["SEP001120AABBCC.cnf.xml"]).findtext("mine") == "7960"
    assert parse(files["SEP001120AABBCD.cnf.xml"]).findtext("fullConfig") == "true"


def test_missing_templates_dir_and_undefined_variable_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(SiteError, match="templates export"):  # check says so (issue 21.10)
        make_site(tmp_path, BASE.replace("[server]", '[server]\ntemplates_dir = "nope"'))
    site = make_site(tmp_path, BASE)  # ... and a directory removed after check, at render time:
    site = dataclasses.replace(
        site, server=dataclasses.replace(site.server, templates_dir=Path("nope"))
    )
    with pytest.raises(UserError, match="templates export"):
        render_all(site)
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "XMLDefault.cnf.xml.j2").write_text("<Default>{{ no_such }}</Default>")
    site = make_site(tmp_path, BASE.replace("[server]", '[server]\ntemplates_dir = "tpl"'))
    with pytest.raises(UserError, match="no_such"):
        render_all(site)


# -- safe writes --------------------------------------------------------------------------


def _snapshot(d: Path) -> dict[str, tuple[bytes, int, int]]:
    return {
        str(p.relative_to(d)): (p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_ino)
        for p in sorted(d.rglob("*"))
        if p.is_file()
    }


def test_rerun_writes_nothing_and_removed_devices_lose_their_file(tmp_path: Path) -> None:
    two = BASE + device("001120AABBCC", "7960") + device("001120AABBCD", "7961")
    site = make_site(tmp_path, two)
    out = tmp_path / "tftp"
    out.mkdir()
    (out / "SEPFFFFFFFFFFFF.cnf.xml").write_text("not ours")  # never touched
    (out / "P0030801SR02.loads").write_text("firmware")  # never touched
    lines: list[str] = []
    provision(site, echo=lines.append, warn=lines.append)
    assert (out / "SEP001120AABBCD.cnf.xml").is_file()
    before = _snapshot(out)
    p = provision(site, echo=lines.append, warn=lines.append)
    assert p.empty and _snapshot(out) == before  # same bytes, same mtime, same inode
    assert writer.apply(writer.plan(out, render_all(site))) == []

    one = make_site(tmp_path, BASE + device("001120AABBCC", "7960"))
    plan = writer.plan(out, render_all(one))
    assert plan.remove == ["SEP001120AABBCD.cnf.xml"]
    assert "remove  SEP001120AABBCD.cnf.xml" in plan.summary()
    provision(one, echo=lines.append, warn=lines.append)
    assert not (out / "SEP001120AABBCD.cnf.xml").exists()
    assert (out / "SEPFFFFFFFFFFFF.cnf.xml").read_text() == "not ours"
    assert (out / "P0030801SR02.loads").read_text() == "firmware"
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_hand_edited_generated_file_is_kept(tmp_path: Path) -> None:
    site = make_site(tmp_path, BASE + device("001120AABBCC", "7960"))
    provision(site, echo=lambda _: None, warn=lambda _: None)
    target = tmp_path / "tftp" / "SEP001120AABBCC.cnf.xml"
    target.write_text("<device>edited</device>")
    empty = make_site(tmp_path, BASE)
    warnings: list[str] = []
    provision(empty, echo=lambda _: None, warn=warnings.append)
    assert target.read_text() == "<device>edited</device>"
    assert any("edited since" in w for w in warnings)


def test_dry_run_and_diff_write_nothing(tmp_path: Path) -> None:
    site = make_site(tmp_path, BASE + device("001120AABBCC", "7960"))
    provision(site, echo=lambda _: None, warn=lambda _: None)
    before = _snapshot(tmp_path / "tftp")
    changed = make_site(
        tmp_path, (BASE + device("001120AABBCC", "7960")).replace("Europe/Berlin", "Europe/London")
    )
    out: list[str] = []
    provision(changed, dry_run=True, diff=True, echo=out.append, warn=out.append)
    text = "\n".join(out)
    assert "change  SEP001120AABBCC.cnf.xml" in text
    assert "-      <timeZone>W. Europe Standard/Daylight Time</timeZone>" in text
    assert "+      <timeZone>GMT Standard/Daylight Time</timeZone>" in text
    assert _snapshot(tmp_path / "tftp") == before


def test_render_error_half_way_leaves_previous_files_untouched(tmp_path: Path) -> None:
    text = BASE + device("001120AABBCC", "7960") + device("001120AABBCD", "7961")
    site = make_site(tmp_path, text)
    provision(site, echo=lambda _: None, warn=lambda _: None)
    before = _snapshot(tmp_path / "tftp")
    # A user template that fails for the second device only; the first would have changed.
    tpl = tmp_path / "tpl"
    tpl.mkdir()
    (tpl / "SEP-java.cnf.xml.j2").write_text("{{ this_is_undefined }}")
    broken = make_site(
        tmp_path,
        text.replace("[server]", '[server]\ntemplates_dir = "tpl"').replace("2001", "2005"),
    )
    with pytest.raises(UserError):
        provision(broken, echo=lambda _: None, warn=lambda _: None)
    assert _snapshot(tmp_path / "tftp") == before


def test_writer_refuses_paths_outside_the_tree(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        writer.plan(tmp_path, {"../evil": b"x"})
    (tmp_path / ".skinnyctl-manifest.json").write_text('{"files": {"../../etc/passwd": "00"}}')
    assert writer.read_manifest(tmp_path) == {}


def test_cli_dry_run_diff_and_templates_export(tmp_path: Path) -> None:
    make_site(tmp_path, BASE + device("001120AABBCC", "7960"))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "skinnyctl"]
    r = subprocess.run(
        [*cmd, "provision", str(tmp_path), "--dry-run", "--diff"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert "add     SEP001120AABBCC.cnf.xml" in r.stdout
    assert "+<device>" in r.stdout
    assert not (tmp_path / "tftp").exists()
    r = subprocess.run(
        [*cmd, "templates", "export", str(tmp_path / "t")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert r.returncode == 0 and (tmp_path / "t" / "SEP.cnf.xml.j2").is_file()
    r = subprocess.run(
        [*cmd, "provision", str(tmp_path), "--dhcp", "nonsense"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert r.returncode == 1 and "unknown DHCP server" in r.stderr and "Traceback" not in r.stderr


def test_check_says_which_keys_have_no_effect_yet(tmp_path: Path) -> None:
    """Every key site.toml accepts has an effect; while one does not yet, check says so at
    its file:line (issue 14 item 6): the Info soft key. Forwarding (issue 16) and the
    conference button (issue 17) have theirs: no warning."""
    from skinnyctl.site import effects

    assert "Info" in effects.SOFTKEYS_NOT_YET and not effects.FEATURES_NOT_YET
    site = tmp_path / "site.toml"
    site.write_text(
        '[server]\ntftp_root = "tftp"\n\n[[lines]]\nnumber = "1001"\nforward_all = "1002"\n\n'
        '[[lines]]\nnumber = "1002"\n\n'
        '[[devices]]\nmac = "001120AABB01"\nmodel = "7960"\nsoftkeys = "mine"\n'
        '[[devices.buttons]]\ntype = "line"\nline = "1001"\n'
        '[[devices.buttons]]\ntype = "feature"\nfeature = "conference"\n\n'
        '[softkey_sets.mine]\nKeySetConnected = ["EndCall", "Info"]\n'
    )
    out = run_cli("check", site)
    assert out.returncode == 0, out.stderr
    assert f"{site}:23:19: soft key Info in set mine" in out.stderr, out.stderr
    assert "forward_all" not in out.stderr and "conference" not in out.stderr, out.stderr
