"""``skinnyctl firmware import`` and ``skinnyctl firmware list``.

Import takes the phone firmware archives as users download them from Cisco and puts their load
files in the TFTP root, where the TFTP server finds them by bare name (provisioning.md §4):

- The kind of archive is read from its first bytes, never from its name: zip, tar (plain,
  gzip, bzip2, xz), or a Cisco signed file (``.cop.sgn``, ``.sgn``) whose signature header is
  skipped to reach the archive inside. Archives inside archives (a zip in a zip, a tar in the
  tgz of a COP file) are opened in turn, up to :data:`MAX_DEPTH` deep.
- Only firmware files (the suffixes of :data:`~skinnyctl.provision.firmware.FIRMWARE_SUFFIXES`)
  are extracted, each under its bare name into one folder: ``firmware/<archive name>/`` by
  default, the root itself with ``flat``, or a folder of one's choice. Other files are listed
  as skipped.
- An entry with an absolute name, a ``..`` component, a link (symbolic or hard), or a device,
  FIFO or socket is refused and reported; nothing is ever written outside the target folder,
  which must lie inside the TFTP root. Files are written atomically.
- Each ``.loads`` manifest is checked: every part it names must now be in the tree.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import lzma
import os
import re
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath
from typing import IO, BinaryIO, cast

from skinnyctl.errors import UserError
from skinnyctl.provision.firmware import (
    FIRMWARE_SUFFIXES,
    FirmwareIndex,
    LoadCheck,
    check_load,
    scan_firmware,
)
from skinnyctl.site.atomic import write_chunks_atomic
from skinnyctl.site.catalog import PHONE_MODELS
from skinnyctl.site.model import Site

MAX_DEPTH = 3  # archive in archive in archive: a COP file's tgz holding a tar is depth 2
MAX_MEMBER = 2 << 30  # no phone image comes near 2 GiB; a bigger entry is refused
PROGRESS_FROM = 4 << 20  # entries this large get a progress bar (on a terminal)
_CHUNK = 1 << 20
_ARCHIVE_SUFFIXES = (".cop.sgn", ".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".zip", ".tar", ".sgn")
_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass
class ImportResult:
    targets: list[Path] = field(default_factory=list)  # the folders written into
    written: list[str] = field(default_factory=list)  # relative to the TFTP root
    unchanged: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "archive:entry", not firmware
    refused: list[tuple[str, str]] = field(default_factory=list)  # ("archive:entry", why)
    loads: list[LoadCheck] = field(default_factory=list)
    clashes: str = ""  # bare names now found twice with different content

    @property
    def ok(self) -> bool:
        return not self.refused and not self.clashes and not any(c.missing for c in self.loads)

    def lines(self) -> list[str]:
        out = [f"wrote   {p}" for p in self.written]
        out += [f"same    {p} (already there)" for p in self.unchanged]
        out += [f"skipped {p} (not a firmware file)" for p in self.skipped]
        out += [f"REFUSED {p}: {why}" for p, why in self.refused]
        out += [f"load    {c.load}: {c.status}" for c in self.loads]
        if self.clashes:
            out.append(f"CLASH   {self.clashes}: provision will refuse; remove one copy")
        out.append(
            f"{len(self.written)} written, {len(self.unchanged)} already there, "
            f"{len(self.skipped)} skipped, {len(self.refused)} refused, into "
            + ", ".join(map(str, self.targets))
        )
        return out


# -- what kind of file is this ----------------------------------------------------------------


def _kind(head: bytes) -> str:
    """ "zip", "tar", "gz", "bz2", "xz", "sgn" or "" from a file's first bytes (512 or more)."""
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if head[:2] == b"\x1f\x8b":
        return "gz"
    if head[:3] == b"BZh":
        return "bz2"
    if head[:6] == b"\xfd7zXZ\x00":
        return "xz"
    if head[257:262] == b"ustar":
        return "tar"
    if (
        len(head) >= 10
        and head[0] == 1
        and head[1:3] == b"\x00\x02"
        and head[5:8] == b"\x02\x00\x02"
    ):
        return "sgn"  # Cisco signature header: tag 1 version, tag 2 header length
    return ""


def _stem(name: str) -> str:
    lower = name.lower()
    for suffix in _ARCHIVE_SUFFIXES:
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return name.rsplit(".", 1)[0] if "." in name else name


