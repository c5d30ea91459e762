"""skinnyctl firmware import / list, with archives built here the way Cisco names their files
(no vendor file in the repository): zip, tar, a zip in a zip, a signed COP file holding a tgz
that holds a tar, and archives carrying path tricks."""

from __future__ import annotations

import gzip
import io
import os
import stat
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from skinnyctl.errors import UserError
from skinnyctl.provision.firmware import manifest_parts, scan_firmware
from skinnyctl.provision.fwimport import Progress, firmware_table, import_firmware
from skinnyctl.provision.render import Renderer
from skinnyctl.site import load_site
from skinnyctl.tftp.server import TftpService
from tests.clirun import run_cli
from tests.test_tftp_server import need

IMAGES_7961 = [
    "jar41sccp.9-4-2ES26.sbn",
    "cnu41.9-4-2ES26.sbn",
    "apps41.9-4-2ES26.sbn",
    "dsp41.9-4-2ES26.sbn",
    "cvm41sccp.9-4-2ES26.sbn",
]
FILES_7940 = ["P0030801SR02.loads", "P0030801SR02.bin", "P0030801SR02.sbn", "P0030801SR02.sb2"]


def signed(payload: bytes) -> bytes:
    """A Cisco .sgn-style file: TLV header (tag 1 version 1.0, tag 2 header length), padding
    standing for the signer fields, then the payload."""
    header = b"\x01\x00\x02\x01\x00" + b"\x02\x00\x02" + (64).to_bytes(2, "big")
    return header + b"\x07" * (64 - len(header)) + payload


def manifest(load: str, parts: list[str]) -> bytes:
    body = f'<?xml version="1.0"?>\n<IMAGES load="{load}">\n'
    body += "".join(f"  <IMAGE>{p}</IMAGE>\n" for p in parts)
    return signed((body + "</IMAGES>\n").encode())


def set_7961(big: int = 0) -> dict[str, bytes]:
    files = {name: os.urandom(2000) for name in IMAGES_7961}
    if big:
        files["cnu41.9-4-2ES26.sbn"] = os.urandom(big)
    for name in ("SCCP41.9-4-2SR3-1S.loads", "term41.default.loads", "term61.default.loads"):
        files[name] = manifest(name[: -len(".loads")], IMAGES_7961)
    return files


def make_zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return path


def tar_bytes(files: dict[str, bytes], mode: str = "w") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as t:  # type: ignore[call-overload]
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def tree(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*")}


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "site.toml").write_text(
        '[server]\naddresses = ["192.0.2.10"]\ntftp_root = "tftp"\n'
        '[[lines]]\nnumber = "100"\n'
        '[[devices]]\nmac = "001120AABB01"\nmodel = "7961"\n'
        '[[devices.buttons]]\ntype = "line"\nline = "100"\n'
        '[[devices]]\nmac = "001120AABB02"\nmodel = "7940"\n'
    )
    return tmp_path / "site.toml"


def test_zip_as_downloaded_then_list_and_provision(site: Path, tmp_path: Path) -> None:
    files = set_7961()
    archive = make_zip(
        tmp_path / "cmterm-7961-sccp.9-4-2SR3-1S.zip", {**files, "readme.txt": b"Cisco"}
    )
    r = run_cli("firmware", "import", archive, "--site", site)
    assert r.returncode == 0, r.stdout + r.stderr
    folder = tmp_path / "tftp" / "firmware" / "cmterm-7961-sccp.9-4-2SR3-1S"
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == files
    assert "load    SCCP41.9-4-2SR3-1S: complete (5 parts)" in r.stdout
    assert "skipped cmterm-7961-sccp.9-4-2SR3-1S.zip:readme.txt (not a firmware file)" in r.stdout
    assert "%" not in r.stderr  # no progress bar on a pipe
    # Importing again changes nothing.
    again = run_cli("firmware", "import", archive, "--site", site)
    assert "0 written, 8 already there" in again.stdout
    # Which load each model gets: the 7961 this one, the 7940 none.
    r = run_cli("firmware", "list", "--site", site)
    assert r.returncode == 0, r.stderr
    rows = {line.split()[0]: line for line in r.stdout.splitlines()}
    assert "SCCP41.9-4-2SR3-1S" in rows["7961"]
    assert "firmware/cmterm-7961-sccp.9-4-2SR3-1S/" in rows["7961"]
    assert "complete (5 parts)" in rows["7961"]
    assert "the phones keep their firmware" in rows["7940"]
    assert "SCCP41.9-4-2SR3-1S" in rows["7941"]  # another model the tree has a load for
    loaded = load_site(site)
    sep = Renderer(loaded).render_all()["SEP001120AABB01.cnf.xml"]
    assert b"<loadInformation>SCCP41.9-4-2SR3-1S</loadInformation>" in sep


