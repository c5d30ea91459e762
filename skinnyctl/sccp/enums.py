"""SCCP enumerations, named after the protocol reference (docs/sccp-protocol.md §6).

Member names are the upper-snake form of the Wireshark/chan-sccp names; where FreeSWITCH uses a
different name for the same value it is kept as an alias.

Three enums would clash with message classes of the same protocol name, so they carry a
``Value`` suffix: :class:`CallStateValue` (the ``callState`` field of the ``CallState``
message), :class:`SoftKeyEventValue` (the ``softKeyEvent`` field of ``SoftKeyEvent``) and
:class:`KeypadButtonValue` (the ``kpButton`` field of ``KeypadButton``).

``RingType`` is ``SetRinger.ringMode`` (off/inside/outside...) and ``RingMode`` is
``SetRinger.ringDuration`` (normal/single), following FreeSWITCH's naming of the two.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [  # noqa: RUF022
    "CallStateValue",
    "StimulusType",
    "SoftKeyEventValue",
    "Label",
    "SoftKeySetIndex",
    "Tone",
    "ToneDirection",
    "RingType",
    "RingMode",
    "LampMode",
    "SpeakerMode",
    "HeadsetMode",
    "Accessory",
    "AccessoryState",
    "CallType",
    "CallSecurityStatus",
    "CallVisibility",
    "CallPriority",
    "Codec",
    "MediaStatus",
    "ResetType",
    "UnregisterReason",
    "UnregisterStatus",
    "AlarmSeverity",
    "BlfStatus",
    "SubscriptionCause",
    "IpAddrType",
    "SequenceFlag",
    "CallHistoryDisposition",
    "KeypadButtonValue",
    "DeviceType",
    "ButtonType",
    "SoftKeyLabel",
    "RingDuration",
    "MicroMode",
    "label",
    "model_name",
]


class CallStateValue(IntEnum):
    """CallState.callState (§6.1)."""

    IDLE = 0
    OFF_HOOK = 1
    ON_HOOK = 2
    RING_OUT = 3
    RING_IN = 4
    CONNECTED = 5
    BUSY = 6
    CONGESTION = 7
    LINE_IN_USE = 7  # FreeSWITCH's name for 7
    HOLD = 8
    CALL_WAITING = 9
    CALL_TRANSFER = 10
    CALL_PARK = 11
    PROCEED = 12
    CALL_REMOTE_MULTILINE = 13
    IN_USE_REMOTELY = 13  # FreeSWITCH's name for 13
    INVALID_NUMBER = 14
    HOLD_REVERT = 15
    WHISPER = 16
    REMOTE_HOLD = 17


class StimulusType(IntEnum):
    """Button definitions / stimulus values (§6.2): ButtonTemplate, Stimulus, SetLamp."""

    UNUSED = 0x00
    LAST_NUMBER_REDIAL = 0x01
    SPEED_DIAL = 0x02
    HOLD = 0x03
    TRANSFER = 0x04
    FORWARD_ALL = 0x05
    FORWARD_BUSY = 0x06
    FORWARD_NO_ANSWER = 0x07
    DISPLAY = 0x08
    LINE = 0x09
    T120_CHAT = 0x0A
    T120_WHITEBOARD = 0x0B
    T120_APPLICATION_SHARING = 0x0C
    T120_FILE_TRANSFER = 0x0D
    VIDEO = 0x0E
    VOICEMAIL = 0x0F
    ANSWER_RELEASE = 0x10
    AUTO_ANSWER = 0x11
    SELECT = 0x12
    FEATURE = 0x13
    PRIVACY = 0x13  # FreeSWITCH's name for 0x13
    SERVICE_URL = 0x14
    BLF_SPEED_DIAL = 0x15
    MALICIOUS_CALL = 0x1B
    GENERIC_APP_B1 = 0x21
    GENERIC_APP_B2 = 0x22
    GENERIC_APP_B3 = 0x23
    GENERIC_APP_B4 = 0x24
    GENERIC_APP_B5 = 0x25
    MULTI_BLINK_FEATURE = 0x26
    MEET_ME_CONFERENCE = 0x7B
    CONFERENCE = 0x7D
    CALL_PARK = 0x7E
    CALL_PICKUP = 0x7F
    GROUP_CALL_PICKUP = 0x80
    MOBILITY = 0x81
    DO_NOT_DISTURB = 0x82
    CONF_LIST = 0x83
    REMOVE_LAST_PARTICIPANT = 0x84
    QRT = 0x85
    CALLBACK = 0x86
    OTHER_PICKUP = 0x87
    VIDEO_MODE = 0x88
    NEW_CALL = 0x89
    END_CALL = 0x8A
    HUNT_GROUP = 0x8B
    QUEUING = 0x8F
    PARKING_LOT = 0xC0
    TEST_F = 0xC1
    MESSAGES = 0xC2
    DIRECTORY = 0xC3
    TEST_I = 0xC4
    APPLICATION = 0xC5
    HEADSET = 0xC6
    KEYPAD = 0xF0
    AEC = 0xFD
    UNDEFINED = 0xFF


ButtonType = StimulusType


class SoftKeyEventValue(IntEnum):
    """Softkey events as numbered by FreeSWITCH's template (§6.4): event = template position.

    A call manager may number events as it likes (the phone echoes the number it was given);
    this is the default numbering, where events 1-18 use the built-in label of the same id.
    """

    REDIAL = 1
    NEW_CALL = 2
    HOLD = 3
    TRANSFER = 4
    CFWD_ALL = 5
    CFWD_BUSY = 6
    CFWD_NO_ANSWER = 7
    BACKSPACE = 8
    END_CALL = 9
    RESUME = 10
    ANSWER = 11
    INFO = 12
    CONFERENCE = 13
    PARK = 14
    JOIN = 15
    MEET_ME = 16
    PICKUP = 17
    GROUP_PICKUP = 18
    DND = 19
    IDIVERT = 20
    BARGE = 21  # skinnyctl's template goes on (answers.SOFTKEY_EVENT): events 21-25
    HLOG = 22
    CBARGE = 23
    RMLSTC = 24
    CONFLIST = 25


class Label(IntEnum):
    """Built-in display label ids, table "200" (§6.19); sent as ``"\\x80" + chr(id)``."""

    REDIAL = 1
    NEW_CALL = 2
    HOLD = 3
    TRANSFER = 4
    CFWD_ALL = 5
    CFWD_BUSY = 6
    CFWD_NO_ANSWER = 7
    BACKSPACE = 8
    END_CALL = 9
    RESUME = 10
    ANSWER = 11
    INFO = 12
    CONFRN = 13
    PARK = 14
    JOIN = 15
    MEET_ME = 16
    PICKUP = 17
    GPICKUP = 18
    YOUR_CURRENT_OPTIONS = 19
    OFF_HOOK = 20
    ON_HOOK = 21
    RING_OUT = 22
    FROM = 23
    CONNECTED = 24
    BUSY = 25
    LINE_IN_USE = 26
    CALL_WAITING = 27
    CALL_TRANSFER = 28
    CALL_PARK = 29
    CALL_PROCEED = 30
    IN_USE_REMOTE = 31
    ENTER_NUMBER = 32
    CALL_PARK_AT = 33
    PRIMARY_ONLY = 34
    TEMP_FAIL = 35
    YOU_HAVE_VOICEMAIL = 36
    FORWARDED_TO = 37
    CAN_NOT_COMPLETE_CONFERENCE = 38
    NO_CONFERENCE_BRIDGE = 39
    CAN_NOT_HOLD_PRIMARY_CONTROL = 40
    INVALID_CONFERENCE_PARTICIPANT = 41
    IN_CONFERENCE_ALREADY = 42
    NO_PARTICIPANT_INFO = 43
    EXCEED_MAXIMUM_PARTIES = 44
    KEY_IS_NOT_ACTIVE = 45
    ERROR_NO_LICENSE = 46
    ERROR_DBCONFIG = 47
    ERROR_DATABASE = 48
    ERROR_PASS_LIMIT = 49
    ERROR_UNKNOWN = 50
    ERROR_MISMATCH = 51
    CONFERENCE = 52
    PARK_NUMBER = 53
    PRIVATE = 54
    NOT_ENOUGH_BANDWIDTH = 55
    UNKNOWN_NUMBER = 56
    RMLSTC = 57
    VOICEMAIL = 58
    IMMDIV = 59
    INTRCPT = 60
    SETWTCH = 61
    TRNSFVM = 62
    DND = 63
    DIVALL = 64
    CALLBACK = 65
    NETWORK_CONGESTION_REROUTING = 66
    BARGE = 67
    FAILED_TO_SETUP_BARGE = 68
    ANOTHER_BARGE_EXISTS = 69
    INCOMPATIBLE_DEVICE_TYPE = 70
    NO_PARK_NUMBER_AVAILABLE = 71
    CALLPARK_REVERSION = 72
    SERVICE_IS_NOT_ACTIVE = 73
    HIGH_TRAFFIC_TRY_AGAIN_LATER = 74
    QRT = 75
    MCID = 76
    DIRTRFR = 77
    SELECT = 78
    CONFLIST = 79
    IDIVERT = 80
    CBARGE = 81
    CAN_NOT_COMPLETE_TRANSFER = 82
    CAN_NOT_JOIN_CALLS = 83
    MCID_SUCCESSFUL = 84
    NUMBER_NOT_CONFIGURED = 85
    SECURITY_ERROR = 86
    VIDEO_BANDWIDTH_UNAVAILABLE = 87
    VIDMODE = 88
    MAX_CALL_DURATION_TIMEOUT = 89
    MAX_HOLD_DURATION_TIMEOUT = 90
    OPICKUP = 91
    HLOG = 92
    LOGGED_OUT_OF_HUNT_GROUP = 93
    PARK_SLOT_UNAVAILABLE = 94
    NO_CALL_AVAILABLE_FOR_PICKUP = 95
    EXTERNAL_TRANSFER_RESTRICTED = 97
    NO_LINE_AVAILABLE_FOR_PICKUP = 98
    PATH_REPLACEMENT_IN_PROGRESS = 99
    UNKNOWN_2 = 100

    @property
    def text(self) -> str:
        """The two-byte escape the phone replaces with its localised text."""
        return label(self)


SoftKeyLabel = Label


def label(label_id: int, suffix: str = "") -> str:
    """Built-in label escape ``\\x80 <id>`` (table "200"), optionally followed by plain text."""
    return "\x80" + chr(label_id) + suffix


class SoftKeySetIndex(IntEnum):
    """SelectSoftKeys.softKeySetIndex / position in SoftKeySetRes (§6.3)."""

    ON_HOOK = 0
    CONNECTED = 1
    ON_HOLD = 2
    RING_IN = 3
    OFF_HOOK = 4
    CONNECTED_WITH_TRANSFER = 5
    DIGITS_AFTER_DIALING_FIRST_DIGIT = 6
    CONNECTED_WITH_CONFERENCE = 7
    RING_OUT = 8
    OFF_HOOK_WITH_FEATURES = 9
    IN_USE_HINT = 10
    ON_HOOK_STEALABLE = 11
    HOLD_CONFERENCE = 12


class Tone(IntEnum):
    """StartTone.tone (§6.8)."""

    SILENCE = 0x00
    DTMF_1 = 0x01
    DTMF_2 = 0x02
    DTMF_3 = 0x03
    DTMF_4 = 0x04
    DTMF_5 = 0x05
    DTMF_6 = 0x06
    DTMF_7 = 0x07
    DTMF_8 = 0x08
    DTMF_9 = 0x09
    DTMF_0 = 0x0A
    DTMF_STAR = 0x0E
    DTMF_POUND = 0x0F
    DTMF_A = 0x10
    DTMF_B = 0x11
    DTMF_C = 0x12
    DTMF_D = 0x13
    INSIDE_DIAL_TONE = 0x21
    DIAL_TONE = 0x21  # FreeSWITCH's name
    OUTSIDE_DIAL_TONE = 0x22
    LINE_BUSY_TONE = 0x23
    BUSY_TONE = 0x23
    ALERTING_TONE = 0x24
    RING_BACK_TONE = 0x24
    REORDER_TONE = 0x25
    RECORDER_WARNING_TONE = 0x26
    RECORDER_DETECTED_TONE = 0x27
    REVERTING_TONE = 0x28
    RECEIVER_OFF_HOOK_TONE = 0x29
    PARTIAL_DIAL_TONE = 0x2A
    NO_SUCH_NUMBER_TONE = 0x2B
    BUSY_VERIFICATION_TONE = 0x2C
    CALL_WAITING_TONE = 0x2D
    CONFIRMATION_TONE = 0x2E
    CAMP_ON_INDICATION_TONE = 0x2F
    RECALL_DIAL_TONE = 0x30
    ZIP_ZIP = 0x31
    ZIP = 0x32
    BEEP_BONK = 0x33
    MUSIC_TONE = 0x34
    HOLD_TONE = 0x35
    TEST_TONE = 0x36
    DT_MONITOR_WARNING_TONE = 0x37
    ADD_CALL_WAITING = 0x40
    PRIORITY_CALL_WAIT = 0x41
    RECALL_DIAL = 0x42
    BARG_IN = 0x43
    DISTINCT_ALERT = 0x44
    PRIORITY_ALERT = 0x45
    REMINDER_RING = 0x46
    PRECEDENCE_RING_BACK = 0x47
    PREEMPTION_TONE = 0x48
    NO_TONE = 0x7F


class ToneDirection(IntEnum):
    """StartTone.toneDirection."""

    USER = 0
    NETWORK = 1
    ALL = 2


class RingType(IntEnum):
    """SetRinger.ringMode (§6.6), FreeSWITCH's "ring type"."""

    OFF = 1
    INSIDE = 2
    OUTSIDE = 3
    FEATURE = 4
    FLASH_ONLY = 5
    SILENT = 5  # chan-sccp's name for 5
    URGENT = 6
    PRECEDENCE = 6  # Wireshark's name for 6
    BELLCORE_1 = 7
    BELLCORE_2 = 8
    BELLCORE_3 = 9
    BELLCORE_4 = 10
    BELLCORE_5 = 11


