"""skinnyctl: the whole phone system for Cisco SCCP ("Skinny") IP phones, in one program."""

__version__ = "0.1.0"
