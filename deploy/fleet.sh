#!/usr/bin/env bash
# A fleet on one machine: a Redis Cluster of three shards (each primary
# with a replica), a PostgreSQL server of its own, three nodes and
# balancers in front of them; then load, and faults under load, with the
# figures printed.
#
#   deploy/fleet.sh                     # the defaults below
#   STORIES=300 WATCHERS=900 INTERVAL_MS=2000 DURATION=60s deploy/fleet.sh
#
# Environment (defaults in brackets):
#   STORIES      live stories [10000]
#   WATCHERS     watchers, spread over the stories and the nodes [30000]
#   INTERVAL_MS  each story's turn interval [10000]
#   DURATION     measurement time; the faults happen inside it [120s]
#   FAULTS       1: kill -9 a node (and time the takeover), kill a shard
#                primary, restart PostgreSQL during the measurement;
#                0: load only [1]
#   PG_DOWN      seconds PostgreSQL stays stopped in its restart [5]
#   PG_ADMIN_URL an existing PostgreSQL server to create the fleet's
#                database on, instead of a server of its own; then
#                PG_RESTART is the command that restarts it [unset]
#   BASE_PORT    first port; Redis uses BASE_PORT..+5, the nodes the next
#                three, the first balancer the one after, PostgreSQL +10,
#                further balancers +11 on [17100]
#   NOVEL_LOG_LEVEL  the nodes' log level; info logs each takeover with
#                how long its steps took [warn]
#   LOGS         a folder to keep the nodes', the balancer's, Redis's and
#                PostgreSQL's logs in [unset: they go with the run]
#   PPROF        1: each node serves its profiles on BASE_PORT+30+i
#                (n1 on +30), to profile a survivor during the takeover [0]
#   NICE_LOAD    the balancers' and the load processes' nice level: on one
#                machine they take cores the nodes would have on their own
#                machines; 10 gives the nodes, Redis and PostgreSQL the
#                cores first [0]
#   NOVEL_*      the nodes' other settings (README), e.g.
#                NOVEL_HISTORY_READS, are passed on as exported
# Needs redis-server and redis-cli (7 or later), PostgreSQL's server
# programs (initdb, pg_ctl: /usr/lib/postgresql/*/bin or PATH) and psql,
# curl, bc and Go. Run as root, it runs PostgreSQL as the user postgres. Everything
# it starts is stopped when it ends (or on Ctrl-C).
#
# One process may hold `ulimit -Hn` open files. A balancer holds two per
# watcher (the client's socket and the node's), a load process one, so the
# watchers are spread over as many balancers (each with every node behind
# it, as behind several load balancers in a deployment) and load processes
# as that limit needs; their figures are merged into one report.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
: "${STORIES:=10000}" "${WATCHERS:=30000}" "${INTERVAL_MS:=10000}" "${DURATION:=120s}" "${FAULTS:=1}"
: "${PG_DOWN:=5}" "${BASE_PORT:=17100}" "${NICE_LOAD:=0}"
# The balancers and the load processes run at NICE_LOAD (nice execs them:
# $! stays their pid).
lowprio=(nice -n "$NICE_LOAD")
for tool in redis-server redis-cli psql go curl bc; do
	command -v "$tool" >/dev/null || { echo "fleet: $tool not found" >&2; exit 1; }
