"""Media: the engine that carries every call's RTP: forward, convert, play, record, mix.

`Relay` is the media engine (its name kept from when it only relayed). Every method is
thread-safe; callbacks run on the engine's notifier thread, never under an engine lock, and
must not block for long (post to the core's queue). Errors a user or a peer can cause raise
`RelayError` with what to do; nothing a remote sends can raise out of the engine.

    relay = Relay(host="0.0.0.0", port_min=16384, port_max=32767, moh=MusicOnHold.default())
    relay.start()                  # threads: forwarding, media clock, disk, notifier
    relay.stop()                   # closes every leg (recordings kept, "closed"); idempotent

Legs and bridges (as before)::

    open_leg(call_key, port=None) -> Leg       # even RTP port, RTCP = RTP + 1
    learn(leg, ip, port, nat=False)            # the remote's RTP address (see NAT below)
    set_codec(leg, codec, *, dtmf_pt=None, ptime_ms=20)
        # codec "ulaw" | "alaw": what the remote sends and expects. A bridge between legs of
        # different laws converts each packet (payload by a 256-byte table, payload type 0<->8);
        # legs of the same or an undeclared law are forwarded untouched. dtmf_pt: the RFC 4733
        # telephone-event payload type (96-127) negotiated for the leg, None if none.
        # ptime_ms: packet time of what the engine generates for the leg (10..120, step 10).
    bridge(a, b)                               # same call_key; takes legs out of a conference
    unbridge(leg); rekey(leg, call_key)
    hold(leg, codec=None, ptime_ms=None)       # = play(Music(), loop) + no forwarding/mixing
    resume(leg)                                # ends the hold music, forwarding/mixing again
    close_leg(leg); close_call(call_key)       # ports free at once; plays end (completed
                                               # False); a recording ends "closed", kept
    stats() -> list[dict]                      # one plain dict per leg, see below

Playing (one media-clock thread paces everything generated on an absolute 10 ms grid; all the
engine generates for a leg is ONE RTP stream: one SSRC, consecutive sequence numbers,
timestamps following the clock across sources and pauses, marker on a new source or after a
pause; packets forwarded from a bridge partner keep the partner's own stream)::

    play(leg, source | [sources...], *, loop=False, on_done=None) -> play_id
        # sources: Music() (the engine's music on hold, or Music(MusicOnHold...)),
        # Prompt("a.wav", "b.wav") (any common WAV, converted like music on hold; decoded files
        # cached), Tone(1000, 0.25) / Tone((350, 440), 2.0, level_dbfs=-12), Silence(0.5).
        # Replaces what was playing. While it plays the leg hears it, not its bridge partner or
        # conference (its own media still goes out). A bad WAV raises RelayError at once.
        # on_done(leg, play_id, completed: bool): completed False when stopped, replaced,
        # ended by resume (hold music has no on_done) or the leg closed.
    stop_play(leg)

Recording::

    record(leg, path, *, max_seconds, silence_seconds=None, silence_dbfs=-40.0, on_done=None)
        -> record_id
        # What the leg's remote sends (its G.711, by payload type), placed by RTP timestamp
        # (gaps are silence), written as 8 kHz 16-bit mono WAV by the disk thread: a temporary
        # ".NAME.XXXX.part" beside `path`, fsynced and renamed on completion (a crash never
        # leaves a half file under `path`). Ends: stop_record -> "stopped"; max_seconds of audio
        # (or of wall time when nothing arrives) -> "limit"; after the first speech, level below
        # silence_dbfs (or nothing received) for silence_seconds -> "silence" (the trailing
        # silence is cut off); close_leg/stop -> "closed"; a write error (full disk) -> "error",
        # logged, no file. on_done(leg, record_id, path: Path, seconds: float, why: str).
        # An unwritable directory raises RelayError at once. The leg's media is still
        # forwarded/mixed while it records.
    stop_record(leg)

Echo, DTMF::

    echo(leg, on=True)         # what arrives goes straight back to the leg's remote, unchanged
                               # and in order; its partner's media is not forwarded meanwhile
    set_dtmf(leg, on_dtmf, *, forward=False)
        # RFC 4733 events arriving with the leg's dtmf_pt are decoded, one digit per event
        # (updates and retransmitted end packets share the event's timestamp; a long event's
        # segments are one digit), and reported as on_dtmf(leg, digit: str) with digit in
        # "0123456789*#ABCD"; a digit within 50 ms of the previous one is a flood and ignored
        # (counted). They are consumed, not forwarded to the bridged partner, unless
        # forward=True (then with the partner's dtmf_pt when it has one).
    send_dtmf(leg, digit, duration_ms=100)
        # one RFC 4733 event to the leg's remote with its dtmf_pt (RelayError if none): first
        # packet with the marker bit, an update per packet time, three end packets, all with the
        # event's start timestamp, paced by the media clock; digits queue, 40 ms apart. Audio
        # generated for the leg pauses meanwhile.

Conferences::

    mix_add(conf_key, leg)     # created on first use; the leg leaves its bridge / other room
    mix_remove(leg)            # the conference ends with its last party
        # Every 20 ms the media clock mixes each conference: each party hears the sum of the
        # others (not itself), saturated to 16 bits, in its own law (µ-law and A-law parties mix
        # freely), as its own RTP stream (20 ms frames whatever its ptime). A jitter buffer per
        # party places packets by RTP timestamp; a party that stops sending is silence, never a
        # stall. A held party (hold) is not mixed and hears music; resume mixes it again. A
        # play() to a party replaces its mix while it plays (e.g. a join tone).

stats(): per leg, the RFC 3550 receive statistics and counters of before ("leg", "call",
"local_port", "remote", "state" (held/conference/echo/bridged/idle), "partner", "rx_packets",
"rx_bytes", "rx_expected", "rx_lost", "rx_jitter_ms", "tx_packets", "tx_bytes",
"rtcp_rx_packets", "rtcp_tx_packets", "dropped_unlearned", "dropped_malformed", "dropped_idle",
"send_errors"), and "codec", "ptime_ms", "dtmf_pt", "transcoded" (packets converted),
"echo", "dtmf_rx_digits", "dtmf_rx_ignored", "dtmf_tx_digits", "dtmf_tx_packets",
"generated_packets",
"play" (None or id, source, loop, frames_sent), "record" (None or id, path, seconds) and
"mix" (None or conference, parties, frames_mixed, frames_sent, late, reordered, underruns,
skipped, shrunk, restarts, latency_p50_ms, latency_p99_ms: a packet's arrival to the mixed
frame carrying it leaving).

`Leg` exposes `local_port`, `local_rtcp_port`, `remote`, `call_key`, `held`, `partner`,
`codec`, `dtmf_pt`, `conference`. `MusicOnHold.from_wav(path)` loads any common WAV (`wav`),
`MusicOnHold.default()` is a synthesised arpeggio. G.711 by table: `g711`. Direct
phone-to-phone media does not involve this module: the call manager then names the other
phone's address in StartMediaTransmission.

Address rule (no open relay)
----------------------------
* A leg sends only to the address learned for it, and accepts packets only from the learned
  IP (any port: phones and softphones may send from another socket than the one they receive
  on). Packets on a leg are forwarded only to the partner leg of the *same call* (`bridge`
  refuses legs with different call keys); a conference mixes only the legs put in it.
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

Threads and hot path: the forwarding thread (epoll over all sockets, `recvfrom_into` a
preallocated buffer, `sendto` of a memoryview slice; no logging, no per-packet objects) forwards
a plain bridge exactly as before; a port with anything more to do (conversion, DTMF, recording,
echo, mixing, a partner playing) takes the `_special` path: conversion in place with
`bytearray.translate`, a recording only appends the payload to a deque, the mixer only copies it
into the party's ring. The media clock (`clock`) sends everything generated; the disk thread
(`record`) decodes and writes recordings; the notifier runs callbacks. Per-stream statistics
follow RFC 3550 A.1 (loss from sequence numbers) and A.8 (jitter).
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
