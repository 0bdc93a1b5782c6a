from django.core.management.base import BaseCommand

from painting import pipeline


class Command(BaseCommand):
    help = "Fail rounds that no worker finished within every time limit."

    def handle(self, *args, **options):
        self.stdout.write(f"{pipeline.fail_stale_rounds()} stale round(s) failed")
