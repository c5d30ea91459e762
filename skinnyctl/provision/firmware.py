"""Which firmware loads are present under the TFTP root (provisioning.md §4).

Phones are told a load *name* (``loadInformation``, no ``.loads`` suffix) and fetch the files
themselves. Rather than rewrite rules, we scan the tree once and recognise load names by the
patterns of Cisco's files; the TFTP server finds the files by name wherever they sit.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

# (pattern on the file name, device type ids). The pattern's group "load" is the load name the
# phone is told. Only the file a phone fetches *first* identifies a load: the .loads manifest
# for the Java family, 69xx, 89xx and 792x; the single image for the others.
_J = r"(?P<load>SCCP{}\.[0-9A-Za-z.-]+)\.loads"
LOAD_PATTERNS: tuple[tuple[re.Pattern[str], tuple[int, ...]], ...] = tuple(
    (re.compile(p, re.IGNORECASE), types)
    for p, types in [
        (r"(?P<load>P003[0-9A-Z]{8})\.(?:loads|bin|sbn)", (7, 8)),  # 7960, 7940
        (r"(?P<load>P004[0-9A-Z]{8})\.(?:bin|sbn)", (6,)),  # 7910
        (_J.format("41"), (115, 309, 30018, 308)),
        (_J.format("42"), (434, 404)),
        (_J.format("45"), (435, 436)),
        (_J.format("70"), (30006, 119)),
        (_J.format("75"), (437,)),
        (_J.format("11"), (369, 307)),
        (_J.format("31"), (348,)),
        (_J.format("6901"), (547,)),
        (_J.format("6911"), (548,)),
        (_J.format("69xx"), (495, 496, 497)),
        (_J.format("6945"), (564,)),
        (r"(?P<load>SCCP(?:894x|8941_8945)\.[0-9A-Za-z.-]+)\.loads", (586, 585)),
        (r"(?P<load>apps37sccp\.[0-9A-Za-z.-]+)\.bin", (431,)),
        (r"(?P<load>CP7902[0-9]+SCCP[0-9A-Z]+)\.sbin", (30008,)),
        (r"(?P<load>CP7905[0-9]+SCCP[0-9A-Z]+)\.(?:sbin|zup)", (20000,)),
        (r"(?P<load>CP7912[0-9]+SCCP[0-9A-Z]+)\.(?:sbin|zup)", (30007,)),
        (r"(?P<load>cmterm_7920\.[0-9A-Za-z.-]+)\.bin", (30002,)),
        (r"(?P<load>CP7921G-[0-9A-Za-z.]+)\.loads", (365,)),
        (r"(?P<load>CP7925G-[0-9A-Za-z.]+)\.loads", (484,)),
        (r"(?P<load>CP7926G-[0-9A-Za-z.]+)\.loads", (577,)),
        (r"(?P<load>ATA[0-9]+SCCP[0-9A-Z]+)\.zup", (12, 13)),
    ]
)

# termNN.default.loads: an alias manifest naming "whatever load sits here" (§4). Used only when
# no explicit SCCPnn load is present.
_TERM = re.compile(r"(?P<load>term(?P<nn>\d\d)\.default)\.loads", re.IGNORECASE)
_TERM_TYPES: dict[str, tuple[int, ...]] = {
    "41": (115, 309),
    "61": (30018, 308),
    "42": (434,),
    "62": (404,),
    "45": (435,),
    "65": (436,),
    "70": (30006,),
    "71": (119,),
    "75": (437,),
    "06": (369,),
    "11": (307,),
    "31": (348,),
}

# Suffixes of firmware files: what counts as "the load is present" for a configured name.
FIRMWARE_SUFFIXES = (".loads", ".bin", ".sbn", ".sb2", ".sbin", ".zup", ".sgn")


def _natural(text: str) -> list[object]:
    """Sort key so that 9-4-2SR3 sorts after 9-4-2SR10 is not mistaken (numbers as numbers)."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


@dataclass(frozen=True)
class FirmwareIndex:
    """Load names present in the tree: by device type (newest first chosen) and all names."""

    by_type: dict[int, str] = field(default_factory=dict)
    names: frozenset[str] = frozenset()  # every firmware file stem, lowercased
    files: tuple[str, ...] = ()  # relative paths of firmware files, sorted
    # Bare file name (lowercased) -> the one relative path holding it. Phones ask for the bare
    # names loadInformation and the .loads manifests give, never for a folder.
    by_name: dict[str, str] = field(default_factory=dict)
    # Bare names found at several paths with different content: which file is meant is unknown.
    clashes: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def has_load(self, load: str) -> bool:
        """Whether files for ``load`` (as named in loadInformation) are in the tree."""
        return load.lower() in self.names

    def load_for(self, device_type: int) -> str:
        return self.by_type.get(device_type, "")

    def clash_text(self) -> str:
        """The clashes as one message naming every path, or "" when names are unique."""
        return "; ".join(
            f"{paths[0].rsplit('/', 1)[-1]} is at {' and '.join(paths)}"
            for _name, paths in sorted(self.clashes.items())
        )


def _walk(root: Path) -> list[str]:
    out: list[str] = []
    if not root.is_dir():
        return out
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        rel = Path(dirpath).relative_to(root)
        for name in sorted(filenames):
            out.append(str(rel / name) if str(rel) != "." else name)
    return out


