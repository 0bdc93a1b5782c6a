from django.core.management.base import BaseCommand

from painting import services
from painting.gallery import PHOTOS


class Command(BaseCommand):
    help = "Load the gallery of public-domain and CC0 photos (idempotent)."

    def handle(self, *args, **options):
        for photo in PHOTOS:
            with photo.open() as image:
                picture = services.add_gallery_picture(
                    image,
                    slug=photo.slug,
                    title=photo.title,
                    source=photo.source,
                    licence=photo.licence,
                )
            self.stdout.write(f"{picture.slug}: {picture.width}×{picture.height} {picture.licence}")
