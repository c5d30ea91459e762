"""SCCP registration, sans-IO: the devices, their connections, and every request they make.

The front door (``calls.manager.CallManager``) hands it the SCCP inputs (Connected,
Received, Disconnected); it answers with actions (Send, SetVersion, MarkRegistered, Close,
Publish, RecordDiscovered) and passes the call messages of registered devices to the phone
endpoint (``phone.Phones``). Nothing here touches a socket, a thread or the system clock.

Registration state machine (one per connection). Rules:

1. A connection starts CONNECTED. The only way to REGISTERED is a Register naming a device of
   site.toml; any other Register gets RegisterReject with a readable reason, is recorded as a
   discovered device, and the connection goes CLOSING.
2. Before Register a connection may send only what phones send there (sccp-protocol.md §2.1,
   §7.1): KeepAlive (answered with KeepAliveAck: 7985, 6911 and token-registering phones send
   it first, §3.1), Alarm and XMLAlarm (why the phone reconnected: logged and published),
   RegisterTokenReq (RegisterTokenAck: one CM always allows, §3.2) and Unregister (UnregisterAck,
   CLOSING); at most PRE_REGISTER_MESSAGES of them. Anything else, or one more, closes the
   connection (CLOSING, counted as ``refused_before_register``), as mod_skinny does: a phone
   asks nothing before its RegisterAck.
3. A connection that is not REGISTERED REGISTER_DEADLINE seconds after it connected is closed,
   whatever it sent (CONNECTED -> CLOSING quietly, counted as ``register_deadline``).
4. A REGISTERED station silent for longer than EXPIRY_FACTOR x keepalive is expired (-> CLOSING
   with an ``expire`` event). Any message refreshes liveness from the time it *arrived*: the
   edge stamps arrivals (``heard``) before its input waits in a queue, so a phone whose
   keepalives arrived is never expired because the core was behind.
5. A lost connection (Disconnected) of a REGISTERED station is handled like an expiry (same
   event, reason = why the edge lost it). Whatever the state, Disconnected ends the station.
6. Unregister -> UnregisterAck(OK), ``unregister`` event, CLOSING (the edge closes after the ack
   is written, like mod_skinny).
7. A device registering while it is REGISTERED on another connection replaces it: the old
   connection is closed (``unregister`` event, reason "replaced"), then the new one is accepted.
   A second Register on the *same* registered connection is refused (RegisterReject) and the
   registration kept, as mod_skinny does.
8. Leaving REGISTERED for any reason unbinds the device's lines and tells the call layer
   (``CallLayer.device_gone``: the phone endpoint), which ends its calls for the others.
9. In CLOSING everything but Disconnected is ignored. CLOSED stations are forgotten.
10. Every request of a REGISTERED device is answered (§8.4), unknown instances with an empty
   record. Messages the core does not know go to the call layer (the phone endpoint); if it does
   not take them they are logged.
11. A handler that raises closes that connection only; the core keeps serving the others.
12. Registering emits MarkRegistered: from then on the edge serves the connection before
   unregistered ones and lifts its pre-registration byte budget.
13. Log lines a peer can repeat at will (refusals, rejections, alarms, unhandled messages) are
   rate-limited per kind and peer: the first, then how many more (``RateLimitedLog``).
"""

from __future__ import annotations

import collections
import heapq
import logging
from collections.abc import Callable
from enum import Enum
from typing import Any, Protocol

