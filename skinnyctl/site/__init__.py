"""The site description: site.toml loaded into typed, validated data."""

from skinnyctl.site.loader import Problem, SiteError, load_site, normalize_mac, parse_site
from skinnyctl.site.model import (
    Button,
    Device,
    Dhcp,
    DialRule,
    Line,
    ModelSettings,
    Server,
    Site,
)

__all__ = [
    "Button",
    "Device",
    "Dhcp",
    "DialRule",
    "Line",
    "ModelSettings",
    "Problem",
    "Server",
    "Site",
    "SiteError",
    "load_site",
    "normalize_mac",
    "parse_site",
]
