#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, for the tests: munged, MariaDB, slurmdbd,
# slurmctld and slurmd from Debian's packages, run as plain processes with every config, socket,
# pid file, log and state file under one run folder, listening on 127.0.0.1 only.
#
#   cluster.sh install          install the Debian packages that are missing (root only)
#   cluster.sh start RUN_DIR    render the configs into RUN_DIR, start the daemons, wait until
#                               the node is idle and the cluster is registered for accounting
#   cluster.sh stop RUN_DIR     cancel the cluster's jobs and stop what start started (by pid
#                               files; safe to run twice, or after a failed start)
#   cluster.sh env RUN_DIR      print the `export` lines a shell needs to use the cluster
#
# Ports (environment, read by start): CLUSTER_SLURMCTLD_PORT (16817), CLUSTER_SLURMD_PORT
# (16818), CLUSTER_SLURMDBD_PORT (16819), CLUSTER_MARIADB_PORT (16306), CLUSTER_SRUN_PORTS
# (16900-16949). CLUSTER_START_TIMEOUT: seconds start waits for each daemon (60).
# See tests/cluster/README.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The daemons live in /usr/sbin, which a non-root PATH may lack.
export PATH="$PATH:/usr/sbin:/sbin"

PACKAGES=(munge slurmctld slurmd slurmdbd slurm-client mariadb-server)
# One command each package provides, to tell whether it is installed (same order).
COMMANDS=(munged slurmctld slurmd slurmdbd sacct mariadbd)
# Stopped in this order (the reverse of the start order).
DAEMONS=(slurmd slurmctld slurmdbd mariadbd munged)

# Some of these are only read through ${!name} (render, the port checks).
# shellcheck disable=SC2034
CTLD_PORT=${CLUSTER_SLURMCTLD_PORT:-16817}
# shellcheck disable=SC2034
SLURMD_PORT=${CLUSTER_SLURMD_PORT:-16818}
DBD_PORT=${CLUSTER_SLURMDBD_PORT:-16819}
DB_PORT=${CLUSTER_MARIADB_PORT:-16306}
# shellcheck disable=SC2034
SRUN_PORTS=${CLUSTER_SRUN_PORTS:-16900-16949}
TIMEOUT=${CLUSTER_START_TIMEOUT:-60}
CLUSTER_NAME=benchtest # ClusterName in slurm.conf.in

usage() {
    sed -n '2,16s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
    exit 2
}

log() { printf 'cluster: %s\n' "$*" >&2; }

missing_packages() {
    local i
    for i in "${!PACKAGES[@]}"; do
        command -v "${COMMANDS[$i]}" >/dev/null 2>&1 || printf '%s\n' "${PACKAGES[$i]}"
    done
}

cmd_install() {
    local missing
    mapfile -t missing < <(missing_packages)
    if [ "${#missing[@]}" -eq 0 ]; then
        log "all installed: ${PACKAGES[*]}"
        return 0
    fi
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        log "missing: ${missing[*]} (install them as root: apt-get install ${missing[*]})"
        return 1
    fi
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# The run folder as an absolute path; created when $2 is "create".
run_dir() {
    [ -n "${1:-}" ] || usage
    if [ "${2:-}" = create ]; then mkdir -p "$1"; fi
    [ -d "$1" ] || { log "no run folder $1"; exit 1; }
    (cd "$1" && pwd -P)
}

# Whether process PID exists and is not a zombie (a daemon that died while this script, its
# parent, still runs stays a zombie: kill -0 would call it alive).
alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [ "${stat%% *}" != Z ]
}