from skinnyctl.calls.clock import Clock
from skinnyctl.calls.events import (
    Action,
    Close,
    Conn,
    Connected,
    Disconnected,
    Event,
    MarkRegistered,
    Publish,
    Received,
    RecordDiscovered,
    Send,
    SetVersion,
)
from skinnyctl.calls.forward import Forwarding
from skinnyctl.ratelog import RateLimitedLog
from skinnyctl.sccp import (
    AccessoryStatus,
    Alarm,
    ButtonTemplateReq,
    CapabilitiesReq,
    CapabilitiesRes,
    ConfigStatReq,
    DeviceToUserData,
    DeviceToUserDataResponse,
    DeviceToUserDataResponseVersion1,
    DeviceToUserDataVersion1,
    FeatureStatReq,
    ForwardStatReq,
    HeadsetStatus,
    IpPort,
    KeepAlive,
    KeepAliveAck,
    LineStatReq,
    Message,
    Register,
    RegisterAvailableLines,
    RegisterReject,
    RegisterTokenAck,
    RegisterTokenReq,
    ServerReq,
    ServiceURLStatReq,
    SoftKeySetReq,
    SoftKeyTemplateReq,
    SpeedDialStatReq,
    SubscriptionStat,
    SubscriptionStatReq,
    TimeDateReq,
    UnknownMessage,
    Unregister,
    UnregisterAck,
    UserToDeviceData,
    UserToDeviceDataVersion1,
    Version,
    VersionReq,
    XMLAlarm,
)
from skinnyctl.sccp.enums import model_name
from skinnyctl.site.catalog import MODELS_BY_DEVICE_TYPE
from skinnyctl.site.model import Device, Site

from . import answers, mwi
from .stations import State, Station, Stations, layout_for

log = logging.getLogger("skinnyctl.callmanager")

SccpInput = Connected | Received | Disconnected

# §7.2 recommends dropping a registration after 2 x interval of silence (wazo's value; [FS]
# 110 %, [CS] 105-200 %): generous enough for a phone that misses one keepalive.
EXPIRY_FACTOR = 2.0
# Rule 2: a phone sends a KeepAlive or two, an Alarm, an XMLAlarm, maybe a RegisterTokenReq
# before Register; a connection that sends more is not a phone.
PRE_REGISTER_MESSAGES = 8
# Rule 3: a phone registers within a second of connecting (token registration adds one round
# trip); half a minute is generous and frees the connection slot of one that never will.
REGISTER_DEADLINE = 30.0
# Messages a connection may send before Register (rule 2), each with its event.
_BEFORE_REGISTER = (KeepAlive, Alarm, XMLAlarm, RegisterTokenReq, Unregister)


class Ev(Enum):
    """What happened to a station, as the registration table sees it."""

    KEEPALIVE = "keepalive"
    REGISTER_KNOWN = "register_known"
    REGISTER_UNKNOWN = "register_unknown"
    TOKEN = "token"
    ALARM = "alarm"
    REQUEST = "request"
    UNREGISTER = "unregister"
    SILENCE = "silence"
    LOST = "lost"
    REPLACED = "replaced"


C, R, X = State.CONNECTED, State.REGISTERED, State.CLOSING

# (state, event) -> (new state, handler). The handler produces the actions; the table alone
# decides where the station goes. Missing pairs cannot happen (every event is listed per state).
TRANSITIONS: dict[tuple[State, Ev], tuple[State, str]] = {
    (C, Ev.KEEPALIVE): (C, "ack_keepalive"),
    (C, Ev.REGISTER_KNOWN): (R, "accept"),
    (C, Ev.REGISTER_UNKNOWN): (X, "reject_unknown"),
    (C, Ev.TOKEN): (C, "ack_token"),
    (C, Ev.ALARM): (C, "record_alarm"),
    (C, Ev.REQUEST): (X, "refuse_unregistered"),
    (C, Ev.UNREGISTER): (X, "ack_unregister"),
    (C, Ev.SILENCE): (X, "close_idle"),
    (C, Ev.LOST): (State.CLOSED, "nothing"),
    (C, Ev.REPLACED): (C, "nothing"),
    (R, Ev.KEEPALIVE): (R, "ack_keepalive"),
    (R, Ev.REGISTER_KNOWN): (R, "reject_duplicate"),
    (R, Ev.REGISTER_UNKNOWN): (R, "reject_duplicate"),
    (R, Ev.TOKEN): (R, "ack_token"),
    (R, Ev.ALARM): (R, "record_alarm"),
    (R, Ev.REQUEST): (R, "answer"),
    (R, Ev.UNREGISTER): (X, "unregister"),
    (R, Ev.SILENCE): (X, "expire"),
    (R, Ev.LOST): (State.CLOSED, "lost"),
    (R, Ev.REPLACED): (X, "replaced"),
    **{(X, ev): (X, "nothing") for ev in Ev if ev is not Ev.LOST},
    (X, Ev.LOST): (State.CLOSED, "nothing"),
}


