"""IANA time zone names -> the Windows-style ``timeZone`` names Cisco phones understand.

Phones know a fixed list of names (provisioning.md §2.3); the DST rules are compiled into the
firmware. A user writes an IANA name (``Europe/Paris``) or a Cisco name as is.

How the table is made: :func:`derive_mapping` compares each IANA zone's UTC offsets over a whole
year with each Cisco name's: a name without DST ("… Standard Time") matches zones whose offset
never changes and equals the name's; a "Standard/Daylight" name matches zones whose offsets
follow its reference zone (:data:`DST_REFERENCE`) hour by hour. So a zone is mapped only when
the phone will show the right time all year; Chile, Iran, Mexico, Brazil and friends, whose
rules changed since the firmware was built, have no faithful name and are refused with
suggestions (a user may still write the Cisco name directly). :data:`IANA_TO_CISCO` is that
derivation frozen into source (tests/test_timezones.py re-derives it and compares).

Disputed European names (provisioning.md §2.3): usecallmanager.nz lists W. Europe, GTB, Egypt
and E. Europe at +60 and Romance/Central Europe at +120; the Windows table the names come from
(and CUCM's own labels) put W. Europe, Central Europe and Romance at +60 and GTB, E. Europe and
Egypt at +120. Users confirmed "W. Europe Standard/Daylight Time" on real phones for CET zones,
which fits the Windows convention, so we use it throughout: CET zones get W. Europe, EET zones
E. Europe (GTB and Central Europe/Romance are never preferred, only accepted when written).
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

# Cisco "Standard/Daylight" name -> the IANA zone whose rules the firmware's built-in rule
# follows. None: no zone follows it any more (the country dropped DST), so the name is never
# chosen for an IANA zone (still accepted when written as is).
DST_REFERENCE: dict[str, str | None] = {
    "Alaskan Standard/Daylight Time": "America/Anchorage",
    "Pacific Standard/Daylight Time": "America/Los_Angeles",
    "Mountain Standard/Daylight Time": "America/Denver",
    "Central Standard/Daylight Time": "America/Chicago",
    "Mexico Standard/Daylight Time": None,  # Mexico abolished DST in 2022
    "Eastern Standard/Daylight Time": "America/New_York",
    "Atlantic Standard/Daylight Time": "America/Halifax",
    "Newfoundland Standard/Daylight Time": "America/St_Johns",
    "E. South America Standard/Daylight Time": None,  # Brazil abolished DST in 2019
    "Mid-Atlantic Standard/Daylight Time": None,  # firmware rule unknown
    "Azores Standard/Daylight Time": "Atlantic/Azores",
    "GMT Standard/Daylight Time": "Europe/London",
    "W. Europe Standard/Daylight Time": "Europe/Berlin",
    "Central Europe Standard/Daylight Time": "Europe/Budapest",
    "Romance Standard/Daylight Time": "Europe/Paris",
    "GTB Standard/Daylight Time": "Europe/Athens",
    "E. Europe Standard/Daylight Time": "Europe/Bucharest",
    "Egypt Standard/Daylight Time": "Africa/Cairo",
    "Jerusalem Standard/Daylight Time": "Asia/Jerusalem",
    "Russian Standard/Daylight Time": None,  # Russia dropped DST in 2011
    "Iran Standard/Daylight Time": None,  # Iran dropped DST in 2022
    "Caucasus Standard/Daylight Time": None,  # Armenia dropped DST in 2012
    "China Standard/Daylight Time": None,  # China has no DST
    "Cen. Australia Standard/Daylight Time": "Australia/Adelaide",
    "AUS Eastern Standard/Daylight Time": "Australia/Sydney",
    "Tasmania Standard/Daylight Time": "Australia/Hobart",
    "New Zealand Standard/Daylight Time": "Pacific/Auckland",
}

# Names never chosen for an IANA zone: "Pacific SA Daylight Time" appears in one source only and
# its meaning is unclear.
NOT_CHOSEN = frozenset({"Pacific SA Daylight Time"})

# Preferred names when several fit a zone equally (same offsets all year): the confirmed
# W. Europe for CET, E. Europe for EET (see the module doc). Otherwise the first in CISCO_ZONES
# order wins, unless a zone is the reference of a name (Hobart -> Tasmania).
# Preference comes first, so Europe/Paris gets W. Europe, not Romance.
PREFERRED: tuple[str, ...] = (
    "W. Europe Standard/Daylight Time",
    "E. Europe Standard/Daylight Time",
)

# Zone names that are not places (or that zoneinfo lists but should not be offered).
_SKIP = frozenset({"localtime", "Factory"})


def is_dst_name(cisco: str) -> bool:
    """Whether a Cisco name carries a built-in DST rule ("Standard/Daylight")."""
    return "/Daylight" in cisco


def _signature(zone: str, year: int) -> tuple[int, ...]:
    """UTC offsets (minutes) of ``zone`` every 6 hours through ``year``."""
    import datetime as dt

    z = zoneinfo.ZoneInfo(zone)
    start = dt.datetime(year, 1, 1, tzinfo=dt.UTC)
    step = dt.timedelta(hours=6)
    out = []
    for i in range(366 * 4):
        offset = (start + i * step).astimezone(z).utcoffset()
        out.append(int(offset.total_seconds() // 60) if offset is not None else 0)
    return tuple(out)


def derive_mapping(year: int = 2025) -> dict[str, str]:
    """Compute IANA -> Cisco from the machine's tz database (slow: about a second)."""
    zones = sorted(
        z
        for z in zoneinfo.available_timezones()
        if z not in _SKIP and not z.startswith(("posix/", "right/"))
    )
    by_signature: dict[tuple[int, ...], list[str]] = {}
    for cisco, minutes in CISCO_ZONES.items():
        if cisco in NOT_CHOSEN:
            continue
        if is_dst_name(cisco):
            ref = DST_REFERENCE.get(cisco)
            if ref is None:
                continue
            sig = _signature(ref, year)
            if min(sig) != minutes or len(set(sig)) < 2:
                raise AssertionError(f"reference {ref} does not fit {cisco}")
        else:
            sig = (minutes,) * (366 * 4)
        by_signature.setdefault(sig, []).append(cisco)
    reference_of = {ref: c for c, ref in DST_REFERENCE.items() if ref}
    out: dict[str, str] = {}
    for zone in zones:
        names = by_signature.get(_signature(zone, year))
        if not names:
            continue
        preferred = [p for p in PREFERRED if p in names]
        if preferred:
            out[zone] = preferred[0]
        elif reference_of.get(zone) in names:
            out[zone] = reference_of[zone]
        else:
            out[zone] = names[0]
    return out


