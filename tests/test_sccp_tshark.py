"""Oracle: Wireshark's own SCCP dissector must accept every frame we encode and read back the
values we put in. Skipped only when tshark is missing and env CI is unset."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from skinnyctl.sccp import ALL_MESSAGES, MAX_PROTOCOL_VERSION, Message, encode
from skinnyctl.sccp.wire import FixedList, IPAddr, Struct, Versioned, WireType
from tests.test_sccp_samples import samples
from tests.tshark import SkinnyPDU, assert_clean, problems, require_tshark, skinny_messages

# Our class name -> Wireshark's name, where they differ (sccp-protocol.md §2 "Other names").
WS_NAMES = {
    "KeepAlive": "KeepAliveReq",
    "Register": "RegisterReq",
    "Unregister": "UnregisterReq",
    "AccessoryStatus": "MediaPathEvent",
    "XMLAlarm": "EnhancedAlarm",
    "ForwardStat": "ForwardStatRes",
    "SpeedDialStat": "SpeedDialStatRes",
    "LineStat": "LineStatRes",
    "ConfigStat": "ConfigStatRes",
    "DefineTimeDate": "TimeDateRes",
    "ButtonTemplate": "ButtonTemplateRes",
    "Version": "VersionRes",
    "BackSpaceReq": "BackSpaceRes",
    "FeatureStat": "FeatureStatRes",
    "ServiceURLStat": "ServiceURLStatRes",
    "CallSelectStat": "CallSelectStatRes",
    "SubscriptionStat": "SubscriptionStatRes",
}

# Our field name -> Wireshark's field, where it is not "skinny." + camelCase(name).
FIELD_NAMES = {
    "device_name": "skinny.DeviceName",
    "user_id": "skinny.reserved.for.future.use",
    "station_user_id": "skinny.reserved.for.future.use",
    "station_instance": "skinny.instance",
    "pass_thru_party_id": "skinny.passThroughPartyId",
    "millisecond_packet_size": "skinny.milliSecondPacketSize",
    "rfc2833_payload_type": "skinny.RFC2833PayloadType",
    "echo_cancel_type": "skinny.ecValue",
    "tone_direction": "skinny.tone.output.direction",
    "forward_no_answer_dirnum": "skinny.forwardNoAnswerlDirnum",
    "number_lines": "skinny.numberOfLines",
    "number_speed_dials": "skinny.numberOfSpeedDials",
    "year": "skinny.wYear",
    "month": "skinny.wMonth",
    "day_of_week": "skinny.wDayOfWeek",
    "day": "skinny.wDay",
    "hour": "skinny.wHour",
    "minute": "skinny.wMinute",
    "second": "skinny.wSecond",
    "milliseconds": "skinny.wMilliseconds",
    "version": "skinny.versionStr",
    "server_name": "skinny.ServerName",
    "server_listen_port": "skinny.serverTcpListenPort",
    "timeout": "skinny.timeOutValue",
    "feature_id": "skinny.featureID",
    "service_url_index": "skinny.serviceURLIndex",
    "service_url": "skinny.serviceURL",
    "service_url_display_name": "skinny.serviceURLDisplayName",
    "app_instance_id": "skinny.appInstanceID",
    "routing_id": "skinny.routingID",
    "subscription_feature_id": "skinny.subscriptionFeatureID",
    "subscription_id": "skinny.subscriptionID",
    "accessory_id": "skinny.mediaPathID",
    "accessory_status": "skinny.mediaPathEvent",
    "data": "skinny.xmldata",
    "xml_data": "skinny.alarmInfo",
}
PER_CLASS_FIELD_NAMES = {
    ("Register", "protocol_version"): "skinny.protocolVer",
    ("RegisterAck", "protocol_version"): "skinny.maxProtocolVer",
    ("Stimulus", "stimulus_instance"): "skinny.lineInstance",
    ("DisplayNotify", "text"): "skinny.notify",
    ("DisplayPriNotify", "text"): "skinny.notify",
    ("ServerRes", "server_ip_addr"): "skinny.stationIpAddr",
    ("ConfigStat", "server_name"): "skinny.serverName",
}

# Fields Wireshark 4.0 does not dissect (in the versions tested); their values are not checked.
NOT_DISSECTED = {
    ("Unregister", "un_reg_reason_code"),
    ("FeatureStatReq", "feature_capabilities"),
    ("AccessoryStatus", "unknown"),
    ("Register", "phone_features"),  # shown as bit fields
    ("Register", "mac_address"),  # shown as a 6-byte MAC
    ("RegisterAck", "features"),  # shown as bit fields
    ("SelectSoftKeys", "valid_key_mask"),  # shown as bit fields
    ("CallInfo", "party_pi_restriction_bits"),  # shown as bit fields
    # [WS] reads this address little-endian; we follow [CS] (network order, like Register).
    ("RegisterTokenReq", "station_ip_addr"),
}
# ... or only from some protocol version on (the dissector stops at the classic length).
NOT_DISSECTED_BEFORE = {
    ("OpenReceiveChannel", "source_ip_addr"): 17,
    ("OpenReceiveChannel", "source_port_number"): 17,
    ("StopTone", "tone"): 11,
}

# Every one of these that a message has must be checked against tshark's value.
KEY_FIELDS = {
    "device_name",
    "line_instance",
    "line_number",
    "call_reference",
    "call_state",
    "calling_party",
    "called_party",
    "calling_party_name",
    "called_party_name",
    "dialed_number",
    "line_dir_number",
    "speed_dial_dir_number",
    "forward_all_dirnum",
    "ip_addr",
    "remote_ip_addr",
    "source_ip_addr",
    "transmit_ip_addr",
    "station_ip_addr",
    "port_number",
    "remote_port_number",
    "source_port_number",
    "compression_type",
    "payload_capability",
    "conference_id",
    "pass_thru_party_id",
}

VERSIONS = [0, 11, 17, 18, MAX_PROTOCOL_VERSION]


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _wire(cls: type[Struct], name: str, version: int) -> WireType:
    spec = next(s for s in cls.LAYOUT if s.name == name)
    wt = spec.wire
    return wt.at(version) if isinstance(wt, Versioned) else wt


def _tshark_field(cls: type[Struct], owner: str, name: str, version: int) -> str:
    base = PER_CLASS_FIELD_NAMES.get((owner, name)) or FIELD_NAMES.get(name)
    if base is None:
        base = "skinny." + _camel(name)
    wire = _wire(cls, name, version)
    if isinstance(wire, FixedList):
        wire = wire.item
    # ServerRes' classic address is a plain IPv4 field; all others are "ipv46" trees.
    if isinstance(wire, IPAddr) and (version >= 17 or owner != "ServerRes"):
        return base + ".ipv4"
    return base


def _expected_pairs(obj: Struct, owner: str, version: int) -> list[tuple[str, str, Any]]:
    """(our field, tshark field, value) for every non-default value in obj (recursively)."""
    pairs: list[tuple[str, str, Any]] = []
    cls = type(obj)
    for spec in cls.active_layout(version):
        if spec.wire_only:
            continue
        value = getattr(obj, spec.name)
        default = next(f for f in dataclasses.fields(cls) if f.name == spec.name)
        if isinstance(value, list) and value and isinstance(value[0], Struct):
            for item in value:
                pairs.extend(_expected_pairs(item, owner, version))
            continue
        if isinstance(value, Struct):
            pairs.extend(_expected_pairs(value, owner, version))
            continue
        dflt = default.default_factory() if callable(default.default_factory) else default.default
        if value == dflt:
            continue
        if (owner, spec.name) in NOT_DISSECTED:
            continue
        if version < NOT_DISSECTED_BEFORE.get((owner, spec.name), 0):
            continue
        tfield = _tshark_field(cls, owner, spec.name, version)
        values = value if isinstance(value, list) else [value]
        for v in values:
            if v in (0, "", "0.0.0.0"):
                continue
            pairs.append((spec.name, tfield, v))
    return pairs


def _same(ours: Any, theirs: str) -> bool:
    if isinstance(ours, bytes):
        return ours.decode("latin-1") == theirs
    if isinstance(ours, int):
        try:
            return int(ours) == int(theirs, 0)
        except ValueError:
            return False
    if isinstance(ours, str) and any(ord(c) >= 0x80 or ord(c) < 0x20 for c in ours):
        # tshark shows label escapes as U+FFFD; compare the plain-text part only.
        plain = "".join(c for c in ours if 0x20 <= ord(c) < 0x80)
        return plain in theirs
    return str(ours) == theirs


def _check_values(msg: Message, pdu: SkinnyPDU, version: int) -> tuple[list[str], set[str]]:
    errors = []
    checked = set()
    for name, tfield, value in _expected_pairs(msg, type(msg).__name__, version):
        got = pdu.get(tfield)
        if not any(_same(value, g) for g in got):
            errors.append(f"{type(msg).__name__}.{name}={value!r}: tshark {tfield}={got}")
        else:
            checked.add(name)
    return errors, checked


@pytest.mark.parametrize("version", VERSIONS)
def test_wireshark_accepts_and_reads_every_message(version: int) -> None:
    require_tshark()
    msgs = samples(version)
    assert {type(x) for x in msgs} == set(ALL_MESSAGES), "samples must cover every class"
    frames = [(x.DIRECTION.value, encode(x, version)) for x in msgs]
    packets = assert_clean(frames)
    errors = []
    for msg, pkt in zip(msgs, packets, strict=True):
        pdus = skinny_messages(pkt)
        assert len(pdus) == 1, f"{type(msg).__name__}: {len(pdus)} PDUs"
        pdu = pdus[0]
        cls_name = type(msg).__name__
        assert pdu.message_id == msg.MESSAGE_ID
        expected_name = WS_NAMES.get(cls_name, cls_name)
        if pdu.name != expected_name:
            errors.append(f"{cls_name}: tshark calls it {pdu.name}")
        value_errors, checked = _check_values(msg, pdu, version)
        errors += value_errors
        # every key field carrying a value must have been verified
        for name, _tfield, _value in _expected_pairs(msg, cls_name, version):
            if name in KEY_FIELDS and name not in checked:
                errors.append(f"{cls_name}.{name} not verified")
    assert not errors, "\n".join(errors)


def test_ipv6_media_addresses_from_v17() -> None:
    require_tshark()
    from skinnyctl.sccp import OpenReceiveChannel, OpenReceiveChannelAck, StartMediaTransmission

    msgs: list[Message] = [
        OpenReceiveChannelAck(
            ip_addr="2001:db8::45", port_number=24582, pass_thru_party_id=901, call_reference=4716
        ),
        StartMediaTransmission(
            conference_id=1,
            pass_thru_party_id=2,
            remote_ip_addr="2001:db8::48",
            remote_port_number=24586,
            millisecond_packet_size=20,
            compression_type=4,
        ),
        OpenReceiveChannel(
            conference_id=1,
            pass_thru_party_id=2,
            source_ip_addr="2001:db8::49",
            source_port_number=24588,
            requested_ip_addr_type=1,
        ),
    ]
    packets = assert_clean([(x.DIRECTION.value, encode(x, 17)) for x in msgs])
    got = [skinny_messages(p)[0] for p in packets]
    assert got[0].get("skinny.ipAddr.ipv6") == ["2001:db8::45"]
    assert got[1].get("skinny.remoteIpAddr.ipv6") == ["2001:db8::48"]
    assert got[2].get("skinny.sourceIpAddr.ipv6") == ["2001:db8::49"]
    assert got[0].get("skinny.ipv4or6") == ["1"]


def test_assert_clean_catches_a_short_classic_frame() -> None:
    """Negative control: the 28-byte classic OpenReceiveChannel is malformed to tshark."""
    require_tshark()
    import struct

    frame = struct.pack("<III", 4 + 28, 0, 0x0105) + bytes(28)
    with pytest.raises(AssertionError, match="malformed"):
        assert_clean([("from_cm", frame)])


def test_problems_is_empty_for_a_keepalive() -> None:
    require_tshark()
    from tests.tshark import dissect

    pkt = dissect([("to_cm", encode(ALL_MESSAGES[0]()))])[0]
    assert problems(pkt) == []
