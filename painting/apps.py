from django.apps import AppConfig


class PaintingConfig(AppConfig):
    name = "painting"

    def ready(self) -> None:
        from . import (
            export_tasks,  # noqa: F401  the exports task (eager without a broker); a withdrawal
            # deletes the exports that hold the person's data (export_jobs' receiver)
            files,  # noqa: F401  connects the receivers that delete rows' files
            storage,  # noqa: F401  registers its system check
        )
        from .studies.understanding import tasks  # noqa: F401  the tests' material (eager too)
