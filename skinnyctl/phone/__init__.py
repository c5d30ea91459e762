"""A simulated SCCP phone (tests, benchmarks, and later ``skinnyctl phone``)."""

from .sim import PROFILES, Profile, Registration, Rejected, SimPhone

__all__ = ["PROFILES", "Profile", "Registration", "Rejected", "SimPhone"]