@lru_cache(maxsize=1024)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    """SHA-256 of a file, cached by (path, size, mtime): the TFTP server rescans often."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _same_content(root: Path, paths: list[str]) -> bool:
    try:
        stats = [os.stat(root / p) for p in paths]
        if len({st.st_size for st in stats}) > 1:
            return False
        digests = {
            _digest(str(root / p), st.st_size, st.st_mtime_ns)
            for p, st in zip(paths, stats, strict=True)
        }
    except OSError:
        return False
    return len(digests) == 1


def _bare_names(root: Path, files: list[str]) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """Bare name -> path, and the names whose copies differ. Identical copies (one archive
    unpacked into two model folders) are one file; the shallowest path is served."""
    paths: dict[str, list[str]] = {}
    for rel in files:
        paths.setdefault(rel.rsplit("/", 1)[-1].lower(), []).append(rel)
    by_name: dict[str, str] = {}
    clashes: dict[str, tuple[str, ...]] = {}
    for name, found in paths.items():
        found.sort(key=lambda p: (p.count("/"), p))
        if len(found) > 1 and not _same_content(root, found):
            clashes[name] = tuple(found)
        else:
            by_name[name] = found[0]
    return by_name, clashes


def scan_firmware(root: Path) -> FirmwareIndex:
    """Index the firmware files under ``root`` (missing root = empty index)."""
    explicit: dict[int, list[str]] = {}
    term: dict[int, list[str]] = {}
    names: set[str] = set()
    files: list[str] = []
    for rel in _walk(root):
        base = rel.rsplit("/", 1)[-1]
        lower = base.lower()
        if not lower.endswith(FIRMWARE_SUFFIXES):
            continue
        files.append(rel)
        names.add(lower.rsplit(".", 1)[0])
        m = _TERM.fullmatch(base)
        if m:
            for t in _TERM_TYPES.get(m.group("nn"), ()):
                term.setdefault(t, []).append(m.group("load"))
            continue
        for pattern, types in LOAD_PATTERNS:
            m = pattern.fullmatch(base)
            if m:
                for t in types:
                    explicit.setdefault(t, []).append(m.group("load"))
                break
    by_type: dict[int, str] = {}
    for t in sorted(set(explicit) | set(term)):
        candidates = explicit.get(t) or term.get(t) or []
        by_type[t] = max(sorted(set(candidates)), key=_natural)
    by_name, clashes = _bare_names(root, files)
    return FirmwareIndex(
        by_type=by_type,
        names=frozenset(names),
        files=tuple(files),
        by_name=by_name,
        clashes=clashes,
    )


# -- .loads manifests -----------------------------------------------------------------------

# A part named in a manifest: an image file of one of the families' suffixes.
_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*\.(?:sbn|sgn|bin|sb2|sbin|zup)\b", re.IGNORECASE)


def strip_sgn_header(data: bytes) -> bytes:
    """``data`` without a Cisco .sgn signature header, if it has one.

    The header is TLV: tag 1 (version, 2 bytes), then tag 2 (header length, 2 bytes,
    big-endian); the payload starts at that length (usecallmanagernz/certutils ``stripsgn``)."""
    if (
        len(data) >= 10
        and data[0] == 1
        and data[1:3] == b"\x00\x02"
        and data[5] == 2
        and data[6:8] == b"\x00\x02"
    ):
        length = int.from_bytes(data[8:10], "big")
        if 10 <= length <= len(data):
            return data[length:]
    return data


def manifest_parts(data: bytes, own_name: str = "") -> list[str]:
    """The image files a ``.loads`` manifest names, in order, without repeats.

    Manifests are signed and their layout differs between generations, so rather than parse
    one format the text is searched for file names with an image suffix; an empty list means
    the parts could not be read (not that there are none)."""
    text = strip_sgn_header(data).decode("latin-1")
    seen: dict[str, str] = {}
    for m in _PART.finditer(text):
        name = m.group(0)
        if name.lower() != own_name.lower():
            seen.setdefault(name.lower(), name)
    return list(seen.values())


@dataclass(frozen=True)
class LoadCheck:
    """A load's manifest against the tree: which parts it names and which are absent."""

    load: str
    manifest: str  # relative path of the .loads file, "" if there is none
    parts: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()

    @property
    def status(self) -> str:
        if not self.manifest:
            return "no .loads manifest (single-image load)"
        if not self.parts:
            return "parts not readable from the manifest (not checked)"
        if self.missing:
            return f"incomplete: {', '.join(self.missing)} missing"
        n = len(self.parts)
        return f"complete ({n} part{'s' if n != 1 else ''})"


def check_load(root: Path, index: FirmwareIndex, load: str) -> LoadCheck:
    """Whether every part ``load``'s manifest names is in the tree (found by bare name)."""
    rel = index.by_name.get(f"{load}.loads".lower())
    if rel is None:
        return LoadCheck(load, "")
    try:
        data = (root / rel).read_bytes()
    except OSError:
        return LoadCheck(load, rel)
    parts = manifest_parts(data, rel.rsplit("/", 1)[-1])
    missing = tuple(p for p in parts if p.lower() not in index.by_name)
    return LoadCheck(load, rel, tuple(parts), missing)
