#!/usr/bin/env bash
# Local Redis, ClickHouse and PostgreSQL for xpromo development and tests.
#
#   scripts/services.sh up|down|status|env|--help
#
# All state lives under $XPROMO_DATA_DIR (default: <repo root>/.data). Config
# templates live in scripts/services/. Run with --help for details.
set -euo pipefail

PROG=scripts/services.sh
SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd -P)
TEMPLATE_DIR=$SCRIPT_DIR/services

REDIS_PORT=${XPROMO_REDIS_PORT:-16379}
# everysec by default; always for zero loss on power failure (see README, "Durability").
REDIS_APPENDFSYNC=${XPROMO_REDIS_APPENDFSYNC:-everysec}
CH_PORT=${XPROMO_CH_PORT:-19000}
CH_HTTP_PORT=${XPROMO_CH_HTTP_PORT:-18123}
PG_PORT=${XPROMO_PG_PORT:-15432}
START_TIMEOUT=${XPROMO_SERVICES_TIMEOUT:-60}
STOP_TIMEOUT=20

DATA_DIR=${XPROMO_DATA_DIR:-$REPO_ROOT/.data}
[[ $DATA_DIR == /* ]] || DATA_DIR=$PWD/$DATA_DIR

REDIS_DIR=$DATA_DIR/redis
REDIS_CONF=$REDIS_DIR/redis.conf
REDIS_PID=$REDIS_DIR/redis.pid
REDIS_LOG=$REDIS_DIR/redis.log

CH_DIR=$DATA_DIR/clickhouse
CH_CONF_DIR=$CH_DIR/config
CH_CONF=$CH_CONF_DIR/config.xml
CH_USERS=$CH_CONF_DIR/users.xml
CH_LOG_DIR=$CH_DIR/logs
CH_LOG=$CH_LOG_DIR/clickhouse-server.log
CH_ERR_LOG=$CH_LOG_DIR/clickhouse-server.err.log
CH_STDOUT_LOG=$CH_LOG_DIR/stdout.log
CH_PID=$CH_DIR/clickhouse-server.pid

PG_DIR=$DATA_DIR/postgres
PG_DATA=$PG_DIR/data
PG_CONF=$PG_DIR/postgresql.conf
PG_LOG=$PG_DIR/postgres.log
PG_INITDB_LOG=$PG_DIR/initdb.log
PG_PIDFILE=$PG_DATA/postmaster.pid
# The system user initdb and the server run as when this script runs as root
# (both refuse to run as root).
PG_USER=postgres

REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0
CLICKHOUSE_URL=clickhouse://127.0.0.1:$CH_PORT/xpromo
POSTGRES_URL="postgres://xpromo:xpromo@127.0.0.1:$PG_PORT/xpromo?sslmode=disable"

# Filled in by find_binaries.
REDIS_SERVER='' REDIS_CLI='' CH_SERVER='' REDIS_EXE='' CH_EXE=''
PG_BIN='' PG_INITDB='' PG_SERVER='' PG_CTL='' PG_ISREADY='' PG_PSQL='' PG_EXE=''
SUDO=''

log() { printf '%s: %s\n' "services" "$*" >&2; }
die() { printf '%s: error: %s\n' "services" "$*" >&2; exit 1; }

usage() {
	cat >&2 <<EOF
Usage: $PROG up|down|status|env|--help

Runs a local Redis, ClickHouse and PostgreSQL for xpromo (loopback only, as the
current user; PostgreSQL as the '$PG_USER' system user when run as root).

Commands:
  up       Install missing Debian packages (redis-server, clickhouse-server,
           clickhouse-client, postgresql), render the configs from scripts/services/,
           initdb PostgreSQL's data once (superuser xpromo, password xpromo), start
           each server unless it already answers on its port, wait until all three
           answer (timeout \$XPROMO_SERVICES_TIMEOUT, default 60 s), create the
           database xpromo if missing, then print on stdout:
             XPROMO_REDIS_URL=redis://127.0.0.1:<redis port>/0
             XPROMO_CLICKHOUSE_URL=clickhouse://127.0.0.1:<native port>/xpromo
             XPROMO_POSTGRES_URL=postgres://xpromo:xpromo@127.0.0.1:<pg port>/xpromo?sslmode=disable
           Idempotent: a second 'up' only checks and prints the URLs.
  down     Stop the servers started by 'up' (SIGTERM; PostgreSQL: pg_ctl stop -m fast;
           SIGKILL after ${STOP_TIMEOUT} s). Data is kept. Quiet when nothing runs.
  status   Show running/stopped, port and pid of each service.
           Exit status 0 when all three answer, 3 otherwise.
  env      Print only the three 'export XPROMO_..._URL=...' lines, for
             eval "\$($PROG env)"
  --help   This text.

Environment:
  XPROMO_DATA_DIR          state directory (default: <repo root>/.data; now: $DATA_DIR)
  XPROMO_REDIS_PORT        Redis port on 127.0.0.1 (default 16379)
  XPROMO_REDIS_APPENDFSYNC Redis appendfsync: everysec (default), always or no
  XPROMO_CH_PORT           ClickHouse native port on 127.0.0.1 (default 19000)
  XPROMO_CH_HTTP_PORT      ClickHouse HTTP port on 127.0.0.1 (default 18123)
  XPROMO_PG_PORT           PostgreSQL port on 127.0.0.1 (default 15432)
  XPROMO_SERVICES_TIMEOUT  seconds 'up' waits for the servers (default 60)
  A second set of servers on other ports needs its own XPROMO_DATA_DIR.

Layout under the data directory:
  redis/        redis.conf, redis.pid, redis.log, appendonlydir/ (AOF only)
  clickhouse/   config/{config.xml,users.xml}, data/, tmp/, user_files/,
                format_schemas/, logs/, clickhouse-server.pid
  postgres/     postgresql.conf (included by data/postgresql.conf), data/ (PGDATA,
                pid in data/postmaster.pid), postgres.log, initdb.log, and the unix
                socket .s.PGSQL.<port> when the path fits (107 bytes); owned by
                '$PG_USER' when run as root

Messages go to stderr; only the 'env' lines and the URL lines of 'up' go to stdout.
EOF
}

# ---------------------------------------------------------------- helpers

check_settings() {
	local name port
	for name in "XPROMO_REDIS_PORT:$REDIS_PORT" "XPROMO_CH_PORT:$CH_PORT" "XPROMO_CH_HTTP_PORT:$CH_HTTP_PORT" \
		"XPROMO_PG_PORT:$PG_PORT"; do
		port=${name#*:}
		if ! [[ $port =~ ^[0-9]{1,5}$ ]] || ((10#$port < 1 || 10#$port > 65535)); then
			die "${name%%:*}='$port' is not a valid TCP port"
		fi
	done
	REDIS_PORT=$((10#$REDIS_PORT)) CH_PORT=$((10#$CH_PORT)) CH_HTTP_PORT=$((10#$CH_HTTP_PORT))
	PG_PORT=$((10#$PG_PORT))
	if ((REDIS_PORT == CH_PORT || REDIS_PORT == CH_HTTP_PORT || CH_PORT == CH_HTTP_PORT)); then
		die "the Redis, ClickHouse native and ClickHouse HTTP ports must differ ($REDIS_PORT, $CH_PORT, $CH_HTTP_PORT)"
	fi
	if ((PG_PORT == REDIS_PORT || PG_PORT == CH_PORT || PG_PORT == CH_HTTP_PORT)); then
		die "XPROMO_PG_PORT=$PG_PORT must differ from the Redis and ClickHouse ports ($REDIS_PORT, $CH_PORT, $CH_HTTP_PORT)"
	fi
	REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0
	CLICKHOUSE_URL=clickhouse://127.0.0.1:$CH_PORT/xpromo
	POSTGRES_URL="postgres://xpromo:xpromo@127.0.0.1:$PG_PORT/xpromo?sslmode=disable"
	if ! [[ $START_TIMEOUT =~ ^[0-9]+$ ]] || ((START_TIMEOUT < 1)); then
		die "XPROMO_SERVICES_TIMEOUT='$START_TIMEOUT' is not a positive number of seconds"
	fi
	# The path goes verbatim into XML and a quoted redis.conf string.
	case $DATA_DIR in
	*[\"\\\<\>\&\']* | *$'\n'*) die "XPROMO_DATA_DIR must not contain quotes, backslashes, <, >, & or newlines: $DATA_DIR" ;;
	esac
}

# Closes every file descriptor above 2 (lock file, a caller's pipes) so that a
# server started from here holds nothing of the caller's open.
close_fds() {
	local fd
	for fd in /proc/self/fd/*; do
		fd=${fd##*/}
		if [[ $fd =~ ^[0-9]+$ ]] && ((fd > 2)); then
			eval "exec ${fd}>&-" 2>/dev/null || true
		fi
	done
}

