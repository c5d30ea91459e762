"""[voicemail] in site.toml: every key read, defaults, and the pin file's own problems reported
at its own file:line:column."""

from __future__ import annotations

from pathlib import Path

import pytest

from skinnyctl.apps.voicemail.pins import hash_pin
from skinnyctl.site import SiteError, load_site, parse_site
from skinnyctl.site.model import Voicemail

HASH = hash_pin("1234", salt=bytes(16))


def test_every_key(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    (tmp_path / "pw").write_text("x\n")
    (tmp_path / "site.toml").write_text(f"""
[[lines]]
number = "1001"
voicemail_box = "1001"
[voicemail]
pin_file = "pins.toml"
max_messages = 7
max_message_seconds = 60
silence_seconds = 0
min_message_seconds = 2.5
pin_from_own_phone = false
prompts_dir = "p"
[voicemail.boxes."1001"]
pin = "{HASH}"
email = "a@example.com"
[voicemail.smtp]
host = "mail.example.com"
port = 25
starttls = false
username = "u"
password_file = "pw"
from = "pbx@example.com"
""")
    vm = load_site(tmp_path / "site.toml").voicemail
    assert (vm.pin_file, vm.max_messages, vm.max_message_seconds) == (Path("pins.toml"), 7, 60)
    assert (vm.silence_seconds, vm.min_message_seconds, vm.pin_from_own_phone) == (0, 2.5, False)
    assert vm.prompts_dir == Path("p")
    assert vm.box("1001").pin == HASH and vm.box("1001").email == "a@example.com"
    s = vm.smtp
    assert (s.host, s.port, s.starttls, s.username, s.password_file, s.sender) == (
        "mail.example.com", 25, False, "u", Path("pw"), "pbx@example.com",
    )  # fmt: skip


def test_defaults() -> None:
    site = parse_site('[[lines]]\nnumber = "1001"\nvoicemail_box = "1001"\n')
    assert site.voicemail == Voicemail()
    assert site.voicemail.min_message_seconds == 1 and site.voicemail.pin_from_own_phone
    assert site.voicemail_boxes() == {"1001": ("1001",)}


def test_pin_file_problems_point_into_the_pin_file(tmp_path: Path) -> None:
    (tmp_path / "site.toml").write_text('[[lines]]\nnumber = "1001"\nvoicemail_box = "1001"\n')
    pins = tmp_path / "voicemail-pins.toml"
    pins.write_text(f'# header\n"1001" = "1234"\n"1009" = "{HASH}"\n')
    with pytest.raises(SiteError) as info:
        load_site(tmp_path / "site.toml")
    got = [(p.file, p.line, p.column, p.message) for p in info.value.problems]
    assert got == [
        (str(pins), 2, 10, "PIN of mailbox 1001: this is a PIN in clear, not its hash"),
        (str(pins), 3, 1, "mailbox 1009 is the voicemail_box of no line"),
    ]
