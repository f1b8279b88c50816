#!/usr/bin/env bash
# `make bench`: throughput and latency of `xpromo serve` next to a bare
# handler, ingest rate, and end-to-end visibility delay. See docs/BENCHMARKS.md.
#
# Speed goals are reported (as ratios against the bare handler measured in
# the same run, or against the goal), never enforced: the exit status is
# non-zero only when a stage could not run.
#
# Environment (defaults in brackets):
#   BENCH_SECONDS [10]           each throughput / fixed-rate measurement
#   BENCH_WARMUP_SECONDS [2]     warm-up before each measurement
#   BENCH_CONNECTIONS [64]       connections of the max-throughput runs
#   BENCH_WRK_THREADS [1]        wrk threads (the generator shares the 2 cores)
#   BENCH_FIXED_RATE [10000]     req/s of the fixed-rate latency run
#   BENCH_INGEST_HITS [1000000]  hits pre-filled into a stream for the ingest run
#   BENCH_INGEST_GROUP [32]      hits per stream entry in the pre-filled stream (the
#                                tracker writes one entry per group commit)
#   BENCH_INGEST_BATCH [100000]  xpromo ingest --batch-size for the ingest run
#   BENCH_E2E_SECONDS [60]       duration of the end-to-end run (the issue's goal: 600)
#   BENCH_E2E_RATE [20000]       req/s of the end-to-end run
#   BENCH_CONV_BATCH [100]  BENCH_CONV_CONNECTIONS [16]  conversions per batch request; connections of the conv stage
#   BENCH_SERVE_INGEST [false]   run serve's in-process ingester during the
#                                throughput runs too (the e2e run always has it)
#   BENCH_STAGES [max fixed ingest e2e conv reports catalog]  which stages to run
#   BENCH_CATALOG_LINKS [1000000]  links of the catalog stage's tracker snapshot
#   BENCH_REPORTS_HITS [100000000] BENCH_REPORTS_PARTNERSHIPS [2000] BENCH_REPORTS_COUNTRIES [60]
#   BENCH_REPORTS_DAYS [365]  the generated data of the reports stage (kept in database
#                             BENCH_REPORTS_DB [xpromo_bench_reports] and reused while it matches)
#   BENCH_REPORTS_RUNS [11]   calls per report timing (median and slowest printed)
#   BENCH_SERVE_FLAGS []         extra flags for every `xpromo serve`, e.g. "--commit-timeout 50ms"
#   BENCH_SERVE_BIN [bin/xpromo] the binary every `xpromo serve` runs from: an A/B of two
#                                builds in one sitting (migrations and the demo still use bin/xpromo)
#   BENCH_OUT [bench-out]        where results go (summary.txt, raw outputs, logs)
#   BENCH_SERVE_ADDR [127.0.0.1:18090]  BENCH_BARE_ADDR [127.0.0.1:18091]
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"

BENCH_SECONDS=${BENCH_SECONDS:-10}
BENCH_WARMUP_SECONDS=${BENCH_WARMUP_SECONDS:-2}
BENCH_CONNECTIONS=${BENCH_CONNECTIONS:-64}
BENCH_WRK_THREADS=${BENCH_WRK_THREADS:-1}
BENCH_FIXED_RATE=${BENCH_FIXED_RATE:-10000}
BENCH_INGEST_HITS=${BENCH_INGEST_HITS:-1000000}
BENCH_INGEST_BATCH=${BENCH_INGEST_BATCH:-100000}
BENCH_INGEST_GROUP=${BENCH_INGEST_GROUP:-32}
BENCH_E2E_SECONDS=${BENCH_E2E_SECONDS:-60}
BENCH_E2E_RATE=${BENCH_E2E_RATE:-20000}
BENCH_CONV_BATCH=${BENCH_CONV_BATCH:-100}
BENCH_CONV_CONNECTIONS=${BENCH_CONV_CONNECTIONS:-16}
BENCH_SERVE_INGEST=${BENCH_SERVE_INGEST:-false}
BENCH_SERVE_FLAGS=${BENCH_SERVE_FLAGS:-}
SERVE_BIN=${BENCH_SERVE_BIN:-bin/xpromo}
BENCH_STAGES=${BENCH_STAGES:-max fixed ingest e2e conv reports catalog}
BENCH_REPORTS_HITS=${BENCH_REPORTS_HITS:-100000000}
BENCH_REPORTS_PARTNERSHIPS=${BENCH_REPORTS_PARTNERSHIPS:-2000}
BENCH_REPORTS_COUNTRIES=${BENCH_REPORTS_COUNTRIES:-60}
BENCH_REPORTS_DAYS=${BENCH_REPORTS_DAYS:-365}
BENCH_REPORTS_DB=${BENCH_REPORTS_DB:-xpromo_bench_reports}
BENCH_CATALOG_LINKS=${BENCH_CATALOG_LINKS:-1000000}
BENCH_REPORTS_RUNS=${BENCH_REPORTS_RUNS:-11}
BENCH_OUT=${BENCH_OUT:-bench-out}
SERVE_ADDR=${BENCH_SERVE_ADDR:-127.0.0.1:18090}
BARE_ADDR=${BENCH_BARE_ADDR:-127.0.0.1:18091}

BENCH_DB=xpromo_bench
PREFIX=xpbench:
STATE_DIR=$ROOT/.data/bench
SERVICES_DATA=${XPROMO_DATA_DIR:-$ROOT/.data}

log() { printf 'bench: %s\n' "$*" >&2; }
die() {
	printf 'bench: error: %s\n' "$*" >&2
	exit 1
}

for v in BENCH_SECONDS BENCH_WARMUP_SECONDS BENCH_CONNECTIONS BENCH_WRK_THREADS BENCH_FIXED_RATE \
	BENCH_INGEST_HITS BENCH_INGEST_BATCH BENCH_INGEST_GROUP BENCH_E2E_SECONDS BENCH_E2E_RATE; do
	[[ ${!v} =~ ^[0-9]+$ ]] || die "$v='${!v}' is not a whole number"
done
((BENCH_SECONDS > 0 && BENCH_E2E_SECONDS > 0 && BENCH_INGEST_HITS > 0 && BENCH_INGEST_GROUP > 0 && BENCH_CONNECTIONS > 0 && BENCH_WRK_THREADS > 0)) ||
	die "BENCH_SECONDS, BENCH_E2E_SECONDS, BENCH_INGEST_HITS, BENCH_INGEST_GROUP, BENCH_CONNECTIONS and BENCH_WRK_THREADS must be positive"
case $BENCH_SERVE_INGEST in true | false) ;; *) die "BENCH_SERVE_INGEST must be true or false" ;; esac
for st in $BENCH_STAGES; do
	case $st in max | fixed | ingest | e2e | conv | reports | catalog) ;; *) die "BENCH_STAGES: unknown stage '$st' (want max, fixed, ingest, e2e, conv, reports, catalog)" ;; esac
done

