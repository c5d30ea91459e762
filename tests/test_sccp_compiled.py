"""The compiled codec (one struct pack/unpack per run of fixed fields) against the field-by-field
interpreter it replaces: same bytes, same decoded objects, same errors, for every message and
version, random values, random and short bodies, and values struct cannot pack as they are."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skinnyctl.sccp import (
    ALL_MESSAGES,
    ButtonTemplate,
    CallState,
    CallStateValue,
    LineStat,
    Message,
    OpenReceiveChannelAck,
    Register,
    StartMediaTransmission,
    decode,
    encode,
)
from skinnyctl.sccp.messages import ButtonDefinition
from skinnyctl.sccp.wire import Reader
from tests.test_sccp_codec import VERSIONS, struct_strategy


def interpreted(msg: Message, version: int) -> bytes:
    out = bytearray()
    msg._encode_fields(out, version)
    return bytes(out)


def interpreted_decode(cls: type[Message], body: bytes, version: int) -> Any:
    return cls._decode_fields(Reader(body), version)


def outcome(fn: Any, *args: Any) -> Any:
    try:
        return ("ok", fn(*args))
    except Exception as e:  # the type and text of the error must match too
        return ("error", type(e), str(e))


@pytest.mark.parametrize("cls", ALL_MESSAGES, ids=lambda c: c.__name__)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), version=st.sampled_from(VERSIONS))
def test_compiled_equals_interpreter(cls: type[Message], version: int, data: st.DataObject) -> None:
    msg = data.draw(struct_strategy(cls, version))
    body = msg.encode_body(version)
    assert body == interpreted(msg, version)
    fast = cls.decode_from(Reader(body), version)
    assert fast == interpreted_decode(cls, body, version)
    assert fast == msg
    assert type(fast) is cls
    # the decoded object's attributes are the interpreter's, wire-only ones included
    assert vars(fast) == vars(interpreted_decode(cls, body, version))


@pytest.mark.parametrize("cls", ALL_MESSAGES, ids=lambda c: c.__name__)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.binary(max_size=600), version=st.sampled_from(VERSIONS))
def test_random_and_short_bodies_decode_alike(
    cls: type[Message], body: bytes, version: int
) -> None:
    fast = outcome(lambda: vars(cls.decode_from(Reader(body), version)))
    slow = outcome(lambda: vars(interpreted_decode(cls, body, version)))
    assert fast == slow


@pytest.mark.parametrize(
    "msg",
    [
        LineStat(line_number=-1),  # masked to 0xFFFFFFFF by the interpreter
        LineStat(line_number=2**40),
        LineStat(line_number="7"),  # type: ignore[arg-type]
        LineStat(line_number=3.9),  # type: ignore[arg-type]
        LineStat(line_dir_number=1234),  # type: ignore[arg-type]
        LineStat(line_dir_number="caf\u00e9 \u2603 beyond latin-1"),
        CallState(call_state=CallStateValue.RING_IN, line_instance=True),  # type: ignore[arg-type]
        Register(device_name="x" * 40, station_ip_addr="10.0.0.300"),
        Register(station_ip_addr="::1"),
        OpenReceiveChannelAck(ip_addr="2001:db8::1"),
        OpenReceiveChannelAck(ip_addr="not an address"),
        StartMediaTransmission(remote_ip_addr="192.0.2.7"),
        ButtonTemplate(definitions=[ButtonDefinition(i, 9) for i in range(43)]),
        ButtonTemplate(definitions=[ButtonDefinition(1, 9), "junk"]),  # type: ignore[list-item]
    ],
    ids=repr,
)
@pytest.mark.parametrize("version", VERSIONS)
def test_odd_values_same_bytes_or_same_error(msg: Message, version: int) -> None:
    assert outcome(msg.encode_body, version) == outcome(interpreted, msg, version)
    if outcome(msg.encode_body, version)[0] == "ok":
        assert encode(msg, version)[12:].rstrip(b"\0") == interpreted(msg, version).rstrip(b"\0")


def test_enum_values_decode_to_members_and_unknown_stay_ints() -> None:
    body = CallState(call_state=CallStateValue.RING_IN).encode_body()
    assert decode(CallState.MESSAGE_ID, body).call_state is CallStateValue.RING_IN
    odd = (999).to_bytes(4, "little") + body[4:]
    got = decode(CallState.MESSAGE_ID, odd).call_state
    assert got == 999 and type(got) is int