def test_tar_flat_and_an_incomplete_manifest(site: Path, tmp_path: Path) -> None:
    files = {n: os.urandom(500) for n in FILES_7940}
    files["P0030801SR02.loads"] = b"P0030801SR02.bin P0030801SR02.sbn P0030801SR02.sb2\n"
    (tmp_path / "cmterm-7940-7960-sccp.8-1-2SR2.tar").write_bytes(tar_bytes(files))
    root = tmp_path / "tftp"
    result = import_firmware([tmp_path / "cmterm-7940-7960-sccp.8-1-2SR2.tar"], root, flat=True)
    assert result.ok and sorted(result.written) == sorted(files)
    assert {p.name for p in root.iterdir()} == set(files)
    assert [c.status for c in result.loads] == ["complete (3 parts)"]
    # A manifest naming an image the archive lacks is reported, and the command fails.
    part = {"SCCP42.9-4-2SR3-1S.loads": manifest("SCCP42.9-4-2SR3-1S", ["jar42sccp.9-4-2.sbn"])}
    (tmp_path / "part.tar").write_bytes(tar_bytes(part))
    r = run_cli("firmware", "import", tmp_path / "part.tar", "--site", site, "--into", "7962")
    assert r.returncode == 1
    assert "load    SCCP42.9-4-2SR3-1S: incomplete: jar42sccp.9-4-2.sbn missing" in r.stdout
    assert (root / "7962" / "SCCP42.9-4-2SR3-1S.loads").is_file()


def test_nested_zip_and_signed_cop_holding_a_tgz_holding_a_tar(tmp_path: Path) -> None:
    inner = make_zip(tmp_path / "inner.zip", set_7961())
    outer = make_zip(
        tmp_path / "cmterm-7961-sccp.9-4-2SR3-1S-bundle.zip",
        {"cmterm-7961-sccp.9-4-2SR3-1S.zip": inner.read_bytes(), "ReadMe.pdf": b"%PDF"},
    )
    root = tmp_path / "tftp"
    result = import_firmware([outer], root)
    assert result.ok, result.lines()
    assert len(result.written) == 8 and [c.load for c in result.loads] == [
        "SCCP41.9-4-2SR3-1S",
        "term41.default",
        "term61.default",
    ]
    # A COP file: signature header, gzip'd tar, holding another tar (Wazo's "unsign, untar
    # twice"). Named .cop.sgn; what it is comes from its bytes.
    tar = tar_bytes({"usr/local/cm/tftp/SCCP45.9-4-2SR4-3S.loads": manifest("x", [])})
    cop = signed(tar_bytes({"payload.tar": tar}, mode="w:gz"))
    (tmp_path / "cmterm-7945_7965-sccp.9-4-2SR4-3.cop.sgn").write_bytes(cop)
    result = import_firmware([tmp_path / "cmterm-7945_7965-sccp.9-4-2SR4-3.cop.sgn"], root)
    assert result.written == ["firmware/cmterm-7945_7965-sccp.9-4-2SR4-3/SCCP45.9-4-2SR4-3S.loads"]
    # ...and a .cop.sgn that is really a plain tar, unsigned.
    (tmp_path / "really-a-tar.cop.sgn").write_bytes(tar_bytes({"SCCP31.9-3-1SR4-1S.loads": b""}))
    result = import_firmware([tmp_path / "really-a-tar.cop.sgn"], root)
    assert result.written == ["firmware/really-a-tar/SCCP31.9-3-1SR4-1S.loads"]
    index = scan_firmware(root)
    assert index.load_for(30018) == "SCCP41.9-4-2SR3-1S" and index.load_for(436)