class RingMode(IntEnum):
    """SetRinger.ringDuration (§6.6), FreeSWITCH's "ring mode"."""

    NORMAL = 1
    FOREVER = 1
    SINGLE = 2
    ONCE = 2


RingDuration = RingMode


class LampMode(IntEnum):
    """SetLamp.lampMode (§6.7)."""

    OFF = 1
    ON = 2
    WINK = 3
    FLASH = 4
    BLINK = 5
    HOLD = 6
    RING = 7
    CUSTOM_1 = 8
    CUSTOM_2 = 9


class SpeakerMode(IntEnum):
    """SetSpeakerMode.mode / SetMicroMode.mode (§6.9)."""

    ON = 1
    OFF = 2


MicroMode = SpeakerMode


class HeadsetMode(IntEnum):
    """HeadsetStatus.hsMode (§6.9)."""

    ON = 1
    OFF = 2


class Accessory(IntEnum):
    """AccessoryStatus.accessoryId (§6.9)."""

    NONE = 0
    HEADSET = 1
    HANDSET = 2
    SPEAKER = 3


class AccessoryState(IntEnum):
    """AccessoryStatus.status (§6.9)."""

    NONE = 0
    OFF_HOOK = 1
    ON_HOOK = 2


class CallType(IntEnum):
    """CallInfo.callType, from the phone's point of view (§6.10)."""

    INBOUND = 1
    OUTBOUND = 2
    FORWARD = 3