mkdir -p "$BENCH_OUT"
OUT=$(cd "$BENCH_OUT" && pwd -P)
rm -f "$OUT"/*.json "$OUT"/*.txt "$OUT"/*.log "$OUT"/*.lua "$OUT/.times" "$OUT/.cpu-line" "$OUT/.noise"

# ------------------------------------------------------------ processes

# Everything started here is killed on exit, by pid.
PIDS=()
stop_pid() { # PID [timeout seconds]: SIGTERM, SIGKILL after the timeout
	local pid=$1 t=${2:-20} i
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < t * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "pid $pid still running after ${t}s; SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}
cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM
	for pid in "${PIDS[@]}"; do stop_pid "$pid" 20; done
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_http URL WANT_CODE NAME PID: until URL answers WANT_CODE (30 s).
wait_http() {
	local url=$1 want=$2 name=$3 pid=$4 code i
	for ((i = 0; i < 300; i++)); do
		kill -0 "$pid" 2>/dev/null || die "$name exited during start-up (see $OUT/$name.log)"
		code=$(curl -s -o /dev/null -w '%{http_code}' -A 'Mozilla/5.0 (bench warm-up) Chrome/124' "$url" 2>/dev/null || true)
		[[ $code != "$want" ]] || return 0
		sleep 0.1
	done
	die "$name did not answer $want on $url within 30 s (see $OUT/$name.log)"
}

SERVE_PID='' BARE_PID=''
# start_serve INGEST(true|false) NAME: each start gets its own state dir, so
# a spill journal left by one stage is not replayed into the next.
start_serve() {
	local extra=()
	read -r -a extra <<<"$BENCH_SERVE_FLAGS"
	XPROMO_POSTGRES_URL=$PG_URL "$SERVE_BIN" serve --http-addr "$SERVE_ADDR" --state-dir "$STATE_DIR/$2" \
		--redis-url "$SERVE_REDIS_URL" --redis-prefix "$PREFIX" --clickhouse-url "$CH_URL" \
		--ingest="$1" --log-level warn "${extra[@]}" >>"$OUT/$2.log" 2>&1 &
	SERVE_PID=$!
	PIDS+=("$SERVE_PID")
	# /healthz, not a click: a probe click would be one more stored hit than
	# the load generator answered.
	wait_http "http://$SERVE_ADDR/healthz" 200 "$2" "$SERVE_PID"
}
stop_serve() {
	[[ -z $SERVE_PID ]] || stop_pid "$SERVE_PID" 40
	SERVE_PID=''
}

# ------------------------------------------------------------ tools

need_pkgs=()
command -v wrk >/dev/null 2>&1 || need_pkgs+=(wrk)
command -v jq >/dev/null 2>&1 || need_pkgs+=(jq)
command -v curl >/dev/null 2>&1 || need_pkgs+=(curl)
if ((${#need_pkgs[@]})); then
	SUDO=''
	((EUID == 0)) || SUDO=sudo
	log "installing ${need_pkgs[*]}"
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_pkgs[@]}" </dev/null >&2 ||
		{ $SUDO apt-get update -q >&2 && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_pkgs[@]}" </dev/null >&2; } ||
		log "could not install ${need_pkgs[*]}"
fi
command -v jq >/dev/null 2>&1 || die "jq is needed to read the load generator's results"
command -v curl >/dev/null 2>&1 || die "curl is needed"
HAVE_WRK=0
command -v wrk >/dev/null 2>&1 && HAVE_WRK=1
((HAVE_WRK)) || log "wrk is missing: max-throughput runs use xpromo-load --max (a Go client, slower)"

log "building bin/xpromo, bin/xpromo-bare, bin/xpromo-load"
mkdir -p bin
go build -o bin/xpromo ./cmd/xpromo
go build -o bin/xpromo-bare ./cmd/xpromo-bare
go build -o bin/xpromo-load ./cmd/xpromo-load
[[ -x $SERVE_BIN ]] || die "BENCH_SERVE_BIN=$SERVE_BIN is not an executable (paths are relative to $ROOT)"

# ------------------------------------------------------------ services

urls=$(scripts/services.sh up)
REDIS_URL=$(sed -n 's/^XPROMO_REDIS_URL=//p' <<<"$urls")
base_ch=$(sed -n 's/^XPROMO_CLICKHOUSE_URL=//p' <<<"$urls")
base_pg=$(sed -n 's/^XPROMO_POSTGRES_URL=//p' <<<"$urls")
[[ -n $REDIS_URL && -n $base_ch && -n $base_pg ]] || die "scripts/services.sh up printed no URLs"
CH_URL=${base_ch%/*}/$BENCH_DB
# pg_url DB: the PostgreSQL URL of database DB on the services' server.
pg_url() {
	local b=${base_pg%%\?*} q=''
	[[ $base_pg != *\?* ]] || q="?${base_pg#*\?}"
	printf '%s/%s%s' "${b%/*}" "$1" "$q"
}
PG_URL=$(pg_url "$BENCH_DB")
# Every xpromo command reads the catalog's URL from the environment (serve
# too: an older BENCH_SERVE_BIN without --postgres-url ignores it).
export XPROMO_CLICKHOUSE_URL=$CH_URL XPROMO_REDIS_URL=$REDIS_URL XPROMO_POSTGRES_URL=$PG_URL
# serve talks to the local Redis over its unix socket, as a tracker next to
# its Redis would (BENCH_REDIS_TCP=1: over loopback TCP like everything else).
SERVE_REDIS_URL=$REDIS_URL
redis_sock="${XPROMO_DATA_DIR:-$ROOT/.data}/redis/redis.sock"
if [[ -z ${BENCH_REDIS_TCP:-} && -S $redis_sock ]]; then
	SERVE_REDIS_URL="unix://$redis_sock?db=${REDIS_URL##*/}"
