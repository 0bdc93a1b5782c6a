from datetime import timedelta

from django.core.management.base import BaseCommand

from painting import retention


class Command(BaseCommand):
    help = (
        "Delete anonymous free-play explorations and uploads untouched for DAYS, expired "
        "sessions and files no row refers to. Study data is never touched. Safe from cron."
    )

    def add_arguments(self, parser):
        parser.add_argument("--older-than", type=float, required=True, metavar="DAYS")

    def handle(self, *args, older_than: float, **options):
        purged = retention.purge(timedelta(days=older_than))
        self.stdout.write(
            f"{purged.explorations} exploration(s), {purged.uploads} upload(s), "
            f"{purged.sessions} session(s), {purged.exports} study export(s) and {purged.files}"
            " file(s) deleted"
            + (
                f"; {purged.reclaimed_bytes / 2**20:.1f} MB of the database given back"
                if purged.reclaimed_bytes
                else ""
            )
        )
