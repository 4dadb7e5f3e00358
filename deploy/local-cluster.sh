#!/usr/bin/env bash
# Start a local Novel Engine cluster without Docker: three nodes of the real
# binary on 127.0.0.1 and a round-robin load balancer in front of them
# (novel-lb; nginx with deploy/nginx.conf works the same way).
#
#   deploy/local-cluster.sh            # then open http://127.0.0.1:8080
#
# Environment (defaults in brackets):
#   NOVEL_DATABASE_URL  PostgreSQL [postgres://postgres@127.0.0.1:5432/test?sslmode=disable]
#   NOVEL_REDIS_URL     Redis [redis://127.0.0.1:6379/0]
#   NOVEL_JWT_SECRET    shared token key [random for this run]
#   LB_PORT             balancer port [8080]; nodes use the next three ports
#   NODES               number of nodes [3]
# Ctrl-C stops everything. Kill a node (its pid is printed) to watch its
# stories move: kill -9 for a crash, kill -TERM for a drain.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
: "${NOVEL_DATABASE_URL:=postgres://postgres@127.0.0.1:5432/test?sslmode=disable}"
: "${NOVEL_REDIS_URL:=redis://127.0.0.1:6379/0}"
: "${NOVEL_JWT_SECRET:=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
: "${LB_PORT:=8080}"
: "${NODES:=3}"
export NOVEL_DATABASE_URL NOVEL_REDIS_URL NOVEL_JWT_SECRET
export NOVEL_GUEST_AUTH="${NOVEL_GUEST_AUTH:-true}"
export NOVEL_LOG_LEVEL="${NOVEL_LOG_LEVEL:-info}"

bin="$(mktemp -d)"
logs="${LOGS:-$bin}"
echo "building into $bin ..."
(cd "$root" && go build -o "$bin/novel-engine" ./cmd/novel-engine && go build -o "$bin/novel-lb" ./cmd/novel-lb)

pids=()
cleanup() {
	trap - EXIT INT TERM
	echo "stopping ..."
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -f "$bin/novel-engine" "$bin/novel-lb"
}
trap cleanup EXIT INT TERM

# One node migrates first; the others find the schema ready.
"$bin/novel-engine" migrate >/dev/null

backends=()
for i in $(seq 1 "$NODES"); do
	port=$((LB_PORT + i))
	NOVEL_ADDR="127.0.0.1:$port" NOVEL_NODE_ID="node$i" NOVEL_MIGRATE=false \
		"$bin/novel-engine" serve >"$logs/node$i.log" 2>&1 &
	pids+=($!)
	backends+=("http://127.0.0.1:$port")
	echo "node$i: pid $! on http://127.0.0.1:$port (log $logs/node$i.log)"
done
for b in "${backends[@]}"; do
	for _ in $(seq 1 100); do
		curl -fsS "$b/readyz" >/dev/null 2>&1 && break
		sleep 0.1
	done
done

"$bin/novel-lb" -addr "127.0.0.1:$LB_PORT" -backends "$(IFS=,; echo "${backends[*]}")" >"$logs/lb.log" 2>&1 &
lb=$!
pids+=("$lb")
echo "balancer: pid $lb on http://127.0.0.1:$LB_PORT"
echo "cluster up; Ctrl-C to stop"
wait "$lb" || true