done
# Open files: take the hard limit. A process past it stalls at accept or
# dial, so the watchers are split before: a balancer holds two descriptors
# per watcher, a load process one, and each keeps a twentieth (at least
# 100) for the rest (listeners, the API's connections, logs). Connections
# to one address and port also share the ephemeral ports.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
fds=$(ulimit -n)
[ "$fds" != unlimited ] || fds=1000000
spare=$((fds / 20 > 100 ? fds / 20 : 100))
read -r port_lo port_hi </proc/sys/net/ipv4/ip_local_port_range
ports=$(((port_hi - port_lo + 1) * 9 / 10))
per_lb=$(((fds - spare) / 2 < ports ? (fds - spare) / 2 : ports))
per_load=$((fds - spare))
n_lb=$(((WATCHERS + per_lb - 1) / per_lb))
n_load=$(((WATCHERS + per_load - 1) / per_load))
# A node holds one per watcher it serves: a third of them, half once n1 is
# killed; more balancers do not change that.
node_max=$((fds - spare < ports ? fds - spare : ports))
if [ $((WATCHERS / 2)) -gt "$node_max" ]; then
	echo "fleet: WATCHERS=$WATCHERS puts about $((WATCHERS / 2)) sockets on each of the two nodes left after the kill;" \
		"a process may open $fds files here (ulimit -Hn) and take about $ports connections from one address." >&2
	echo "fleet: lower WATCHERS (at most $((2 * node_max)) here) or raise the hard limit." >&2
	exit 1
fi
if [ "$n_lb" -gt 8 ]; then
	echo "fleet: WATCHERS=$WATCHERS needs $n_lb balancers at $fds open files each (ulimit -Hn); at most 8 fit in the ports." >&2
	exit 1
fi
pg_bin=""
if [ -z "${PG_ADMIN_URL:-}" ]; then
	pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
	[ -n "$pg_bin" ] || pg_bin=$(dirname "$(command -v pg_ctl 2>/dev/null || echo /none/pg_ctl)")
	[ -x "$pg_bin/initdb" ] || { echo "fleet: no initdb and pg_ctl (PostgreSQL's server programs); or set PG_ADMIN_URL" >&2; exit 1; }
fi

