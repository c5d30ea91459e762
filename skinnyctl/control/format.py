"""Readable tables for the control API's answers (``--json`` prints the data as is)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, c in enumerate(row):
            widths[i] = max(widths[i], len(c))
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True))]
    for row in cells:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(line.rstrip() for line in lines)


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, list | tuple):
        return ",".join(_cell(x) for x in v) or "-"
    return str(v)


def _duration(seconds: float) -> str:
    s = int(seconds)
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return (f"{d}d " if d else "") + f"{h:02d}:{m:02d}:{s:02d}"


def _time(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def status(s: dict[str, Any]) -> str:
    d = s["devices"]
    return "\n".join(
        [
            f"skinnyctl {s['version']} serving {s['site']}",
            f"up {_duration(s['uptime'])} (since {_time(s['started_at'])}), SCCP on {s['sccp']}",
            f"devices: {d['registered']} registered, {d['configured']} configured, "
            f"{d['discovered']} discovered"
            + (
                f" ({s['discovered_dropped']} more left out: too many)"
                if s.get("discovered_dropped")
                else ""
            ),
            f"lines: {s['lines']}   active calls: {s['calls']}",
            *_connections(s),
            *_storage(s),
        ]
    )


def _storage(s: dict[str, Any]) -> list[str]:
    records = s.get("call_records")
    if not records or records["ok"]:
        return []
    return [
        f"call records NOT WRITTEN to {records['path']}: {records['problem']}; "
        f"{records['waiting']} waiting in memory, retried every few seconds"
        + (f", {records['dropped']} dropped" if records["dropped"] else "")
    ]


_REFUSED = {
    "refused_before_register": "sent something else before Register",
    "register_deadline": "did not register in time",
    "register_rejected": "Register rejected",
    "over_budget": "sent too much before Register",
    "protocol_errors": "broke framing",
    "overflows": "did not read",
}


def _connections(s: dict[str, Any]) -> list[str]:
    if "max_connections" not in s:
        return []  # an older server
    reached = s.get("max_connections_reached") or 0
    out = [
        f"SCCP connections: {s['connections']} (max {s['max_connections']}"
        + (f", reached {reached} times)" if reached else ")")
    ]
    refused = s.get("refused") or {}
    if refused:
        out.append(
            "  refused: "
            + ", ".join(f"{n} {_REFUSED.get(k, k)}" for k, n in sorted(refused.items()))
        )
    return out


def devices(data: dict[str, Any]) -> str:
    reg = data["registered"]
    out = [f"Registered ({len(reg)}):"]
    if reg:
        out.append(
            table(
                ["name", "ip", "model", "type", "proto", "firmware", "lines", "codecs"],
                [
                    [
                        d["device_name"],
                        d["ip"],
                        d["model"],
                        d["device_type"],
                        d["protocol"],
                        d["firmware_load"],
                        d["lines"],
                        d["codecs"],
                    ]
                    for d in reg
                ],
            )
        )
    conf = [d for d in data["configured"] if not d["registered"]]
    out.append(f"\nConfigured, not registered ({len(conf)}):")
    if conf:
        out.append(
            table(
                ["name", "model", "lines", "description"],
                [[d["device_name"], d["model"], d["lines"], d["description"]] for d in conf],
            )
        )
    disc = data["discovered"]
    dropped = data.get("discovered_dropped") or 0
    more = f"; {dropped} more left out: the most recent {len(disc)} are kept" if dropped else ""
    out.append(f"\nDiscovered, not in the site ({len(disc)}{more}):")
    if disc:
        out.append(
            table(
                ["name", "ip", "model", "seen by", "last seen", "count"],
                [
                    [
                        d["device_name"],
                        d["ip"],
                        d["model"],
                        d["sources"],
                        d["last_seen"][:19],
                        d["count"],
                    ]
                    for d in disc
                ],
            )
        )
        out.append("(adopt one with: skinnyctl adopt MAC --model MODEL)")
    return "\n".join(out)


def device(d: dict[str, Any]) -> str:
    out = [f"{d['device_name']}: " + ("registered" if d.get("registered") else "not registered")]
    if d.get("registered"):
        out += [
            f"  ip {d['ip']}, model {d['model']} (type id {d['device_type']}), "
            f"instance {d['instance']}",
            f"  protocol {d['protocol']} (phone announced {d['phone_protocol']}), "
            f"firmware {d['firmware_load'] or '-'}",
            f"  codecs {_cell(d['codecs'])}, max streams {d['max_streams']}, "
            f"RTP port {d['port'] or '-'}",
            f"  registered {_time(d['registered_at'])}, keepalive {d['keepalive']} s",
        ]
    else:
        out.append(
            f"  model {d['model']} (type id {d['device_type']}), firmware "
            f"{d.get('firmware') or '-'}"
        )
    out.append("Buttons:")
    out.append(
        table(
            ["pos", "type", "inst", "label", "value", "state", "mwi"],
            [
                [
                    b["position"],
                    b["type"],
                    b["instance"],
                    b["label"],
                    b["value"],
                    b.get("state"),
                    b.get("mwi") if b["type"] == "line" else None,
                ]
                for b in d["buttons"]
            ],
        )
    )
    return "\n".join(out)


def lines(data: list[dict[str, Any]]) -> str:
    return table(
        ["line", "name", "state", "mwi", "registered on", "configured on"],
        [
            [
                ln["number"],
                ln["display_name"],
                ln["state"],
                ln["mwi"],
                [f"{r['device_name']}:{r['instance']}" for r in ln["registered_on"]],
                ln["configured_on"],
            ]
            for ln in data
        ],
    )


def calls(data: dict[str, Any]) -> str:
    calls_ = data["calls"]
    if not calls_:
        out = ["no calls"]
    else:
        rows = []
        for c in calls_:
            legs = c.get("legs") or [c]
            for leg in legs:
                rows.append(
                    [
                        c.get("call_id", c.get("id", "")),
                        f"{c.get('caller', '')}->{c.get('called', '')}",
                        c.get("state", ""),
                        leg.get("device_name", leg.get("device", "")),
                        leg.get("line", ""),
                        leg.get("state", ""),
                        leg.get("rtp_phone") or None,
                        leg.get("rtp_sends_to") or None,
                        leg.get("relay_port"),
                    ]
                )
        headers = [
            "call",
            "from->to",
            "call state",
            "device",
            "line",
            "leg state",
            "phone rtp",
            "phone sends to",
            "relay port",
        ]
        out = [table(headers, rows)]
    rtp = data.get("rtp") or []
    if rtp:
        out.append("\nRTP relay:")
        out.append(
            table(
                ["leg", "call", "port", "remote", "state", "rx", "lost", "jitter ms", "tx"],
                [
                    [
                        r["leg"],
                        r["call"],
                        r["local_port"],
                        r["remote"],
                        r["state"],
                        r["rx_packets"],
                        r["rx_lost"],
                        r["rx_jitter_ms"],
                        r["tx_packets"],
                    ]
                    for r in rtp
                ],
            )
        )
    return "\n".join(out)


def trunks(data: list[dict[str, Any]]) -> str:
    if not data:
        return "no trunks"
    return table(
        ["trunk", "host", "user", "register", "state", "status", "reason", "expires", "calls"],
        [
            [
                t["name"],
                f"{t['host']}:{t['port']}",
                t["username"] or None,
                t["register"],
                t["state"],
                t["status"] or None,
                t["reason"] or None,
                f"{t['expires_in']} s" if t["expires_in"] else None,
                t["calls"],
            ]
            for t in data
        ],
    )


# What a plain-text event line shows, when present (call_state: the state, which line, which
# call; dtmf: the digit).
_EVENT_MAIN = (
    "device_name",
    "trunk",
    "ip",
    "state",
    "line",
    "number",
    "call_id",
    "digit",
    "status",
    "reason",
    "severity",
    "text",
    "message",
)


def event(e: dict[str, Any]) -> str:
    when = datetime.fromtimestamp(e.get("time", 0)).strftime("%H:%M:%S")
    parts = [f"{when} {e.get('event', '?'):<14}"]
    for key in _EVENT_MAIN:
        if e.get(key) not in (None, ""):
            parts.append(f"{key}={e[key]}")
    for key in ("xml", "data"):
        if e.get(key):
            parts.append("\n    " + str(e[key]).replace("\n", "\n    "))
    return " ".join(parts)


def history(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no calls recorded"
    wanted = (
        "start_iso",
        "direction",
        "caller",
        "caller_device",
        "called",
        "callee_device",
        "trunk",
        "did",
        "external_number",
        "duration",
        "talk",
        "reason",
        "cause",
    )
    keys = [k for k in wanted if any(k in r for r in rows)]
    if not any(r.get("trunk") for r in rows):  # no trunk call: no trunk columns
        keys = [k for k in keys if k not in ("direction", "trunk", "did", "external_number")]
    if not keys:
        keys = list(rows[0])
    return table(keys, [[r.get(k) for k in keys] for r in rows])


def settings(s: dict[str, Any]) -> str:
    return "\n".join(f"{k} = {v}" for k, v in s.items())


def as_json(data: Any) -> str:
    return json.dumps(data, indent=2, default=str)
