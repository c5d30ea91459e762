"""The site description as typed, validated data.

Everything a user states lives in ``site.toml``; :func:`skinnyctl.site.load_site` turns it into a
:class:`Site`. The objects here are plain frozen dataclasses: the call manager, the provisioning
templates and the TFTP server read them and never change them (a reload builds a new Site).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from skinnyctl.site.catalog import ExpansionModule, PhoneModel

MediaMode = Literal["relay", "direct"]
DialAction = Literal["wait", "process", "drop", "trunk"]
ButtonKind = Literal["line", "speed_dial", "service_url", "feature"]
DhcpFlavour = Literal["isc", "dnsmasq", "kea", "udhcpd"]
ApplicationKind = Literal["echo", "music"]
APPLICATION_KINDS: tuple[ApplicationKind, ...] = ("echo", "music")

# The seed's default soft key sets (mod_skinny conf/skinny_profiles/internal.xml). "" leaves a
# slot blank. Order of the sets is the SoftKeySetIndex order (sccp-protocol.md §6.3).
DEFAULT_SOFTKEY_SET: dict[str, tuple[str, ...]] = {
    "KeySetOnHook": ("NewCall", "Redial"),
    "KeySetConnected": ("EndCall", "Hold", "NewCall", "Transfer"),
    "KeySetOnHold": ("NewCall", "Resume", "EndCall"),
    "KeySetRingIn": ("Answer", "EndCall", "NewCall"),
    "KeySetOffHook": ("", "Redial", "EndCall"),
    "KeySetConnectedWithTransfer": ("EndCall", "Hold", "NewCall", "Transfer"),
    "KeySetDigitsAfterDialingFirstDigit": ("Backspace", "", "EndCall"),
    "KeySetConnectedWithConference": (),
    "KeySetRingOut": ("", "", "EndCall", "Transfer"),
    "KeySetOffHookWithFeatures": ("", "Redial", "EndCall"),
    "KeySetInUseHint": ("NewCall", "Redial"),
}
SOFTKEY_SET_NAMES: tuple[str, ...] = tuple(DEFAULT_SOFTKEY_SET)

# Softkey names a set may use (sccp-protocol.md §6.4, event numbers 1..20 and beyond).
SOFTKEY_NAMES: tuple[str, ...] = (
    "Redial",
    "NewCall",
    "Hold",
    "Transfer",
    "CFwdAll",
    "CFwdBusy",
    "CFwdNoAnswer",
    "Backspace",
    "EndCall",
    "Resume",
    "Answer",
    "Info",
    "Confrn",
    "Park",
    "Join",
    "MeetMe",
    "PickUp",
    "GPickUp",
    "DND",
    "iDivert",
)


@dataclass(frozen=True)
class Server:
    addresses: tuple[str, ...] = ("127.0.0.1",)  # call managers phones try, in priority order
    listen: str = "0.0.0.0"  # where `serve` binds SCCP, TFTP and RTP
    sccp_port: int = 2000
    tftp_root: Path = Path("tftp")
    tftp_port: int = 69
    keepalive: int = 30  # seconds, sent in RegisterAck
    date_format: str = "D/M/Y"  # RegisterAck dateTemplate / cnf.xml dateTemplate
    time_zone: str = "UTC"  # as the user wrote it (IANA or Cisco name)
    cisco_time_zone: str = "Greenwich Standard Time"  # what the phones are told
    user_locale: str = "English_United_States"
    network_locale: str = "United_States"
    voicemail: str = "vmain"  # extension the Messages key dials
    redial: str = "redial"
    autodial: str = ""  # ringdown number dialled on off-hook; "" = none
    digit_timeout: float = 10.0  # seconds
    off_hook_timeout: float = 15.0  # seconds of dial tone with nothing dialled before reorder
    hold_reversion: float = 30.0  # a held call reminds its holder every so often; 0 = never
    transfer_on_hook: bool = True  # hanging up a connected consultation completes the transfer
    music_on_hold: Path | None = None  # WAV file; None = built-in tone
    media: MediaMode = "relay"
    rtp_port_min: int = 16384
    rtp_port_max: int = 32767
    templates_dir: Path | None = None
    control_socket: Path | None = None  # None = default under the site directory
    control_tcp_port: int = 0  # control API on 127.0.0.1 too (0 = Unix socket only)
    control_token: str = ""  # required with control_tcp_port: each request must carry it
    max_connections: int = 0  # SCCP connections at once; 0 = sized from the open-file limit
    services_url: str = ""
    directory_url: str = ""
    idle_url: str = ""
    information_url: str = ""
    authentication_url: str = ""
    emergency: tuple[str, ...] = ()  # numbers that always go out through the first trunk


@dataclass(frozen=True)
class Line:
    number: str
    display_name: str = ""
    caller_name: str = ""  # shown to the called party; defaults to display_name
    voicemail_box: str = ""
    mwi: bool = False  # message waiting at start-up
    label: str = ""  # default label of buttons carrying this line
    # room for later per-line options: ring behaviour, forwarding
    ring_on_idle: bool = True
    ring_on_active: bool = True
    busy_trigger: int = 0  # calls before busy; 0 = no limit
    forward_all: str = ""
    forward_busy: str = ""
    forward_no_answer: str = ""
    no_answer_timeout: float = 0.0
    external_number: str = ""  # presented to a trunk's far end; "" = the trunk's caller_id

    @property
    def shown_caller_name(self) -> str:
        return self.caller_name or self.display_name or self.number


@dataclass(frozen=True)
class Button:
    kind: ButtonKind
    label: str = ""
    line: str = ""  # kind == "line": the directory number
    number: str = ""  # kind == "speed_dial"
    url: str = ""  # kind == "service_url"
    feature: str = ""  # kind == "feature": e.g. "dnd", "park", "forward_all"


@dataclass(frozen=True)
class Device:
    mac: str  # 12 uppercase hex digits
    model: PhoneModel
    description: str = ""
    buttons: tuple[Button, ...] = ()
    expansion_modules: tuple[ExpansionModule, ...] = ()
    firmware: str = ""  # loadInformation override; "" = per model, else none
    softkeys: str = "default"  # name of a softkey set
    ip: str = ""  # DHCP reservation, optional
    vendor_config: tuple[tuple[str, str], ...] = ()  # per-device vendorConfig overrides
    provision: bool = True  # False: no config file is written; the phone is set up by hand

    @property
    def name(self) -> str:
        """The SCCP device name the phone registers with."""
        return f"SEP{self.mac}"

    @property
    def capacity(self) -> int:
        return self.model.buttons + sum(e.buttons for e in self.expansion_modules)

    @property
    def lines(self) -> tuple[str, ...]:
        return tuple(b.line for b in self.buttons if b.kind == "line")


@dataclass(frozen=True)
class DialRule:
    pattern: str  # regular expression, matched against the whole digit string dialled so far
    action: DialAction
    timeout: float | None = None  # for "wait": seconds before routing what was dialled
    trunk: str = ""  # for "trunk": the [[trunks]] name the call goes out through
    strip: int = 0  # for "trunk": digits removed from the front of what was dialled
    prefix: str = ""  # for "trunk": then put in front, e.g. "+33"


@dataclass(frozen=True)
class Application:
    """A number answered by our own code (``[[applications]]``): ``echo`` sends back what the
    caller says (FreeSWITCH's 9196); ``music`` plays the music-on-hold source."""

    number: str
    kind: ApplicationKind
    name: str = ""  # what the caller's display shows; default: the kind


@dataclass(frozen=True)
class ModelSettings:
    """Per-model settings (``[models."7960"]``)."""

    firmware: str = ""
    vendor_config: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Dhcp:
    flavours: tuple[DhcpFlavour, ...] = ()
    subnet: str = ""  # "192.168.10.0/24"
    range_start: str = ""
    range_end: str = ""
    router: str = ""
    dns: tuple[str, ...] = ()
    domain: str = ""
    interface: str = ""
    lease_time: int = 86400
    tftp_servers: tuple[str, ...] = ()  # option 150; defaults to the server addresses
    reservations: bool = True  # write host entries for devices with an ip


# ---- SIP trunks (issue 18) ------------------------------------------------------------------

TrunkTransport = Literal["udp"]
TrunkHold = Literal["music", "reinvite"]
TrunkDtmf = Literal["rfc4733"]
TRUNK_CODECS = ("PCMU", "PCMA")


@dataclass(frozen=True)
class Trunk:
    """A SIP provider account or a neighbouring PBX (``[[trunks]]``)."""

    name: str
    host: str  # proxy and registrar
    port: int = 5060
    transport: TrunkTransport = "udp"
    username: str = ""
    # Never logged, never shown: repr=False keeps it out of tracebacks, status and events.
    password: str = field(default="", repr=False)
    password_file: Path | None = None  # where password came from, when it was read from a file
    from_domain: str = ""  # host part of our From/To; "" = host
    register: bool = True  # false: the provider authenticates us by address
    register_expires: int = 3600  # seconds asked for in REGISTER
    codecs: tuple[str, ...] = TRUNK_CODECS  # offered and accepted, in preference order
    caller_id: str = ""  # number presented when the line has no external_number
    allow: tuple[str, ...] = ()  # addresses/CIDRs INVITEs may come from; () = host's addresses
    hold: TrunkHold = "music"  # what the far end gets when a phone holds: our music or a re-INVITE
    dtmf: TrunkDtmf = "rfc4733"
    local_port: int = 5060  # UDP port of our SIP socket for this trunk
    ping: int = 60  # seconds between OPTIONS to a trunk that does not register; 0 = never

    @property
    def domain(self) -> str:
        return self.from_domain or self.host


@dataclass(frozen=True)
class Inbound:
    """A number the outside world calls (``[[inbound]]``) and where its calls go."""

    did: str
    target: str  # a line number


# --- voicemail (skinnyctl.apps.voicemail) -------------------------------------------------------


@dataclass(frozen=True)
class VoicemailBox:
    """``[voicemail.boxes."1001"]``: one mailbox's own settings."""

    pin: str = ""  # "pbkdf2-sha256$iterations$salt$hash"; the pin_file's entry wins over it
    email: str = ""  # each new message is mailed here, WAV attached; "" = no mail


@dataclass(frozen=True)
class Smtp:
    """``[voicemail.smtp]``: the relay notification mails go through."""

    host: str = ""
    port: int = 587
    starttls: bool = True
    username: str = ""
    password: str = ""
    password_file: Path | None = None  # read when a mail is sent, so a new password applies
    sender: str = ""  # the key is "from"


@dataclass(frozen=True)
class Voicemail:
    """``[voicemail]``: limits and behaviour of every mailbox (a line's ``voicemail_box``)."""

    pin_file: Path = Path("voicemail-pins.toml")  # hashed PINs set from a phone or the CLI
    max_messages: int = 100  # per box, new and saved together
    max_message_seconds: int = 180
    silence_seconds: int = 5  # a recording ends after this much silence; 0 = never
    min_message_seconds: float = 1.0  # shorter messages are dropped
    pin_from_own_phone: bool = True  # ask the PIN even when calling from the box's own line
    prompts_dir: Path | None = None  # WAV files here replace built-in prompts, file by file
    boxes: dict[str, VoicemailBox] = field(default_factory=dict)
    smtp: Smtp = field(default_factory=Smtp)

    def box(self, number: str) -> VoicemailBox:
        return self.boxes.get(number) or VoicemailBox()


@dataclass(frozen=True)
class Site:
    path: Path | None
    server: Server
    lines: tuple[Line, ...] = ()
    devices: tuple[Device, ...] = ()
    softkey_sets: dict[str, dict[str, tuple[str, ...]]] = field(
        default_factory=lambda: {"default": dict(DEFAULT_SOFTKEY_SET)}
    )
    dialplan: tuple[DialRule, ...] = ()
    dhcp: Dhcp = field(default_factory=Dhcp)
    models: dict[str, ModelSettings] = field(default_factory=dict)
    applications: tuple[Application, ...] = ()
    # Indexes for line(), device() and application(): the call core looks lines up on every
    # call, and a scan of 1,000 lines cost more than the rest of a call's routing. Built by
    # __post_init__; they take no part in ==, repr or replace(). The first entry of a
    # number/MAC wins, as the scan did.
    _lines_by_number: dict[str, Line] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _devices_by_mac: dict[str, Device] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _apps_by_number: dict[str, Application] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    trunks: tuple[Trunk, ...] = ()
    inbound: tuple[Inbound, ...] = ()
    voicemail: Voicemail = field(default_factory=Voicemail)

    def __post_init__(self) -> None:
        lines: dict[str, Line] = {}
        for ln in self.lines:
            lines.setdefault(ln.number, ln)
        devices: dict[str, Device] = {}
        for d in self.devices:
            devices.setdefault(d.mac, d)
        object.__setattr__(self, "_lines_by_number", lines)
        object.__setattr__(self, "_devices_by_mac", devices)
        object.__setattr__(self, "_apps_by_number", {a.number: a for a in self.applications})

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    def resolve(self, p: Path) -> Path:
        """A path from site.toml, relative to the directory of site.toml."""
        return p if p.is_absolute() else self.base_dir / p

    def line(self, number: str) -> Line | None:
        return self._lines_by_number.get(number)

    def application(self, number: str) -> Application | None:
        return self._apps_by_number.get(number)

    def device(self, name_or_mac: str) -> Device | None:
        key = name_or_mac.upper()
        if key.startswith("SEP"):
            key = key[3:]
        return self._devices_by_mac.get(key)

    def trunk(self, name: str) -> Trunk | None:
        return next((t for t in self.trunks if t.name == name), None)

    def voicemail_boxes(self) -> dict[str, tuple[str, ...]]:
        """Each mailbox and the lines whose ``voicemail_box`` it is (their MWI lamps)."""
        out: dict[str, tuple[str, ...]] = {}
        for ln in self.lines:
            if ln.voicemail_box:
                out[ln.voicemail_box] = (*out.get(ln.voicemail_box, ()), ln.number)
        return out

    def devices_with_line(self, number: str) -> tuple[Device, ...]:
        return tuple(d for d in self.devices if number in d.lines)

    def firmware_for(self, device: Device) -> str:
        """The load a device should run: per device, else per model, else none ("")."""
        if device.firmware:
            return device.firmware
        settings = self.models.get(device.model.name)
        return settings.firmware if settings else ""