work="$(mktemp -d)"
pgdir=""
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [ -n "${LOGS:-}" ]; then
		mkdir -p "$LOGS"
		cp "$work"/*.log "$work"/load*.out "$LOGS"/ 2>/dev/null || true
		for r in "$work"/redis-*; do cp "$r/log" "$LOGS/$(basename "$r").log" 2>/dev/null || true; done
		[ -z "$pgdir" ] || cp "$pgdir/log" "$LOGS/postgresql.log" 2>/dev/null || true
	fi
	if [ -n "$pgdir" ]; then
		as_pg "$pg_bin/pg_ctl" -D "$pgdir/data" -m immediate -w stop >/dev/null 2>&1 || true
		rm -rf "$pgdir"
	fi
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

echo "building ..."
(cd "$root" && go build -o "$work/novel-engine" ./cmd/novel-engine && go build -o "$work/novel-lb" ./cmd/novel-lb &&
	go build -o "$work/loadcluster" ./loadtest/cluster && go build -o "$work/takeover" ./loadtest/cmd/takeover)

# Redis Cluster: three primaries and three replicas.
redis_ports=()
for i in 0 1 2 3 4 5; do
	port=$((BASE_PORT + i))
	redis_ports+=("$port")
	mkdir -p "$work/redis-$port"
	redis-server --port "$port" --bind 127.0.0.1 --cluster-enabled yes --cluster-config-file nodes.conf \
		--cluster-node-timeout 1000 --cluster-replica-validity-factor 0 --dir "$work/redis-$port" \
		--save "" --appendonly no --protected-mode no --maxclients 50000 --logfile "$work/redis-$port/log" &
	pids+=($!)
done
for port in "${redis_ports[@]}"; do
	for _ in $(seq 1 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
done
redis-cli --cluster create $(printf '127.0.0.1:%s ' "${redis_ports[@]}") --cluster-replicas 1 --cluster-yes >/dev/null
for _ in $(seq 1 100); do
	redis-cli -p "${redis_ports[0]}" cluster info | grep -q 'cluster_state:ok' && break
	sleep 0.1
done
redis_url="redis://127.0.0.1:${redis_ports[0]}$(printf '?addr=127.0.0.1:%s' "${redis_ports[1]}")$(printf '&addr=127.0.0.1:%s' "${redis_ports[@]:2}")"
echo "redis cluster: 3 shards with a replica each on ports ${redis_ports[*]}"

# PostgreSQL: a server of the fleet's own, so that restarting it under
# load disturbs nobody else; PostgreSQL refuses to run as root, so as root
# it runs as the user postgres.
as_pg() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
pg_port=$((BASE_PORT + 10))
pg_start() {
	as_pg "$pg_bin/pg_ctl" -D "$pgdir/data" -l "$pgdir/log" -w -t 60 \
		-o "-p $pg_port -k $pgdir -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
}
if [ -z "${PG_ADMIN_URL:-}" ]; then
	pgdir="$(mktemp -d)"
	[ "$(id -u)" != 0 ] || chown postgres: "$pgdir"
	as_pg "$pg_bin/initdb" -D "$pgdir/data" -U postgres -A trust -E UTF8 --no-sync >"$work/initdb.log" 2>&1 ||
		{ cat "$work/initdb.log" >&2; exit 1; }
	pg_start
	PG_ADMIN_URL="postgres://postgres@127.0.0.1:$pg_port/postgres?sslmode=disable"
	PG_RESTART="as_pg $pg_bin/pg_ctl -D $pgdir/data -m fast -w stop >/dev/null && sleep $PG_DOWN && pg_start"
	echo "postgresql: a server of its own on port $pg_port ($("$pg_bin/postgres" --version))"
fi
db="novel_fleet_$$"
psql "$PG_ADMIN_URL" -qc "CREATE DATABASE $db" >/dev/null
if [ -z "$pgdir" ]; then # a database on a shared server: drop it at the end
	drop_db() { psql "$PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true; }
	trap 'cleanup; drop_db' EXIT INT TERM
fi
db_url="${PG_ADMIN_URL%%\?*}"
db_url="${db_url%/*}/$db?sslmode=disable"

export NOVEL_DATABASE_URL="$db_url" NOVEL_REDIS_URL="$redis_url" NOVEL_REDIS_CLUSTER=true
export NOVEL_JWT_SECRET="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export NOVEL_GUEST_AUTH=true NOVEL_LOG_LEVEL="${NOVEL_LOG_LEVEL:-warn}" NOVEL_REDIS_PREFIX=fleet:
# Every client here is on this machine, and the load tools play thousands
# from one address: the per-client quotas, the node's caps and its
# admission by load (which reads a busy machine as a full node) are lifted.
export NOVEL_MAX_USER_STORIES=0 NOVEL_MAX_GUEST_ADDR_STORIES=0 NOVEL_GUEST_SIGNINS_PER_HOUR=0 \
	NOVEL_MAX_STORIES=0 NOVEL_MAX_LOAD=0 NOVEL_READ_RATE=0 NOVEL_CONN_RATE=0 \
	NOVEL_MAX_CONNS_PER_ADDR=0 NOVEL_MAX_CONNS_PER_USER=0 NOVEL_MAX_CONNS=0 NOVEL_WS_USER_RATE=0
node_pids=()
node_addrs=()
start_node() { # index
	local i=$1 port=$((BASE_PORT + 6 + $1))
	local pprof=""
	[ "${PPROF:-0}" != 1 ] || pprof="127.0.0.1:$((BASE_PORT + 30 + i))"
	NOVEL_PPROF_ADDR="$pprof" NOVEL_ADDR="127.0.0.1:$port" NOVEL_NODE_ID="n$((i + 1))" "$work/novel-engine" serve >>"$work/node$i.log" 2>&1 &
	node_pids[$i]=$!
	pids+=($!)
	node_addrs[$i]="127.0.0.1:$port"
	for _ in $(seq 1 300); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && return; sleep 0.1; done
	echo "node n$((i + 1)) not ready:" >&2
	tail -20 "$work/node$i.log" >&2
	exit 1
}
for i in 0 1 2; do start_node "$i"; done
# The balancers, each with every node behind it; the first also takes the
# API calls (stories, lobby, takeover).
lb_pids=()
lb_urls=()
for k in $(seq 0 $((n_lb - 1))); do
	lb_port=$((BASE_PORT + (k == 0 ? 9 : 10 + k)))
	"${lowprio[@]}" "$work/novel-lb" -addr "127.0.0.1:$lb_port" -backends "$(printf 'http://%s,' "${node_addrs[@]}" | sed 's/,$//')" >"$work/lb$k.log" 2>&1 &
	lb_pids+=($!)
	pids+=($!)
	for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$lb_port/readyz" >/dev/null && break; sleep 0.1; done
	lb_urls+=("http://127.0.0.1:$lb_port")
done
base="${lb_urls[0]}"
echo "nodes ${node_addrs[*]}, balancers ${lb_urls[*]}, database $db"

# usage prints the CPU (over 5 s, all at once) and RSS of each node, of
# the load processes, the balancers and the Redis servers together, and the
# machine's load average: what else competes for the cores shows there.
usage() { # label
	local names=() procs=() t0=() i
	for i in "${!node_pids[@]}"; do names+=("n$((i + 1))"); procs+=("${node_pids[$i]}"); done
	names+=("load generators"); procs+=("$(IFS=,; echo "${load_pids[*]}")")
	names+=("balancers"); procs+=("$(IFS=,; echo "${lb_pids[*]}")")
	names+=("redis"); procs+=("$(pgrep -d, -f "^redis-server 127.0.0.1:($(IFS='|'; echo "${redis_ports[*]}")) " || true)")
	ticks() { local t=0 p; for p in ${1//,/ }; do [ -r "/proc/$p/stat" ] && t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo $t; }
	rss() { local k=0 p; for p in ${1//,/ }; do [ -r "/proc/$p/status" ] && k=$((k + $(awk '/VmRSS/ {print $2}' "/proc/$p/status"))); done; echo $((k / 1024)); }
	for i in "${!procs[@]}"; do t0[$i]=$(ticks "${procs[$i]}"); done
	sleep 5
	echo "CPU and RSS ($1; machine load average $(cut -d' ' -f1-3 /proc/loadavg)):"
	for i in "${!procs[@]}"; do
		if [ -z "${procs[$i]}" ] || ! kill -0 ${procs[$i]//,/ } 2>/dev/null; then
			printf '  %-15s down\n' "${names[$i]}"
			continue
		fi
		printf '  %-15s cpu %5.1f%%  rss %s MiB\n' "${names[$i]}" \
			"$(echo "($(ticks "${procs[$i]}") - ${t0[$i]}) / $(getconf CLK_TCK) / 5 * 100" | bc -l)" "$(rss "${procs[$i]}")"
	done
}

# faults runs the three faults spread over the time left of the
# measurement, from when it started ($1, in $SECONDS), leaving about a
# quarter of it after PostgreSQL's return to see the stories resume.
faults() {
	local left step
	left=$((${DURATION%s} - (SECONDS - $1)))
	step=$(((left - PG_DOWN) / 4))
	if [ "$step" -lt 3 ]; then
		echo "[fault] only ${left}s of the measurement left: faults skipped (a longer DURATION makes room)"
		return
	fi
	sleep "$step"
	# The takeover: from the kill until every story n1 ran has another
	# owner and has stored a turn there, read from the store (listing them
	# through the nodes would load the survivors during their takeover).
	# (The shell's own notice of the kill is not wanted.)
	{ "$work/takeover" -url "$base" -db "$db_url" -node n1 -pid "${node_pids[0]}" -timeout 60s 2>&1 | sed 's/^/[fault] /'; } 2>/dev/null ||
		echo "[fault] takeover not complete"
	kill -9 "${node_pids[0]}" 2>/dev/null || true # had the measurement failed before its kill
	{ wait "${node_pids[0]}"; } 2>/dev/null || true
	echo "[fault] n1 restarted"
	start_node 0
	local shard=${redis_ports[1]}
	echo "[fault] kill -9 of the Redis primary on port $shard (its replica takes over)"
	local primary
	primary=$(redis-cli -p "$shard" info server | awk -F: '/process_id/ {print $2}' | tr -d '\r')
	kill -9 "$primary" || true
	{ wait "$primary"; } 2>/dev/null || true
	sleep "$step"
	if [ -n "${PG_RESTART:-}" ]; then
		echo "[fault] PostgreSQL stopped (fast: sessions cut), started again ${PG_DOWN}s later"
		local t0=$SECONDS
		eval "$PG_RESTART" || echo "[fault] PostgreSQL restart failed"
		echo "[fault] PostgreSQL back after $((SECONDS - t0))s"
	else
		echo "[fault] PG_ADMIN_URL names a server and PG_RESTART no way to restart it: skipped"
	fi
	if [ $((SECONDS - $1)) -gt $((${DURATION%s} - 5)) ]; then
		echo "[fault] warning: the faults ended less than 5 s before the measurement did; a longer DURATION measures the recovery"
	fi
}

echo "load: $STORIES stories at one turn per ${INTERVAL_MS}ms, $WATCHERS watchers, measured over $DURATION"
echo "  through $n_lb balancer(s) from $n_load load process(es) (open files per process: $fds; their nice level: $NICE_LOAD)"
# The stories are created once; each load process watches them with its
# share of the watchers, over every balancer, and waits for the file go
# (made once all are connected) to measure over the same time.
# The creation prints its progress as it goes.
"$work/loadcluster" -url "$base" -stories "$STORIES" -interval-ms "$INTERVAL_MS" -create "$work/ids" 2>&1 | tee "$work/load.out" ||
	{ echo "creating the stories failed"; exit 1; }
load_pids=()
for k in $(seq 0 $((n_load - 1))); do
	first=$((WATCHERS * k / n_load))
	"${lowprio[@]}" "$work/loadcluster" -url "$(IFS=,; echo "${lb_urls[*]}")" -ids "$work/ids" -first "$first" \
		-watchers $((WATCHERS * (k + 1) / n_load - first)) -interval-ms "$INTERVAL_MS" -duration "$DURATION" \
		-warmup 10s -start "$work/go" -out "$work/load$k.json" >"$work/load$k.out" 2>&1 &
	load_pids+=($!)
	pids+=($!)
done
# Faults start once the watchers are connected and measuring.
for k in "${!load_pids[@]}"; do
	for _ in $(seq 1 36000); do
		grep -q 'watchers connected' "$work/load$k.out" 2>/dev/null && break
		kill -0 "${load_pids[$k]}" 2>/dev/null || break
		sleep 0.1
	done
	sed "s/^/load $k: /" "$work/load$k.out"
done
touch "$work/go"
sleep 10 # the load's warm-up
measured=$SECONDS
usage "under load"

# The lobby: a page of 50, many times, while the load runs.
lobby=()
for _ in $(seq 1 200); do
	lobby+=("$(curl -s -o /dev/null -w '%{time_total}' "$base/v1/simulations?status=running&limit=50")")
done
printf '%s\n' "${lobby[@]}" | sort -n | awk '{a[NR]=$1} END {printf "lobby page of 50 (%d requests): p50 %.1f ms, p99 %.1f ms\n", NR, a[int(NR*0.5)]*1000, a[int(NR*0.99)]*1000}'

if [ "$FAULTS" = 1 ]; then faults "$measured"; fi
for k in "${!load_pids[@]}"; do
	wait "${load_pids[$k]}" || { echo "load $k failed:"; cat "$work/load$k.out"; exit 1; }
done
"$work/loadcluster" -url "$base" -ids "$work/ids" -merge "$(for k in "${!load_pids[@]}"; do printf '%s,' "$work/load$k.json"; done)" ||
	{ echo "merging the load's figures failed"; exit 1; }
usage "after the run"
# Every story's turns are stored without a hole: as many rows as its head.
psql "$db_url" -Atc "select count(*), coalesce(sum(head), 0),
	count(*) filter (where head <> (select count(*) from turns t where t.sim_id = s.id)) from simulations s" |
	awk -F'|' '{printf "stored: %d stories, %d turns, %d stories whose turns are not 1..head\n", $1, $2, $3}'
