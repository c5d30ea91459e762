"""Write rendered files safely: plan, diff, apply (provisioning issue §5).

- Only files whose content changed are written; each one atomically (temporary file in the
  same directory, fsync, rename), so a phone fetching mid-update gets the old or the new file.
- A manifest (``.skinnyctl-manifest.json``) lists the files we wrote, with their hash. Files we
  wrote earlier that are no longer wanted are removed; files we never wrote are never touched,
  and a file of ours that someone edited by hand is left in place with a warning.
- Everything is rendered before anything is written, so a render error leaves the tree as it was.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from skinnyctl.errors import UserError
from skinnyctl.site.atomic import write_bytes_atomic

MANIFEST = ".skinnyctl-manifest.json"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Plan:
    out_dir: Path
    files: dict[str, bytes]
    add: list[str] = field(default_factory=list)
    change: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # ours, no longer wanted, edited by hand
    old: dict[str, bytes] = field(default_factory=dict)  # current content of change/remove

    @property
    def empty(self) -> bool:
        return not (self.add or self.change or self.remove)

    def summary(self) -> str:
        lines = [f"add     {p}" for p in self.add]
        lines += [f"change  {p}" for p in self.change]
        lines += [f"remove  {p}" for p in self.remove]
        lines += [f"keep    {p} (generated earlier, edited since: not removed)" for p in self.kept]
        n = len(self.unchanged)
        lines.append(
            f"{len(self.add)} to add, {len(self.change)} to change, {len(self.remove)} to remove,"
            f" {n} unchanged in {self.out_dir}"
        )
        return "\n".join(lines)

    def diff(self) -> str:
        chunks: list[str] = []
        for rel in sorted(self.add + self.change + self.remove):
            before = self.old.get(rel, b"")
            after = self.files.get(rel, b"")
            chunks.extend(
                difflib.unified_diff(
                    before.decode("utf-8", "replace").splitlines(keepends=True),
                    after.decode("utf-8", "replace").splitlines(keepends=True),
                    fromfile=f"a/{rel}" if rel not in self.add else "/dev/null",
                    tofile=f"b/{rel}" if rel not in self.remove else "/dev/null",
                )
            )
        return "".join(c if c.endswith("\n") else c + "\n" for c in chunks)


def _check_rel(rel: str) -> None:
    p = PurePosixPath(rel)
    if p.is_absolute() or ".." in p.parts or not p.parts or rel == MANIFEST:
        raise ValueError(f"refusing to write outside the output directory: {rel!r}")


def read_manifest(out_dir: Path) -> dict[str, str]:
    path = out_dir / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise UserError(
            f"{path} is unreadable ({e}); delete it to start over (files it listed will then "
            "be left alone)"
        ) from None
    files = data.get("files", {}) if isinstance(data, dict) else {}
    out: dict[str, str] = {}
    for rel, digest in files.items() if isinstance(files, dict) else ():
        try:
            _check_rel(rel)
        except ValueError:
            continue  # a hand-edited manifest must not make us delete outside the tree
        out[rel] = str(digest)
    return out


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def plan(out_dir: Path, files: dict[str, bytes]) -> Plan:
    """Compare ``files`` (relative path → content) with what ``out_dir`` holds."""
    for rel in files:
        _check_rel(rel)
    p = Plan(out_dir=out_dir, files=files)
    manifest = read_manifest(out_dir)
    for rel in sorted(files):
        current = _read(out_dir / rel)
        if current is None:
            p.add.append(rel)
        elif current != files[rel]:
            p.change.append(rel)
            p.old[rel] = current
        else:
            p.unchanged.append(rel)
    for rel in sorted(set(manifest) - set(files)):
        current = _read(out_dir / rel)
        if current is None:
            continue
        if _sha(current) == manifest[rel]:
            p.remove.append(rel)
            p.old[rel] = current
        else:
            p.kept.append(rel)
    return p


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, data, 0o644)


def apply(p: Plan) -> list[str]:
    """Carry out a plan; returns the relative paths written or removed."""
    done: list[str] = []
    out = p.out_dir
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create {out}: {e.strerror}") from None
    manifest = read_manifest(out)
    try:
        for rel in p.add + p.change:
            _write(out / rel, p.files[rel])
            done.append(rel)
        for rel in p.remove:
            (out / rel).unlink(missing_ok=True)
            done.append(rel)
            _prune_empty_dirs(out, (out / rel).parent)
    except OSError as e:
        raise UserError(f"cannot write in {out}: {e.strerror} ({e.filename})") from None
    finally:
        # Record what is ours now, even after a partial failure, so nothing leaks.
        for rel in done:
            if rel in p.files:
                manifest[rel] = _sha(p.files[rel])
            else:
                manifest.pop(rel, None)
        for rel in p.unchanged:
            manifest[rel] = _sha(p.files[rel])
        if done or set(manifest) != set(read_manifest(out)):
            _write(
                out / MANIFEST,
                (json.dumps({"files": dict(sorted(manifest.items()))}, indent=1) + "\n").encode(),
            )
    return done


def _prune_empty_dirs(root: Path, d: Path) -> None:
    """Remove directories left empty by a removal, up to (not including) ``root``."""
    root = root.resolve()
    d = d.resolve()
    while d != root and root in d.parents:
        try:
            d.rmdir()
        except OSError:
            return
        d = d.parent
