#!/usr/bin/env bash
# Stop the single-node development Slurm started by start.sh: slurmd, slurmctld, slurmdbd, mariadbd,
# then munged.
# Only the processes named by the pid files in the state folder are signalled (and only when the pid
# still belongs to that daemon); a munged that start.sh found already running is left alone.
# Idempotent: exit 0 when nothing runs. Config, job state and logs are kept (rm -rf the state folder
# to start from scratch; the accounting database is in <state>/mariadb).
#
#   cluster/dev-slurm/stop.sh [--state-dir DIR]      # default: $SMOLPREP_DEV_SLURM_DIR or /var/tmp/smolprep-dev-slurm
set -euo pipefail

STATE_DIR=${SMOLPREP_DEV_SLURM_DIR:-/var/tmp/smolprep-dev-slurm}
while [[ $# -gt 0 ]]; do
    case "$1" in
        --state-dir) STATE_DIR=${2:?--state-dir needs a value}; shift 2 ;;
        --state-dir=*) STATE_DIR=${1#*=}; shift ;;
        -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) printf '[dev-slurm] ERROR: unknown argument: %s\n' "$1" >&2; exit 2 ;;
    esac
done
[[ $STATE_DIR == /* ]] || STATE_DIR="$PWD/$STATE_DIR"
RUN_DIR="$STATE_DIR/run"

log() { printf '[dev-slurm] %s\n' "$*" >&2; }

pid_of() {  # pid_of PIDFILE NAME: print the pid if the file names a live NAME process
    local pidfile=$1 name=$2 pid comm
    [[ -s $pidfile ]] || return 1
    pid=$(tr -dc '0-9' <"$pidfile" 2>/dev/null) || return 1
    is_running "$pid" "$name" || return 1
    printf '%s' "$pid"
}

is_running() {  # is_running PID NAME: PID is a live process named NAME
    local comm
    [[ -n $1 ]] || return 1
    local stat
    comm=$(cat "/proc/$1/comm" 2>/dev/null) || return 1
    [[ $comm == "$2" ]] || return 1
    # A killed daemon stays a zombie (state Z) until init reaps it: that is not running.
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat:0:1} != [ZX] ]]
}

stop_one() {  # stop_one NAME
    local name=$1 pidfile="$RUN_DIR/$1.pid" pid i
    if ! pid=$(pid_of "$pidfile" "$name"); then
        [[ -e $pidfile ]] && log "$name: stale pid file removed"
        rm -f "$pidfile"
        return 0
    fi
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    # mariadbd flushes InnoDB before it exits: give it (and every daemon) up to 30 s.
    for ((i = 0; i < 300; i++)); do
        is_running "$pid" "$name" || break
        sleep 0.1
    done
    if is_running "$pid" "$name"; then
        log "$name (pid $pid) still running after 30 s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
}

if [[ ! -d $RUN_DIR ]]; then
    log "nothing to stop (no $RUN_DIR)"
    exit 0
fi
stop_one slurmd
stop_one slurmctld
stop_one slurmdbd
stop_one mariadbd
stop_one munged
log "stopped (state and logs kept in $STATE_DIR)"
