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
import functools
import ipaddress
import socket
import struct
from collections.abc import Callable, Mapping
from enum import IntEnum
from typing import Any, ClassVar, Literal, Self, TypeVar, dataclass_transform

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
        return dataclasses.field(default=None, init=False, repr=False, compare=False, metadata=meta)
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


def array(
    cls: type[Struct], *, count: str, capacity: int | None = None, limit: int = 64, **kw: Any
) -> Any:
    return _field(Array(cls, count, capacity, limit), **kw)


def blob(*, length: str, limit: int = 2000, **kw: Any) -> Any:
    return _field(Blob(length, limit), **kw)


# Wire-only fields are no constructor arguments. ``init: Literal[False]`` says so to type checkers
# (PEP 681: a field specifier's default for ``init``); nothing passes it.


def count_of(field_name: str, *, init: Literal[False] = False, **kw: Any) -> Any:
    return _field(Counter(field_name), wire_only=True, **kw)


def length_of(field_name: str, *, init: Literal[False] = False, **kw: Any) -> Any:
    return _field(Counter(field_name), wire_only=True, **kw)


def pad(size: int, *, init: Literal[False] = False, **kw: Any) -> Any:
    return _field(Padding(size), wire_only=True, **kw)


# ---------------------------------------------------------------------------------------------
# Struct base


class Struct:
    """Base of every declared layout (messages and their sub-structures).

    ``encode_into``/``decode_from`` run a codec compiled once per (class, version) from
    ``LAYOUT`` (see ``_compile``): runs of fixed-size fields are one ``struct`` pack/unpack.
    The field-by-field interpreter (``_encode_fields``/``_decode_fields``) is the reference;
    the compiled encoder falls back to it when a value is not what ``struct`` takes as is
    (e.g. an out-of-range int, which the interpreter masks), so output and errors are the same.
    """

    # Every concrete layout is a dataclass (struct_layout makes it one): declared for checkers.
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]
    LAYOUT: ClassVar[tuple[FieldSpec, ...]] = ()
    _NORMALIZE: ClassVar[tuple[FieldSpec, ...]] = ()
    _CODECS: ClassVar[dict[int, _Codec]]

    def __post_init__(self) -> None:
        for spec in self._NORMALIZE:
            value = getattr(self, spec.name)
            new = spec.wire.normalize(value)
            if new is not value:
                object.__setattr__(self, spec.name, new)

    @classmethod
    def active_layout(cls, version: int) -> list[FieldSpec]:
        return [s for s in cls.LAYOUT if s.active(version)]

    @classmethod
    def _codec(cls, version: int) -> _Codec:
        codecs = cls.__dict__.get("_CODECS")
        if codecs is None:
            codecs = {}
            cls._CODECS = codecs
        codec = codecs.get(version)
        if codec is None:
            codec = codecs[version] = _compile(cls, version)
        return codec

    def encode_into(self, out: bytearray, version: int) -> None:
        codec = self._codec(version)
        start = len(out)
        try:
            codec.encode(self, out)
        except (struct.error, TypeError, OverflowError, AttributeError):
            # Values struct cannot pack as they are: the interpreter converts or explains.
            del out[start:]
            self._encode_fields(out, version)

    def _encode_fields(self, out: bytearray, version: int) -> None:
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
    def decode_from(cls, r: Reader, version: int) -> Self:
        decoded: Self = cls._codec(version).decode(r)  # generated code: an instance of cls
        return decoded

    @classmethod
    def _decode_fields(cls, r: Reader, version: int) -> Self:
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
        codec = cls._codec(version)
        if codec.default_size < 0:
            codec.default_size = len(cls().encode_body(version))
        return codec.default_size


S = TypeVar("S", bound=Struct)


