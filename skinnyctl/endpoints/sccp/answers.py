"""The answers to a phone's registration-time requests, built from the site (pure functions).

Every request is answered, even for an instance the device does not have (with the index and
empty strings), because a phone waits for each answer and leaves the button blank otherwise
(sccp-protocol.md §3.8, §8.4).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable

from skinnyctl.calls.forward import Forwarding
from skinnyctl.sccp import (
    ButtonTemplate,
    ConfigStat,
    DefineTimeDate,
    FeatureStat,
    ForwardStat,
    LineStat,
    RegisterAck,
    SelectSoftKeys,
    ServerRes,
    ServiceURLStat,
    SoftKeySetIndex,
    SoftKeySetRes,
    SoftKeyTemplateRes,
    SpeedDialStat,
    StimulusType,
)
from skinnyctl.sccp.enums import label
from skinnyctl.sccp.messages import ButtonDefinition, SoftKeyDefinition, SoftKeySet
from skinnyctl.site import timezones
from skinnyctl.site.model import DEFAULT_SOFTKEY_SET, SOFTKEY_NAMES, SOFTKEY_SET_NAMES, Site

from .stations import ButtonLayout, Station

# --- protocol version ---------------------------------------------------------------------------

# wazo's rule, recommended by sccp-protocol.md §5.1: cap at 11 (all IPv4 layouts, no 25-byte
# numbers); features per §4.1.
PROTOCOL_CAP = 11
# ATAs announce a version they do not use (§8.1): drive them with the lowest.
FORCED_LOWEST = frozenset({12, 13})  # ATA 186, ATA 188


def negotiate(phone_version: int, device_type: int) -> tuple[int, bytes]:
    """(version we speak, RegisterAck features) for what the phone announced."""
    if device_type in FORCED_LOWEST or phone_version <= 3:
        return 3, b"\x00\x00\x00"
    if phone_version <= 10:
        return phone_version, b"\x20\x00\xfe"
    return PROTOCOL_CAP, b"\x20\xf1\xff"


def register_ack(site: Site, version: int, features: bytes) -> RegisterAck:
    ka = site.server.keepalive
    return RegisterAck(
        keep_alive_interval=ka,
        date_template=site.server.date_format,
        secondary_keep_alive_interval=ka,
        protocol_version=version,
        features=features,
    )


# --- buttons ------------------------------------------------------------------------------------

_BUTTON_TYPE = {
    "line": StimulusType.LINE,
    "speed_dial": StimulusType.SPEED_DIAL,
    "service_url": StimulusType.SERVICE_URL,
    "feature": StimulusType.FEATURE,
}

# What FeatureStat.featureID says for each feature site.toml allows (§6.2).
FEATURE_IDS: dict[str, StimulusType] = {
    "dnd": StimulusType.DO_NOT_DISTURB,
    "forward_all": StimulusType.FORWARD_ALL,
    "forward_busy": StimulusType.FORWARD_BUSY,
    "forward_no_answer": StimulusType.FORWARD_NO_ANSWER,
    "park": StimulusType.CALL_PARK,
    "pickup": StimulusType.CALL_PICKUP,
    "group_pickup": StimulusType.GROUP_CALL_PICKUP,
    "conference": StimulusType.CONFERENCE,
    "redial": StimulusType.LAST_NUMBER_REDIAL,
    "voicemail": StimulusType.VOICEMAIL,
    "hold": StimulusType.HOLD,
    "transfer": StimulusType.TRANSFER,
    "hlog": StimulusType.HUNT_GROUP,
    "barge": StimulusType.FEATURE,
    "idivert": StimulusType.FEATURE,
}

FEATURE_TITLES: dict[str, str] = {
    "dnd": "Do Not Disturb",
    "forward_all": "Forward All",
    "forward_busy": "Forward Busy",
    "forward_no_answer": "Forward No Answer",
    "park": "Park",
    "pickup": "Pickup",
    "group_pickup": "Group Pickup",
    "conference": "Conference",
    "redial": "Redial",
    "voicemail": "Voicemail",
    "hold": "Hold",
    "transfer": "Transfer",
    "hlog": "Hunt Group",
    "barge": "Barge",
    "idivert": "iDivert",
}


def button_template(layout: ButtonLayout) -> ButtonTemplate:
    defs = [
        ButtonDefinition(instance_number=s.instance, button_definition=_BUTTON_TYPE[s.button.kind])
        for s in layout.slots
    ]
    return ButtonTemplate(button_offset=0, total_button_count=len(defs), definitions=defs)


def line_stat(station: Station, instance: int) -> LineStat:
    slot = station.slot("line", instance)
    if slot is None or slot.line is None:
        return LineStat(line_number=instance)
    line = slot.line
    return LineStat(
        line_number=instance,
        line_dir_number=line.number,
        line_fully_qualified_display_name=line.display_name or line.number,
        line_text_label=slot.button.label or line.label or line.display_name or line.number,
        # original dialed, redirected dialed, calling line id, calling name id ([CS] sends 15)
        line_display_options=15,
    )


def speed_dial_stat(station: Station, instance: int) -> SpeedDialStat:
    slot = station.slot("speed_dial", instance)
    if slot is None:
        return SpeedDialStat(speed_dial_number=instance)
    b = slot.button
    return SpeedDialStat(
        speed_dial_number=instance,
        speed_dial_dir_number=b.number,
        speed_dial_display_name=b.label or b.number,
    )


def forward_stat(station: Station, instance: int, fwd: Forwarding | None = None) -> ForwardStat:
    """A line's forwards: ``fwd`` as they apply now (run-time settings included), else the
    line's site.toml keys."""
    line = station.line_at(instance)
    if line is None:
        return ForwardStat(line_number=instance)
    if fwd is None:
        fwd = Forwarding(line.forward_all, line.forward_busy, line.forward_no_answer)
    fa, fb, fn = fwd.all, fwd.busy, fwd.no_answer
    return ForwardStat(
        active_forward=int(bool(fa or fb or fn)),
        line_number=instance,
        forward_all_active=int(bool(fa)),
        forward_all_dirnum=fa,
        forward_busy_active=int(bool(fb)),
        forward_busy_dirnum=fb,
        forward_no_answer_active=int(bool(fn)),
        forward_no_answer_dirnum=fn,
    )