class CallLayer(Protocol):
    """What the phone endpoint plugs into registration. All calls happen on the core thread."""

    def message(self, station: Station, message: Message) -> list[Action] | None:
        """Actions for a message of a registered device, or None when it is not a call message."""
        ...

    def device_gone(self, station: Station, reason: str) -> list[Action]:
        """A device left (unregister, expiry, lost, replaced): tear down its calls."""
        ...


class DeviceFeatures(Protocol):
    """What a phone's office features (endpoints/sccp/features.py) add to its registration:
    forwards and feature-button states as they are now, and what to show once registered."""

    def forwarding(self, number: str) -> Forwarding: ...

    def feature_status(self, st: Station, feature: str) -> int: ...

    def shown(self, st: Station) -> list[Message]: ...


class NoCalls:
    """No call layer (registration alone, as in some tests): takes no message."""

    def message(self, station: Station, message: Message) -> list[Action] | None:
        return None

    def device_gone(self, station: Station, reason: str) -> list[Action]:
        return []


_ALARMS = (Alarm, XMLAlarm)
_USER_TO_DEVICE = (UserToDeviceData, UserToDeviceDataVersion1)
_DEVICE_TO_USER = (
    DeviceToUserData,
    DeviceToUserDataResponse,
    DeviceToUserDataVersion1,
    DeviceToUserDataResponseVersion1,
)


def device_name_mac(name: str) -> str | None:
    """The MAC in a device name ("SEP001120AABBCC", "ATA..."), or None."""
    n = name.strip().upper()
    for prefix in ("SEP", "ATA"):
        if n.startswith(prefix) and len(n) == len(prefix) + 12:
            mac = n[len(prefix) :]
            if all(c in "0123456789ABCDEF" for c in mac):
                return mac
    return None


