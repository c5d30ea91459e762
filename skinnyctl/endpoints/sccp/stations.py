"""Connections, the devices registered on them, and the lookups the call code needs.

A :class:`Station` is one TCP connection, and once it registered, the device on it (one
connection = one device, sccp-protocol.md §1.1). :class:`Stations` owns them all and keeps the
indexes: by connection, by device name, and line number -> (station, line instance) for every
registered device carrying that line (a shared line is on several).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from skinnyctl.calls.events import Conn
from skinnyctl.sccp import Codec
from skinnyctl.site.model import Button, Device, Line, Site


class State(Enum):
    CONNECTED = "connected"  # TCP up, no device yet
    REGISTERED = "registered"  # RegisterAck sent
    CLOSING = "closing"  # we asked the edge to close; waiting for Disconnected
    CLOSED = "closed"  # gone (never stored)


@dataclass(frozen=True)
class ButtonSlot:
    """One entry of a device's ButtonTemplate: position, per-kind instance, what it carries."""

    position: int  # 1-based physical position
    instance: int  # 1-based, counted per kind (line 1, speed dial 1, ...)
    button: Button
    line: Line | None = None  # kind == "line"


@dataclass(frozen=True)
class ButtonLayout:
    """What a device's buttons are, in template order and per kind (instances are 1-based)."""

    slots: tuple[ButtonSlot, ...]
    dropped: int = 0  # configured buttons beyond the device's capacity

    def of_kind(self, kind: str) -> tuple[ButtonSlot, ...]:
        return tuple(s for s in self.slots if s.button.kind == kind)

    def find(self, kind: str, instance: int) -> ButtonSlot | None:
        for s in self.slots:
            if s.button.kind == kind and s.instance == instance:
                return s
        return None

    @property
    def lines(self) -> tuple[ButtonSlot, ...]:
        return self.of_kind("line")

    @property
    def speed_dials(self) -> tuple[ButtonSlot, ...]:
        return self.of_kind("speed_dial")


# The codec's ButtonTemplate holds 42 definitions (mod_skinny's and wazo's size).
TEMPLATE_CAPACITY = 42


def layout_for(site: Site, device: Device) -> ButtonLayout:
    capacity = min(device.capacity, TEMPLATE_CAPACITY)
    counters: dict[str, int] = {}
    slots = []
    for position, button in enumerate(device.buttons[:capacity], start=1):
        counters[button.kind] = counters.get(button.kind, 0) + 1
        line = site.line(button.line) if button.kind == "line" else None
        slots.append(ButtonSlot(position, counters[button.kind], button, line))
    return ButtonLayout(tuple(slots), max(0, len(device.buttons) - capacity))


