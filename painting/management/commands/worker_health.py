import time

from django.core.management.base import BaseCommand, CommandError

from painting import health


class Command(BaseCommand):
    help = (
        "Ping the Celery workers: exit 0 when at least one answers for each queue (inference, "
        "analysis), 1 naming the queues nobody serves. For a load balancer, systemd or make run."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--timeout", type=float, default=health.TIMEOUT_SECONDS, help="seconds per ping"
        )
        parser.add_argument(
            "--wait", type=float, default=0, metavar="SECONDS",
            help="ping again until every queue is served or this many seconds have passed",
        )  # fmt: skip
        parser.add_argument(
            "--queue", action="append", dest="queues", help="only these (repeat); default: all"
        )

    def handle(self, *args, timeout: float, wait: float, queues: list[str] | None, **options):
        queues = queues or health.queues()
        if not health.uses_workers():
            self.stdout.write("Tasks run in the web process (XAI_EAGER): there are no workers.")
            return
        deadline = time.monotonic() + wait
        while True:
            try:
                answered = health.workers(timeout)
            except Exception as exc:  # the broker itself cannot be reached
                answered, problem = {}, f"the broker cannot be reached ({type(exc).__name__})"
            else:
                problem = ""
            missing = [queue for queue in queues if not answered.get(queue)]
            if not missing:
                for queue in queues:
                    self.stdout.write(f"{queue} queue: {', '.join(sorted(answered[queue]))}")
                return
            if time.monotonic() >= deadline:
                raise CommandError(
                    problem or f"no worker answers for the {', '.join(missing)} queue(s)"
                )
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