fi
[[ $REDIS_URL =~ ^redis://([^:/]+):([0-9]+)/([0-9]+)$ ]] || die "cannot read host and port from $REDIS_URL"
R_HOST=${BASH_REMATCH[1]} R_PORT=${BASH_REMATCH[2]} R_DB=${BASH_REMATCH[3]}
[[ $CH_URL =~ ^clickhouse://([^:/]+):([0-9]+)/ ]] || die "cannot read host and port from $CH_URL"
C_HOST=${BASH_REMATCH[1]} C_PORT=${BASH_REMATCH[2]}

rcli() { redis-cli -h "$R_HOST" -p "$R_PORT" -n "$R_DB" "$@"; }
chq() { clickhouse-client --host "$C_HOST" --port "$C_PORT" -q "$1"; }
pgq() { psql "$base_pg" -qtAX -v ON_ERROR_STOP=1 -c "$1"; }

clean_redis() { # removes every key of the bench prefix, 500 at a time
	rcli --scan --pattern "${PREFIX}*" | xargs -r -n 500 redis-cli -h "$R_HOST" -p "$R_PORT" -n "$R_DB" unlink >/dev/null
}

log "fresh database $BENCH_DB, Redis keys ${PREFIX}*, state in $STATE_DIR"
chq "DROP DATABASE IF EXISTS $BENCH_DB"
chq "CREATE DATABASE $BENCH_DB"
pgq "DROP DATABASE IF EXISTS $BENCH_DB WITH (FORCE)" # migrate creates it
clean_redis
rm -rf -- "$STATE_DIR"
mkdir -p "$STATE_DIR"
bin/xpromo migrate --clickhouse-url "$CH_URL" --log-level warn >"$OUT/migrate.log" 2>&1 || {
	cat "$OUT/migrate.log" >&2
	die "xpromo migrate failed"
}
bin/xpromo demo --clickhouse-url "$CH_URL" --public-url "http://$SERVE_ADDR" --log-level warn >"$OUT/demo.log" 2>&1 || {
	cat "$OUT/demo.log" >&2
	die "xpromo demo failed"
}

# --------------------------------------------------------- CPU accounting

CLK_TCK=$(getconf CLK_TCK)
REDIS_PID=$(rcli info server 2>/dev/null | tr -d '\r' | sed -n 's/^process_id://p')
CH_PID=''
[[ ! -r $SERVICES_DATA/clickhouse/clickhouse-server.pid ]] || read -r CH_PID <"$SERVICES_DATA/clickhouse/clickhouse-server.pid" || true
proc_ticks() { # PID -> utime+stime in ticks (0 when gone)
	local stat=''
	if [[ -z $1 ]] || ! read -r stat 2>/dev/null <"/proc/$1/stat"; then
		echo 0
		return
	fi
	stat=${stat##*) }
	awk '{ print $12 + $13 }' <<<"$stat"
}
# CPU of the waited-for children of this shell (the load generators), in
# ticks. `times` must run in this shell, not in a $(...) subshell, whose
# children counters start at zero.
CHILD_TICKS=0
children_ticks() {
	times >"$OUT/.times"
	CHILD_TICKS=$(sed -n 2p "$OUT/.times" | awk -v tck="$CLK_TCK" '{
		split($1, u, /[ms]/); split($2, s, /[ms]/)
		printf "%d", ((u[1] * 60 + u[2]) + (s[1] * 60 + s[2])) * tck
	}')
}
total_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }
idle_ticks() { awk '/^cpu / { print $5 + $6 }' /proc/stat; }
CPU_T0=() CPU_WALL0=0
cpu_begin() {
	children_ticks
	CPU_T0=("$(proc_ticks "$SERVE_PID")" "$(proc_ticks "$BARE_PID")" "$(proc_ticks "$REDIS_PID")" "$(proc_ticks "$CH_PID")" "$CHILD_TICKS" "$(total_ticks)" "$(idle_ticks)" "$(proc_ticks "${INGEST_PID:-}")")
	CPU_WALL0=$EPOCHREALTIME
}
# cpu_end STAGE: appends to cpu.txt the stage's wall time, how busy the
# machine was, and CPU seconds per process; "other" is everything else
# (interrupt and softirq time, which loopback networking is largely
# accounted as, and processes this script did not start).
cpu_end() {
	children_ticks
	local now=("$(proc_ticks "$SERVE_PID")" "$(proc_ticks "$BARE_PID")" "$(proc_ticks "$REDIS_PID")" "$(proc_ticks "$CH_PID")" "$CHILD_TICKS" "$(total_ticks)" "$(idle_ticks)" "$(proc_ticks "${INGEST_PID:-}")")
	awk -v stage="$1" -v tck="$CLK_TCK" -v wall="$(awk -v a="$CPU_WALL0" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')" \
		-v s0="${CPU_T0[0]}" -v s1="${now[0]}" -v b0="${CPU_T0[1]}" -v b1="${now[1]}" \
		-v r0="${CPU_T0[2]}" -v r1="${now[2]}" -v c0="${CPU_T0[3]}" -v c1="${now[3]}" \
		-v l0="${CPU_T0[4]}" -v l1="${now[4]}" -v t0="${CPU_T0[5]}" -v t1="${now[5]}" \
		-v i0="${CPU_T0[6]}" -v i1="${now[6]}" -v g0="${CPU_T0[7]}" -v g1="${now[7]}" 'BEGIN {
		n = (t1 - t0); if (n <= 0) n = 1
		busy = n - (i1 - i0)
		mine = (s1 - s0) + (b1 - b0) + (g1 - g0) + (r1 - r0) + (c1 - c0) + (l1 - l0)
		other = busy - mine # per-process and machine figures are sampled differently: clamp
		if (other < 0) other = 0
		printf "%-15s %5.1fs, %3.0f%% busy; CPU s: serve %4.1f  bare %4.1f  ingest %4.1f  redis %4.1f  clickhouse %4.1f  load gen %4.1f  other %4.1f\n",
			stage, wall, 100 * busy / n, (s1 - s0) / tck, (b1 - b0) / tck, (g1 - g0) / tck, (r1 - r0) / tck, (c1 - c0) / tck, (l1 - l0) / tck, other / tck
		# share of the machine taken by "other", for the noise warning
		printf "%s %.3f\n", stage, other / n
	}' >"$OUT/.cpu-line"
	sed -n 1p "$OUT/.cpu-line" | tee -a "$OUT/cpu.txt" >&2
	sed -n 2p "$OUT/.cpu-line" >>"$OUT/.noise"
}

# ------------------------------------------------------------ measurements

# wrk script: a browser User-Agent and an X-Forwarded-For from the same
# countries as xpromo-load, from 512 requests prepared per thread.
cat >"$OUT/people.lua" <<'EOF'
local nets = { -- first octet, second octet range, weight
	{ 91, 0, 31, 50 }, { 86, 192, 223, 15 }, { 73, 0, 255, 15 },
	{ 86, 128, 191, 10 }, { 88, 0, 31, 5 }, { 79, 0, 31, 5 },
}
local uas = {
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
	"Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
}
local reqs, n = {}, 0
function init(args)
	math.randomseed(os.time() + math.floor(os.clock() * 1e6))
	for i = 1, 512 do
		local w, net = math.random(100), nets[1]
		for _, c in ipairs(nets) do
			if w <= c[4] then net = c break end
			w = w - c[4]
		end
		local ip = string.format("%d.%d.%d.%d", net[1], math.random(net[2], net[3]), math.random(0, 255), math.random(1, 254))
		reqs[i] = wrk.format("GET", nil, { ["User-Agent"] = uas[math.random(#uas)], ["X-Forwarded-For"] = ip,
			["Accept"] = "text/html,image/avif,image/webp,*/*;q=0.8", ["Host"] = wrk.headers["Host"] })
	end
end
function request()
	n = n + 1
	return reqs[n % 512 + 1]
end
EOF

to_ms() { # wrk duration (123.00us, 1.23ms, 1.02s, 2.00m) -> milliseconds
	awk -v v="$1" 'BEGIN {
		if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
		else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
		else if (v ~ /m$/) { sub(/m$/, "", v); printf "%.3f", v * 60000 }
		else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
		else printf "nan" }'
}

# max_run NAME URL: closed-loop maximum throughput; sets RPS P50 P99 BAD.
RPS='' P50='' P99='' BAD=''
max_run() {
	local name=$1 url=$2 f=$OUT/$1.txt
	if ((HAVE_WRK)); then
		wrk -t"$BENCH_WRK_THREADS" -c"$BENCH_CONNECTIONS" -d"${BENCH_WARMUP_SECONDS}s" -s "$OUT/people.lua" "$url" >/dev/null 2>&1 || true
		cpu_begin
		wrk -t"$BENCH_WRK_THREADS" -c"$BENCH_CONNECTIONS" -d"${BENCH_SECONDS}s" --latency -s "$OUT/people.lua" "$url" >"$f" 2>&1 ||
			die "wrk failed: $(cat "$f")"
		cpu_end "$name"
		RPS=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$f")
		P50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$f")")
		P99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$f")")
		BAD=$(awk '/Non-2xx or 3xx responses:/ { n += $NF } /Socket errors:/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }' "$f")
	else
		bin/xpromo-load --url "$url" --max --workers "$BENCH_CONNECTIONS" --duration "${BENCH_WARMUP_SECONDS}s" >/dev/null 2>&1 || true
		cpu_begin
		bin/xpromo-load --url "$url" --max --workers "$BENCH_CONNECTIONS" --duration "${BENCH_SECONDS}s" --json >"$f" 2>>"$OUT/load.log" ||
			die "xpromo-load failed (see $OUT/load.log)"
		cpu_end "$name"
		RPS=$(jq -r '.rate | floor' "$f")
		P50=$(jq -r '.latency_ms.p50' "$f")
		P99=$(jq -r '.latency_ms.p99' "$f")
		BAD=$(jq -r '.not_2xx_3xx + .errors' "$f")
	fi
	[[ -n $RPS ]] || die "no result in $f"
	log "$(printf '%-22s %8s req/s  p50 %s ms  p99 %s ms  bad answers %s' "$name" "$RPS" "$P50" "$P99" "$BAD")"
}

# rate_run NAME URL RATE SECONDS [extra xpromo-load flags]: open loop; JSON in $OUT/NAME.json.
rate_run() {
	local name=$1 url=$2 rate=$3 secs=$4
	shift 4
	cpu_begin
	bin/xpromo-load --url "$url" --rate "$rate" --duration "${secs}s" --json "$@" >"$OUT/$name.json" 2>>"$OUT/load.log" ||
		die "xpromo-load failed (see $OUT/load.log)"
	cpu_end "$name"
	tail -n 1 "$OUT/load.log" | sed 's/^/bench: /' >&2
}

# serve_metrics: one line of counters from serve's /metrics: hits durable in
# redis, in the journal, commit groups (sum, count), commit seconds (sum,
# count), rejected hits, spilling (0/1), journal bytes.
serve_metrics() {
	curl -s "http://$SERVE_ADDR/metrics" | awk '
		/^xpromo_hits_durable_total\{where="redis"\}/ { r = $2 }
		/^xpromo_hits_durable_total\{where="journal"\}/ { j = $2 }
		/^xpromo_commit_group_size_sum/ { gs = $2 } /^xpromo_commit_group_size_count/ { gc = $2 }
		/^xpromo_commit_seconds_sum/ { cs = $2 } /^xpromo_commit_seconds_count/ { cc = $2 }
		/^xpromo_hits_rejected_total/ { rej += $2 }
		/^xpromo_spilling / { sp = $2 } /^xpromo_journal_bytes / { jb = $2 }
		END { printf "%d %d %d %d %.6f %d %d %d %d\n", r, j, gs, gc, cs, cc, rej, sp, jb }'
}
SM0=''
serve_stats_begin() { SM0=$(serve_metrics); }
serve_stats_end() { # STAGE: what serve did during the stage, appended to serve-stats.txt
	local now
	now=$(serve_metrics)
	awk -v stage="$1" -v a="$SM0" -v b="$now" 'BEGIN {
		split(a, x, " "); split(b, y, " ")
		r = y[1] - x[1]; j = y[2] - x[2]; g = y[4] - x[4]; c = y[6] - x[6]
		printf "%-22s hits durable %d (%d in Redis, %d in the spill journal); %d group commits, %.1f hits each, %.2f ms each; rejected %d\n",
			stage, r + j, r, j, g, (g ? (y[3] - x[3]) / g : 0), (c ? 1000 * (y[5] - x[5]) / c : 0), y[7] - x[7]
	}' | tee -a "$OUT/serve-stats.txt" >&2
}
# wait_serve_idle: until serve writes to Redis directly again (its spill
# journal replayed), so that one stage's spill does not slow the next.
wait_serve_idle() {
	local m i
	for ((i = 0; i < 600; i++)); do
		m=$(serve_metrics)
		read -r _ _ _ _ _ _ _ sp jb <<<"$m"
		if [[ $sp == 0 && $jb == 0 ]]; then
			((i == 0)) || log "serve replayed its spill journal in $((i / 10)).$((i % 10)) s"
			return 0
		fi
		((i > 0)) || log "serve is spilling (journal $jb bytes); waiting for the replay"
		sleep 0.1
	done
	log "serve still spilling after 60 s; going on"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "-" && b > 0) printf "%.2f", a / b; else printf "-" }'; }

