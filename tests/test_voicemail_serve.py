"""Voicemail in a running ``skinnyctl serve`` (a real process) and through serve's Service.

``kill -9`` of serve while a caller is recording: the earlier messages are intact, the index is
consistent (integrity_check), the unfinished recording is never listed, serve starts again and
the phones' lamps say what the mailbox holds. The CLI changes mailboxes through a running serve
(its lamps follow at once) and says when serve is not running. A message left by phone is
mailed with its WAV through a real SMTP server on loopback (aiosmtpd), and while the relay is
down it waits and goes once it is back.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from skinnyctl.control import ControlClient
from skinnyctl.phone import SimPhone
from tests.clirun import ROOT, run_cli
from tests.test_register import free_port
from tests.test_voicemail_calls import handset_lamp
from tests.vmrig import (
    A,
    B,
    Listens,
    Talker,
    VmRig,
    call,
    dominant_hz,
    hang_up,
    keys,
    lamp,
    site_text,
    start_message,
    tone,
    wav_pcm,
)


class Serve(Listens):
    """``python -m skinnyctl serve`` on a site of vmrig's, in its own process."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        (directory / "tftp").mkdir(exist_ok=True)
        self.site = directory / "site.toml"
        self.site.write_text(site_text(directory))
        self.port = int(self.site.read_text().split("sccp_port = ")[1].split()[0])
        self.log = directory / "serve.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.control = ControlClient(socket_path=directory / "ctl.sock")
        self.phones: list[SimPhone] = []

    def start(self) -> Serve:
        with self.log.open("a") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "skinnyctl", "serve", str(self.site)],
                stdout=subprocess.DEVNULL,
                stderr=log,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
        deadline = time.monotonic() + 30
        while True:
            assert self.proc.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, "serve did not start"
            try:
                if self.control.reachable():
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    return self
            except OSError:
                pass
            time.sleep(0.05)

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        for p in self.phones:
            p.close()
        self.phones.clear()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)

    def phone(self, mac: str, model: str = "7960") -> SimPhone:
        p = SimPhone("127.0.0.1", self.port, mac, model).connect()
        self.phones.append(p)
        p.register(keepalive=False)
        return p

    def stats(self) -> list[dict[str, Any]]:
        result: dict[str, Any] = self.control.request("calls")
        return list(result["rtp"])

    @property
    def vm(self) -> Path:
        return self.dir / "state" / "voicemail"

    def rows(self) -> list[tuple[int, str, str]]:
        """The index as another process reads it: (id, box, path)."""
        with sqlite3.connect(self.vm / "voicemail.sqlite") as db:
            return db.execute("SELECT id, box, path FROM messages ORDER BY id").fetchall()


@pytest.fixture
def served() -> Iterator[Serve]:
    directory = Path(tempfile.mkdtemp(prefix="vm-", dir="/tmp"))  # short: the control socket
    s = Serve(directory)
    try:
        yield s
    finally:
        s.stop()
        shutil.rmtree(directory, ignore_errors=True)


