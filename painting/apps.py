from django.apps import AppConfig


class PaintingConfig(AppConfig):
    name = "painting"

    def ready(self) -> None:
        from . import (
            files,  # noqa: F401  connects the receivers that delete rows' files
            storage,  # noqa: F401  registers its system check
        )
