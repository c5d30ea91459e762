"""Where each key and value of a TOML file stands, so errors can say ``file:line:column``.

tomlkit keeps comments and layout but not positions, so this module scans the same text once
and records, for every key path, the line and column of its value. A path is a tuple of table
keys and array indices, e.g. ``("devices", 1, "buttons", 0, "line")``. The scanner only runs on
text tomlkit has already accepted, so it can be forgiving about syntax.
"""

from __future__ import annotations

Path = tuple[str | int, ...]
Position = tuple[int, int]  # 1-based line and column


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.positions: dict[Path, Position] = {}
        self.aot_counts: dict[Path, int] = {}
        self.line_starts = [0]
        for n, ch in enumerate(text):
            if ch == "\n":
                self.line_starts.append(n + 1)

    # -- helpers --------------------------------------------------------------------------
    def pos(self, index: int) -> Position:
        lo, hi = 0, len(self.line_starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.line_starts[mid] <= index:
                lo = mid
            else:
                hi = mid - 1
        return lo + 1, index - self.line_starts[lo] + 1

    def peek(self, n: int = 1) -> str:
        return self.text[self.i : self.i + n]

    def skip_ws(self, newlines: bool) -> None:
        while self.i < len(self.text):
            ch = self.text[self.i]
            if ch in " \t\r" or (newlines and ch == "\n"):
                self.i += 1
            elif ch == "#":
                while self.i < len(self.text) and self.text[self.i] != "\n":
                    self.i += 1
            else:
                break

    def read_key_part(self) -> str:
        ch = self.peek()
        if ch in "\"'":
            start = self.i
            self.skip_string()
            raw = self.text[start + 1 : self.i - 1]
            return raw
        start = self.i
        text = self.text
        while self.i < len(text) and (text[self.i].isalnum() or text[self.i] in "_-"):
            self.i += 1
        return self.text[start : self.i]

    def read_key(self) -> list[str]:
        parts = []
        while True:
            self.skip_ws(False)
            parts.append(self.read_key_part())
            self.skip_ws(False)
            if self.peek() == ".":
                self.i += 1
                continue
            return parts

    def skip_string(self) -> None:
        q = self.text[self.i]
        if self.peek(3) == q * 3:
            end = self.text.find(q * 3, self.i + 3)
            self.i = len(self.text) if end < 0 else end + 3
            while self.peek() == q:  # up to two quotes may close a multi-line string
                self.i += 1
            return
        self.i += 1
        while self.i < len(self.text):
            ch = self.text[self.i]
            if ch == "\\" and q == '"':
                self.i += 2
                continue
            self.i += 1
            if ch == q or ch == "\n":
                return

    # -- values ---------------------------------------------------------------------------
    def value(self, path: Path) -> None:
        self.positions[path] = self.pos(self.i)
        ch = self.peek()
        if ch in "\"'":
            self.skip_string()
        elif ch == "[":
            self.i += 1
            index = 0
            while self.i < len(self.text):
                self.skip_ws(True)
                if self.peek() == "]":
                    self.i += 1
                    return
                if self.peek() == ",":
                    self.i += 1
                    continue
                self.value((*path, index))
                index += 1
        elif ch == "{":
            self.i += 1
            while self.i < len(self.text):
                self.skip_ws(False)
                if self.peek() == "}":
                    self.i += 1
                    return
                if self.peek() == ",":
                    self.i += 1
                    continue
                key_start = self.i
                key = self.read_key()
                self.skip_ws(False)
                if self.peek() != "=":
                    self.i = max(self.i, key_start + 1)
                    continue
                self.i += 1
                self.skip_ws(False)
                self._key_positions[(*path, *key)] = self.pos(key_start)
                self.value((*path, *key))
        else:
            while self.i < len(self.text) and self.text[self.i] not in ",]}\n#":
                self.i += 1

    # -- document -------------------------------------------------------------------------
    def scan(self) -> dict[Path, Position]:
        table: Path = ()
        while self.i < len(self.text):
            self.skip_ws(True)
            if self.i >= len(self.text):
                break
            start = self.i
            if self.peek(2) == "[[":
                self.i += 2
                key = tuple(self.read_key())
                base = self._resolve(key)
                count = self.aot_counts.get(base, 0)
                self.aot_counts[base] = count + 1
                table = (*base, count)
                self.positions.setdefault(base, self.pos(start))
                self.positions[table] = self.pos(start)
                self._to_eol()
            elif self.peek() == "[":
                self.i += 1
                key = tuple(self.read_key())
                table = self._resolve(key)
                self.positions[table] = self.pos(start)
                self._to_eol()
            else:
                dotted = self.read_key()
                self.skip_ws(False)
                if self.peek() != "=":
                    self._to_eol()
                    continue
                self.i += 1
                self.skip_ws(False)
                full = (*table, *dotted)
                self.positions.setdefault(full[:-1] if len(full) > 1 else full, self.pos(start))
                self.value(full)
                self._key_positions[full] = self.pos(start)
                self._to_eol()
        return self.positions

    _key_positions: dict[Path, Position]

    def _resolve(self, key: tuple[str, ...]) -> Path:
        """Map a header's dotted key to a path, descending into the latest array-table entry."""
        path: list[str | int] = []
        for n, part in enumerate(key):
            path.append(part)
            count = self.aot_counts.get(tuple(path))
            if count and n < len(key) - 1:
                path.append(count - 1)
        return tuple(path)

    def _to_eol(self) -> None:
        while self.i < len(self.text) and self.text[self.i] != "\n":
            if self.text[self.i] in "\"'":
                self.skip_string()
                continue
            self.i += 1


class Locations:
    """Positions of values (and keys) in one TOML text."""

    def __init__(self, text: str) -> None:
        scanner = _Scanner(text)
        scanner._key_positions = {}
        self.values = scanner.scan()
        self.keys = scanner._key_positions

    def of(self, path: Path) -> Position:
        """The position of the value at ``path``, or of its nearest enclosing item."""
        p = tuple(path)
        while p:
            if p in self.values:
                return self.values[p]
            p = p[:-1]
        return (1, 1)

    def of_key(self, path: Path) -> Position:
        """The position of the key naming ``path`` (for "unknown key" errors)."""
        p = tuple(path)
        return self.keys.get(p) or self.of(p)