# Generated by derive_mapping() from tzdata 2025b; tests/test_timezones.py checks it.
IANA_TO_CISCO: dict[str, str] = {
    "Africa/Abidjan": "Greenwich Standard Time",
    "Africa/Accra": "Greenwich Standard Time",
    "Africa/Addis_Ababa": "Saudi Arabia Standard Time",
    "Africa/Asmara": "Saudi Arabia Standard Time",
    "Africa/Asmera": "Saudi Arabia Standard Time",
    "Africa/Bamako": "Greenwich Standard Time",
    "Africa/Banjul": "Greenwich Standard Time",
    "Africa/Bissau": "Greenwich Standard Time",
    "Africa/Blantyre": "South Africa Standard Time",
    "Africa/Bujumbura": "South Africa Standard Time",
    "Africa/Cairo": "Egypt Standard/Daylight Time",
    "Africa/Ceuta": "W. Europe Standard/Daylight Time",
    "Africa/Conakry": "Greenwich Standard Time",
    "Africa/Dakar": "Greenwich Standard Time",
    "Africa/Dar_es_Salaam": "Saudi Arabia Standard Time",
    "Africa/Djibouti": "Saudi Arabia Standard Time",
    "Africa/Freetown": "Greenwich Standard Time",
    "Africa/Gaborone": "South Africa Standard Time",
    "Africa/Harare": "South Africa Standard Time",
    "Africa/Johannesburg": "South Africa Standard Time",
    "Africa/Juba": "South Africa Standard Time",
    "Africa/Kampala": "Saudi Arabia Standard Time",
    "Africa/Khartoum": "South Africa Standard Time",
    "Africa/Kigali": "South Africa Standard Time",
    "Africa/Lome": "Greenwich Standard Time",
    "Africa/Lubumbashi": "South Africa Standard Time",
    "Africa/Lusaka": "South Africa Standard Time",
    "Africa/Maputo": "South Africa Standard Time",
    "Africa/Maseru": "South Africa Standard Time",
    "Africa/Mbabane": "South Africa Standard Time",
    "Africa/Mogadishu": "Saudi Arabia Standard Time",
    "Africa/Monrovia": "Greenwich Standard Time",
    "Africa/Nairobi": "Saudi Arabia Standard Time",
    "Africa/Nouakchott": "Greenwich Standard Time",
    "Africa/Ouagadougou": "Greenwich Standard Time",
    "Africa/Sao_Tome": "Greenwich Standard Time",
    "Africa/Timbuktu": "Greenwich Standard Time",
    "Africa/Tripoli": "South Africa Standard Time",
    "Africa/Windhoek": "South Africa Standard Time",
    "America/Anchorage": "Alaskan Standard/Daylight Time",
    "America/Anguilla": "SA Western Standard Time",
    "America/Antigua": "SA Western Standard Time",
    "America/Araguaina": "SA Eastern Standard Time",
    "America/Argentina/Buenos_Aires": "SA Eastern Standard Time",
    "America/Argentina/Catamarca": "SA Eastern Standard Time",
    "America/Argentina/ComodRivadavia": "SA Eastern Standard Time",
    "America/Argentina/Cordoba": "SA Eastern Standard Time",
    "America/Argentina/Jujuy": "SA Eastern Standard Time",
    "America/Argentina/La_Rioja": "SA Eastern Standard Time",
    "America/Argentina/Mendoza": "SA Eastern Standard Time",
    "America/Argentina/Rio_Gallegos": "SA Eastern Standard Time",
    "America/Argentina/Salta": "SA Eastern Standard Time",
    "America/Argentina/San_Juan": "SA Eastern Standard Time",
    "America/Argentina/San_Luis": "SA Eastern Standard Time",
    "America/Argentina/Tucuman": "SA Eastern Standard Time",
    "America/Argentina/Ushuaia": "SA Eastern Standard Time",
    "America/Aruba": "SA Western Standard Time",
    "America/Asuncion": "SA Eastern Standard Time",
    "America/Atikokan": "SA Pacific Standard Time",
    "America/Bahia": "SA Eastern Standard Time",
    "America/Bahia_Banderas": "Canada Central Standard Time",
    "America/Barbados": "SA Western Standard Time",
    "America/Belem": "SA Eastern Standard Time",
    "America/Belize": "Canada Central Standard Time",
    "America/Blanc-Sablon": "SA Western Standard Time",
    "America/Boa_Vista": "SA Western Standard Time",
    "America/Bogota": "SA Pacific Standard Time",
    "America/Boise": "Mountain Standard/Daylight Time",
    "America/Buenos_Aires": "SA Eastern Standard Time",
    "America/Cambridge_Bay": "Mountain Standard/Daylight Time",
    "America/Campo_Grande": "SA Western Standard Time",
    "America/Cancun": "SA Pacific Standard Time",
    "America/Caracas": "SA Western Standard Time",
    "America/Catamarca": "SA Eastern Standard Time",
    "America/Cayenne": "SA Eastern Standard Time",
    "America/Cayman": "SA Pacific Standard Time",
    "America/Chicago": "Central Standard/Daylight Time",
    "America/Chihuahua": "Canada Central Standard Time",
    "America/Ciudad_Juarez": "Mountain Standard/Daylight Time",
    "America/Coral_Harbour": "SA Pacific Standard Time",
    "America/Cordoba": "SA Eastern Standard Time",
    "America/Costa_Rica": "Canada Central Standard Time",
    "America/Coyhaique": "SA Eastern Standard Time",
    "America/Creston": "US Mountain Standard Time",
    "America/Cuiaba": "SA Western Standard Time",
    "America/Curacao": "SA Western Standard Time",
    "America/Danmarkshavn": "Greenwich Standard Time",
    "America/Dawson": "US Mountain Standard Time",
    "America/Dawson_Creek": "US Mountain Standard Time",
    "America/Denver": "Mountain Standard/Daylight Time",
    "America/Detroit": "Eastern Standard/Daylight Time",
    "America/Dominica": "SA Western Standard Time",
    "America/Edmonton": "Mountain Standard/Daylight Time",
    "America/Eirunepe": "SA Pacific Standard Time",
    "America/El_Salvador": "Canada Central Standard Time",
    "America/Ensenada": "Pacific Standard/Daylight Time",
    "America/Fort_Nelson": "US Mountain Standard Time",
    "America/Fort_Wayne": "Eastern Standard/Daylight Time",
    "America/Fortaleza": "SA Eastern Standard Time",
    "America/Glace_Bay": "Atlantic Standard/Daylight Time",
    "America/Goose_Bay": "Atlantic Standard/Daylight Time",
    "America/Grand_Turk": "Eastern Standard/Daylight Time",
    "America/Grenada": "SA Western Standard Time",
    "America/Guadeloupe": "SA Western Standard Time",
    "America/Guatemala": "Canada Central Standard Time",
    "America/Guayaquil": "SA Pacific Standard Time",
    "America/Guyana": "SA Western Standard Time",
    "America/Halifax": "Atlantic Standard/Daylight Time",
    "America/Hermosillo": "US Mountain Standard Time",
    "America/Indiana/Indianapolis": "Eastern Standard/Daylight Time",
    "America/Indiana/Knox": "Central Standard/Daylight Time",
    "America/Indiana/Marengo": "Eastern Standard/Daylight Time",
    "America/Indiana/Petersburg": "Eastern Standard/Daylight Time",
    "America/Indiana/Tell_City": "Central Standard/Daylight Time",
    "America/Indiana/Vevay": "Eastern Standard/Daylight Time",
    "America/Indiana/Vincennes": "Eastern Standard/Daylight Time",
    "America/Indiana/Winamac": "Eastern Standard/Daylight Time",
    "America/Indianapolis": "Eastern Standard/Daylight Time",
    "America/Inuvik": "Mountain Standard/Daylight Time",
    "America/Iqaluit": "Eastern Standard/Daylight Time",
    "America/Jamaica": "SA Pacific Standard Time",
    "America/Jujuy": "SA Eastern Standard Time",
    "America/Juneau": "Alaskan Standard/Daylight Time",
    "America/Kentucky/Louisville": "Eastern Standard/Daylight Time",
    "America/Kentucky/Monticello": "Eastern Standard/Daylight Time",
    "America/Knox_IN": "Central Standard/Daylight Time",
    "America/Kralendijk": "SA Western Standard Time",
    "America/La_Paz": "SA Western Standard Time",
    "America/Lima": "SA Pacific Standard Time",
    "America/Los_Angeles": "Pacific Standard/Daylight Time",
    "America/Louisville": "Eastern Standard/Daylight Time",
    "America/Lower_Princes": "SA Western Standard Time",
    "America/Maceio": "SA Eastern Standard Time",
    "America/Managua": "Canada Central Standard Time",
    "America/Manaus": "SA Western Standard Time",
    "America/Marigot": "SA Western Standard Time",
    "America/Martinique": "SA Western Standard Time",
    "America/Matamoros": "Central Standard/Daylight Time",
    "America/Mazatlan": "US Mountain Standard Time",
    "America/Mendoza": "SA Eastern Standard Time",
    "America/Menominee": "Central Standard/Daylight Time",
    "America/Merida": "Canada Central Standard Time",
    "America/Metlakatla": "Alaskan Standard/Daylight Time",
    "America/Mexico_City": "Canada Central Standard Time",
    "America/Moncton": "Atlantic Standard/Daylight Time",
    "America/Monterrey": "Canada Central Standard Time",
    "America/Montevideo": "SA Eastern Standard Time",
    "America/Montreal": "Eastern Standard/Daylight Time",
    "America/Montserrat": "SA Western Standard Time",
    "America/Nassau": "Eastern Standard/Daylight Time",
    "America/New_York": "Eastern Standard/Daylight Time",
    "America/Nipigon": "Eastern Standard/Daylight Time",
    "America/Nome": "Alaskan Standard/Daylight Time",
    "America/North_Dakota/Beulah": "Central Standard/Daylight Time",
    "America/North_Dakota/Center": "Central Standard/Daylight Time",
    "America/North_Dakota/New_Salem": "Central Standard/Daylight Time",
    "America/Ojinaga": "Central Standard/Daylight Time",
    "America/Panama": "SA Pacific Standard Time",
    "America/Pangnirtung": "Eastern Standard/Daylight Time",
    "America/Paramaribo": "SA Eastern Standard Time",
    "America/Phoenix": "US Mountain Standard Time",
    "America/Port-au-Prince": "Eastern Standard/Daylight Time",
    "America/Port_of_Spain": "SA Western Standard Time",
    "America/Porto_Acre": "SA Pacific Standard Time",
    "America/Porto_Velho": "SA Western Standard Time",
    "America/Puerto_Rico": "SA Western Standard Time",
    "America/Punta_Arenas": "SA Eastern Standard Time",
    "America/Rainy_River": "Central Standard/Daylight Time",
    "America/Rankin_Inlet": "Central Standard/Daylight Time",
    "America/Recife": "SA Eastern Standard Time",
    "America/Regina": "Canada Central Standard Time",
    "America/Resolute": "Central Standard/Daylight Time",
    "America/Rio_Branco": "SA Pacific Standard Time",
    "America/Rosario": "SA Eastern Standard Time",
    "America/Santa_Isabel": "Pacific Standard/Daylight Time",
    "America/Santarem": "SA Eastern Standard Time",
    "America/Santo_Domingo": "SA Western Standard Time",
    "America/Sao_Paulo": "SA Eastern Standard Time",
    "America/Shiprock": "Mountain Standard/Daylight Time",
    "America/Sitka": "Alaskan Standard/Daylight Time",
    "America/St_Barthelemy": "SA Western Standard Time",
    "America/St_Johns": "Newfoundland Standard/Daylight Time",
    "America/St_Kitts": "SA Western Standard Time",
    "America/St_Lucia": "SA Western Standard Time",
    "America/St_Thomas": "SA Western Standard Time",
    "America/St_Vincent": "SA Western Standard Time",
    "America/Swift_Current": "Canada Central Standard Time",
    "America/Tegucigalpa": "Canada Central Standard Time",
    "America/Thule": "Atlantic Standard/Daylight Time",
    "America/Thunder_Bay": "Eastern Standard/Daylight Time",
    "America/Tijuana": "Pacific Standard/Daylight Time",
    "America/Toronto": "Eastern Standard/Daylight Time",
    "America/Tortola": "SA Western Standard Time",
    "America/Vancouver": "Pacific Standard/Daylight Time",
    "America/Virgin": "SA Western Standard Time",
    "America/Whitehorse": "US Mountain Standard Time",
    "America/Winnipeg": "Central Standard/Daylight Time",
    "America/Yakutat": "Alaskan Standard/Daylight Time",
    "America/Yellowknife": "Mountain Standard/Daylight Time",
    "Antarctica/Casey": "Taipei Standard Time",
    "Antarctica/Davis": "SE Asia Standard Time",
    "Antarctica/DumontDUrville": "E. Australia Standard Time",
    "Antarctica/Macquarie": "AUS Eastern Standard/Daylight Time",
    "Antarctica/Mawson": "West Asia Standard Time",
    "Antarctica/McMurdo": "New Zealand Standard/Daylight Time",
    "Antarctica/Palmer": "SA Eastern Standard Time",
    "Antarctica/Rothera": "SA Eastern Standard Time",
    "Antarctica/South_Pole": "New Zealand Standard/Daylight Time",
    "Antarctica/Syowa": "Saudi Arabia Standard Time",
    "Antarctica/Vostok": "West Asia Standard Time",
    "Arctic/Longyearbyen": "W. Europe Standard/Daylight Time",
    "Asia/Aden": "Saudi Arabia Standard Time",
    "Asia/Almaty": "West Asia Standard Time",
    "Asia/Amman": "Saudi Arabia Standard Time",
    "Asia/Anadyr": "Fiji Standard Time",
    "Asia/Aqtau": "West Asia Standard Time",
    "Asia/Aqtobe": "West Asia Standard Time",
    "Asia/Ashgabat": "West Asia Standard Time",
    "Asia/Ashkhabad": "West Asia Standard Time",
    "Asia/Atyrau": "West Asia Standard Time",
    "Asia/Baghdad": "Saudi Arabia Standard Time",
    "Asia/Bahrain": "Saudi Arabia Standard Time",
    "Asia/Baku": "Arabian Standard Time",
    "Asia/Bangkok": "SE Asia Standard Time",
    "Asia/Barnaul": "SE Asia Standard Time",
    "Asia/Bishkek": "Central Asia Standard Time",
    "Asia/Brunei": "Taipei Standard Time",
    "Asia/Calcutta": "India Standard Time",
    "Asia/Chita": "Tokyo Standard Time",
    "Asia/Choibalsan": "Taipei Standard Time",
    "Asia/Chongqing": "Taipei Standard Time",
    "Asia/Chungking": "Taipei Standard Time",
    "Asia/Colombo": "India Standard Time",
    "Asia/Dacca": "Central Asia Standard Time",
    "Asia/Damascus": "Saudi Arabia Standard Time",
    "Asia/Dhaka": "Central Asia Standard Time",
    "Asia/Dili": "Tokyo Standard Time",
    "Asia/Dubai": "Arabian Standard Time",
    "Asia/Dushanbe": "West Asia Standard Time",
    "Asia/Famagusta": "E. Europe Standard/Daylight Time",
    "Asia/Harbin": "Taipei Standard Time",
    "Asia/Ho_Chi_Minh": "SE Asia Standard Time",
    "Asia/Hong_Kong": "Taipei Standard Time",
    "Asia/Hovd": "SE Asia Standard Time",
    "Asia/Irkutsk": "Taipei Standard Time",
    "Asia/Istanbul": "Saudi Arabia Standard Time",
    "Asia/Jakarta": "SE Asia Standard Time",
    "Asia/Jayapura": "Tokyo Standard Time",
    "Asia/Jerusalem": "Jerusalem Standard/Daylight Time",
    "Asia/Kabul": "Afghanistan Standard Time",
    "Asia/Kamchatka": "Fiji Standard Time",
    "Asia/Karachi": "West Asia Standard Time",
    "Asia/Kashgar": "Central Asia Standard Time",
    "Asia/Khandyga": "Tokyo Standard Time",
    "Asia/Kolkata": "India Standard Time",
    "Asia/Krasnoyarsk": "SE Asia Standard Time",
    "Asia/Kuala_Lumpur": "Taipei Standard Time",
    "Asia/Kuching": "Taipei Standard Time",
    "Asia/Kuwait": "Saudi Arabia Standard Time",
    "Asia/Macao": "Taipei Standard Time",
    "Asia/Macau": "Taipei Standard Time",
    "Asia/Magadan": "Central Pacific Standard Time",
    "Asia/Makassar": "Taipei Standard Time",
    "Asia/Manila": "Taipei Standard Time",
    "Asia/Muscat": "Arabian Standard Time",
    "Asia/Nicosia": "E. Europe Standard/Daylight Time",
    "Asia/Novokuznetsk": "SE Asia Standard Time",
    "Asia/Novosibirsk": "SE Asia Standard Time",
    "Asia/Omsk": "Central Asia Standard Time",
    "Asia/Oral": "West Asia Standard Time",
    "Asia/Phnom_Penh": "SE Asia Standard Time",
    "Asia/Pontianak": "SE Asia Standard Time",
    "Asia/Pyongyang": "Tokyo Standard Time",
    "Asia/Qatar": "Saudi Arabia Standard Time",
    "Asia/Qostanay": "West Asia Standard Time",
    "Asia/Qyzylorda": "West Asia Standard Time",
    "Asia/Riyadh": "Saudi Arabia Standard Time",
    "Asia/Saigon": "SE Asia Standard Time",
    "Asia/Sakhalin": "Central Pacific Standard Time",
    "Asia/Samarkand": "West Asia Standard Time",
    "Asia/Seoul": "Tokyo Standard Time",
    "Asia/Shanghai": "Taipei Standard Time",
    "Asia/Singapore": "Taipei Standard Time",
    "Asia/Srednekolymsk": "Central Pacific Standard Time",
    "Asia/Taipei": "Taipei Standard Time",
    "Asia/Tashkent": "West Asia Standard Time",
    "Asia/Tbilisi": "Arabian Standard Time",
    "Asia/Tel_Aviv": "Jerusalem Standard/Daylight Time",
    "Asia/Thimbu": "Central Asia Standard Time",
    "Asia/Thimphu": "Central Asia Standard Time",
    "Asia/Tokyo": "Tokyo Standard Time",
    "Asia/Tomsk": "SE Asia Standard Time",
    "Asia/Ujung_Pandang": "Taipei Standard Time",
    "Asia/Ulaanbaatar": "Taipei Standard Time",
    "Asia/Ulan_Bator": "Taipei Standard Time",
    "Asia/Urumqi": "Central Asia Standard Time",
    "Asia/Ust-Nera": "E. Australia Standard Time",
    "Asia/Vientiane": "SE Asia Standard Time",
    "Asia/Vladivostok": "E. Australia Standard Time",
    "Asia/Yakutsk": "Tokyo Standard Time",
    "Asia/Yekaterinburg": "West Asia Standard Time",
    "Asia/Yerevan": "Arabian Standard Time",
    "Atlantic/Azores": "Azores Standard/Daylight Time",
    "Atlantic/Bermuda": "Atlantic Standard/Daylight Time",
    "Atlantic/Canary": "GMT Standard/Daylight Time",
    "Atlantic/Faeroe": "GMT Standard/Daylight Time",
    "Atlantic/Faroe": "GMT Standard/Daylight Time",
    "Atlantic/Jan_Mayen": "W. Europe Standard/Daylight Time",
    "Atlantic/Madeira": "GMT Standard/Daylight Time",
    "Atlantic/Reykjavik": "Greenwich Standard Time",
    "Atlantic/St_Helena": "Greenwich Standard Time",
    "Atlantic/Stanley": "SA Eastern Standard Time",
    "Australia/ACT": "AUS Eastern Standard/Daylight Time",
    "Australia/Adelaide": "Cen. Australia Standard/Daylight Time",
    "Australia/Brisbane": "E. Australia Standard Time",
    "Australia/Broken_Hill": "Cen. Australia Standard/Daylight Time",
    "Australia/Canberra": "AUS Eastern Standard/Daylight Time",
    "Australia/Currie": "AUS Eastern Standard/Daylight Time",
    "Australia/Darwin": "AUS Central Standard Time",
    "Australia/Hobart": "Tasmania Standard/Daylight Time",
    "Australia/Lindeman": "E. Australia Standard Time",
    "Australia/Melbourne": "AUS Eastern Standard/Daylight Time",
    "Australia/NSW": "AUS Eastern Standard/Daylight Time",
    "Australia/North": "AUS Central Standard Time",
    "Australia/Perth": "Taipei Standard Time",
    "Australia/Queensland": "E. Australia Standard Time",
    "Australia/South": "Cen. Australia Standard/Daylight Time",
    "Australia/Sydney": "AUS Eastern Standard/Daylight Time",
    "Australia/Tasmania": "AUS Eastern Standard/Daylight Time",
    "Australia/Victoria": "AUS Eastern Standard/Daylight Time",
    "Australia/West": "Taipei Standard Time",
    "Australia/Yancowinna": "Cen. Australia Standard/Daylight Time",
    "Brazil/Acre": "SA Pacific Standard Time",
    "Brazil/East": "SA Eastern Standard Time",
    "Brazil/West": "SA Western Standard Time",
    "CET": "W. Europe Standard/Daylight Time",
    "CST6CDT": "Central Standard/Daylight Time",
    "Canada/Atlantic": "Atlantic Standard/Daylight Time",
    "Canada/Central": "Central Standard/Daylight Time",
    "Canada/Eastern": "Eastern Standard/Daylight Time",
    "Canada/Mountain": "Mountain Standard/Daylight Time",
    "Canada/Newfoundland": "Newfoundland Standard/Daylight Time",
    "Canada/Pacific": "Pacific Standard/Daylight Time",
    "Canada/Saskatchewan": "Canada Central Standard Time",
    "Canada/Yukon": "US Mountain Standard Time",
    "EET": "E. Europe Standard/Daylight Time",
    "EST": "SA Pacific Standard Time",
    "EST5EDT": "Eastern Standard/Daylight Time",
    "Egypt": "Egypt Standard/Daylight Time",
    "Eire": "GMT Standard/Daylight Time",
    "Etc/GMT": "Greenwich Standard Time",
    "Etc/GMT+0": "Greenwich Standard Time",
    "Etc/GMT+10": "Hawaiian Standard Time",
    "Etc/GMT+11": "Samoa Standard Time",
    "Etc/GMT+12": "Dateline Standard Time",
    "Etc/GMT+3": "SA Eastern Standard Time",
    "Etc/GMT+4": "SA Western Standard Time",
    "Etc/GMT+5": "SA Pacific Standard Time",
    "Etc/GMT+6": "Canada Central Standard Time",
    "Etc/GMT+7": "US Mountain Standard Time",
    "Etc/GMT-0": "Greenwich Standard Time",
    "Etc/GMT-10": "E. Australia Standard Time",
    "Etc/GMT-11": "Central Pacific Standard Time",
    "Etc/GMT-12": "Fiji Standard Time",
    "Etc/GMT-2": "South Africa Standard Time",
    "Etc/GMT-3": "Saudi Arabia Standard Time",
    "Etc/GMT-4": "Arabian Standard Time",
    "Etc/GMT-5": "West Asia Standard Time",
    "Etc/GMT-6": "Central Asia Standard Time",
    "Etc/GMT-7": "SE Asia Standard Time",
    "Etc/GMT-8": "Taipei Standard Time",
    "Etc/GMT-9": "Tokyo Standard Time",
    "Etc/GMT0": "Greenwich Standard Time",
    "Etc/Greenwich": "Greenwich Standard Time",
    "Etc/UCT": "Greenwich Standard Time",
    "Etc/UTC": "Greenwich Standard Time",
    "Etc/Universal": "Greenwich Standard Time",
    "Etc/Zulu": "Greenwich Standard Time",
    "Europe/Amsterdam": "W. Europe Standard/Daylight Time",
    "Europe/Andorra": "W. Europe Standard/Daylight Time",
    "Europe/Astrakhan": "Arabian Standard Time",
    "Europe/Athens": "E. Europe Standard/Daylight Time",
    "Europe/Belfast": "GMT Standard/Daylight Time",
    "Europe/Belgrade": "W. Europe Standard/Daylight Time",
    "Europe/Berlin": "W. Europe Standard/Daylight Time",
    "Europe/Bratislava": "W. Europe Standard/Daylight Time",
    "Europe/Brussels": "W. Europe Standard/Daylight Time",
    "Europe/Bucharest": "E. Europe Standard/Daylight Time",
    "Europe/Budapest": "W. Europe Standard/Daylight Time",
    "Europe/Busingen": "W. Europe Standard/Daylight Time",
    "Europe/Copenhagen": "W. Europe Standard/Daylight Time",
    "Europe/Dublin": "GMT Standard/Daylight Time",
    "Europe/Gibraltar": "W. Europe Standard/Daylight Time",
    "Europe/Guernsey": "GMT Standard/Daylight Time",
    "Europe/Helsinki": "E. Europe Standard/Daylight Time",
    "Europe/Isle_of_Man": "GMT Standard/Daylight Time",
    "Europe/Istanbul": "Saudi Arabia Standard Time",
    "Europe/Jersey": "GMT Standard/Daylight Time",
    "Europe/Kaliningrad": "South Africa Standard Time",
    "Europe/Kiev": "E. Europe Standard/Daylight Time",
    "Europe/Kirov": "Saudi Arabia Standard Time",
    "Europe/Kyiv": "E. Europe Standard/Daylight Time",
    "Europe/Lisbon": "GMT Standard/Daylight Time",
    "Europe/Ljubljana": "W. Europe Standard/Daylight Time",
    "Europe/London": "GMT Standard/Daylight Time",
    "Europe/Luxembourg": "W. Europe Standard/Daylight Time",
    "Europe/Madrid": "W. Europe Standard/Daylight Time",
    "Europe/Malta": "W. Europe Standard/Daylight Time",
    "Europe/Mariehamn": "E. Europe Standard/Daylight Time",
    "Europe/Minsk": "Saudi Arabia Standard Time",
    "Europe/Monaco": "W. Europe Standard/Daylight Time",
    "Europe/Moscow": "Saudi Arabia Standard Time",
    "Europe/Nicosia": "E. Europe Standard/Daylight Time",
    "Europe/Oslo": "W. Europe Standard/Daylight Time",
    "Europe/Paris": "W. Europe Standard/Daylight Time",
    "Europe/Podgorica": "W. Europe Standard/Daylight Time",
    "Europe/Prague": "W. Europe Standard/Daylight Time",
    "Europe/Riga": "E. Europe Standard/Daylight Time",
    "Europe/Rome": "W. Europe Standard/Daylight Time",
    "Europe/Samara": "Arabian Standard Time",
    "Europe/San_Marino": "W. Europe Standard/Daylight Time",
    "Europe/Sarajevo": "W. Europe Standard/Daylight Time",
    "Europe/Saratov": "Arabian Standard Time",
    "Europe/Simferopol": "Saudi Arabia Standard Time",
    "Europe/Skopje": "W. Europe Standard/Daylight Time",
    "Europe/Sofia": "E. Europe Standard/Daylight Time",
    "Europe/Stockholm": "W. Europe Standard/Daylight Time",
    "Europe/Tallinn": "E. Europe Standard/Daylight Time",
    "Europe/Tirane": "W. Europe Standard/Daylight Time",
    "Europe/Ulyanovsk": "Arabian Standard Time",
    "Europe/Uzhgorod": "E. Europe Standard/Daylight Time",
    "Europe/Vaduz": "W. Europe Standard/Daylight Time",
    "Europe/Vatican": "W. Europe Standard/Daylight Time",
    "Europe/Vienna": "W. Europe Standard/Daylight Time",
    "Europe/Vilnius": "E. Europe Standard/Daylight Time",
    "Europe/Volgograd": "Saudi Arabia Standard Time",
    "Europe/Warsaw": "W. Europe Standard/Daylight Time",
    "Europe/Zagreb": "W. Europe Standard/Daylight Time",
    "Europe/Zaporozhye": "E. Europe Standard/Daylight Time",
    "Europe/Zurich": "W. Europe Standard/Daylight Time",
    "GB": "GMT Standard/Daylight Time",
    "GB-Eire": "GMT Standard/Daylight Time",
    "GMT": "Greenwich Standard Time",
    "GMT+0": "Greenwich Standard Time",
    "GMT-0": "Greenwich Standard Time",
    "GMT0": "Greenwich Standard Time",
    "Greenwich": "Greenwich Standard Time",
    "HST": "Hawaiian Standard Time",
    "Hongkong": "Taipei Standard Time",
    "Iceland": "Greenwich Standard Time",
    "Indian/Antananarivo": "Saudi Arabia Standard Time",
    "Indian/Chagos": "Central Asia Standard Time",
    "Indian/Christmas": "SE Asia Standard Time",
    "Indian/Comoro": "Saudi Arabia Standard Time",
    "Indian/Kerguelen": "West Asia Standard Time",
    "Indian/Mahe": "Arabian Standard Time",
    "Indian/Maldives": "West Asia Standard Time",
    "Indian/Mauritius": "Arabian Standard Time",
    "Indian/Mayotte": "Saudi Arabia Standard Time",
    "Indian/Reunion": "Arabian Standard Time",
    "Israel": "Jerusalem Standard/Daylight Time",
    "Jamaica": "SA Pacific Standard Time",
    "Japan": "Tokyo Standard Time",
    "Kwajalein": "Fiji Standard Time",
    "Libya": "South Africa Standard Time",
    "MET": "W. Europe Standard/Daylight Time",
    "MST": "US Mountain Standard Time",
    "MST7MDT": "Mountain Standard/Daylight Time",
    "Mexico/BajaNorte": "Pacific Standard/Daylight Time",
    "Mexico/BajaSur": "US Mountain Standard Time",
    "Mexico/General": "Canada Central Standard Time",
    "NZ": "New Zealand Standard/Daylight Time",
    "Navajo": "Mountain Standard/Daylight Time",
    "PRC": "Taipei Standard Time",
    "PST8PDT": "Pacific Standard/Daylight Time",
    "Pacific/Auckland": "New Zealand Standard/Daylight Time",
    "Pacific/Bougainville": "Central Pacific Standard Time",
    "Pacific/Chuuk": "E. Australia Standard Time",
    "Pacific/Efate": "Central Pacific Standard Time",
    "Pacific/Fiji": "Fiji Standard Time",
    "Pacific/Funafuti": "Fiji Standard Time",
    "Pacific/Galapagos": "Canada Central Standard Time",
    "Pacific/Guadalcanal": "Central Pacific Standard Time",
    "Pacific/Guam": "E. Australia Standard Time",
    "Pacific/Honolulu": "Hawaiian Standard Time",
    "Pacific/Johnston": "Hawaiian Standard Time",
    "Pacific/Kosrae": "Central Pacific Standard Time",
    "Pacific/Kwajalein": "Fiji Standard Time",
    "Pacific/Majuro": "Fiji Standard Time",
    "Pacific/Midway": "Samoa Standard Time",
    "Pacific/Nauru": "Fiji Standard Time",
    "Pacific/Niue": "Samoa Standard Time",
    "Pacific/Noumea": "Central Pacific Standard Time",
    "Pacific/Pago_Pago": "Samoa Standard Time",
    "Pacific/Palau": "Tokyo Standard Time",
    "Pacific/Pohnpei": "Central Pacific Standard Time",
    "Pacific/Ponape": "Central Pacific Standard Time",
    "Pacific/Port_Moresby": "E. Australia Standard Time",
    "Pacific/Rarotonga": "Hawaiian Standard Time",
    "Pacific/Saipan": "E. Australia Standard Time",
    "Pacific/Samoa": "Samoa Standard Time",
    "Pacific/Tahiti": "Hawaiian Standard Time",
    "Pacific/Tarawa": "Fiji Standard Time",
    "Pacific/Truk": "E. Australia Standard Time",
    "Pacific/Wake": "Fiji Standard Time",
    "Pacific/Wallis": "Fiji Standard Time",
    "Pacific/Yap": "E. Australia Standard Time",
    "Poland": "W. Europe Standard/Daylight Time",
    "Portugal": "GMT Standard/Daylight Time",
    "ROC": "Taipei Standard Time",
    "ROK": "Tokyo Standard Time",
    "Singapore": "Taipei Standard Time",
    "Turkey": "Saudi Arabia Standard Time",
    "UCT": "Greenwich Standard Time",
    "US/Alaska": "Alaskan Standard/Daylight Time",
    "US/Arizona": "US Mountain Standard Time",
    "US/Central": "Central Standard/Daylight Time",
    "US/East-Indiana": "Eastern Standard/Daylight Time",
    "US/Eastern": "Eastern Standard/Daylight Time",
    "US/Hawaii": "Hawaiian Standard Time",
    "US/Indiana-Starke": "Central Standard/Daylight Time",
    "US/Michigan": "Eastern Standard/Daylight Time",
    "US/Mountain": "Mountain Standard/Daylight Time",
    "US/Pacific": "Pacific Standard/Daylight Time",
    "US/Samoa": "Samoa Standard Time",
    "UTC": "Greenwich Standard Time",
    "Universal": "Greenwich Standard Time",
    "W-SU": "Saudi Arabia Standard Time",
    "WET": "GMT Standard/Daylight Time",
    "Zulu": "Greenwich Standard Time",
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


def standard_offset(zone: str, year: int = 2025) -> tuple[int, bool] | None:
    """(standard UTC offset in minutes, observes DST) of an IANA zone, or None if unknown."""
    try:
        sig = _signature(zone, year)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return None
    return min(sig), len(set(sig)) > 1


def suggest(name: str, n: int = 3) -> list[str]:
    """What to write instead of an unknown zone name.

    A real IANA zone that no Cisco name represents faithfully gets the Cisco names of the same
    standard offset (the user may accept a DST error by writing one); a misspelt name gets the
    nearest known names."""
    text = name.strip()
    known = standard_offset(text) if text and "\x00" not in text else None
    if known is not None:
        minutes, dst = known
        same = [c for c, m in CISCO_ZONES.items() if m == minutes and c not in NOT_CHOSEN]
        same.sort(key=lambda c: is_dst_name(c) != dst)
        if same:
            return same[:n]
    candidates = list(IANA_TO_CISCO) + list(CISCO_ZONES)
    return difflib.get_close_matches(text, candidates, n=n, cutoff=0.5)
