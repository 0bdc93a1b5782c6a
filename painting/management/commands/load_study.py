import json
from pathlib import Path

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from painting.studies import files as study_files


class Command(BaseCommand):
    help = (
        "Create or update a study (by its slug) from a JSON file; see docs/example_study.json. "
        "Nothing changes unless the whole file is valid."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--no-prepare",
            action="store_true",
            help="do not compute the understanding tests' material now (prepare_tests later)",
        )

    def handle(self, *args, file: Path, **options):
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror or exc}") from exc
        except UnicodeDecodeError as exc:
            raise CommandError(f"{file} is not UTF-8 text.") from exc
        except json.JSONDecodeError as exc:
            raise CommandError(
                f"{file} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
            ) from exc
        try:
            study, created = study_files.load(data, base_dir=file.resolve().parent)
        except study_files.StudyFileError as exc:
            raise CommandError(f"{file} was not loaded; nothing changed:\n{exc}") from exc
        if study.tests and not options.get("no_prepare"):
            call_command("prepare_tests", study.slug, stdout=self.stdout)
        images, conditions = study.images.count(), study.conditions.count()
        self.stdout.write(
            f"{'Created' if created else 'Updated'} study {study.slug!r}: "
            f"{images} image{'s' * (images != 1)}, "
            f"{conditions} condition{'s' * (conditions != 1)}."
        )
