"""The IANA -> Cisco time-zone table against the machine's tz database (zoneinfo)."""

from __future__ import annotations

import pytest

from skinnyctl.site import timezones
from skinnyctl.site.loader import SiteError, parse_site
from skinnyctl.site.timezones import (
    CISCO_ZONES,
    DST_REFERENCE,
    IANA_TO_CISCO,
    is_dst_name,
    standard_offset,
    suggest,
    to_cisco,
)


@pytest.mark.parametrize("zone", sorted(IANA_TO_CISCO))
def test_mapped_zone_offset_and_dst_agree(zone: str) -> None:
    cisco = IANA_TO_CISCO[zone]
    assert cisco in CISCO_ZONES, f"{zone} -> {cisco!r} is not a Cisco name"
    known = standard_offset(zone)
    assert known is not None, f"{zone} unknown to zoneinfo"
    minutes, observes_dst = known
    assert minutes == CISCO_ZONES[cisco], f"{zone}: {minutes} min vs {cisco} {CISCO_ZONES[cisco]}"
    assert observes_dst == is_dst_name(cisco), f"{zone} DST={observes_dst} but mapped to {cisco}"


def test_table_is_what_the_derivation_gives() -> None:
    # The frozen table must be exactly the derivation: nothing missing (every zone the Cisco list
    # can represent is covered), nothing extra (no hand-made guess).
    derived = timezones.derive_mapping()
    missing = sorted(set(derived) - set(IANA_TO_CISCO))
    extra = sorted(set(IANA_TO_CISCO) - set(derived))
    differ = sorted(z for z in derived if z in IANA_TO_CISCO and derived[z] != IANA_TO_CISCO[z])
    assert not missing and not extra and not differ, (missing[:5], extra[:5], differ[:5])


def test_every_dst_name_that_has_a_reference_is_used_by_its_reference() -> None:
    for cisco, ref in DST_REFERENCE.items():
        assert cisco in CISCO_ZONES
        if ref is None:
            continue
        known = standard_offset(ref)
        assert known == (CISCO_ZONES[cisco], True), (cisco, ref, known)
        # The reference maps to a DST name of the same offset and rules (maybe a preferred one).
        mapped = IANA_TO_CISCO[ref]
        assert is_dst_name(mapped) and CISCO_ZONES[mapped] == CISCO_ZONES[cisco]


def test_no_trailing_blanks_and_time_suffix() -> None:
    for name in CISCO_ZONES:
        assert name == name.strip() and name.endswith(" Time"), name


@pytest.mark.parametrize(
    ("zone", "cisco"),
    [
        # Confirmed on real phones (provisioning.md §2.3).
        ("Europe/Rome", "W. Europe Standard/Daylight Time"),
        ("Europe/Amsterdam", "W. Europe Standard/Daylight Time"),
        ("Europe/Paris", "W. Europe Standard/Daylight Time"),
        ("Europe/London", "GMT Standard/Daylight Time"),
        ("Pacific/Auckland", "New Zealand Standard/Daylight Time"),
        ("America/New_York", "Eastern Standard/Daylight Time"),
        ("America/Los_Angeles", "Pacific Standard/Daylight Time"),
        # Disputed names resolved to the Windows/CUCM offsets.
        ("Europe/Athens", "E. Europe Standard/Daylight Time"),
        ("Europe/Helsinki", "E. Europe Standard/Daylight Time"),
        # Countries that dropped DST get a fixed-offset name.
        ("Europe/Moscow", "Saudi Arabia Standard Time"),
        ("America/Mexico_City", "Canada Central Standard Time"),
        ("Asia/Shanghai", "Taipei Standard Time"),
        ("America/Phoenix", "US Mountain Standard Time"),
        ("Australia/Hobart", "Tasmania Standard/Daylight Time"),
        ("UTC", "Greenwich Standard Time"),
    ],
)
def test_known_answers(zone: str, cisco: str) -> None:
    assert to_cisco(zone) == cisco


def test_cisco_names_pass_through_case_insensitively() -> None:
    assert to_cisco("w. europe standard/daylight time") == "W. Europe Standard/Daylight Time"
    assert to_cisco("europe/berlin") == "W. Europe Standard/Daylight Time"


def test_unrepresentable_zone_is_refused_with_same_offset_names() -> None:
    assert to_cisco("Asia/Tehran") is None  # no DST since 2022; the Cisco name has DST
    assert suggest("Asia/Tehran") == ["Iran Standard/Daylight Time"]
    assert to_cisco("America/Santiago") is None
    assert all(CISCO_ZONES[c] == -240 for c in suggest("America/Santiago"))


def test_misspelt_zone_is_a_validation_error_with_suggestions() -> None:
    with pytest.raises(SiteError) as e:
        parse_site('[server]\ntime_zone = "Europe/Pariss"\n')
    text = str(e.value)
    assert "unknown time zone 'Europe/Pariss'" in text
    assert "Europe/Paris" in text
    assert ":2:" in text  # the line of the bad value


def test_garbage_names_do_not_crash() -> None:
    for bad in ["", "../../etc/passwd", "\x00", "/", "Europe/", "a" * 500]:
        assert to_cisco(bad) is None
        suggest(bad)
