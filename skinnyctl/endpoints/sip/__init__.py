"""The SIP trunks as an endpoint of the switch (``trunk``): calls to and from the outside world,
sans-IO. The SIP signalling itself is the edge's (``skinnyctl.sip``)."""
