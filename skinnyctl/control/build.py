"""Build an SCCP message from a name and ``field=value`` strings (``skinnyctl send``).

Names are the codec's (``SetLamp``); mod_skinny's spelling (``SetLampMessage``) and any case
are accepted. Field names are the codec's snake_case (sccp-protocol.md §4, e.g.
``stimulus_instance``); camelCase (``stimulusInstance``) and kebab-case (``sequence-flag``)
name the same field. A value is a number (``15``, ``0x0f``) or, for an enumerated field, a
member name in any case (``voicemail``, ``ON``). Any mistake raises :class:`BuildError`
carrying the valid choices.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from skinnyctl.sccp import MESSAGES, Direction, Message
from skinnyctl.sccp.wire import IPv4, Text, UInt

# What mod_skinny's API sends, first: shown first in help and completion.
COMMON = (
    "Reset",
    "SetRinger",
    "SetLamp",
    "SetSpeakerMode",
    "CallState",
    "StartTone",
    "StopTone",
    "CallInfo",
    "SelectSoftKeys",
    "UserToDeviceData",
    "UserToDeviceDataVersion1",
)
_BLOB_LIMIT = 2000


class BuildError(ValueError):
    """A message or field the user named wrong; ``valid`` lists what would be right."""

    def __init__(self, message: str, valid: list[str] | None = None) -> None:
        super().__init__(message)
        self.valid = valid or []


def _norm(name: str) -> str:
    return re.sub(r"[-_\s]", "", name).lower()


def sendable() -> dict[str, type[Message]]:
    """Every message the call manager may send a phone, by codec name (COMMON first)."""
    found = {cls.NAME: cls for cls in MESSAGES.values() if cls.DIRECTION is Direction.FROM_CM}
    order = [n for n in COMMON if n in found] + sorted(n for n in found if n not in COMMON)
    return {n: found[n] for n in order}


def find_message(name: str) -> type[Message]:
    key = _norm(name)
    key_short = key.removesuffix("message") or key  # mod_skinny's "SetLampMessage"
    for cls_name, cls in sendable().items():
        if _norm(cls_name) in (key, key_short):
            return cls
    raise BuildError(f"unknown message {name!r}", list(sendable()))


@dataclass(frozen=True)
class FieldInfo:
    name: str
    kind: str  # "int", "enum", "text", "ip", "data"
    enum: type[IntEnum] | None = None
    size: int = 0  # text: bytes incl. NUL; int: bytes

    def describe(self) -> str:
        if self.kind == "enum" and self.enum is not None:
            return f"{self.name}=" + "|".join(m.lower() for m in self.enum.__members__)
        if self.kind == "text":
            return f"{self.name}=TEXT (at most {self.size - 1} characters)"
        if self.kind == "data":
            return f"{self.name}=TEXT (payload, e.g. XML; at most {_BLOB_LIMIT} bytes)"
        if self.kind == "ip":
            return f"{self.name}=IPv4"
        return f"{self.name}=NUMBER"


def fields_of(cls: type[Message]) -> list[FieldInfo]:
    """The fields of ``cls`` a user can set (numbers, enums, text, IPv4, data payloads)."""
    out = []
    for spec in cls.LAYOUT:
        if spec.wire_only:
            continue
        w = spec.wire
        if isinstance(w, UInt):
            kind = "enum" if w.enum is not None else "int"
            out.append(FieldInfo(spec.name, kind, w.enum, w.size))
        elif isinstance(w, Text):
            out.append(FieldInfo(spec.name, "text", size=w.size))
        elif isinstance(w, IPv4):
            out.append(FieldInfo(spec.name, "ip"))
        elif type(w).__name__ == "Blob":
            out.append(FieldInfo(spec.name, "data"))
    return out


def describe(cls: type[Message]) -> dict[str, Any]:
    return {
        "name": cls.NAME,
        "id": cls.MESSAGE_ID,
        "fields": [f.describe() for f in fields_of(cls)],
    }


def _value(info: FieldInfo, raw: str) -> Any:
    text = raw.strip()
    if info.kind in ("int", "enum"):
        number: int | None = None
        if re.fullmatch(r"0[xX][0-9a-fA-F]+|\d+", text):
            number = int(text, 0)
        elif info.enum is not None:
            members = {_norm(k): v for k, v in info.enum.__members__.items()}
            # mod_skinny's spellings: DeviceReset / DeviceRestart, SKINNY_LAMP_ON, ...
            key = re.sub(r"^(device|skinny(lamp|ring|speaker|tone)?)", "", _norm(text))
            member = members.get(_norm(text), members.get(key))
            if member is not None:
                return member
        if number is None:
            valid = [m.lower() for m in info.enum.__members__] if info.enum is not None else []
            hint = "a number" + (" or one of the names" if valid else "")
            raise BuildError(f"{info.name}={raw!r} is not valid: write {hint}", valid)
        limit = (1 << (8 * info.size)) - 1
        if not 0 <= number <= limit:
            raise BuildError(f"{info.name}={number} is out of range 0..{limit}")
        if info.enum is not None:
            try:
                return info.enum(number)
            except ValueError:
                return number  # a value the enum does not name: sent as is
        return number
    if info.kind == "text":
        try:
            size = len(raw.encode("latin-1"))
        except UnicodeEncodeError:
            raise BuildError(f"{info.name}: only Latin-1 characters fit this field") from None
        if size > info.size - 1:
            raise BuildError(f"{info.name} holds at most {info.size - 1} characters, not {size}")
        return raw
    if info.kind == "ip":
        import ipaddress

        try:
            return str(ipaddress.IPv4Address(text))
        except ValueError:
            raise BuildError(f"{info.name}={raw!r} is not an IPv4 address") from None
    data = raw.encode("utf-8")
    if len(data) > _BLOB_LIMIT:
        raise BuildError(f"{info.name}: {len(data)} bytes is more than the {_BLOB_LIMIT} allowed")
    return data


def build(name: str, values: dict[str, str]) -> Message:
    """The message ``name`` with ``values`` (field -> text); other fields are zero/empty."""
    cls = find_message(name)
    infos = {_norm(f.name): f for f in fields_of(cls)}
    kwargs: dict[str, Any] = {}
    for key, raw in values.items():
        info = infos.get(_norm(key))
        if info is None:
            valid = [f.describe() for f in infos.values()]
            what = f"{cls.NAME} has no field {key!r}"
            raise BuildError(what + ("" if valid else f" ({cls.NAME} has no fields)"), valid)
        kwargs[info.name] = _value(info, raw)
    return cls(**kwargs)


_FIELD_ARG = re.compile(r"([A-Za-z][A-Za-z0-9_-]*)=(.*)", re.S)


def parse_args(name: str, args: list[str]) -> dict[str, str]:
    """``field=value`` arguments; one bare argument is the data payload of a message that has
    one (the seed's ``send UserToDeviceDataVersion1Message sequence-flag=2 '<xml...>'``)."""
    cls = find_message(name)
    has_data = any(f.kind == "data" for f in fields_of(cls))
    out: dict[str, str] = {}
    for arg in args:
        m = _FIELD_ARG.fullmatch(arg)
        if m:
            out[m.group(1)] = m.group(2)
        elif has_data and "data" not in out:
            out["data"] = arg
        else:
            raise BuildError(
                f"{arg!r} is not field=value",
                [f.describe() for f in fields_of(cls)],
            )
    return out


def to_plain(message: Message) -> dict[str, Any]:
    """A message's fields as JSON-able data (enum members by name)."""
    out: dict[str, Any] = {"message": message.NAME, "id": message.MESSAGE_ID}
    for spec in message.LAYOUT:
        if spec.wire_only:
            continue
        v = getattr(message, spec.name)
        if isinstance(v, IntEnum):
            v = v.name.lower()
        elif isinstance(v, bytes):
            v = v.decode("utf-8", "replace")
        elif not isinstance(v, str | int):
            continue
        out[spec.name] = v
    return out


def read_data_files(values: dict[str, str]) -> dict[str, str]:
    """``data=@FILE``: the payload from a file (read by the CLI, on the client's side)."""
    out = dict(values)
    for key, value in values.items():
        if _norm(key) == "data" and value.startswith("@"):
            try:
                out[key] = open(value[1:], encoding="utf-8").read()  # noqa: SIM115
            except OSError as e:
                raise BuildError(f"cannot read {value[1:]}: {e.strerror}") from None
    return out