class CallSecurityStatus(IntEnum):
    """CallInfo.callSecurityStatus (§6.11)."""

    UNKNOWN = 0
    NOT_AUTHENTICATED = 1
    AUTHENTICATED = 2
    ENCRYPTED = 3


class CallVisibility(IntEnum):
    """CallState.privacy / visibility (§6.11)."""

    DEFAULT = 0
    COLLAPSED = 1
    HIDDEN = 2


class CallPriority(IntEnum):
    """CallState.precedenceLevel (§6.11)."""

    HIGHEST = 0
    HIGH = 1
    MEDIUM = 2
    LOW = 3
    NORMAL = 4


class Codec(IntEnum):
    """Media payload types (compressionType / payloadCapability, §6.12)."""

    NON_STANDARD = 1
    G711_ALAW_64K = 2
    G711_ALAW_56K = 3
    G711_ULAW_64K = 4
    G711_ULAW_56K = 5
    G722_64K = 6
    G722_56K = 7
    G722_48K = 8
    G723_1 = 9
    G728 = 10
    G729 = 11
    G729_ANNEX_A = 12
    IS11172_AUDIO = 13
    IS13818_AUDIO = 14
    G729_ANNEX_B = 15
    G729_ANNEX_A_B = 16
    GSM_FULL_RATE = 18
    GSM_HALF_RATE = 19
    GSM_ENHANCED_FULL_RATE = 20
    WIDEBAND_256K = 25
    DATA_64K = 32
    DATA_56K = 33
    G722_1_32K = 40
    G722_1_24K = 41
    GSM = 80
    ACTIVE_VOICE = 81
    G726_32K = 82
    G726_24K = 83
    G726_16K = 84
    G729B_BIS = 85
    G729B_LOW = 86  # iLBC in some tables: avoid
    ISAC = 89
    OPUS = 90
    AMR = 97
    AMR_WB = 98
    H261 = 100
    H263 = 101
    VIDEO = 102
    H264 = 103
    T120 = 105
    H224 = 106
    RFC2833_DYNAMIC_PAYLOAD = 257


