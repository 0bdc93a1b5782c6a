from django.core.management.base import BaseCommand, CommandError

from painting.models import Participant, Study
from painting.studies import bots, queries


class Command(BaseCommand):
    help = (
        "Pilot a study before launch: N bots take it in headless Chromium through the real "
        "pages of the running app (consent, paint, Classify, Next, Finish), as pilot "
        "participants (left out of the balance, the dashboard's counts, flagged in the export; "
        "admin's “Delete the pilot participants” removes them). Prints what each did; exits "
        "non-zero at the first error. The app must be running (make run) at --url."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--participants", type=int, default=1, help="bots to run (1–50)")
        parser.add_argument(
            "--url",
            default="http://127.0.0.1:8000",
            help="where the app runs, as a participant reaches it (default %(default)s)",
        )
        parser.add_argument(
            "--timeout", type=float, default=60, help="seconds to wait for a page or a result"
        )

    def handle(self, *args, slug: str, participants: int, url: str, timeout: float, **options):
        study = Study.objects.filter(slug=slug).first()
        if study is None:
            raise CommandError(f"No study {slug!r}.")
        if not 1 <= participants <= 50:
            raise CommandError("--participants is a number from 1 to 50.")
        if not url.startswith(("http://", "https://")):
            raise CommandError("--url is the app's address, e.g. http://127.0.0.1:8000")
        try:
            runs = bots.run_bots(study, url, participants, timeout_s=timeout, say=self.stdout.write)
        except bots.BotError as exc:
            raise CommandError(f"study_bots failed: {exc}") from exc
        found = {
            p.code: p
            for p in Participant.objects.filter(
                study=study, code__in=[r.code for r in runs]
            ).select_related("condition")
        }
        for run in runs:
            if (participant := found.get(run.code)) is None:
                self.stdout.write(f"bot {run.number}: {run.code} is not in this database.")
                continue
            condition = participant.condition.name if participant.condition else "none"
            status = queries.status_of(participant)
            self.stdout.write(f"bot {run.number}: {run.code} is {status}, condition {condition}")
        self.stdout.write(
            self.style.SUCCESS(f"{len(runs)} pilot participant(s) finished “{study.name}”.")
        )
