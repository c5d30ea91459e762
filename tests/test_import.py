"""skinnyctl import: configurations written here in chan-sccp's and mod_skinny's documented
formats become a site.toml that passes check and provision, and phones registering against
serve get the same lines, buttons and speed dials the source gave them."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import tomlkit

from skinnyctl.errors import UserError
from skinnyctl.phone import SimPhone
from skinnyctl.site import load_site
from skinnyctl.site.importer import import_sites
from tests.clirun import run_cli
from tests.test_register import free_port, start_serve, stop_serve, wait_listening
from tests.tshark import assert_clean

# chan-sccp: templates and inheritance, every kind of button, a line named by a word with a
# numeric cid_num, an empty button, a soft key set, an ATA, settings with no equivalent.
SCCP_CONF = """\
;=====================================
; general definitions
;=====================================
[general]
servername = Asterisk
keepalive = 60
context = default
dateformat = D.M.Y
bindaddr = 127.0.0.1
port = {port}
disallow=all
allow=alaw
allow=ulaw
firstdigittimeout = 16
digittimeout = 8
hotline_enabled=yes  ; can devices without configuration register
#include "sccp_extra.conf"

[phone](!)
type = device
keepalive = 60
transfer = on
cfwdall = off
tzoffset = +2

[SEP00112233AA01](phone)
description = Front desk
devicetype = 7960
addon = 7914
button = line, 201
button = line, reception@11:Front
button = empty
button = speeddial,Marc, 202, 202@hints
button = speeddial,Security, 0145678900
button = feature,DND Busy,DND,busy
button = service,Visitors, http://192.0.2.5/visitors.xml
softkeyset = frontkeys

[SEP00112233AA02](phone)
description = Manager
devicetype = 7961
button = line, 202
button = line, reception
button = speeddial,Claire, 201
button = feature,Record calls,monitor

[SEP00112233AA03]
type = device
devicetype = ATA186
button = line, 203

[line](!)
type = line
context = default
incominglimit = 2
vmnum = 8000
pickupgroup = 1

[201](line)
id = 1000
label = Claire
description = Claire (front desk)
cid_name = Claire
cid_num = 201
mailbox = 201@default

[202](line)
label = Marc
description = Marc (manager)
cid_name = Marc

[reception](line)
cid_num = 200
label = Reception
description = Reception

[203](line)
label = Fax

[frontkeys]
type = softkeyset
onhook = redial,newcall,pickup,dnd,private
connected = hold,endcall,park,transfer
"""

# What the phones must show, read off SCCP_CONF by hand: (number, label, display name).
SCCP_LINES = {
    "00112233AA01": [("201", "Claire", "Claire (front desk)"), ("200", "Reception", "Reception")],
    "00112233AA02": [("202", "Marc", "Marc (manager)"), ("200", "Reception", "Reception")],
}
SCCP_SPEED_DIALS = {
    "00112233AA01": [("202", "Marc"), ("0145678900", "Security")],
    "00112233AA02": [("201", "Claire")],
}

# mod_skinny: a profile as in conf/skinny_profiles/internal.xml and a directory user as in
# conf/directory/default/skinny-example.xml (the seed), plus a second phone and a SIP user.
PROFILE_XML = """\
<profile name="internal">
  <settings>
    <param name="domain" value="$${{domain}}"/>
    <param name="ip" value="127.0.0.1"/>
    <param name="port" value="{port}"/>
    <param name="patterns-dialplan" value="XML"/>
    <param name="patterns-context" value="skinny-patterns"/>
    <param name="dialplan" value="XML"/>
    <param name="context" value="default"/>
    <param name="keep-alive" value="60"/>
    <param name="date-format" value="D/M/Y"/>
    <param name="odbc-dsn" value=""/>
    <param name="debug" value="4"/>
    <param name="auto-restart" value="true"/>
    <param name="ext-voicemail" value="vmain"/>
    <param name="ext-redial" value="redial"/>
    <param name="digit-timeout" value="10000"/>
  </settings>
  <soft-key-set-sets>
    <soft-key-set-set name="default">
      <soft-key-set name="KeySetOnHook" value="SoftkeyNewcall,SoftkeyRedial"/>
      <soft-key-set name="KeySetConnected"
                    value="SoftkeyEndcall,SoftkeyHold,SoftkeyNewcall,SoftkeyTransfer"/>
    </soft-key-set-set>
    <soft-key-set-set name="desk">
      <soft-key-set name="KeySetOnHook" value="SoftkeyNewcall,SoftkeyRedial,SoftkeyDnd"/>
    </soft-key-set-set>
  </soft-key-set-sets>
  <device-types>
    <device-type id="Cisco ATA 186">
      <param name="firmware-version" value="ATA030101SCCP04"/>
    </device-type>
  </device-types>