class MediaStatus(IntEnum):
    """OpenReceiveChannelAck.status / StartMediaTransmissionAck.mediaStatus (§6.13)."""

    OK = 0
    UNKNOWN = 1
    OUT_OF_CHANNELS = 2
    CODEC_TOO_COMPLEX = 3
    INVALID_PARTY_ID = 4
    INVALID_CALL_REFERENCE = 5
    INVALID_CODEC = 6
    INVALID_PACKET_SIZE = 7
    OUT_OF_SOCKETS = 8
    ENCODER_OR_DECODER_FAILED = 9
    INVALID_DYNAMIC_PAYLOAD_TYPE = 10
    REQUESTED_IP_ADDR_TYPE_UNAVAILABLE = 11
    DEVICE_ON_HOOK = 12


class ResetType(IntEnum):
    """Reset.resetType (§6.14)."""

    RESET = 1
    RESTART = 2
    APPLY_CONFIG = 3


class UnregisterReason(IntEnum):
    """Unregister.unregisterReason (§6.14)."""

    UNSPECIFIED = 0
    POWER_SAVE = 1


class UnregisterStatus(IntEnum):
    """UnregisterAck.status (§6.14)."""

    OK = 0
    ERROR = 1
    NAK = 2


class AlarmSeverity(IntEnum):
    """Alarm.alarmSeverity (§6.17)."""

    CRITICAL = 0
    WARNING = 1
    INFORMATIONAL = 2
    UNKNOWN = 4
    MAJOR = 7
    MINOR = 8
    MARGINAL = 10
    TRACE_INFO = 20


