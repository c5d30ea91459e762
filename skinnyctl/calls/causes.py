"""Why a call ended, in the names billing and support people know: the Q.850 cause names as
FreeSWITCH spells them (``NORMAL_CLEARING``, ``USER_BUSY``...), plus FreeSWITCH's own names
where Q.850 has none (``ATTENDED_TRANSFER``, ``BLIND_TRANSFER``, ``USER_NOT_REGISTERED``,
``LOSE_RACE``, ``PICKED_OFF``).

A call record keeps the *first* cause: the one that decided the call's fate (a busy callee,
then the caller hanging up on the busy tone, is USER_BUSY). Endpoints turn a cause into what
their side shows (a phone: busy tone or reorder and a prompt; a SIP trunk: a status code).
"""

from __future__ import annotations

from typing import Final

NORMAL_CLEARING: Final = "NORMAL_CLEARING"  # 16: someone hung up a connected call
USER_BUSY: Final = "USER_BUSY"  # 17: every device of the line busy, or busy_trigger reached
NO_ANSWER: Final = "NO_ANSWER"  # 19: rang, nobody answered in time
CALL_REJECTED: Final = "CALL_REJECTED"  # 21: the called user refused (EndCall while ringing)
UNALLOCATED_NUMBER: Final = "UNALLOCATED_NUMBER"  # 1: no line, application or route for it
INVALID_NUMBER_FORMAT: Final = "INVALID_NUMBER_FORMAT"  # 28: the dial plan drops it
NORMAL_TEMPORARY_FAILURE: Final = "NORMAL_TEMPORARY_FAILURE"  # 41: a device or media failed
ORIGINATOR_CANCEL: Final = "ORIGINATOR_CANCEL"  # 487: the caller hung up before the answer
USER_NOT_REGISTERED: Final = "USER_NOT_REGISTERED"  # no device of the called line registered
ATTENDED_TRANSFER: Final = "ATTENDED_TRANSFER"  # this leg was transferred after consulting
BLIND_TRANSFER: Final = "BLIND_TRANSFER"  # ... while the target still rang
LOSE_RACE: Final = "LOSE_RACE"  # another device or branch answered the call
RECOVERY_ON_TIMER_EXPIRE: Final = "RECOVERY_ON_TIMER_EXPIRE"  # 102: left off-hook, timed out
OUTGOING_CALL_BARRED: Final = "OUTGOING_CALL_BARRED"  # 52: a trunk refused us (403, bad auth)

# What a caller hears for a cause, whatever the endpoint: busy tone or reorder.
BUSY_CAUSES: Final = frozenset({USER_BUSY, CALL_REJECTED})
UNKNOWN_NUMBER_CAUSES: Final = frozenset({UNALLOCATED_NUMBER, INVALID_NUMBER_FORMAT})
