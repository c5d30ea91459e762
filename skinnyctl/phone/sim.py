"""A simulated SCCP phone that registers like a real 7960 or 7961 (sccp-protocol.md §7.1).

    phone = SimPhone("127.0.0.1", 2000, "001120AABB01", model="7960")
    phone.connect()
    reg = phone.register()             # the whole request sequence; raises Rejected
    reg.lines[1].line_dir_number        # what the server said
    phone.wait_for(KeepAliveAck, 5)     # any message, optionally matching a predicate
    phone.keep_alive()                  # a KeepAlive, and the ack that answers it
    phone.frames                        # [(direction, frame bytes)] both ways, for tshark
    phone.close()

Threads: one reader (frames in, decoded, logged, waiters woken) and, after registering, one
keepalive sender at the interval the server gave (or ``keepalive_interval``). Later issues add
calls and RTP on top of ``send`` / ``wait_for``.

Media (calls): the phone answers every OpenReceiveChannel with an OpenReceiveChannelAck naming
its RTP socket (127.0.0.1, a free UDP port, bound on the first request); StartMediaTransmission
sets where ``send_rtp`` sends (``media_to``), StopMediaTransmission clears it. Packets received
on the RTP socket are kept in ``rtp_in`` (``wait_rtp`` waits for them). ``answer_media = False``
leaves OpenReceiveChannel unanswered.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from skinnyctl.sccp import (
    ButtonTemplate,
    ButtonTemplateReq,
    CapabilitiesReq,
    CapabilitiesRes,
    Codec,
    ConfigStat,
    ConfigStatReq,
    DefineTimeDate,
    FeatureStat,
    FeatureStatReq,
    ForwardStat,
    ForwardStatReq,
    HeadsetStatus,
    IpPort,
    KeepAlive,
    KeepAliveAck,
    LineStat,
    LineStatReq,
    Message,
    OpenReceiveChannel,
    OpenReceiveChannelAck,
    Register,
    RegisterAck,
    RegisterAvailableLines,
    RegisterReject,
    SelectSoftKeys,
    ServiceURLStat,
    ServiceURLStatReq,
    SoftKeySetReq,
    SoftKeySetRes,
    SoftKeyTemplateReq,
    SoftKeyTemplateRes,
    SpeedDialStat,
    SpeedDialStatReq,
    StartMediaTransmission,
    StimulusType,
    StopMediaTransmission,
    TimeDateReq,
    Unregister,
    UnregisterAck,
    Version,
    VersionReq,
    decode,
    encode,
)
from skinnyctl.sccp.framing import MAX_MESSAGE_LENGTH
from skinnyctl.sccp.messages import MediaCapability

M = TypeVar("M", bound=Message)


@dataclass(frozen=True)
class Profile:
    """What a model's firmware announces in Register (captures quoted in §3.2)."""

    device_type: int
    protocol: int
    features: bytes
    max_streams: int
    max_lines: int
    load: str
    asks_version: bool  # old firmware asks VersionReq (§7.1)
    headset: bool


PROFILES: dict[str, Profile] = {
    "7960": Profile(7, 11, b"\x00\x60\x85", 0, 0, "P0030801SR02", True, True),
    "7940": Profile(8, 11, b"\x00\x60\x85", 0, 0, "P0030801SR02", True, True),
    "7961": Profile(30018, 17, b"\x00\x72\x85", 5, 6, "SCCP41.8-5-3S", False, False),
    "7941": Profile(115, 17, b"\x00\x72\x85", 5, 2, "SCCP41.8-5-3S", False, False),
}


@dataclass(frozen=True)
class RtpPacket:
    source: tuple[str, int]
    payload_type: int
    seq: int
    ssrc: int
    payload: bytes
    at: float = 0.0  # time.monotonic() when it arrived
    timestamp: int = 0
    marker: bool = False

    def header(self) -> bytes:
        """Its 12-byte RTP header (no CSRC, no extension), e.g. to write it to a capture."""
        second = (0x80 if self.marker else 0) | self.payload_type
        return struct.pack("!BBHII", 0x80, second, self.seq, self.timestamp, self.ssrc)