# The pid in RUN/pid/NAME.pid if that process is alive and is NAME (a pid file left by a
# crashed daemon may name a pid since reused by another process).
live_pid() {
    local file="$RUN/pid/$1.pid" pid comm
    [ -s "$file" ] || return 1
    pid=$(tr -dc '0-9' <"$file")
    [ -n "$pid" ] && alive "$pid" || return 1
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
    # comm is cut at 15 characters.
    [ "$comm" = "${1:0:15}" ] || return 1
    printf '%s\n' "$pid"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

escape_sed() { printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'; }

render() { # TEMPLATE OUTPUT
    local args=() key
    # shellcheck disable=SC2034 # read through ${!key}
    local RUN_DIR=$RUN
    for key in RUN_DIR HOST CPUS REAL_MEMORY DEF_MEM_PER_CPU CTLD_PORT SLURMD_PORT DBD_PORT \
        DB_PORT SRUN_PORTS MUNGE_SOCKET; do
        args+=(-e "s|@${key}@|$(escape_sed "${!key}")|g")
    done
    sed "${args[@]}" "$1" >"$2"
    if grep -n '@[A-Z_]*@' "$2" >&2; then
        log "unfilled placeholders in $2"
        exit 1
    fi
}

show_logs() {
    local f out
    for f in "$RUN"/log/*.log "$RUN"/log/*.out; do
        [ -s "$f" ] || continue
        # NAME.out is the daemon's stdout/stderr: the same as NAME.log once that is open, so
        # shown only where there is no log (e.g. a config error before the log file opened).
        out=${f%.out}.log
        if [ "$f" != "$out" ] && [ -s "$out" ]; then continue; fi
        printf '\n===== %s (last 40 lines) =====\n' "$f" >&2
        tail -n 40 "$f" >&2
    done
}

fail() {
    log "ERROR: $*"
    show_logs
    log "stopping what was started"
    cmd_stop "$RUN" || true
    exit 1
}

# Daemons started so far by this `start`, checked while waiting.
STARTED=()

# wait_for WHAT COMMAND...: run COMMAND every 0.5 s until it succeeds, at most $TIMEOUT s;
# fail at once if a daemon started before has died.
wait_for() {
    local what=$1 deadline=$((SECONDS + TIMEOUT)) name
    shift
    until "$@" >/dev/null 2>&1; do
        for name in "${STARTED[@]}"; do
            live_pid "$name" >/dev/null || fail "$name died (waiting for $what)"
        done
        [ "$SECONDS" -lt "$deadline" ] || fail "$what not ready after ${TIMEOUT}s"
        sleep 0.5
    done
}

# start_daemon NAME COMMAND...: run a daemon in the foreground (its own option for that),
# detached from the caller's session (setsid) with its output in RUN/log/NAME.out, and record
# its pid; then every wait notices at once if it dies.
start_daemon() {
    local name=$1 pid
    shift
    log "starting $name"
    setsid "$@" </dev/null >>"$RUN/log/$name.out" 2>&1 &
    pid=$!
    # The slurm daemons write the same pid to this file themselves (their *PidFile).
    printf '%s\n' "$pid" >"$RUN/pid/$name.pid"
    # setsid execs the command in place: wait for the process to become NAME.
    local deadline=$((SECONDS + TIMEOUT))
    until live_pid "$name" >/dev/null; do
        alive "$pid" || fail "$name exited at once"
        [ "$SECONDS" -lt "$deadline" ] || fail "$name (pid $pid) did not start in ${TIMEOUT}s"
        sleep 0.1
    done
    STARTED+=("$name")
}

ctld_up() { scontrol ping | grep -q UP; }

node_idle() { [ "$(sinfo -h -n "$HOST" -o %T 2>/dev/null)" = idle ]; }

cluster_registered() {
    sacctmgr -n -P show cluster format=cluster 2>/dev/null | grep -qx "$CLUSTER_NAME"
}

munge_ok() { munge -n -S "$MUNGE_SOCKET" | unmunge -S "$MUNGE_SOCKET"; }

mariadb_up() {
    mariadb-admin --no-defaults --socket="$RUN/mariadb/mariadb.sock" --user=root ping
}

cmd_start() {
    RUN=$(run_dir "${1:-}" create)
    local name missing t0=$SECONDS
    mapfile -t missing < <(missing_packages)
    if [ "${#missing[@]}" -gt 0 ]; then
        log "missing packages: ${missing[*]} (run: $0 install)"
        exit 1
    fi
    for name in "${DAEMONS[@]}"; do
        if live_pid "$name" >/dev/null; then
            log "$name of $RUN is already running: run '$0 stop $RUN' first"
            exit 1
        fi
    done
    if ! [[ "$SRUN_PORTS" =~ ^[0-9]+-[0-9]+$ ]]; then
        log "CLUSTER_SRUN_PORTS=$SRUN_PORTS: not N-M"
        exit 1
    fi
    for name in CTLD_PORT SLURMD_PORT DBD_PORT DB_PORT; do
        if ! [[ "${!name}" =~ ^[0-9]+$ ]] || [ "${!name}" -lt 1 ] || [ "${!name}" -gt 65535 ]; then
            log "port ${!name} ($name): not a port number"
            exit 1
        fi
        if port_in_use "${!name}"; then
            log "port ${!name} ($name) on 127.0.0.1 is in use: another test cluster still" \
                "running (pgrep -a slurmctld), or set CLUSTER_${name/CTLD/SLURMCTLD} (see $0)"
            exit 1
        fi
    done

    HOST=$(hostname -s)
    # What slurmd will detect: a node configured with more CPUs or memory is set INVALID.
    local detected
    detected=$(slurmd -C 2>/dev/null | head -n 1 || true)
    CPUS=$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$detected")
    CPUS=${CPUS:-$(nproc)}
    local mem_mb
    mem_mb=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$detected")
    mem_mb=${mem_mb:-$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)}
    # A little under the machine's: the kernel's own share varies between boots.
    REAL_MEMORY=$((mem_mb * 95 / 100))
    # shellcheck disable=SC2034 # read by render
    DEF_MEM_PER_CPU=$((REAL_MEMORY / CPUS))
    MUNGE_SOCKET=$RUN/munge-socket/munge.socket

    mkdir -p "$RUN"/{etc,log,pid,state/ctld,state/slurmd,mariadb}
    # munged refuses a key that others can read and a socket directory that others cannot
    # enter (or can write to): two folders.
    mkdir -p "$RUN/munge" "$RUN/munge-socket"
    chmod 0700 "$RUN/munge"
    chmod 0755 "$RUN/munge-socket"
    render "$HERE/slurm.conf.in" "$RUN/etc/slurm.conf"
    render "$HERE/slurmdbd.conf.in" "$RUN/etc/slurmdbd.conf"
    chmod 0600 "$RUN/etc/slurmdbd.conf" # slurmdbd refuses a config others can read
    export SLURM_CONF=$RUN/etc/slurm.conf

    # munge: a key of this run folder.
    if [ ! -s "$RUN/munge/munge.key" ]; then
        if ! mungekey --create --keyfile="$RUN/munge/munge.key" 2>/dev/null; then
            dd if=/dev/urandom of="$RUN/munge/munge.key" bs=1024 count=1 status=none
        fi
    fi
    chmod 0400 "$RUN/munge/munge.key"
    # munged also wants every folder above its socket open to all (others must reach it); a
    # run folder under a private folder (pytest's tmp dirs are 0700) needs --force, which turns
    # that error into a warning. Every client here runs as root, which reaches it anyway.
    local force=() dir=$RUN
    while [ "$dir" != / ]; do
        if [ "$(( 8#$(stat -c %a "$dir") & 1 ))" = 0 ]; then
            log "munged --force: $dir is not open to all"
            force=(--force)
            break
        fi
        dir=$(dirname "$dir")
    done
    # In the foreground munged logs to stderr (RUN/log/munged.out), not to a --log-file.
    start_daemon munged munged --foreground "${force[@]}" --socket="$MUNGE_SOCKET" \
        --key-file="$RUN/munge/munge.key" --pid-file="$RUN/pid/munged.pid" \
        --seed-file="$RUN/munge/munged.seed"
    wait_for "munged (a credential round trip)" munge_ok

    # MariaDB for slurmdbd: its own data dir, socket and port, no option files read.
    if [ ! -d "$RUN/mariadb/data/mysql" ]; then
        log "creating the MariaDB data dir"
        mariadb-install-db --no-defaults --datadir="$RUN/mariadb/data" --user=root \
            --auth-root-authentication-method=normal --skip-test-db \
            >>"$RUN/log/mariadb-install.log" 2>&1 || fail "mariadb-install-db failed"
    fi
    start_daemon mariadbd mariadbd --no-defaults --user=root --datadir="$RUN/mariadb/data" \
        --socket="$RUN/mariadb/mariadb.sock" --pid-file="$RUN/pid/mariadbd.pid" \
        --port="$DB_PORT" --bind-address=127.0.0.1 --skip-name-resolve \
        --log-error="$RUN/log/mariadbd.log" --skip-log-bin --performance-schema=OFF \
        --innodb-buffer-pool-size=64M --innodb-log-file-size=32M \
        --innodb-lock-wait-timeout=900 --max-connections=50
    wait_for "mariadbd" mariadb_up

    start_daemon slurmdbd slurmdbd -D
    wait_for "slurmdbd (port $DBD_PORT)" port_in_use "$DBD_PORT"
    start_daemon slurmctld slurmctld -D
    wait_for "slurmctld (scontrol ping)" ctld_up
    start_daemon slurmd slurmd -D
    wait_for "node $HOST idle in sinfo" node_idle
    wait_for "cluster $CLUSTER_NAME registered in slurmdbd (sacctmgr show cluster)" \
        cluster_registered
    log "up in $((SECONDS - t0))s: node $HOST idle (CPUs=$CPUS RealMemory=$REAL_MEMORY);" \
        "use it with: eval \"\$($0 env $RUN)\""
}

# Stop one daemon by its pid file: TERM, then KILL after 20 s.
stop_daemon() {
    local name=$1 pid i
    pid=$(live_pid "$name") || { rm -f "$RUN/pid/$name.pid"; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 200; i++)); do
        alive "$pid" || break
        sleep 0.1
    done
    if alive "$pid"; then
        log "$name ($pid) still running 20s after TERM: KILL"
        kill -KILL "$pid" 2>/dev/null || true
    else
        log "stopped $name ($pid) in $((i / 10)).$((i % 10))s"
    fi
    # Reap it if it is this script's child (after a failed start); otherwise init does.
    wait "$pid" 2>/dev/null || true
    STOPPED+=("$pid")
    rm -f "$RUN/pid/$name.pid"
}

# Wait (at most 5 s) until init has reaped the stopped daemons, so that they no longer show up
# as <defunct> in ps or pgrep right after `stop`.
wait_reaped() {
    local pid i
    for ((i = 0; i < 50; i++)); do
        for pid in "${STOPPED[@]}"; do
            [ -e "/proc/$pid" ] && break
            pid=
        done
        [ -z "${pid:-}" ] && return 0
        sleep 0.1
    done
}

# slurmstepd processes of this cluster (they inherit slurmd's SLURM_CONF).
our_stepds() {
    local pid
    for pid in $(pgrep -x slurmstepd || true); do
        if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null |
            grep -qxF "SLURM_CONF=$RUN/etc/slurm.conf"; then
            printf '%s\n' "$pid"
        fi
    done
}

with_descendants() {
    local pid
    for pid in "$@"; do
        printf '%s\n' "$pid"
        # shellcheck disable=SC2046 # one pid a word
        with_descendants $(pgrep -P "$pid" || true)
    done
}

cmd_stop() {
    [ -n "${1:-}" ] || usage
    if [ ! -d "$1" ]; then
        log "no run folder $1: nothing to stop"
        return 0
    fi
    RUN=$(run_dir "$1")
    export SLURM_CONF=$RUN/etc/slurm.conf
    local name pids i
    # Jobs first, while slurmctld and slurmd can still end them cleanly.
    if live_pid slurmctld >/dev/null && [ -n "$(squeue -h -o %i 2>/dev/null)" ]; then
        log "cancelling jobs"
        squeue -h -o %i | xargs -r scancel 2>/dev/null || true
        for ((i = 0; i < 20; i++)); do
            [ -z "$(squeue -h -t RUNNING,COMPLETING,PENDING -o %i 2>/dev/null)" ] && break
            sleep 0.5
        done
    fi
    STOPPED=()
    for name in "${DAEMONS[@]}"; do
        stop_daemon "$name"
    done
    # Steps that outlived slurmd (a job slurmd could not end, e.g. after slurmd crashed), with
    # the job's processes under them.
    mapfile -t pids < <(our_stepds)
    if [ "${#pids[@]}" -gt 0 ]; then
        mapfile -t pids < <(with_descendants "${pids[@]}")
        log "killing leftover job steps: ${pids[*]}"
        kill -KILL "${pids[@]}" 2>/dev/null || true
    fi
    wait_reaped
}

cmd_env() {
    RUN=$(run_dir "${1:-}")
    printf 'export SLURM_CONF=%q\n' "$RUN/etc/slurm.conf"
}

case "${1:-}" in
install) cmd_install ;;
start) cmd_start "${2:-}" ;;
stop) cmd_stop "${2:-}" ;;
env) cmd_env "${2:-}" ;;
*) usage ;;
esac
