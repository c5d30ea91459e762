"""File descriptors: how many the process may open, and how many SCCP connections that allows.

Every phone connection, relay port, TFTP transfer and control client is a descriptor. Under the
common soft limit of 1,024 a thousand idle connections used to exhaust them (accept failed with
EMFILE in a loop). ``serve`` raises the soft limit to the hard one at start, and caps SCCP
connections (``[server] max_connections``) below what is left once the other parts have their
share, so the relay can always bind a call's ports and TFTP can always answer.
"""

from __future__ import annotations

import logging
import resource

from skinnyctl.site.model import Site

log = logging.getLogger("skinnyctl.runtime")

TFTP_TRANSFERS = 256  # skinnyctl.tftp.server.MAX_TRANSFERS: one socket per transfer
FIXED = 64  # listeners, control clients (32 Unix + 8 TCP), databases, logs, wake-up pipes
MIN_CONNECTIONS = 16
MAX_DEFAULT = 10_000  # more needs the memory to match: set max_connections explicitly


def raise_nofile() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as e:  # some containers refuse: keep what we have
            log.warning("cannot raise the open-file limit from %d to %d: %s", soft, target, e)
    return soft


def reserved(site: Site, nofile: int) -> int:
    """Descriptors kept for everything but SCCP connections: the relay's ports (the media
    range, at most a quarter of the limit), TFTP transfers and a fixed share."""
    rtp = 0
    if site.server.media == "relay":
        rtp = min(site.server.rtp_port_max - site.server.rtp_port_min + 1, nofile // 4)
    return rtp + TFTP_TRANSFERS + FIXED


def connection_cap(site: Site, nofile: int | None = None) -> int:
    """``max_connections`` of the site, else what the descriptor limit leaves for SCCP."""
    if nofile is None:
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    room = max(MIN_CONNECTIONS, nofile - reserved(site, nofile))
    configured = site.server.max_connections
    if not configured:
        return min(room, MAX_DEFAULT)
    if configured > room:
        log.warning(
            "max_connections = %d but the open-file limit (%d) leaves room for %d: "
            "connections beyond that fail until the limit is raised (LimitNOFILE=, ulimit -n)",
            configured,
            nofile,
            room,
        )
    return configured
