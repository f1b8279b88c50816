#!/usr/bin/env bash
# Local Redis and ClickHouse for xpromo development and tests.
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

REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0
CLICKHOUSE_URL=clickhouse://127.0.0.1:$CH_PORT/xpromo

# Filled in by find_binaries.
REDIS_SERVER='' REDIS_CLI='' CH_SERVER='' REDIS_EXE='' CH_EXE=''
SUDO=''

log() { printf '%s: %s\n' "services" "$*" >&2; }
die() { printf '%s: error: %s\n' "services" "$*" >&2; exit 1; }

usage() {
	cat >&2 <<EOF
Usage: $PROG up|down|status|env|--help

Runs a local Redis and ClickHouse for xpromo (loopback only, as the current user).

Commands:
  up       Install missing Debian packages (redis-server, clickhouse-server,
           clickhouse-client), render the configs from scripts/services/, start each
           server unless it already answers on its port, wait until both answer
           (timeout \$XPROMO_SERVICES_TIMEOUT, default 60 s), then print on stdout:
             XPROMO_REDIS_URL=redis://127.0.0.1:<redis port>/0
             XPROMO_CLICKHOUSE_URL=clickhouse://127.0.0.1:<native port>/xpromo
           Idempotent: a second 'up' only checks and prints the URLs.
  down     Stop the servers started by 'up' (SIGTERM, SIGKILL after ${STOP_TIMEOUT} s).
           Data is kept. Quiet when nothing runs.
  status   Show running/stopped, port and pid of each service.
           Exit status 0 when both answer, 3 otherwise.
  env      Print only the two 'export XPROMO_..._URL=...' lines, for
             eval "\$($PROG env)"
  --help   This text.

Environment:
  XPROMO_DATA_DIR          state directory (default: <repo root>/.data; now: $DATA_DIR)
  XPROMO_REDIS_PORT        Redis port on 127.0.0.1 (default 16379)
  XPROMO_REDIS_APPENDFSYNC Redis appendfsync: everysec (default), always or no
  XPROMO_CH_PORT           ClickHouse native port on 127.0.0.1 (default 19000)
  XPROMO_CH_HTTP_PORT      ClickHouse HTTP port on 127.0.0.1 (default 18123)
  XPROMO_SERVICES_TIMEOUT  seconds 'up' waits for the servers (default 60)
  A second set of servers on other ports needs its own XPROMO_DATA_DIR.

Layout under the data directory:
  redis/        redis.conf, redis.pid, redis.log, appendonlydir/ (AOF only)
  clickhouse/   config/{config.xml,users.xml}, data/, tmp/, user_files/,
                format_schemas/, logs/, clickhouse-server.pid

Messages go to stderr; only the 'env' lines and the URL lines of 'up' go to stdout.
EOF
}

# ---------------------------------------------------------------- helpers