def _is_firmware(name: str) -> bool:
    return name.lower().endswith(FIRMWARE_SUFFIXES) and not name.lower().endswith(".cop.sgn")


def _bad_name(name: str) -> str:
    """Why an entry name is refused, or ""."""
    if "\x00" in name:
        return "NUL byte in the name"
    n = name.replace("\\", "/")
    if n.startswith("/") or _DRIVE.match(n):
        return "absolute name"
    if ".." in PurePosixPath(n).parts:
        return "path traversal ('..' in the name)"
    return ""


# -- copying, with a progress bar on a terminal -------------------------------------------------


class Progress:
    """``\\r name  42% [========            ] 12.0/28.5 MB`` on ``stream`` while copying a large
    file, if ``stream`` is a terminal; nothing otherwise."""

    def __init__(self, stream: IO[str] | None, name: str, total: int) -> None:
        self.stream = stream if stream is not None and total >= PROGRESS_FROM else None
        if self.stream is not None and not self.stream.isatty():
            self.stream = None
        self.name, self.total, self.done, self._shown = name, total, 0, -1

    def update(self, n: int) -> None:
        self.done += n
        if self.stream is None:
            return
        pct = min(100, self.done * 100 // max(1, self.total))
        if pct != self._shown:
            self._shown = pct
            bar = "=" * (pct // 5)
            self.stream.write(
                f"\r  {self.name}  {pct:3d}% [{bar:<20}] "
                f"{self.done / 1e6:.1f}/{self.total / 1e6:.1f} MB"
            )
            self.stream.flush()

    def close(self) -> None:
        if self.stream is not None and self._shown >= 0:
            self.stream.write("\n")
            self.stream.flush()


def _write(src: IO[bytes], size: int, dest: Path, progress: IO[str] | None) -> bool:
    """Copy ``src`` to ``dest`` atomically; False if ``dest`` already held the same bytes."""
    before = _digest(dest) if dest.is_file() and dest.stat().st_size == size else None
    digest = hashlib.sha256()
    bar = Progress(progress, dest.name, size)

    def chunks() -> Iterator[bytes]:
        copied = 0
        while chunk := src.read(_CHUNK):
            copied += len(chunk)
            if copied > MAX_MEMBER:
                raise UserError(f"{dest.name}: larger than {MAX_MEMBER >> 30} GiB, refused")
            digest.update(chunk)
            bar.update(len(chunk))
            yield chunk

    try:
        write_chunks_atomic(dest, chunks(), 0o644)
    finally:
        bar.close()
    return digest.hexdigest() != before


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


# -- walking archives -------------------------------------------------------------------------


@dataclass
class _Entry:
    name: str
    size: int
    open: Callable[[], IO[bytes]]


def _zip_entries(f: BinaryIO, where: str, result: ImportResult) -> Iterator[_Entry]:
    try:
        zf = zipfile.ZipFile(f)
    except zipfile.BadZipFile as e:
        raise UserError(f"{where}: not a readable zip archive ({e})") from None
    with zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                result.refused.append((f"{where}:{info.filename}", "symbolic link"))
                continue
            if stat.S_IFMT(mode) not in (0, stat.S_IFREG):  # 0: no Unix type recorded
                result.refused.append((f"{where}:{info.filename}", "not a regular file"))
                continue
            yield _Entry(info.filename, info.file_size, partial(zf.open, info))


def _tar_entries(f: BinaryIO, where: str, result: ImportResult) -> Iterator[_Entry]:
    try:
        tf = tarfile.open(fileobj=f, mode="r:*")  # noqa: SIM115 (the with-block below)
    except (tarfile.TarError, EOFError, OSError) as e:
        raise UserError(f"{where}: not a readable tar archive ({e})") from None
    with tf:
        try:
            for member in tf:
                name = f"{where}:{member.name}"
                if member.isdir():
                    continue
                if member.issym():
                    result.refused.append((name, f"symbolic link to {member.linkname}"))
                elif member.islnk():
                    result.refused.append((name, f"hard link to {member.linkname}"))
                elif not member.isreg():
                    result.refused.append((name, "device, FIFO or other special entry"))
                else:
                    yield _Entry(member.name, member.size, partial(_tar_open, tf, member))
        except (tarfile.TarError, EOFError, zlib.error) as e:
            raise UserError(f"{where}: damaged tar archive ({e})") from None


def _same(f: IO[bytes]) -> IO[bytes]:
    return f


def _tar_open(tf: tarfile.TarFile, member: tarfile.TarInfo) -> IO[bytes]:
    f = tf.extractfile(member)
    assert f is not None  # a regular member always has data
    return f


@contextmanager
def _spooled(src: IO[bytes]) -> Iterator[BinaryIO]:
    """A seekable copy of a stream (an archive inside an archive), on disk past 64 MB."""
    with tempfile.SpooledTemporaryFile(max_size=64 << 20) as tmp:
        shutil.copyfileobj(src, tmp, _CHUNK)
        tmp.seek(0)
        yield tmp  # type: ignore[misc]


class _Importer:
    def __init__(self, root: Path, progress: IO[str] | None) -> None:
        self.root, self.progress = root, progress
        self.target = root
        self.result = ImportResult()
        self.seen: dict[str, str] = {}  # name in its folder (lower) -> the entry it came from

    def into(self, target: Path) -> None:
        """Write what follows into ``target``, which must lie inside the root."""
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserError(f"cannot create {target}: {e.strerror}") from None
        real_root, real_target = os.path.realpath(self.root), os.path.realpath(target)
        if not (real_target + os.sep).startswith(real_root.rstrip(os.sep) + os.sep):
            raise UserError(f"{target} leads outside the TFTP root {self.root} (a symbolic link?)")
        self.target = target
        if target not in self.result.targets:
            self.result.targets.append(target)

    def file(self, path: Path) -> None:
        try:
            f = open(path, "rb")  # noqa: SIM115 (a with-block below)
        except OSError as e:
            raise UserError(f"cannot read {path}: {e.strerror}") from None
        with f:
            if self._archive(f, path.name, 0):
                return
            if not _is_firmware(path.name):
                raise UserError(
                    f"{path}: neither a zip or tar archive (nor a signed file holding one) "
                    "nor a firmware file"
                )
            f.seek(0)
            self._extract(_Entry(path.name, path.stat().st_size, lambda: f), str(path))

    def _archive(self, f: BinaryIO, where: str, depth: int) -> bool:
        """Import from ``f`` if it is an archive; False if it is not one."""
        head = f.read(1024)
        f.seek(0)
        kind = _kind(head)
        if not kind:
            return False
        if depth >= MAX_DEPTH:
            self.result.refused.append((where, f"archive nested more than {MAX_DEPTH} deep"))
            return True
        if kind == "sgn":
            length = int.from_bytes(head[8:10], "big")
            f.seek(length)
            with _spooled(f) as payload:
                return self._archive(payload, f"{where}(signed)", depth + 1)  # or a signed image
        if kind == "zip":
            entries = _zip_entries(f, where, self.result)
        elif kind in ("gz", "bz2", "xz") and not self._is_tar(f, kind):
            self.result.refused.append((where, f"{kind}-compressed, but not a tar archive"))
            return True
        else:
            entries = _tar_entries(f, where, self.result)
        for entry in entries:
            label = f"{where}:{entry.name}"
            why = _bad_name(entry.name)
            if why:
                self.result.refused.append((label, why))
                continue
            if entry.size > MAX_MEMBER:
                self.result.refused.append((label, f"larger than {MAX_MEMBER >> 30} GiB"))
                continue
            base = entry.name.replace("\\", "/").rsplit("/", 1)[-1]
            if _is_firmware(base):
                with entry.open() as src:
                    self._extract(_Entry(base, entry.size, partial(_same, src)), label)
                continue
            with entry.open() as src:
                head = src.read(1024)
            if not _kind(head):
                self.result.skipped.append(label)
                continue
            with entry.open() as src, _spooled(src) as inner:
                self._archive(inner, label, depth + 1)
        return True

    @staticmethod
    def _is_tar(f: BinaryIO, kind: str) -> bool:
        # mode given: a spooled temporary file says "w+b", which GzipFile would obey
        openers: dict[str, Callable[[], IO[bytes]]] = {
            "gz": lambda: cast(IO[bytes], gzip.GzipFile(fileobj=f, mode="rb")),
            "bz2": lambda: bz2.BZ2File(f, mode="rb"),
            "xz": lambda: lzma.LZMAFile(f, mode="rb"),  # noqa: SIM115 (opened in the with)
        }
        try:
            with openers[kind]() as inner:
                head = inner.read(512)
        except (OSError, EOFError, lzma.LZMAError):
            head = b""
        f.seek(0)
        return _kind(head + b"\0" * 512) == "tar"

    def _extract(self, entry: _Entry, label: str) -> None:
        key = f"{self.target}/{entry.name.lower()}"
        if key in self.seen:
            self.result.refused.append(
                (label, f"a second {entry.name} (the first came from {self.seen[key]})")
            )
            return
        self.seen[key] = label
        dest = self.target / entry.name
        rel = dest.relative_to(self.root).as_posix()
        with entry.open() as src:
            changed = _write(src, entry.size, dest, self.progress)
        (self.result.written if changed else self.result.unchanged).append(rel)


def _target(root: Path, archive: Path, flat: bool, into: str | None) -> Path:
    if flat and into:
        raise UserError("give --flat or --into, not both")
    if flat:
        return root
    if into is not None:
        why = _bad_name(into)
        if why or not into.strip("/"):
            raise UserError(f"--into {into}: give a folder inside the TFTP root ({why or 'empty'})")
        return root / into.strip("/")
    return root / "firmware" / _stem(archive.name)


def tftp_root_of(site_file: Path, root: Path | None, site: Site | None = None) -> Path:
    """``root`` if given, else the site's tftp_root (the site is loaded if not given)."""
    if root is not None:
        return root
    if site is None:
        from skinnyctl.site import load_site

        site = load_site(site_file)
    return site.resolve(site.server.tftp_root)


def import_firmware(
    files: list[Path],
    root: Path,
    *,
    flat: bool = False,
    into: str | None = None,
    progress: IO[str] | None = None,
) -> ImportResult:
    """Extract the load files of ``files`` into the TFTP root ``root`` and check them: each
    archive into ``firmware/<its name>/``, or all into the root (``flat``) or ``into``."""
    if not files:
        raise UserError("no file to import: give the firmware archives, e.g. cmterm-...zip")
    importer = _Importer(root, progress)
    for path in files:
        importer.into(_target(root, path, flat, into))
        importer.file(path)
    result = importer.result
    index = scan_firmware(root)
    for rel in result.written + result.unchanged:
        name = rel.rsplit("/", 1)[-1]
        if name.lower().endswith(".loads"):
            result.loads.append(check_load(root, index, name[: -len(".loads")]))
    result.clashes = index.clash_text()
    return result


# -- firmware list ----------------------------------------------------------------------------


def firmware_table(site: Site, root: Path, index: FirmwareIndex | None = None) -> list[str]:
    """Per model: the load its phones will get, from where, and whether its files are all
    there. Models of the site come first; then every other model with a load in the tree."""
    index = index or scan_firmware(root)
    in_site = list(dict.fromkeys(d.model.name for d in site.devices))
    others = [
        m.name
        for m in PHONE_MODELS.values()
        if m.name not in in_site and index.load_for(m.device_type)
    ]
    rows = [("model", "load", "source", "files")]
    for name in in_site + others:
        model = PHONE_MODELS[name]
        settings = site.models.get(name)
        configured = settings.firmware if settings else ""
        load = configured or index.load_for(model.device_type)
        if not load:
            rows.append((name, "-", "-", "none in the tree: the phones keep their firmware"))
            continue
        source = f'[models."{name}"]' if configured else _where(index, load)
        present = index.has_load(load)
        status = check_load(root, index, load).status if present else "ABSENT from the tree"
        rows.append((name, load, source, status))
    for d in site.devices:
        if d.firmware:
            check = check_load(root, index, d.firmware)
            status = check.status if index.has_load(d.firmware) else "ABSENT from the tree"
            rows.append((f"{d.name} ({d.model.name})", d.firmware, "device firmware", status))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return [
        f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}".rstrip()
        for r in rows
    ]


def _where(index: FirmwareIndex, load: str) -> str:
    for rel in index.files:
        base = rel.rsplit("/", 1)[-1]
        if base.lower().startswith(load.lower() + "."):
            return (rel.rsplit("/", 1)[0] + "/") if "/" in rel else "(root)"
    return "-"
