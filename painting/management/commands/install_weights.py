import shutil
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from painting.inference import registry


class Command(BaseCommand):
    help = "Install a torchvision ResNet-50 ImageNet-1k weights file (checks its shape and hash)."

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)

    def handle(self, *args, path: Path, **options):
        if not path.is_file():
            raise CommandError(f"{path} is not a file.")
        try:
            model, _ = registry.build_resnet50(path)
        except Exception as exc:
            raise CommandError(f"{path} is not a ResNet-50 ImageNet-1k state dict: {exc}") from exc
        if model.fc.out_features != 1000:
            raise CommandError("The weights do not have the 1000 ImageNet-1k classes.")
        sha = registry.sha256_of(path)
        release = registry.RESNET50_FILES.get(sha[:8])
        name = f"resnet50-{sha[:8]}.pth"
        target = registry.resnet50_checkpoint_dir() / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        if release is None:
            self.stdout.write(
                self.style.WARNING(
                    f"sha256 {sha} is not a torchvision release; installed anyway, with the "
                    "IMAGENET1K_V2 preprocessing."
                )
            )
        else:
            self.stdout.write(self.style.SUCCESS(f"Installed torchvision {release} as {target}"))