def service_url_stat(station: Station, instance: int) -> ServiceURLStat:
    slot = station.slot("service_url", instance)
    if slot is None:
        return ServiceURLStat(service_url_index=instance)
    b = slot.button
    return ServiceURLStat(
        service_url_index=instance,
        service_url=b.url,
        service_url_display_name=b.label or "Services",
    )


def feature_stat(
    station: Station, instance: int, status: Callable[[Station, str], int] | None = None
) -> FeatureStat:
    """A feature button: its kind, title and (``status``) whether it is lit."""
    slot = station.slot("feature", instance)
    if slot is None:
        return FeatureStat(feature_index=instance, feature_id=StimulusType.FEATURE)
    b = slot.button
    return FeatureStat(
        feature_index=instance,
        feature_id=FEATURE_IDS.get(b.feature, StimulusType.FEATURE),
        feature_text_label=b.label or FEATURE_TITLES.get(b.feature, b.feature),
        feature_status=status(station, b.feature) if status is not None else 0,
    )


def config_stat(station: Station) -> ConfigStat:
    layout = station.layout
    return ConfigStat(
        device_name=station.name,
        station_user_id=station.user_id,
        station_instance=station.instance,
        user_name=station.device.description if station.device else "",
        server_name="skinnyctl",
        number_lines=len(layout.lines) if layout else 0,
        number_speed_dials=len(layout.speed_dials) if layout else 0,
    )


def server_res(site: Site) -> ServerRes:
    """The call managers phones may use, in priority order (ServerReq answer, §4.19)."""
    names, ports, addrs = [], [], []
    for a in site.server.addresses[:5]:
        names.append(a)
        ports.append(site.server.sccp_port)
        addrs.append(a if _is_ipv4(a) else "0.0.0.0")
    while len(names) < 5:
        names.append("")
        ports.append(0)
        addrs.append("0.0.0.0")
    return ServerRes(server_name=names, server_listen_port=ports, server_ip_addr=addrs)