# Type checkers treat a decorated class as the frozen dataclass it becomes (PEP 681): keyword
# names and value types of every constructor call are checked, wire-only fields are not
# arguments. The other helpers (u32(), text()...) are plain defaults to the checker.
@dataclass_transform(frozen_default=True, field_specifiers=(count_of, length_of, pad))
def struct_layout(cls: type[S]) -> type[S]:
    """Make ``cls`` a frozen dataclass and compile its field declarations into ``LAYOUT``."""
    cls = dataclasses.dataclass(frozen=True)(cls)
    specs = []
    for f in dataclasses.fields(cls):
        if "wire" not in f.metadata:
            continue
        specs.append(
            FieldSpec(
                f.name,
                f.metadata["wire"],
                f.metadata["since"],
                f.metadata["until"],
                f.metadata["wire_only"],
            )
        )
    cls.LAYOUT = tuple(specs)
    cls._NORMALIZE = tuple(
        s for s in specs if not s.wire_only and type(s.wire).normalize is not WireType.normalize
    )
    return cls


# ---------------------------------------------------------------------------------------------
# Compiled codecs: one per (class, version), generated from LAYOUT on first use.
#
# Consecutive fixed-size fields become one ``struct.Struct`` ("segment"), so a fixed layout
# encodes with one pack and decodes with one unpack_from; decoded objects are built without
# the dataclass __init__ (decoded values are already in normal form). Arrays of fixed
# structures pack/unpack per entry; anything else (blob, tail text, nested variable layouts)
# runs the field's WireType as the interpreter does.


class _Codec:
    __slots__ = ("decode", "default_size", "encode", "flat")

    def __init__(self) -> None:
        self.encode: Callable[[Any, bytearray], None] = _unset
        self.decode: Callable[[Reader], Any] = _unset
        self.default_size = -1
        # Only fixed-size fields: (struct format without "<", values(obj) -> tuple,
        # make(values) -> obj), for embedding into an enclosing segment or array.
        self.flat: tuple[str, Callable[[Any], tuple[Any, ...]], Callable[[Any], Any]] | None
        self.flat = None


def _unset(*args: Any) -> Any:
    raise TypeError("codec not compiled")


@functools.lru_cache(maxsize=4096)
def _ip4_packed(value: Any) -> bytes:
    return ipaddress.IPv4Address(value).packed


@functools.lru_cache(maxsize=4096)
def _ip6_packed(value: Any) -> bytes:
    return ipaddress.IPv6Address(value).packed


@functools.lru_cache(maxsize=1024)
def _ip6_text(raw: bytes) -> str:
    return str(ipaddress.IPv6Address(raw))


@functools.lru_cache(maxsize=4096)
def _ipaddr_v4(value: Any) -> bytes:
    addr = ipaddress.ip_address(value)
    if addr.version != 4:
        raise ValueError(f"IPv6 address {value} needs protocol version >= 17")
    return addr.packed


@functools.lru_cache(maxsize=4096)
def _ipaddr_v46(value: Any) -> tuple[int, bytes]:
    addr = ipaddress.ip_address(value)
    return (0 if addr.version == 4 else 1), addr.packed + bytes(16 - len(addr.packed))


def _ipaddr_text(kind: int, raw: bytes) -> str:
    if kind == 1:
        return _ip6_text(raw)
    return socket.inet_ntoa(raw[:4])


def _padded(data: bytes, pos: int, size: int) -> bytes:
    """``size`` bytes at ``pos``, zeros past the end (Reader.take's rule)."""
    chunk = data[pos : pos + size]
    return chunk + bytes(size - len(chunk))


class _Simple:
    """How one fixed-size field is packed: format, number of values, and code templates."""

    def __init__(self, fmt: str, nvals: int, enc: str, dec: str) -> None:
        self.fmt = fmt
        self.nvals = nvals
        self.enc = enc  # expression of the pack arguments, "{v}" = the field's value
        self.dec = dec  # expression of the field's value, "{0}", "{1}" = unpacked values


_UINT_FMT = {1: "B", 2: "H", 4: "I"}