def test_path_tricks_are_refused_and_nothing_lands_outside(site: Path, tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:

        def add(name: str, data: bytes = b"x", **kw: object) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data) if not kw else 0
            for k, v in kw.items():
                setattr(info, k, v)
            t.addfile(info, io.BytesIO(data) if not kw else None)

        add("../../escaped.sbn")
        add("/tmp/absolute.loads")
        add("firmware\\..\\..\\backslash.sbn")
        add("link.sbn", type=tarfile.SYMTYPE, linkname="/etc/passwd")
        add("hard.sbn", type=tarfile.LNKTYPE, linkname="../../etc/shadow")
        add("null.sbn", type=tarfile.CHRTYPE, devmajor=1, devminor=3)
        add("fifo.sbn", type=tarfile.FIFOTYPE)
        add("SCCP11.9-4-2SR3-1S.loads", b"fine")
    tricks = tmp_path / "tricks.tar"
    tricks.write_bytes(buf.getvalue())
    zip_tricks = tmp_path / "tricks.zip"
    with zipfile.ZipFile(zip_tricks, "w") as z:
        z.writestr("../../../zip-escaped.loads", b"x")
        link = zipfile.ZipInfo("zip-link.sbn")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(link, "/etc/passwd")
        z.writestr("dsp11.9-4-2ES26.sbn", b"fine too")
    before = tree(tmp_path)
    r = run_cli("firmware", "import", tricks, zip_tricks, "--site", site)
    assert r.returncode == 1
    for entry, why in [
        ("tricks.tar:../../escaped.sbn", "path traversal"),
        ("tricks.tar:/tmp/absolute.loads", "absolute name"),
        ("tricks.tar:firmware\\..\\..\\backslash.sbn", "path traversal"),
        ("tricks.tar:link.sbn", "symbolic link to /etc/passwd"),
        ("tricks.tar:hard.sbn", "hard link"),
        ("tricks.tar:null.sbn", "device, FIFO"),
        ("tricks.tar:fifo.sbn", "device, FIFO"),
        ("tricks.zip:../../../zip-escaped.loads", "path traversal"),
        ("tricks.zip:zip-link.sbn", "symbolic link"),
    ]:
        assert f"REFUSED {entry}: {why}" in r.stdout, (entry, r.stdout)
    # The two honest entries were imported; nothing else appeared anywhere.
    new = tree(tmp_path) - before
    assert new == {
        "tftp",
        "tftp/firmware",
        "tftp/firmware/tricks",
        "tftp/firmware/tricks/SCCP11.9-4-2SR3-1S.loads",
        "tftp/firmware/tricks/dsp11.9-4-2ES26.sbn",
    }
    assert not (Path("/tmp") / "absolute.loads").exists()


def test_target_outside_the_root_and_odd_inputs(tmp_path: Path) -> None:
    root = tmp_path / "tftp"
    archive = make_zip(tmp_path / "a.zip", {"SCCP11.9-4-2SR3-1S.loads": b""})
    with pytest.raises(UserError, match="inside the TFTP root"):
        import_firmware([archive], root, into="../elsewhere")
    (root / "firmware").mkdir(parents=True)
    (root / "firmware" / "out").symlink_to(tmp_path)
    with pytest.raises(UserError, match="leads outside the TFTP root"):
        import_firmware([archive], root, into="firmware/out")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(UserError, match="neither a zip or tar archive"):
        import_firmware([tmp_path / "notes.txt"], root)
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 and then nothing")
    with pytest.raises(UserError, match="not a readable zip archive"):
        import_firmware([tmp_path / "broken.zip"], root)
    (tmp_path / "x.tgz").write_bytes(gzip.compress(b"not a tar at all" * 100))
    result = import_firmware([tmp_path / "x.tgz"], root)
    assert result.refused == [("x.tgz", "gz-compressed, but not a tar archive")]
    # A loose load file is taken as it is, signed or not.
    loose = manifest("SCCP31.9-3-1SR4-1S", ["jar31sccp.9-3-1.sbn"])
    (tmp_path / "SCCP31.9-3-1SR4-1S.loads").write_bytes(loose)
    result = import_firmware([tmp_path / "SCCP31.9-3-1SR4-1S.loads"], root, flat=True)
    assert result.written == ["SCCP31.9-3-1SR4-1S.loads"]
    assert (root / "SCCP31.9-3-1SR4-1S.loads").read_bytes() == loose


