"""The headless Chromium that study_bots and the browser tests drive: Debian's own (Playwright's
browser download does not work here), with the flags that keep it from reaching the network."""

import os

CHROMIUM = os.environ.get("XAI_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