def _simple(wire: WireType, version: int, ns: dict[str, Any]) -> _Simple | None:
    """The fixed-size description of ``wire`` at ``version``, or None if it is not one.
    Helper objects the templates name are put into ``ns``."""
    if isinstance(wire, Versioned):
        wire = wire.at(version)
    if isinstance(wire, UInt):
        if wire.enum is None:
            return _Simple(_UINT_FMT[wire.size], 1, "{v}", "{0}")
        key = _name(ns, "E", wire.enum._value2member_map_.get)
        return _Simple(_UINT_FMT[wire.size], 1, "{v}", f"{key}({{0}}, {{0}})")
    if isinstance(wire, Text):
        return _Simple(
            f"{wire.size}s",
            1,
            f'str({{v}}).encode("latin-1", "replace")[: {wire.size - 1}]',
            '{0}.split(b"\\0", 1)[0].decode("latin-1")',
        )
    if isinstance(wire, Raw):
        return _Simple(f"{wire.size}s", 1, "{v}", "{0}")
    if isinstance(wire, IPv4):
        return _Simple("4s", 1, "_ip4_packed({v})", "_inet_ntoa({0})")
    if isinstance(wire, IPv6):
        return _Simple("16s", 1, "_ip6_packed({v})", "_ip6_text({0})")
    if isinstance(wire, IPAddr):
        if version < IPV46_FROM_VERSION:
            return _Simple("4s", 1, "_ipaddr_v4({v})", "_inet_ntoa({0})")
        return _Simple("I16s", 2, "*_ipaddr_v46({v})", "_ipaddr_text({0}, {1})")
    if isinstance(wire, FixedList):
        item = _simple(wire.item, version, ns)
        if item is None:
            return None
        n, count = item.nvals, wire.count
        norm = wire.normalize
        if item.enc == "{v}" and n == 1:

            def values(v: Any) -> Any:
                return v if type(v) is list and len(v) == count else norm(v)
        else:
            conv = eval(f"lambda v: ({item.enc.format(v='v')},)", ns)

            def values(v: Any) -> Any:
                return [x for i in norm(v) for x in conv(i)]

        enc_key = _name(ns, "L", values)
        if item.dec == "{0}" and n == 1:
            dec = "list({0})"
        else:
            item_dec = item.dec.format(*(f"_w[_i + {j}]" for j in range(n)))
            dec_fn = eval(f"lambda _w: [{item_dec} for _i in range(0, {n * count}, {n})]", ns)
            dec = f"{_name(ns, 'L', dec_fn)}({{0}})"
        return _Simple(item.fmt * count, n * count, f"*{enc_key}({{v}})", dec)
    if isinstance(wire, Nested):
        flat = wire.cls._codec(version).flat
        if flat is None:
            return None
        fmt, flat_values, make = flat
        sub = wire.cls

        def nested_values(v: Any) -> tuple[Any, ...]:
            if type(v) is not sub:
                raise TypeError("not the declared structure")  # the interpreter decides
            return flat_values(v)

        sub_st = struct.Struct("<" + fmt)
        nvals = len(sub_st.unpack(bytes(sub_st.size)))
        return _Simple(
            fmt,
            nvals,
            f"*{_name(ns, 'N', nested_values)}({{v}})",
            f"{_name(ns, 'M', make)}({{0}})",
        )
    return None


def _name(ns: dict[str, Any], prefix: str, obj: Any) -> str:
    key = f"_{prefix}{len(ns)}"
    ns[key] = obj
    return key