# How busy the machine is before anything starts: other processes running
# during the stages make the figures noisy (see "other" in the CPU lines).
b0=$(total_ticks) i0=$(idle_ticks)
sleep 2
PRE_BUSY=$(awk -v b0="$b0" -v i0="$i0" -v b1="$(total_ticks)" -v i1="$(idle_ticks)" 'BEGIN { n = b1 - b0; printf "%.0f", (n > 0 ? 100 * (n - (i1 - i0)) / n : 0) }')
((PRE_BUSY < 15)) || log "warning: the machine is already ${PRE_BUSY}% busy before the benchmark starts; expect noisy figures"

INGEST_PID=''
{
	echo "cpu: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
	echo "go: $(go env GOVERSION); redis: $(rcli info server | tr -d '\r' | sed -n 's/^redis_version://p'); clickhouse: $(chq 'SELECT version()')"
} >"$OUT/machine.txt"
: >"$OUT/cpu.txt"
: >"$OUT/serve-stats.txt"

run_stage() { [[ " $BENCH_STAGES " == *" $1 "* ]]; }
# Results; "-" for stages not run.
RB_RPS=- RB_P50=- RB_P99=- RB_BAD=0 RS_RPS=- RS_P50=- RS_P99=- RS_BAD=0
PB_RPS=- PB_P50=- PB_P99=- PB_BAD=0 PS_RPS=- PS_P50=- PS_P99=- PS_BAD=0
FB_P99=- FB_RATE=- FB_BAD=0 FS_P99=- FS_RATE=- FS_BAD=0
ING_RATE=- ING_STEADY=- ING_SECS=- ING_TIMEOUT=false ING_RSS=-
E_SENT=- E_RATE=- E_STORED=- E_MISSING=0 E_UNRES=0 E_LAG50=- E_LAG99=- E_LAGMAX=- E_P99=- E_BAD=0
C1_RPS=- C1_P99=- C1_BAD=0 CB_RPS=- CB_CPS=- CB_P99=- CB_BAD=0 C_ANSWERED=- C_STORED=-
R_DATA=- R_GEN=- R_COUNTRY=- R_ALL=-
K_FULL=- K_FULL_CPU=- K_DELTA=- K_DELTA_CPU=- K_HEAP=- K_REACH=- K_REACH50=-

