#!/usr/bin/env bash
# The web side of `make run`: nginx on XAI_BIND (http://127.0.0.1:8000) in front of gunicorn on a
# unix socket, so that slow clients wait in nginx, not in gunicorn's threads. Without nginx (or
# with XAI_PROXY=0) gunicorn serves XAI_BIND itself, with WEB_CONCURRENCY processes of
# XAI_WEB_THREADS threads. Says "Open http://…" once /healthz answers. Stops everything it
# started when one of them stops, or when it is told to.
set -u
cd "$(dirname "$0")/.."
PY=${VENV:-.venv}/bin
# Without that virtualenv (a platform's Python, the Procfile), the gunicorn on PATH and its python.
[ -x "$PY/gunicorn" ] || PY=$(dirname "$(command -v gunicorn || echo .venv/bin/gunicorn)")
BIND=${XAI_BIND:-127.0.0.1:8000}
VAR=$(realpath -m "${XAI_VAR_DIR:-var}")
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait' EXIT
trap 'exit 143' INT TERM

web() {
  # Threads carry the waiting: a Classify request waits for its result without using the CPU.
  # Processes (WEB_CONCURRENCY, gunicorn's own variable) add cores for decoding and rendering.
  "$PY/gunicorn" xaiproject.wsgi --bind "$1" --worker-class gthread \
    --workers "${WEB_CONCURRENCY:-1}" --threads "${XAI_WEB_THREADS:-64}" \
    --access-logfile - --log-level warning "${@:2}" &
  pids+=($!)
}

# 0 once /healthz answers 200 (database, broker and storage reachable); else what it said.
healthy() {
  "$PY/python" -c '
import sys, urllib.error, urllib.request
try:
    urllib.request.urlopen(sys.argv[1], timeout=5)
except urllib.error.HTTPError as answer:
    sys.exit(answer.read().decode(errors="replace")[:300])
except OSError as exc:
    sys.exit(str(exc))' "http://$BIND/healthz"
}

NGINX=$(PATH="$PATH:/usr/sbin" command -v nginx)
if [ -n "$NGINX" ] && [ "${XAI_PROXY:-1}" != 0 ]; then
  mkdir -p "$VAR"
  config=$("$PY/python" -m xaiproject.nginx --listen "$BIND" --upstream "unix:$VAR/web.sock" "$VAR/nginx") || exit 1
  rm -f "$VAR/web.sock"
  # The client's address, as nginx saw it, in gunicorn's log too.
  web "unix:$VAR/web.sock" --access-logformat '%({x-real-ip}i)s %(t)s "%(r)s" %(s)s %(b)s "%(a)s"'
  # nginx once gunicorn listens, so that nobody gets a 502 while Django starts.
  while [ ! -S "$VAR/web.sock" ]; do kill -0 "${pids[0]}" 2>/dev/null || exit 1; sleep 0.2; done
  "$NGINX" -p "$VAR/nginx" -c "$config" -e "$VAR/nginx/logs/error.log" &
  pids+=($!)
  echo "nginx on $BIND in front of gunicorn; its logs are in $VAR/nginx/logs"
else
  if [ -z "$NGINX" ]; then
    echo "WARNING: nginx is missing (apt-get install nginx): gunicorn serves $BIND directly," >&2
    echo "WARNING: and slow clients can tie up all its threads. Fine on your own machine, not in public." >&2
  fi
  web "$BIND"
fi
tries=0
until problem=$(healthy 2>&1); do
  kill -0 "${pids[0]}" 2>/dev/null || exit 1
  if (( ++tries % 60 == 0 )); then echo "WARNING: not ready yet: $problem" >&2; fi  # every 30 s
  sleep 0.5
done
echo "Open http://$BIND"
wait -n