now() { printf '%s' "${EPOCHREALTIME:-$(date +%s.%N)}"; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# pid_is PID EXE: PID is a live (non-zombie) process running the binary EXE.
pid_is() {
	local pid=$1 want=$2 exe
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
	exe=${exe% (deleted)}
	[[ $exe == "$want" ]]
}

# pid_alive PID: PID exists and is not a zombie.
pid_alive() {
	local stat
	[[ $1 =~ ^[0-9]+$ ]] || return 1
	# Not $(<file): under set -e a failing $(<file) exits even inside ||.
	read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
	stat=${stat##*) }
	[[ ${stat:0:1} != Z ]]
}

read_pidfile() { # FILE -> pid on stdout (empty when missing/garbage)
	local pid=
	if [[ -r $1 ]]; then read -r pid 2>/dev/null <"$1" || true; fi
	[[ $pid =~ ^[0-9]+$ ]] && printf '%s' "$pid"
	return 0
}

port_open() { # PORT: something accepts TCP connections on 127.0.0.1:PORT
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Byte size of a file (0 if missing), to show only what a start attempt logged.
fsize() { if [[ -f $1 ]]; then wc -c <"$1" | tr -d ' '; else echo 0; fi; }

# show_log FILE [OFFSET]: last lines of FILE written after byte OFFSET.
show_log() {
	local file=$1 off=${2:-0} lines
	[[ -s $file ]] || return 0
	if (($(fsize "$file") > off)); then
		lines=$(tail -c +"$((off + 1))" "$file" | tail -n 25)
	else
		lines=$(tail -n 15 "$file")
	fi
	[[ -n $lines ]] || return 0
	printf '  ---- %s ----\n' "$file" >&2
	printf '%s\n' "$lines" | sed 's/^/  | /' >&2
}

CLEANUP_FILES=()
cleanup() {
	local f
	for f in "${CLEANUP_FILES[@]}"; do
		[[ -n $f ]] || continue
		$SUDO rm -f -- "$f" 2>/dev/null || true
	done
}
trap cleanup EXIT

# --------------------------------------------------------------- packages

find_binaries() {
	REDIS_SERVER=$(command -v redis-server || true)
	REDIS_CLI=$(command -v redis-cli || true)
	CH_SERVER=$(command -v clickhouse-server || true)
	[[ -n $CH_SERVER || ! -x /usr/sbin/clickhouse-server ]] || CH_SERVER=/usr/sbin/clickhouse-server
	# What /proc/PID/exe shows (fully resolved). Debian's redis-server is a
	# symlink to redis-check-rdb that picks its mode from argv[0], so it must
	# be started by its own name, not by the resolved path.
	REDIS_EXE='' CH_EXE=''
	[[ -z $REDIS_SERVER ]] || REDIS_EXE=$(readlink -f "$REDIS_SERVER")
	[[ -z $CH_SERVER ]] || CH_EXE=$(readlink -f "$CH_SERVER")
	find_pg_binaries
}

# pg_bin_ok DIR: DIR holds PostgreSQL's server programs.
pg_bin_ok() { [[ -x $1/initdb && -x $1/postgres && -x $1/pg_ctl ]]; }

# find_pg_binaries: PG_BIN is the bin directory of the version that made
# $PG_DATA if it is installed, else of the newest /usr/lib/postgresql/*/bin,
# else the one of pg_ctl on PATH.
find_pg_binaries() {
	local dir='' ver='' d
	PG_BIN='' PG_INITDB='' PG_SERVER='' PG_CTL='' PG_ISREADY='' PG_PSQL='' PG_EXE=''
	if [[ -r $PG_DATA/PG_VERSION ]]; then read -r ver 2>/dev/null <"$PG_DATA/PG_VERSION" || true; fi
	if [[ $ver =~ ^[0-9.]+$ ]] && pg_bin_ok "/usr/lib/postgresql/$ver/bin"; then
		dir=/usr/lib/postgresql/$ver/bin
	else
		while IFS= read -r d; do
			if [[ -n $d ]] && pg_bin_ok "$d"; then
				dir=$d
				break
			fi
		done < <(compgen -G '/usr/lib/postgresql/*/bin' | sort -rV)
	fi
	if [[ -z $dir ]] && d=$(command -v pg_ctl) && d=$(dirname -- "$(readlink -f "$d")") && pg_bin_ok "$d"; then
		dir=$d
	fi
	if [[ -n $dir ]]; then
		PG_BIN=$dir PG_INITDB=$dir/initdb PG_SERVER=$dir/postgres PG_CTL=$dir/pg_ctl
		PG_EXE=$(readlink -f "$PG_SERVER")
	fi
	PG_ISREADY=$dir/pg_isready
	[[ -n $dir && -x $PG_ISREADY ]] || PG_ISREADY=$(command -v pg_isready || true)
	PG_PSQL=$dir/psql
	[[ -n $dir && -x $PG_PSQL ]] || PG_PSQL=$(command -v psql || true)
}

missing_packages() {
	local pkgs=()
	[[ -n $REDIS_SERVER && -n $REDIS_CLI ]] || pkgs+=(redis-server)
	[[ -n $CH_SERVER ]] || pkgs+=(clickhouse-server)
	command -v clickhouse-client >/dev/null 2>&1 || pkgs+=(clickhouse-client)
	[[ -n $PG_BIN && -n $PG_ISREADY && -n $PG_PSQL ]] || pkgs+=(postgresql)
	((${#pkgs[@]} == 0)) || printf '%s\n' "${pkgs[@]}"
}

# apt_get ARGS...: apt-get, non-interactive, waiting while another apt/dpkg
# holds the locks.
apt_get() {
	local out rc tries=0 configured=0
	out=$(mktemp "${TMPDIR:-/tmp}/xpromo-apt.XXXXXX")
	CLEANUP_FILES+=("$out")
	while :; do
		rc=0
		$SUDO env DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=a \
			apt-get -q -o DPkg::Lock::Timeout=60 "$@" </dev/null 2>&1 | tee "$out" >&2 || rc=$?
		((rc != 0)) || return 0
		if grep -qiE 'could not get lock|unable to acquire|is another process using it|lock-frontend' "$out" && ((++tries < 60)); then
			log "apt/dpkg is busy (another package manager is running); waiting ..."
			sleep 10
			continue
		fi
		if grep -q 'dpkg --configure -a' "$out" && ((configured == 0)); then
			configured=1
			log "dpkg was interrupted; running 'dpkg --configure -a' first"
			$SUDO env DEBIAN_FRONTEND=noninteractive dpkg --configure -a </dev/null >&2 || true
			continue
		fi
		return "$rc"
	done
}

ensure_packages() {
	find_binaries
	local pkgs
	mapfile -t pkgs < <(missing_packages)
	((${#pkgs[@]} > 0)) || return 0
	command -v apt-get >/dev/null 2>&1 || die "missing ${pkgs[*]} and no apt-get: install them by hand"
	if ((EUID != 0)); then
		if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
			SUDO=sudo
		else
			die "missing packages: ${pkgs[*]}; run as root or: sudo apt-get install -y redis-server clickhouse-server clickhouse-client postgresql"
		fi
	fi
	log "missing: ${pkgs[*]}; installing redis-server clickhouse-server clickhouse-client postgresql with apt-get"
	# Keep the packages' init scripts from starting the system-wide servers
	# (default ports 6379/9000/5432): ours run from $DATA_DIR on other ports.
	# Debian's postgresql-common also creates a system cluster 'main' (port
	# 5432) at install time; nothing here starts or touches it.
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		CLEANUP_FILES+=(/usr/sbin/policy-rc.d)
		printf '#!/bin/sh\n# temporary, written by xpromo %s during apt-get install\nexit 101\n' "$PROG" |
			$SUDO tee /usr/sbin/policy-rc.d >/dev/null
		$SUDO chmod 755 /usr/sbin/policy-rc.d
	fi
	apt_get update || die "apt-get update failed"
	apt_get install -y redis-server clickhouse-server clickhouse-client postgresql ||
		die "apt-get install redis-server clickhouse-server clickhouse-client postgresql failed"
	find_binaries
	mapfile -t pkgs < <(missing_packages)
	((${#pkgs[@]} == 0)) || die "still missing after apt-get install: ${pkgs[*]}"
}

# ---------------------------------------------------------------- configs

# render TEMPLATE DEST [PLACEHOLDER VALUE]...: writes DEST.new when DEST is
# missing or has other content (commit_config DEST puts it in place); sets
# RENDER_CHANGED=1 if DEST existed with other content.
RENDER_CHANGED=0
render() {
	local tmpl=$1 dest=$2 content
	shift 2
	[[ -r $tmpl ]] || die "missing template $tmpl"
	content=$(<"$tmpl")
	while (($# >= 2)); do
		content=${content//"$1"/"$2"}
		shift 2
	done
	RENDER_CHANGED=0
	rm -f -- "$dest.new"
	if [[ -f $dest ]]; then
		[[ "$(<"$dest")" != "$content" ]] || return 0
		RENDER_CHANGED=1
	fi
	printf '%s\n' "$content" >"$dest.new"
}

commit_config() { if [[ -f $1.new ]]; then mv -f -- "$1.new" "$1"; fi; }

# A unix socket path must fit in sockaddr_un (108 bytes); with a deeper data
# directory Redis would refuse to start, so the socket is left out.
redis_unixsocket_lines() {
	local sock=$REDIS_DIR/redis.sock
	if ((${#sock} <= 100)); then
		printf 'unixsocket "%s"\nunixsocketperm 700' "$sock"
	else
		printf '# no unix socket: %s is too long a path' "$sock"
	fi
}

# PostgreSQL's socket file $PG_DIR/.s.PGSQL.<port> must fit in 107 bytes
# (sockaddr_un); with a deeper data directory, or a path the comma-separated
# setting cannot hold, the server listens on TCP only.
pg_socket_dirs() {
	local sock=$PG_DIR/.s.PGSQL.$PG_PORT
	if ((${#sock} <= 107)) && [[ $PG_DIR != *[,[:space:]]* ]]; then
		printf '%s' "$PG_DIR"
	fi
}

REDIS_CONF_CHANGED=0 CH_CONF_CHANGED=0 PG_CONF_CHANGED=0
prepare_dirs_and_configs() {
	mkdir -p -- "$REDIS_DIR" "$CH_CONF_DIR" "$CH_LOG_DIR" "$CH_DIR/data" "$CH_DIR/tmp" \
		"$CH_DIR/user_files" "$CH_DIR/format_schemas" "$PG_DIR"
	render "$TEMPLATE_DIR/redis.conf.tmpl" "$REDIS_CONF" \
		@REDIS_DIR@ "$REDIS_DIR" @REDIS_PORT@ "$REDIS_PORT" @REDIS_APPENDFSYNC@ "$REDIS_APPENDFSYNC" \
		@REDIS_UNIXSOCKET@ "$(redis_unixsocket_lines)"
	REDIS_CONF_CHANGED=$RENDER_CHANGED
	render "$TEMPLATE_DIR/clickhouse-config.xml.tmpl" "$CH_CONF" \
		@CH_DIR@ "$CH_DIR" @CH_PORT@ "$CH_PORT" @CH_HTTP_PORT@ "$CH_HTTP_PORT"
	CH_CONF_CHANGED=$RENDER_CHANGED
	render "$TEMPLATE_DIR/postgresql.conf.tmpl" "$PG_CONF" \
		@PG_PORT@ "$PG_PORT" @PG_SOCKET_DIRS@ "$(pg_socket_dirs)"
	PG_CONF_CHANGED=$RENDER_CHANGED
	# users.xml is re-read by a running server on its own.
	render "$TEMPLATE_DIR/clickhouse-users.xml" "$CH_USERS"
	commit_config "$CH_USERS"
}

# Serialises up/down of concurrent callers sharing a data directory.
take_lock() {
	mkdir -p -- "$DATA_DIR"
	command -v flock >/dev/null 2>&1 || return 0
	exec {LOCK_FD}>"$DATA_DIR/.services.lock"
	if ! flock -n "$LOCK_FD"; then
		log "another $PROG is running on $DATA_DIR; waiting for it ..."
		flock -w 300 "$LOCK_FD" || die "timed out waiting for $DATA_DIR/.services.lock"
	fi
}

# ------------------------------------------------------------------ redis

redis_ping() {
	[[ -n $REDIS_CLI ]] || return 1
	[[ "$(timeout 3 "$REDIS_CLI" -h 127.0.0.1 -p "$REDIS_PORT" ping </dev/null 2>/dev/null)" == PONG ]]
}

# Pid of the Redis of this data directory: from its pid file, else (if the
# pid file is gone) asked from the server answering on the port if that one
# runs our redis.conf.
redis_pid() {
	local pid info cfg
	pid=$(read_pidfile "$REDIS_PID")
	if [[ -n $pid ]] && pid_is "$pid" "$REDIS_EXE"; then
		printf '%s' "$pid"
		return 0
	fi
	[[ -n $REDIS_CLI ]] || return 0
	info=$(timeout 3 "$REDIS_CLI" -h 127.0.0.1 -p "$REDIS_PORT" info server </dev/null 2>/dev/null | tr -d '\r') || return 0
	pid=$(sed -n 's/^process_id://p' <<<"$info")
	cfg=$(sed -n 's/^config_file://p' <<<"$info")
	if [[ $cfg == "$REDIS_CONF" ]] && pid_is "$pid" "$REDIS_EXE"; then
		printf '%s' "$pid"
	fi
	return 0
}

# found_answering NAME PID CONF CONF_CHANGED ADDR RUNNING: the service
# answers already (PID: ours, or empty when not ours); the new CONF is kept
# for its next start. ADDR is where it answers, RUNNING where ours runs.
found_answering() {
	local name=$1 pid=$2 conf=$3 changed=$4 addr=$5 running=$6
	commit_config "$conf"
	if [[ -z $pid ]]; then
		log "$name: something not started by $PROG answers on $addr; using it"
	elif ((changed)); then
		log "$name: running (pid $pid) with an older $conf; '$PROG down && $PROG up' applies the new one"
	else
		log "$name: already running on $running"
	fi
}

# found_silent NAME PID CONF CONF_CHANGED PORTS: ours runs but does not
# answer yet. With a changed config it never will on PORTS (dies);
# otherwise the caller waits for it.
found_silent() {
	local name=$1 pid=$2 conf=$3 changed=$4 ports=$5
	if ((changed)); then
		rm -f -- "$conf.new"
		die "$name (pid $pid) runs from $DATA_DIR with another config (port changed?) and does not answer on $ports: run '$PROG down' first, or use another XPROMO_DATA_DIR"
	fi
	log "$name: pid $pid is running but not answering yet; waiting for it"
}

REDIS_LOG_OFF=0 REDIS_STARTED_AT='' REDIS_NEEDS_START=0
# redis_check: decides whether Redis must be started (REDIS_NEEDS_START=1);
# dies on conflicts before anything is started.
redis_check() {
	local pid
	pid=$(redis_pid)
	if redis_ping; then
		found_answering redis "$pid" "$REDIS_CONF" "$REDIS_CONF_CHANGED" \
			"127.0.0.1:$REDIS_PORT" "127.0.0.1:$REDIS_PORT (pid $pid)"
		return 0
	fi
	if [[ -n $pid ]]; then
		found_silent redis "$pid" "$REDIS_CONF" "$REDIS_CONF_CHANGED" "$REDIS_PORT"
		REDIS_LOG_OFF=$(fsize "$REDIS_LOG")
		REDIS_STARTED_AT=$(now)
		return 0
	fi
	if port_open "$REDIS_PORT"; then
		die "redis: port 127.0.0.1:$REDIS_PORT is taken by a program that does not answer PING; choose another XPROMO_REDIS_PORT"
	fi
	REDIS_NEEDS_START=1
}

redis_start() {
	commit_config "$REDIS_CONF"
	rm -f -- "$REDIS_PID"
	REDIS_LOG_OFF=$(fsize "$REDIS_LOG")
	REDIS_STARTED_AT=$(now)
	log "redis: starting on 127.0.0.1:$REDIS_PORT (log $REDIS_LOG)"
	# daemonize yes: the parent exits once the daemon is forked; early errors
	# (bad config) go to stderr, hence into the same log.
	if ! (
		close_fds
		cd / && exec "$REDIS_SERVER" "$REDIS_CONF"
	) </dev/null >>"$REDIS_LOG" 2>&1; then
		log "redis: redis-server failed to start"
		show_log "$REDIS_LOG" "$REDIS_LOG_OFF"
		exit 1
	fi
}

# --------------------------------------------------------------- clickhouse

# ClickHouse answers: HTTP /ping says "Ok." and a native-protocol query works
# (a bare TCP connect to the native port would log "Client has not sent any
# data" warnings).
ch_ping() {
	(
		exec 3<>"/dev/tcp/127.0.0.1/$CH_HTTP_PORT" || exit 1
		printf 'GET /ping HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
		while IFS= read -r -t 2 line <&3; do
			[[ ${line%$'\r'} != "Ok." ]] || exit 0
		done
		exit 1
	) 2>/dev/null || return 1
	command -v clickhouse-client >/dev/null 2>&1 || return 0
	[[ "$(timeout 5 clickhouse-client --host 127.0.0.1 --port "$CH_PORT" -q 'SELECT 1' </dev/null 2>/dev/null)" == 1 ]]
}

# Pid of the ClickHouse of this data directory: from its pid file, else the
# process whose command line names our config file.
ch_pid() {
	local pid f
	pid=$(read_pidfile "$CH_PID")
	if [[ -n $pid ]] && pid_is "$pid" "$CH_EXE"; then
		printf '%s' "$pid"
		return 0
	fi
	# One grep over all command lines (NUL-separated arguments).
	while IFS= read -r -d '' f; do
		pid=${f#/proc/}
		pid=${pid%/cmdline}
		if pid_is "$pid" "$CH_EXE"; then
			printf '%s\n' "$pid" 2>/dev/null >"$CH_PID" || true
			printf '%s' "$pid"
			return 0
		fi
	done < <(grep -lzZFx -e "--config-file=$CH_CONF" /proc/[0-9]*/cmdline 2>/dev/null || true)
	return 0
}

CH_LOG_OFF=0 CH_ERR_OFF=0 CH_OUT_OFF=0 CH_STARTED_AT='' CH_LAUNCHED_PID='' CH_NEEDS_START=0
# ch_check: like redis_check, for ClickHouse (CH_NEEDS_START=1).
ch_check() {
	local pid port
	pid=$(ch_pid)
	if ch_ping; then
		found_answering clickhouse "$pid" "$CH_CONF" "$CH_CONF_CHANGED" \
			"127.0.0.1:$CH_PORT/$CH_HTTP_PORT" "127.0.0.1:$CH_PORT (http $CH_HTTP_PORT, pid $pid)"
		return 0
	fi
	if [[ -n $pid ]]; then
		found_silent clickhouse "$pid" "$CH_CONF" "$CH_CONF_CHANGED" "$CH_PORT/$CH_HTTP_PORT"
		CH_LOG_OFF=$(fsize "$CH_LOG") CH_ERR_OFF=$(fsize "$CH_ERR_LOG") CH_OUT_OFF=$(fsize "$CH_STDOUT_LOG")
		CH_STARTED_AT=$(now)
		CH_LAUNCHED_PID=$pid
		return 0
	fi
	for port in "$CH_PORT" "$CH_HTTP_PORT"; do
		if port_open "$port"; then
			die "clickhouse: port 127.0.0.1:$port is taken by another program; choose other XPROMO_CH_PORT/XPROMO_CH_HTTP_PORT"
		fi
	done
	CH_NEEDS_START=1
}

ch_start() {
	commit_config "$CH_CONF"
	rm -f -- "$CH_PID"
	CH_LOG_OFF=$(fsize "$CH_LOG") CH_ERR_OFF=$(fsize "$CH_ERR_LOG") CH_OUT_OFF=$(fsize "$CH_STDOUT_LOG")
	CH_STARTED_AT=$(now)
	log "clickhouse: starting on 127.0.0.1:$CH_PORT (http $CH_HTTP_PORT, logs in $CH_LOG_DIR)"
	# Foreground mode in a new session (not --daemon: a daemonised 18.16 sends
	# config errors to /dev/null). A background job of a non-interactive shell
	# is no process-group leader, so setsid does not fork and $! is the server.
	(
		close_fds
		cd "$CH_DIR" && exec setsid "$CH_SERVER" --config-file="$CH_CONF"
	) </dev/null >>"$CH_STDOUT_LOG" 2>&1 &
	CH_LAUNCHED_PID=$!
	printf '%s\n' "$CH_LAUNCHED_PID" >"$CH_PID"
}

ch_show_logs() {
	show_log "$CH_STDOUT_LOG" "$CH_OUT_OFF"
	show_log "$CH_ERR_LOG" "$CH_ERR_OFF"
	[[ -s $CH_ERR_LOG ]] || show_log "$CH_LOG" "$CH_LOG_OFF"
}

# --------------------------------------------------------------- postgresql

# pg_as CMD...: runs CMD as the user PostgreSQL runs as: '$PG_USER' when we
# are root (initdb, pg_ctl and postgres refuse root), else ourselves; from /
# (the caller's directory may be closed to that user).
pg_as() {
	if ((EUID == 0)); then
		(cd / && exec runuser -u "$PG_USER" -- "$@")
	else
		(cd / && exec "$@")
	fi
}

pg_ping() {
	[[ -n $PG_ISREADY ]] || return 1
	timeout 5 "$PG_ISREADY" -q -h 127.0.0.1 -p "$PG_PORT" -t 3 </dev/null >/dev/null 2>&1
}

# pg_psql DB SQL: one statement as xpromo over TCP; rows unaligned on stdout.
pg_psql() {
	[[ -n $PG_PSQL ]] || return 1
	env -u PGSERVICE -u PGOPTIONS PGPASSWORD=xpromo PGCONNECT_TIMEOUT=5 \
		timeout 15 "$PG_PSQL" -X -q -A -t -v ON_ERROR_STOP=1 \
		-d "host=127.0.0.1 port=$PG_PORT user=xpromo dbname=$1 sslmode=disable" -c "$2" </dev/null
}

# Pid of the PostgreSQL of this data directory: the first line of
# postmaster.pid, if that process runs our postgres binary from $PG_DATA.
pg_pid() {
	local pid cwd data
	[[ -n $PG_EXE ]] || return 0
	pid=$(read_pidfile "$PG_PIDFILE")
	[[ -n $pid ]] || return 0
	pid_is "$pid" "$PG_EXE" || return 0
	cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null) || return 0
	data=$(cd -- "$PG_DATA" 2>/dev/null && pwd -P) || return 0
	[[ $cwd != "$data" ]] || printf '%s' "$pid"
	return 0
}

# pg_own: as root, hands $PG_DIR (only that folder) to '$PG_USER'.
pg_own() {
	((EUID == 0)) || return 0
	find "$PG_DIR" ! -user "$PG_USER" -exec chown -h "$PG_USER:$PG_USER" {} + ||
		die "postgres: cannot chown $PG_DIR to $PG_USER"
}

# pg_precheck: before anything is started, that PostgreSQL can be started
# from $PG_DIR by the user it runs as.
pg_precheck() {
	local ver major d part
	[[ -n $PG_BIN ]] || die "postgres: no initdb/postgres/pg_ctl found (package postgresql)"
	if ((EUID == 0)); then
		command -v runuser >/dev/null 2>&1 || die "postgres: runuser (util-linux) is needed to run PostgreSQL as $PG_USER"
		getent passwd "$PG_USER" >/dev/null ||
			die "postgres: running as root needs the system user '$PG_USER' (created by Debian's postgresql-common): PostgreSQL refuses to run as root"
		pg_own
		if ! pg_as test -r "$PG_DIR" -a -w "$PG_DIR" -a -x "$PG_DIR" 2>/dev/null; then
			# The first folder from / down that it may not enter.
			d=''
			while IFS= read -r -d / part; do
				[[ -n $part ]] || continue
				d=$d/$part
				if ! pg_as test -x "$d" 2>/dev/null; then
					die "postgres: the '$PG_USER' user cannot reach $PG_DIR: it may not enter $d ($(stat -c '%A %U:%G' -- "$d")); make the path traversable (chmod o+x $d) or choose an XPROMO_DATA_DIR it can reach"
				fi
			done <<<"${PG_DIR%/}/"
			die "postgres: the '$PG_USER' user cannot use $PG_DIR ($(stat -c '%A %U:%G' -- "$PG_DIR"))"
		fi
	elif [[ -e $PG_DATA && ! -O $PG_DATA ]]; then
		die "postgres: $PG_DATA belongs to $(stat -c %U -- "$PG_DATA"), not to you: run as root (or as that user), or use another XPROMO_DATA_DIR"
	fi
	if [[ -f $PG_DATA/PG_VERSION ]]; then
		read -r ver 2>/dev/null <"$PG_DATA/PG_VERSION" || true
		major=$("$PG_SERVER" --version 2>/dev/null | sed -n 's/^[^0-9]*\([0-9][0-9]*\).*/\1/p')
		if [[ -n $ver && -n $major && $ver != "$major" ]]; then
			die "postgres: $PG_DATA was made by PostgreSQL $ver, but only $major is installed ($PG_BIN): install postgresql-$ver, or remove $PG_DIR to start over"
		fi
	fi
}

PG_LOG_OFF=0 PG_STARTED_AT='' PG_LAUNCHED_PID='' PG_CTL_JOB='' PG_NEEDS_START=0
# pg_check: like redis_check, for PostgreSQL (PG_NEEDS_START=1).
pg_check() {
	local pid
	pid=$(pg_pid)
	if pg_ping; then
		[[ -n $pid ]] || pg_login_check
		found_answering postgres "$pid" "$PG_CONF" "$PG_CONF_CHANGED" \
			"127.0.0.1:$PG_PORT" "127.0.0.1:$PG_PORT (pid $pid)"
		return 0
	fi
	if [[ -n $pid ]]; then
		found_silent postgres "$pid" "$PG_CONF" "$PG_CONF_CHANGED" "$PG_PORT"
		PG_LOG_OFF=$(fsize "$PG_LOG")
		PG_STARTED_AT=$(now)
		PG_LAUNCHED_PID=$pid
		return 0
	fi
	if port_open "$PG_PORT"; then
		die "postgres: port 127.0.0.1:$PG_PORT is taken by a program that is not a PostgreSQL accepting connections; choose another XPROMO_PG_PORT"
	fi
	pg_precheck
	PG_NEEDS_START=1
}

# pg_initdb: creates $PG_DATA once: superuser xpromo (password xpromo,
# scram-sha-256 on every connection), UTF8, locale C; data/postgresql.conf
# then includes ../postgresql.conf (the rendered template).
pg_initdb() {
	local pwfile=$PG_DIR/.initdb-pwfile off
	[[ ! -f $PG_DATA/PG_VERSION ]] || return 0
	off=$(fsize "$PG_INITDB_LOG")
	log "postgres: initdb in $PG_DATA (log $PG_INITDB_LOG)"
	CLEANUP_FILES+=("$pwfile")
	(
		umask 077
		printf 'xpromo\n' >"$pwfile"
	)
	pg_own
	if ! pg_as "$PG_INITDB" -D "$PG_DATA" -U xpromo --pwfile="$pwfile" --auth=scram-sha-256 \
		--encoding=UTF8 --locale=C </dev/null >>"$PG_INITDB_LOG" 2>&1; then
		log "postgres: initdb failed"
		show_log "$PG_INITDB_LOG" "$off"
		exit 1
	fi
	rm -f -- "$pwfile"
}

# The include line that makes data/postgresql.conf read the rendered config;
# added after initdb (and again if it went missing).
PG_INCLUDE="include '../postgresql.conf'"
pg_include_conf() {
	grep -qxF -- "$PG_INCLUDE" "$PG_DATA/postgresql.conf" 2>/dev/null && return 0
	[[ -f $PG_DATA/postgresql.conf ]] || die "postgres: $PG_DATA/postgresql.conf is missing"
	printf '\n# Added by %s: the settings of %s win.\n%s\n' \
		"$PROG" "scripts/services/postgresql.conf.tmpl" "$PG_INCLUDE" >>"$PG_DATA/postgresql.conf"
}

pg_start() {
	commit_config "$PG_CONF"
	pg_initdb
	pg_include_conf
	touch -- "$PG_LOG"
	pg_own
	PG_LOG_OFF=$(fsize "$PG_LOG")
	PG_STARTED_AT=$(now)
	log "postgres: starting on 127.0.0.1:$PG_PORT (log $PG_LOG)"
	# pg_ctl -w in the background: it returns once the server is up, or fails
	# as soon as the postmaster exits (config error, port taken, ...). Its own
	# messages and the server's both append to the log. Its timeout is longer
	# than wait_ready's, which reports a slow start itself.
	# shellcheck disable=SC2094
	(
		close_fds
		pg_as "$PG_CTL" -D "$PG_DATA" -l "$PG_LOG" -w -t "$((START_TIMEOUT + 60))" -s start
	) </dev/null >>"$PG_LOG" 2>&1 &
	PG_CTL_JOB=$!
}

# pg_login_check: a PostgreSQL not started from $DATA_DIR answers on the
# port; it is used only if xpromo/xpromo may log in (checked before anything
# is started).
pg_login_check() {
	local out
	out=$(pg_psql postgres 'SELECT 1' 2>&1) ||
		die "postgres: a PostgreSQL not started from $DATA_DIR answers on 127.0.0.1:$PG_PORT and does not let xpromo/xpromo in ($out); choose another XPROMO_PG_PORT"
}

# pg_ensure_db: creates the database xpromo if missing (after the server answers).
pg_ensure_db() {
	local out
	out=$(pg_psql postgres "SELECT 1 FROM pg_database WHERE datname = 'xpromo'" 2>&1) ||
		die "postgres: cannot log in as xpromo on 127.0.0.1:$PG_PORT: $out"
	[[ $out != 1 ]] || return 0
	log "postgres: creating the database xpromo"
	if ! out=$(pg_psql postgres 'CREATE DATABASE xpromo' 2>&1) &&
		[[ "$(pg_psql postgres "SELECT 1 FROM pg_database WHERE datname = 'xpromo'" 2>/dev/null)" != 1 ]]; then
		die "postgres: CREATE DATABASE xpromo failed: $out"
	fi
}

# ------------------------------------------------------------------ wait

wait_ready() {
	local deadline=$((SECONDS + START_TIMEOUT)) redis_ok=0 ch_ok=0 pg_ok=0 pid rc
	while :; do
		if ((!redis_ok)) && redis_ping; then
			redis_ok=1
			[[ -z $REDIS_STARTED_AT ]] || log "redis: ready after $(elapsed "$REDIS_STARTED_AT") s"
		fi
		if ((!ch_ok)) && ch_ping; then
			ch_ok=1
			[[ -z $CH_STARTED_AT ]] || log "clickhouse: ready after $(elapsed "$CH_STARTED_AT") s"
		fi
		if ((!pg_ok)) && pg_ping; then
			pg_ok=1
			[[ -z $PG_STARTED_AT ]] || log "postgres: ready after $(elapsed "$PG_STARTED_AT") s"
		fi
		((!redis_ok || !ch_ok || !pg_ok)) || return 0

		if ((!ch_ok)) && [[ -n $CH_LAUNCHED_PID ]] && ! pid_alive "$CH_LAUNCHED_PID"; then
			rm -f -- "$CH_PID"
			log "clickhouse: clickhouse-server exited during start-up"
			ch_show_logs
			exit 1
		fi
		if ((!pg_ok)) && [[ -n $PG_CTL_JOB ]] && ! pid_alive "$PG_CTL_JOB"; then
			rc=0
			wait "$PG_CTL_JOB" || rc=$?
			PG_CTL_JOB=''
			if ((rc != 0)) && ! pg_ping; then
				log "postgres: pg_ctl start failed (exit $rc): the server exited during start-up"
				show_log "$PG_LOG" "$PG_LOG_OFF"
				exit 1
			fi
		fi
		if ((!pg_ok)) && [[ -n $PG_LAUNCHED_PID ]] && ! pid_alive "$PG_LAUNCHED_PID" && ! pg_ping; then
			log "postgres: the server (pid $PG_LAUNCHED_PID) exited during start-up"
			show_log "$PG_LOG" "$PG_LOG_OFF"
			exit 1
		fi
		if ((!redis_ok)); then
			pid=$(read_pidfile "$REDIS_PID")
			if [[ -n $pid ]] && ! pid_is "$pid" "$REDIS_EXE" && ! redis_ping; then
				rm -f -- "$REDIS_PID"
				log "redis: redis-server exited during start-up"
				show_log "$REDIS_LOG" "$REDIS_LOG_OFF"
				exit 1
			fi
		fi
		if ((SECONDS >= deadline)); then
			if ((!redis_ok)); then
				log "redis: not answering on 127.0.0.1:$REDIS_PORT after ${START_TIMEOUT} s"
				show_log "$REDIS_LOG" "$REDIS_LOG_OFF"
			fi
			if ((!ch_ok)); then
				log "clickhouse: not answering on 127.0.0.1:$CH_PORT/$CH_HTTP_PORT after ${START_TIMEOUT} s"
				ch_show_logs
			fi
			if ((!pg_ok)); then
				log "postgres: not answering on 127.0.0.1:$PG_PORT after ${START_TIMEOUT} s"
				show_log "$PG_LOG" "$PG_LOG_OFF"
			fi
			die "services did not come up (see the logs above; '$PROG down' stops what was started)"
		fi
		sleep 0.2
	done
}

# --------------------------------------------------------------- commands

print_urls() {
	printf 'XPROMO_REDIS_URL=%s\n' "$REDIS_URL"
	printf 'XPROMO_CLICKHOUSE_URL=%s\n' "$CLICKHOUSE_URL"
	printf 'XPROMO_POSTGRES_URL=%s\n' "$POSTGRES_URL"
}

cmd_up() {
	local t0
	t0=$(now)
	ensure_packages
	take_lock
	prepare_dirs_and_configs
	redis_check
	ch_check
	pg_check
	((REDIS_NEEDS_START == 0)) || redis_start
	((CH_NEEDS_START == 0)) || ch_start
	((PG_NEEDS_START == 0)) || pg_start
	wait_ready
	pg_ensure_db
	log "up in $(elapsed "$t0") s (data in $DATA_DIR)"
	print_urls
}

# children_of PID EXE: pids of PID's children running EXE.
children_of() {
	local f stat ppid
	for f in /proc/[0-9]*/stat; do
		read -r stat 2>/dev/null <"$f" || continue
		stat=${stat##*) }
		ppid=${stat#* }
		ppid=${ppid%% *}
		[[ $ppid != "$1" ]] || ! pid_is "${f//[^0-9]/}" "$2" || printf '%s\n' "${f//[^0-9]/}"
	done
}

# wait_stopped NAME PID PIDFILE EXE [KIDS]: waits for PID (already sent SIGTERM, once:
# a second signal may cut a graceful shutdown short), SIGKILL after the timeout.
# KIDS=1: its children running EXE get SIGKILL with it, and are waited for
# (PostgreSQL's backends would keep its shared memory and data files busy).
wait_stopped() {
	local name=$1 pid=$2 pidfile=$3 exe=$4 kids=${5:-0} deadline others=() p
	deadline=$((SECONDS + STOP_TIMEOUT))
	while pid_is "$pid" "$exe" && ((SECONDS < deadline)); do sleep 0.2; done
	if pid_is "$pid" "$exe"; then
		log "$name: still running after ${STOP_TIMEOUT} s; sending SIGKILL"
		((kids == 0)) || mapfile -t others < <(children_of "$pid" "$exe")
		kill -KILL "$pid" 2>/dev/null || true
		for p in "${others[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
		deadline=$((SECONDS + 5))
		while pid_is "$pid" "$exe" && ((SECONDS < deadline)); do sleep 0.2; done
		! pid_is "$pid" "$exe" || die "$name: pid $pid survived SIGKILL"
		for p in "${others[@]}"; do
			while pid_is "$p" "$exe" && ((SECONDS < deadline)); do sleep 0.2; done
			! pid_is "$p" "$exe" || die "$name: pid $p (child of $pid) survived SIGKILL"
		done
	fi
	rm -f -- "$pidfile"
	log "$name: stopped"
}

cmd_down() {
	find_binaries
	[[ -d $DATA_DIR ]] || return 0
	take_lock
	local rpid='' cpid='' ppid=''
	[[ -z $REDIS_SERVER ]] || rpid=$(redis_pid)
	[[ -z $CH_SERVER ]] || cpid=$(ch_pid)
	[[ -z $PG_CTL ]] || ppid=$(pg_pid)
	# Signal all first so that they shut down in parallel.
	if [[ -n $rpid ]]; then
		log "redis: stopping pid $rpid"
		kill -TERM "$rpid" 2>/dev/null || true
	fi
	if [[ -n $cpid ]]; then
		log "clickhouse: stopping pid $cpid"
		kill -TERM "$cpid" 2>/dev/null || true
	fi
	if [[ -n $ppid ]]; then
		log "postgres: stopping pid $ppid"
		# Fast shutdown (SIGINT) without waiting; wait_stopped waits.
		pg_as "$PG_CTL" -D "$PG_DATA" -m fast -W -s stop </dev/null >/dev/null 2>&1 ||
			kill -INT "$ppid" 2>/dev/null || true
	fi
	[[ -z $rpid ]] || wait_stopped redis "$rpid" "$REDIS_PID" "$REDIS_EXE"
	[[ -z $cpid ]] || wait_stopped clickhouse "$cpid" "$CH_PID" "$CH_EXE"
	# postmaster.pid is removed only once the server and its backends are gone
	# (the server removes it itself on a clean shutdown).
	[[ -z $ppid ]] || wait_stopped postgres "$ppid" "$PG_PIDFILE" "$PG_EXE" 1
	# Stale pid files of dead processes.
	[[ -n $rpid ]] || rm -f -- "$REDIS_PID"
	[[ -n $cpid ]] || rm -f -- "$CH_PID"
	if [[ -z $rpid ]] && redis_ping; then
		log "redis: 127.0.0.1:$REDIS_PORT answers but was not started from $DATA_DIR; left alone"
	fi
	if [[ -z $cpid ]] && ch_ping; then
		log "clickhouse: 127.0.0.1:$CH_PORT answers but was not started from $DATA_DIR; left alone"
	fi
	if [[ -z $ppid ]] && pg_ping; then
		log "postgres: 127.0.0.1:$PG_PORT answers but was not started from $DATA_DIR; left alone"
	fi
}

# service_status NAME SERVER PID_FN PING_FN PORTS URL: NAME's status line;
# fails when it does not answer.
service_status() {
	local name=$1 server=$2 pid_fn=$3 ping_fn=$4 ports=$5 url=$6 pid='' state rc=0
	[[ -z $server ]] || pid=$("$pid_fn")
	if "$ping_fn"; then
		state=running
	elif [[ -n $pid ]]; then
		state="not answering" rc=3
	else
		state=stopped rc=3
	fi
	[[ -n $pid || $state == stopped ]] || pid="? (not started from $DATA_DIR)"
	log "$(printf '%-12s%-13s' "$name:" "$state") port $ports  pid ${pid:--}  $url"
	return "$rc"
}

cmd_status() {
	find_binaries
	local all=0
	service_status redis "$REDIS_SERVER" redis_pid redis_ping "$REDIS_PORT" "$REDIS_URL" || all=3
	service_status clickhouse "$CH_SERVER" ch_pid ch_ping "$CH_PORT (http $CH_HTTP_PORT)" "$CLICKHOUSE_URL" || all=3
	service_status postgres "$PG_CTL" pg_pid pg_ping "$PG_PORT" "$POSTGRES_URL" || all=3
	log "data: $DATA_DIR"
	return "$all"
}

cmd_env() {
	printf 'export XPROMO_REDIS_URL=%s\n' "$REDIS_URL"
	printf 'export XPROMO_CLICKHOUSE_URL=%s\n' "$CLICKHOUSE_URL"
	# Quoted: the '?' would be a glob pattern for eval.
	printf "export XPROMO_POSTGRES_URL='%s'\n" "$POSTGRES_URL"
}

main() {
	if (($# != 1)); then
		usage
		exit 2
	fi
	case $1 in
	-h | --help | help)
		usage
		return 0
		;;
	up | down | status | env) ;;
	*)
		log "unknown command: $1"
		usage
		exit 2
		;;
	esac
	check_settings
	case $1 in
	up) cmd_up ;;
	down) cmd_down ;;
	status) cmd_status ;;
	env) cmd_env ;;
	esac
}

main "$@"
