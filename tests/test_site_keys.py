"""Every key site.toml accepts has an effect, and a test shows it (issue 14 item 6).

How to add a key
----------------
1. Read it in ``skinnyctl/site/loader.py`` and document it in ``skinnyctl/site/initial_site.toml``
   (``tests/test_site_init.py`` checks it is there).
2. Write the test that shows its effect: something a phone, a daemon or a user can observe
   changes when the key changes (a message a phone gets, a line of a file provision writes
   that the daemon's check mode accepts, a TFTP answer, a status field, a log line...). Set
   the key in the site text the test writes, so the test mentions it.
3. Map the key to that test in :data:`EFFECTS` below: ``"table.key": ("tests/test_x.py::test_y",)``
   (dotted, list indexes left out, ``*`` for a name the user chooses: ``models.*.firmware``).
   A value with an effect of its own (a button type, a feature, a dial action...) is mapped as
   ``"table.key=value"``. A ``[param]`` suffix names one case of a parametrized test.
4. A key accepted before its feature is built goes into ``skinnyctl/site/effects.py``
   ``NOT_YET`` instead (with the reason; ``check`` then warns at it) and gets a sample in
   :data:`NOT_YET_SITE` and :data:`NOT_YET_AT` here; move it to :data:`EFFECTS` in the change
   that builds it.
5. A key whose values each do something different (a new kind of button, a strategy...):
   add it to :data:`VALUES` and map each value.

The accepted keys are not listed by hand: :func:`accepted` asks the loader itself (its "known
keys" hint for a key it does not know, in every table), so a new key fails
:func:`test_every_accepted_key_has_an_effect_or_is_an_exception` until it is mapped here.
"""

from __future__ import annotations

import importlib
import inspect
import re
import types
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any, get_args

import pytest

from skinnyctl.site import effects, loader, vendorconfig
from skinnyctl.site.loader import SiteError, parse_site
from skinnyctl.site.model import (
    APPLICATION_KINDS,
    HUNT_STRATEGIES,
    SOFTKEY_NAMES,
    SOFTKEY_SET_NAMES,
    TRUNK_CODECS,
    DialAction,
    DndMode,
    MediaMode,
    TrunkDtmf,
    TrunkHold,
    TrunkTransport,
)
from tests.clirun import run_cli

# --- the keys the loader accepts, asked of the loader --------------------------------------------

PROBE = "zz_probe_key"
# Each table the loader reads, as a snippet that makes it (the probe key goes after it); "*"
# stands for a name the user chooses. A table of a new kind needs a snippet here.
TABLES: dict[str, str] = {
    "": "",
    "server": "[server]",
    "lines": '[[lines]]\nnumber = "1001"\nvoicemail_box = "1001"',
    "devices": '[[devices]]\nmac = "001120AABB01"\nmodel = "7960"',
    "devices.buttons": '[[devices.buttons]]\ntype = "line"\nline = "1001"',
    "softkey_sets.*": "[softkey_sets.probe]",
    "dialplan": '[[dialplan]]\npattern = "^1$"\naction = "process"',
    "dhcp": "[dhcp]",
    "models.*": '[models."7960"]',
    "applications": '[[applications]]\nnumber = "9"\nkind = "echo"',
    "trunks": '[[trunks]]\nname = "t"\nhost = "h"\nregister = false',
    "inbound": '[[inbound]]\ndid = "1"\ntarget = "1001"',
    "voicemail": "[voicemail]",
    "voicemail.boxes.*": '[voicemail.boxes."1001"]',
    "voicemail.smtp": "[voicemail.smtp]",
    "hunt_groups": '[[hunt_groups]]\nnumber = "300"\nmembers = ["1001"]',
    "park": "[park]",
    "conferences": '[[conferences]]\nnumber = "8000"',
}
# Tables whose keys come from a list of the loader's own rather than its "known keys" hint:
# vendorConfig switches (skinnyctl/site/vendorconfig.py), mapped as "vendor_config.<switch>".
VENDOR_TABLES = ("devices.vendor_config", "models.*.vendor_config")

# Keys whose values each have an effect of their own, with the values the loader accepts.
VALUES: dict[str, tuple[str, ...]] = {
    "server.media": get_args(MediaMode),
    "devices.buttons.type": loader.BUTTON_KINDS,
    "devices.buttons.feature": loader.FEATURES,
    "softkey_sets.*.*": SOFTKEY_NAMES,  # a soft key, in any state's list
    "dialplan.action": get_args(DialAction),
    "dhcp.servers": loader.DHCP_FLAVOURS,
    "applications.kind": APPLICATION_KINDS,
    "trunks.transport": get_args(TrunkTransport),
    "trunks.codecs": TRUNK_CODECS,
    "trunks.hold": get_args(TrunkHold),
    "trunks.dtmf": get_args(TrunkDtmf),
    "devices.dnd": get_args(DndMode),
    "hunt_groups.strategy": HUNT_STRATEGIES,
}


