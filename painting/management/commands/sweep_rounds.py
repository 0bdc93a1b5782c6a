from django.core.management.base import BaseCommand

from painting import services


class Command(BaseCommand):
    help = "Fail rounds that no worker finished within every time limit."

    def handle(self, *args, **options):
        self.stdout.write(f"{services.fail_stale_rounds()} stale round(s) failed")
