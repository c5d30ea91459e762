"""Declarative byte layouts: wire types and the machinery that turns a declaration into bytes.

How a message is declared (see ``messages.py``)
-----------------------------------------------
A message or sub-structure is a frozen dataclass whose fields, *in order*, are its byte layout.
Each field's default is made by one of the helpers below, which records the wire type in the
field's metadata::

    @message(0x0092, TO_PHONE)
    class LineStat(Message):
        line_number: int = u32()
        line_dir_number: str = text(24)
        ...

* ``u8()/u16()/u32(enum=E)`` little-endian unsigned integers (decoded to ``E`` when the value is
  a member); ``text(n)`` a fixed ``char[n]`` (latin-1, so ``"\\x80\\x18"`` label escapes are
  byte-exact; NUL padded; at most n-1 characters are sent); ``ipv4()`` a 4-byte address in
  network order; ``ip_addr()`` IPv4 before protocol 17 and ``ipv46 u32 + 16 bytes`` from 17;
  ``ipv6()`` 16 raw bytes; ``raw(n)`` fixed bytes; ``fixed_list(T, n)`` n values of T;
  ``nested(S)`` a sub-structure; ``array(S, count="name", capacity=n)`` a list of S whose count
  travels in the wire-only field ``name`` (declared with ``count_of("field")``), padded with
  zero entries up to ``capacity`` when encoding; ``blob(length="name")`` bytes whose length is
  in a ``length_of("field")`` wire-only field; ``tail_text()`` the rest of the body.
* Version differences are data: ``since=17`` / ``until=17`` include a field only from / before a
  protocol version, and ``text(24, v18=25)`` style ``by_version={18: ...}`` switches a type.
* Wire-only fields (counts, lengths, padding) are dataclass fields with ``init=False`` that
  take no part in ``==`` or ``repr``; encoding computes them, decoding uses them.

Decoding never reads past the body: missing trailing bytes read as zeros, so a short message
from an older phone decodes with defaults. Encoding writes the full layout of the version.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import struct
from collections.abc import Callable, Mapping
from enum import IntEnum
from typing import Any, ClassVar

# ---------------------------------------------------------------------------------------------
# Reading with implicit zero padding


class Reader:
    """Sequential reader over a body; bytes past the end read as zeros."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        if len(chunk) < n:
            chunk = chunk + bytes(n - len(chunk))
        return chunk

    @property
    def remaining(self) -> int:
        return max(0, len(self.data) - self.pos)


class Context:
    """Values of wire-only fields seen so far while decoding, plus the protocol version."""

    __slots__ = ("values", "version")

    def __init__(self, version: int) -> None:
        self.version = version
        self.values: dict[str, int] = {}


# ---------------------------------------------------------------------------------------------
# Wire types


class WireType:
    """One field's representation on the wire."""

    def default(self) -> Any:
        raise NotImplementedError

    def encode(self, value: Any, version: int, out: bytearray) -> None:
        raise NotImplementedError

    def decode(self, r: Reader, ctx: Context) -> Any:
        raise NotImplementedError

    def normalize(self, value: Any) -> Any:
        """Bring a constructor argument to the form decoding returns (e.g. pad fixed lists)."""
        return value


class UInt(WireType):
    _FORMATS: ClassVar[dict[int, str]] = {1: "<B", 2: "<H", 4: "<I"}

    def __init__(self, size: int, enum: type[IntEnum] | None = None) -> None:
        self.size = size
        self.fmt = struct.Struct(self._FORMATS[size])
        self.enum = enum
        self.max = (1 << (8 * size)) - 1

    def default(self) -> int:
        return 0

    def encode(self, value: Any, version: int, out: bytearray) -> None:
        out += self.fmt.pack(int(value) & self.max)

    def decode(self, r: Reader, ctx: Context) -> int:
        value: int = self.fmt.unpack(r.take(self.size))[0]
        if self.enum is not None:
            try:
                return self.enum(value)
            except ValueError:
                return value
        return value


class Text(WireType):
    """``char[size]``: latin-1 (byte-exact for label escapes), NUL padded, NUL terminated."""

    def __init__(self, size: int) -> None:
        self.size = size

    def default(self) -> str:
        return ""

    def encode(self, value: Any, version: int, out: bytearray) -> None:
        raw = str(value).encode("latin-1", "replace")[: self.size - 1]
        out += raw + bytes(self.size - len(raw))

    def decode(self, r: Reader, ctx: Context) -> str:
        return r.take(self.size).split(b"\0", 1)[0].decode("latin-1")