@cache
def known_keys() -> dict[str, tuple[str, ...]]:
    """Table (dotted) -> the keys the loader accepts there, from its own error hints."""
    text, probe_lines, n = "", {}, 0
    for table, snippet in TABLES.items():
        block = (snippet + "\n" if snippet else "") + f"{PROBE} = 1\n"
        n += block.count("\n")
        probe_lines[n] = table
        text += block
    try:
        parse_site(text)
    except SiteError as e:
        problems = e.problems
    else:
        raise AssertionError(f"the loader accepted {PROBE}")
    out: dict[str, tuple[str, ...]] = {}
    for p in problems:
        if f"unknown key '{PROBE}'" in p.message:
            assert p.hint.startswith("known keys: "), p
            out[probe_lines[p.line]] = tuple(p.hint.removeprefix("known keys: ").split(", "))
    assert set(out) == set(TABLES), f"no probe answer for {set(TABLES) - set(out)}"
    return out


def _child(table: str, key: str) -> str | None:
    """The table ``key`` of ``table`` opens, if it is one."""
    for name in (f"{table}.{key}".lstrip("."), f"{table}.{key}.*".lstrip(".")):
        if name in TABLES or name in VENDOR_TABLES:
            return name
    return None


@cache
def accepted() -> tuple[str, ...]:
    """Every key site.toml accepts (dotted), every value with an effect of its own
    ("key=value"), every vendorConfig switch ("vendor_config.<name>")."""
    keys: list[str] = []
    for table, names in known_keys().items():
        for key in names:
            if _child(table, key) is None:
                assert table, f"top-level key '{key}' is not a table: give it a TABLES entry"
                keys.append(f"{table}.{key}")
    keys += [*VENDOR_TABLES, *(f"vendor_config.{k.name}" for k in vendorconfig.KEYS)]
    keys += [f"{key}={value}" for key, values in VALUES.items() for value in values]
    return tuple(keys)


# --- where each has its effect -------------------------------------------------------------------

# A value whose effect is held back with another key's: "site.effects:<NOT_YET key>".
SEE_NOT_YET = "site.effects:"

REGISTER = "tests/test_register.py::test_two_models_register_and_get_what_site_toml_says"
PHONE_FILE = "tests/test_provision.py::test_sep_file_carries_the_site_values"
FIRMWARE = "tests/test_provision.py::test_firmware_from_the_tftp_root_and_from_the_site"
EVERY_MODEL = "tests/test_provision.py::test_every_model_renders_a_complete_file"
CALL = "tests/test_calls.py::test_call_answer_media_hangup_and_cdr"
NEW_CALL = "tests/test_calls.py::test_new_call_ways_busy_reorder_backspace"
HOLD = "tests/test_calls.py::test_hold_resume_music_and_call_waiting"
DIALPLAN = "tests/test_calls.py::test_dialplan_wait_timeout_process_and_drop"
DIRECT = "tests/test_calls.py::test_direct_media_phones_send_to_each_other"
NO_PORT = "tests/test_defects.py::test_no_port_at_all_fails_the_call_audibly"
REVERTS = "tests/test_defects.py::test_without_transfer_on_hook_the_held_call_reverts"
FEATURE_BUTTONS = (
    "tests/test_defects.py::test_feature_buttons_are_handled_as_the_phone_presses_them"
)
TCP = "tests/test_control.py::test_tcp_endpoint_needs_the_token"
ECHO = "tests/test_apps.py::test_echo_number_returns_rtp_unchanged_in_order_within_60_ms"
MUSIC = "tests/test_apps.py::test_music_number_streams_valid_20ms_ulaw"
DHCP = "tests/test_dhcp.py::test_"
CALLS = "tests/test_keys_calls.py::test_"  # written for this registry
FILES = "tests/test_keys_files.py::test_"  # written for this registry
URLS = FILES + "each_url_reaches_the_phone_file"
SERVE_TFTP = FILES + "tftp_port_and_tftp_root_are_where_phones_fetch_from"
DHCP_KEY = FILES + "each_dhcp_key_changes_the_configs_and_each_daemon_accepts_them"
RING = CALLS + "ring_on_{}_chooses_ring_or_flash"
OFFICE = "tests/test_office.py::test_"
CONF = "tests/test_conference.py::test_"
TRUNK = "tests/test_trunk_calls.py::test_"
SIP = "tests/test_sip_edge.py::test_"
VM = "tests/test_voicemail_calls.py::test_"
TRUNK_OUT = TRUNK + "outbound_call_challenge_early_media_echo_and_records"
TRUNK_IN = TRUNK + "inbound_call_rings_with_the_callers_name_and_the_phone_receives_its_rtp"
TRUNK_MODEL = "tests/test_site_trunks.py::test_every_trunk_key_reaches_the_model"
CALLER_ID = TRUNK + "a_line_without_external_number_presents_the_trunks_caller_id_and_codecs"
RECORDING = VM + "recording_limits_are_the_sites"
MAIL = "tests/test_voicemail_mail.py::test_a_new_message_is_mailed_with_the_wav_attached"
FORWARD_KEYS = OFFICE + "forward_button_messages_key_and_the_other_forward_keys"
OFFICE_KEYS = OFFICE + "every_office_key_answers"
HUNT = OFFICE + "hunt_{}"
PARK = OFFICE + "park_retrieve_with_audio_then_park_timeout_rings_the_parker"
MEETME = CONF + "meetme_room_tones_and_size"