class BlfStatus(IntEnum):
    """Notification.status (§6.15)."""

    UNKNOWN = 0
    IDLE = 1
    IN_USE = 2
    DND = 3
    ALERTING = 4


class SubscriptionCause(IntEnum):
    """SubscriptionStat.cause (§4.39)."""

    OK = 0
    ROUTE_FAIL = 1
    AUTH_FAIL = 2
    TIMEOUT = 3
    TRUNK_TERM = 4
    TRUNK_FORBIDDEN = 5
    THROTTLE = 6


class IpAddrType(IntEnum):
    """ipv46 words and requestedIpAddrType (§6.18)."""

    IPV4 = 0
    IPV6 = 1
    IPV4_V6 = 2
    INVALID = 3


class SequenceFlag(IntEnum):
    """DeviceToUserDataVersion1.sequenceFlag (§6.18)."""

    FIRST = 0
    MORE = 1
    LAST = 2


class CallHistoryDisposition(IntEnum):
    """CallHistoryInfo.callHistoryDisposition (§6.18)."""

    IGNORE = 0
    PLACED = 1
    RECEIVED = 2
    MISSED = 3


class KeypadButtonValue(IntEnum):
    """KeypadButton.kpButton values other than the digits 0-9 (§3.4)."""

    STAR = 14
    POUND = 15
    PLUS = 16


