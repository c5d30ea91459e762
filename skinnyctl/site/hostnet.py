"""This machine's addresses, to tell whether phones can reach the addresses a site names.

Read from the kernel without running anything: ``/proc/net/route`` says which interface the
default route leaves by, a UDP socket "connected" to a documentation address (RFC 5737; a
connect on UDP sends nothing) says which source address the kernel picks for it,
``/proc/net/fib_trie`` and ``/proc/net/if_inet6`` list every local address. The parsers are
pure functions of the file text, so tests feed them text and the checks take a
:class:`HostNetwork` built by hand instead of the machine's own.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path

_ROUTE = Path("/proc/net/route")
_FIB_TRIE = Path("/proc/net/fib_trie")
_IF_INET6 = Path("/proc/net/if_inet6")
_PROBE = ("203.0.113.1", 9)  # TEST-NET-3, discard port: only used to pick a route
_RTF_UP = 0x1


@dataclass(frozen=True)
class HostNetwork:
    """What this machine's network looks like; ``addresses`` None = could not be read."""

    addresses: frozenset[str] | None
    lan_address: str | None  # source address of the default route, None without one

    def has(self, address: str) -> bool | None:
        """Whether ``address`` is one of this machine's (None: unknown)."""
        if self.addresses is None:
            return None
        return str(ipaddress.ip_address(address)) in self.addresses

    @classmethod
    def probe(cls) -> HostNetwork:
        return cls(addresses=local_addresses(), lan_address=lan_address())


def default_route_interface(route_text: str) -> str | None:
    """The interface of the IPv4 default route with the lowest metric, from /proc/net/route."""
    best: tuple[int, str] | None = None
    for line in route_text.splitlines()[1:]:
        f = line.split()
        if len(f) < 8:
            continue
        try:
            destination, flags, mask = int(f[1], 16), int(f[3], 16), int(f[7], 16)
            metric = int(f[6])
        except ValueError:
            continue
        default = destination == 0 and mask == 0 and flags & _RTF_UP
        if default and (best is None or metric < best[0]):
            best = (metric, f[0])
    return best[1] if best else None


def fib_trie_addresses(text: str) -> set[str]:
    """IPv4 addresses marked "/32 host LOCAL" in /proc/net/fib_trie."""
    out: set[str] = set()
    last = ""
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("|--"):
            last = s[3:].strip()
        elif s.startswith("/32 host LOCAL") and last:
            out.add(last)
    return out


def if_inet6_addresses(text: str) -> set[str]:
    """IPv6 addresses from /proc/net/if_inet6 (32 hex digits per line)."""
    out: set[str] = set()
    for line in text.splitlines():
        f = line.split()
        if f and len(f[0]) == 32:
            try:
                out.add(str(ipaddress.IPv6Address(bytes.fromhex(f[0]))))
            except ValueError:
                continue
    return out


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii", errors="replace")
    except OSError:
        return None


def local_addresses() -> frozenset[str] | None:
    v4 = _read(_FIB_TRIE)
    if v4 is None:
        return None  # not Linux, or /proc hidden: "not on this machine" cannot be told
    v6 = _read(_IF_INET6) or ""
    return frozenset(fib_trie_addresses(v4) | if_inet6_addresses(v6))


def lan_address() -> str | None:
    """The address this machine uses on its default route, or None (no default route)."""
    text = _read(_ROUTE)
    if text is None or default_route_interface(text) is None:
        return None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(_PROBE)  # picks a route and a source address; nothing is sent
        except OSError:
            return None
        address = str(s.getsockname()[0])
    ip = ipaddress.ip_address(address)
    return None if ip.is_loopback or ip.is_unspecified else address