EFFECTS: dict[str, tuple[str, ...]] = {
    # [server]
    "server.addresses": (PHONE_FILE,),
    "server.listen": (FILES + "listen_is_the_one_address_serve_answers_on",),
    "server.sccp_port": (PHONE_FILE, FILES + "listen_is_the_one_address_serve_answers_on"),
    "server.tftp_root": (SERVE_TFTP,),
    "server.tftp_port": (
        SERVE_TFTP,
        "tests/test_site_init.py::test_init_then_serve_starts_without_provision",
    ),
    "server.keepalive": (
        CALLS + "keepalive_is_what_phones_are_told_and_when_they_are_dropped",
        "tests/test_callmanager.py::test_expiry_after_twice_the_interval",
    ),
    "server.date_format": (
        "tests/test_callmanager.py::test_twelve_hour_date_template_reaches_the_phone",
        PHONE_FILE,
    ),
    "server.time_zone": (PHONE_FILE, "tests/test_callmanager.py::test_time_in_site_zone"),
    "server.user_locale": (PHONE_FILE,),
    "server.network_locale": (PHONE_FILE,),
    "server.voicemail": (NEW_CALL,),
    "server.redial": (CALLS + "redial_is_dialled_by_a_phone_with_no_last_number",),
    "server.autodial": (CALLS + "autodial_rings_its_number_when_a_handset_is_lifted",),
    "server.digit_timeout": (CALLS + "digit_timeout_routes_what_no_rule_decides",),
    "server.off_hook_timeout": (CALLS + "off_hook_timeout_plays_reorder_on_unused_dial_tone",),
    "server.hold_reversion": (CALLS + "hold_reversion_reminds_the_holder", REVERTS),
    "server.transfer_on_hook": (REVERTS,),
    "server.music_on_hold": (FILES + "music_on_hold_is_what_a_held_caller_hears",),
    "server.media": (DIRECT,),
    "server.media=relay": (CALL,),
    "server.media=direct": (DIRECT,),
    "server.rtp_port_min": (CALL, NO_PORT),
    "server.rtp_port_max": (CALL, NO_PORT),
    "server.templates_dir": ("tests/test_provision.py::test_user_template_replaces_the_builtin",),
    "server.control_socket": (FILES + "control_socket_is_where_serve_answers_the_cli",),
    "server.control_tcp_port": (TCP,),
    "server.control_token": (TCP,),
    "server.max_connections": (
        "tests/test_resilience.py::test_too_many_connections_neither_spin_nor_flood_the_log",
    ),
    "server.services_url": (URLS, PHONE_FILE),
    "server.directory_url": (URLS, PHONE_FILE),
    "server.idle_url": (URLS,),
    "server.information_url": (URLS,),
    "server.authentication_url": (URLS,),
    "server.emergency": (TRUNK + "an_emergency_number_goes_out_whatever_the_dial_plan_says",),
    "server.conference_max": (CONF + "conference_max_and_the_controller_ending_it",),
    "server.conference_end_with_controller": (
        CONF + "conference_max_and_the_controller_ending_it",
    ),
    # [[lines]]
    "lines.number": (REGISTER,),
    "lines.display_name": (REGISTER, CALL),
    "lines.caller_name": (CALL,),
    "lines.label": (REGISTER,),
    "lines.voicemail_box": ("tests/test_voicemail_cli.py::test_list_export_play_delete",),
    "lines.mwi": (
        "tests/test_mwi.py::test_site_mwi_is_shown_when_a_device_registers_and_again_on_re_registration",
    ),
    "lines.ring_on_idle": (RING.format("idle"),),
    "lines.ring_on_active": (
        RING.format("active") + "_beside_a_held_call",
        CALLS + "ring_on_active_chooses_the_call_waiting_beep_during_a_call",
    ),
    "lines.busy_trigger": (CALLS + "busy_trigger_gives_busy_instead_of_call_waiting",),
    "lines.external_number": (TRUNK_OUT,),  # From and P-Asserted-Identity of its calls out
    "lines.forward_all": (OFFICE + "forward_all_from_site_toml_rings_the_target_and_says_why",),
    "lines.forward_busy": (OFFICE + "forward_busy_on_reject_and_busy_trigger",),
    "lines.forward_no_answer": (OFFICE + "forward_no_answer_after_the_timeout_then_audio",),
    "lines.no_answer_timeout": (OFFICE + "forward_no_answer_after_the_timeout_then_audio",),
    "lines.pickup_group": (
        OFFICE + "pickup_softkey_and_button_take_a_call_ringing_in_the_group",
        OFFICE + "gpickup_takes_a_group_number_or_an_extension",
    ),
    "lines.intercom": (OFFICE + "intercom_answers_muted_one_way_until_talk_back",),
    "lines.auto_answer": (OFFICE + "auto_answer_per_line_and_per_device",),
    # [[devices]]
    "devices.mac": (REGISTER,),
    "devices.model": (EVERY_MODEL, REGISTER),
    "devices.description": (CALLS + "description_is_the_user_name_a_phone_is_told",),
    "devices.expansion_modules": (
        "tests/test_callmanager.py::test_buttons_limited_to_capacity_with_expansion",
    ),
    "devices.firmware": (FIRMWARE,),
    "devices.softkeys": (REGISTER,),
    "devices.ip": (DHCP + "isc_dhcpd_accepts_ours_and_rejects_a_broken_one",),
    "devices.vendor_config": (PHONE_FILE,),  # device beats model beats the family's default
    "devices.provision": (EVERY_MODEL,),
    "devices.auto_answer": (OFFICE + "auto_answer_per_line_and_per_device",),
    "devices.dnd": (OFFICE + "dnd_button_silent_mode_rings_without_the_ringer",),
    "devices.dnd=silent": (OFFICE + "dnd_button_silent_mode_rings_without_the_ringer",),
    "devices.dnd=reject": (OFFICE + "dnd_softkey_rejects_while_the_shared_line_rings_elsewhere",),
    "devices.buttons.type": (REGISTER,),
    "devices.buttons.label": (REGISTER,),
    "devices.buttons.line": (REGISTER,),
    "devices.buttons.number": (REGISTER, NEW_CALL),
    "devices.buttons.url": (REGISTER,),
    "devices.buttons.feature": (REGISTER, FEATURE_BUTTONS),
    "devices.buttons.type=line": (REGISTER,),
    "devices.buttons.type=speed_dial": (REGISTER, NEW_CALL),
    "devices.buttons.type=service_url": (REGISTER,),
    "devices.buttons.type=feature": (REGISTER, FEATURE_BUTTONS),
    "devices.buttons.feature=hold": (FEATURE_BUTTONS,),
    "devices.buttons.feature=conference": (FEATURE_BUTTONS,),
    "devices.buttons.feature=dnd": (OFFICE + "dnd_button_silent_mode_rings_without_the_ringer",),
    "devices.buttons.feature=forward_all": (FORWARD_KEYS,),
    "devices.buttons.feature=pickup": (
        OFFICE + "pickup_softkey_and_button_take_a_call_ringing_in_the_group",
    ),
    "devices.buttons.feature=park": (OFFICE + "park_button_and_no_free_slot",),
    **{
        f"devices.buttons.feature={f}": (CALLS + f"feature_button_does_what_its_feature_says[{f}]",)
        for f in ("redial", "voicemail", "transfer")
    },
    # pressed on an idle phone: the button's title, and an answer of its own (a prompt for
    # the number, "logged out"...), never "Key is not active"
    **{
        f"devices.buttons.feature={f}": (OFFICE_KEYS,)
        for f in ("forward_busy", "forward_no_answer", "group_pickup", "hlog", "barge", "idivert")
    },
    # [softkey_sets.NAME]: each state's keys (but those of the states no call shows yet, in
    # site/effects.py); each soft key pressed
    **{
        f"softkey_sets.*.{name}": (
            CALLS + f"each_state_of_a_softkey_set_reaches_the_phone[{name}]",
        )
        for name in SOFTKEY_SET_NAMES
        if f"softkey_sets.*.{name}" not in effects.NOT_YET
    },
    "softkey_sets.*.*=Redial": (NEW_CALL,),
    "softkey_sets.*.*=NewCall": (NEW_CALL,),
    "softkey_sets.*.*=Backspace": (NEW_CALL,),
    "softkey_sets.*.*=EndCall": (NEW_CALL,),
    "softkey_sets.*.*=Answer": (CALL,),
    "softkey_sets.*.*=Hold": (HOLD,),
    "softkey_sets.*.*=Resume": (HOLD,),
    "softkey_sets.*.*=Transfer": ("tests/test_calls.py::test_attended_transfer_a_and_c_talk",),
    "softkey_sets.*.*=CFwdAll": (OFFICE + "cfwdall_softkey_sets_shows_keeps_and_cancels",),
    "softkey_sets.*.*=CFwdBusy": (FORWARD_KEYS,),
    "softkey_sets.*.*=CFwdNoAnswer": (FORWARD_KEYS,),
    "softkey_sets.*.*=Park": (PARK,),
    "softkey_sets.*.*=PickUp": (
        OFFICE + "pickup_softkey_and_button_take_a_call_ringing_in_the_group",
    ),
    "softkey_sets.*.*=GPickUp": (OFFICE + "gpickup_takes_a_group_number_or_an_extension",),
    "softkey_sets.*.*=DND": (OFFICE + "dnd_softkey_rejects_while_the_shared_line_rings_elsewhere",),
    "softkey_sets.*.*=iDivert": (
        OFFICE + "idivert_sends_a_ringing_or_connected_caller_to_voicemail",
    ),
    "softkey_sets.*.*=Barge": (OFFICE + "barge_takes_over_a_shared_line_call",),
    "softkey_sets.*.*=HLog": (HUNT.format("linear_skips_a_logged_out_member_then_goes_to_final"),),
    "softkey_sets.*.*=Confrn": (CONF + "confrn_then_a_party_leaves_and_two_talk_directly",),
    "softkey_sets.*.*=Join": (CONF + "join_gathers_the_held_calls_and_a_holding_party_is_unmixed",),
    "softkey_sets.*.*=MeetMe": (MEETME,),
    "softkey_sets.*.*=cBarge": (CONF + "cbarge_joins_a_shared_lines_call_from_another_device",),
    "softkey_sets.*.*=RmLstC": (CONF + "rmlstc_removes_the_last_added_party",),
    "softkey_sets.*.*=ConfList": (
        CONF + "conflist_and_the_others_go_on_when_the_controller_leaves",
    ),
    # [[dialplan]]
    "dialplan.pattern": (DIALPLAN,),
    "dialplan.action": (DIALPLAN,),
    "dialplan.timeout": (DIALPLAN,),
    "dialplan.action=wait": (DIALPLAN,),
    "dialplan.action=process": (DIALPLAN,),
    "dialplan.action=drop": (DIALPLAN,),
    "dialplan.action=trunk": (TRUNK_OUT,),
    "dialplan.trunk": (TRUNK_OUT,),
    "dialplan.strip": (TRUNK_OUT,),  # 0123456789 goes out as +33123456789
    "dialplan.prefix": (TRUNK_OUT,),
    # [dhcp]
    "dhcp.servers": (DHCP + "dhcp_out_writes_every_flavour_and_each_validates",),
    "dhcp.subnet": (DHCP + "defaults_and_refusals",),
    "dhcp.range": (DHCP + "udhcpd_parses_ours_and_rejects_a_broken_one",),
    **{
        f"dhcp.{key}": (DHCP_KEY + f"[{key}]",)
        for key in ("router", "dns", "domain", "interface", "lease_time", "tftp_servers")
    },
    "dhcp.reservations": (DHCP_KEY + "[reservations]",),
    "dhcp.servers=isc": (DHCP + "isc_dhcpd_accepts_ours_and_rejects_a_broken_one",),
    "dhcp.servers=dnsmasq": (DHCP + "dnsmasq_accepts_ours_and_rejects_a_broken_one",),
    "dhcp.servers=kea": (DHCP + "kea_accepts_ours_and_rejects_a_broken_one",),
    "dhcp.servers=udhcpd": (DHCP + "udhcpd_parses_ours_and_rejects_a_broken_one",),
    # [models."NAME"]
    "models.*.firmware": (FIRMWARE, REGISTER),
    "models.*.vendor_config": (PHONE_FILE,),
    # [[applications]]
    "applications.number": (ECHO,),
    "applications.kind": (ECHO, MUSIC),
    "applications.name": (ECHO,),
    "applications.kind=echo": (ECHO,),
    "applications.kind=music": (MUSIC,),
    "applications.kind=voicemail": (VM + "deposit_prefix_and_a_voicemail_application_number",),
    # [[trunks]], [[inbound]]: SIPp or Kamailio as the far end; the edge alone (test_sip_edge,
    # a Trunk built by hand) where the key is about SIP only
    "trunks.name": (TRUNK_OUT,),
    "trunks.host": (TRUNK_OUT, SIP + "a_trunk_whose_host_does_not_resolve_fails_calls_with_503"),
    "trunks.port": (TRUNK_OUT,),
    "trunks.transport": (TRUNK_OUT,),  # "udp" is the only value yet: set in trunkrig's site
    "trunks.transport=udp": (TRUNK_OUT,),
    "trunks.username": (
        TRUNK_OUT,
        SIP + "outbound_call_answers_a_challenge_gets_early_media_and_audio_both_ways",
    ),
    "trunks.password": (
        TRUNK_OUT,
        SIP + "a_wrong_password_fails_with_the_registrars_status",
    ),
    "trunks.password_file": (TRUNK_MODEL,),  # read into password, whose effect is above
    "trunks.from_domain": (CALLER_ID,),
    "trunks.register": (
        SIP + "a_wrong_password_fails_with_the_registrars_status",
        SIP + "an_ip_authenticated_trunk_is_up_when_options_are_answered",
    ),
    "trunks.register_expires": (SIP + "register_asks_for_register_expires",),
    "trunks.codecs": (CALLER_ID,),
    "trunks.codecs=PCMA": (CALLER_ID,),
    "trunks.codecs=PCMU": (SIP + "inbound_call_rings_answers_and_carries_the_callers_rtp",),
    "trunks.caller_id": (CALLER_ID,),
    "trunks.allow": (
        SIP + "an_invite_from_an_address_not_allowed_gets_403_and_no_input",
        TRUNK + "bad_input_is_refused_and_logged_while_a_call_keeps_its_audio",
    ),
    "trunks.hold": (TRUNK + "hold_from_the_phone_gives_the_far_end_music",),
    "trunks.hold=music": (TRUNK + "hold_from_the_phone_gives_the_far_end_music[music]",),
    "trunks.hold=reinvite": (TRUNK + "hold_from_the_phone_gives_the_far_end_music[reinvite]",),
    "trunks.dtmf": (
        TRUNK + "keypad_digits_go_out_as_telephone_events_and_come_back_as_dtmf_events",
    ),
    "trunks.dtmf=rfc4733": (
        TRUNK + "keypad_digits_go_out_as_telephone_events_and_come_back_as_dtmf_events",
    ),
    "trunks.local_port": (
        TRUNK_IN,
        TRUNK + "a_sip_port_in_use_is_a_clear_error_before_anything_serves",
    ),
    "trunks.ping": (SIP + "an_ip_authenticated_trunk_is_up_when_options_are_answered",),
    "inbound.did": (TRUNK_IN, TRUNK + "inbound_calls_we_cannot_take_are_refused"),
    "inbound.target": (TRUNK_IN, "tests/test_office_trunk.py::test_a_did_rings_a_hunt_group"),
    # [voicemail]
    "voicemail.pin_file": (FILES + "pin_file_is_where_the_pins_are_written",),
    "voicemail.max_messages": (
        "tests/test_voicemail_session.py::test_mailbox_full_tells_the_caller_and_records_nothing",
    ),
    "voicemail.max_message_seconds": (RECORDING,),
    "voicemail.min_message_seconds": (RECORDING,),
    "voicemail.silence_seconds": (RECORDING,),
    "voicemail.pin_from_own_phone": (
        "tests/test_voicemail_session.py::test_own_phone_without_pin_when_the_site_says_so",
        VM + "hold_changes_nothing_and_a_reload_applies_to_the_next_call",
    ),
    "voicemail.deposit_prefix": (VM + "deposit_prefix_and_a_voicemail_application_number",),
    "voicemail.prompts_dir": (VM + "deposit_prefix_and_a_voicemail_application_number",),
    "voicemail.boxes.*.pin": (VM + "three_wrong_pins_end_the_call",),
    "voicemail.boxes.*.email": (MAIL,),
    **{
        f"voicemail.smtp.{key}": (MAIL,) for key in ("host", "port", "starttls", "username", "from")
    },
    "voicemail.smtp.password": (MAIL + "[password]",),
    "voicemail.smtp.password_file": (MAIL + "[password_file]",),
    # [[hunt_groups]]
    "hunt_groups.number": (HUNT.format("linear_skips_a_logged_out_member_then_goes_to_final"),),
    "hunt_groups.name": (HUNT.format("linear_skips_a_logged_out_member_then_goes_to_final"),),
    "hunt_groups.members": (HUNT.format("linear_skips_a_logged_out_member_then_goes_to_final"),),
    "hunt_groups.final": (HUNT.format("linear_skips_a_logged_out_member_then_goes_to_final"),),
    "hunt_groups.member_timeout": (
        HUNT.format("linear_skips_a_logged_out_member_then_goes_to_final"),
    ),
    "hunt_groups.hunt_timeout": (HUNT.format("ring_all_rings_the_logged_in_members_at_once"),),
    "hunt_groups.strategy": (HUNT.format("round_robin_starts_after_the_last_taker"),),
    "hunt_groups.strategy=linear": (
        HUNT.format("linear_skips_a_logged_out_member_then_goes_to_final"),
    ),
    "hunt_groups.strategy=round_robin": (HUNT.format("round_robin_starts_after_the_last_taker"),),
    "hunt_groups.strategy=longest_idle": (HUNT.format("longest_idle_first"),),
    "hunt_groups.strategy=ring_all": (HUNT.format("ring_all_rings_the_logged_in_members_at_once"),),
    # [park]
    "park.slots": (PARK, OFFICE + "park_button_and_no_free_slot"),
    "park.timeout": (PARK,),
    # [[conferences]]
    "conferences.number": (MEETME,),
    "conferences.name": (MEETME,),
    "conferences.max_parties": (MEETME,),
    "conferences.pin": (CONF + "meetme_room_with_a_pin",),
    # vendorConfig switches, in [[devices]] and [models."NAME"] vendor_config
    **{
        f"vendor_config.{k.name}": (
            FILES + f"each_vendor_config_switch_reaches_the_phone_file[{k.name}]",
        )
        for k in vendorconfig.KEYS
    },
}


