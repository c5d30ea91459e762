"""Message waiting (MWI): which lamps a device shows for the lines it carries.

sccp-protocol.md §7.12 / §6.7: the handset lamp is ``SetLamp(Voicemail 0x0F, instance 0)``;
the per-line icon (79x1 and newer) is ``SetLamp(Voicemail 0x0F, line instance L)``. Unlike
mod_skinny (first line only), every device carrying a waiting line shows it: the line's own
icon, and the handset lamp while any line of the device has messages waiting.
"""

from __future__ import annotations

from skinnyctl.sccp import LampMode, SetLamp, StimulusType

from .stations import Station

HANDSET = 0  # SetLamp instance of the handset (message waiting) lamp


def lamp(instance: int, on: bool) -> SetLamp:
    return SetLamp(
        stimulus=StimulusType.VOICEMAIL,
        stimulus_instance=instance,
        lamp_mode=LampMode.ON if on else LampMode.OFF,
    )


def device_lamps(st: Station, waiting: dict[str, bool]) -> list[SetLamp]:
    """Every MWI lamp of ``st`` as it should be now, sent at registration; nothing when no
    line of the device waits (a registering phone starts with its lamps off)."""
    if st.layout is None or not any_waiting(st, waiting):
        return []
    out = [lamp(slot.instance, waiting.get(slot.button.line, False)) for slot in st.layout.lines]
    out.append(lamp(HANDSET, any_waiting(st, waiting)))
    return out


def any_waiting(st: Station, waiting: dict[str, bool]) -> bool:
    if st.layout is None:
        return False
    return any(waiting.get(slot.button.line, False) for slot in st.layout.lines)
