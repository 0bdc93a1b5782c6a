from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from painting.models import Study
from painting.studies.export.archive import write_study_zip


class Command(BaseCommand):
    help = "Write a study's data (rounds, events, participants, masks, README) as a ZIP."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("output", type=Path)

    def handle(self, *args, slug: str, output: Path, **options):
        study = Study.objects.filter(slug=slug).first()
        if study is None:
            raise CommandError(f"No study {slug!r}.")
        partial = output.with_name(output.name + ".partial")  # no half-written ZIP under its name
        with partial.open("wb") as out:
            write_study_zip(study, out)
        partial.replace(output)
        self.stdout.write(f"Wrote {output} ({output.stat().st_size} bytes)")
