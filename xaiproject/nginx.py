"""Write the configuration of the nginx that `scripts/serve.sh` puts in front of gunicorn.

    python -m xaiproject.nginx --listen 127.0.0.1:8000 --upstream unix:var/web.sock var/nginx

Everything nginx writes (pid, logs, buffered bodies) stays under that folder, so any user can
run it. The limits come from the settings, so nginx and Django refuse the same requests.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

from django.conf import settings
from django.utils.html import escape

from painting.body_limit import too_large_message

TEMPLATE = Path(__file__).with_name("nginx.conf.template")
TOO_MANY_MESSAGE = "Too many requests from your address just now. Wait a moment and try again."


def messages_html(message: str) -> str:
    """The `#messages` partial of painting/explore.html, which views._error renders."""
    return (
        '<div id="messages" aria-live="assertive">'
        f'<p class="flash error" role="alert">{escape(message)}</p></div>'
    )


def real_ip_block() -> str:
    """Behind a trusted proxy, the client address is the one that proxy saw, so the limits
    count each client rather than the proxy."""
    if not settings.BEHIND_PROXY:
        return ""
    trusted = "".join(f"    set_real_ip_from {address};\n" for address in settings.TRUSTED_PROXIES)
    return "\n" + trusted + "    real_ip_header X-Forwarded-For;\n    real_ip_recursive on;\n"


def render(listen: str, upstream: str, prefix: Path) -> str:
    values = {
        "prefix": str(prefix),
        # Started as root, nginx would hand its workers to `nobody`, who may not reach prefix.
        "user": "user root;" if os.geteuid() == 0 else "",
        "listen": listen,
        "upstream": f"http://{upstream}:" if upstream.startswith("unix:") else f"http://{upstream}",
        "max_body_bytes": str(settings.XAI_MAX_REQUEST_BYTES),
        "connections_per_address": str(settings.XAI_CONNECTIONS_PER_ADDRESS),
        "large_bodies_per_minute": str(settings.XAI_LARGE_BODIES_PER_MINUTE_PER_ADDRESS),
        # Of a burst (a minute's), a tenth of a minute's go through at once; the rest wait their
        # turn in nginx, at no cost to anyone, and are let through at the minute's rate.
        "large_bodies_at_once": str(max(1, settings.XAI_LARGE_BODIES_PER_MINUTE_PER_ADDRESS // 10)),
        "real_ip": real_ip_block(),
        "forwarded_proto": "$http_x_forwarded_proto" if settings.BEHIND_PROXY else "$scheme",
        "too_large_html": messages_html(too_large_message()),
        "too_many_html": messages_html(TOO_MANY_MESSAGE),
    }
    return re.sub(r"@(\w+)@", lambda match: values[match[1]], TEMPLATE.read_text())


def write(listen: str, upstream: str, prefix: Path) -> Path:
    """nginx.conf under prefix, with the folders it names (nginx creates only the last level)."""
    prefix = prefix.resolve()
    for folder in ("logs", "tmp"):
        (prefix / folder).mkdir(parents=True, exist_ok=True)
    config = prefix / "nginx.conf"
    config.write_text(render(listen, upstream, prefix))
    return config


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "xaiproject.settings")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True, help="the public address, host:port")
    parser.add_argument("--upstream", required=True, help="gunicorn: unix:PATH or host:port")
    parser.add_argument("prefix", type=Path, help="nginx's folder (config, pid, logs, temp)")
    args = parser.parse_args()
    print(write(args.listen, args.upstream, args.prefix))


if __name__ == "__main__":
    main()
