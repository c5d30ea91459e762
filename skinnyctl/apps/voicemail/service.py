"""What ``serve`` runs for voicemail, in one object the switch holds.

vm = VoicemailService(site, clock)      # store opened and checked, mail thread started
vm.mwi()                                # lamps at start: Mwi per line of each box
s = vm.session(); s.start(...)          # one VoicemailSession per call reaching voicemail
vm.refresh()                            # after `skinnyctl voicemail delete/...` changed
                                        #   the files: the Mwi actions that follow
vm.reload(site)                         # SIGHUP: new limits, PINs, prompts, relay
vm.stop()
"""

from __future__ import annotations

from skinnyctl.site.model import Site

from .mail import MailNotifier
from .prompts import site_zone
from .session import Clock, Mwi, VoicemailContext, VoicemailSession
from .store import VoicemailStore


class VoicemailService:
    def __init__(self, site: Site, clock: Clock, mail_retry: float = 30.0) -> None:
        self.mail_retry = mail_retry
        self.notifier: MailNotifier | None = None
        self.store = VoicemailStore.for_site(site, on_mail=self._wake_mail)
        self.context = VoicemailContext.for_site(site, self.store, clock)
        self._start_mail(site)

    def _start_mail(self, site: Site) -> None:
        smtp = site.voicemail.smtp
        if smtp.host and smtp.sender:
            self.notifier = MailNotifier(
                self.store,
                smtp,
                site.base_dir,
                site_zone(site.server.time_zone),
                retry_min=self.mail_retry,
            )
            self.notifier.start()

    def _wake_mail(self) -> None:
        if self.notifier is not None:
            self.notifier.wake()

    def session(self) -> VoicemailSession:
        return VoicemailSession(self.context)

    def mwi(self) -> list[Mwi]:
        """The lamp of every line with a box, as it should be now (at start, after a reload)."""
        waiting = self.store.waiting()
        return [
            Mwi(line, waiting.get(box, False))
            for box, lines in self.context.boxes.items()
            for line in lines
        ]

    def refresh(self) -> list[Mwi]:
        """Re-read the store after another process changed it; the lamps that change."""
        changed = self.store.refresh()
        return [
            Mwi(line, on) for box, on in changed.items() for line in self.context.boxes.get(box, ())
        ]

    def reload(self, site: Site) -> None:
        self.store.configure(site)
        self.context = VoicemailContext.for_site(site, self.store, self.context.clock)
        if self.notifier is not None:
            self.notifier.stop()
            self.notifier = None
        self._start_mail(site)

    def stop(self) -> None:
        if self.notifier is not None:
            self.notifier.stop()
        self.store.close()
