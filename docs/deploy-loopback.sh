#!/usr/bin/env bash
# docs/deploy.md's commands on one machine: three nats-servers on 127.0.0.2-4 from
# `plumeline nats-config`, a Ray head from `ray start --head`, `plumeline up` joining
# both with R3 streams, then `verify` and `audit replay` while it runs. Ports and
# directories of its own; everything it started is stopped on exit.
#
#   docs/deploy-loopback.sh [WORK_DIR]      BIN: plumeline, nats-server, ray (.venv/bin)
set -euo pipefail
BIN=${BIN:-.venv/bin}
WORK=${1:-$(mktemp -d /tmp/plumeline-deploy-XXXXXX)}
DATA=$WORK/data
RAY_TMP=$(mktemp -d /tmp/plr-XXXXXX)  # Ray's socket paths must stay short
read -r P CP MP GCS RC NM OM DA DG RE ME HTTP < <("$BIN/python" -c \
  'from plumeline.infra.runtime.nats import free_port; print(*(free_port() for _ in range(12)))')
HOSTS=127.0.0.2,127.0.0.3,127.0.0.4
NATS=nats://127.0.0.2:$P,nats://127.0.0.3:$P,nats://127.0.0.4:$P
NATS_PIDS=() UP_PID=

stop() {
  [ -n "$UP_PID" ] && kill -INT "$UP_PID" 2>/dev/null && wait "$UP_PID" || true
  for pid in $(pgrep -f -- "$RAY_TMP" || true); do kill -9 "$pid" 2>/dev/null || true; done
  for pid in "${NATS_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait || true
  rm -rf "$RAY_TMP"
}
trap stop EXIT
step() { echo "== $*"; }
retry() {  # retry SECONDS COMMAND...: until it succeeds, at most SECONDS
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || { echo "gave up: $*" >&2; return 1; }
    sleep 1
  done
}

step "NATS: configuration, credentials, a device, then the three servers"
"$BIN/plumeline" nats-config --nodes 3 --out "$DATA" --hosts "$HOSTS" --port "$P" \
  --cluster-port "$CP" --monitor-port "$MP" --store-dir "$WORK/nats" --bind-hosts
"$BIN/plumeline" device add --data-dir "$DATA" ccs-01  # then the configs again, with it
"$BIN/plumeline" nats-config --nodes 3 --out "$DATA" --hosts "$HOSTS" --port "$P" \
  --cluster-port "$CP" --monitor-port "$MP" --store-dir "$WORK/nats" --bind-hosts
for i in 1 2 3; do
  (cd "$DATA" && exec "$BIN/nats-server" -c "nats-$i.conf") >"$WORK/nats-$i.log" 2>&1 &
  NATS_PIDS+=($!)
done
for i in 2 3 4; do  # every node current (/healthz) before anything is declared
  retry 60 curl -sf -o /dev/null "http://127.0.0.$i:$MP/healthz"
done

step "Ray: the head"
export RAY_AUTH_MODE=disabled  # a private cluster on loopback
export RAY_worker_niceness=0  # the workers are the system (docs/deploy.md)
unset RAY_ADDRESS
"$BIN/ray" start --head --port "$GCS" --num-cpus 2 --node-ip-address 127.0.0.1 \
  --temp-dir "$RAY_TMP" --include-dashboard false --ray-client-server-port "$RC" \
  --node-manager-port "$NM" --object-manager-port "$OM" --dashboard-agent-listen-port "$DA" \
  --dashboard-agent-grpc-port "$DG" --runtime-env-agent-port "$RE" \
  --metrics-export-port "$ME" --object-store-memory 100000000 --disable-usage-stats

step "plumeline up on both, R3 streams"
"$BIN/plumeline" up --data-dir "$DATA" --nats "$NATS" --replicas 3 \
  --ray-address "127.0.0.1:$GCS" --port "$HTTP" --shards 2 --history 0 \
  --facilities 3 --sensors-per-facility 4 --rate 2 >"$WORK/up.log" 2>&1 &
UP_PID=$!
up_or_gone() { grep -q "Plumeline is up" "$WORK/up.log" || ! kill -0 "$UP_PID"; }
retry 300 up_or_gone
grep -q "Plumeline is up" "$WORK/up.log" || { tail -50 "$WORK/up.log"; exit 1; }

step "the ledger, checked while it runs"
verified() { "$BIN/plumeline" verify --data-dir "$DATA" | tee "$WORK/verify.txt" | grep -q "ok: [1-9]"; }
retry 120 verified
cat "$WORK/verify.txt"
"$BIN/plumeline" audit replay --data-dir "$DATA"
echo "deployed on loopback: $WORK"
