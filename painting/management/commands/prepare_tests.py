from django.core.management.base import BaseCommand, CommandError

from painting.models import Study


class Command(BaseCommand):
    help = (
        "Compute a study's understanding-test material (the model's answers, heatmaps, masked "
        "pictures; see docs/understanding.md) in torch, and store it. Run it after changing a "
        "study's tests in admin; load_study runs it itself."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--model", default="", help="default: the app's default model")

    def handle(self, *args, slug: str, model: str, **options):
        from painting.studies.understanding.prepare import (
            prepare,  # torch: only in this command's process
        )

        study = Study.objects.filter(slug=slug).first()
        if study is None:
            raise CommandError(f"No study {slug!r}.")
        if not study.tests:
            raise CommandError(f"Study {slug!r} has no tests.")
        material = prepare(study, model)
        right = sum(bool(t["model_right"]) for t in material["trials"].values())
        self.stdout.write(
            f"Prepared {len(material['trials'])} trials ({right} the model gets right) and "
            f"{len(material['images'])} images for static viewing, with {material['model']}."
        )