SERVE_LABEL="ingest off"
[[ $BENCH_SERVE_INGEST == false ]] || SERVE_LABEL="ingest on"
max_serve() { # NAME URL: max_run against serve, with serve's own counters
	wait_serve_idle
	serve_stats_begin
	max_run "$1" "$2"
	serve_stats_end "$1"
}
jqr() { jq -r "$1" "$2"; }

if run_stage max || run_stage fixed; then
	log "starting bare on $BARE_ADDR and serve on $SERVE_ADDR ($SERVE_LABEL)"
	bin/xpromo-bare --addr "$BARE_ADDR" >"$OUT/bare.log" 2>&1 &
	BARE_PID=$!
	PIDS+=("$BARE_PID")
	wait_http "http://$BARE_ADDR/r/demo" 302 bare "$BARE_PID"
	start_serve "$BENCH_SERVE_INGEST" serve
fi

# 1. Maximum throughput, closed loop, bare then serve for each endpoint.
# Before each run serve must be idle: replaying a spill journal in the
# background would take CPU from the bare handler's run.
if run_stage max; then
	wait_serve_idle
	max_run redirect-bare "http://$BARE_ADDR/r/demo"
	RB_RPS=$RPS RB_P50=$P50 RB_P99=$P99 RB_BAD=$BAD
	max_serve redirect-serve "http://$SERVE_ADDR/r/demo"
	RS_RPS=$RPS RS_P50=$P50 RS_P99=$P99 RS_BAD=$BAD
	wait_serve_idle
	max_run pixel-bare "http://$BARE_ADDR/p.gif?l=demo"
	PB_RPS=$RPS PB_P50=$P50 PB_P99=$P99 PB_BAD=$BAD
	max_serve pixel-serve "http://$SERVE_ADDR/p.gif?l=demo"
	PS_RPS=$RPS PS_P50=$P50 PS_P99=$P99 PS_BAD=$BAD
fi

# 2. Latency at a fixed rate (open loop, redirects).
if run_stage fixed; then
	wait_serve_idle
	bin/xpromo-load --url "http://$BARE_ADDR/r/demo" --rate "$BENCH_FIXED_RATE" --duration "${BENCH_WARMUP_SECONDS}s" >/dev/null 2>&1 || true
	rate_run fixed-bare "http://$BARE_ADDR/r/demo" "$BENCH_FIXED_RATE" "$BENCH_SECONDS"
	wait_serve_idle
	bin/xpromo-load --url "http://$SERVE_ADDR/r/demo" --rate "$BENCH_FIXED_RATE" --duration "${BENCH_WARMUP_SECONDS}s" >/dev/null 2>&1 || true
	wait_serve_idle
	serve_stats_begin
	rate_run fixed-serve "http://$SERVE_ADDR/r/demo" "$BENCH_FIXED_RATE" "$BENCH_SECONDS"
	serve_stats_end fixed-serve
	FB_P99=$(jqr '.latency_ms.p99' "$OUT/fixed-bare.json") FB_RATE=$(jqr '.rate | floor' "$OUT/fixed-bare.json")
	FS_P99=$(jqr '.latency_ms.p99' "$OUT/fixed-serve.json") FS_RATE=$(jqr '.rate | floor' "$OUT/fixed-serve.json")
	FB_BAD=$(jqr '.not_2xx_3xx + .errors' "$OUT/fixed-bare.json") FS_BAD=$(jqr '.not_2xx_3xx + .errors' "$OUT/fixed-serve.json")
fi
if [[ -n $SERVE_PID ]]; then
	stop_serve
	stop_pid "$BARE_PID" 10
	BARE_PID=''
fi

# 3. Ingest: N hits waiting in a stream, then `xpromo ingest` alone.
if run_stage ingest; then
	log "ingest: pre-filling a stream with $BENCH_INGEST_HITS hits, $BENCH_INGEST_GROUP per entry (ingester stopped)"
	clean_redis
	before=$(chq "SELECT count() FROM $BENCH_DB.hits")
	bin/xpromo-load --fill-stream "$BENCH_INGEST_HITS" --group "$BENCH_INGEST_GROUP" --redis-url "$REDIS_URL" --prefix "$PREFIX" --json >"$OUT/ingest-fill.json" 2>>"$OUT/load.log" ||
		die "filling the stream failed (see $OUT/load.log)"
	tail -n 1 "$OUT/load.log" | sed 's/^/bench: /' >&2
	since=$(date +%s%3N)
	cpu_begin
	bin/xpromo ingest --redis-url "$REDIS_URL" --redis-prefix "$PREFIX" --clickhouse-url "$CH_URL" \
		--batch-size "$BENCH_INGEST_BATCH" --log-level warn >"$OUT/ingest.log" 2>&1 &
	INGEST_PID=$!
	PIDS+=("$INGEST_PID")
	wait_timeout=$((120 + BENCH_INGEST_HITS / 10000))
	bin/xpromo-load --wait-ingest "$((before + BENCH_INGEST_HITS))" --since-ms "$since" --redis-url "$REDIS_URL" --prefix "$PREFIX" \
		--clickhouse-url "$CH_URL" --wait-timeout "${wait_timeout}s" --json >"$OUT/ingest.json" 2>>"$OUT/load.log" || true
	cpu_end ingest
	tail -n 1 "$OUT/load.log" | sed 's/^/bench: /' >&2
	# The ingester's peak resident set (VmHWM), read before it stops: the
	# figure the README's "Ingest memory against CPU" quotes.
	ING_RSS=$(awk '/^VmHWM:/ { printf "%d MiB", $2 / 1024 }' "/proc/$INGEST_PID/status" 2>/dev/null || true)
	ING_RSS=${ING_RSS:-?}
	stop_pid "$INGEST_PID" 40
	INGEST_PID=''
	[[ -s $OUT/ingest.json ]] || die "the ingest wait failed (see $OUT/load.log and $OUT/ingest.log)"
	ING_RATE=$(jqr '.hits_per_s | floor' "$OUT/ingest.json")
	ING_STEADY=$(jqr '.hits_per_s_after_first_batch | floor' "$OUT/ingest.json")
	ING_SECS=$(jqr '.seconds * 100 | floor / 100' "$OUT/ingest.json")
	ING_TIMEOUT=$(jqr '.timed_out' "$OUT/ingest.json")