</profile>
"""

DIRECTORY_XML = """\
<include>
  <user id="SEP001120AABBCC">
    <params>
      <param name="foo" value="bar"/>
      <param name="skinny-soft-key-set-set" value="desk"/>
    </params>
    <skinny>
      <buttons>
        <button position="1" type="Line" label="Line 1" value="1101" caller-name="Calling as 1101"/>
        <button position="3" type="Line" label="Shared Line 10" value="1110"
                caller-name="Calling as 1110" busy-trigger="2"/>
        <button position="5" type="SpeedDial" label="Call 1001" value="1001"/>
        <button position="6" type="ServiceUrl" label="Some URL" value="http://phone-xml.berbee.com/menu.xml"/>
      </buttons>
    </skinny>
  </user>
  <user id="SEP001120AABBCD">
    <skinny>
      <buttons>
        <button position="1" type="Line" label="Line 1110" value="1110"/>
        <button position="2" type="SpeedDial" label="Call 1101" value="1101"/>
        <button position="3" type="Privacy" label="Private" value=""/>
      </buttons>
    </skinny>
  </user>
  <user id="1000">
    <params><param name="password" value="1234"/></params>
  </user>
</include>
"""

FS_LINES = {
    "001120AABBCC": [("1101", "Line 1", "1101"), ("1110", "Shared Line 10", "1110")],
    "001120AABBCD": [("1110", "Line 1110", "1110")],
}
FS_SPEED_DIALS = {"001120AABBCC": [("1001", "Call 1001")], "001120AABBCD": [("1101", "Call 1101")]}


def registered(site: Path, phones: dict[str, str]) -> dict[str, object]:
    """Serve ``site`` and register each (MAC -> model) phone: what each was told."""
    doc = tomlkit.parse(site.read_text())
    doc["server"]["tftp_port"] = free_port(socket.SOCK_DGRAM)  # type: ignore[index]
    site.write_text(tomlkit.dumps(doc))
    loaded = load_site(site)
    proc = start_serve(site)
    try:
        wait_listening(proc, loaded.server.sccp_port)
        out = {}
        for mac, model in phones.items():
            with SimPhone("127.0.0.1", loaded.server.sccp_port, mac, model) as phone:
                phone.connect()
                out[mac] = phone.register(keepalive=False)
                assert_clean(list(phone.frames))  # every frame, as Wireshark reads it
        return out
    finally:
        stop_serve(proc)


def told(reg: object) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
    lines = [
        (s.line_dir_number, s.line_text_label, s.line_fully_qualified_display_name)
        for _, s in sorted(reg.lines.items())  # type: ignore[attr-defined]
    ]
    dials = [
        (s.speed_dial_dir_number, s.speed_dial_display_name)
        for _, s in sorted(reg.speed_dials.items())  # type: ignore[attr-defined]
    ]
    return lines, dials


def test_chan_sccp_round_trip(tmp_path: Path) -> None:
    source = tmp_path / "sccp.conf"
    source.write_text(SCCP_CONF.format(port=free_port()))
    site = tmp_path / "office" / "site.toml"
    r = run_cli("import", source, "--out", site)
    assert r.returncode == 0, r.stderr
    assert "wrote" in r.stdout and "3 lines" not in r.stdout  # 201, 202, 200, 203
    text = site.read_text()
    # What could not be carried over is listed, each with file:line and why.
    for dropped in (
        "sccp.conf:5: [general] servername = Asterisk: no equivalent in skinnyctl",
        "sccp.conf:7: [general] context = default: calls are routed by [[dialplan]] rules",
        "sccp.conf:11: [general] disallow = all: codecs are negotiated with each phone",
        "sccp.conf:12: [general] allow = alaw: codecs are negotiated with each phone (and 1 more)",
        "sccp.conf:14: [general] firstdigittimeout = 16: one digit_timeout applies",
        'sccp.conf:17: #include "sccp_extra.conf": included files are not followed',
        "sccp.conf:24: device setting tzoffset = +2: set [server] time_zone instead (and 1 more)",
        "sccp.conf:31: button = line, reception@11:Front: subscriber/label options",
        "sccp.conf:32: button = empty: no empty buttons: the ones after it move up",
        "sccp.conf:35: button = feature,DND Busy,DND,busy: the options after DND (kept: dnd)",
        "sccp.conf:45: button = feature,Record calls,monitor: no such button in skinnyctl",
        "sccp.conf:57: line setting pickupgroup = 1: no equivalent in skinnyctl (and 3 more)",
        "sccp.conf:82: soft key private: no such soft key here",
    ):
        assert f"#   {dropped}" in text, dropped
    assert run_cli("check", site).returncode == 0
    r = run_cli("provision", site)
    assert r.returncode == 0, r.stderr
    loaded = load_site(site)
    assert {ln.number for ln in loaded.lines} == {"201", "202", "200", "203"}
    assert loaded.line("201").voicemail_box == "201" and loaded.line("200").busy_trigger == 2
    assert loaded.server.voicemail == "8000" and loaded.server.digit_timeout == 8
    front = loaded.device("00112233AA01")
    assert front is not None and [e.name for e in front.expansion_modules] == ["7914"]
    assert [(b.kind, b.label) for b in front.buttons if b.kind != "line"] == [
        ("speed_dial", "Marc"),
        ("speed_dial", "Security"),
        ("feature", "DND Busy"),
        ("service_url", "Visitors"),
    ]
    assert front.softkeys == "frontkeys"
    assert loaded.softkey_sets["frontkeys"]["KeySetOnHook"] == (
        "Redial",
        "NewCall",
        "PickUp",
        "DND",
    )
    ata = loaded.device("00112233AA03")
    assert ata is not None and ata.model.name == "ATA186" and not ata.provision
    # The phones, registering, are told what sccp.conf gave them.
    regs = registered(site, {"00112233AA01": "7960", "00112233AA02": "7961"})
    for mac, reg in regs.items():
        assert told(reg) == (SCCP_LINES[mac], SCCP_SPEED_DIALS[mac]), mac
    urls = regs["00112233AA01"].service_urls  # type: ignore[attr-defined]
    assert [u.service_url for u in urls.values()] == ["http://192.0.2.5/visitors.xml"]


def test_mod_skinny_round_trip(tmp_path: Path) -> None:
    (tmp_path / "internal.xml").write_text(PROFILE_XML.format(port=free_port()))
    (tmp_path / "skinny-example.xml").write_text(DIRECTORY_XML)
    site = tmp_path / "site.toml"
    r = run_cli("import", tmp_path / "internal.xml", tmp_path / "skinny-example.xml", "--out", site)
    assert r.returncode == 1 and "--model" in r.stderr and not site.exists()
    r = run_cli(
        "import",
        tmp_path / "internal.xml",
        tmp_path / "skinny-example.xml",
        "--out",
        site,
        "--model",
        "7961",
    )
    assert r.returncode == 0, r.stderr
    text = site.read_text()
    for dropped in (
        'internal.xml:3: param domain = "$${domain}": a FreeSWITCH variable, not a value',
        'internal.xml:6: param patterns-dialplan = "XML": dial patterns become [[dialplan]]',
        'internal.xml:9: param context = "default": calls are routed by [[dialplan]] rules',
        "skinny-example.xml:10: position 2 left empty: the buttons after it move up",
        "skinny-example.xml:12: position 4 left empty: the buttons after it move up",
        'skinny-example.xml:4: user param foo = "bar": no equivalent in skinnyctl',
        'skinny-example.xml:22: button type="Privacy": no such button in skinnyctl',
        "skinny-example.xml:26: 1 directory user(s) without a <skinny> section: not Skinny",
    ):
        assert f"#   {dropped}" in text, dropped
    assert run_cli("check", site).returncode == 0
    assert run_cli("provision", site).returncode == 0
    loaded = load_site(site)
    assert loaded.server.voicemail == "vmain" and loaded.server.digit_timeout == 10
    assert loaded.line("1110").caller_name == "Calling as 1110"
    assert loaded.line("1110").busy_trigger == 2
    assert "default" not in text.split("[softkey_sets")[-1]  # mod_skinny's default is ours
    assert loaded.device("001120AABBCC").softkeys == "desk"  # type: ignore[union-attr]
    assert loaded.models["ATA186"].firmware == "ATA030101SCCP04"
    regs = registered(site, {"001120AABBCC": "7961", "001120AABBCD": "7961"})
    for mac, reg in regs.items():
        assert told(reg) == (FS_LINES[mac], FS_SPEED_DIALS[mac]), mac


def test_refusals(tmp_path: Path) -> None:
    (tmp_path / "site.toml").write_text("# mine\n")
    (tmp_path / "sccp.conf").write_text("[general]\nport = 2000\n")
    with pytest.raises(UserError, match="exists"):
        import_sites([tmp_path / "sccp.conf"], tmp_path / "site.toml", address="192.0.2.1")
    assert (tmp_path / "site.toml").read_text() == "# mine\n"
    (tmp_path / "bad.xml").write_text("<include><user id='SEP001120AABBCC'>")
    with pytest.raises(UserError, match=r"bad.xml:1: not well-formed XML"):
        import_sites([tmp_path / "bad.xml"], tmp_path / "new.toml", address="192.0.2.1")
    # An address given wins over the source's; the default comes from this machine (as init).
    draft = import_sites(
        [tmp_path / "sccp.conf"], tmp_path / "new.toml", address="192.0.2.1", force=True
    )
    assert draft.server["addresses"] == ["192.0.2.1"]
    assert load_site(tmp_path / "new.toml").server.sccp_port == 2000
