#!/usr/bin/env bash
# Start a local Novel Engine cluster without Docker: three nodes of the real
# binary on 127.0.0.1 and a round-robin load balancer in front of them
# (novel-lb; nginx with deploy/nginx.conf works the same way).
#
#   deploy/local-cluster.sh            # then open http://127.0.0.1:8080
#
# Environment (defaults in brackets):
#   NOVEL_DATABASE_URL  PostgreSQL [postgres://postgres@127.0.0.1:5432/novel_local?sslmode=disable];
#                       the database is created (with psql) if it is missing
#   NOVEL_REDIS_URL     Redis [redis://127.0.0.1:6379/0]
#   NOVEL_REDIS_PREFIX  prefix of the cluster's Redis keys [novel-local:]
#   NOVEL_JWT_SECRET    shared token key [random for this run]
#   LB_PORT             balancer port [8080]; nodes use the next three ports
#   NODES               number of nodes [3]
#   LOGS                a folder to keep the logs in [none: they are removed
#                       with the binaries when the cluster stops]
# Ctrl-C stops everything. Kill a node (its pid is printed) to watch its
# stories move: kill -9 for a crash, kill -TERM for a drain.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
: "${NOVEL_DATABASE_URL:=postgres://postgres@127.0.0.1:5432/novel_local?sslmode=disable}"
: "${NOVEL_REDIS_URL:=redis://127.0.0.1:6379/0}"
: "${NOVEL_REDIS_PREFIX:=novel-local:}"
: "${NOVEL_JWT_SECRET:=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
: "${LB_PORT:=8080}"
: "${NODES:=3}"
export NOVEL_DATABASE_URL NOVEL_REDIS_URL NOVEL_REDIS_PREFIX NOVEL_JWT_SECRET
export NOVEL_GUEST_AUTH="${NOVEL_GUEST_AUTH:-true}"
export NOVEL_LOG_LEVEL="${NOVEL_LOG_LEVEL:-info}"
# novel-lb, in front, names each client in X-Forwarded-For. Every client
# of this cluster is on this machine, and the load tools play thousands
# from one address: the per-client quotas (and the admission by load,
# which reads a busy machine as a full node) are lifted unless set.
export NOVEL_TRUSTED_PROXIES="${NOVEL_TRUSTED_PROXIES:-127.0.0.1}"
export NOVEL_MAX_USER_STORIES="${NOVEL_MAX_USER_STORIES:-0}"
export NOVEL_MAX_GUEST_ADDR_STORIES="${NOVEL_MAX_GUEST_ADDR_STORIES:-0}"
export NOVEL_GUEST_SIGNINS_PER_HOUR="${NOVEL_GUEST_SIGNINS_PER_HOUR:-0}"
export NOVEL_READ_RATE="${NOVEL_READ_RATE:-0}"
export NOVEL_MAX_CONNS_PER_ADDR="${NOVEL_MAX_CONNS_PER_ADDR:-0}"
export NOVEL_MAX_CONNS_PER_USER="${NOVEL_MAX_CONNS_PER_USER:-0}"
export NOVEL_CONN_RATE="${NOVEL_CONN_RATE:-0}"
export NOVEL_MAX_LOAD="${NOVEL_MAX_LOAD:-0}"

# The cluster's own database, created on the same server if missing: it
# never shares the test suite's.
db_create() {
	local base="${NOVEL_DATABASE_URL%%\?*}" query="" name
	[[ "$NOVEL_DATABASE_URL" == *\?* ]] && query="?${NOVEL_DATABASE_URL#*\?}"
	name="${base##*/}"
	if ! [[ "$name" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
		echo "database name \"$name\" in NOVEL_DATABASE_URL: use letters, digits and _" >&2
		exit 1
	fi
	if ! command -v psql >/dev/null; then
		echo "psql not found: create the database $name yourself, or install the PostgreSQL client" >&2
		return
	fi
	local admin="${base%/*}/postgres$query"
	if [ -z "$(psql "$admin" -tAc "SELECT 1 FROM pg_database WHERE datname = '$name'")" ]; then
		echo "creating database $name ..."
		psql "$admin" -qc "CREATE DATABASE \"$name\"" >/dev/null
	fi
}
db_create

bin="$(mktemp -d)"
if [ -n "${LOGS:-}" ]; then
	mkdir -p "$LOGS"
	logs="$(cd "$LOGS" && pwd)"
else
	logs="$bin"
fi
echo "building into $bin ..."
(cd "$root" && go build -o "$bin/novel-engine" ./cmd/novel-engine && go build -o "$bin/novel-lb" ./cmd/novel-lb)

pids=()
cleanup() {
	trap - EXIT INT TERM
	echo "stopping ..."
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$bin"
	if [ "$logs" != "$bin" ]; then echo "logs kept in $logs"; fi
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
