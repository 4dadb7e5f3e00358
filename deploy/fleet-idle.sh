#!/usr/bin/env bash
# Idle cost of a node: N quiet (paused) stories held by one node, and the
# CPU another node spends meanwhile, which should not grow with N.
#
#   deploy/fleet-idle.sh 1000 10000     # one measurement per count
#
# Environment: PG_ADMIN_URL [postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable],
# NOVEL_REDIS_URL [redis://127.0.0.1:6379/0] (keys under a prefix of the
# run's own), SECONDS_MEASURED [30], BASE_PORT [17200].
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
: "${PG_ADMIN_URL:=postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}"
: "${NOVEL_REDIS_URL:=redis://127.0.0.1:6379/0}"
: "${SECONDS_MEASURED:=30}" "${BASE_PORT:=17200}"
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(1000 10000)

work="$(mktemp -d)"
pids=()
dbs=()
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	for d in "${dbs[@]}"; do psql "$PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1 || true; done
	[ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT INT TERM
(cd "$root" && go build -o "$work/novel-engine" ./cmd/novel-engine)
export NOVEL_REDIS_URL NOVEL_JWT_SECRET="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')" NOVEL_GUEST_AUTH=true NOVEL_LOG_LEVEL=${NOVEL_LOG_LEVEL:-warn}
# Every client here is on this machine, and the load tools play thousands
# from one address: the per-client quotas, the node's caps and its
# admission by load (which reads a busy machine as a full node) are lifted.
export NOVEL_MAX_USER_STORIES=0 NOVEL_MAX_GUEST_ADDR_STORIES=0 NOVEL_GUEST_SIGNINS_PER_HOUR=0 \
	NOVEL_MAX_STORIES=0 NOVEL_MAX_LOAD=0 NOVEL_READ_RATE=0 NOVEL_CONN_RATE=0 \
	NOVEL_MAX_CONNS_PER_ADDR=0 NOVEL_MAX_CONNS_PER_USER=0 NOVEL_MAX_CONNS=0

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

for n in "${counts[@]}"; do
	db="novel_idle_$$_$n"
	dbs+=("$db")
	psql "$PG_ADMIN_URL" -qc "CREATE DATABASE $db" >/dev/null
	db_url="${PG_ADMIN_URL%%\?*}"
	db_url="${db_url%/*}/$db?sslmode=disable"
	export NOVEL_DATABASE_URL="$db_url" NOVEL_REDIS_PREFIX="idle-$$-$n:"
	# The holder: one story made through the API, then copied n-1 times
	# in SQL (paused: quiet, but held and leased).
	NOVEL_ADDR="127.0.0.1:$BASE_PORT" NOVEL_NODE_ID=holder "$work/novel-engine" serve >>"$work/holder-$n.log" 2>&1 &
	holder=$!
	pids+=($holder)
	for _ in $(seq 1 300); do curl -fs "http://127.0.0.1:$BASE_PORT/readyz" >/dev/null && break; sleep 0.1; done
	tok=$(curl -fs -XPOST "http://127.0.0.1:$BASE_PORT/v1/auth/guest" -d '{"name":"idle"}' | sed 's/.*"token":"\([^"]*\)".*/\1/')
	scenario=$(curl -fs "http://127.0.0.1:$BASE_PORT/v1/scenarios" | sed 's/.*"scenarios":\[{"id":"\([^"]*\)".*/\1/')
	curl -fs -XPOST "http://127.0.0.1:$BASE_PORT/v1/simulations" -H "Authorization: Bearer $tok" \
		-d "{\"scenario\":\"$scenario\",\"autostart\":false}" >/dev/null
	kill -9 "$holder"
	psql "$db_url" -qc "insert into simulations (id, title, scenario_id, scenario, status, seed, head, max_turns, turn_interval_ms, wait_for_players, created_by, created_at, updated_at, owner, state)
		select 'q' || g, title, scenario_id, scenario, 'paused', g, 0, max_turns, turn_interval_ms, wait_for_players, created_by, created_at + g * interval '1 ms', updated_at, '', state
		from simulations, generate_series(1, $n - 1) g;
		update simulations set status = 'paused', owner = ''" >/dev/null
	redis-cli -u "$NOVEL_REDIS_URL" --scan --pattern "$NOVEL_REDIS_PREFIX*" | xargs -r redis-cli -u "$NOVEL_REDIS_URL" del >/dev/null
	NOVEL_ADDR="127.0.0.1:$BASE_PORT" NOVEL_NODE_ID=holder "$work/novel-engine" serve >>"$work/holder-$n.log" 2>&1 &
	holder=$!
	pids+=($holder)
	for _ in $(seq 1 600); do
		held=$(curl -fs "http://127.0.0.1:$BASE_PORT/metrics" 2>/dev/null | awk '/^novel_simulations_running / {print $2}' || true)
		[ "${held:-0}" = "$n" ] && break
		sleep 0.5
	done
	# The other node: it holds nothing, and should cost the same whatever n.
	NOVEL_ADDR="127.0.0.1:$((BASE_PORT + 1))" NOVEL_NODE_ID=other "$work/novel-engine" serve >>"$work/other-$n.log" 2>&1 &
	other=$!
	pids+=($other)
	for _ in $(seq 1 300); do curl -fs "http://127.0.0.1:$((BASE_PORT + 1))/readyz" >/dev/null && break; sleep 0.1; done
	sleep 5
	h0=$(cpu_ticks "$holder")
	o0=$(cpu_ticks "$other")
	sleep "$SECONDS_MEASURED"
	h1=$(cpu_ticks "$holder")
	o1=$(cpu_ticks "$other")
	hz=$(getconf CLK_TCK)
	printf '%6d quiet stories (held: %s): other node %.2f%% of a core, rss %s; holder %.2f%% of a core, rss %s\n' "$n" "${held:-?}" \
		"$(echo "($o1 - $o0) / $hz / $SECONDS_MEASURED * 100" | bc -l)" "$(awk '/VmRSS/ {printf "%.0f MiB", $2 / 1024}' "/proc/$other/status")" \
		"$(echo "($h1 - $h0) / $hz / $SECONDS_MEASURED * 100" | bc -l)" "$(awk '/VmRSS/ {printf "%.0f MiB", $2 / 1024}' "/proc/$holder/status")"
	kill -9 "$holder" "$other"
	redis-cli -u "$NOVEL_REDIS_URL" --scan --pattern "$NOVEL_REDIS_PREFIX*" | xargs -r redis-cli -u "$NOVEL_REDIS_URL" del >/dev/null
done