fi

# 4. End to end: serve with its ingester on, redirects at a fixed rate,
# until every answered hit is visible in ClickHouse.
if run_stage e2e; then
	log "e2e: ${BENCH_E2E_RATE} req/s for ${BENCH_E2E_SECONDS}s through serve with ingest on"
	clean_redis
	start_serve true serve-e2e
	sleep 1
	serve_stats_begin
	rate_run e2e "http://$SERVE_ADDR/r/demo" "$BENCH_E2E_RATE" "$BENCH_E2E_SECONDS" \
		--clickhouse-url "$CH_URL" --e2e-table hits --e2e-wait 3m
	serve_stats_end e2e
	stop_serve
	E=$OUT/e2e.json
	E_SENT=$(jqr '.requests' "$E") E_RATE=$(jqr '.rate | floor' "$E")
	E_STORED=$(jqr '.e2e.stored' "$E") E_MISSING=$(jqr '.e2e.missing' "$E") E_UNRES=$(jqr '.e2e.unresolved' "$E")
	E_LAG50=$(jqr '.e2e.lag_p50_s * 100 | floor / 100' "$E") E_LAG99=$(jqr '.e2e.lag_p99_s * 100 | floor / 100' "$E")
	E_LAGMAX=$(jqr '.e2e.lag_max_s * 100 | floor / 100' "$E")
	E_P99=$(jqr '.latency_ms.p99' "$E") E_BAD=$(jqr '.not_2xx_3xx + .errors' "$E")
fi

# 5. Conversions through the API (POST /v1/conversions, service token, no
# API rate limit): one conversion per request, then batches of
# BENCH_CONV_BATCH; every one has its own order id. Then wait until every
# conversion answered is stored.
if run_stage conv; then
	((HAVE_WRK)) || die "the conv stage needs wrk (POST bodies)"
	log "conv: POST /v1/conversions, single and batches of $BENCH_CONV_BATCH"
	clean_redis
	before=$(chq "SELECT count() FROM $BENCH_DB.conversions")
	CONV_TOKEN=$(bin/xpromo token create --role service --name "bench $(date +%s)" --clickhouse-url "$CH_URL" 2>>"$OUT/conv.log") ||
		die "token create failed (see $OUT/conv.log)"
	BENCH_SERVE_FLAGS="$BENCH_SERVE_FLAGS --api-rate 0 --api-ip-rate 0" start_serve true serve-conv
	for mode in single batch; do
		n=1
		[[ $mode == single ]] || n=$BENCH_CONV_BATCH
		cat >"$OUT/conv-$mode.lua" <<LUA
local n, seq, thread_id = $n, 0, 0
local counter = 0
function setup(thread) counter = counter + 1; thread:set("tid", counter) end
function init(args) thread_id = tid end
function request()
	local parts = {}
	for i = 1, n do
		seq = seq + 1
		parts[i] = string.format('{"type":"purchase","user_id":"u%d-%d","order_id":"$mode-%d-%d-%d","amount":"12.50","currency":"EUR"}',
			thread_id, seq, os.time(), thread_id, seq)
	end
	local body = parts[1]
	if n > 1 then body = "[" .. table.concat(parts, ",") .. "]" end
	return wrk.format("POST", "/v1/conversions", {["Authorization"] = "Bearer $CONV_TOKEN", ["Content-Type"] = "application/json"}, body)
end
LUA
		f=$OUT/conv-$mode.txt
		cpu_begin
		wrk -t"$BENCH_WRK_THREADS" -c"$BENCH_CONV_CONNECTIONS" -d"${BENCH_SECONDS}s" --latency -s "$OUT/conv-$mode.lua" "http://$SERVE_ADDR/" >"$f" 2>&1 ||
			die "wrk failed: $(cat "$f")"
		cpu_end "conv-$mode"
		rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$f")
		p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$f")")
		bad=$(awk '/Non-2xx or 3xx responses:/ { n += $NF } /Socket errors:/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }' "$f")
		reqs=$(awk '/requests in/ { print $1 }' "$f")
		if [[ $mode == single ]]; then
			C1_RPS=$rps C1_P99=$p99 C1_BAD=$bad C1_REQS=$reqs
		else
			CB_RPS=$rps CB_CPS=$((rps * n)) CB_P99=$p99 CB_BAD=$bad CB_REQS=$reqs
		fi
		log "$(printf 'conv %-7s %8s req/s (%s conversions/s)  p99 %s ms  bad answers %s' "$mode" "$rps" "$((rps * n))" "$p99" "$bad")"
	done
	C_ANSWERED=$((C1_REQS - C1_BAD + (CB_REQS - CB_BAD) * BENCH_CONV_BATCH))
	for ((i = 0; i < 600; i++)); do
		C_STORED=$(($(chq "SELECT count() FROM $BENCH_DB.conversions") - before))
		((C_STORED < C_ANSWERED)) || break
		sleep 0.5
	done
	stop_serve
fi

