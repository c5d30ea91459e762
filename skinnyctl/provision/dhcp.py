"""DHCP server configs that point Cisco phones at our TFTP server (provisioning.md §1.2, §5).

Every flavour sends option 150 (list of TFTP server addresses) and 66 (the first one, as a
string) to clients whose vendor class starts with "Cisco Systems" (catches every model, the
7921 and 6901 included); udhcpd has no classes and sends them to every client.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from skinnyctl.errors import UserError
from skinnyctl.provision.render import Renderer
from skinnyctl.site.model import Site

FLAVOURS: dict[str, str] = {
    "isc": "dhcp/isc.conf.j2",
    "dnsmasq": "dhcp/dnsmasq.conf.j2",
    "kea": "dhcp/kea.json.j2",
    "udhcpd": "dhcp/udhcpd.conf.j2",
}
# File name each flavour's config is written under with --dhcp-out.
FILENAMES: dict[str, str] = {
    "isc": "dhcpd.conf",
    "dnsmasq": "dnsmasq.conf",
    "kea": "kea-dhcp4.conf",
    "udhcpd": "udhcpd.conf",
}
_DOMAIN = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*$"
)
_IFACE = re.compile(r"^[A-Za-z0-9_.:@-]{1,15}$")


def tftp_servers(site: Site) -> list[str]:
    """Option 150's list: [dhcp] tftp_servers, else the server addresses that are IPv4 (and
    that a phone can reach: never loopback or 0.0.0.0)."""
    candidates = site.dhcp.tftp_servers or site.server.addresses
    out = []
    for a in candidates:
        try:
            ip = ipaddress.ip_address(a)
        except ValueError:
            continue  # a host name: option 150 carries addresses only
        if ip.version == 4 and not (ip.is_unspecified or ip.is_loopback):
            out.append(str(ip))
    if not out:
        raise UserError(
            "no IPv4 address phones can reach for DHCP option 150 (loopback and 0.0.0.0 do "
            "not count): set [dhcp] tftp_servers or [server] addresses to the address phones "
            'reach this box at, e.g. tftp_servers = ["192.168.10.5"]'
        )
    return out


def dhcp_context(site: Site) -> dict[str, Any]:
    d = site.dhcp
    if not d.subnet:
        raise UserError('DHCP configs need a subnet: add [dhcp] subnet = "192.168.10.0/24"')
    net = ipaddress.ip_network(d.subnet, strict=False)
    if net.version != 4 or net.num_addresses < 4:
        raise UserError(f"[dhcp] subnet {d.subnet} must be an IPv4 subnet of /30 or larger")
    if d.range_start and d.range_end:
        start, end = ipaddress.ip_address(d.range_start), ipaddress.ip_address(d.range_end)
    else:
        # Upper half of the subnet: leaves the lower half for fixed addresses.
        first, last = int(net.network_address) + 1, int(net.broadcast_address) - 1
        start = ipaddress.ip_address(first + (last - first + 1) // 2)
        end = ipaddress.ip_address(last)
    if int(start) > int(end):
        raise UserError(f"[dhcp] range {start} .. {end} is empty: write the lower address first")
    if d.domain and not _DOMAIN.match(d.domain):
        raise UserError(f"[dhcp] domain '{d.domain}' is not a domain name (e.g. office.lan)")
    if d.interface and not _IFACE.match(d.interface):
        raise UserError(f"[dhcp] interface '{d.interface}' is not an interface name (e.g. eth0)")
    if not 60 <= d.lease_time <= 10 * 365 * 86400:
        raise UserError(f"[dhcp] lease_time {d.lease_time} must be 60 seconds to 10 years")
    servers = tftp_servers(site)
    reservations = []
    if d.reservations:
        for dev in site.devices:
            if not dev.ip:
                continue
            ip = ipaddress.ip_address(dev.ip)
            if ip not in net:
                raise UserError(f"{dev.name}: ip {dev.ip} is not in [dhcp] subnet {d.subnet}")
            mac = ":".join(dev.mac[i : i + 2] for i in range(0, 12, 2)).lower()
            reservations.append({"name": dev.name, "mac": mac, "ip": str(ip)})
    return {
        "site_file": str(site.path) if site.path else "site.toml",
        "network": str(net.network_address),
        "netmask": str(net.netmask),
        "cidr": str(net),
        "range_start": str(start),
        "range_end": str(end),
        "max_leases": int(end) - int(start) + 1,
        "router": d.router,
        "dns": list(d.dns),
        "domain": d.domain,
        "interface": d.interface,
        "lease_time": d.lease_time,
        "tftp_servers": servers,
        "tftp_server": servers[0],
        "option150_hex": "".join(ipaddress.IPv4Address(a).packed.hex() for a in servers),
        "reservations": reservations,
    }


def render_dhcp(site: Site, flavour: str) -> str:
    """The config for one DHCP server: "isc", "dnsmasq", "kea" or "udhcpd"."""
    if flavour not in FLAVOURS:
        raise UserError(f"unknown DHCP server '{flavour}': choose from {', '.join(FLAVOURS)}")
    renderer = Renderer(site)
    return renderer.render_template([FLAVOURS[flavour]], dhcp_context(site)).decode("utf-8")


def router_hint(site: Site) -> str:
    """What to set on a DHCP server we do not generate for (a home router, Windows...)."""
    servers = tftp_servers(site)
    return (
        f"on any other DHCP server set option 66 (TFTP server name) = {servers[0]} and "
        f"option 150 (TFTP server list) = {', '.join(servers)}"
    )
