"""A throwaway PostgreSQL server for the tests, and a way to run a command against it.

    python -m tests.postgres -- pytest -m "not browser" tests/test_services.py

starts Debian's PostgreSQL (`apt-get install postgresql`; `make system` does) in a temporary
folder, listening only on a unix socket there, runs the command with DATABASE_URL pointing at
it, and removes the server and its folder afterwards. pytest-django then creates and drops its
`test_xai` database in it. Durability is switched off (fsync, synchronous_commit): nothing here
needs to survive a crash, and the tests run faster.

PostgreSQL refuses to run as root. Run as root (CI, containers), the server runs as the
`postgres` user the Debian package creates (or `nobody`), through `runuser`; the folder is
theirs, and root connects over the socket like anyone else (trust authentication: nothing but
this machine can reach a unix socket in a private folder).

Imports nothing from Django: it runs before the settings are read.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote

DATABASE = "xai"
SUPERUSER = "postgres"


def _bindir() -> Path:
    """Where initdb and pg_ctl are: on PATH, or Debian's /usr/lib/postgresql/<version>/bin."""
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(p.split("/")[-3]) if p.split("/")[-3].isdigit() else 0,
    )
    if not found:
        raise RuntimeError("PostgreSQL is missing: run `make system` (apt-get install postgresql)")
    return Path(found[-1]).parent


def _server_user() -> str | None:
    """The user the server runs as when we are root; None: as ourselves."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError("running as root, and there is neither a postgres nor a nobody user")


class PostgresServer:
    """initdb + pg_ctl in a temporary folder; `url` is the DATABASE_URL of its `xai` database."""

    def __init__(self, max_connections: int = 300):
        self.bindir = _bindir()
        self.user = _server_user()
        self.max_connections = max_connections
        self.workdir = Path(tempfile.mkdtemp(prefix="xai-pg-"))
        self.data = self.workdir / "data"
        self.socket_dir = self.workdir  # short: a socket's path may be at most 107 bytes
        self.log_path = self.workdir / "server.log"
        self.url = f"postgres://{SUPERUSER}@{quote(str(self.socket_dir), safe='')}/{DATABASE}"
        self.started = False

    def _run(self, *argv: str) -> None:
        command = [str(self.bindir / argv[0]), *argv[1:]]
        if self.user:
            runuser = shutil.which("runuser", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
            if runuser is None:
                raise RuntimeError("running as root without `runuser` (util-linux)")
            command = [runuser, "-u", self.user, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, cwd=self.workdir)
        if result.returncode != 0:
            log = self.log_path.read_text() if self.log_path.exists() else ""
            raise RuntimeError(
                f"{' '.join(argv)} failed:\n{result.stdout}{result.stderr}{log[-3000:]}"
            )

    def start(self) -> PostgresServer:
        if self.user:
            account = pwd.getpwnam(self.user)
            os.chown(self.workdir, account.pw_uid, account.pw_gid)
        self._run(
            "initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust",
            "--encoding=UTF8", "--no-locale", "--no-sync",
        )  # fmt: skip
        options = " ".join(
            [
                "-c listen_addresses=''",
                f"-c unix_socket_directories='{self.socket_dir}'",
                f"-c max_connections={self.max_connections}",
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            ]
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log_path), "-o", options,
                  "-w", "-t", "60", "start")  # fmt: skip
        self.started = True
        self._run("createdb", "-h", str(self.socket_dir), "-U", SUPERUSER, DATABASE)
        return self

    def stop(self) -> None:
        if self.started:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
            self.started = False
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc_info) -> None:
        self.stop()


def main(argv: list[str]) -> int:
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    # Stopped by a signal, still stop the server (the `with` below) rather than leave it running.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with PostgresServer() as server:
        print(f"PostgreSQL {server.bindir.parent.name} at {server.url}", flush=True)
        return subprocess.call(argv, env={**os.environ, "DATABASE_URL": server.url})


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
