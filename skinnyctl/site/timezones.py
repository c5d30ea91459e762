"""IANA time zone names -> the Windows-style ``timeZone`` names Cisco phones understand.

Phones know a fixed list of names (provisioning.md §2.3); the DST rules are compiled into the
firmware. A user writes an IANA name (``Europe/Paris``) or a Cisco name as is. For the disputed
European names we follow what users confirmed on real phones: CET/CEST zones get
"W. Europe Standard/Daylight Time" (+60, the name confirmed for Rome and the Netherlands), EET
zones "E. Europe Standard/Daylight Time" (+120, the Windows convention the names come from).
"""

from __future__ import annotations

import difflib
import zoneinfo

# Cisco name -> UTC offset in minutes (standard time).
CISCO_ZONES: dict[str, int] = {
    "Dateline Standard Time": -720,
    "Samoa Standard Time": -660,
    "Hawaiian Standard Time": -600,
    "Alaskan Standard/Daylight Time": -540,
    "Pacific Standard/Daylight Time": -480,
    "Mountain Standard/Daylight Time": -420,
    "US Mountain Standard Time": -420,
    "Central Standard/Daylight Time": -360,
    "Mexico Standard/Daylight Time": -360,
    "Canada Central Standard Time": -360,
    "SA Pacific Standard Time": -300,
    "Eastern Standard/Daylight Time": -300,
    "US Eastern Standard Time": -300,
    "Atlantic Standard/Daylight Time": -240,
    "SA Western Standard Time": -240,
    "Pacific SA Standard Time": -240,
    "Newfoundland Standard/Daylight Time": -210,
    "E. South America Standard/Daylight Time": -180,
    "SA Eastern Standard Time": -180,
    "Pacific SA Daylight Time": -180,
    "Mid-Atlantic Standard/Daylight Time": -120,
    "Azores Standard/Daylight Time": -60,
    "GMT Standard/Daylight Time": 0,
    "Greenwich Standard Time": 0,
    "W. Europe Standard/Daylight Time": 60,
    "Central Europe Standard/Daylight Time": 60,
    "Romance Standard/Daylight Time": 60,
    "GTB Standard/Daylight Time": 120,
    "E. Europe Standard/Daylight Time": 120,
    "Egypt Standard/Daylight Time": 120,
    "South Africa Standard Time": 120,
    "Jerusalem Standard/Daylight Time": 120,
    "Saudi Arabia Standard Time": 180,
    "Russian Standard/Daylight Time": 180,
    "Iran Standard/Daylight Time": 210,
    "Caucasus Standard/Daylight Time": 240,
    "Arabian Standard Time": 240,
    "Afghanistan Standard Time": 270,
    "West Asia Standard Time": 300,
    "Ekaterinburg Standard Time": 300,
    "India Standard Time": 330,
    "Central Asia Standard Time": 360,
    "SE Asia Standard Time": 420,
    "China Standard/Daylight Time": 480,
    "Taipei Standard Time": 480,
    "Tokyo Standard Time": 540,
    "Cen. Australia Standard/Daylight Time": 570,
    "AUS Central Standard Time": 570,
    "E. Australia Standard Time": 600,
    "AUS Eastern Standard/Daylight Time": 600,
    "West Pacific Standard Time": 600,
    "Tasmania Standard/Daylight Time": 600,
    "Central Pacific Standard Time": 660,
    "Fiji Standard Time": 720,
    "New Zealand Standard/Daylight Time": 720,
}

_CET = "W. Europe Standard/Daylight Time"
_EET = "E. Europe Standard/Daylight Time"

