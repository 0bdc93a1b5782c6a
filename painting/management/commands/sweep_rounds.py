from django.core.management.base import BaseCommand

from painting.models import Round


class Command(BaseCommand):
    help = "Fail rounds that no worker finished within every time limit."

    def handle(self, *args, **options):
        self.stdout.write(f"{Round.objects.fail_stale()} stale round(s) failed")
