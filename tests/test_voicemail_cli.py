"""``skinnyctl voicemail ...`` as a user runs it (python -m skinnyctl in a subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from skinnyctl.apps.voicemail.pins import verify
from skinnyctl.apps.voicemail.store import VoicemailStore, wav_seconds
from tests.clirun import ROOT, run_cli
from tests.voicemail_util import dominant_hz, make_site, tone, write_wav


def seeded(tmp_path: Path) -> tuple[Path, list[int]]:
    site = make_site(tmp_path)
    store = VoicemailStore.for_site(site)
    ids = []
    for freq, box in ((500, "1001"), (900, "1002")):
        rec = write_wav(store.new_recording_path(), tone(freq, 1.0))
        ids.append(store.add_message(box, rec, "2002", "Carol", 1_700_000_000.0, 1.0).id)
    store.close()
    return tmp_path / "site.toml", ids


def test_list_export_play_delete(tmp_path: Path) -> None:
    site, (a, b) = seeded(tmp_path)
    out = run_cli("voicemail", "list", "--site", site)
    assert out.returncode == 0, out.stderr
    assert "Carol <2002>" in out.stdout and out.stdout.count("new") == 2
    rows = json.loads(run_cli("voicemail", "list", "2001", "--site", site, "--json").stdout)
    assert [r["id"] for r in rows] == [a]  # line 2001's box is 1001
    target = tmp_path / "out.wav"
    out = run_cli("voicemail", "export", str(a), target, "--site", site)
    assert out.returncode == 0, out.stderr
    assert abs(dominant_hz(target) - 500) < 5
    played = subprocess.run(
        [sys.executable, "-m", "skinnyctl", "voicemail", "play", str(b), "--site", str(site)],
        capture_output=True,
        cwd=ROOT,
        timeout=60,
    )
    assert played.returncode == 0 and played.stdout[:4] == b"RIFF"
    out = run_cli("voicemail", "delete", str(a), "--site", site)
    assert out.returncode == 0 and f"deleted message {a}" in out.stdout
    rows = json.loads(run_cli("voicemail", "list", "--site", site, "--json").stdout)
    assert [r["id"] for r in rows] == [b]
    out = run_cli("voicemail", "delete", str(a), "--site", site)
    assert out.returncode == 1 and f"no voicemail message {a}" in out.stderr
    out = run_cli("voicemail", "list", "1003", "--site", site)
    assert out.returncode == 1 and "neither a line" in out.stderr


def test_greeting_set_converts_any_wav_to_8k(tmp_path: Path) -> None:
    site, _ = seeded(tmp_path)
    src = write_wav(tmp_path / "hello.wav", tone(600, 2.0, rate=44100), rate=44100)
    out = run_cli("voicemail", "greeting", "set", "1001", src, "--kind", "busy", "--site", site)
    assert out.returncode == 0, out.stderr
    g = tmp_path / "state" / "voicemail" / "greetings" / "1001" / "busy.wav"
    assert wav_seconds(g) == 2.0 and abs(dominant_hz(g) - 600) < 5
    (tmp_path / "not.wav").write_text("hello")
    out = run_cli("voicemail", "greeting", "set", "1001", tmp_path / "not.wav", "--site", site)
    assert out.returncode == 1 and "not a WAV file" in out.stderr


def test_pin_writes_only_a_hash(tmp_path: Path) -> None:
    site, _ = seeded(tmp_path)
    cmd = [sys.executable, "-m", "skinnyctl", "voicemail", "pin", "1002", "--site", str(site)]
    done = subprocess.run(cmd, input="86420\n", capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "voicemail-pins.toml").read_text()
    assert "86420" not in text
    hashed = text.split('"1002" = "')[1].split('"')[0]
    assert verify("86420", hashed)
    assert (tmp_path / "voicemail-pins.toml").stat().st_mode & 0o777 == 0o600
    done = subprocess.run(cmd, input="12\n", capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 1 and "4 to 10 digits" in done.stderr
    assert run_cli("check", site).returncode == 0  # the pin file is valid for check


def test_prompts_export(tmp_path: Path) -> None:
    out = run_cli("voicemail", "prompts", "export", tmp_path / "p")
    assert out.returncode == 0 and (tmp_path / "p" / "goodbye.wav").exists()
