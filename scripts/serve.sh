#!/usr/bin/env bash
# The web side of `make run`: nginx on XAI_BIND (http://127.0.0.1:8000) in front of gunicorn on a
# unix socket, so that slow clients wait in nginx, not in gunicorn's threads. Without nginx (or
# with XAI_PROXY=0) gunicorn serves XAI_BIND itself. Stops everything it started when one of
# them stops, or when it is told to.
set -u
cd "$(dirname "$0")/.."
PY=${VENV:-.venv}/bin
BIND=${XAI_BIND:-127.0.0.1:8000}
VAR=$(realpath -m "${XAI_VAR_DIR:-var}")
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait' EXIT
trap 'exit 143' INT TERM

web() {
  # Threads, not processes: a Classify request waits for its result without using the CPU.
  "$PY/gunicorn" xaiproject.wsgi --bind "$1" --worker-class gthread --workers 1 \
    --threads "${XAI_WEB_THREADS:-64}" --access-logfile - --log-level warning "${@:2}" &
  pids+=($!)
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
echo "Open http://$BIND"
wait -n
