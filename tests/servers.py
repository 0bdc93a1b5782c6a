"""The app served as `make run` serves it, on free ports, and clients that misbehave against it.

`WebServer` runs scripts/serve.sh, the same script `make run` uses: nginx in front of gunicorn,
or gunicorn alone with `proxy=False`. `SlowBodies` holds connections open that send a request
body one byte a second, as a client on a bad line (or an attacker) does. `ShellProcess` runs a
command line as a process manager would (the Procfile's). `S3Server` is a real S3 API on
localhost (moto's server) with one bucket, for media kept in a bucket (XAI_STORAGE=s3).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
NGINX = shutil.which("nginx", path=os.environ.get("PATH", "") + ":/usr/sbin")
# Settings a developer's shell may carry that would make this server something else than the
# one `make run` starts on a fresh machine.
NOT_INHERITED = ("XAI_DEBUG", "XAI_HTTPS", "XAI_PROXY", "XAI_BIND", "XAI_VAR_DIR")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_group(process: subprocess.Popen | None) -> None:
    """End a process started in its own session, and everything it started: SIGTERM, then
    SIGKILL after 30 s."""
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


class WebServer:
    """scripts/serve.sh on a free port; its files (nginx's, the secret key, temporary uploads)
    in workdir. Give the database (XAI_DB_PATH or DATABASE_URL) and XAI_MEDIA_ROOT in env, or leave
    them under workdir."""

    def __init__(self, workdir: Path, *, proxy: bool = True, **env: str):
        if proxy and NGINX is None:
            raise RuntimeError("nginx is missing: run `make system` (apt-get install nginx)")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.temp_dir = workdir / "tmp"  # the server's TMPDIR: where Django spools uploads
        self.nginx_dir = workdir / "nginx"
        self.log_path = workdir / "serve.log"
        inherited = {
            k: v
            for k, v in os.environ.items()
            if k not in NOT_INHERITED and k != "DJANGO_ALLOW_ASYNC_UNSAFE"
        }
        self.env = {
            **inherited,
            "XAI_BIND": f"127.0.0.1:{self.port}",
            "XAI_VAR_DIR": str(workdir),
            "XAI_PROXY": "1" if proxy else "0",
            "TMPDIR": str(self.temp_dir),
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 90) -> WebServer:
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                ["bash", "scripts/serve.sh"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() ends nginx and gunicorn
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if httpx.get(self.url + "/", timeout=5).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("the web server did not start:\n" + self.log_path.read_text()[-3000:])

    def stop(self) -> None:
        stop_group(self.process)


class SlowBodies:
    """count connections, each from its own loopback address (127.0.1.x) unless `address` is
    given, that send the headers of a POST and then its body one byte a second. The body is
    just short of a large one (painting.body_limit.LARGE_BODY_BYTES) unless `length` says."""

    def __init__(
        self, url: str, count: int, *, address: str = "", path: str = "/upload/", length=99_999
    ):
        self.host, port = url.removeprefix("http://").split(":")
        self.port = int(port)
        self.count, self.address, self.path, self.length = count, address, path, length
        self.sockets: list[socket.socket] = []
        self.stopping = threading.Event()
        self.trickle = threading.Thread(target=self._send_a_byte_each_second, daemon=True)

    def _headers(self) -> bytes:
        return (
            f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            "Content-Type: multipart/form-data; boundary=slow\r\n"
            f"Content-Length: {self.length}\r\n\r\n--slow\r\n"
        ).encode()

    def __enter__(self) -> SlowBodies:
        for index in range(self.count):
            source = self.address or f"127.0.1.{index + 1}"
            connection = socket.create_connection(
                (self.host, self.port), timeout=5, source_address=(source, 0)
            )
            connection.sendall(self._headers())
            self.sockets.append(connection)
        self.trickle.start()
        return self

    def _send_a_byte_each_second(self) -> None:
        while not self.stopping.wait(1):
            for connection in self.sockets:
                # One the server answered and closed fails here: answers() tells which.
                with contextlib.suppress(OSError):
                    connection.send(b"x")

    def answers(self) -> list[bytes | None]:
        """What each connection has received so far: None while the server still waits for
        its body, b"" once it closed without a word."""
        received: list[bytes | None] = []
        for connection in self.sockets:
            connection.setblocking(False)
            try:
                received.append(connection.recv(4096))
            except BlockingIOError:
                received.append(None)
            except OSError as exc:
                received.append(repr(exc).encode())
            finally:
                connection.setblocking(True)
        return received

    def __exit__(self, *exc_info) -> None:
        self.stopping.set()
        self.trickle.join()
        for connection in self.sockets:
            connection.close()


class ShellProcess:
    """A command line (a Procfile's, say) run by bash in its own process group, as a process
    manager runs it; its output in log_path."""

    def __init__(self, command: str, env: dict[str, str], log_path: Path):
        self.command, self.env, self.log_path = command, env, log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> ShellProcess:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                ["bash", "-c", self.command],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        stop_group(self.process)


class S3Server:
    """moto's S3 server on a free port with one empty bucket; `env` is what every process of
    the app needs to keep its media there. It answers the S3 API as S3 does, except that it
    accepts a signed URL after its expiry (and does not check signatures)."""

    BUCKET = "xai-media"
    URL_SECONDS = 30  # how long signed URLs last: short, and unlike the default (300)

    def __init__(self, url_seconds: int = URL_SECONDS):
        from moto.server import ThreadedMotoServer

        self.url_seconds = url_seconds
        port = free_port()
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self.origin = f"http://127.0.0.1:{port}"
        self.env = {
            "XAI_STORAGE": "s3",
            "AWS_STORAGE_BUCKET_NAME": self.BUCKET,
            "AWS_S3_ENDPOINT_URL": self.origin,
            "AWS_S3_REGION_NAME": "us-east-1",
            "AWS_ACCESS_KEY_ID": "xai-test",
            "AWS_SECRET_ACCESS_KEY": "xai-test-secret",
            "XAI_MEDIA_URL_SECONDS": str(url_seconds),
        }

    def start(self) -> S3Server:
        import boto3

        self.server.start()
        self.client = boto3.client(
            "s3",
            endpoint_url=self.origin,
            region_name=self.env["AWS_S3_REGION_NAME"],
            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"],
        )
        self.client.create_bucket(Bucket=self.BUCKET)
        return self

    def keys(self) -> set[str]:
        listed = self.client.list_objects_v2(Bucket=self.BUCKET).get("Contents", [])
        return {entry["Key"] for entry in listed}

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.BUCKET, Key=key)["Body"].read()

    def empty(self) -> None:
        for key in self.keys():
            self.client.delete_object(Bucket=self.BUCKET, Key=key)

    def stop(self) -> None:
        self.server.stop()