def _is_ipv4(text: str) -> bool:
    parts = text.split(".")
    return len(parts) == 4 and all(p.isdigit() and int(p) < 256 for p in parts)


# --- soft keys ----------------------------------------------------------------------------------

# Built-in label ids of the template keys, in template order: events 1-18 use labels 1-18,
# DND is label 63 and iDivert label 80 (mod_skinny's template, §4.24); then the conference
# keys cBarge 81, RmLstC 57 and ConfList 79 (§6.5).
_SOFTKEY_LABEL_IDS = {name: i for i, name in enumerate(SOFTKEY_NAMES[:18], start=1)}
_SOFTKEY_LABEL_IDS.update(
    {"DND": 63, "iDivert": 80, "Barge": 67, "HLog": 92, "cBarge": 81, "RmLstC": 57, "ConfList": 79}
)

# Template position (1-based) == softkey event number (SoftKeyEventValue).
SOFTKEY_EVENT: dict[str, int] = {name: i for i, name in enumerate(SOFTKEY_NAMES, start=1)}


def softkey_template() -> SoftKeyTemplateRes:
    defs = [
        SoftKeyDefinition(soft_key_label=label(_SOFTKEY_LABEL_IDS[name]), soft_key_event=event)
        for name, event in SOFTKEY_EVENT.items()
    ]
    return SoftKeyTemplateRes(soft_key_offset=0, total_soft_key_count=len(defs), definitions=defs)


def softkey_sets(site: Site, set_name: str) -> SoftKeySetRes:
    chosen = site.softkey_sets.get(set_name) or DEFAULT_SOFTKEY_SET
    sets = []
    for state in SOFTKEY_SET_NAMES:
        keys = chosen.get(state, DEFAULT_SOFTKEY_SET.get(state, ()))[:16]
        index = [SOFTKEY_EVENT.get(k, 0) if k else 0 for k in keys]
        index += [0] * (16 - len(index))
        sets.append(SoftKeySet(soft_key_template_index=index, soft_key_info_index=[0] * 16))
    return SoftKeySetRes(soft_key_set_offset=0, total_soft_key_set_count=len(sets), sets=sets)


def in_use_key_mask(site: Site, set_name: str) -> int:
    """SelectSoftKeys.validKeyMask for a plane showing a shared line in use elsewhere: every
    key of the device's KeySetInUseHint but NewCall (mod_skinny shows only Redial there: the
    call is not this device's to start from; cBarge joins it)."""
    chosen = site.softkey_sets.get(set_name) or DEFAULT_SOFTKEY_SET
    keys = chosen.get("KeySetInUseHint", DEFAULT_SOFTKEY_SET["KeySetInUseHint"])[:16]
    return sum(1 << i for i, k in enumerate(keys) if k and k != "NewCall")


def select_on_hook() -> SelectSoftKeys:
    return SelectSoftKeys(
        line_instance=0,
        call_reference=0,
        soft_key_set_index=SoftKeySetIndex.ON_HOOK,
        valid_key_mask=0xFFFF,
    )


# --- time ---------------------------------------------------------------------------------------


def site_zone(name: str) -> dt.tzinfo:
    """The tzinfo for site.toml's time_zone (IANA, or a Cisco name via its reference zone)."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        pass
    cisco = timezones.to_cisco(name)
    if cisco:
        ref = timezones.DST_REFERENCE.get(cisco)
        if ref:
            try:
                return zoneinfo.ZoneInfo(ref)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
                pass
        minutes = timezones.CISCO_ZONES.get(cisco)
        if minutes is not None:
            return dt.timezone(dt.timedelta(minutes=minutes))
    return dt.UTC


def define_time_date(wall: float, zone: dt.tzinfo) -> DefineTimeDate:
    local = dt.datetime.fromtimestamp(wall, zone)
    return DefineTimeDate(
        year=local.year,
        month=local.month,
        day_of_week=(local.weekday() + 1) % 7,  # C tm_wday: 0 = Sunday
        day=local.day,
        hour=local.hour,
        minute=local.minute,
        second=local.second,
        milliseconds=local.microsecond // 1000,
        system_time=int(wall),
    )