# IANA name -> Cisco name, for zones a Cisco name represents (same offset and DST habit).
IANA_TO_CISCO: dict[str, str] = {
    "UTC": "Greenwich Standard Time",
    "Etc/UTC": "Greenwich Standard Time",
    "Etc/GMT": "Greenwich Standard Time",
    "GMT": "Greenwich Standard Time",
    "Africa/Abidjan": "Greenwich Standard Time",
    "Africa/Accra": "Greenwich Standard Time",
    "Africa/Dakar": "Greenwich Standard Time",
    "Atlantic/Reykjavik": "Greenwich Standard Time",
    "Europe/London": "GMT Standard/Daylight Time",
    "Europe/Dublin": "GMT Standard/Daylight Time",
    "Europe/Lisbon": "GMT Standard/Daylight Time",
    "Atlantic/Canary": "GMT Standard/Daylight Time",
    "Atlantic/Madeira": "GMT Standard/Daylight Time",
    "Atlantic/Faroe": "GMT Standard/Daylight Time",
    "Atlantic/Azores": "Azores Standard/Daylight Time",
    "Atlantic/Cape_Verde": "Azores Standard/Daylight Time",
    "Atlantic/South_Georgia": "Mid-Atlantic Standard/Daylight Time",
    "Europe/Paris": _CET,
    "Europe/Berlin": _CET,
    "Europe/Amsterdam": _CET,
    "Europe/Brussels": _CET,
    "Europe/Luxembourg": _CET,
    "Europe/Madrid": _CET,
    "Europe/Rome": _CET,
    "Europe/Vienna": _CET,
    "Europe/Zurich": _CET,
    "Europe/Stockholm": _CET,
    "Europe/Oslo": _CET,
    "Europe/Copenhagen": _CET,
    "Europe/Prague": _CET,
    "Europe/Warsaw": _CET,
    "Europe/Budapest": _CET,
    "Europe/Bratislava": _CET,
    "Europe/Ljubljana": _CET,
    "Europe/Zagreb": _CET,
    "Europe/Belgrade": _CET,
    "Europe/Sarajevo": _CET,
    "Europe/Skopje": _CET,
    "Europe/Podgorica": _CET,
    "Europe/Tirane": _CET,
    "Europe/Monaco": _CET,
    "Europe/Malta": _CET,
    "Europe/Andorra": _CET,
    "Europe/Vaduz": _CET,
    "Europe/San_Marino": _CET,
    "Europe/Vatican": _CET,
    "Europe/Gibraltar": _CET,
    "Europe/Busingen": _CET,
    "Africa/Ceuta": _CET,
    "Arctic/Longyearbyen": _CET,
    "Europe/Athens": _EET,
    "Europe/Bucharest": _EET,
    "Europe/Sofia": _EET,
    "Europe/Helsinki": _EET,
    "Europe/Mariehamn": _EET,
    "Europe/Tallinn": _EET,
    "Europe/Riga": _EET,
    "Europe/Vilnius": _EET,
    "Europe/Kiev": _EET,
    "Europe/Kyiv": _EET,
    "Europe/Chisinau": _EET,
    "Asia/Nicosia": _EET,
    "Asia/Famagusta": _EET,
    "Asia/Beirut": _EET,
    "Africa/Cairo": "Egypt Standard/Daylight Time",
    "Africa/Johannesburg": "South Africa Standard Time",
    "Africa/Maputo": "South Africa Standard Time",
    "Africa/Harare": "South Africa Standard Time",
    "Africa/Lusaka": "South Africa Standard Time",
    "Asia/Jerusalem": "Jerusalem Standard/Daylight Time",
    "Asia/Tel_Aviv": "Jerusalem Standard/Daylight Time",
    "Europe/Istanbul": "Saudi Arabia Standard Time",
    "Europe/Moscow": "Saudi Arabia Standard Time",
    "Europe/Minsk": "Saudi Arabia Standard Time",
    "Asia/Riyadh": "Saudi Arabia Standard Time",
    "Asia/Kuwait": "Saudi Arabia Standard Time",
    "Asia/Baghdad": "Saudi Arabia Standard Time",
    "Asia/Qatar": "Saudi Arabia Standard Time",
    "Asia/Bahrain": "Saudi Arabia Standard Time",
    "Africa/Nairobi": "Saudi Arabia Standard Time",
    "Asia/Tehran": "Iran Standard/Daylight Time",
    "Asia/Dubai": "Arabian Standard Time",
    "Asia/Muscat": "Arabian Standard Time",
    "Asia/Baku": "Arabian Standard Time",
    "Asia/Tbilisi": "Arabian Standard Time",
    "Asia/Yerevan": "Arabian Standard Time",
    "Europe/Samara": "Arabian Standard Time",
    "Asia/Kabul": "Afghanistan Standard Time",
    "Asia/Karachi": "West Asia Standard Time",
    "Asia/Tashkent": "West Asia Standard Time",
    "Asia/Yekaterinburg": "Ekaterinburg Standard Time",
    "Asia/Kolkata": "India Standard Time",
    "Asia/Calcutta": "India Standard Time",
    "Asia/Dhaka": "Central Asia Standard Time",
    "Asia/Almaty": "Central Asia Standard Time",
    "Asia/Bangkok": "SE Asia Standard Time",
    "Asia/Jakarta": "SE Asia Standard Time",
    "Asia/Ho_Chi_Minh": "SE Asia Standard Time",
    "Asia/Shanghai": "Taipei Standard Time",
    "Asia/Hong_Kong": "Taipei Standard Time",
    "Asia/Taipei": "Taipei Standard Time",
    "Asia/Singapore": "Taipei Standard Time",
    "Asia/Kuala_Lumpur": "Taipei Standard Time",
    "Asia/Manila": "Taipei Standard Time",
    "Australia/Perth": "Taipei Standard Time",
    "Asia/Tokyo": "Tokyo Standard Time",
    "Asia/Seoul": "Tokyo Standard Time",
    "Australia/Adelaide": "Cen. Australia Standard/Daylight Time",
    "Australia/Darwin": "AUS Central Standard Time",
    "Australia/Brisbane": "E. Australia Standard Time",
    "Australia/Sydney": "AUS Eastern Standard/Daylight Time",
    "Australia/Melbourne": "AUS Eastern Standard/Daylight Time",
    "Australia/Canberra": "AUS Eastern Standard/Daylight Time",
    "Australia/Hobart": "Tasmania Standard/Daylight Time",
    "Pacific/Guam": "West Pacific Standard Time",
    "Pacific/Port_Moresby": "West Pacific Standard Time",
    "Pacific/Noumea": "Central Pacific Standard Time",
    "Pacific/Guadalcanal": "Central Pacific Standard Time",
    "Pacific/Fiji": "Fiji Standard Time",
    "Pacific/Auckland": "New Zealand Standard/Daylight Time",
    "Pacific/Pago_Pago": "Samoa Standard Time",
    "Pacific/Midway": "Samoa Standard Time",
    "Pacific/Honolulu": "Hawaiian Standard Time",
    "America/Anchorage": "Alaskan Standard/Daylight Time",
    "America/Los_Angeles": "Pacific Standard/Daylight Time",
    "America/Vancouver": "Pacific Standard/Daylight Time",
    "America/Tijuana": "Pacific Standard/Daylight Time",
    "America/Denver": "Mountain Standard/Daylight Time",
    "America/Edmonton": "Mountain Standard/Daylight Time",
    "America/Boise": "Mountain Standard/Daylight Time",
    "America/Phoenix": "US Mountain Standard Time",
    "America/Chicago": "Central Standard/Daylight Time",
    "America/Winnipeg": "Central Standard/Daylight Time",
    "America/Mexico_City": "Central Standard/Daylight Time",
    "America/Regina": "Canada Central Standard Time",
    "America/Bogota": "SA Pacific Standard Time",
    "America/Lima": "SA Pacific Standard Time",
    "America/Panama": "SA Pacific Standard Time",
    "America/New_York": "Eastern Standard/Daylight Time",
    "America/Toronto": "Eastern Standard/Daylight Time",
    "America/Detroit": "Eastern Standard/Daylight Time",
    "America/Indiana/Indianapolis": "Eastern Standard/Daylight Time",
    "America/Halifax": "Atlantic Standard/Daylight Time",
    "America/Caracas": "SA Western Standard Time",
    "America/La_Paz": "SA Western Standard Time",
    "America/Puerto_Rico": "SA Western Standard Time",
    "America/Santo_Domingo": "SA Western Standard Time",
    "America/Santiago": "Pacific SA Standard Time",
    "America/St_Johns": "Newfoundland Standard/Daylight Time",
    "America/Sao_Paulo": "SA Eastern Standard Time",
    "America/Argentina/Buenos_Aires": "SA Eastern Standard Time",
    "America/Buenos_Aires": "SA Eastern Standard Time",
    "America/Montevideo": "SA Eastern Standard Time",
    "America/Noronha": "Mid-Atlantic Standard/Daylight Time",
}

