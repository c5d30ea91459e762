"""SCCP messages: one declaration per message, used for both encoding and decoding.

Adding a message is one entry::

    @message(0x0111, FROM_CM)
    class CallState(Message):
        call_state: int = u32(CallStateValue)
        line_instance: int = u32()
        call_reference: int = u32()

The class name is the protocol's name without "Message"; field names are the snake_case of
the Wireshark/chan-sccp names, in wire order. Field helpers and version rules are described in
``wire.py``: ``since=``/``until=`` and ``text(24, v18=25)`` express version differences,
``count_of``/``array`` and ``length_of``/``blob`` express counted data. Layouts are the full
modern (CUCM 7+) ones, because Wireshark 4.0 flags the short classic forms as malformed and
phones that parse only the classic prefix accept the longer bodies (sccp-protocol.md §1.7);
decoding accepts the short forms and fills defaults.

Naming decisions: call references are ``call_reference`` everywhere (the doc's callRef),
line instances ``line_instance`` (``line_number`` where the protocol says lineNumber), IP
addresses are strings, string fields are latin-1 ``str`` (use ``enums.label()`` for the
phone's built-in ``\\x80`` labels).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import ClassVar, TypeVar, dataclass_transform

from .enums import (
    Accessory,
    AccessoryState,
    AlarmSeverity,
    BlfStatus,
    CallHistoryDisposition,
    CallPriority,
    CallSecurityStatus,
    CallStateValue,
    CallType,
    CallVisibility,
    Codec,
    DeviceType,
    HeadsetMode,
    IpAddrType,
    LampMode,
    MediaStatus,
    ResetType,
    RingMode,
    RingType,
    SequenceFlag,
    SoftKeySetIndex,
    SpeakerMode,
    StimulusType,
    SubscriptionCause,
    Tone,
    ToneDirection,
    UnregisterReason,
    UnregisterStatus,
)
from .wire import (
    IPAddr,
    Struct,
    Text,
    UInt,
    array,
    blob,
    count_of,
    fixed_list,
    ip_addr,
    ipv4,
    ipv6,
    length_of,
    nested,
    pad,
    raw,
    struct_layout,
    tail_text,
    text,
    u8,
    u16,
    u32,
)


class Direction(StrEnum):
    TO_CM = "to_cm"  # station -> call manager
    FROM_CM = "from_cm"  # call manager -> station


TO_CM = Direction.TO_CM
FROM_CM = Direction.FROM_CM


class Message(Struct):
    """Base of all messages. ``MESSAGE_ID``, ``DIRECTION`` and ``NAME`` are set by @message."""

    MESSAGE_ID: ClassVar[int] = -1
    DIRECTION: ClassVar[Direction] = TO_CM
    NAME: ClassVar[str] = ""


MESSAGES: dict[int, type[Message]] = {}

M = TypeVar("M", bound=Message)


# What struct_layout is to type checkers (PEP 681), so CallState(call_state=...) is checked.
@dataclass_transform(frozen_default=True, field_specifiers=(count_of, length_of, pad))
def message(message_id: int, direction: Direction) -> Callable[[type[M]], type[M]]:
    def register(cls: type[M]) -> type[M]:
        cls = struct_layout(cls)
        cls.MESSAGE_ID = message_id
        cls.DIRECTION = direction
        cls.NAME = cls.__name__
        if message_id in MESSAGES:
            raise RuntimeError(f"duplicate message id {message_id:#06x}")
        MESSAGES[message_id] = cls
        return cls

    return register


# ---------------------------------------------------------------------------------------------
# Sub-structures


@struct_layout
class MediaCapability(Struct):
    """CapabilitiesRes entry (16 bytes)."""

    payload_capability: int = u32(Codec)
    max_frames_per_packet: int = u32()
    codec_mode: int = u8()
    dynamic_payload: int = u8()
    codec_param1: int = u8()
    codec_param2: int = u8()
    _pad: None = pad(4)


@struct_layout
class EncryptionInfo(Struct):
    """SRTP key material in media messages (48 bytes); all zero for plain RTP."""

    algorithm_id: int = u32()
    key_length: int = u16()
    salt_length: int = u16()
    key: bytes = raw(16)
    salt: bytes = raw(16)
    is_mki_present: int = u32()
    key_derivation_rate: int = u32()


@struct_layout
class ButtonDefinition(Struct):
    instance_number: int = u8()
    button_definition: int = u8(StimulusType)


@struct_layout
class SoftKeyDefinition(Struct):
    soft_key_label: str = text(16)
    soft_key_event: int = u32()


@struct_layout
class SoftKeySet(Struct):
    """Slot j holds the 1-based template position of the key shown in softkey position j."""

    soft_key_template_index: list[int] = fixed_list(UInt(1), 16)
    soft_key_info_index: list[int] = fixed_list(UInt(2), 16)


# ---------------------------------------------------------------------------------------------
# Station -> CM


@message(0x0000, TO_CM)
class KeepAlive(Message):
    pass


@message(0x0001, TO_CM)
class Register(Message):
    device_name: str = text(16)
    user_id: int = u32()
    instance: int = u32()
    station_ip_addr: str = ipv4()
    device_type: int = u32(DeviceType)
    max_streams: int = u32()
    # present when the body is longer than 36 bytes
    active_streams: int = u32()
    protocol_version: int = u8()
    phone_features: bytes = raw(3)  # [CS] feature bytes: see supports_utf8 etc.
    max_conferences: int = u32()
    # present when the body is longer than 48 bytes
    active_conferences: int = u32()
    mac_address: bytes = raw(12)
    ip_v4_address_scope: int = u32()
    max_number_of_lines: int = u32()
    ipv6_address: str = ipv6()
    ip_v6_address_scope: int = u32()
    firmware_load_name: str = text(32)
    config_version_stamp: str = text(48)

    @property
    def supports_utf8(self) -> bool:
        return bool(self.phone_features[1] & 0x10)

    @property
    def supports_dynamic_messages(self) -> bool:
        return bool(self.phone_features[2] & 0x01)

    @property
    def supports_rfc2833(self) -> bool:
        return bool(self.phone_features[2] & 0x04)


@message(0x0002, TO_CM)
class IpPort(Message):
    rtp_media_port: int = u32()


@message(0x0003, TO_CM)
class KeypadButton(Message):
    kp_button: int = u32()
    line_instance: int = u32()
    call_reference: int = u32()


@message(0x0004, TO_CM)
class EnblocCall(Message):
    called_party: str = text(24, v18=25)
    line_instance: int = u32(since=17)


@message(0x0005, TO_CM)
class Stimulus(Message):
    stimulus: int = u32(StimulusType)
    stimulus_instance: int = u32()
    call_reference: int = u32()
    stimulus_status: int = u32()


@message(0x0006, TO_CM)
class OffHook(Message):
    line_instance: int = u32()
    call_reference: int = u32()


@message(0x0007, TO_CM)
class OnHook(Message):
    line_instance: int = u32()
    call_reference: int = u32()


@message(0x0008, TO_CM)
class HookFlash(Message):
    line_instance: int = u32()
    call_reference: int = u32()


@message(0x0009, TO_CM)
class ForwardStatReq(Message):
    line_number: int = u32()


@message(0x000A, TO_CM)
class SpeedDialStatReq(Message):
    speed_dial_number: int = u32()


@message(0x000B, TO_CM)
class LineStatReq(Message):
    line_number: int = u32()


@message(0x000C, TO_CM)
class ConfigStatReq(Message):
    pass


@message(0x000D, TO_CM)
class TimeDateReq(Message):
    pass


@message(0x000E, TO_CM)
class ButtonTemplateReq(Message):
    pass


@message(0x000F, TO_CM)
class VersionReq(Message):
    pass


@message(0x0010, TO_CM)
class CapabilitiesRes(Message):
    _cap_count: None = count_of("caps")
    caps: list[MediaCapability] = array(MediaCapability, count="_cap_count", limit=18)


@message(0x0012, TO_CM)
class ServerReq(Message):
    pass


@message(0x0020, TO_CM)
class Alarm(Message):
    alarm_severity: int = u32(AlarmSeverity)
    text: str = text(80)
    parm1: int = u32()
    parm2: int = u32()


@message(0x0022, TO_CM)
class OpenReceiveChannelAck(Message):
    media_reception_status: int = u32(MediaStatus)
    ip_addr: str = ip_addr()
    port_number: int = u32()
    pass_thru_party_id: int = u32()
    call_reference: int = u32()


@message(0x0025, TO_CM)
class SoftKeySetReq(Message):
    pass


@message(0x0026, TO_CM)
class SoftKeyEvent(Message):
    soft_key_event: int = u32()
    line_instance: int = u32()
    call_reference: int = u32()


@message(0x0027, TO_CM)
class Unregister(Message):
    un_reg_reason_code: int = u32(UnregisterReason)


@message(0x0028, TO_CM)
class SoftKeyTemplateReq(Message):
    pass


@message(0x0029, TO_CM)
class RegisterTokenReq(Message):
    device_name: str = text(16)
    user_id: int = u32()
    instance: int = u32()
    station_ip_addr: str = ipv4()
    device_type: int = u32(DeviceType)
    ipv6_address: str = ipv6()
    unknown: int = u32()


@message(0x002B, TO_CM)
class HeadsetStatus(Message):
    headset_status: int = u32(HeadsetMode)


@message(0x002D, TO_CM)
class RegisterAvailableLines(Message):
    max_num_of_avail_lines: int = u32()


@message(0x002E, TO_CM)
class DeviceToUserData(Message):
    application_id: int = u32()
    line_instance: int = u32()
    call_reference: int = u32()
    transaction_id: int = u32()
    _data_length: None = length_of("data")
    data: bytes = blob(length="_data_length")


@message(0x002F, TO_CM)
class DeviceToUserDataResponse(Message):
    application_id: int = u32()
    line_instance: int = u32()
    call_reference: int = u32()
    transaction_id: int = u32()
    _data_length: None = length_of("data")
    data: bytes = blob(length="_data_length")


@message(0x0033, TO_CM)
class ServiceURLStatReq(Message):
    service_url_index: int = u32()


@message(0x0034, TO_CM)
class FeatureStatReq(Message):
    feature_index: int = u32()
    feature_capabilities: int = u32()


@message(0x0041, TO_CM)
class DeviceToUserDataVersion1(Message):
    application_id: int = u32()
    line_instance: int = u32()
    call_reference: int = u32()
    transaction_id: int = u32()
    _data_length: None = length_of("data")
    sequence_flag: int = u32(SequenceFlag)
    display_priority: int = u32()
    conference_id: int = u32()
    app_instance_id: int = u32()
    routing_id: int = u32()
    data: bytes = blob(length="_data_length")


@message(0x0042, TO_CM)
class DeviceToUserDataResponseVersion1(Message):
    application_id: int = u32()
    line_instance: int = u32()
    call_reference: int = u32()
    transaction_id: int = u32()
    _data_length: None = length_of("data")
    sequence_flag: int = u32(SequenceFlag)
    display_priority: int = u32()
    conference_id: int = u32()
    app_instance_id: int = u32()
    routing_id: int = u32()
    data: bytes = blob(length="_data_length")


@message(0x0048, TO_CM)
class SubscriptionStatReq(Message):
    """[FS] DialedPhoneBook."""

    transaction_id: int = u32()
    subscription_feature_id: int = u32()
    timer: int = u32()
    subscription_id: str = text(256)


@message(0x0049, TO_CM)
class AccessoryStatus(Message):
    """[WS] MediaPathEvent."""

    accessory_id: int = u32(Accessory)
    accessory_status: int = u32(AccessoryState)
    unknown: int = u32()


@message(0x0154, TO_CM)
class StartMediaTransmissionAck(Message):
    # [CS] calls these callRef, passThruPartyId, callRef1; names follow [WS].
    conference_id: int = u32()
    pass_thru_party_id: int = u32()
    call_reference: int = u32()
    transmit_ip_addr: str = ip_addr()
    port_number: int = u32()
    media_transmission_status: int = u32(MediaStatus)


@message(0x015A, TO_CM)
class XMLAlarm(Message):
    """[WS] EnhancedAlarm: an XML document."""

    xml_data: str = tail_text()


# ---------------------------------------------------------------------------------------------
# CM -> Station


@message(0x0081, FROM_CM)
class RegisterAck(Message):
    keep_alive_interval: int = u32()
    # chan-sccp's char[7] + 1 pad (mod_skinny: 6 + 2, same 8 bytes): room for "M/D/YA", the
    # trailing A asking for a 12-hour clock (text fields keep one byte for the NUL).
    date_template: str = text(7)
    _reserved: None = pad(1)
    secondary_keep_alive_interval: int = u32()
    protocol_version: int = u8()
    features: bytes = raw(3)


@message(0x0082, FROM_CM)
class StartTone(Message):
    tone: int = u32(Tone)
    tone_direction: int = u32(ToneDirection)
    line_instance: int = u32()
    call_reference: int = u32()


@message(0x0083, FROM_CM)
class StopTone(Message):
    line_instance: int = u32()
    call_reference: int = u32()
    tone: int = u32(Tone)


@message(0x0085, FROM_CM)
class SetRinger(Message):
    ring_mode: int = u32(RingType)
    ring_duration: int = u32(RingMode)
    line_instance: int = u32()
    call_reference: int = u32()


@message(0x0086, FROM_CM)
class SetLamp(Message):
    stimulus: int = u32(StimulusType)
    stimulus_instance: int = u32()
    lamp_mode: int = u32(LampMode)


@message(0x0088, FROM_CM)
class SetSpeakerMode(Message):
    speaker_mode: int = u32(SpeakerMode)


@message(0x0089, FROM_CM)
class SetMicroMode(Message):
    mic_mode: int = u32(SpeakerMode)


@message(0x008A, FROM_CM)
class StartMediaTransmission(Message):
    conference_id: int = u32()
    pass_thru_party_id: int = u32()
    remote_ip_addr: str = ip_addr()
    remote_port_number: int = u32()
    millisecond_packet_size: int = u32()
    compression_type: int = u32(Codec)
    precedence_value: int = u32()
    ss_value: int = u32()
    max_frames_per_packet: int = u32()
    g723_bit_rate: int = u32()
    call_reference: int = u32()
    encryption_info: EncryptionInfo = nested(EncryptionInfo)
    stream_pass_through_id: int = u32()
    associated_stream_id: int = u32()
    rfc2833_payload_type: int = u32()
    dtmf_type: int = u32()
    mixing_mode: int = u32()
    direction: int = u32()


@message(0x008B, FROM_CM)
class StopMediaTransmission(Message):
    conference_id: int = u32()
    pass_thru_party_id: int = u32()
    call_reference: int = u32()
    port_handling_flag: int = u32()


@message(0x008F, FROM_CM)
class CallInfo(Message):
    """Static CallInfo (384 bytes), understood by every phone generation (§4.8)."""

    calling_party_name: str = text(40)
    calling_party: str = text(24)
    called_party_name: str = text(40)
    called_party: str = text(24)
    line_instance: int = u32()
    call_reference: int = u32()
    call_type: int = u32(CallType)
    original_called_party_name: str = text(40)
    original_called_party: str = text(24)
    last_redirecting_party_name: str = text(40)
    last_redirecting_party: str = text(24)
    original_cdpn_redirect_reason: int = u32()
    last_redirecting_reason: int = u32()
    cgpn_voice_mailbox: str = text(24)
    cdpn_voice_mailbox: str = text(24)
    original_cdpn_voice_mailbox: str = text(24)
    last_redirecting_voice_mailbox: str = text(24)
    call_instance: int = u32()
    call_security_status: int = u32(CallSecurityStatus)
    party_pi_restriction_bits: int = u32()


@message(0x0090, FROM_CM)
class ForwardStat(Message):
    active_forward: int = u32()
    line_number: int = u32()
    forward_all_active: int = u32()
    forward_all_dirnum: str = text(24, v18=25)
    forward_busy_active: int = u32()
    forward_busy_dirnum: str = text(24, v18=25)
    forward_no_answer_active: int = u32()
    forward_no_answer_dirnum: str = text(24, v18=25)


@message(0x0091, FROM_CM)
class SpeedDialStat(Message):
    speed_dial_number: int = u32()
    speed_dial_dir_number: str = text(24)
    speed_dial_display_name: str = text(40)


@message(0x0092, FROM_CM)
class LineStat(Message):
    line_number: int = u32()
    line_dir_number: str = text(24)
    line_fully_qualified_display_name: str = text(40)
    line_text_label: str = text(40)
    line_display_options: int = u32()


@message(0x0093, FROM_CM)
class ConfigStat(Message):
    device_name: str = text(16)
    station_user_id: int = u32()
    station_instance: int = u32()
    user_name: str = text(40)
    server_name: str = text(40)
    number_lines: int = u32()
    number_speed_dials: int = u32()


@message(0x0094, FROM_CM)
class DefineTimeDate(Message):
    year: int = u32()
    month: int = u32()
    day_of_week: int = u32()
    day: int = u32()
    hour: int = u32()
    minute: int = u32()
    second: int = u32()
    milliseconds: int = u32()
    system_time: int = u32()


@message(0x0097, FROM_CM)
class ButtonTemplate(Message):
    """``total_button_count`` defaults to the number of definitions."""

    button_offset: int = u32()
    _button_count: None = count_of("definitions")
    total_button_count: int = u32()
    definitions: list[ButtonDefinition] = array(
        ButtonDefinition, count="_button_count", capacity=42
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.total_button_count and self.definitions:
            object.__setattr__(self, "total_button_count", len(self.definitions))


@message(0x0098, FROM_CM)
class Version(Message):
    version: str = text(16)


@message(0x0099, FROM_CM)
class DisplayText(Message):
    text: str = text(32)


@message(0x009A, FROM_CM)
class ClearDisplay(Message):
    """Never send to Java-firmware phones: they drop the connection (§4.16)."""


@message(0x009B, FROM_CM)
class CapabilitiesReq(Message):
    pass


@message(0x009D, FROM_CM)
class RegisterReject(Message):
    text: str = text(32)


@message(0x009E, FROM_CM)
class ServerRes(Message):
    server_name: list[str] = fixed_list(Text(48), 5)
    server_listen_port: list[int] = fixed_list(UInt(4), 5)
    server_ip_addr: list[str] = fixed_list(IPAddr(), 5)


@message(0x009F, FROM_CM)
class Reset(Message):
    reset_type: int = u32(ResetType)


@message(0x0100, FROM_CM)
class KeepAliveAck(Message):
    pass


@message(0x0105, FROM_CM)
class OpenReceiveChannel(Message):
    conference_id: int = u32()
    pass_thru_party_id: int = u32()
    millisecond_packet_size: int = u32()
    compression_type: int = u32(Codec)
    echo_cancel_type: int = u32()
    g723_bit_rate: int = u32()
    call_reference: int = u32()
    encryption_info: EncryptionInfo = nested(EncryptionInfo)
    stream_pass_through_id: int = u32()
    associated_stream_id: int = u32()
    rfc2833_payload_type: int = u32()
    dtmf_type: int = u32()
    mixing_mode: int = u32()
    direction: int = u32()
    source_ip_addr: str = ip_addr()
    source_port_number: int = u32()
    requested_ip_addr_type: int = u32(IpAddrType, since=17)


@message(0x0106, FROM_CM)
class CloseReceiveChannel(Message):
    conference_id: int = u32()
    pass_thru_party_id: int = u32()
    call_reference: int = u32()
    port_handling_flag: int = u32()


@message(0x0108, FROM_CM)
class SoftKeyTemplateRes(Message):
    """``total_soft_key_count`` defaults to the number of definitions."""

    soft_key_offset: int = u32()
    _soft_key_count: None = count_of("definitions")
    total_soft_key_count: int = u32()
    definitions: list[SoftKeyDefinition] = array(
        SoftKeyDefinition, count="_soft_key_count", capacity=32
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.total_soft_key_count and self.definitions:
            object.__setattr__(self, "total_soft_key_count", len(self.definitions))


@message(0x0109, FROM_CM)
class SoftKeySetRes(Message):
    """``sets[k]`` is the key set selected by ``SelectSoftKeys(soft_key_set_index=k)``."""

    soft_key_set_offset: int = u32()
    _soft_key_set_count: None = count_of("sets")
    total_soft_key_set_count: int = u32()
    sets: list[SoftKeySet] = array(SoftKeySet, count="_soft_key_set_count", capacity=16)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.total_soft_key_set_count and self.sets:
            object.__setattr__(self, "total_soft_key_set_count", len(self.sets))


@message(0x0110, FROM_CM)
class SelectSoftKeys(Message):
    line_instance: int = u32()
    call_reference: int = u32()
    soft_key_set_index: int = u32(SoftKeySetIndex)
    valid_key_mask: int = u32()


@message(0x0111, FROM_CM)
class CallState(Message):
    call_state: int = u32(CallStateValue)
    line_instance: int = u32()
    call_reference: int = u32()
    privacy: int = u32(CallVisibility)
    precedence_level: int = u32(CallPriority)
    precedence_domain: int = u32()


@message(0x0112, FROM_CM)
class DisplayPromptStatus(Message):
    timeout: int = u32()
    prompt_status: str = text(32)
    line_instance: int = u32()
    call_reference: int = u32()


@message(0x0113, FROM_CM)
class ClearPromptStatus(Message):
    line_instance: int = u32()
    call_reference: int = u32()


@message(0x0114, FROM_CM)
class DisplayNotify(Message):
    timeout: int = u32()
    text: str = text(32)


@message(0x0115, FROM_CM)
class ClearNotify(Message):
    pass


@message(0x0116, FROM_CM)
class ActivateCallPlane(Message):
    line_instance: int = u32()


@message(0x0117, FROM_CM)
class DeactivateCallPlane(Message):
    pass


@message(0x0118, FROM_CM)
class UnregisterAck(Message):
    status: int = u32(UnregisterStatus)


@message(0x0119, FROM_CM)
class BackSpaceReq(Message):
    line_instance: int = u32()
    call_reference: int = u32()


@message(0x011A, FROM_CM)
class RegisterTokenAck(Message):
    pass


@message(0x011B, FROM_CM)
class RegisterTokenReject(Message):
    wait_time_before_next_req: int = u32()


@message(0x011C, FROM_CM)
class StartMediaFailureDetection(Message):
    conference_id: int = u32()
    pass_thru_party_id: int = u32()
    millisecond_packet_size: int = u32()
    compression_type: int = u32(Codec)
    echo_cancel_type: int = u32()
    g723_bit_rate: int = u32()
    call_reference: int = u32()


@message(0x011D, FROM_CM)
class DialedNumber(Message):
    dialed_number: str = text(24, v18=25)
    line_instance: int = u32()
    call_reference: int = u32()


@message(0x011E, FROM_CM)
class UserToDeviceData(Message):
    application_id: int = u32()
    line_instance: int = u32()
    call_reference: int = u32()
    transaction_id: int = u32()
    _data_length: None = length_of("data")
    data: bytes = blob(length="_data_length")


@message(0x011F, FROM_CM)
class FeatureStat(Message):
    feature_index: int = u32()
    feature_id: int = u32(StimulusType)
    feature_text_label: str = text(40)
    feature_status: int = u32()


@message(0x0120, FROM_CM)
class DisplayPriNotify(Message):
    timeout: int = u32()
    priority: int = u32()
    text: str = text(32)


@message(0x0121, FROM_CM)
class ClearPriNotify(Message):
    priority: int = u32()


@message(0x012F, FROM_CM)
class ServiceURLStat(Message):
    service_url_index: int = u32()
    service_url: str = text(256)
    service_url_display_name: str = text(40)


@message(0x0130, FROM_CM)
class CallSelectStat(Message):
    call_select_stat: int = u32()
    call_reference: int = u32()
    line_instance: int = u32()


@message(0x013F, FROM_CM)
class UserToDeviceDataVersion1(Message):
    application_id: int = u32()
    line_instance: int = u32()
    call_reference: int = u32()
    transaction_id: int = u32()
    _data_length: None = length_of("data")
    sequence_flag: int = u32(SequenceFlag)
    display_priority: int = u32()
    conference_id: int = u32()
    app_instance_id: int = u32()
    routing_id: int = u32()
    data: bytes = blob(length="_data_length")


@message(0x0152, FROM_CM)
class SubscriptionStat(Message):
    """[FS] DialedPhoneBookAck: answer to SubscriptionStatReq."""

    transaction_id: int = u32()
    subscription_feature_id: int = u32()
    timer: int = u32()
    cause: int = u32(SubscriptionCause)


@message(0x0153, FROM_CM)
class Notification(Message):
    transaction_id: int = u32()
    subscription_feature_id: int = u32()
    notification_status: int = u32(BlfStatus)
    text: str = text(97)


@message(0x0156, FROM_CM)
class CallHistoryInfo(Message):
    call_history_disposition: int = u32(CallHistoryDisposition)
    line_instance: int = u32()
    call_reference: int = u32()


class UnknownMessage(Message):
    """A message id this module does not declare: kept as id + raw body (never dropped)."""

    def __init__(self, message_id: int, body: bytes = b"") -> None:
        self.message_id = message_id
        self.body = bytes(body)

    def encode_body(self, version: int = 0) -> bytes:
        return self.body

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UnknownMessage) and (self.message_id, self.body) == (
            other.message_id,
            other.body,
        )

    def __hash__(self) -> int:
        return hash((self.message_id, self.body))

    def __repr__(self) -> str:
        return f"UnknownMessage(message_id={self.message_id:#06x}, body={self.body!r})"


ALL_MESSAGES: tuple[type[Message], ...] = tuple(MESSAGES.values())

# Static so that type checkers see every message class (sccp/__init__ re-exports it);
# test_sccp_codec checks it names every declared message.
__all__ = [  # noqa: RUF022 (declaration order, like the file)
    "Direction",
    "TO_CM",
    "FROM_CM",
    "Message",
    "MESSAGES",
    "ALL_MESSAGES",
    "UnknownMessage",
    "message",
    "MediaCapability",
    "EncryptionInfo",
    "ButtonDefinition",
    "SoftKeyDefinition",
    "SoftKeySet",
    "KeepAlive",
    "Register",
    "IpPort",
    "KeypadButton",
    "EnblocCall",
    "Stimulus",
    "OffHook",
    "OnHook",
    "HookFlash",
    "ForwardStatReq",
    "SpeedDialStatReq",
    "LineStatReq",
    "ConfigStatReq",
    "TimeDateReq",
    "ButtonTemplateReq",
    "VersionReq",
    "CapabilitiesRes",
    "ServerReq",
    "Alarm",
    "OpenReceiveChannelAck",
    "SoftKeySetReq",
    "SoftKeyEvent",
    "Unregister",
    "SoftKeyTemplateReq",
    "RegisterTokenReq",
    "HeadsetStatus",
    "RegisterAvailableLines",
    "DeviceToUserData",
    "DeviceToUserDataResponse",
    "ServiceURLStatReq",
    "FeatureStatReq",
    "DeviceToUserDataVersion1",
    "DeviceToUserDataResponseVersion1",
    "SubscriptionStatReq",
    "AccessoryStatus",
    "StartMediaTransmissionAck",
    "XMLAlarm",
    "RegisterAck",
    "StartTone",
    "StopTone",
    "SetRinger",
    "SetLamp",
    "SetSpeakerMode",
    "SetMicroMode",
    "StartMediaTransmission",
    "StopMediaTransmission",
    "CallInfo",
    "ForwardStat",
    "SpeedDialStat",
    "LineStat",
    "ConfigStat",
    "DefineTimeDate",
    "ButtonTemplate",
    "Version",
    "DisplayText",
    "ClearDisplay",
    "CapabilitiesReq",
    "RegisterReject",
    "ServerRes",
    "Reset",
    "KeepAliveAck",
    "OpenReceiveChannel",
    "CloseReceiveChannel",
    "SoftKeyTemplateRes",
    "SoftKeySetRes",
    "SelectSoftKeys",
    "CallState",
    "DisplayPromptStatus",
    "ClearPromptStatus",
    "DisplayNotify",
    "ClearNotify",
    "ActivateCallPlane",
    "DeactivateCallPlane",
    "UnregisterAck",
    "BackSpaceReq",
    "RegisterTokenAck",
    "RegisterTokenReject",
    "StartMediaFailureDetection",
    "DialedNumber",
    "UserToDeviceData",
    "FeatureStat",
    "DisplayPriNotify",
    "ClearPriNotify",
    "ServiceURLStat",
    "CallSelectStat",
    "UserToDeviceDataVersion1",
    "SubscriptionStat",
    "Notification",
    "CallHistoryInfo",
]