class TailText(WireType):
    """The rest of the body as NUL-terminated text (XMLAlarm)."""

    def default(self) -> str:
        return ""

    def encode(self, value: Any, version: int, out: bytearray) -> None:
        out += str(value).encode("latin-1", "replace") + b"\0"

    def decode(self, r: Reader, ctx: Context) -> str:
        return r.take(r.remaining).split(b"\0", 1)[0].decode("latin-1")


class Raw(WireType):
    def __init__(self, size: int) -> None:
        self.size = size

    def default(self) -> bytes:
        return bytes(self.size)

    def encode(self, value: Any, version: int, out: bytearray) -> None:
        raw = bytes(value)[: self.size]
        out += raw + bytes(self.size - len(raw))

    def decode(self, r: Reader, ctx: Context) -> bytes:
        return r.take(self.size)

    def normalize(self, value: Any) -> bytes:
        raw = bytes(value)[: self.size]
        return raw + bytes(self.size - len(raw))


class IPv4(WireType):
    """IPv4 address in network byte order inside an otherwise little-endian body (§1.4)."""

    def default(self) -> str:
        return "0.0.0.0"

    def encode(self, value: Any, version: int, out: bytearray) -> None:
        out += ipaddress.IPv4Address(value).packed

    def decode(self, r: Reader, ctx: Context) -> str:
        return str(ipaddress.IPv4Address(r.take(4)))


class IPv6(WireType):
    def default(self) -> str:
        return "::"

    def encode(self, value: Any, version: int, out: bytearray) -> None:
        out += ipaddress.IPv6Address(value).packed

    def decode(self, r: Reader, ctx: Context) -> str:
        return str(ipaddress.IPv6Address(r.take(16)))


IPV46_FROM_VERSION = 17


class IPAddr(WireType):
    """An address field that is IPv4 before protocol 17 and ``u32 ipv46 + 16 bytes`` from 17.

    The value is a string; an IPv6 string selects ipv46 = 1 (only possible from v17).
    """

    def default(self) -> str:
        return "0.0.0.0"

    def encode(self, value: Any, version: int, out: bytearray) -> None:
        addr = ipaddress.ip_address(value)
        if version < IPV46_FROM_VERSION:
            if addr.version != 4:
                raise ValueError(f"IPv6 address {value} needs protocol version >= 17")
            out += addr.packed
            return
        out += struct.pack("<I", 0 if addr.version == 4 else 1)
        out += addr.packed + bytes(16 - len(addr.packed))

    def decode(self, r: Reader, ctx: Context) -> str:
        if ctx.version < IPV46_FROM_VERSION:
            return str(ipaddress.IPv4Address(r.take(4)))
        kind = struct.unpack("<I", r.take(4))[0]
        raw = r.take(16)
        if kind == 1:
            return str(ipaddress.IPv6Address(raw))
        return str(ipaddress.IPv4Address(raw[:4]))


class FixedList(WireType):
    """Exactly ``count`` values of one type (a C array of fixed size)."""

    def __init__(self, item: WireType, count: int) -> None:
        self.item = item
        self.count = count

    def default(self) -> list[Any]:
        return [self.item.default() for _ in range(self.count)]

    def encode(self, value: Any, version: int, out: bytearray) -> None:
        for v in self.normalize(value):
            self.item.encode(v, version, out)

    def decode(self, r: Reader, ctx: Context) -> list[Any]:
        return [self.item.decode(r, ctx) for _ in range(self.count)]

    def normalize(self, value: Any) -> list[Any]:
        items = [self.item.normalize(v) for v in list(value)[: self.count]]
        return items + [self.item.default() for _ in range(self.count - len(items))]


class Nested(WireType):
    def __init__(self, cls: type[Struct]) -> None:
        self.cls = cls

    def default(self) -> Struct:
        return self.cls()

    def encode(self, value: Any, version: int, out: bytearray) -> None:
        value.encode_into(out, version)

    def decode(self, r: Reader, ctx: Context) -> Struct:
        return self.cls.decode_from(r, ctx.version)


