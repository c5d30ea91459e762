"""E-mail notification: each new message of a box with ``email`` is mailed, WAV attached.

The store queues the mail in the same transaction that indexes the message (table
``mail_queue``, the WAV hard-linked into ``outbox/`` so deleting the message from the phone
does not lose the mail), so a queued mail survives a crash or a restart. This thread sends what
is due through ``[voicemail.smtp]``; when the relay is down or refuses, the attempt is counted
and retried after a pause doubling from ``retry_min`` up to ``retry_max``. Calls never wait for
any of it: the call-control thread only queues (through the store's writer thread).
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
import ssl
import threading
import time
from email.message import EmailMessage
from pathlib import Path

from skinnyctl.site.model import Smtp

from .store import MailJob, VoicemailStore

log = logging.getLogger("skinnyctl.apps.voicemail.mail")


def build_mail(job: MailJob, sender: str, tz: dt.tzinfo = dt.UTC) -> EmailMessage:
    who = job.caller or "an unknown caller"
    if job.caller_name and job.caller_name != job.caller:
        who = f"{job.caller_name} ({who})"
    when = dt.datetime.fromtimestamp(job.received, tz)
    length = f"{int(job.seconds) // 60}:{int(job.seconds) % 60:02d}"
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = job.recipient
    msg["Subject"] = f"Voicemail from {who}, {length}"
    msg["Date"] = when
    msg.set_content(
        f"New voicemail in mailbox {job.box}\n\n"
        f"From:     {who}\n"
        f"Received: {when:%A %d %B %Y %H:%M %Z}\n"
        f"Length:   {length}\n\n"
        "The recording is attached (WAV, 8 kHz).\n"
    )
    msg.add_attachment(
        job.wav.read_bytes(),
        maintype="audio",
        subtype="wav",
        filename=f"voicemail-{job.box}-{job.id}.wav",
    )
    return msg


class MailNotifier:
    """One thread sending the store's mail queue through an SMTP relay."""

    def __init__(
        self,
        store: VoicemailStore,
        smtp: Smtp,
        base_dir: Path,
        tz: dt.tzinfo = dt.UTC,
        retry_min: float = 30.0,
        retry_max: float = 3600.0,
        timeout: float = 30.0,
    ) -> None:
        self.store, self.smtp, self.base_dir, self.tz = store, smtp, base_dir, tz
        self.retry_min, self.retry_max, self.timeout = retry_min, retry_max, timeout
        self.sent = 0
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="voicemail-mail", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Something was queued (or the relay is back): look at the queue now."""
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()

    def _password(self) -> str:
        if self.smtp.password_file is None:
            return self.smtp.password
        path = self.smtp.password_file
        path = path if path.is_absolute() else self.base_dir / path
        return path.read_text(encoding="utf-8").splitlines()[0].strip()

    def send(self, job: MailJob) -> None:
        """One mail, now; raises on any failure (the caller counts it and retries later)."""
        msg = build_mail(job, self.smtp.sender, self.tz)
        with smtplib.SMTP(self.smtp.host, self.smtp.port, timeout=self.timeout) as s:
            s.ehlo()
            if self.smtp.starttls:
                s.starttls(context=ssl.create_default_context())
                s.ehlo()
            if self.smtp.username:
                s.login(self.smtp.username, self._password())
            s.send_message(msg)

    def run_once(self, now: float | None = None) -> int:
        """Send every due mail; returns how many went."""
        now = time.time() if now is None else now
        sent = 0
        for job in self.store.mail_due(now):
            if self._stopping:
                break
            if not job.wav.is_file():
                log.error("voicemail mail %d: its recording is gone; dropped", job.id)
                self.store.mail_done(job)
                continue
            try:
                self.send(job)
            except (OSError, smtplib.SMTPException, IndexError) as e:
                pause = min(self.retry_max, self.retry_min * 2**job.attempts)
                log.warning(
                    "voicemail mail %d to %s not sent (%s); retrying in %.0f s",
                    job.id,
                    job.recipient,
                    e,
                    pause,
                )
                self.store.mail_failed(job, f"{type(e).__name__}: {e}", time.time() + pause)
                continue
            self.store.mail_done(job)
            log.info("voicemail mail %d sent to %s", job.id, job.recipient)
            sent += 1
        self.sent += sent
        return sent

    def _loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                self.run_once()
                next_try = self.store.mail_next_try()
            except Exception:
                log.exception("voicemail mail: unexpected failure")
                next_try = time.time() + self.retry_min
            wait = None if next_try is None else max(0.0, next_try - time.time())
            self._wake.wait(wait)