# --- the rule ------------------------------------------------------------------------------------


def excepted(key: str) -> str | None:
    """Why ``key`` has no effect yet (site.effects), or None."""
    name, _, value = key.partition("=")
    parts = name.split(".")
    for n in range(len(parts), 0, -1):  # the key, or a table it is in
        why = effects.NOT_YET.get(".".join(parts[:n]))
        if why:
            return why
    if value and key in effects.NOT_YET:
        return effects.NOT_YET[key]
    if name == "devices.buttons.feature":
        return effects.FEATURES_NOT_YET.get(value)
    if name == "softkey_sets.*.*":
        return effects.SOFTKEYS_NOT_YET.get(value)
    return None


def test_the_loader_is_asked_about_every_table() -> None:
    tables = known_keys()
    assert "server" in tables[""] and "keepalive" in tables["server"]
    for key in tables[""]:
        assert _child("", key), f"[{key}] has no TABLES entry"
    assert len(accepted()) > 200


def test_every_accepted_key_has_an_effect_or_is_an_exception() -> None:
    neither = [k for k in accepted() if k not in EFFECTS and not excepted(k)]
    both = [k for k in accepted() if k in EFFECTS and excepted(k)]
    assert not neither, (
        "keys site.toml accepts that no test shows the effect of, and that site/effects.py "
        "does not list as without effect yet: map each to its test in EFFECTS "
        f"(tests/test_site_keys.py): {neither}"
    )
    assert not both, (
        f"keys mapped to a test but listed as without effect in site/effects.py: {both}; "
        "remove them from site/effects.py if they work now, else from EFFECTS"
    )