@dataclass
class Station:
    conn: Conn
    ip: str
    port: int
    connected_at: float  # monotonic
    last_seen: float  # monotonic: last message received
    state: State = State.CONNECTED
    timer_at: float | None = None  # deadline the timer heap holds for this station
    before_register: int = 0  # messages received while CONNECTED (core.py rule 2)
    # --- set at registration ---
    device: Device | None = None
    layout: ButtonLayout | None = None
    name: str = ""
    instance: int = 0
    user_id: int = 0
    device_type: int = 0
    max_streams: int = 0
    station_ip: str = ""  # what the phone says its address is (differs behind NAT)
    phone_protocol: int = 0  # what the phone announced
    protocol: int = 0  # what we negotiated
    utf8: bool = False
    firmware_load: str = ""
    registered_at: float = 0.0  # Unix time
    keepalive: int = 30
    # --- recorded from the phone's informational messages ---
    codecs: tuple[int, ...] = ()
    max_frames: dict[int, int] = field(default_factory=dict)
    rtp_port: int = 0
    headset: int = 0
    accessories: dict[int, int] = field(default_factory=dict)
    available_lines: int | None = None
    alarms: list[dict[str, Any]] = field(default_factory=list)

    @property
    def registered(self) -> bool:
        return self.state is State.REGISTERED

    @property
    def label(self) -> str:
        """How logs name it: the device, else the peer address."""
        return f"{self.name}:{self.instance}" if self.name else f"{self.ip}:{self.port}"

    def codec_names(self) -> list[str]:
        out = []
        for c in self.codecs:
            try:
                out.append(Codec(c).name)
            except ValueError:
                out.append(str(c))
        return out

    def line_instance(self, number: str) -> int | None:
        """The line instance of directory number ``number`` on this device, if it carries it."""
        if self.layout is None:
            return None
        for slot in self.layout.lines:
            if slot.button.line == number:
                return slot.instance
        return None

    def slot(self, kind: str, instance: int) -> ButtonSlot | None:
        """The button of ``kind`` with ``instance`` on this device (None before Register)."""
        return self.layout.find(kind, instance) if self.layout else None

    def line_at(self, instance: int) -> Line | None:
        slot = self.slot("line", instance)
        return slot.line if slot else None

    def event_fields(self) -> dict[str, Any]:
        """The seed's device event headers (Skinny-Device-Name, ...), in snake_case."""
        return {
            "device_name": self.name,
            "instance": self.instance,
            "user_id": self.user_id,
            "ip": self.ip,
            "device_type": self.device_type,
            "model": self.device.model.name if self.device else "",
            "max_streams": self.max_streams,
            "port": self.rtp_port or None,
            "codecs": self.codec_names(),
        }

    def snapshot(self) -> dict[str, Any]:
        """Plain data for status (built on the core thread, safe to hand to others)."""
        return {
            **self.event_fields(),
            "state": self.state.value,
            "protocol": self.protocol,
            "phone_protocol": self.phone_protocol,
            "firmware_load": self.firmware_load,
            "registered_at": self.registered_at,
            "keepalive": self.keepalive,
            "headset": self.headset,
            "available_lines": self.available_lines,
            "lines": [s.button.line for s in self.layout.lines] if self.layout else [],
            "alarms": list(self.alarms[-5:]),
        }


class Stations:
    """Every connection, and the registered devices by name and by line."""

    def __init__(self) -> None:
        self._by_conn: dict[Conn, Station] = {}
        self._by_name: dict[str, Station] = {}
        self._by_line: dict[str, list[Station]] = {}

    def __len__(self) -> int:
        return len(self._by_conn)

    def __iter__(self) -> Iterator[Station]:
        return iter(list(self._by_conn.values()))

    def add(self, station: Station) -> None:
        self._by_conn[station.conn] = station

    def get(self, conn: Conn) -> Station | None:
        return self._by_conn.get(conn)

    def remove(self, conn: Conn) -> Station | None:
        station = self._by_conn.pop(conn, None)
        if station is not None:
            self.unbind(station)
        return station

    # --- registered devices -------------------------------------------------------------------

    def bind(self, station: Station) -> None:
        """Index a station that just registered (by name and by each of its lines)."""
        self._by_name[station.name] = station
        for slot in station.layout.lines if station.layout else ():
            self._by_line.setdefault(slot.button.line, []).append(station)

    def unbind(self, station: Station) -> None:
        """Forget a device's registration (its lines are no longer reachable on it)."""
        if self._by_name.get(station.name) is station:
            del self._by_name[station.name]
        for number, carriers in list(self._by_line.items()):
            if station in carriers:
                carriers.remove(station)
                if not carriers:
                    del self._by_line[number]

    def by_name(self, name: str) -> Station | None:
        return self._by_name.get(name.upper())

    def registered(self) -> list[Station]:
        return list(self._by_name.values())

    def carriers(self, number: str) -> list[tuple[Station, int]]:
        """Registered devices carrying line ``number``, with its line instance on each."""
        out = []
        for station in self._by_line.get(number, ()):
            instance = station.line_instance(number)
            if instance is not None:
                out.append((station, instance))
        return out
