#!/usr/bin/env bash
# Target 2 where the worker has its own accelerator: the model-only throughput and the app's
# throughput with 16 concurrent sessions, the inference worker on the GPU (torch on cuda; on a
# machine without one it runs the same on the CPU, with XAI_BACKEND=auto). About 5 minutes.
#
#   benchmarks/gpu_throughput.sh [sessions=16] [rounds=20] [many=256]
#
# Then target 5 of issue 25 (>= 1,000 rounds/s with 16 cores and one GPU): `many` sessions, each
# from its own loopback address as different people are (a batch takes one round per address),
# with INFERENCE_PROCESSES inference processes and WEB_CONCURRENCY web processes (default 4 each).
#
# Needs the repository with its .venv and redis-server on PATH (nginx is optional). Starts its
# own Redis, Celery workers (inference on the GPU, analysis) and web server on free ports with
# a throwaway database and media folder, and stops them all at the end. The load comes from one
# address, so the benchmark raises the per-address limits for its own server (the limits, not
# the code, would bound it); per-visitor limits and queue caps stay as they are.
set -u
cd "$(dirname "$0")/.."
SESSIONS=${1:-16}
ROUNDS=${2:-20}
MANY=${3:-256}
PY=.venv/bin/python
command -v redis-server >/dev/null || { echo "redis-server is missing (apt-get install redis-server)" >&2; exit 1; }
WORK=$(mktemp -d /tmp/xai-gpu-bench.XXXXXX)
port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
REDIS_PORT=$(port)
WEB_PORT=$(port)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 143' INT TERM

export XAI_VAR_DIR=$WORK/var XAI_COMPILED_DIR=${XAI_COMPILED_DIR:-$PWD/var/compiled}
export REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0 XAI_BIND=127.0.0.1:$WEB_PORT
export XAI_CLASSIFY_PER_MINUTE_PER_ADDRESS=100000 XAI_EXPLORES_PER_MINUTE_PER_ADDRESS=10000
export XAI_CONNECTIONS_PER_ADDRESS=1000 XAI_MAX_BATCH=${XAI_MAX_BATCH:-16}
export XAI_WORKER_SECONDS_PER_MINUTE_PER_ADDRESS=100000
export XAI_MAX_PENDING_ROUNDS_TOTAL=${XAI_MAX_PENDING_ROUNDS_TOTAL:-$((MANY * 2))}
mkdir -p "$XAI_VAR_DIR"

echo "== machine"
"$PY" - <<'PY'
import os, torch
gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
print(f"cores {os.cpu_count()}, torch {torch.__version__}, GPU: {gpu}")
PY

BATCHES=${BATCHES:-1,8,16,32}
echo "== model alone (no preprocessing), best of batch $BATCHES"
model=$(timeout 240 "$PY" benchmarks/model_throughput.py --batches "$BATCHES" --seconds 2) || { echo "$model"; exit 1; }
echo "$model"
best=$(echo "$model" | sed -n 's/^best: \([0-9.]*\) img\/s.*/\1/p')

echo "== the app: $SESSIONS sessions x $ROUNDS rounds"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK" >"$WORK/redis.log" 2>&1 &
pids+=($!)
"$PY" manage.py migrate --noinput -v0 && "$PY" manage.py load_gallery >/dev/null \
  && "$PY" manage.py collectstatic --noinput -v0 || exit 1
# The inference worker: INFERENCE_PROCESSES processes (default 4) share the GPU; each one's
# batches take what is waiting, and its CPU work (compose, preprocess, record) runs beside the others'.
.venv/bin/celery -A xaiproject worker -Q inference --concurrency "${INFERENCE_PROCESSES:-4}" --loglevel WARNING \
  -n "inference-$WEB_PORT@%h" >"$WORK/inference.log" 2>&1 &
pids+=($!)
XAI_BACKEND=torch XAI_TORCH_THREADS=1 XAI_WORKER_NICE=10 .venv/bin/celery -A xaiproject worker \
  -Q analysis --concurrency 1 --loglevel WARNING -n "analysis-$WEB_PORT@%h" >"$WORK/analysis.log" 2>&1 &
pids+=($!)
# The optional work (a round's alignment scores) and the exports, as scripts/run.sh has them.
XAI_BACKEND=torch XAI_TORCH_THREADS=1 XAI_WORKER_NICE=19 .venv/bin/celery -A xaiproject worker \
  -Q optional,exports --concurrency 1 --loglevel WARNING -n "optional-$WEB_PORT@%h" >"$WORK/optional.log" 2>&1 &
pids+=($!)
WEB_CONCURRENCY=${WEB_CONCURRENCY:-4} scripts/serve.sh >"$WORK/web.log" 2>&1 &
pids+=($!)
timeout 180 "$PY" manage.py worker_health --wait 170 >/dev/null || { tail -20 "$WORK"/*.log; exit 1; }
until grep -q "^Open http" "$WORK/web.log"; do sleep 0.5; done
load=$(timeout 240 "$PY" benchmarks/load_test.py --url "http://$XAI_BIND" --sessions "$SESSIONS" --rounds "$ROUNDS" 2>&1)
echo "$load"
rate=$(echo "$load" | sed -n 's/.*(\([0-9.]*\) rounds\/s).*/\1/p' | head -1)
echo "== the app: $MANY sessions x 10 rounds, each from its own address"
wide=$(timeout 400 "$PY" benchmarks/load_test.py --url "http://$XAI_BIND" --sessions "$MANY" --rounds 10 --own-addresses 2>&1)
echo "$wide"
wide_rate=$(echo "$wide" | sed -n 's/.*(\([0-9.]*\) rounds\/s).*/\1/p' | head -1)

echo "== summary"
printf '%-44s %10s\n' "model alone, best img/s" "$best"
printf '%-44s %10s\n' "app, $SESSIONS sessions, rounds/s" "${rate:-?}"
"$PY" -c "import sys; b, r = float(sys.argv[1]), float(sys.argv[2] or 0); print(f'{\"ratio (target 2: >= 0.9 with its own GPU)\":<44} {r / b:10.2f}')" "$best" "$rate"
printf '%-44s %10s\n' "app, $MANY sessions, rounds/s (target 5: >= 1000)" "${wide_rate:-?}"