def test_no_entry_for_a_key_the_loader_does_not_accept() -> None:
    known = set(accepted())
    tables = {t.rstrip(".*") for t in TABLES} | set(TABLES)
    assert not [k for k in EFFECTS if k not in known], "EFFECTS maps keys that do not exist"
    stale = [
        k
        for k in effects.NOT_YET
        if k not in known and k not in tables and not any(a.startswith(k + ".") for a in known)
    ]
    assert not stale, f"site/effects.py lists keys the loader does not accept: {stale}"
    for key, tests in EFFECTS.items():
        for t in tests:
            if t.startswith(SEE_NOT_YET):
                assert t.removeprefix(SEE_NOT_YET) in effects.NOT_YET, (key, t)


# --- the mapped tests exist and mention the key --------------------------------------------------


def _resolve(test_id: str) -> tuple[types.ModuleType, Callable[..., Any], str]:
    path, _, rest = test_id.partition("::")
    name, _, param = rest.partition("[")
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    func = getattr(module, name, None)
    assert callable(func), f"{test_id}: no test function {name} in {path}"
    return module, func, param.removesuffix("]")


def _param_ids(func: Callable[..., Any]) -> set[str]:
    """The ids pytest gives the cases of a parametrized test (string values, explicit ids)."""
    ids: set[str] = set()
    for mark in getattr(func, "pytestmark", []):
        if mark.name != "parametrize":
            continue
        values = list(mark.args[1])
        given = mark.kwargs.get("ids")
        for i, v in enumerate(values):
            if isinstance(v, type(pytest.param())) and v.id:
                ids.add(v.id)
            elif callable(given):
                ids.add(str(given(v)))
            elif given is not None:
                ids.add(str(given[i]))
            elif isinstance(v, str):
                ids.add(v)
    return ids


