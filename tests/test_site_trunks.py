"""The trunk keys of site.toml: [[trunks]], [[inbound]], [server] emergency, dial action "trunk",
per-line external_number. Broken spellings are in tests/broken_sites/ (trunk_*, inbound_*,
dialplan_*trunk*, emergency_*, line_bad_external_number)."""

from __future__ import annotations

from pathlib import Path

import pytest

from skinnyctl.site import SiteError, load_site, parse_site

GOOD = """
[server]
emergency = ["112", "911"]

[[lines]]
number = "1001"
external_number = "+33123456701"

[[lines]]
number = "1002"

[[trunks]]
name = "provider"
host = "sip.provider.example"
port = 5070
username = "0123456789"
password_file = "provider.secret"
from_domain = "provider.example"
register_expires = 600
codecs = ["pcma", "PCMU"]
caller_id = "+33123456700"
allow = ["203.0.113.0/24", "198.51.100.7"]
hold = "reinvite"
local_port = 5080

[[trunks]]
name = "pbx"
host = "192.0.2.10"
register = false

[[dialplan]]
pattern = "^90[1-9][0-9]{8}$"
action = "trunk"
trunk = "provider"
strip = 2
prefix = "+33"

[[inbound]]
did = "+33123456701"
target = "1001"

[[inbound]]
did = "0123456702"
target = "1002"
"""


@pytest.fixture
def good_site(tmp_path: Path) -> Path:
    (tmp_path / "provider.secret").write_text("s3cret-Pa55\n")
    site = tmp_path / "site.toml"
    site.write_text(GOOD)
    return site


def test_every_trunk_key_reaches_the_model(good_site: Path) -> None:
    site = load_site(good_site)
    provider, pbx = site.trunks
    assert provider.name == "provider" and provider.host == "sip.provider.example"
    assert provider.port == 5070 and provider.local_port == 5080
    assert provider.username == "0123456789"
    # password_file is read relative to site.toml, first line, trailing newline dropped
    assert provider.password == "s3cret-Pa55"
    assert provider.password_file == Path("provider.secret")
    assert provider.domain == "provider.example"
    assert provider.register and provider.register_expires == 600
    assert provider.codecs == ("PCMA", "PCMU")
    assert provider.caller_id == "+33123456700"
    assert provider.allow == ("203.0.113.0/24", "198.51.100.7/32")
    assert provider.hold == "reinvite" and provider.dtmf == "rfc4733"
    # defaults
    assert not pbx.register and pbx.port == 5060 and pbx.local_port == 5060
    assert pbx.codecs == ("PCMU", "PCMA") and pbx.allow == () and pbx.hold == "music"
    assert pbx.domain == "192.0.2.10"
    assert site.trunk("pbx") is pbx and site.trunk("nope") is None
    rule = site.dialplan[0]
    assert (rule.action, rule.trunk, rule.strip, rule.prefix) == ("trunk", "provider", 2, "+33")
    assert [(i.did, i.target) for i in site.inbound] == [
        ("+33123456701", "1001"),
        ("0123456702", "1002"),
    ]
    assert site.server.emergency == ("112", "911")
    assert site.line("1001").external_number == "+33123456701"  # type: ignore[union-attr]
    assert site.line("1002").external_number == ""  # type: ignore[union-attr]


def test_the_password_never_shows_in_repr_or_problems(good_site: Path) -> None:
    site = load_site(good_site)
    assert "s3cret" not in repr(site.trunks[0])
    assert "s3cret" not in repr(site)
    text = good_site.read_text().replace("register_expires = 600", "register_expires = 5")
    text = text.replace('password_file = "provider.secret"', 'password = "s3cret-inline"')
    with pytest.raises(SiteError) as info:
        parse_site(text)
    assert "s3cret" not in str(info.value)


def test_a_site_without_trunks_has_none() -> None:
    site = parse_site('[[lines]]\nnumber = "1001"\n')
    assert site.trunks == () and site.inbound == () and site.server.emergency == ()


def test_trunk_rule_keys_default_on_other_rules() -> None:
    site = parse_site('[[dialplan]]\npattern = "^1"\naction = "process"\n')
    assert (site.dialplan[0].trunk, site.dialplan[0].strip, site.dialplan[0].prefix) == ("", 0, "")