def _compile(cls: type[Struct], version: int) -> _Codec:
    codec = _Codec()
    ns: dict[str, Any] = {
        "_ip4_packed": _ip4_packed,
        "_ip6_packed": _ip6_packed,
        "_ip6_text": _ip6_text,
        "_ipaddr_v4": _ipaddr_v4,
        "_ipaddr_v46": _ipaddr_v46,
        "_ipaddr_text": _ipaddr_text,
        "_inet_ntoa": socket.inet_ntoa,
        "_padded": _padded,
        "_Context": Context,
        "_new": object.__new__,
        "_cls": cls,
        "_version": version,
    }
    enc = ["def _enc(self, out):"]
    dec = ["def _dec(r):", "    d = r.data", "    p = r.pos"]
    seg_fmt: list[str] = []
    seg_args: list[str] = []
    seg_dec: list[tuple[str, _Simple]] = []  # (target, how)
    names: dict[str, str] = {}  # field name -> local variable holding its decoded value
    counters: dict[str, str] = {}  # counter field name -> local variable
    uses_ctx = False
    flat = True
    flat_fmt: list[str] = []

    def flush() -> None:
        if not seg_fmt:
            return
        fmt = "<" + "".join(seg_fmt)
        st = struct.Struct(fmt)
        key = _name(ns, "S", st)
        enc.append(f"    out += {key}.pack({', '.join(seg_args)})")
        dec.append(f"    if len(d) - p >= {st.size}:")
        dec.append(f"        v = {key}.unpack_from(d, p)")
        dec.append("    else:")
        dec.append(f"        v = {key}.unpack(_padded(d, p, {st.size}))")
        dec.append(f"    p += {st.size}")
        i = 0
        for target, how in seg_dec:
            if target:
                args = [f"v[{i + j}]" for j in range(how.nvals)]
                if how.nvals > 1 and "{1}" not in how.dec:
                    args = [f"v[{i}:{i + how.nvals}]"]
                dec.append(f"    {target} = {how.dec.format(*args)}")
            i += how.nvals
        seg_fmt.clear()
        seg_args.clear()
        seg_dec.clear()

    for spec in cls.active_layout(version):
        wire = spec.wire.at(version) if isinstance(spec.wire, Versioned) else spec.wire
        local = f"f_{spec.name}"
        if isinstance(wire, Padding):
            seg_fmt.append(f"{wire.size}x")
            flat_fmt.append(f"{wire.size}x")
            continue
        if isinstance(wire, Counter):
            counters[spec.name] = f"c_{spec.name}"
            seg_fmt.append("I")
            seg_args.append(f"len(self.{wire.of})")
            seg_dec.append((f"c_{spec.name}", _Simple("I", 1, "", "{0}")))
            flat = False
            continue
        how = _simple(wire, version, ns)
        if how is not None:
            seg_fmt.append(how.fmt)
            flat_fmt.append(how.fmt)
            seg_args.append(how.enc.format(v=f"self.{spec.name}"))
            seg_dec.append((local, how))
            names[spec.name] = local
            continue
        flat = False
        flush()
        item_flat = wire.cls._codec(version).flat if isinstance(wire, Array) else None
        if isinstance(wire, Array) and item_flat is not None:
            key = _name(ns, "A", _array_codec(wire, version, item_flat))
            enc.append(f"    {key}[0](self.{spec.name}, out)")
            count = counters.get(wire.count, "0")
            dec.append(f"    {local}, p = {key}[1](d, p, {count})")
        else:
            key = _name(ns, "W", wire)
            enc.append(f"    {key}.encode(self.{spec.name}, _version, out)")
            uses_ctx = True
            dec.append("    r.pos = p")
            dec.append(f"    {local} = {key}.decode(r, ctx)")
            dec.append("    p = r.pos")
        names[spec.name] = local
    flush()
    enc.append("    return None")
    if uses_ctx:
        # generic decoders read counts from the context: fill it as the interpreter does
        at = 3
        dec.insert(at, f"    ctx = _Context({version})")
        for cname, var in counters.items():
            for idx, line in enumerate(dec):
                if line.startswith(f"    {var} = "):
                    dec.insert(idx + 1, f"    ctx.values[{cname!r}] = {var}")
                    break
    dec.append("    r.pos = p")
    dec += _construct(cls, names, ns, "    ")
    code = "\n".join(enc) + "\n\n" + "\n".join(dec) + "\n"
    exec(compile(code, f"<sccp codec {cls.__name__} v{version}>", "exec"), ns)
    codec.encode = ns["_enc"]
    codec.decode = ns["_dec"]
    if flat:
        codec.flat = _flat(cls, version, "".join(flat_fmt), ns)
    return codec


