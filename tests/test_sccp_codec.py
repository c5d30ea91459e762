"""Property and unit tests for the SCCP codec: roundtrips, framing, chunking, bounds."""

from __future__ import annotations

import dataclasses
import logging
import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skinnyctl import sccp
from skinnyctl.sccp import (
    ALL_MESSAGES,
    MAX_MESSAGE_LENGTH,
    CallState,
    CallStateValue,
    FrameDecoder,
    KeepAlive,
    LineStat,
    Message,
    OffHook,
    OpenReceiveChannelAck,
    ProtocolError,
    Register,
    UnknownMessage,
    decode,
    encode,
)
from skinnyctl.sccp.wire import (
    Array,
    Blob,
    FixedList,
    IPAddr,
    IPv4,
    IPv6,
    Nested,
    Raw,
    Struct,
    TailText,
    Text,
    UInt,
    Versioned,
    WireType,
)
from tests.test_sccp_samples import samples

VERSIONS = [0, 11, 17, 18, sccp.MAX_PROTOCOL_VERSION]

# ---------------------------------------------------------------------------------------------
# Strategies derived from the declarations themselves, so a new message is covered for free.

_TEXT_CHARS = st.characters(min_codepoint=1, max_codepoint=255)


def _value(wire: WireType, version: int) -> st.SearchStrategy[Any]:
    if isinstance(wire, Versioned):
        return _value(wire.at(version), version)
    if isinstance(wire, UInt):
        return st.integers(0, wire.max)
    if isinstance(wire, Text):
        return st.text(_TEXT_CHARS, max_size=wire.size - 1)
    if isinstance(wire, TailText):
        return st.text(_TEXT_CHARS, max_size=300)
    if isinstance(wire, Raw):
        return st.binary(min_size=wire.size, max_size=wire.size)
    if isinstance(wire, IPv4):
        return st.ip_addresses(v=4).map(str)
    if isinstance(wire, IPv6):
        return st.ip_addresses(v=6).map(str)
    if isinstance(wire, IPAddr):
        if version >= 17:
            return st.ip_addresses().map(str)
        return st.ip_addresses(v=4).map(str)
    if isinstance(wire, FixedList):
        return st.lists(_value(wire.item, version), max_size=wire.count)
    if isinstance(wire, Nested):
        return struct_strategy(wire.cls, version)
    if isinstance(wire, Array):
        return st.lists(struct_strategy(wire.cls, version), max_size=wire.limit)
    if isinstance(wire, Blob):
        return st.binary(max_size=min(wire.limit, 400))
    raise AssertionError(f"no strategy for {wire!r}")


def struct_strategy(cls: type[Struct], version: int) -> st.SearchStrategy[Any]:
    kwargs = {
        spec.name: _value(spec.wire, version)
        for spec in cls.active_layout(version)
        if not spec.wire_only
    }
    return st.builds(cls, **kwargs)


def message_strategy(version: int) -> st.SearchStrategy[Message]:
    return st.one_of([struct_strategy(cls, version) for cls in ALL_MESSAGES])


# ---------------------------------------------------------------------------------------------
# Roundtrip


@pytest.mark.parametrize("cls", ALL_MESSAGES, ids=lambda c: c.__name__)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), version=st.sampled_from(VERSIONS))
def test_roundtrip_every_message(cls: type[Message], version: int, data: st.DataObject) -> None:
    msg = data.draw(struct_strategy(cls, version))
    frame = encode(msg, version)
    length, _hdr_version, message_id = struct.unpack_from("<III", frame)
    assert length == len(frame) - 8
    assert message_id == cls.MESSAGE_ID
    assert (len(frame) - 12) % 4 == 0
    assert decode(message_id, frame[12:], version) == msg
    assert FrameDecoder(version).feed(frame) == [msg]


@pytest.mark.parametrize("version", VERSIONS)
def test_samples_roundtrip(version: int) -> None:
    for msg in samples(version):
        assert FrameDecoder(version).feed(encode(msg, version)) == [msg]


def test_unknown_message_roundtrip_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="skinnyctl.sccp"):
        frame = struct.pack("<III", 4 + 8, 0, 0x7777) + b"abcdefgh"
        (msg,) = FrameDecoder().feed(frame)
    assert msg == UnknownMessage(0x7777, b"abcdefgh")
    assert "0x7777" in caplog.text
    assert encode(msg) == frame


# ---------------------------------------------------------------------------------------------
# Stream decoding


@settings(max_examples=200, deadline=None)
@given(
    msgs=st.lists(message_strategy(0), min_size=1, max_size=6),
    cuts=st.lists(st.integers(0, 10_000), max_size=20),
)
def test_any_chunking_yields_same_messages(msgs: list[Message], cuts: list[int]) -> None:
    stream = b"".join(encode(m) for m in msgs)
    points = sorted({c % (len(stream) + 1) for c in cuts})
    chunks = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    dec = FrameDecoder()
    out: list[Message] = []
    for chunk in chunks:
        out += dec.feed(chunk)
    assert out == msgs
    assert dec.buffered == 0


