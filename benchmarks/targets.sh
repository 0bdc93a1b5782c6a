#!/usr/bin/env bash
# Issue 25's four CPU targets in one run on this machine's CPUs: the app as `make run` starts it
# (scripts/run.sh: Redis, the inference and analysis workers, nginx + gunicorn) with
# XAI_SERVER_TIMING=1, then Chromium's click → result with the per-stage breakdown
# (browser_latency.py; target 1), 1 and 16 sessions (load_test.py) and the model alone
# (model_throughput.py; target 2), the app's CPU per round over the 16 sessions from /proc less
# the model's own on 1 thread (target 3), and participants per box (study_load.py, short;
# target 4), all in this one run. About 7 minutes on 2 cores.
#
#   benchmarks/targets.sh [rounds=20]      BROWSER=0: without Chromium; STUDY_STEPS=: without
#                                          target 4 (or the participant counts to step through)
#
# Starts its own Redis and servers on free ports with a throwaway database and media folder, and
# stops them at the end. The load comes from one address, so the per-address limits are raised
# for its own server; per-visitor limits stay as shipped. Other XAI_* settings pass through.
set -u
cd "$(dirname "$0")/.."
ROUNDS=${1:-20}
PY=.venv/bin/python
WORK=$(mktemp -d /tmp/xai-targets.XXXXXX)
port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
app=
cleanup() { [ -n "$app" ] && kill -- -"$app" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 143' INT TERM

export XAI_VAR_DIR=$WORK/var XAI_COMPILED_DIR=${XAI_COMPILED_DIR:-$PWD/var/compiled}
export REDIS_URL=redis://127.0.0.1:$(port)/0 XAI_BIND=127.0.0.1:$(port) XAI_SERVER_TIMING=1
export XAI_CLASSIFY_PER_MINUTE_PER_ADDRESS=100000 XAI_EXPLORES_PER_MINUTE_PER_ADDRESS=10000
export XAI_CONNECTIONS_PER_ADDRESS=1000 XAI_WORKER_SECONDS_PER_MINUTE_PER_ADDRESS=100000
mkdir -p "$XAI_VAR_DIR"
"$PY" manage.py migrate --noinput -v0 && "$PY" manage.py load_gallery >/dev/null \
  && "$PY" manage.py collectstatic --noinput -v0 || exit 1
setsid scripts/run.sh >"$WORK/app.log" 2>&1 &
app=$!
timeout 300 "$PY" manage.py worker_health --wait 290 >/dev/null || { tail -30 "$WORK/app.log"; exit 1; }
until grep -q "^Open http" "$WORK/app.log"; do sleep 0.5; done
URL=http://$XAI_BIND
echo "== $(date -u +%H:%M) load: $(cut -d' ' -f1-3 /proc/loadavg)"
browser=
if [ "${BROWSER:-1}" != 0 ]; then
  echo "== Chromium, $ROUNDS rounds"
  browser=$(timeout 300 "$PY" benchmarks/browser_latency.py --url "$URL" --rounds "$ROUNDS" 2>&1)
  echo "$browser"
fi
one=$(timeout 300 "$PY" benchmarks/load_test.py --url "$URL" --sessions 1 --rounds 30 2>&1)
echo "== 1 session x 30 rounds: $one"
model=$(timeout 120 "$PY" benchmarks/model_throughput.py --seconds 2 2>&1)
echo "== model alone"
echo "$model"
# Target 3: the model's own CPU per image on the worker's runtime (it logs its choice), 1 thread.
backend=$(sed -n 's/.*backend for [^:]*: \([a-z]*\) .*/\1/p' "$WORK/app.log" | head -1)
own=$(timeout 120 "$PY" benchmarks/model_throughput.py --seconds 2 --batches 1 --threads 1 \
  ${backend:+--backends "$backend"} 2>&1)
echo "the inference worker's runtime: ${backend:-unknown}"
echo "$own" | sed 's/^/1 thread: /' | grep -v "^1 thread: best"
own_ms=$(echo "$own" | sed -n 's/.* \([0-9.]*\) ms CPU per image/\1/p' | sort -n | head -1)
many=$(timeout 300 "$PY" benchmarks/load_test.py --url "$URL" --sessions 16 --rounds 10 \
  --cpu-session "$app" ${own_ms:+--model-cpu-ms "$own_ms"} 2>&1)
echo "== 16 sessions x 10 rounds (the app's CPU over the rounds, from /proc)"
echo "$many"
# The same from 16 addresses, as 16 people: a batch takes one round per address.
spread=$(timeout 300 "$PY" benchmarks/load_test.py --url "$URL" --sessions 16 --rounds 10 \
  --own-addresses --cpu-session "$app" ${own_ms:+--model-cpu-ms "$own_ms"} 2>&1)
echo "== 16 sessions x 10 rounds, each from its own address"
echo "$spread"
study=
if [ -n "${STUDY_STEPS-100,200,300,500}" ]; then
  # Target 4, short: N participants of a real study, each from its own address, one Classify
  # every 10 s, one image of 3 rounds each (benchmarks/study_load.py for the long version).
  echo "== participants per box: study_load.py --steps ${STUDY_STEPS-100,200,300,500}"
  study=$(timeout 600 "$PY" benchmarks/study_load.py --url "$URL" --images 1 --rounds 3 \
    --steps "${STUDY_STEPS-100,200,300,500}" --cpu-session "$app" 2>&1)
  echo "$study"
fi
echo "== $(date -u +%H:%M) load: $(cut -d' ' -f1-3 /proc/loadavg)"
"$PY" - "$browser" "$one" "$many" "$model" "$study" "$spread" <<'PY'
import re, sys
browser, one, many, model, study, spread = sys.argv[1:]
t1 = re.search(r"target 1: .*= ([0-9.]+)", browser)
p50 = re.search(r"p50 (\d+) ms", one)
overhead = re.search(r"overhead per round \(target 3, <= 10\): ([0-9.-]+)", many)
rate, p95 = re.search(r"\(([0-9.]+) rounds/s\)", many), re.search(r"p95 (\d+) ms", many)
best = re.search(r"^best: ([0-9.]+) img/s", model, re.M)
print(f"target 1 (<= 1.25): {t1.group(1) if t1 else '?'}")
spread_rate = re.search(r"\(([0-9.]+) rounds/s\)", spread)
if rate and best:
    print(f"target 2 (>= 0.6): {float(rate.group(1)) / float(best.group(1)):.2f}", end="")
    if spread_rate:
        print(f"; from 16 addresses {float(spread_rate.group(1)) / float(best.group(1)):.2f}", end="")
    print()
if overhead:
    print(f"target 3 (<= 10 ms of CPU per round beside the model): {overhead.group(1)}")
largest = re.search(r"largest passing N: (\d+)", study)
if largest:
    print(f"target 4 (>= 500 participants, p95 Classify < 1 s, nothing lost): {largest.group(1)}")
if p50 and p95:
    print(f"16 sessions' p95 / 1 session's p50 (issue 16, <= 16): {int(p95.group(1)) / int(p50.group(1)):.1f}")
PY
