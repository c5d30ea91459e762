"""Media: the RTP relay and the music-on-hold source.

API used by the call manager (every method is thread-safe)::

    relay = Relay(host="0.0.0.0", port_min=16384, port_max=32767, moh=MusicOnHold.default())
    relay.start()                          # forwarding thread + music-on-hold pacing thread
    a = relay.open_leg(call_key)           # binds an even RTP port and RTCP = RTP + 1
    b = relay.open_leg(call_key)
    # StartMediaTransmission to phone A names (relay address, a.local_port); likewise B/b.
    relay.learn(a, ip, port)               # from phone A's OpenReceiveChannelAck (see NAT below)
    relay.learn(b, ip, port)
    relay.bridge(a, b)                     # A's packets leave through b to B, and back
    relay.hold(b, codec="ulaw", ptime_ms=20)  # B hears music; A<->B forwarding pauses
    relay.resume(b)                        # forwarding A<->B again
    relay.close_leg(a); relay.close_leg(b) # hang-up: ports are free to rebind at once
    relay.stats()                          # list of plain dicts, one per leg (status API)
    relay.stop()

`Leg` exposes `local_port`, `local_rtcp_port`, `remote`, `call_key`, `held`, `partner`.
Errors a user can cause (port range exhausted, bad range) raise `RelayError` with advice.
`MusicOnHold.from_wav(path)` loads any common WAV (see `moh`), `MusicOnHold.default()` is a
synthesised arpeggio. Direct phone-to-phone media does not involve this module: the call manager
then names the other phone's address in StartMediaTransmission.

Address rule (no open relay)
----------------------------
* A leg sends only to the address learned for it, and accepts packets only from the learned
  IP (any port: phones and softphones may send from another socket than the one they receive
  on). Packets on a leg are forwarded only to the partner leg of the *same call* (`bridge`
  refuses legs with different call keys).
* `learn(leg, ip, port, nat=False)` sets the address; RTCP is expected from/sent to `port + 1`.
  Behind NAT the phone's OpenReceiveChannelAck carries its private address, so the call manager
  passes the SCCP connection's source IP instead when the two differ, with `nat=True`.
* Latching, only on evidence of NAT, and only on the first packet after `learn()`: with
  `nat=True` a packet from the learned IP re-latches the port (the NAT box rewrote it); a packet
  from *another* IP re-latches address and port (NAT the call manager could not see). Each latch
  is logged. Otherwise replies go where the phone asked, whatever port it sends from.
* Everything else is dropped and counted in `dropped_unlearned`, including every packet on a leg
  with nothing learned yet (an unlearned leg never latches: that would let anyone who guesses the
  port first capture the call).

Hot path: one thread, epoll over all sockets, `recvfrom_into` a preallocated buffer and `sendto`
of a memoryview slice; no logging and no per-packet objects beyond what the socket calls return.
Per-stream statistics follow RFC 3550 A.1 (loss from sequence numbers) and A.8 (jitter).
"""

from .moh import CODECS, MusicOnHold
from .relay import Leg, Relay, RelayError
from .sources import Music, Prompt, Silence, Source, Tone
from .wav import WavError

__all__ = [
    "CODECS",
    "Leg",
    "Music",
    "MusicOnHold",
    "Prompt",
    "Relay",
    "RelayError",
    "Silence",
    "Source",
    "Tone",
    "WavError",
]
