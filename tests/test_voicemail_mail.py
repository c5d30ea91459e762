"""E-mail notification through a real SMTP server on loopback (aiosmtpd): the mail arrives with
the recording attached; with the relay down it is sent once it is back, even across a restart
of the sender (the queue is in the SQLite index)."""

from __future__ import annotations

import email
import email.policy
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")
from aiosmtpd.smtp import AuthResult, LoginPassword  # noqa: E402

from skinnyctl.apps.voicemail.service import VoicemailService  # noqa: E402
from skinnyctl.calls.clock import FakeClock  # noqa: E402
from skinnyctl.site import parse_site  # noqa: E402
from skinnyctl.site.model import Site  # noqa: E402
from tests.test_register import free_port  # noqa: E402
from tests.voicemail_util import Driver, tone  # noqa: E402


class Inbox:
    def __init__(self) -> None:
        self.mails: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.mails.append(
            email.message_from_bytes(envelope.content, policy=email.policy.default)  # type: ignore[arg-type]
        )
        return "250 OK"


def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"pbx", b"s3cret")
    return AuthResult(success=ok)


def start_relay(port: int, inbox: Inbox) -> Any:
    c = aiosmtpd_controller.Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticator,
        auth_require_tls=False,
    )
    c.start()
    return c


def site(tmp: Path, port: int, secret: str = "password_file") -> Site:
    """The relay wants pbx / s3cret: given inline (password) or in a file (password_file)."""
    (tmp / "smtp-password").write_text("s3cret\n")
    given = 'password = "s3cret"' if secret == "password" else 'password_file = "smtp-password"'
    text = f"""
[[lines]]
number = "1001"
voicemail_box = "1001"
[voicemail.boxes."1001"]
email = "alice@example.com"
[voicemail.smtp]
host = "127.0.0.1"
port = {port}
starttls = false
from = "pbx@example.com"
username = "pbx"
{given}
"""
    (tmp / "site.toml").write_text(text)
    return parse_site(text, tmp / "site.toml")


def wait_for(cond: Callable[[], object], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail("timed out")
        time.sleep(0.05)


def leave_message(service: VoicemailService, s: Site, freq: float) -> Path:
    d = Driver(s, service.store)
    d.session = service.session()
    d.start("deposit", "1001", "1002", "Bob", False)
    d.finish_play()
    t0 = time.monotonic()
    d.record(tone(freq, 1.5))
    assert time.monotonic() - t0 < 0.05  # the caller never waits for the mail
    assert d.session.message is not None
    return d.session.message.path


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    yield Inbox()


@pytest.mark.parametrize("secret", ["password_file", "password"])
def test_a_new_message_is_mailed_with_the_wav_attached(
    tmp_path: Path, inbox: Inbox, secret: str
) -> None:
    port = free_port()
    relay = start_relay(port, inbox)
    s = site(tmp_path, port, secret)
    service = VoicemailService(s, FakeClock(), mail_retry=0.2)
    try:
        path = leave_message(service, s, 700)
        wait_for(lambda: inbox.mails)
        (mail,) = inbox.mails
        assert inbox.envelopes == [("pbx@example.com", ["alice@example.com"])]
        assert "1002" in mail["Subject"] and "Bob" in mail["Subject"]
        (att,) = list(mail.iter_attachments())
        assert att.get_content_type() == "audio/wav"
        service.store.flush()
        assert att.get_content() == path.read_bytes()
        wait_for(lambda: not service.store.mail_pending())
        assert list((tmp_path / "state" / "voicemail" / "outbox").iterdir()) == []
    finally:
        service.stop()
        relay.stop()


def test_relay_down_then_back_the_mail_goes_even_after_a_restart(
    tmp_path: Path, inbox: Inbox
) -> None:
    port = free_port()
    s = site(tmp_path, port)
    service = VoicemailService(s, FakeClock(), mail_retry=0.2)
    path = leave_message(service, s, 900)
    service.store.delete(service.store.messages("1001")[0].id)  # deleted from the phone
    wait_for(lambda: any(m["attempts"] >= 1 for m in service.store.mail_pending()))
    assert "Connection refused" in service.store.mail_pending()[0]["last_error"]
    service.stop()  # serve restarts while the relay is still down
    relay = start_relay(port, inbox)
    service = VoicemailService(s, FakeClock(), mail_retry=0.2)
    try:
        wait_for(lambda: inbox.mails)
        (att,) = list(inbox.mails[0].iter_attachments())
        assert len(att.get_content()) > 20_000 and not path.exists()
        wait_for(lambda: not service.store.mail_pending())
    finally:
        service.stop()
        relay.stop()
