"""Voicemail: mailboxes per line, a spoken keypad menu, messages on disk, e-mail notification.

Parts (each usable alone; this module imports none of them so the site loader can use
:mod:`.pins` cheaply):

- :mod:`.pins`     hashed PINs (``pbkdf2-sha256$iterations$salt$hash``) and the pin file
- :mod:`.prompts`  the spoken prompts shipped in ``prompts/`` (site overrides file by file)
                   and the composer: numbers, dates, digits -> prompt sequences
- :mod:`.store`    messages and greetings as WAV files under the state directory, indexed in
                   SQLite, written by a thread, with an in-memory view the core reads
- :mod:`.session`  the menu as a sans-IO state machine (deposit and retrieve)
- :mod:`.mail`     e-mail notification through the site's SMTP relay, retried from a queue
- :mod:`.cli`      ``skinnyctl voicemail ...``
"""