class DeviceType(IntEnum):
    """Register.deviceType (§6.16). ``model_name`` gives the marketing name."""

    STATION_30SP_PLUS = 1
    STATION_12SP_PLUS = 2
    STATION_12SP = 3
    STATION_12 = 4
    STATION_30VIP = 5
    CISCO_7910 = 6
    CISCO_7960 = 7
    CISCO_7940 = 8
    CISCO_7935 = 9
    VGC_PHONE = 10
    VGC_VIRTUAL_PHONE = 11
    ATA_186 = 12
    ATA_188 = 13
    VIRTUAL_30SP_PLUS = 20
    PHONE_APPLICATION = 21
    ANALOG_ACCESS = 30
    DIGITAL_ACCESS_PRI = 40
    CONFERENCE_BRIDGE = 50
    H323_PHONE = 61
    MUSIC_ON_HOLD = 70
    LOAD_SIMULATOR = 100
    MEDIA_TERMINATION_POINT = 110
    CISCO_7941 = 115
    CISCO_7971 = 119
    MGCP_STATION = 120
    MGCP_TRUNK = 121
    CISCO_7914 = 124
    CISCO_7915_12 = 227
    CISCO_7915_24 = 228
    CISCO_7916_12 = 229
    CISCO_7916_24 = 230
    NOKIA_E_SERIES = 275
    CISCO_7985 = 302
    CISCO_7911 = 307
    CISCO_7961_GE = 308
    CISCO_7941_GE = 309
    MOTOROLA_CN622 = 335
    CISCO_7931 = 348
    UNIFIED_PERSONAL_COMMUNICATOR = 358
    CISCO_7921 = 365
    CISCO_7906 = 369
    TELEPRESENCE = 375
    NOKIA_ICC = 376
    CISCO_7962 = 404
    CISCO_3951 = 412
    CISCO_7937 = 431
    CISCO_7942 = 434
    CISCO_7945 = 435
    CISCO_7965 = 436
    CISCO_7975 = 437
    CISCO_3911 = 446
    CISCO_7925 = 484
    CISCO_6921 = 495
    CISCO_6941 = 496
    CISCO_6961 = 497
    CISCO_6901 = 547
    CISCO_6911 = 548
    CISCO_6945 = 564
    CISCO_7926 = 577
    CISCO_8945 = 585
    CISCO_8941 = 586
    CISCO_7905 = 20000
    CISCO_7920 = 30002
    CISCO_7970 = 30006
    CISCO_7912 = 30007
    CISCO_7902 = 30008
    CIPC = 30016
    CISCO_7961 = 30018
    CISCO_7936 = 30019
    ANALOG_PHONE = 30027
    ISDN_BRI_PHONE = 30028
    SCCP_GATEWAY_VIRTUAL_PHONE = 30032
    IP_STE = 30035
    SPA_521S = 80000
    SPA_524SG = 80001
    SPA_502G = 80003
    SPA_504G = 80004
    SPA_525G = 80005
    SPA_508G = 80006
    SPA_509G = 80007
    SPA_525G2 = 80009
    SPA_303G = 80011
    SPA_512G = 80012
    SPA_514G = 80013

    @property
    def model_name(self) -> str:
        return model_name(self)


_MODEL_NAMES: dict[int, str] = {
    1: "30SP+",
    2: "12SP+",
    3: "12SP",
    4: "12",
    5: "30 VIP",
    6: "7910",
    7: "7960",
    8: "7940",
    9: "7935",
    10: "VGC Phone",
    11: "VGC Virtual Phone",
    12: "ATA 186",
    13: "ATA 188",
    20: "Virtual 30SP+",
    21: "Phone Application",
    30: "Analog Access",
    40: "Digital Access PRI",
    50: "Conference Bridge",
    61: "H.323 Phone",
    70: "Music On Hold",
    100: "Load Simulator",
    110: "Media Termination Point",
    115: "7941G",
    119: "7971G-GE",
    120: "MGCP Station",
    121: "MGCP Trunk",
    124: "7914 (14 buttons)",
    227: "7915 (12 buttons)",
    228: "7915 (24 buttons)",
    229: "7916 (12 buttons)",
    230: "7916 (24 buttons)",
    275: "Nokia E-series",
    302: "7985G",
    307: "7911G",
    308: "7961G-GE",
    309: "7941G-GE",
    335: "Motorola CN622",
    348: "7931G",
    358: "Unified Personal Communicator",
    365: "7921G",
    369: "7906G",
    375: "TelePresence",
    376: "Nokia ICC client",
    404: "7962G",
    412: "3951",
    431: "7937",
    434: "7942G",
    435: "7945G",
    436: "7965G",
    437: "7975G",
    446: "3911",
    484: "7925G",
    495: "6921",
    496: "6941",
    497: "6961",
    547: "6901",
    548: "6911",
    564: "6945",
    577: "7926G",
    585: "8945",
    586: "8941",
    20000: "7905G",
    30002: "7920",
    30006: "7970G",
    30007: "7912G",
    30008: "7902G",
    30016: "Cisco IP Communicator",
    30018: "7961G",
    30019: "7936",
    30027: "Analog Phone",
    30028: "ISDN BRI Phone",
    30032: "SCCP Gateway Virtual Phone",
    30035: "IP-STE",
    80000: "SPA521S",
    80001: "SPA524SG",
    80003: "SPA502G",
    80004: "SPA504G",
    80005: "SPA525G",
    80006: "SPA508G",
    80007: "SPA509G",
    80009: "SPA525G2",
    80011: "SPA303G",
    80012: "SPA512G",
    80013: "SPA514G",
}


def model_name(device_type: int) -> str:
    """Model name for a Register.deviceType code; ``"unknown (N)"`` for codes not listed."""
    return _MODEL_NAMES.get(int(device_type), f"unknown ({int(device_type)})")
