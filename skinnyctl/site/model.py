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
ApplicationKind = Literal["echo", "music", "voicemail", "park"]
# what [[applications]] may name; "park" numbers come from [park] slots
APPLICATION_KINDS: tuple[ApplicationKind, ...] = ("echo", "music", "voicemail")
DndMode = Literal["reject", "silent"]
HuntStrategy = Literal["ring_all", "linear", "round_robin", "longest_idle"]
HUNT_STRATEGIES: tuple[HuntStrategy, ...] = ("ring_all", "linear", "round_robin", "longest_idle")

# The seed's default soft key sets (mod_skinny conf/skinny_profiles/internal.xml). "" leaves a
# slot blank. Order of the sets is the SoftKeySetIndex order (sccp-protocol.md §6.3).
SEED_SOFTKEY_SET: dict[str, tuple[str, ...]] = {
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
# Ours: the seed's, with the conference keys after its own (issue 17), so a key keeps its slot.
DEFAULT_SOFTKEY_SET: dict[str, tuple[str, ...]] = {
    **SEED_SOFTKEY_SET,
    "KeySetConnected": (*SEED_SOFTKEY_SET["KeySetConnected"], "Confrn", "Join"),
    "KeySetOffHook": (*SEED_SOFTKEY_SET["KeySetOffHook"], "MeetMe"),
    "KeySetConnectedWithTransfer": (
        *SEED_SOFTKEY_SET["KeySetConnectedWithTransfer"],
        "Confrn",
        "Join",
    ),
    "KeySetConnectedWithConference": (
        "EndCall",
        "Hold",
        "Confrn",
        "RmLstC",
        "ConfList",
        "NewCall",
        "Transfer",
    ),
    "KeySetInUseHint": (*SEED_SOFTKEY_SET["KeySetInUseHint"], "cBarge"),
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
    "Barge",  # shared line: take over the call connected on another device (issue 16)
    "HLog",  # log this phone in or out of its hunt groups
    "cBarge",  # join a shared line's connected call as a conference (issue 17)
    "RmLstC",  # remove the last party added to the conference
    "ConfList",
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
    conference_max: int = 8  # parties in one conference (ad-hoc; a room's default)
    conference_end_with_controller: bool = False  # the controller hanging up ends an ad-hoc one


@dataclass(frozen=True)
class Line:
    number: str
    display_name: str = ""
    caller_name: str = ""  # shown to the called party; defaults to display_name
    voicemail_box: str = ""
    mwi: bool = False  # message waiting at start-up
    label: str = ""  # default label of buttons carrying this line
    ring_on_idle: bool = True
    ring_on_active: bool = True
    busy_trigger: int = 0  # calls before busy; 0 = no limit
    # forwards (calls.forward); users override them at run time (calls.userstate)
    forward_all: str = ""
    forward_busy: str = ""
    forward_no_answer: str = ""
    no_answer_timeout: float = 20.0  # seconds of ringing before forward_no_answer
    pickup_group: str = ""  # lines with the same value pick up each other's calls
    auto_answer: bool = False  # calls are answered at once on an idle phone's speaker
    intercom: str = ""  # an intercom line: off-hook dials this, the far phone answers muted
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
    dnd: DndMode = "reject"  # what do-not-disturb does on it: refuse calls or ring silently
    auto_answer: bool = False  # calls are answered at once on its speaker when it is idle

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
    caller says (FreeSWITCH's 9196); ``music`` plays the music-on-hold source; ``voicemail``
    is one more number of the voicemail menu (besides ``[server] voicemail``)."""

    number: str
    kind: ApplicationKind
    name: str = ""  # what the caller's display shows; default: the kind


@dataclass(frozen=True)
class HuntGroup:
    """A number that rings a list of lines (``[[hunt_groups]]``, ``calls.hunt``)."""

    number: str
    members: tuple[str, ...]  # line numbers, in the order linear hunting tries them
    name: str = ""
    strategy: HuntStrategy = "linear"
    member_timeout: float = 10.0  # seconds each member rings (not ring_all)
    hunt_timeout: float = 60.0  # seconds before the call goes to ``final``
    final: str = ""  # where an unanswered call goes: a line, voicemail, a group; "" = busy


@dataclass(frozen=True)
class Park:
    """``[park]``: the slots a call is parked on, and how long it may stay."""

    slots: tuple[str, ...] = ()
    timeout: float = 60.0  # then it rings the parker again; 0 = never


@dataclass(frozen=True)
class ConferenceRoom:
    """A meet-me conference room (``[[conferences]]``): whoever calls ``number`` talks with
    everyone else who did (``apps.conference``)."""

    number: str
    name: str = ""  # shown as the far party; default "Conference"
    pin: str = ""  # digits asked for (then #) before a caller joins; "" = none
    max_parties: int = 0  # 0 = [server] conference_max


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
    deposit_prefix: str = "*"  # dialling it then a box leaves a message there; "" = off
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
    hunt_groups: tuple[HuntGroup, ...] = ()
    park: Park = field(default_factory=Park)
    conferences: tuple[ConferenceRoom, ...] = ()
    _rooms_by_number: dict[str, ConferenceRoom] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

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
        object.__setattr__(self, "_rooms_by_number", {c.number: c for c in self.conferences})

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

    def conference(self, number: str) -> ConferenceRoom | None:
        return self._rooms_by_number.get(number)

    def device(self, name_or_mac: str) -> Device | None:
        key = name_or_mac.upper()
        if key.startswith("SEP"):
            key = key[3:]
        return self._devices_by_mac.get(key)

    def hunt_group(self, number: str) -> HuntGroup | None:
        return next((g for g in self.hunt_groups if g.number == number), None)

    def trunk(self, name: str) -> Trunk | None:
        return next((t for t in self.trunks if t.name == name), None)

    def voicemail_boxes(self) -> dict[str, tuple[str, ...]]:
        """Each mailbox and the lines whose ``voicemail_box`` it is (their MWI lamps)."""
        out: dict[str, tuple[str, ...]] = {}
        for ln in self.lines:
            if ln.voicemail_box:
                out[ln.voicemail_box] = (*out.get(ln.voicemail_box, ()), ln.number)
        return out

    def voicemail_application(self, number: str) -> Application | None:
        """What voicemail answers besides ``[[applications]]``, when the site has mailboxes:
        ``[server] voicemail`` (the Messages key: the menu) and ``deposit_prefix`` + a box
        (leave a message in that box: a transfer to voicemail, forwarding by hand)."""
        if number == self.server.voicemail:
            if any(ln.voicemail_box for ln in self.lines):
                return Application(number, "voicemail", "Voicemail")
            return None
        box = self.voicemail_deposit_box(number)
        return Application(number, "voicemail", f"Voicemail {box}") if box else None

    def voicemail_deposit_box(self, number: str) -> str:
        """The mailbox ``number`` leaves a message in (``deposit_prefix`` + box), else ""."""
        prefix = self.voicemail.deposit_prefix
        if not prefix or not number.startswith(prefix):
            return ""
        box = number[len(prefix) :]
        return box if any(ln.voicemail_box == box for ln in self.lines) else ""

    def devices_with_line(self, number: str) -> tuple[Device, ...]:
        return tuple(d for d in self.devices if number in d.lines)

    def firmware_for(self, device: Device) -> str:
        """The load a device should run: per device, else per model, else none ("")."""
        if device.firmware:
            return device.firmware
        settings = self.models.get(device.model.name)
        return settings.firmware if settings else ""