class Rejected(Exception):
    """The server answered Register with RegisterReject."""

    def __init__(self, text: str) -> None:
        super().__init__(f"registration rejected: {text}")
        self.text = text


@dataclass
class Registration:
    """Everything the server told the phone while it registered."""

    ack: RegisterAck
    buttons: ButtonTemplate | None = None
    softkeys: SoftKeyTemplateRes | None = None
    softkey_sets: SoftKeySetRes | None = None
    select: SelectSoftKeys | None = None
    lines: dict[int, LineStat] = field(default_factory=dict)
    forwards: dict[int, ForwardStat] = field(default_factory=dict)
    speed_dials: dict[int, SpeedDialStat] = field(default_factory=dict)
    service_urls: dict[int, ServiceURLStat] = field(default_factory=dict)
    features: dict[int, FeatureStat] = field(default_factory=dict)
    version: Version | None = None
    time: DefineTimeDate | None = None
    config: ConfigStat | None = None


class SimPhone:
    def __init__(
        self,
        host: str,
        port: int,
        mac: str,
        model: str = "7960",
        version: int | None = None,
        *,
        device_type: int | None = None,
        keepalive_interval: float | None = None,
        rtp_port: int = 20000,
        instance: int = 1,
        rtp_ip: str = "127.0.0.1",
        announce_ip: str | None = None,
        announce_port: int | None = None,
        asymmetric: bool = False,
    ) -> None:
        """``rtp_ip``: where the phone receives RTP (and sends from). ``announce_ip`` and
        ``announce_port``: what its Register (address only) and OpenReceiveChannelAck say
        (defaults: the connection's address, ``rtp_ip`` and the real port); other values make
        a phone behind NAT. ``asymmetric``: RTP is sent from a second socket, not the one it
        receives on."""
        profile = PROFILES.get(model, PROFILES["7961"])
        self.host, self.port = host, port
        self.mac = mac.replace(":", "").replace("-", "").replace(".", "").upper()
        self.name = f"SEP{self.mac}"
        self.model = model
        self.profile = profile
        self.device_type = profile.device_type if device_type is None else device_type
        self.announced_version = profile.protocol if version is None else version
        self.keepalive_interval = keepalive_interval
        self.rtp_port = rtp_port
        self.instance = instance
        self.version = 0  # negotiated; 0 until RegisterAck
        self.received: list[Message] = []
        self.frames: list[tuple[str, bytes]] = []
        self.sent: list[Message] = []
        self.closed = threading.Event()
        self.close_reason = ""
        self._sock: socket.socket | None = None
        self._cond = threading.Condition()
        self._taken: set[int] = set()
        self._send_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.answer_media = True
        self.media_to: tuple[str, int] | None = None
        self.rtp_in: list[RtpPacket] = []
        self._rtp: socket.socket | None = None
        self._rtp_tx: socket.socket | None = None  # asymmetric: the socket it sends from
        self._rtp_seq = 0
        self.rtp_ip = rtp_ip
        self.announce_ip = announce_ip
        self.announce_port = announce_port
        self.asymmetric = asymmetric

    # --- connection -------------------------------------------------------------------------

    def connect(self, timeout: float = 5.0) -> SimPhone:
        self._sock = socket.create_connection((self.host, self.port), timeout=timeout)
        self._sock.settimeout(None)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._start(self._reader, "reader")
        return self

    @property
    def local_ip(self) -> str:
        return self._sock.getsockname()[0] if self._sock else "0.0.0.0"

    def close(self) -> None:
        self.closed.set()
        for rtp in (self._rtp, self._rtp_tx):
            if rtp is not None:
                with contextlib.suppress(OSError):
                    rtp.close()
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                self._sock.close()
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(2.0)

    def __enter__(self) -> SimPhone:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, message: Message) -> None:
        self.send_raw(encode(message, self.version), message)

    def send_raw(self, frame: bytes, message: Message | None = None) -> None:
        """Write bytes as they are (tests send garbage with this)."""
        if self._sock is None:
            raise ConnectionError("not connected")
        with self._send_lock:
            self._sock.sendall(frame)
            self.frames.append(("to_cm", frame))
            if message is not None:
                self.sent.append(message)

    # --- receiving ----------------------------------------------------------------------------

    def wait_for(
        self,
        cls: type[M],
        timeout: float = 5.0,
        predicate: Callable[[M], bool] | None = None,
    ) -> M:
        """The oldest received ``cls`` (matching ``predicate``) not returned before; waits."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i, m in enumerate(self.received):
                    if (
                        i not in self._taken
                        and isinstance(m, cls)
                        and (predicate is None or predicate(m))
                    ):
                        self._taken.add(i)
                        return m
                left = deadline - time.monotonic()
                if self.closed.is_set():
                    raise ConnectionError(
                        f"{self.name}: connection closed ({self.close_reason}) "
                        f"before {cls.__name__} arrived"
                    )
                if left <= 0:
                    raise TimeoutError(f"{self.name}: no {cls.__name__} within {timeout} s")
                self._cond.wait(left)

    def keep_alive(self, timeout: float = 5.0) -> KeepAliveAck:
        """Send a KeepAlive and wait for the KeepAliveAck that answers it (not an older one):
        once it is back, the server has the keepalive, whatever its clock does next."""
        with self._cond:
            since = len(self.received)
        self.send(KeepAlive())
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i in range(since, len(self.received)):
                    m = self.received[i]
                    if i not in self._taken and isinstance(m, KeepAliveAck):
                        self._taken.add(i)
                        return m
                left = deadline - time.monotonic()
                if self.closed.is_set() or left <= 0:
                    raise TimeoutError(f"{self.name}: no KeepAliveAck within {timeout} s")
                self._cond.wait(left)

    def count(self, cls: type[Message]) -> int:
        with self._cond:
            return sum(1 for m in self.received if isinstance(m, cls))

    def wait_closed(self, timeout: float = 5.0) -> bool:
        return self.closed.wait(timeout)

    def _reader(self) -> None:
        sock = self._sock
        assert sock is not None
        buf = bytearray()
        reason = "closed by server"
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                buf += data
                while len(buf) >= 8:
                    length, hv = struct.unpack_from("<II", buf)
                    if not 4 <= length <= MAX_MESSAGE_LENGTH:
                        raise ValueError(f"bad frame length {length}")
                    if len(buf) < length + 8:
                        break
                    frame = bytes(buf[: length + 8])
                    del buf[: length + 8]
                    (mid,) = struct.unpack_from("<I", frame, 8)
                    msg = decode(mid, frame[12:], hv or self.version)
                    with self._cond:
                        self.frames.append(("from_cm", frame))
                        self.received.append(msg)
                        self._cond.notify_all()
                    self._media_message(msg)
        except (OSError, ValueError) as e:
            reason = str(e)
        finally:
            # like a phone: once the server is gone, so is our side of the connection
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with self._cond:
                self.close_reason = self.close_reason or reason
                self.closed.set()
                self._cond.notify_all()

    # --- registration (§7.1) -------------------------------------------------------------------

    def register_message(self) -> Register:
        mac = bytes.fromhex(self.mac) + bytes(6)
        return Register(
            device_name=self.name,
            user_id=0,
            instance=self.instance,
            station_ip_addr=self.announce_ip or self.local_ip,
            device_type=self.device_type,
            max_streams=self.profile.max_streams,
            active_streams=0,
            protocol_version=self.announced_version,
            phone_features=self.profile.features,
            max_conferences=0,
            mac_address=mac,
            max_number_of_lines=self.profile.max_lines,
            firmware_load_name=self.profile.load,
        )

    def register(self, timeout: float = 5.0, keepalive: bool = True) -> Registration:
        """Register and make every request a real phone of this model makes after it."""
        self.send(self.register_message())
        first = self.wait_for(
            Message, timeout, lambda m: isinstance(m, RegisterAck | RegisterReject)
        )
        if isinstance(first, RegisterReject):
            raise Rejected(first.text)
        assert isinstance(first, RegisterAck)
        self.version = first.protocol_version
        reg = Registration(ack=first)
        self.send(IpPort(rtp_media_port=self.rtp_port))
        if self.profile.headset:
            self.send(HeadsetStatus(headset_status=2))
        self.wait_for(CapabilitiesReq, timeout)
        self.send(CapabilitiesRes(caps=self.capabilities()))
        if self.profile.asks_version:
            reg.version = self.ask(VersionReq(), Version, timeout)
        reg.buttons = self.ask(ButtonTemplateReq(), ButtonTemplate, timeout)
        reg.softkeys = self.ask(SoftKeyTemplateReq(), SoftKeyTemplateRes, timeout)
        reg.softkey_sets = self.ask(SoftKeySetReq(), SoftKeySetRes, timeout)
        reg.select = self.wait_for(SelectSoftKeys, timeout)
        lines = 0
        for d in reg.buttons.definitions:
            n, kind = d.instance_number, d.button_definition
            if kind == StimulusType.LINE:
                lines += 1
                reg.lines[n] = self.ask(LineStatReq(line_number=n), LineStat, timeout)
                reg.forwards[n] = self.ask(ForwardStatReq(line_number=n), ForwardStat, timeout)
            elif kind == StimulusType.SPEED_DIAL:
                reg.speed_dials[n] = self.ask(
                    SpeedDialStatReq(speed_dial_number=n), SpeedDialStat, timeout
                )
            elif kind == StimulusType.SERVICE_URL:
                reg.service_urls[n] = self.ask(
                    ServiceURLStatReq(service_url_index=n), ServiceURLStat, timeout
                )
            elif kind == StimulusType.FEATURE:
                reg.features[n] = self.ask(FeatureStatReq(feature_index=n), FeatureStat, timeout)
        self.send(RegisterAvailableLines(max_num_of_avail_lines=lines))
        reg.time = self.ask(TimeDateReq(), DefineTimeDate, timeout)
        reg.config = self.ask(ConfigStatReq(), ConfigStat, timeout)
        if keepalive:
            self.start_keepalive(self.keepalive_interval or first.keep_alive_interval)
        return reg

    def ask(self, request: Message, answer: type[M], timeout: float = 5.0) -> M:
        self.send(request)
        return self.wait_for(answer, timeout)

    def unregister(self, timeout: float = 5.0) -> UnregisterAck:
        return self.ask(Unregister(), UnregisterAck, timeout)

    def capabilities(self) -> list[MediaCapability]:
        return [
            MediaCapability(payload_capability=Codec.G711_ULAW_64K, max_frames_per_packet=40),
            MediaCapability(payload_capability=Codec.G711_ALAW_64K, max_frames_per_packet=40),
            MediaCapability(payload_capability=Codec.G729_ANNEX_A, max_frames_per_packet=60),
        ]

    # --- media ------------------------------------------------------------------------------------

    @property
    def rtp_listen_port(self) -> int:
        """The UDP port the phone receives RTP on (0 until the first OpenReceiveChannel)."""
        return int(self._rtp.getsockname()[1]) if self._rtp is not None else 0

    def _media_message(self, msg: Message) -> None:
        if isinstance(msg, OpenReceiveChannel) and self.answer_media:
            self._open_rtp()
            with contextlib.suppress(OSError):
                self.send(
                    OpenReceiveChannelAck(
                        media_reception_status=0,
                        ip_addr=self.announce_ip or self.rtp_ip,
                        port_number=self.announce_port or self.rtp_listen_port,
                        pass_thru_party_id=msg.pass_thru_party_id,
                        call_reference=msg.call_reference,
                    )
                )
        elif isinstance(msg, StartMediaTransmission):
            self.media_to = (msg.remote_ip_addr, msg.remote_port_number)
        elif isinstance(msg, StopMediaTransmission):
            self.media_to = None

    def _open_rtp(self) -> None:
        if self._rtp is not None:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((self.rtp_ip, 0))
        self._rtp = sock
        if self.asymmetric:
            self._rtp_tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._rtp_tx.bind((self.rtp_ip, 0))
        self._start(self._rtp_reader, "rtp")

    def _rtp_reader(self) -> None:
        sock = self._rtp
        assert sock is not None
        while not self.closed.is_set():
            try:
                data, src = sock.recvfrom(2048)
            except OSError:
                return
            if len(data) < 12:
                continue
            _, pt, seq, ts, ssrc = struct.unpack_from("!BBHII", data)
            at = time.monotonic()
            with self._cond:
                self.rtp_in.append(
                    RtpPacket(src, pt & 0x7F, seq, ssrc, data[12:], at, ts, bool(pt & 0x80))
                )
                self._cond.notify_all()

    def send_rtp(self, count: int = 5, payload: bytes = b"", pt: int = 0) -> int:
        """Send ``count`` RTP packets (20 ms of G.711 each) to where StartMediaTransmission
        said; returns how many were sent (0 when no transmission was started). The sequence
        number of the last one sent is ``last_seq``."""
        if self.media_to is None or self._rtp is None:
            return 0
        ssrc = self.rtp_ssrc
        body = (payload or self.name.encode()).ljust(160, b"\xff")[:160]
        for _ in range(count):
            self._rtp_seq = (self._rtp_seq + 1) & 0xFFFF
            header = struct.pack("!BBHII", 0x80, pt, self._rtp_seq, self._rtp_seq * 160, ssrc)
            (self._rtp_tx or self._rtp).sendto(header + body, self.media_to)
        return count

    @property
    def last_seq(self) -> int:
        return self._rtp_seq

    def wait_rtp(
        self, predicate: Callable[[RtpPacket], bool] | None = None, timeout: float = 5.0
    ) -> RtpPacket:
        """The first received RTP packet matching ``predicate``; waits."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for p in self.rtp_in:
                    if predicate is None or predicate(p):
                        return p
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self.name}: no matching RTP within {timeout} s")
                self._cond.wait(left)

    @property
    def rtp_ssrc(self) -> int:
        """The SSRC this phone's RTP carries (derived from its MAC, so a peer can tell it)."""
        return int(self.mac[-8:], 16)

    def media_flows_with(self, other: SimPhone, tries: int = 50) -> bool:
        """Whether RTP from this phone reaches ``other`` and back (relayed or direct): sends a
        few packets each way per try, up to ``tries`` times."""
        for _ in range(tries):
            self.send_rtp(3)
            other.send_rtp(3)
            try:
                other.wait_rtp(lambda p: p.ssrc == self.rtp_ssrc, 0.2)
                self.wait_rtp(lambda p: p.ssrc == other.rtp_ssrc, 0.2)
            except TimeoutError:
                continue
            return True
        return False

    # --- keepalive ------------------------------------------------------------------------------

    def start_keepalive(self, interval: float) -> None:
        self._ka_interval = max(0.01, float(interval))
        self._start(self._keepalive_loop, "keepalive")

    def _keepalive_loop(self) -> None:
        while not self.closed.wait(self._ka_interval):
            try:
                self.send(KeepAlive())
            except OSError:
                return

    def _start(self, target: Callable[[], None], what: str) -> None:
        t = threading.Thread(target=target, name=f"{self.name}-{what}", daemon=True)
        self._threads.append(t)
        t.start()


__all__ = ["PROFILES", "Profile", "Registration", "Rejected", "RtpPacket", "SimPhone"]