def _source_closure(func: Callable[..., Any]) -> str:
    """The test's source and the site text it writes: the source of the fixtures, helpers and
    string constants it names that live in tests/, and of those they name, a few levels deep."""
    seen: set[int] = set()
    texts: list[str] = []

    def names_in(code: types.CodeType) -> Iterator[str]:
        yield from code.co_names
        yield from code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                yield from names_in(const)

    def visit(obj: Any, depth: int) -> None:
        obj = getattr(obj, "__wrapped__", obj)  # a pytest fixture
        if id(obj) in seen or depth > 6:
            return
        seen.add(id(obj))
        if isinstance(obj, str):
            texts.append(obj)
            return
        if isinstance(obj, dict | list | tuple):  # a table of cases, of site snippets
            texts.append(repr(obj))
            return
        module = inspect.getmodule(obj)
        if module is None or not module.__name__.startswith("tests."):
            return
        try:
            texts.append(inspect.getsource(obj))
        except (OSError, TypeError):
            return
        scope = {**vars(importlib.import_module("tests.conftest")), **vars(module)}
        functions = [obj] if inspect.isfunction(obj) else []
        if inspect.isclass(obj):
            functions = [f for f in vars(obj).values() if inspect.isfunction(f)]
        for f in functions:
            for name in names_in(f.__code__):
                if name in scope:
                    visit(scope[name], depth + 1)

    visit(func, 0)
    return "\n".join(texts)


