"""TftpService against real TFTP clients (tftp-hpa's tftp, curl) on loopback."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from skinnyctl.errors import UserError
from skinnyctl.provision.render import render_device_file
from skinnyctl.site import load_site
from skinnyctl.site.discovered import DiscoveredDevices
from skinnyctl.site.model import Site
from skinnyctl.tftp.server import FIRMWARE_RESCAN, FetchEntry, TftpService

MAC = "001B54112233"  # in the site
STRANGER = "00AABBCCDDEE"  # not in the site

SITE = """
[server]
addresses = ["{cm}"]
tftp_root = "root"

[[lines]]
number = "100"
display_name = "Desk"

[[devices]]
mac = "00:1b:54:11:22:33"
model = "7960"

[[devices.buttons]]
type = "line"
line = "100"
"""


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is missing (CI is set)")
        pytest.skip(f"{tool} is not installed")
    return path


class Env:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.root = tmp / "root"
        self.root.mkdir()
        self.big = os.urandom(5 * 1024 * 1024)
        (self.root / "big.bin").write_bytes(self.big)
        (self.root / "RingList.xml").write_text("<CiscoIPPhoneRingList/>\n")
        (self.root / "lines.txt").write_bytes(b"one\ntwo\r\nthree\n")
        (self.root / f"SEP{STRANGER}.cnf.xml").write_text("<device>provisioned</device>")
        (tmp / "secret.txt").write_text("top secret")
        (self.root / "evil.xml").symlink_to(tmp / "secret.txt")
        self.site_file = tmp / "site.toml"
        self.set_call_manager("127.0.0.1")
        self.discovered = DiscoveredDevices()
        self.service = TftpService(self.root, "127.0.0.1", 0, lambda: self.site, self.discovered)

    def set_call_manager(self, address: str) -> None:
        self.site_file.write_text(SITE.format(cm=address))
        self.site: Site | None = load_site(self.site_file)

    @property
    def url(self) -> str:
        return f"tftp://127.0.0.1:{self.service.port}"

    def curl(self, name: str, *extra: str) -> tuple[int, bytes]:
        need("curl")
        out = self.tmp / "curl.out"
        out.unlink(missing_ok=True)
        cmd = ["curl", "-sS", "--path-as-is", *extra, "-o", str(out), f"{self.url}/{name}"]
        rc = subprocess.run(cmd, capture_output=True, timeout=60).returncode
        return rc, out.read_bytes() if out.exists() else b""

    def tftp(self, name: str, *, mode: str = "binary") -> bytes:
        """tftp-hpa's client (it has no blksize option: see atftp for that)."""
        need("tftp")
        out = self.tmp / "tftp.out"
        out.unlink(missing_ok=True)
        cmd = ["tftp", "-m", mode, "127.0.0.1", str(self.service.port), "-c", "get", name]
        subprocess.run([*cmd, str(out)], capture_output=True, timeout=60)
        return out.read_bytes() if out.exists() else b""

    def atftp(self, name: str, blksize: int) -> bytes:
        need("atftp")
        out = self.tmp / "atftp.out"
        out.unlink(missing_ok=True)
        cmd = ["atftp", "--option", f"blksize {blksize}", "-g", "-r", name, "-l", str(out)]
        subprocess.run([*cmd, "127.0.0.1", str(self.service.port)], capture_output=True, timeout=60)
        return out.read_bytes() if out.exists() else b""

    def wait_entry(self, name: str, count: int = 1) -> FetchEntry:
        """The transfer's log entry is written after its last ACK: wait for it."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            entries = [e for e in self.service.fetch_log if e.file == name]
            if len(entries) >= count:
                return entries[-1]
            time.sleep(0.01)
        raise AssertionError(f"no log entry for {name!r}: {self.service.fetch_log}")


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path)
    e.service.start()
    yield e
    e.service.stop()


def test_device_file_rendered_from_current_site(env: Env) -> None:
    name = f"SEP{MAC}.cnf.xml"
    expected = render_device_file(env.site, name)  # type: ignore[arg-type]
    assert expected and b"<device>" in expected
    rc, got = env.curl(name)
    assert rc == 0 and got == expected
    assert env.curl(name, "--tftp-blksize", "1428")[1] == expected
    assert env.tftp(name) == expected
    assert env.atftp(name, 1428) == expected
    assert env.wait_entry(name).source == "rendered"
    # An edited, reloaded site takes effect on the next request, no provision step.
    env.set_call_manager("127.0.0.9")
    rc, again = env.curl(name)
    assert rc == 0 and again != expected
    assert again == render_device_file(env.site, name)  # type: ignore[arg-type]


def test_provisioned_file_on_disk_still_served(env: Env) -> None:
    rc, got = env.curl(f"SEP{STRANGER}.cnf.xml")
    assert rc == 0 and got == b"<device>provisioned</device>"
    assert env.wait_entry(f"SEP{STRANGER}.cnf.xml").source == "disk"
    env.site = None  # no site loaded: device files come from the disk
    assert env.curl(f"SEP{MAC}.cnf.xml")[0] == 68


@pytest.mark.parametrize("blksize", [None, 1428])
def test_big_binary_identical(env: Env, blksize: int | None) -> None:
    extra = ("--tftp-blksize", str(blksize)) if blksize else ()
    rc, got = env.curl("big.bin", *extra)
    assert rc == 0 and got == env.big
    entry = env.wait_entry("big.bin")
    assert entry.result == "ok" and entry.bytes == len(env.big)
    assert entry.blksize == (blksize or 512)
    if blksize:
        assert env.atftp("big.bin", blksize) == env.big
    else:
        assert env.tftp("big.bin") == env.big
    entry = env.wait_entry("big.bin", 2)
    assert entry.result == "ok" and entry.bytes == len(env.big)
    assert entry.blksize == (blksize or 512)


def test_mixed_case_request(env: Env) -> None:
    assert env.tftp("rInGlIsT.XML") == b"<CiscoIPPhoneRingList/>\n"
    assert env.curl("RINGLIST.xml")[1] == b"<CiscoIPPhoneRingList/>\n"


def test_netascii_converted(env: Env) -> None:
    # tftp-hpa turns netascii back into local line ends: CR LF -> LF, CR NUL -> CR.
    assert env.tftp("lines.txt", mode="netascii") == b"one\ntwo\r\nthree\n"


def test_absent_file_is_error_1(env: Env) -> None:
    rc, _ = env.curl("CTLSEP001B54112233.tlv")
    assert rc == 68  # curl: TFTP "file not found"; a silent server would end in a timeout
    assert env.wait_entry("CTLSEP001B54112233.tlv").result == "not found"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../secret.txt", "traversal"),
        ("../../../../etc/passwd", "traversal"),
        ("/etc/passwd", "absolute path"),
        ("evil.xml", "symlink"),
    ],
)
def test_attacks_refused_with_curl(env: Env, name: str, reason: str) -> None:
    rc, got = env.curl(name)
    assert rc != 0 and b"secret" not in got and b"root:" not in got
    entry = env.wait_entry(name)
    assert entry.result == "refused" and reason in entry.reason


def test_backslash_traversal_refused_with_tftp(env: Env) -> None:
    name = "..\\..\\secret.txt"
    assert env.tftp(name) == b""
    assert "traversal" in env.wait_entry(name).reason


def test_backslash_path_served(env: Env) -> None:
    (env.root / "Desktops" / "320x212x12").mkdir(parents=True)
    (env.root / "Desktops" / "320x212x12" / "List.xml").write_text("<list/>")
    assert env.tftp("Desktops\\320x212x12\\list.xml") == b"<list/>"


def test_firmware_in_a_sub_folder_fetched_by_bare_name(env: Env) -> None:
    """loadInformation names SCCP41.9-4-2SR3-1S; the phone asks for the bare file names."""
    folder = env.root / "firmware" / "7961"
    folder.mkdir(parents=True)
    loads = b"SCCP41.9-4-2SR3-1S\njar41sccp.9-4-2ES26.sbn\n"
    image = os.urandom(300_000)
    (folder / "SCCP41.9-4-2SR3-1S.loads").write_bytes(loads)
    (folder / "jar41sccp.9-4-2ES26.sbn").write_bytes(image)
    rc, got = env.curl("SCCP41.9-4-2SR3-1S.loads")
    assert rc == 0 and got == loads
    assert env.tftp("jar41sccp.9-4-2ES26.sbn") == image
    assert env.tftp("JAR41SCCP.9-4-2ES26.SBN") == image  # case-insensitive as everywhere
    assert env.wait_entry("jar41sccp.9-4-2ES26.sbn").result == "ok"
    # The same copy in a second model folder is no clash; a different one is refused by name.
    other = env.root / "firmware" / "7941"
    other.mkdir()
    (other / "jar41sccp.9-4-2ES26.sbn").write_bytes(image)
    (other / "SCCP41.9-4-2SR3-1S.loads").write_bytes(b"something else")
    time.sleep(FIRMWARE_RESCAN + 0.1)
    assert env.tftp("jar41sccp.9-4-2ES26.sbn") == image
    rc, _ = env.curl("SCCP41.9-4-2SR3-1S.loads")
    assert rc == 68
    entry = env.wait_entry("SCCP41.9-4-2SR3-1S.loads", 2)
    assert entry.result == "not found" and "ambiguous" in entry.reason
    # Only firmware is found by bare name; other files keep their path.
    (folder / "notes.txt").write_text("x")
    assert env.curl("notes.txt")[0] == 68
    assert env.curl("firmware/7961/notes.txt")[1] == b"x"


def raw_request(port: int, packet: bytes) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(10)
        s.sendto(packet, ("127.0.0.1", port))
        return s.recvfrom(65536)[0]


def test_nul_in_name_refused(env: Env) -> None:
    # A NUL smuggled into the name makes the rest "mode" and "options": refused, not truncated.
    reply = raw_request(env.service.port, b"\x00\x01RingList.xml\x00../secret.txt\x00octet\x00")
    assert reply[:2] == b"\x00\x05"
    assert env.wait_entry("RingList.xml").result == "refused"
    reply = raw_request(env.service.port, b"\x00\x01Ring\x00List.xml\x00octet\x00")
    assert reply[:2] == b"\x00\x05"
    assert "malformed" in env.wait_entry("Ring").reason


def test_write_request_refused(env: Env) -> None:
    need("tftp")
    src = env.tmp / "upload.txt"
    src.write_text("x")
    subprocess.run(
        ["tftp", "127.0.0.1", str(env.service.port), "-c", "put", str(src), "upload.txt"],
        capture_output=True,
        timeout=30,
    )
    assert not (env.root / "upload.txt").exists()
    entry = env.wait_entry("upload.txt")
    assert entry.result == "refused" and "read-only" in entry.reason


def test_garbage_does_not_stop_the_server(env: Env) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for junk in (
            b"",
            b"\x00",
            b"\x00\x01",
            b"\x00\x01\xff\xfe",
            b"\x00\x04\x00\x01",
            b"x" * 9000,
        ):
            s.sendto(junk, ("127.0.0.1", env.service.port))
    assert env.curl("RingList.xml")[0] == 0


def test_twenty_concurrent_transfers(env: Env) -> None:
    need("curl")
    outs = [env.tmp / f"c{i}.bin" for i in range(20)]
    procs = [
        subprocess.Popen(
            [
                "curl",
                "-sS",
                *(["--tftp-blksize", "1428"] if i % 2 else []),
                "-o",
                str(o),
                f"{env.url}/big.bin",
            ]
        )
        for i, o in enumerate(outs)
    ]
    assert [p.wait(timeout=300) for p in procs] == [0] * 20
    assert all(o.read_bytes() == env.big for o in outs)
    env.wait_entry("big.bin", 20)
    assert sum(e.result == "ok" for e in env.service.fetch_log) == 20


def test_options_and_windowsize(env: Env) -> None:
    """A minimal RFC 7440 client: the OACK carries what we asked, the file arrives intact."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(10)
        opts = {b"blksize": b"1024", b"tsize": b"0", b"timeout": b"3", b"windowsize": b"8"}
        req = b"\x00\x01big.bin\x00octet\x00" + b"".join(
            k + b"\0" + v + b"\0" for k, v in opts.items()
        )
        s.sendto(req, ("127.0.0.1", env.service.port))
        oack, server = s.recvfrom(65536)
        assert oack[:2] == b"\x00\x06"
        fields = oack[2:].split(b"\x00")[:-1]
        got = dict(zip(fields[::2], fields[1::2], strict=True))
        assert got == {
            b"blksize": b"1024",
            b"tsize": str(len(env.big)).encode(),
            b"timeout": b"3",
            b"windowsize": b"8",
        }
        s.sendto(b"\x00\x04\x00\x00", server)
        data, expected_block, in_window = bytearray(), 1, 0
        while True:
            pkt = s.recvfrom(65536)[0]
            op, block = struct.unpack("!HH", pkt[:4])
            assert op == 3 and block == expected_block & 0xFFFF
            data += pkt[4:]
            expected_block += 1
            in_window += 1
            last = len(pkt) - 4 < 1024
            if in_window == 8 or last:
                s.sendto(struct.pack("!HH", 4, block), server)
                in_window = 0
            if last:
                break
    assert bytes(data) == env.big
    assert env.wait_entry("big.bin").windowsize == 8


