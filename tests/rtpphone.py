"""Simulated RTP endpoints for the media tests, and tshark over what they received.

`Phone` is one UDP socket that sends RTP (random payloads, or given audio) and collects what
arrives with the kernel's arrival time. `write_udp_pcap` turns received packets into a pcap
(one UDP datagram per packet, arrival times kept) so tshark can dissect exactly what went over
loopback; `rtp_streams` runs ``-z rtp,streams`` on it.
"""

from __future__ import annotations

import math
import os
import random
import socket
import struct
import subprocess
import time
from pathlib import Path

import numpy as np

from tests.tshark import require_tshark

PTIME = 0.02
_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux value; not exported on 3.11


class Phone:
    """A phone's RTP endpoint: one UDP socket that sends paced RTP and collects what arrives."""

    def __init__(self, ip: str = "127.0.0.1") -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((ip, 0))
        self.sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.setblocking(False)
        self.addr: tuple[str, int] = self.sock.getsockname()
        self.ssrc = random.getrandbits(32)
        self.seq = random.getrandbits(16)
        self.ts = random.getrandbits(32)
        self.sent: list[bytes] = []
        self.received: list[tuple[float, bytes]] = []

    def packet(self, pt: int = 0, payload: bytes | None = None, marker: bool = False) -> bytes:
        payload = os.urandom(160) if payload is None else payload
        b1 = pt | (0x80 if marker else 0)
        pkt = struct.pack("!BBHII", 0x80, b1, self.seq, self.ts, self.ssrc) + payload
        self.seq = (self.seq + 1) & 0xFFFF
        self.ts = (self.ts + len(payload)) & 0xFFFFFFFF
        return pkt

    def send(self, dest: tuple[str, int], pkt: bytes | None = None) -> bytes:
        pkt = self.packet() if pkt is None else pkt
        self.sock.sendto(pkt, dest)
        self.sent.append(pkt)
        return pkt

    def drain(self) -> None:
        while True:
            try:
                data, anc, _flags, _src = self.sock.recvmsg(4096, 64)
            except BlockingIOError:
                return
            # kernel arrival time, so a busy test process does not distort measured pacing
            stamp = time.time()
            for level, kind, val in anc:
                if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS:
                    sec, nsec = struct.unpack("qq", val[:16])
                    stamp = sec + nsec / 1e9
            self.received.append((stamp, data))

    def take(self) -> list[bytes]:
        got = [d for _, d in self.received]
        self.received.clear()
        return got

    def close(self) -> None:
        self.sock.close()


def collect(phones: Phone | list[Phone], seconds: float) -> None:
    group = phones if isinstance(phones, list) else [phones]
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for p in group:
            p.drain()
        time.sleep(0.002)


def wait_for(cond: object, timeout: float, phones: list[Phone] = ()) -> bool:  # type: ignore[assignment]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in phones:
            p.drain()
        if callable(cond) and cond():
            return True
        time.sleep(0.005)
    return False


def sine(freq: float, samples: int, start: int = 0, amp: float = 8000.0) -> np.ndarray:
    t = (np.arange(samples) + start) / 8000
    return np.round(amp * np.sin(2 * math.pi * freq * t)).astype(np.int16)


def rtp_fields(pkt: bytes) -> tuple[int, int, int, int, int]:
    """(version, second byte (marker | PT), seq, ts, ssrc)."""
    b0, b1, seq, ts, ssrc = struct.unpack_from("!BBHII", pkt)
    return b0 >> 6, b1, seq, ts, ssrc


def spectrum_peaks(pcm: np.ndarray, freqs: list[float], rate: int = 8000) -> dict[float, float]:
    """Magnitude (relative to the strongest bin) around each frequency, Hann-windowed FFT."""
    x = pcm.astype(np.float64)
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    hz = np.fft.rfftfreq(len(x), 1 / rate)
    top = spec.max() or 1.0
    out = {}
    for f in freqs:
        band = (hz > f - 15) & (hz < f + 15)
        out[f] = float(spec[band].max() / top)
    return out


# -- tshark over received packets ------------------------------------------------------------


def write_udp_pcap(
    path: Path, packets: list[tuple[float, bytes]], src: tuple[str, int], dst: tuple[str, int]
) -> None:
    """One IPv4/UDP datagram per (arrival time, payload), link type raw IP (101)."""
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101))
    s_ip, d_ip = socket.inet_aton(src[0]), socket.inet_aton(dst[0])
    for stamp, data in packets:
        udp = struct.pack("!HHHH", src[1], dst[1], 8 + len(data), 0) + data
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0, s_ip, d_ip)
        frame = ip + udp
        sec = int(stamp)
        usec = int((stamp - sec) * 1e6)
        out += struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame
    path.write_bytes(bytes(out))


def tshark_run(pcap: Path, port: int, *args: str) -> str:
    return subprocess.run(
        [require_tshark(), "-r", str(pcap), "-d", f"udp.port=={port},rtp", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout


def rtp_streams(pcap: Path, port: int) -> list[dict[str, int | str]]:
    return parse_rtp_streams(tshark_run(pcap, port, "-q", "-z", "rtp,streams"))


def parse_rtp_streams(text: str) -> list[dict[str, int | str]]:
    """Rows of ``-z rtp,streams``: ssrc, packets, lost, "X" in problem when tshark flags the
    stream (a sequence error, a wrong timestamp, loss), and its sport and dport."""
    rows: list[dict[str, int | str]] = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 9 or "0x" not in line:
            continue
        ssrc_i = next(i for i, p in enumerate(parts) if p.startswith("0x"))
        # after the SSRC: payload name (may be 2 words), packets, lost, (pct) ...
        rest = parts[ssrc_i + 1 :]
        nums = [i for i, p in enumerate(rest) if p.lstrip("-").isdigit()]
        rows.append(
            {
                "ssrc": parts[ssrc_i],
                "sport": int(parts[ssrc_i - 3]),  # start, end, src, port, dst, port, SSRC
                "dport": int(parts[ssrc_i - 1]),
                "packets": int(rest[nums[0]]),
                "lost": int(rest[nums[1]]),
                "problem": "X" if line.rstrip().endswith("X") else "",
                "line": line,
            }
        )
    return rows