def _mentions(text: str, key: str) -> bool:
    """``text`` names the key (or the value): in any case, with or without underscores
    (EndCall, END_CALL), escaped newlines read as such."""
    name, _, value = key.partition("=")

    def norm(t: str) -> str:
        return re.sub(r"\\[nt]", " ", t).lower().replace("_", "")

    word = norm(value or name.rsplit(".", 1)[-1])
    return re.search(rf"(?<![a-z0-9]){re.escape(word)}(?![a-z0-9])", norm(text)) is not None


def test_every_mapped_test_exists_and_mentions_its_key() -> None:
    problems = []
    for key, tests in EFFECTS.items():
        assert tests, f"{key}: no test named"
        for test_id in tests:
            if test_id.startswith(SEE_NOT_YET):
                continue
            _module, func, param = _resolve(test_id)
            if param and param not in _param_ids(func):
                problems.append(f"{test_id}: no case [{param}] (ids: {sorted(_param_ids(func))})")
                continue
            if not param and not _mentions(_source_closure(func), key):
                problems.append(f"{key}: {test_id} never mentions it")
            if param and not _mentions(param, key):
                problems.append(f"{key}: case [{param}] is not about it")
    assert not problems, "\n".join(problems)


# --- keys without effect yet: check says so, at the key ------------------------------------------

