#!/usr/bin/env bash
# Start Redis (if it is not already running), Celery workers on the "inference" queue
# (XAI_INFERENCE_CONCURRENCY processes), one on the "analysis" queue and one on the "optional"
# queue, and the web server
# (scripts/serve.sh: nginx in front of gunicorn) on http://127.0.0.1:8000, which says "Open …"
# once /healthz answers. Without Redis, tasks run inside the web process.
set -u
cd "$(dirname "$0")/.."
PY=${VENV:-.venv}/bin
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
export REDIS_URL
pids=()
workers=
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT INT TERM

redis_up() { "$PY/python" -c "import redis,sys; redis.Redis.from_url('$REDIS_URL', socket_connect_timeout=1).ping()" 2>/dev/null; }

if ! redis_up && command -v redis-server >/dev/null; then
  mkdir -p var
  port=$("$PY/python" -c "from urllib.parse import urlparse; print(urlparse('$REDIS_URL').port or 6379)")
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir var >var/redis.log 2>&1 &
  pids+=($!)
  for _ in $(seq 50); do redis_up && break; sleep 0.1; done
fi

if redis_up; then
  # One runtime per worker process: classification on the fast backend (XAI_BACKEND), and
  # Grad-CAM and analyses in torch, with one thread, passive waits and a lower priority
  # (XAI_WORKER_NICE) so that it yields the CPU: a flood of analyses must not slow Classify.
  # XAI_INFERENCE_CONCURRENCY inference processes (one model each) share the cores.
  inference=${XAI_INFERENCE_CONCURRENCY:-1}
  cores=$(nproc)
  XAI_TORCH_THREADS=${XAI_TORCH_THREADS:-$(( cores / inference > 0 ? cores / inference : 1 ))} \
    "$PY/celery" -A xaiproject worker -Q inference --concurrency "$inference" --loglevel INFO \
    -n inference@%h &
  pids+=($!)
  workers=1
  XAI_BACKEND=torch XAI_TORCH_THREADS=1 OMP_WAIT_POLICY=PASSIVE XAI_WORKER_NICE=${XAI_WORKER_NICE:-10} \
    "$PY/celery" -A xaiproject worker -Q analysis --concurrency 1 --loglevel INFO -n analysis@%h &
  pids+=($!)
  # Optional work (analyses, explanation methods a person picks) apart and lowest: the work a
  # page needs (Region map, Grad-CAM) never waits behind it (painting/backlog.py).
  XAI_BACKEND=torch XAI_TORCH_THREADS=1 OMP_WAIT_POLICY=PASSIVE XAI_WORKER_NICE=19 \
    "$PY/celery" -A xaiproject worker -Q optional --concurrency 1 --loglevel INFO -n optional@%h &
  # Study exports (minutes for a large study): no model, lowest priority, never in the web.
  XAI_WORKER_LOADS_MODEL=0 XAI_WORKER_NICE=15 \
    "$PY/celery" -A xaiproject worker -Q exports --concurrency 1 --loglevel INFO -n exports@%h &
  pids+=($!)
else
  echo "WARNING: Redis is not running and could not be started (apt-get install redis-server)." >&2
  echo "WARNING: running classification inside the web process instead (XAI_EAGER=1): fine for one person, slow for many." >&2
  export XAI_EAGER=1
fi

# nginx in front of gunicorn on http://${XAI_BIND:-127.0.0.1:8000} (gunicorn alone without nginx).
scripts/serve.sh &
server=$!
pids+=($server)
if [ -n "$workers" ]; then
  # Say when both queues have a worker (each loads its model first), or that they do not.
  "$PY/python" manage.py worker_health --wait 300 &
  pids+=($!)
fi
wait "$server"