_CISCO_LOWER = {name.lower(): name for name in CISCO_ZONES}


def to_cisco(name: str) -> str | None:
    """The Cisco ``timeZone`` for an IANA or Cisco zone name, or None when unknown."""
    text = name.strip()
    if text in CISCO_ZONES:
        return text
    if text.lower() in _CISCO_LOWER:
        return _CISCO_LOWER[text.lower()]
    if text in IANA_TO_CISCO:
        return IANA_TO_CISCO[text]
    for iana, cisco in IANA_TO_CISCO.items():
        if iana.lower() == text.lower():
            return cisco
    return None


def suggest(name: str, n: int = 3) -> list[str]:
    """The nearest known names (IANA ones we map, and Cisco ones) to a misspelt zone."""
    candidates = list(IANA_TO_CISCO) + list(CISCO_ZONES)
    found = difflib.get_close_matches(name, candidates, n=n, cutoff=0.5)
    if not found:
        # A real IANA zone we have no Cisco name for: offer Cisco names of the same offset.
        try:
            import datetime as dt

            offset = dt.datetime(2026, 1, 15, tzinfo=zoneinfo.ZoneInfo(name)).utcoffset()
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            offset = None
        if offset is not None:
            minutes = int(offset.total_seconds() // 60)
            found = [c for c, m in CISCO_ZONES.items() if m == minutes][:n]
    return found
