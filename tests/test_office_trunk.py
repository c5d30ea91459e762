"""A call from a SIP trunk to a DID that rings a hunt group (the office's common case): SIPp as
the provider, ``serve``'s Service with simulated phones over TCP, RTP through the engine.

Run inside a network namespace (HELPERS.md): SIPp's and our fixed ports.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from skinnyctl.sccp import CallInfo, CallState, CallStateValue, DisplayPromptStatus, OffHook
from tests.test_sip_edge import _audio_file, free_udp_port
from tests.test_trunk_calls import office_factory, sipp  # noqa: F401 (fixtures)
from tests.trunkrig import A, B, state

S = CallStateValue
DID_SALES = "+33123456799"
SALES = f"""
[[hunt_groups]]
number = "300"
name = "Sales"
members = ["1002", "1001"]
strategy = "ring_all"

[[inbound]]
did = "{DID_SALES}"
target = "300"
"""


def test_a_did_rings_a_hunt_group(
    office_factory: Any,  # noqa: F811
    sipp: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    sp, media = free_udp_port(), free_udp_port()
    office = office_factory(sp, extra=SALES)
    a, b = office.phone(A), office.phone(B, "7961")
    run = sipp(
        "caller.xml", sp, f"127.0.0.1:{office.local_port}", "-s", DID_SALES, "-mp", str(media),
        subst={"AUDIO_FILE": str(_audio_file(tmp_path))},
    )  # fmt: skip
    ra, rb = state(a, S.RING_IN), state(b, S.RING_IN)  # both members at once
    info = a.wait_for(CallInfo, 5, lambda m: m.call_reference == ra.call_reference)
    assert (info.calling_party, info.called_party) == ("+33611223344", "1001")
    assert (info.original_called_party, info.call_type) == ("300", 3)
    a.wait_for(DisplayPromptStatus, 5, lambda m: m.prompt_status == "+33611223344 for Sales")
    a.send(OffHook(line_instance=1, call_reference=ra.call_reference))
    state(a, S.CONNECTED)
    b.wait_for(
        CallState, 5, lambda m: m.call_state == S.ON_HOOK and m.call_reference == rb.call_reference
    )
    office.wait(lambda: len(a.rtp_in) >= 40, 10, "the caller's RTP at the phone")
    state(a, S.ON_HOOK)  # the caller's BYE
    assert run.finish() == 0, run.errors()
    office.wait(lambda: office.calls() == [], what="the call gone")
    office.service.cdr.flush()
    (r,) = office.records()
    assert (r["direction"], r["did"], r["called"], r["callee_device"]) == (
        "inbound",
        DID_SALES,
        "300",
        a.name,
    )
    assert (r["redirect_reason"], r["redirected_from"]) == ("hunt", "300")
    office.clean()