# 6. Reports at scale: BENCH_REPORTS_HITS generated hits (xpromo gen, kept
# in their own database and reused while they match), countries in their
# own time zones (scripts/zones.tsv), then each report of last month timed
# through the API (curl, an admin token), median and slowest of
# BENCH_REPORTS_RUNS calls.
if run_stage reports; then
	RDB_URL="clickhouse://$C_HOST:$C_PORT/$BENCH_REPORTS_DB"
	RDB_PG_URL=$(pg_url "$BENCH_REPORTS_DB")
	have=$(chq "SELECT count() FROM $BENCH_REPORTS_DB.hits" 2>/dev/null || echo 0)
	# The catalog is in PostgreSQL: data generated before it moved there
	# has none, and is generated again.
	partners=$(psql "$RDB_PG_URL" -qtAX -c "SELECT count(*) FROM partners" 2>/dev/null || echo 0)
	((partners > 0)) || have=0
	want_tag="$BENCH_REPORTS_HITS/$BENCH_REPORTS_PARTNERSHIPS/$BENCH_REPORTS_COUNTRIES/$BENCH_REPORTS_DAYS"
	tag=$(chq "SELECT timezone FROM $BENCH_REPORTS_DB.country_settings FINAL WHERE country = 'ZZ'" 2>/dev/null || true)
	if [[ $have != "$BENCH_REPORTS_HITS" || $tag != "bench:$want_tag" ]]; then
		log "reports: generating $BENCH_REPORTS_HITS hits, $BENCH_REPORTS_PARTNERSHIPS partnerships, $BENCH_REPORTS_COUNTRIES countries, $BENCH_REPORTS_DAYS days into $BENCH_REPORTS_DB (minutes)"
		chq "DROP DATABASE IF EXISTS $BENCH_REPORTS_DB"
		pgq "DROP DATABASE IF EXISTS $BENCH_REPORTS_DB WITH (FORCE)"
		bin/xpromo migrate --clickhouse-url "$RDB_URL" --postgres-url "$RDB_PG_URL" >>"$OUT/reports-gen.log" 2>&1 || die "migrate failed (see $OUT/reports-gen.log)"
		gen0=$EPOCHREALTIME
		bin/xpromo gen --hits "$BENCH_REPORTS_HITS" --partnerships "$BENCH_REPORTS_PARTNERSHIPS" --countries "$BENCH_REPORTS_COUNTRIES" \
			--days "$BENCH_REPORTS_DAYS" --clickhouse-url "$RDB_URL" --postgres-url "$RDB_PG_URL" >>"$OUT/reports-gen.log" 2>&1 || die "xpromo gen failed (see $OUT/reports-gen.log)"
		R_GEN=$(awk -v a="$gen0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f s", b - a }')
		while read -r cc tz; do
			bin/xpromo country set-timezone --country "$cc" --timezone "$tz" --clickhouse-url "$RDB_URL" --postgres-url "$RDB_PG_URL" >/dev/null
		done <scripts/zones.tsv
		# A marker of what was generated (ZZ is no country): reused next time.
		chq "INSERT INTO $BENCH_REPORTS_DB.country_settings (country, timezone, updated_at, updated_by, version) VALUES ('ZZ', 'bench:$want_tag', now(), 'bench', 1)"
	else
		R_GEN="reused"
	fi
	R_DATA=$(chq "SELECT concat(toString(sumIf(rows, table = 'hits')), ' hits (', formatReadableSize(sumIf(bytes_on_disk, table = 'hits')), '), ',
		toString(sumIf(rows, table = 'hits_hourly')), ' rollup rows, ', toString(sumIf(rows, table = 'attributions')), ' attribution rows')
		FROM system.parts WHERE active AND database = '$BENCH_REPORTS_DB'")
	R_TOKEN=$(bin/xpromo token create --role admin --name "bench reports $(date +%s)" --clickhouse-url "$RDB_URL" --postgres-url "$RDB_PG_URL" 2>>"$OUT/reports.log") ||
		die "token create failed (see $OUT/reports.log)"
	CH_URL_SAVED=$CH_URL PG_URL_SAVED=$PG_URL
	CH_URL=$RDB_URL PG_URL=$RDB_PG_URL
	BENCH_SERVE_FLAGS="$BENCH_SERVE_FLAGS --api-rate 0 --api-ip-rate 0 --attribute-every 0" start_serve false serve-reports
	CH_URL=$CH_URL_SAVED PG_URL=$PG_URL_SAVED
	last_month_start=$(date -u -d "$(date -u +%Y-%m-01) -1 month" +%Y-%m-%d)
	last_month_end=$(date -u -d "$(date -u +%Y-%m-01) -1 day" +%Y-%m-%d)
	time_report() { # NAME QUERY: median and slowest seconds of BENCH_REPORTS_RUNS calls
		local url="http://$SERVE_ADDR/v1/reports/$1?from=$last_month_start&to=$last_month_end$2" i code
		curl -s -o /dev/null -H "Authorization: Bearer $R_TOKEN" "$url" # warm-up
		for ((i = 0; i < BENCH_REPORTS_RUNS; i++)); do
			code=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' -H "Authorization: Bearer $R_TOKEN" "$url")
			[[ ${code%% *} == 200 ]] || die "GET $url answered ${code%% *}"
			echo "${code#* }"
		done | sort -n | awk '{ t[NR] = $1 } END { printf "%.0f ms median, %.0f ms slowest", 1000 * t[int((NR + 1) / 2)], 1000 * t[NR] }'
	}
	R_COUNTRY=$(time_report partnerships "&country=DE")
	log "reports: partnerships, one country (DE), last month: $R_COUNTRY"
	R_ALL=$(time_report partnerships "")
	log "reports: partnerships, all countries, last month: $R_ALL"
	R_ALL_DAYS=$(time_report partnerships "&granularity=day")
	R_BAL=$(time_report balance "")
	R_OVL=$(time_report overlaps "&country=DE")
	R_QUAL=$(time_report quality "&country=DE")
	stop_serve
fi

# ------------------------------------------------------------ catalog
# A tracker's catalog of BENCH_CATALOG_LINKS links kept current: a whole
# load (every refresh before changes were followed: the baseline) against
# one changed link followed by its change, and the time 200 changes took
# to reach a tracker told over Redis (p99). A Go benchmark on the services'
# PostgreSQL and Redis (domain/catalog, BenchmarkCatalogRefresh).
if run_stage catalog; then
	log "catalog: $BENCH_CATALOG_LINKS links, whole load against one change (a minute or two)"
	BENCH_CATALOG_LINKS=$BENCH_CATALOG_LINKS XPROMO_POSTGRES_URL=$base_pg XPROMO_REDIS_URL=$REDIS_URL go test ./domain/catalog/ -run '^$' \
		-bench BenchmarkCatalogRefresh -benchtime 5x -v >"$OUT/catalog.txt" 2>&1 || die "catalog benchmark failed (see $OUT/catalog.txt)"
	bench_field() { awk -v name="$1" -v unit="$2" '$1 ~ name { for (i = 2; i < NF; i++) if ($(i + 1) == unit) print $i }' "$OUT/catalog.txt"; }
	K_FULL=$(bench_field whole_load ns/op | awk '{ printf "%.0f", $1 / 1e6 }')
	K_FULL_CPU=$(bench_field whole_load cpu-s/refresh)
	K_DELTA=$(bench_field one_changed_link ns/op | awk '{ printf "%.0f", $1 / 1e6 }')
	K_DELTA_CPU=$(bench_field one_changed_link cpu-s/refresh)
	K_REACH=$(bench_field change_reach p99-ms)
	K_REACH50=$(bench_field change_reach p50-ms)
	K_HEAP=$(sed -n 's/.*snapshot of [0-9]* links: \([0-9]* MiB\).*/\1/p' "$OUT/catalog.txt")
	log "catalog: whole load $K_FULL ms ($K_FULL_CPU CPU s), one change $K_DELTA ms ($K_DELTA_CPU CPU s), reach p50 $K_REACH50 ms p99 $K_REACH ms, snapshot $K_HEAP"
fi

# ------------------------------------------------------------ summary

