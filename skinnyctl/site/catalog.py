"""What we know about each phone model: SCCP device type, buttons, config family, firmware.

Facts come from ../shared/docs/sccp-protocol.md §6.16 (device type ids), §10.3 (button layouts)
and provisioning.md §4 (load names, type ids). ``buttons`` counts the configurable positions
("multi" in chan-sccp's table): lines, speed dials, service URLs and features share them.
Fixed keys (hold, transfer, messages...) are not configurable and not counted.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PhoneModel:
    name: str  # what the user writes in site.toml: "7960", "7961GE", "ATA186", "CIPC"
    device_type: int  # Register.deviceType and the NNN of loadInformationNNN
    buttons: int  # configurable button positions on the phone itself
    family: str  # which cnf.xml template family: legacy, java, 790x, ata, cipc, 69xx, 89xx
    title: str  # "Cisco 7960", used in loadInformation's model attribute
    max_lines: int = 0  # 0 = as many as there are buttons
    expansion: bool = False  # takes 7914/7915/7916 key expansion modules
    description: str = ""


@dataclass(frozen=True)
class ExpansionModule:
    name: str
    device_type: int
    buttons: int
    title: str


def _m(
    name: str,
    device_type: int,
    buttons: int,
    family: str,
    *,
    max_lines: int = 0,
    expansion: bool = False,
    title: str | None = None,
) -> PhoneModel:
    return PhoneModel(
        name=name,
        device_type=device_type,
        buttons=buttons,
        family=family,
        title=title or f"Cisco {name}",
        max_lines=max_lines,
        expansion=expansion,
    )


PHONE_MODELS: dict[str, PhoneModel] = {
    m.name: m
    for m in [
        _m("7902", 30008, 1, "790x", max_lines=1),
        _m("7905", 20000, 1, "790x", max_lines=1),
        _m("7906", 369, 1, "java", max_lines=1),
        _m("7910", 6, 1, "legacy", max_lines=1),
        _m("7911", 307, 1, "java", max_lines=1),
        _m("7912", 30007, 1, "790x", max_lines=1),
        _m("7920", 30002, 6, "wireless"),
        _m("7921", 365, 6, "wireless"),
        _m("7925", 484, 6, "wireless"),
        _m("7926", 577, 6, "wireless"),
        _m("7931", 348, 20, "java"),
        _m("7940", 8, 2, "legacy"),
        _m("7960", 7, 6, "legacy", expansion=True),
        _m("7941", 115, 2, "java"),
        _m("7941GE", 309, 2, "java"),
        _m("7961", 30018, 6, "java", expansion=True),
        _m("7961GE", 308, 6, "java", expansion=True),
        _m("7942", 434, 2, "java"),
        _m("7962", 404, 6, "java", expansion=True),
        _m("7945", 435, 2, "java"),
        _m("7965", 436, 6, "java", expansion=True),
        _m("7970", 30006, 8, "java", expansion=True),
        _m("7971", 119, 8, "java", expansion=True),
        _m("7975", 437, 8, "java", expansion=True),
        _m("6901", 547, 1, "69xx", max_lines=1),
        _m("6911", 548, 1, "69xx", max_lines=1),
        _m("6921", 495, 2, "69xx"),
        _m("6941", 496, 4, "69xx"),
        _m("6945", 564, 4, "69xx"),
        _m("6961", 497, 12, "69xx"),
        _m("8941", 586, 10, "89xx"),
        _m("8945", 585, 10, "89xx"),
        _m("ATA186", 12, 1, "ata", max_lines=1, title="Cisco ATA 186"),
        _m("ATA188", 13, 1, "ata", max_lines=1, title="Cisco ATA 188"),
        _m("CIPC", 30016, 8, "cipc", title="Cisco IP Communicator"),
    ]
}

# Spellings users write for the same model; keys are compared after upper-casing and removing
# spaces, dashes and a leading "CP-"/"CISCO".
MODEL_ALIASES: dict[str, str] = {
    "ATA 186": "ATA186",
    "ATA 188": "ATA188",
    "IPCOMMUNICATOR": "CIPC",
    "IP COMMUNICATOR": "CIPC",
    "COMMUNICATOR": "CIPC",
}

EXPANSION_MODULES: dict[str, ExpansionModule] = {
    e.name: e
    for e in [
        ExpansionModule("7914", 124, 14, "Cisco 7914"),
        ExpansionModule("7915-12", 227, 12, "Cisco 7915 12-button"),
        ExpansionModule("7915", 228, 24, "Cisco 7915 24-button"),
        ExpansionModule("7916-12", 229, 12, "Cisco 7916 12-button"),
        ExpansionModule("7916", 230, 24, "Cisco 7916 24-button"),
    ]
}

MAX_EXPANSION_MODULES = 2

MODELS_BY_DEVICE_TYPE: dict[int, PhoneModel] = {m.device_type: m for m in PHONE_MODELS.values()}


def _key(text: str) -> str:
    k = text.strip().upper().replace("-", "").replace("_", "")
    for prefix in ("CISCO", "CP"):
        if k.startswith(prefix):
            k = k[len(prefix) :].strip()
    k = k.replace(" ", "")
    if k.endswith("G") and k[:-1] in PHONE_MODELS:
        k = k[:-1]
    return k


_LOOKUP: dict[str, str] = {_key(name): name for name in PHONE_MODELS}
_LOOKUP.update({_key(alias): name for alias, name in MODEL_ALIASES.items()})


def find_model(text: str) -> PhoneModel | None:
    """The model a user meant by ``text`` ("7960", "CP-7961G", "ata 186"), or None."""
    name = _LOOKUP.get(_key(text))
    return PHONE_MODELS.get(name) if name else None


def find_expansion(text: str) -> ExpansionModule | None:
    t = text.strip().upper()
    if t in EXPANSION_MODULES:
        return EXPANSION_MODULES[t]
    return EXPANSION_MODULES.get(t.replace(" ", "-"))
