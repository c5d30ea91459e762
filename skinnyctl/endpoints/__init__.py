"""Endpoints: the protocols behind the ends of calls. Each turns the switch's channel
vocabulary (``calls.channel``) into its protocol and back; ``sccp`` is the Cisco phones."""