def test_second_copy_with_other_content_is_a_clash(tmp_path: Path) -> None:
    root = tmp_path / "tftp"
    files = set_7961()
    import_firmware([make_zip(tmp_path / "one.zip", files)], root)
    changed = {**files, "dsp41.9-4-2ES26.sbn": b"another build"}
    result = import_firmware([make_zip(tmp_path / "two.zip", changed)], root)
    assert not result.ok
    assert "dsp41.9-4-2ES26.sbn is at firmware/one/dsp41.9-4-2ES26.sbn and " in result.clashes
    # Within one import, the second of two entries with one name is refused.
    dup = make_zip(tmp_path / "dup.zip", {"a/x.sbn": b"1", "b/x.sbn": b"2"})
    result = import_firmware([dup], root)
    assert result.refused == [
        ("dup.zip:b/x.sbn", "a second x.sbn (the first came from dup.zip:a/x.sbn)")
    ]


def test_each_archive_into_its_own_folder(tmp_path: Path) -> None:
    root = tmp_path / "tftp"
    a = make_zip(tmp_path / "cmterm-7961-sccp.9-4-2SR3-1S.zip", set_7961())
    b = tmp_path / "cmterm-7940-7960-sccp.8-1-2SR2.tar"
    b.write_bytes(tar_bytes({n: b"x" for n in FILES_7940}))
    result = import_firmware([a, b], root)
    assert result.targets == [
        root / "firmware" / "cmterm-7961-sccp.9-4-2SR3-1S",
        root / "firmware" / "cmterm-7940-7960-sccp.8-1-2SR2",
    ]
    assert "firmware/cmterm-7940-7960-sccp.8-1-2SR2/P0030801SR02.sb2" in result.written


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal_only(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "big.zip", set_7961(big=6 << 20))
    tty = _Tty()
    import_firmware([archive], tmp_path / "tftp", progress=tty)
    shown = tty.getvalue()
    assert "\r  cnu41.9-4-2ES26.sbn  100% [====================] 6.3/6.3 MB\n" in shown
    assert "jar41sccp" not in shown  # small files: no bar
    bar = Progress(io.StringIO(), "x", 10 << 20)  # not a terminal: silent
    bar.update(5 << 20)
    bar.close()
    assert bar.stream is None


def test_manifest_parts_read_through_a_signature() -> None:
    data = manifest("SCCP41.9-4-2SR3-1S", IMAGES_7961)
    assert manifest_parts(data, "SCCP41.9-4-2SR3-1S.loads") == IMAGES_7961
    assert manifest_parts(b"\x00\x01binary junk") == []


def test_imported_firmware_fetched_by_bare_name_over_tftp(site: Path, tmp_path: Path) -> None:
    need("curl")
    files = set_7961()
    import_firmware([make_zip(tmp_path / "cmterm-7961.zip", files)], tmp_path / "tftp")
    with TftpService(tmp_path / "tftp", "127.0.0.1", 0, lambda: load_site(site)) as tftp:
        out = tmp_path / "got.sbn"
        url = f"tftp://127.0.0.1:{tftp.port}/cvm41sccp.9-4-2ES26.sbn"
        subprocess.run(["curl", "-sS", "-o", str(out), url], check=True, timeout=60)
        assert out.read_bytes() == files["cvm41sccp.9-4-2ES26.sbn"]
    lines = firmware_table(load_site(site), tmp_path / "tftp")
    assert lines[0].split() == ["model", "load", "source", "files"]