class Counter(WireType):
    """Wire-only u32 holding ``len()`` of another field (array entries or blob bytes)."""

    def __init__(self, of: str) -> None:
        self.of = of

    def default(self) -> None:
        return None

    def encode(self, value: Any, version: int, out: bytearray) -> None:
        out += struct.pack("<I", value)

    def decode(self, r: Reader, ctx: Context) -> int:
        n: int = struct.unpack("<I", r.take(4))[0]
        return n


class Padding(WireType):
    def __init__(self, size: int) -> None:
        self.size = size

    def default(self) -> None:
        return None

    def encode(self, value: Any, version: int, out: bytearray) -> None:
        out += bytes(self.size)

    def decode(self, r: Reader, ctx: Context) -> None:
        r.take(self.size)


class Array(WireType):
    """A list of sub-structures whose count is in the wire-only field ``count``."""

    def __init__(self, cls: type[Struct], count: str, capacity: int | None, limit: int) -> None:
        self.cls = cls
        self.count = count
        self.capacity = capacity
        self.limit = capacity if capacity is not None else limit

    def default(self) -> list[Any]:
        return []

    def encode(self, value: Any, version: int, out: bytearray) -> None:
        items = list(value)
        if len(items) > self.limit:
            raise ValueError(f"{self.cls.__name__}: {len(items)} entries, at most {self.limit}")
        for item in items:
            item.encode_into(out, version)
        if self.capacity is not None:
            filler = self.cls()
            for _ in range(self.capacity - len(items)):
                filler.encode_into(out, version)

    def decode(self, r: Reader, ctx: Context) -> list[Any]:
        # Never trust the count beyond the declared capacity or the bytes actually present.
        n = min(ctx.values.get(self.count, 0), self.limit)
        size = self.cls.wire_size(ctx.version)
        n = min(n, r.remaining // size) if size else 0
        items = [self.cls.decode_from(r, ctx.version) for _ in range(n)]
        if self.capacity is not None:
            r.take(size * (self.capacity - n))
        return items

    def normalize(self, value: Any) -> list[Any]:
        return list(value)


class Blob(WireType):
    """Bytes whose length is in the wire-only field ``length`` (DeviceToUserData data)."""

    def __init__(self, length: str, limit: int) -> None:
        self.length = length
        self.limit = limit

    def default(self) -> bytes:
        return b""

    def encode(self, value: Any, version: int, out: bytearray) -> None:
        if len(value) > self.limit:
            raise ValueError(f"data of {len(value)} bytes, at most {self.limit}")
        out += bytes(value)

    def decode(self, r: Reader, ctx: Context) -> bytes:
        n = min(ctx.values.get(self.length, 0), self.limit, r.remaining)
        return r.take(n)

    def normalize(self, value: Any) -> bytes:
        return bytes(value)


class Versioned(WireType):
    """A field whose type changes with the protocol version: ``{first_version: type}``."""

    def __init__(self, by_version: Mapping[int, WireType]) -> None:
        self.steps = sorted(by_version.items())

    def at(self, version: int) -> WireType:
        chosen = self.steps[0][1]
        for first, wt in self.steps:
            if version >= first:
                chosen = wt
        return chosen

    def default(self) -> Any:
        return self.steps[0][1].default()

    def encode(self, value: Any, version: int, out: bytearray) -> None:
        self.at(version).encode(value, version, out)

    def decode(self, r: Reader, ctx: Context) -> Any:
        return self.at(ctx.version).decode(r, ctx)


# ---------------------------------------------------------------------------------------------
# Field helpers (used as dataclass defaults)


@dataclasses.dataclass(frozen=True)
class FieldSpec:
    name: str
    wire: WireType
    since: int
    until: int | None
    wire_only: bool

    def active(self, version: int) -> bool:
        return version >= self.since and (self.until is None or version < self.until)


def _field(
    wire: WireType,
    *,
    since: int = 0,
    until: int | None = None,
    by_version: Mapping[int, WireType] | None = None,
    wire_only: bool = False,
) -> Any:
    if by_version:
        wire = Versioned({0: wire, **by_version})
    meta = {"wire": wire, "since": since, "until": until, "wire_only": wire_only}
    if wire_only:
        return dataclasses.field(default=None, init=False, repr=False, compare=False,
                                 metadata=meta)
    default = wire.default()
    if isinstance(default, (list, bytes, Struct)):
        return dataclasses.field(default_factory=wire.default, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def u8(enum: type[IntEnum] | None = None, **kw: Any) -> Any:
    return _field(UInt(1, enum), **kw)


def u16(enum: type[IntEnum] | None = None, **kw: Any) -> Any:
    return _field(UInt(2, enum), **kw)


def u32(enum: type[IntEnum] | None = None, **kw: Any) -> Any:
    return _field(UInt(4, enum), **kw)


def text(size: int, *, v18: int | None = None, **kw: Any) -> Any:
    if v18 is not None:
        kw["by_version"] = {18: Text(v18)}
    return _field(Text(size), **kw)


def tail_text(**kw: Any) -> Any:
    return _field(TailText(), **kw)


def raw(size: int, **kw: Any) -> Any:
    return _field(Raw(size), **kw)


def ipv4(**kw: Any) -> Any:
    return _field(IPv4(), **kw)


def ipv6(**kw: Any) -> Any:
    return _field(IPv6(), **kw)


def ip_addr(**kw: Any) -> Any:
    return _field(IPAddr(), **kw)


def fixed_list(item: WireType, count: int, **kw: Any) -> Any:
    return _field(FixedList(item, count), **kw)


def nested(cls: type[Struct], **kw: Any) -> Any:
    return _field(Nested(cls), **kw)


def array(cls: type[Struct], *, count: str, capacity: int | None = None, limit: int = 64,
          **kw: Any) -> Any:
    return _field(Array(cls, count, capacity, limit), **kw)


def blob(*, length: str, limit: int = 2000, **kw: Any) -> Any:
    return _field(Blob(length, limit), **kw)


def count_of(field_name: str, **kw: Any) -> Any:
    return _field(Counter(field_name), wire_only=True, **kw)


length_of = count_of


def pad(size: int, **kw: Any) -> Any:
    return _field(Padding(size), wire_only=True, **kw)


# ---------------------------------------------------------------------------------------------
# Struct base


class Struct:
    """Base of every declared layout (messages and their sub-structures)."""

    LAYOUT: ClassVar[tuple[FieldSpec, ...]] = ()
    _NORMALIZE: ClassVar[tuple[FieldSpec, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)

    def __post_init__(self) -> None:
        for spec in self._NORMALIZE:
            value = getattr(self, spec.name)
            new = spec.wire.normalize(value)
            if new is not value:
                object.__setattr__(self, spec.name, new)

    @classmethod
    def active_layout(cls, version: int) -> list[FieldSpec]:
        return [s for s in cls.LAYOUT if s.active(version)]

    def encode_into(self, out: bytearray, version: int) -> None:
        for spec in self.active_layout(version):
            if isinstance(spec.wire, Counter):
                value: Any = len(getattr(self, spec.wire.of))
            else:
                value = getattr(self, spec.name)
            spec.wire.encode(value, version, out)

    def encode_body(self, version: int = 0) -> bytes:
        out = bytearray()
        self.encode_into(out, version)
        return bytes(out)

    @classmethod
    def decode_from(cls, r: Reader, version: int) -> Any:
        ctx = Context(version)
        kwargs: dict[str, Any] = {}
        for spec in cls.active_layout(version):
            value = spec.wire.decode(r, ctx)
            if spec.wire_only:
                if value is not None:
                    ctx.values[spec.name] = value
            else:
                kwargs[spec.name] = value
        return cls(**kwargs)

    @classmethod
    def wire_size(cls, version: int) -> int:
        """Encoded size of a default instance (fixed-size structures only)."""
        return len(cls().encode_body(version))


def struct_layout(cls: type[Any]) -> type[Any]:
    """Make ``cls`` a frozen dataclass and compile its field declarations into ``LAYOUT``."""
    dc: Callable[[type[Any]], type[Any]] = dataclasses.dataclass(frozen=True)
    cls = dc(cls)
    specs = []
    for f in dataclasses.fields(cls):
        if "wire" not in f.metadata:
            continue
        specs.append(FieldSpec(f.name, f.metadata["wire"], f.metadata["since"],
                               f.metadata["until"], f.metadata["wire_only"]))
    cls.LAYOUT = tuple(specs)
    cls._NORMALIZE = tuple(
        s for s in specs
        if not s.wire_only and type(s.wire).normalize is not WireType.normalize
    )
    return cls
