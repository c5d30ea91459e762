"""SDP offers and answers for one G.711 audio stream, parsed with sippy's SDP classes.

We only ever speak one audio stream of PCMU/PCMA plus RFC 4733 telephone-events, so building
is a fixed template; parsing goes through :class:`sippy.SdpBody.SdpBody` (the library's parser)
and picks out what the media engine needs as a :class:`MediaDesc`.
"""

from __future__ import annotations

import ipaddress

from skinnyctl.sip.events import Direction, MediaDesc

# Static payload types of RFC 3551; telephone-event is dynamic (its number comes from SDP).
STATIC_PT = {"PCMU": 0, "PCMA": 8}
PT_NAME = {pt: name for name, pt in STATIC_PT.items()}
DIRECTIONS: tuple[Direction, ...] = ("sendrecv", "sendonly", "recvonly", "inactive")
MIRROR: dict[Direction, Direction] = {
    "sendrecv": "sendrecv",
    "sendonly": "recvonly",
    "recvonly": "sendonly",
    "inactive": "inactive",
}


def build_sdp(local: MediaDesc, session_id: int, version: int) -> str:
    """An SDP body (RFC 4566) offering or answering ``local``."""
    family = "IP6" if ":" in local.ip else "IP4"
    pts = [STATIC_PT[c] for c in local.codecs]
    if local.dtmf_pt is not None:
        pts.append(local.dtmf_pt)
    lines = [
        "v=0",
        f"o=skinnyctl {session_id} {version} IN {family} {local.ip}",
        "s=skinnyctl",
        f"c=IN {family} {local.ip}",
        "t=0 0",
        f"m=audio {local.port} RTP/AVP " + " ".join(str(p) for p in pts),
    ]
    lines += [f"a=rtpmap:{STATIC_PT[c]} {c}/8000" for c in local.codecs]
    if local.dtmf_pt is not None:
        lines += [
            f"a=rtpmap:{local.dtmf_pt} telephone-event/8000",
            f"a=fmtp:{local.dtmf_pt} 0-16",
        ]
    lines += [f"a=ptime:{local.ptime}", f"a={local.direction}"]
    return "\r\n".join(lines) + "\r\n"


def parse_sdp(text: str, accept: tuple[str, ...] = ("PCMU", "PCMA")) -> MediaDesc | None:
    """The first audio stream of ``text`` restricted to the codecs we ``accept`` (in the far
    end's order), or None when there is no usable audio stream (or the SDP is broken)."""
    from sippy.SdpBody import SdpBody  # the library stays out of the core's imports

    try:
        body = SdpBody(text)
    except Exception:  # sippy raises SdpParseError, ValueError, IndexError... on bad input
        return None
    for section in body.sections:
        m = section.m_header
        if m is None or str(m.stype).lower() != "audio" or section.c_header is None:
            continue
        if not str(m.transport).upper().startswith("RTP/AVP"):
            continue
        names: dict[int, str] = dict(PT_NAME)
        ptime = 20
        direction: Direction = "sendrecv"
        for a in section.a_headers + body.a_headers:
            if a.name == "rtpmap" and a.value:
                pt_text, _, enc = a.value.partition(" ")
                if pt_text.strip().isdigit():
                    names[int(pt_text)] = enc.split("/")[0].strip()
            elif a.name == "ptime" and a.value and a.value.strip().isdigit():
                ptime = int(a.value)
            elif a.name in DIRECTIONS:
                direction = a.name
        codecs = tuple(
            names[pt].upper() for pt in m.formats if pt in names and names[pt].upper() in accept
        )
        dtmf = next(
            (pt for pt in m.formats if names.get(pt, "").lower() == "telephone-event"), None
        )
        ip = section.c_header.addr
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            return None
        if not codecs or not 0 <= m.port <= 65535:
            return None
        if ip in ("0.0.0.0", "::") or m.port == 0:  # RFC 3264 §8.4 old-style hold
            direction = "inactive" if m.port == 0 else "sendonly"
        return MediaDesc(ip, m.port, codecs, ptime, dtmf, direction)
    return None