class Registrar:
    def __init__(
        self,
        site: Site,
        clock: Clock,
        calls: CallLayer | None = None,
        heard: Callable[[Conn], float | None] | None = None,
    ) -> None:
        """``heard(conn)``: when the edge last received input on ``conn`` (clock.now() time),
        though the core may not have it yet (rule 4); None: only what the core handled counts."""
        self.site = site
        self.clock = clock
        self.calls: CallLayer = calls or NoCalls()
        self.features: DeviceFeatures | None = None  # set with the phone endpoint
        self.heard = heard
        self.stations = Stations()
        # Connections refused by the rules, by reason (status shows them).
        self.counters: collections.Counter[str] = collections.Counter()
        self.quiet = RateLimitedLog(log, clock.now)
        self.zone = answers.site_zone(site.server.time_zone)
        self._by_mac = {d.mac: d for d in site.devices}  # Site.device() scans a list
        # Message waiting per directory number: site.toml's start value, then the control API.
        self.mwi: dict[str, bool] = {ln.number: ln.mwi for ln in site.lines}
        # Built once: the same objects go to every phone, so the edge can cache their bytes.
        self._softkey_template = answers.softkey_template()
        self._softkey_sets_cache: dict[str, Message] = {}
        self._timers: list[tuple[float, Conn]] = []  # one entry per station (lazy refresh)
        self._requests: dict[type[Message], Callable[[Station, Any], list[Action]]] = {
            ButtonTemplateReq: self._button_template,
            SoftKeyTemplateReq: lambda st, m: [Send(st.conn, self._softkey_template)],
            SoftKeySetReq: self._softkey_sets,
            LineStatReq: lambda st, m: [Send(st.conn, answers.line_stat(st, m.line_number))],
            SpeedDialStatReq: lambda st, m: [
                Send(st.conn, answers.speed_dial_stat(st, m.speed_dial_number))
            ],
            ForwardStatReq: self._forward_stat,
            ServiceURLStatReq: lambda st, m: [
                Send(st.conn, answers.service_url_stat(st, m.service_url_index))
            ],
            FeatureStatReq: lambda st, m: [
                Send(
                    st.conn,
                    answers.feature_stat(
                        st, m.feature_index, self.features.feature_status if self.features else None
                    ),
                )
            ],
            ConfigStatReq: lambda st, m: [Send(st.conn, answers.config_stat(st))],
            TimeDateReq: lambda st, m: [
                Send(st.conn, answers.define_time_date(self.clock.wall(), self.zone))
            ],
            VersionReq: self._version,
            ServerReq: lambda st, m: [Send(st.conn, answers.server_res(self.site))],
            SubscriptionStatReq: self._subscription,
            CapabilitiesRes: self._capabilities,
            IpPort: self._ip_port,
            HeadsetStatus: self._headset,
            AccessoryStatus: self._accessory,
            RegisterAvailableLines: self._available_lines,
        }

    # --- the three entry points ---------------------------------------------------------------

    def handle(self, event: SccpInput) -> list[Action]:
        now = self.clock.now()
        if isinstance(event, Connected):
            new = Station(
                event.conn,
                event.ip,
                event.port,
                connected_at=now,
                last_seen=now,
                keepalive=self.site.server.keepalive,
            )
            self.stations.add(new)
            self._arm(new)
            return []
        st = self.stations.get(event.conn)
        if st is None:
            log.debug("input for unknown connection %s: %r", event.conn, event)
            return []
        try:
            if isinstance(event, Disconnected):
                return self._step(st, Ev.LOST, event.reason)
            st.last_seen = max(st.last_seen, now if event.at is None else event.at)
            if st.state is State.CONNECTED:
                st.before_register += 1
            actions = self._step(st, self._classify(st, event.message), event.message)
            self._arm(st)  # registering can bring the deadline forward (a short keepalive)
            return actions
        except Exception:
            log.exception("error handling %r from %s; closing that connection", event, st.label)
            return self._fail(st)

    def on_timer(self, now: float | None = None) -> list[Action]:
        now = self.clock.now() if now is None else now
        actions: list[Action] = []
        while self._timers and self._timers[0][0] <= now:
            at, conn = heapq.heappop(self._timers)
            st = self.stations.get(conn)
            if st is None or st.timer_at != at:
                continue  # gone, or superseded by an earlier deadline
            st.timer_at = None
            if self.heard is not None and st.state is State.REGISTERED:
                arrived = self.heard(conn)  # input still queued at the edge counts (rule 4)
                if arrived is not None and arrived > st.last_seen:
                    st.last_seen = arrived
            due = self._deadline(st)
            if due > now:  # it spoke since: re-arm for the real deadline
                self._arm(st)
                continue
            try:
                actions += self._step(st, Ev.SILENCE, None)
            except Exception:
                log.exception("error expiring %s", st.label)
                actions += self._fail(st)
        self.quiet.flush()
        return actions

    def next_deadline(self) -> float | None:
        return self._timers[0][0] if self._timers else None

    # --- queries (core thread) ----------------------------------------------------------------

    def snapshot(self) -> list[dict[str, Any]]:
        """Registered devices as plain data."""
        return [st.snapshot() for st in self.stations.registered()]

    # --- commands of the control API (core thread; they return actions like handle) ----------

    def send_to(self, device_name: str, message: Message) -> list[Action]:
        """Send ``message`` to a registered device (``skinnyctl send``). KeyError if the
        device is not registered. UserToDeviceData* is also published (user_to_device)."""
        st = self.stations.by_name(device_name)
        if st is None:
            raise KeyError(device_name)
        log.info("control: sending %s to %s", type(message).__name__, st.label)
        actions: list[Action] = [Send(st.conn, message)]
        if isinstance(message, _USER_TO_DEVICE):
            actions.append(
                self._publish("user_to_device", **st.event_fields(), **_d2u_fields(message))
            )
        return actions

    def set_mwi(self, number: str, on: bool) -> list[Action]:
        """Message waiting on line ``number``: its lamp on every registered device carrying
        it (the line's icon, and the handset lamp while any of the device's lines waits)."""
        self.mwi[number] = on
        actions: list[Action] = []
        for st, instance in self.stations.carriers(number):
            actions.append(Send(st.conn, mwi.lamp(instance, on)))
            actions.append(Send(st.conn, mwi.lamp(mwi.HANDSET, mwi.any_waiting(st, self.mwi))))
        log.info("message waiting %s on line %s", "on" if on else "off", number)
        return actions

    def reload(self, site: Site) -> list[Action]:
        """Use a new (already validated) site: new registrations see it at once; registered
        devices keep their registration and calls (reset them to apply button changes)."""
        old = self.site
        self.site = site
        self._by_mac = {d.mac: d for d in site.devices}
        self.zone = answers.site_zone(site.server.time_zone)
        self._softkey_sets_cache.clear()
        actions: list[Action] = []
        for line in site.lines:
            previous = old.line(line.number)
            file_changed = previous is None or previous.mwi != line.mwi
            if file_changed and self.mwi.get(line.number, False) != line.mwi:
                actions += self.set_mwi(line.number, line.mwi)
        return actions

    def changed_devices(self) -> list[str]:
        """Registered devices registered with a description the current site changed or no
        longer has (after a reload): a Reset applies the change."""
        out = []
        for st in self.stations.registered():
            new = self._by_mac.get(st.device.mac) if st.device else None
            if new is None or new != st.device or layout_for(self.site, new) != st.layout:
                out.append(st.name)
        return out

    # --- machinery ----------------------------------------------------------------------------

    def _classify(self, st: Station, msg: Message) -> Ev:
        if (
            st.state is State.CONNECTED
            and not isinstance(msg, Register)
            and (
                not isinstance(msg, _BEFORE_REGISTER) or st.before_register > PRE_REGISTER_MESSAGES
            )
        ):
            return Ev.REQUEST  # not what a phone sends before Register (rule 2)
        if isinstance(msg, KeepAlive):
            return Ev.KEEPALIVE
        if isinstance(msg, Register):
            return Ev.REGISTER_KNOWN if self._site_device(msg) else Ev.REGISTER_UNKNOWN
        if isinstance(msg, RegisterTokenReq):
            return Ev.TOKEN
        if isinstance(msg, _ALARMS):
            return Ev.ALARM
        if isinstance(msg, Unregister):
            return Ev.UNREGISTER
        return Ev.REQUEST

    def _step(self, st: Station, ev: Ev, arg: Any) -> list[Action]:
        new_state, handler = TRANSITIONS[(st.state, ev)]
        old_state = st.state
        actions: list[Action] = getattr(self, "_on_" + handler)(st, arg)
        st.state = new_state
        if old_state is State.REGISTERED and new_state is not State.REGISTERED:
            self.stations.unbind(st)
        if new_state is State.CLOSED:
            self.stations.remove(st.conn)
        return actions

    def _fail(self, st: Station) -> list[Action]:
        actions: list[Action] = []
        if st.state is State.REGISTERED:
            actions += self._gone(st, "expire", "internal error")
            self.stations.unbind(st)
        if st.state is not State.CLOSING:
            st.state = State.CLOSING
            actions.append(Close(st.conn, "internal error"))
        return actions

    def _deadline(self, st: Station) -> float:
        if st.state is State.CONNECTED:
            return st.connected_at + REGISTER_DEADLINE  # whatever it sent (rule 3)
        return st.last_seen + EXPIRY_FACTOR * st.keepalive

    def _arm(self, st: Station) -> None:
        """Make sure a timer fires by ``st``'s deadline; a later one is re-armed when it fires."""
        due = self._deadline(st)
        if st.timer_at is None or due < st.timer_at:
            st.timer_at = due
            heapq.heappush(self._timers, (due, st.conn))

    def _site_device(self, msg: Register) -> Device | None:
        mac = device_name_mac(msg.device_name)
        return self._by_mac.get(mac) if mac else None

    def _publish(self, kind: str, **fields: Any) -> Publish:
        return Publish(Event(kind, self.clock.wall(), fields))

    def _gone(self, st: Station, kind: str, reason: str) -> list[Action]:
        """The device leaves REGISTERED: its calls end, the bus hears it."""
        actions = self.calls.device_gone(st, reason)
        actions.append(self._publish(kind, **st.event_fields(), reason=reason))
        return actions

    # --- table handlers -----------------------------------------------------------------------

    def _on_nothing(self, st: Station, arg: Any) -> list[Action]:
        return []

    def _on_ack_keepalive(self, st: Station, msg: KeepAlive) -> list[Action]:
        return [Send(st.conn, KeepAliveAck())]

    def _on_ack_token(self, st: Station, msg: RegisterTokenReq) -> list[Action]:
        # One CM: always allow (§3.2).
        return [Send(st.conn, RegisterTokenAck())]

    def _on_refuse_unregistered(self, st: Station, msg: Message) -> list[Action]:
        self.counters["refused_before_register"] += 1
        what = type(msg).__name__
        if isinstance(msg, _BEFORE_REGISTER):
            what = f"{st.before_register} messages"
        self.quiet.warning(f"refuse {st.ip}", "closing %s: sent %s before Register", st.label, what)
        return [Close(st.conn, f"sent {what} before Register")]

    def _on_reject_unknown(self, st: Station, msg: Register) -> list[Action]:
        name = msg.device_name.strip() or "(no name)"
        mac = device_name_mac(name)
        model = MODELS_BY_DEVICE_TYPE.get(int(msg.device_type))
        model_text = model.name if model else model_name(int(msg.device_type))
        self.counters["register_rejected"] += 1
        if mac:
            reason = f"Unknown device {name}"
            self.quiet.warning(
                f"reject {st.ip}",
                "rejected %s (%s, %s:%d): not in site.toml; add a [[devices]] entry with "
                'mac = "%s" to accept it',
                name,
                model_text,
                st.ip,
                st.port,
                mac,
            )
        else:
            reason = "Bad device name"
            self.quiet.warning(
                f"reject {st.ip}",
                "rejected %r from %s:%d: not a SEP/ATA device name",
                name,
                st.ip,
                st.port,
            )
        actions: list[Action] = [
            Send(st.conn, RegisterReject(text=reason[:31])),
            Close(st.conn, f"register rejected: {reason}"),
        ]
        if mac:
            actions.insert(1, RecordDiscovered(mac, st.ip, model.name if model else None, name))
        return actions

    def _on_reject_duplicate(self, st: Station, msg: Register) -> list[Action]:
        self.quiet.warning(
            f"duplicate {st.name}", "%s sent a second Register on its connection; refused", st.label
        )
        return [Send(st.conn, RegisterReject(text="Already registered"))]

    def _on_accept(self, st: Station, msg: Register) -> list[Action]:
        device = self._site_device(msg)
        assert device is not None  # classified REGISTER_KNOWN
        actions: list[Action] = []
        old = self.stations.by_name(device.name)
        if old is not None and old is not st:
            actions += self._step(old, Ev.REPLACED, f"replaced by {st.ip}:{st.port}")
        version, features = answers.negotiate(msg.protocol_version, int(msg.device_type))
        st.device = device
        st.layout = layout_for(self.site, device)
        st.name = device.name
        st.instance = msg.instance
        st.user_id = msg.user_id
        st.device_type = int(msg.device_type)
        st.max_streams = msg.max_streams
        st.station_ip = msg.station_ip_addr
        st.phone_protocol = msg.protocol_version
        st.protocol = version
        st.utf8 = msg.supports_utf8
        st.firmware_load = msg.firmware_load_name
        st.registered_at = self.clock.wall()
        st.keepalive = self.site.server.keepalive
        self.stations.bind(st)
        warning = ""
        if st.device_type != device.model.device_type:
            announced = MODELS_BY_DEVICE_TYPE.get(st.device_type)
            warning = (
                f"announces device type {st.device_type} "
                f"({announced.name if announced else model_name(st.device_type)}) but site.toml "
                f"says model {device.model.name} (type {device.model.device_type})"
            )
            log.warning("%s %s; registering anyway, fix model in site.toml", st.label, warning)
        if st.layout.dropped:
            log.warning(
                "%s: %d buttons beyond the %d a %s (with its modules) has are not sent",
                st.label,
                st.layout.dropped,
                device.capacity,
                device.model.name,
            )
        log.info(
            "registered %s (%s) from %s:%d, protocol %d (phone %d)",
            st.label,
            device.model.name,
            st.ip,
            st.port,
            version,
            msg.protocol_version,
        )
        actions += [
            MarkRegistered(st.conn),
            Send(st.conn, answers.register_ack(self.site, version, features)),
            SetVersion(st.conn, version),
            Send(st.conn, CapabilitiesReq()),
            self._publish("register", **st.event_fields(), warning=warning),
        ]
        return actions

    def _on_record_alarm(self, st: Station, msg: Alarm | XMLAlarm) -> list[Action]:
        base = st.event_fields() if st.name else {"ip": st.ip}
        if isinstance(msg, XMLAlarm):
            self.quiet.info(
                f"alarm {st.label}", "XML alarm from %s: %s", st.label, msg.xml_data[:200]
            )
            st.alarms.append({"xml": msg.xml_data})
            return [self._publish("xml_alarm", **base, xml=msg.xml_data)]
        self.quiet.info(
            f"alarm {st.label}",
            "alarm from %s (severity %d): %s",
            st.label,
            msg.alarm_severity,
            msg.text,
        )
        fields = {
            "severity": int(msg.alarm_severity),
            "text": msg.text,
            "param1": msg.parm1,
            "param2": msg.parm2,
        }
        st.alarms.append(fields)
        return [self._publish("alarm", **base, **fields)]

    def _on_answer(self, st: Station, msg: Message) -> list[Action]:
        handler = self._requests.get(type(msg))
        if handler is not None:
            return handler(st, msg)
        if isinstance(msg, _DEVICE_TO_USER):
            return [self._publish("device_to_user", **st.event_fields(), **_d2u_fields(msg))]
        taken = self.calls.message(st, msg)
        if taken is not None:
            return taken
        what = type(msg).__name__
        if isinstance(msg, UnknownMessage):
            what = f"message {msg.message_id:#06x}"
        self.quiet.info(f"unhandled {st.label}", "%s sent %s; not handled yet", st.label, what)
        return []

    def _on_unregister(self, st: Station, msg: Unregister) -> list[Action]:
        log.info("%s unregistered", st.label)
        return [
            Send(st.conn, UnregisterAck(status=0)),
            *self._gone(st, "unregister", "unregister"),
            Close(st.conn, "unregistered"),
        ]

    def _on_ack_unregister(self, st: Station, msg: Unregister) -> list[Action]:
        return [Send(st.conn, UnregisterAck(status=0)), Close(st.conn, "unregistered")]

    def _on_expire(self, st: Station, arg: None) -> list[Action]:
        silence = self.clock.now() - st.last_seen
        reason = f"no keepalive for {silence:.0f} s (interval {st.keepalive} s)"
        log.warning("%s expired: %s", st.label, reason)
        return [*self._gone(st, "expire", reason), Close(st.conn, "keepalive expired")]

    def _on_lost(self, st: Station, reason: str) -> list[Action]:
        log.warning("%s lost its connection: %s", st.label, reason)
        return self._gone(st, "expire", f"connection lost: {reason}")

    def _on_replaced(self, st: Station, reason: str) -> list[Action]:
        log.warning("%s %s; closing the old connection %s:%d", st.label, reason, st.ip, st.port)
        return [*self._gone(st, "unregister", reason), Close(st.conn, reason)]

    def _on_close_idle(self, st: Station, arg: None) -> list[Action]:
        self.counters["register_deadline"] += 1
        self.quiet.info(
            f"idle {st.ip}",
            "closing %s:%d: not registered %.0f s after connecting",
            st.ip,
            st.port,
            REGISTER_DEADLINE,
        )
        return [Close(st.conn, "never registered")]

    # --- request handlers (REGISTERED) --------------------------------------------------------

    def _button_template(self, st: Station, msg: ButtonTemplateReq) -> list[Action]:
        assert st.layout is not None
        # MWI lamps follow the template: the phone knows its line instances by then.
        shown = self.features.shown(st) if self.features is not None else []
        return [
            Send(st.conn, answers.button_template(st.layout)),
            *(Send(st.conn, m) for m in mwi.device_lamps(st, self.mwi)),
            *(Send(st.conn, m) for m in shown),  # forward lamps, DND prompt...
        ]

    def _forward_stat(self, st: Station, msg: ForwardStatReq) -> list[Action]:
        line = st.line_at(msg.line_number)
        fwd = self.features.forwarding(line.number) if line and self.features else None
        return [Send(st.conn, answers.forward_stat(st, msg.line_number, fwd))]

    def _softkey_sets(self, st: Station, msg: SoftKeySetReq) -> list[Action]:
        name = st.device.softkeys if st.device else "default"
        sets = self._softkey_sets_cache.get(name)
        if sets is None:
            sets = self._softkey_sets_cache[name] = answers.softkey_sets(self.site, name)
        return [
            Send(st.conn, sets),
            Send(st.conn, answers.select_on_hook()),
        ]

    def _version(self, st: Station, msg: VersionReq) -> list[Action]:
        firmware = self.site.firmware_for(st.device) if st.device else ""
        if not firmware:
            # mod_skinny's wording, so people searching for it find the same cause
            log.info(
                "Device %s is requesting for firmware version, but none is set "
                '(set firmware in [models."%s"] or on the device)',
                st.label,
                st.device.model.name if st.device else "?",
            )
        return [Send(st.conn, Version(version=firmware))]

    def _subscription(self, st: Station, msg: SubscriptionStatReq) -> list[Action]:
        # BLF for dialled numbers is not offered: acknowledge so the phone does not wait.
        return [
            Send(
                st.conn,
                SubscriptionStat(
                    transaction_id=msg.transaction_id,
                    subscription_feature_id=msg.subscription_feature_id,
                    timer=msg.timer,
                    cause=0,
                ),
            )
        ]

    def _capabilities(self, st: Station, msg: CapabilitiesRes) -> list[Action]:
        st.codecs = tuple(int(c.payload_capability) for c in msg.caps)
        st.max_frames = {int(c.payload_capability): c.max_frames_per_packet for c in msg.caps}
        log.debug("%s codecs: %s", st.label, ",".join(st.codec_names()))
        return []

    def _ip_port(self, st: Station, msg: IpPort) -> list[Action]:
        st.rtp_port = msg.rtp_media_port
        return []

    def _headset(self, st: Station, msg: HeadsetStatus) -> list[Action]:
        st.headset = int(msg.headset_status)
        return []

    def _accessory(self, st: Station, msg: AccessoryStatus) -> list[Action]:
        st.accessories[int(msg.accessory_id)] = int(msg.accessory_status)
        return []

    def _available_lines(self, st: Station, msg: RegisterAvailableLines) -> list[Action]:
        st.available_lines = msg.max_num_of_avail_lines
        return []


def _d2u_fields(msg: Any) -> dict[str, Any]:
    """The seed's DeviceToUser/UserToDevice headers of a *ToUserData*/UserToDevice* message."""
    fields = {
        "message": type(msg).__name__,
        "message_id": msg.MESSAGE_ID,
        "application_id": msg.application_id,
        "line_instance": msg.line_instance,
        "call_reference": msg.call_reference,
        "transaction_id": msg.transaction_id,
        "data": msg.data.decode("latin-1"),
    }
    for name in (
        "sequence_flag",
        "display_priority",
        "conference_id",
        "app_instance_id",
        "routing_id",
    ):
        if hasattr(msg, name):
            fields[name] = int(getattr(msg, name))
    return fields