def test_discovery_and_itl_warning(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="skinnyctl.tftp")
    env.curl(f"CTLSEP{STRANGER}.tlv")
    env.curl(f"ITLSEP{MAC}.tlv")  # a phone of the site: not "discovered"
    env.curl(f"SEP{STRANGER}.cnf.xml.sgn")
    assert [d.mac for d in env.discovered.list()] == [STRANGER]
    dev = env.discovered.get(STRANGER)
    assert dev is not None and dev.sources == ("tftp",) and dev.ip == "127.0.0.1"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("Erase" in w and "§6.5" in w and STRANGER in w for w in warnings)


def test_port_in_use_is_a_user_error(env: Env) -> None:
    other = TftpService(env.root, "127.0.0.1", env.service.port, lambda: None)
    with pytest.raises(UserError, match="already in use"):
        other.start()


def test_port_69_without_privilege_says_how_to_fix(tmp_path: Path) -> None:
    cmd = [
        "python",
        "-m",
        "skinnyctl",
        "tftp",
        "--root",
        str(tmp_path),
        "--host",
        "127.0.0.1",
        "--port",
        "69",
    ]
    if os.geteuid() == 0:
        cmd = [need("capsh"), "--drop=cap_net_bind_service", "--", "-c", " ".join(cmd)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    assert "permission denied" in proc.stderr and "setcap cap_net_bind_service" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_request_flood_does_not_flood_the_log(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    """UDP senders can be spoofed: 500 requests in a burst give the burst's lines and one
    summary, not 500 lines; the fetch log itself keeps recent entries."""
    caplog.set_level(logging.INFO, logger="skinnyctl.tftp")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for i in range(500):
            rrq = b"\x00\x01" + f"nothing-{i}.bin".encode() + b"\x00octet\x00"
            s.sendto(rrq, ("127.0.0.1", env.service.port))
            if i % 50 == 49:
                time.sleep(0.02)
        deadline = time.monotonic() + 5
        while len(env.service.fetch_log) < 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
    finally:
        s.close()
    env.curl(f"SEP{MAC}.cnf.xml")  # after the flood: logged again, with the count of the rest
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("tftp")]
    assert len(lines) < 150, len(lines)
    assert any("requests not logged" in line for line in lines)
