import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from painting.models import Study
from painting.studies import files as study_files


class Command(BaseCommand):
    help = "Write a study as a JSON file (load_study reads it back), to stdout or to -o FILE."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("-o", "--output", type=Path, help="the file to write (default: stdout)")

    def handle(self, *args, slug: str, output: Path | None, **options):
        study = Study.objects.filter(slug=slug).first()
        if study is None:
            raise CommandError(f"No study {slug!r}.")
        text = json.dumps(study_files.dump(study), indent=2, ensure_ascii=False) + "\n"
        if output is None:
            self.stdout.write(text, ending="")
            return
        partial = output.with_name(output.name + ".partial")  # no half-written file under its name
        partial.write_text(text, encoding="utf-8")
        partial.replace(output)
        self.stderr.write(f"Wrote {output}")