# A site setting every key site/effects.py lists as without effect yet; for each entry, the
# line where check must warn (a table's entry is warned at its header).
NOT_YET_SITE = """
[server]
tftp_root = "tftp"

[[lines]]
number = "1001"

[[devices]]
mac = "001120AABB01"
model = "7960"
softkeys = "reception"
[[devices.buttons]]
type = "line"
line = "1001"

[softkey_sets.reception]
KeySetConnectedWithTransfer = ["EndCall", "Transfer"]
KeySetConnectedWithConference = ["EndCall"]
"""
NOT_YET_AT = {
    "softkey_sets.*.KeySetConnectedWithTransfer": "KeySetConnectedWithTransfer = ",
}


def test_every_key_without_effect_yet_is_warned_where_it_is_set(tmp_path: Path) -> None:
    """site/effects.py's NOT_YET, each entry set in one site: `check` warns at each, with its
    file:line (issue 14 item 6), and still accepts the site."""
    assert set(NOT_YET_AT) == set(effects.NOT_YET), (
        "each entry of site/effects.py NOT_YET needs a sample in NOT_YET_SITE and NOT_YET_AT"
    )
    text = NOT_YET_SITE
    site = tmp_path / "site.toml"
    site.write_text(text)
    out = run_cli("check", site)
    assert out.returncode == 0, out.stderr
    lines = text.splitlines()
    missing = []
    for key, anchor in NOT_YET_AT.items():
        n = next(i for i, ln in enumerate(lines, 1) if ln.startswith(anchor))
        why = effects.NOT_YET[key]
        if not re.search(
            rf"{re.escape(str(site))}:{n}:\d+: .* has no effect: {re.escape(why)}", out.stderr
        ):
            missing.append(f"{key} (line {n})")
    assert not missing, f"check does not warn at: {missing}\n{out.stderr}"
    assert "KeySetConnectedWithConference" not in out.stderr  # conferences show it