check_settings() {
	local name port
	for name in "XPROMO_REDIS_PORT:$REDIS_PORT" "XPROMO_CH_PORT:$CH_PORT" "XPROMO_CH_HTTP_PORT:$CH_HTTP_PORT"; do
		port=${name#*:}
		if ! [[ $port =~ ^[0-9]{1,5}$ ]] || ((10#$port < 1 || 10#$port > 65535)); then
			die "${name%%:*}='$port' is not a valid TCP port"
		fi
	done
	REDIS_PORT=$((10#$REDIS_PORT)) CH_PORT=$((10#$CH_PORT)) CH_HTTP_PORT=$((10#$CH_HTTP_PORT))
	if ((REDIS_PORT == CH_PORT || REDIS_PORT == CH_HTTP_PORT || CH_PORT == CH_HTTP_PORT)); then
		die "the Redis, ClickHouse native and ClickHouse HTTP ports must differ ($REDIS_PORT, $CH_PORT, $CH_HTTP_PORT)"
	fi
	REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0
	CLICKHOUSE_URL=clickhouse://127.0.0.1:$CH_PORT/xpromo
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
}

missing_packages() {
	local pkgs=()
	[[ -n $REDIS_SERVER && -n $REDIS_CLI ]] || pkgs+=(redis-server)
	[[ -n $CH_SERVER ]] || pkgs+=(clickhouse-server)
	command -v clickhouse-client >/dev/null 2>&1 || pkgs+=(clickhouse-client)
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
			die "missing packages: ${pkgs[*]}; run as root or: sudo apt-get install -y redis-server clickhouse-server clickhouse-client"
		fi
	fi
	log "missing: ${pkgs[*]}; installing redis-server clickhouse-server clickhouse-client with apt-get"
	# Keep the packages' init scripts from starting the system-wide servers
	# (default ports 6379/9000): ours run from $DATA_DIR on other ports.
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		CLEANUP_FILES+=(/usr/sbin/policy-rc.d)
		printf '#!/bin/sh\n# temporary, written by xpromo %s during apt-get install\nexit 101\n' "$PROG" |
			$SUDO tee /usr/sbin/policy-rc.d >/dev/null
		$SUDO chmod 755 /usr/sbin/policy-rc.d
	fi
	apt_get update || die "apt-get update failed"
	apt_get install -y redis-server clickhouse-server clickhouse-client ||
		die "apt-get install redis-server clickhouse-server clickhouse-client failed"
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

REDIS_CONF_CHANGED=0 CH_CONF_CHANGED=0
prepare_dirs_and_configs() {
	mkdir -p -- "$REDIS_DIR" "$CH_CONF_DIR" "$CH_LOG_DIR" "$CH_DIR/data" "$CH_DIR/tmp" \
		"$CH_DIR/user_files" "$CH_DIR/format_schemas"
	render "$TEMPLATE_DIR/redis.conf.tmpl" "$REDIS_CONF" \
		@REDIS_DIR@ "$REDIS_DIR" @REDIS_PORT@ "$REDIS_PORT" @REDIS_APPENDFSYNC@ "$REDIS_APPENDFSYNC" \
		@REDIS_UNIXSOCKET@ "$(redis_unixsocket_lines)"
	REDIS_CONF_CHANGED=$RENDER_CHANGED
	render "$TEMPLATE_DIR/clickhouse-config.xml.tmpl" "$CH_CONF" \
		@CH_DIR@ "$CH_DIR" @CH_PORT@ "$CH_PORT" @CH_HTTP_PORT@ "$CH_HTTP_PORT"
	CH_CONF_CHANGED=$RENDER_CHANGED
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

# ------------------------------------------------------------------ wait

wait_ready() {
	local deadline=$((SECONDS + START_TIMEOUT)) redis_ok=0 ch_ok=0 pid
	while :; do
		if ((!redis_ok)) && redis_ping; then
			redis_ok=1
			[[ -z $REDIS_STARTED_AT ]] || log "redis: ready after $(elapsed "$REDIS_STARTED_AT") s"
		fi
		if ((!ch_ok)) && ch_ping; then
			ch_ok=1
			[[ -z $CH_STARTED_AT ]] || log "clickhouse: ready after $(elapsed "$CH_STARTED_AT") s"
		fi
		((!redis_ok || !ch_ok)) || return 0

		if ((!ch_ok)) && [[ -n $CH_LAUNCHED_PID ]] && ! pid_alive "$CH_LAUNCHED_PID"; then
			rm -f -- "$CH_PID"
			log "clickhouse: clickhouse-server exited during start-up"
			ch_show_logs
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
			die "services did not come up (see the logs above; '$PROG down' stops what was started)"
		fi
		sleep 0.2
	done
}

# --------------------------------------------------------------- commands

print_urls() {
	printf 'XPROMO_REDIS_URL=%s\n' "$REDIS_URL"
	printf 'XPROMO_CLICKHOUSE_URL=%s\n' "$CLICKHOUSE_URL"
}

cmd_up() {
	local t0
	t0=$(now)
	ensure_packages
	take_lock
	prepare_dirs_and_configs
	redis_check
	ch_check
	((REDIS_NEEDS_START == 0)) || redis_start
	((CH_NEEDS_START == 0)) || ch_start
	wait_ready
	log "up in $(elapsed "$t0") s (data in $DATA_DIR)"
	print_urls
}

# wait_stopped NAME PID PIDFILE EXE: waits for PID (already sent SIGTERM, once:
# a second signal may cut a graceful shutdown short), SIGKILL after the timeout.
wait_stopped() {
	local name=$1 pid=$2 pidfile=$3 exe=$4 deadline
	deadline=$((SECONDS + STOP_TIMEOUT))
	while pid_is "$pid" "$exe" && ((SECONDS < deadline)); do sleep 0.2; done
	if pid_is "$pid" "$exe"; then
		log "$name: still running after ${STOP_TIMEOUT} s; sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
		deadline=$((SECONDS + 5))
		while pid_is "$pid" "$exe" && ((SECONDS < deadline)); do sleep 0.2; done
		! pid_is "$pid" "$exe" || die "$name: pid $pid survived SIGKILL"
	fi
	rm -f -- "$pidfile"
	log "$name: stopped"
}

cmd_down() {
	find_binaries
	[[ -d $DATA_DIR ]] || return 0
	take_lock
	local rpid='' cpid=''
	[[ -z $REDIS_SERVER ]] || rpid=$(redis_pid)
	[[ -z $CH_SERVER ]] || cpid=$(ch_pid)
	# Signal both first so that they shut down in parallel.
	if [[ -n $rpid ]]; then
		log "redis: stopping pid $rpid"
		kill -TERM "$rpid" 2>/dev/null || true
	fi
	if [[ -n $cpid ]]; then
		log "clickhouse: stopping pid $cpid"
		kill -TERM "$cpid" 2>/dev/null || true
	fi
	[[ -z $rpid ]] || wait_stopped redis "$rpid" "$REDIS_PID" "$REDIS_EXE"
	[[ -z $cpid ]] || wait_stopped clickhouse "$cpid" "$CH_PID" "$CH_EXE"
	# Stale pid files of dead processes.
	[[ -n $rpid ]] || rm -f -- "$REDIS_PID"
	[[ -n $cpid ]] || rm -f -- "$CH_PID"
	if [[ -z $rpid ]] && redis_ping; then
		log "redis: 127.0.0.1:$REDIS_PORT answers but was not started from $DATA_DIR; left alone"
	fi
	if [[ -z $cpid ]] && ch_ping; then
		log "clickhouse: 127.0.0.1:$CH_PORT answers but was not started from $DATA_DIR; left alone"
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
	log "data: $DATA_DIR"
	return "$all"
}

cmd_env() {
	printf 'export XPROMO_REDIS_URL=%s\n' "$REDIS_URL"
	printf 'export XPROMO_CLICKHOUSE_URL=%s\n' "$CLICKHOUSE_URL"
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