row() { printf '%-30s %-18s %-18s %-7s %-10s %s\n' "$@"; }
met() { # VALUE OP GOAL
	[[ $1 != - ]] || {
		echo -
		return
	}
	awk -v v="$1" -v op="$2" -v g="$3" 'BEGIN { ok = (op == ">=") ? (v >= g) : (v < g); print (ok ? "yes" : "NO") }'
}
{
	echo "xpromo bench, $(date -u '+%Y-%m-%d %H:%M UTC'); $(head -n 1 "$OUT/machine.txt")"
	sed -n 2p "$OUT/machine.txt"
	echo "max runs: $([[ $HAVE_WRK == 1 ]] && echo "wrk -t$BENCH_WRK_THREADS" || echo "xpromo-load --max") -c$BENCH_CONNECTIONS, ${BENCH_SECONDS}s each after ${BENCH_WARMUP_SECONDS}s warm-up; serve with $SERVE_LABEL${BENCH_SERVE_FLAGS:+ and $BENCH_SERVE_FLAGS}"
	echo "serve reaches Redis at ${SERVE_REDIS_URL%%\?*}"
	echo "the load generator and the servers share the machine's cores; machine ${PRE_BUSY}% busy before the start$( ((PRE_BUSY < 15)) || echo ' (NOISY: other processes were running)')"
	echo
	row what serve bare ratio goal met
	r=$(ratio "$RS_RPS" "$RB_RPS")
	row "redirect max req/s" "$RS_RPS" "$RB_RPS" "$r" ">= 0.60" "$(met "$r" '>=' 0.6)"
	row "redirect p50 / p99 (max) ms" "$RS_P50 / $RS_P99" "$RB_P50 / $RB_P99"
	r=$(ratio "$PS_RPS" "$PB_RPS")
	row "pixel max req/s" "$PS_RPS" "$PB_RPS" "$r" ">= 0.60" "$(met "$r" '>=' 0.6)"
	row "pixel p50 / p99 (max) ms" "$PS_P50 / $PS_P99" "$PB_P50 / $PB_P99"
	row "p99 @ ${BENCH_FIXED_RATE} req/s" "$FS_P99 ms" "$FB_P99 ms" "" "< 2 ms" "$(met "$FS_P99" '<' 2)"
	row "  (rate achieved)" "$FS_RATE req/s" "$FB_RATE req/s"
	row "ingest hits/s" "$ING_RATE" "" "$(ratio "$ING_RATE" 300000)" ">= 300k" "$(met "$ING_RATE" '>=' 300000)"
	if run_stage ingest; then
		printf '%-30s %s\n' "  ($BENCH_INGEST_HITS hits, $BENCH_INGEST_GROUP/entry)" \
			"${ING_SECS}s from start, $ING_STEADY/s after the first batch, --batch-size $BENCH_INGEST_BATCH, peak RSS $ING_RSS$([[ $ING_TIMEOUT == true ]] && echo ', TIMED OUT')"
	fi
	ok=-
	if run_stage e2e; then ok=$([[ $E_MISSING == 0 ]] && echo yes || echo "NO ($E_MISSING missing)"); fi
	printf '%-30s %-37s %-7s %-10s %s\n' "e2e ${BENCH_E2E_RATE}/s for ${BENCH_E2E_SECONDS}s" "sent $E_SENT / stored $E_STORED" "" "all kept" "$ok"
	ok=$(met "$E_LAG99" '<' 10)
	[[ $E_UNRES == 0 ]] || ok="NO ($E_UNRES checkpoints never visible)"
	printf '%-30s %-37s %-7s %-10s %s\n' "  lag p50 / p99 / max" "$E_LAG50 / $E_LAG99 / $E_LAGMAX s" "" "p99 < 10 s" "$ok"
	printf '%-30s %-37s\n' "  rate / answer p99" "$E_RATE req/s / $E_P99 ms"
	printf '%-30s %-37s\n' "conversions API, 1/request" "$C1_RPS conversions/s, p99 $C1_P99 ms"
	printf '%-30s %-37s\n' "conversions API, $BENCH_CONV_BATCH/request" "$CB_CPS conversions/s ($CB_RPS req/s), p99 $CB_P99 ms"
	r=$(ratio "$C1_RPS" "$RS_RPS")
	printf '%-30s %-37s\n' "  single vs redirect max" "$r"
	printf '%-30s %-37s %-7s %-10s %s\n' "  answered / stored" "$C_ANSWERED / $C_STORED" "" "all kept" "$(run_stage conv && { [[ $C_STORED -ge $C_ANSWERED ]] && echo yes || echo NO; } || echo -)"
	printf '%-30s %-37s\n' "reports data" "$R_DATA (generation: $R_GEN)"
	printf '%-30s %-37s %-7s %-10s %s\n' "  partnerships, DE, last month" "$R_COUNTRY" "" "< 300 ms" "$(run_stage reports && awk -v s="$R_COUNTRY" 'BEGIN { split(s, a, " "); print (a[1] < 300 ? "yes" : "NO") }' || echo -)"
	printf '%-30s %-37s %-7s %-10s %s\n' "  partnerships, all countries" "$R_ALL" "" "< 1 s" "$(run_stage reports && awk -v s="$R_ALL" 'BEGIN { split(s, a, " "); print (a[1] < 1000 ? "yes" : "NO") }' || echo -)"
	if run_stage reports; then
		printf '%-30s %-37s\n' "  all countries, by day" "$R_ALL_DAYS"
		printf '%-30s %-37s\n' "  balance, all countries" "$R_BAL"
		printf '%-30s %-37s\n' "  overlaps, DE" "$R_OVL"
		printf '%-30s %-37s\n' "  quality, DE" "$R_QUAL"
	fi
	printf '%-30s %-37s %-7s %-10s %s\n' "catalog, $BENCH_CATALOG_LINKS links: one change" "$K_DELTA ms, $K_DELTA_CPU CPU s" "" "< 1 s" "$(met "$K_DELTA" '<' 1000)"
	printf '%-30s %-37s\n' "  baseline: whole load" "$K_FULL ms, $K_FULL_CPU CPU s (snapshot heap $K_HEAP)"
	printf '%-30s %-37s %-7s %-10s %s\n' "  a change reaches a tracker" "p50 $K_REACH50 ms, p99 $K_REACH ms" "" "p99 < 1 s" "$(met "$K_REACH" '<' 1000)"
	noisy=$(awk '$2 > 0.05 { printf "%s%s (%.0f%%)", (n++ ? ", " : ""), $1, 100 * $2 }' "$OUT/.noise" 2>/dev/null || true)
	[[ -z $noisy ]] || echo "NOISY: other processes or interrupts took more than 5% of the machine during: $noisy; compare those figures with care"
	bad=$((RS_BAD + RB_BAD + PS_BAD + PB_BAD + FS_BAD + FB_BAD + E_BAD + C1_BAD + CB_BAD))
	((bad == 0)) || echo "WARNING: $bad requests failed or got an answer other than 2xx/3xx (see $BENCH_OUT/*.txt, *.json)"
	echo
	echo "CPU per stage (of $(nproc) cores):"
	sed 's/^/  /' "$OUT/cpu.txt"
	if [[ -s $OUT/serve-stats.txt ]]; then
		echo
		echo "serve's own counters per stage (from /metrics):"
		sed 's/^/  /' "$OUT/serve-stats.txt"
	fi
} >"$OUT/summary.txt"
echo
cat "$OUT/summary.txt"