def _construct(
    cls: type[Struct], names: dict[str, str], ns: dict[str, Any], indent: str
) -> list[str]:
    """Code building an instance from decoded locals without running the dataclass __init__
    (the result equals ``cls(**decoded)``: every other field gets its default)."""
    lines = [f"{indent}o = _new(_cls)", f"{indent}od = o.__dict__"]
    for f in dataclasses.fields(cls):
        if f.name in names:
            lines.append(f"{indent}od[{f.name!r}] = {names[f.name]}")
        elif not f.init and f.default_factory is dataclasses.MISSING:
            continue  # __init__ leaves these to the class attribute
        elif f.default is not dataclasses.MISSING:
            lines.append(f"{indent}od[{f.name!r}] = {_name(ns, 'D', f.default)}")
        elif f.default_factory is not dataclasses.MISSING:
            lines.append(f"{indent}od[{f.name!r}] = {_name(ns, 'F', f.default_factory)}()")
        else:
            raise TypeError(f"{cls.__name__}.{f.name} has no default")
    if cls.__post_init__ is not Struct.__post_init__:
        lines.append(f"{indent}o.__post_init__()")
    lines.append(f"{indent}return o")
    return lines


def _flat(
    cls: type[Struct], version: int, fmt: str, ns: dict[str, Any]
) -> tuple[str, Callable[[Any], tuple[Any, ...]], Callable[[Any], Any]]:
    """values(obj) and make(values) for embedding a fixed layout into another segment."""
    args: list[str] = []
    names: dict[str, str] = {}
    body = ["def _make(v):"]
    i = 0
    for spec in cls.active_layout(version):
        wire = spec.wire.at(version) if isinstance(spec.wire, Versioned) else spec.wire
        if isinstance(wire, Padding):
            continue
        how = _simple(wire, version, ns)
        assert how is not None
        args.append(how.enc.format(v=f"self.{spec.name}"))
        vals = [f"v[{i + j}]" for j in range(how.nvals)]
        if how.nvals > 1 and "{1}" not in how.dec:
            vals = [f"v[{i}:{i + how.nvals}]"]
        body.append(f"    f_{spec.name} = {how.dec.format(*vals)}")
        names[spec.name] = f"f_{spec.name}"
        i += how.nvals
    body += _construct(cls, names, ns, "    ")
    code = f"def _values(self):\n    return ({', '.join(args)}{',' if args else ''})\n\n"
    code += "\n".join(body) + "\n"
    exec(compile(code, f"<sccp flat {cls.__name__} v{version}>", "exec"), ns)
    return fmt, ns["_values"], ns["_make"]


def _array_codec(
    wire: Array,
    version: int,
    flat: tuple[str, Callable[[Any], tuple[Any, ...]], Callable[[Any], Any]],
) -> tuple[Callable[[Any, bytearray], None], Callable[[bytes, int, int], tuple[list[Any], int]]]:
    fmt, values, make = flat
    st = struct.Struct("<" + fmt)
    size = st.size
    item_cls, capacity, limit = wire.cls, wire.capacity, wire.limit
    pack, unpack_from = st.pack, st.unpack_from
    filler: list[bytes] = []

    def encode(value: Any, out: bytearray) -> None:
        items = list(value)
        if len(items) > limit:
            raise ValueError(f"{item_cls.__name__}: {len(items)} entries, at most {limit}")
        for item in items:
            if type(item) is item_cls:
                out += pack(*values(item))
            else:
                item.encode_into(out, version)
        if capacity is not None and capacity > len(items):
            if not filler:
                filler.append(item_cls().encode_body(version))
            out += filler[0] * (capacity - len(items))

    def decode(data: bytes, pos: int, count: int) -> tuple[list[Any], int]:
        # Never trust the count beyond the declared capacity or the bytes actually present.
        n = min(count, limit)
        n = min(n, max(0, len(data) - pos) // size) if size else 0
        items = [make(unpack_from(data, pos + i * size)) for i in range(n)]
        pos += size * (capacity if capacity is not None else n)
        return items, pos

    return encode, decode