def test_one_byte_at_a_time_and_all_at_once() -> None:
    msgs = samples(0)
    stream = b"".join(encode(m) for m in msgs)
    dec = FrameDecoder()
    out: list[Message] = []
    for i in range(len(stream)):
        out += dec.feed(stream[i : i + 1])
    assert out == msgs
    assert FrameDecoder().feed(stream) == msgs


@settings(max_examples=500, deadline=None)
@given(data=st.binary(max_size=3000), version=st.sampled_from(VERSIONS))
def test_random_bytes_raise_only_protocol_error(data: bytes, version: int) -> None:
    dec = FrameDecoder(version)
    try:
        dec.feed(data)
    except ProtocolError:
        return
    assert dec.buffered <= sccp.MAX_FRAME_SIZE


@settings(max_examples=300, deadline=None)
@given(
    message_id=st.sampled_from([c.MESSAGE_ID for c in ALL_MESSAGES]),
    body=st.binary(max_size=1200),
    version=st.sampled_from(VERSIONS),
)
def test_random_bodies_of_known_messages_decode_or_protocol_error(
    message_id: int, body: bytes, version: int
) -> None:
    frame = struct.pack("<III", 4 + len(body), 0, message_id) + body
    try:
        FrameDecoder(version).feed(frame)
    except ProtocolError:
        pass


@pytest.mark.parametrize("length", [0, 1, 3, MAX_MESSAGE_LENGTH + 1, 0xFFFFFFFF])
def test_length_out_of_bounds_is_protocol_error(length: int) -> None:
    dec = FrameDecoder()
    with pytest.raises(ProtocolError):
        dec.feed(struct.pack("<II", length, 0))
    # the decoder stays failed: the caller must close the connection
    with pytest.raises(ProtocolError):
        dec.feed(encode(KeepAlive()))


def test_oversized_length_rejected_before_buffering_the_body() -> None:
    dec = FrameDecoder()
    with pytest.raises(ProtocolError):
        dec.feed(struct.pack("<II", 10_000_000, 0))
    assert dec.buffered == 0


def test_max_length_frame_is_accepted() -> None:
    body = bytes(MAX_MESSAGE_LENGTH - 4)
    frame = struct.pack("<III", MAX_MESSAGE_LENGTH, 0, 0x7778) + body
    (msg,) = FrameDecoder().feed(frame)
    assert msg == UnknownMessage(0x7778, body)


def test_several_messages_in_one_chunk_with_a_partial_tail() -> None:
    a, b = encode(KeepAlive()), encode(OffHook(line_instance=1, call_reference=2))
    dec = FrameDecoder()
    assert dec.feed(a + a + b[:5]) == [KeepAlive(), KeepAlive()]
    assert dec.buffered == 5
    assert dec.feed(b[5:]) == [OffHook(line_instance=1, call_reference=2)]


# ---------------------------------------------------------------------------------------------
# Header, versions, short messages


def test_header_layout() -> None:
    frame = encode(KeepAlive())
    assert frame == struct.pack("<III", 4, 0, 0)
    frame = encode(LineStat(line_number=1, line_dir_number="1001"))
    length, hdr_version, message_id = struct.unpack_from("<III", frame)
    assert (length, hdr_version, message_id) == (4 + 112, 0, 0x0092)


def test_header_version_follows_negotiated_version() -> None:
    assert struct.unpack_from("<I", encode(CallState(), 17), 4)[0] == 17
    assert struct.unpack_from("<I", encode(CallState(), 5), 4)[0] == 0
    # chan-sccp sends these three with a basic header whatever the version
    assert struct.unpack_from("<I", encode(sccp.KeepAliveAck(), 17), 4)[0] == 0
    assert struct.unpack_from("<I", encode(sccp.RegisterAck(), 17), 4)[0] == 0


def test_decoder_uses_header_version_over_negotiated() -> None:
    ack = OpenReceiveChannelAck(
        ip_addr="10.1.2.3", port_number=4000, pass_thru_party_id=7, call_reference=9
    )
    frame = encode(ack, 17)
    assert len(frame) - 12 == 36
    assert FrameDecoder(version=0).feed(frame) == [ack]


def test_ipv4_in_network_order() -> None:
    body = encode(OpenReceiveChannelAck(ip_addr="192.168.9.44", port_number=4000))[12:]
    assert body[4:8] == bytes([192, 168, 9, 44])
    assert body[8:12] == b"\xa0\x0f\x00\x00"


def test_ipv6_needs_v17() -> None:
    with pytest.raises(ValueError):
        encode(OpenReceiveChannelAck(ip_addr="2001:db8::1"), 11)
    frame = encode(OpenReceiveChannelAck(ip_addr="2001:db8::1"), 17)
    assert FrameDecoder(17).feed(frame)[0].ip_addr == "2001:db8::1"