def test_kill_9_during_a_recording_keeps_the_earlier_messages_and_the_lamps(
    served: Serve,
) -> None:
    served.start()
    a, b = served.phone(A), served.phone(B, "7961")
    ref = start_message(served, a, "1002")
    Talker(a, tone(440, 1.5)).start().wait()
    keys(a, "#", ref)
    deadline = time.monotonic() + 10
    while not served.rows():
        assert time.monotonic() < deadline, "the first message was never indexed"
        time.sleep(0.05)
    hang_up(a, ref)
    lamp(b, True)
    ((first, box, rel),) = served.rows()
    assert box == "1002"
    # a second caller is recording when serve is killed
    start_message(served, a, "1002")
    talker = Talker(a, tone(880, 8.0)).start()
    time.sleep(1.5)
    served.kill()
    talker.stop()
    for p in served.phones:
        p.close()
    served.phones.clear()
    with sqlite3.connect(served.vm / "voicemail.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert served.rows() == [(first, "1002", rel)]  # the unfinished one is not listed
    pcm = wav_pcm(served.vm / rel)  # complete and readable
    assert dominant_hz(pcm) == pytest.approx(440, abs=5) and len(pcm) >= 8000
    unfinished = list((served.vm / "tmp").iterdir())
    assert unfinished, "nothing was being recorded when serve was killed"
    # serve starts again: the leftover goes, the message stays, the lamp is lit at once
    served.start()
    assert list((served.vm / "tmp").iterdir()) == []
    assert served.rows() == [(first, "1002", rel)]
    b = served.phone(B, "7961")
    lamp(b, True)
    a = served.phone(A)
    assert handset_lamp(a) is None
    listed = run_cli("voicemail", "list", "1002", "--site", served.site)
    assert listed.returncode == 0 and listed.stdout.count("\n") == 2, listed.stdout  # head + 1
    served.stop()
    text = served.log.read_text()
    assert "unfinished" in text and "Traceback" not in text, text


def write_wav(path: Path, pcm: np.ndarray) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(pcm.tobytes())
    return path


def test_the_cli_changes_mailboxes_through_a_running_serve(served: Serve) -> None:
    greeting = write_wav(served.dir / "hello.wav", tone(300, 1.2))
    not_running = run_cli("voicemail", "greeting", "set", "1001", greeting, "--site", served.site)
    assert not_running.returncode == 0, not_running.stderr
    assert "serve is not running" in not_running.stdout
    served.start()
    a, b = served.phone(A), served.phone(B, "7961")
    ref = start_message(served, a, "1002")
    Talker(a, tone(440, 1.2)).start().wait()
    hang_up(a, ref)
    lamp(b, True)
    deadline = time.monotonic() + 10
    while not served.rows():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    ((mid, _, _),) = served.rows()
    since = len(b.received)
    done = run_cli("voicemail", "delete", str(mid), "--site", served.site)
    assert done.returncode == 0, done.stderr
    assert f"serve deleted message {mid} of box 1002 (lamps: 1002 off)" in done.stdout
    lamp(b, False, since)  # at once, by the running serve
    assert served.rows() == []
    gone = run_cli("voicemail", "delete", str(mid), "--site", served.site)
    assert gone.returncode == 1 and f"no voicemail message {mid}" in gone.stderr
    # a greeting set while serve runs is what the next caller hears
    done = run_cli("voicemail", "greeting", "set", "1002", greeting, "--site", served.site)
    assert done.returncode == 0 and "applies now" in done.stdout, done.stdout + done.stderr
    ref = call(a, "*1002")
    served.wait_play(a, "unavailable")
    playing = served.playing(a)
    assert playing is not None and playing[1] == ["silence", "unavailable", "beep"]
    hang_up(a, ref)
    # a PIN set from the CLI opens the box at once
    pin = subprocess.run(
        [sys.executable, "-m", "skinnyctl", "voicemail", "pin", "1002", "--site", served.site],
        input="86420\n",
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    assert pin.returncode == 0 and "applies now" in pin.stdout, pin.stdout + pin.stderr
    c = served.phone("001120DD0003")
    ref = call(c, "8000")
    served.wait_play(c, "enter_mailbox")
    keys(c, "1002#", ref)
    pid = served.wait_play(c, "enter_pin")
    keys(c, "86420#", ref)
    served.wait_play(c, "main_menu", after=pid)
    hang_up(c, ref)


# --- e-mail ------------------------------------------------------------------------------------


def test_a_message_left_by_phone_is_mailed_and_waits_while_the_relay_is_down() -> None:
    pytest.importorskip("aiosmtpd.controller")
    from tests.test_voicemail_mail import Inbox, start_relay

    port = free_port()
    inbox = Inbox()
    relay = start_relay(port, inbox)
    smtp = (
        f'[voicemail.smtp]\nhost = "127.0.0.1"\nport = {port}\nstarttls = false\n'
        'from = "pbx@example.com"'
    )
    rig = VmRig(vm_extra=smtp, box1001='email = "alice@example.com"').start()
    try:
        assert rig.service.voicemail is not None and rig.service.voicemail.notifier is not None
        rig.service.voicemail.notifier.retry_min = 0.2  # retry quickly (30 s in serve)
        b = rig.phone(B, "7961")

        def leave(freq: float) -> Any:
            ref = start_message(rig, b, "1001")
            Talker(b, tone(freq, 1.5)).start().wait()
            keys(b, "#", ref)
            rig.until(lambda: len(rig.messages("1001")) > len(before), "the message kept")
            hang_up(b, ref)
            rig.store.flush()
            return rig.messages("1001")[-1]

        before: list[Any] = []
        first = leave(600)
        rig.until(lambda: len(inbox.mails) == 1, "the first mail", timeout=15)
        mail = inbox.mails[0]
        assert inbox.envelopes == [("pbx@example.com", ["alice@example.com"])]
        assert "1002" in mail["Subject"] and "Bob" in mail["Subject"]
        (att,) = list(mail.iter_attachments())
        assert att.get_content_type() == "audio/wav"
        assert att.get_content() == first.path.read_bytes()
        relay.stop()  # the relay goes down
        before = rig.messages("1001")
        second = leave(750)
        store = rig.store
        rig.until(lambda: any(m["attempts"] >= 1 for m in store.mail_pending()), "a failed attempt")
        assert len(inbox.mails) == 1
        relay = start_relay(port, inbox)  # back
        rig.until(lambda: len(inbox.mails) == 2, "the second mail", timeout=20)
        (att,) = list(inbox.mails[1].iter_attachments())
        assert att.get_content() == second.path.read_bytes()
        rig.until(lambda: not store.mail_pending(), "the queue empty")
    finally:
        rig.stop()
        relay.stop()
        shutil.rmtree(rig.dir, ignore_errors=True)
