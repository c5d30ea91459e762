#!/usr/bin/env python3
"""Make the voicemail prompts: skinnyctl/apps/voicemail/prompts/<name>.wav, once, by hand.

Each prompt of ``skinnyctl.apps.voicemail.prompts.PROMPTS`` is spoken by espeak-ng (Debian
package espeak-ng, voice en-us) and turned by sox into 8 kHz mono 16-bit PCM: resampled with
sox's high-quality filter, band-limited to the telephone band, silence trimmed at both ends
(so composed numbers flow), a short pause added after, normalised to -3 dBFS, no dither (the
output is the same bytes on every run). "beep" is a 1 kHz tone of 0.4 s, not speech.

    python3 packaging/make_prompts.py            # (re)write every prompt
    python3 packaging/make_prompts.py --check    # exit 1 if a committed file differs

The files are committed: neither the build nor the tests need espeak-ng.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from skinnyctl.apps.voicemail.prompts import BEEP, PROMPTS  # noqa: E402

OUT = ROOT / "skinnyctl" / "apps" / "voicemail" / "prompts"
VOICE = ["-v", "en-us", "-s", "155", "-p", "45"]
TO_8K = ["-D", "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer"]
SHAPE = [
    "highpass", "200", "lowpass", "3400",
    "silence", "1", "0.02", "-45d", "reverse", "silence", "1", "0.02", "-45d", "reverse",
    "gain", "-n", "-3", "pad", "0.02", "0.15", "rate", "-v", "8000",
]  # fmt: skip


def make(name: str, text: str, target: Path) -> None:
    if name == BEEP:
        subprocess.run(
            ["sox", "-n", *TO_8K, str(target), "synth", "0.4", "sine", "1000",
             "fade", "h", "0.01", "0.4", "0.01", "gain", "-6"],
            check=True,
        )  # fmt: skip
        return
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        subprocess.run(["espeak-ng", *VOICE, "-w", str(raw), text], check=True)
        subprocess.run(["sox", str(raw), *TO_8K, str(target), *SHAPE], check=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="compare with the committed files")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    differ = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in PROMPTS.items():
            target = OUT / f"{name}.wav"
            fresh = Path(tmp) / f"{name}.wav" if args.check else target
            make(name, text, fresh)
            if args.check and (not target.exists() or target.read_bytes() != fresh.read_bytes()):
                differ.append(name)
    if args.check:
        print("differ: " + ", ".join(differ) if differ else f"all {len(PROMPTS)} prompts match")
        return 1 if differ else 0
    stale = [p for p in OUT.glob("*.wav") if p.stem not in PROMPTS]
    for p in stale:
        p.unlink()
    size = sum(p.stat().st_size for p in OUT.glob("*.wav"))
    print(f"wrote {len(PROMPTS)} prompts to {OUT} ({size // 1024} KiB); removed {len(stale)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