def test_short_register_from_old_phone_decodes_with_defaults() -> None:
    body = struct.pack("<16sII4sII", b"SEP003094C2D7A3", 0, 1, bytes([10, 0, 0, 5]), 7, 0)
    msg = decode(0x0001, body, 0)
    assert isinstance(msg, Register)
    assert msg.device_name == "SEP003094C2D7A3"
    assert msg.station_ip_addr == "10.0.0.5"
    assert msg.device_type == sccp.DeviceType.CISCO_7960
    assert msg.device_type.model_name == "7960"
    assert msg.protocol_version == 0
    assert msg.firmware_load_name == ""


def test_optional_trailing_fields_default_to_zero() -> None:
    assert decode(0x0006, b"", 0) == OffHook()
    assert decode(0x0003, struct.pack("<I", 5), 0) == sccp.KeypadButton(kp_button=5)
    # pre-v17 OpenReceiveChannelAck without the trailing callRef
    body = struct.pack("<I4sII", 0, bytes([1, 2, 3, 4]), 4000, 77)
    assert decode(0x0022, body, 0) == OpenReceiveChannelAck(
        ip_addr="1.2.3.4", port_number=4000, pass_thru_party_id=77
    )


def test_wireshark_minimum_body_sizes() -> None:
    """sccp-protocol.md §1.7: the bodies Wireshark 4.0 needs to dissect cleanly."""
    minimum = {
        sccp.OpenReceiveChannel: 92,
        sccp.StartMediaTransmission: 112,
        sccp.CallInfo: 384,
        sccp.ConfigStat: 112,
        LineStat: 112,
        sccp.ForwardStat: 92,
        sccp.DisplayPromptStatus: 44,
        sccp.RegisterReject: 32,
        sccp.DialedNumber: 32,
        sccp.DefineTimeDate: 36,
        CallState: 24,
        sccp.RegisterAck: 20,
        sccp.SetRinger: 16,
        sccp.StartTone: 16,
        sccp.SelectSoftKeys: 16,
        sccp.StopMediaTransmission: 16,
        sccp.CloseReceiveChannel: 16,
        sccp.UnregisterAck: 4,
    }
    for cls, size in minimum.items():
        for version in VERSIONS:
            assert len(encode(cls(), version)) - 12 >= size, (cls.__name__, version)


def test_versioned_layouts_are_data() -> None:
    assert len(encode(sccp.DialedNumber(), 17)) - 12 == 32
    assert len(encode(sccp.DialedNumber(), 18)) - 12 == 36  # 25 + 4 + 4 packed, padded
    assert len(encode(sccp.ForwardStat(), 18)) - 12 == 96  # 95 packed, padded
    assert len(encode(sccp.StartMediaTransmission(), 17)) - 12 == 132
    assert len(encode(sccp.OpenReceiveChannel(), 17)) - 12 == 128
    num = "1234567890123456789012345"[:24]
    assert decode(0x011D, encode(sccp.DialedNumber(dialed_number=num), 18)[12:], 18) == (
        sccp.DialedNumber(dialed_number=num)
    )


def test_labels_are_byte_exact() -> None:
    msg = sccp.DisplayPromptStatus(prompt_status=sccp.label(sccp.Label.CONNECTED))
    assert encode(msg)[12 + 4 : 12 + 6] == b"\x80\x18"
    assert sccp.Label.FROM.text + "1001" == "\x80\x171001"


def test_messages_are_frozen_dataclasses_with_defaults() -> None:
    line = LineStat(line_number=1, line_dir_number="1001")
    with pytest.raises(dataclasses.FrozenInstanceError):
        line.line_number = 2  # type: ignore[misc]
    for cls in ALL_MESSAGES:
        cls()  # every field has a default
        assert cls.DIRECTION in (sccp.Direction.TO_CM, sccp.Direction.FROM_CM)
    assert CallState(call_state=CallStateValue.CONNECTED).call_state == 5


def test_static_exports_name_every_message_once() -> None:
    # __all__ is written out (type checkers read it); a message declared but not listed would
    # be invisible to them, a name listed twice would shadow another (enum vs message).
    declared = {cls.__name__ for cls in ALL_MESSAGES}
    assert declared <= set(sccp.messages.__all__)
    assert len(sccp.__all__) == len(set(sccp.__all__))
    for name in sccp.__all__:
        assert getattr(sccp, name) is not None
    assert sccp.KeypadButton is sccp.messages.KeypadButton


def test_button_template_counts() -> None:
    tpl = sccp.ButtonTemplate(definitions=[sccp.ButtonDefinition(1, sccp.StimulusType.LINE)])
    body = encode(tpl)[12:]
    assert struct.unpack_from("<III", body) == (0, 1, 1)
    assert len(body) == 12 + 2 * 42
    too_many = [sccp.ButtonDefinition(1, 9)] * 43
    with pytest.raises(ValueError):
        encode(sccp.ButtonTemplate(definitions=too_many))


def test_enum_lookup() -> None:
    assert sccp.model_name(30016) == "Cisco IP Communicator"
    assert sccp.model_name(4242) == "unknown (4242)"
    assert sccp.Tone.INSIDE_DIAL_TONE == 0x21
    assert sccp.SoftKeySetIndex.DIGITS_AFTER_DIALING_FIRST_DIGIT == 6
    assert sccp.StimulusType.UNDEFINED == 0xFF
