#!/usr/bin/env bash
# Start a real single-node Slurm (munged + slurmctld + slurmd, and for accounting MariaDB + slurmdbd)
# on this machine, for development and tests. No systemd needed: the daemons are started directly,
# with their config, state, database, logs and pid files in one state folder.
#
#   eval "$(cluster/dev-slurm/start.sh | tail -1)"     # starts (or finds) the cluster, sets SLURM_CONF
#
# The LAST line printed on stdout is exactly `export SLURM_CONF=<state>/slurm.conf`; progress goes to
# stderr. Idempotent: when the cluster already runs with the same settings it returns at once; with
# other settings it rewrites slurm.conf and restarts slurmctld and slurmd. See README.md.
#
# Accounting (the default; --no-accounting turns it off): MariaDB and slurmdbd keep every job's
# record, so sacct and sacctmgr work, association limits (MaxSubmitJobs, ...) are enforced, and a job
# is held to its --mem by the memory cgroup (it ends OUT_OF_MEMORY) and to its --time (TIMEOUT).
set -euo pipefail

usage() {
    cat <<'EOF'
usage: start.sh [--cpus N] [--max-job-count N] [--max-array-size N] [--min-job-age S] [--no-accounting]
                [--state-dir DIR]

  --cpus N             CPUs the node declares (may exceed the real ones)   [env SMOLPREP_DEV_SLURM_CPUS, 8]
  --max-job-count N    slurm.conf MaxJobCount          [env SMOLPREP_DEV_SLURM_MAX_JOB_COUNT, 10000]
  --max-array-size N   slurm.conf MaxArraySize         [env SMOLPREP_DEV_SLURM_MAX_ARRAY_SIZE, 1001]
  --min-job-age S      slurm.conf MinJobAge: seconds a finished job stays in the controller (and counts
                       toward MaxJobCount); >= 2       [env SMOLPREP_DEV_SLURM_MIN_JOB_AGE, 60]
  --no-accounting      no MariaDB, no slurmdbd: sacct and sacctmgr do not work, no memory limit
                       (--accounting: the default)     [env SMOLPREP_DEV_SLURM_ACCOUNTING=0/1, 1]
  --state-dir DIR      config, state, logs, pid files  [env SMOLPREP_DEV_SLURM_DIR, /var/tmp/smolprep-dev-slurm]

  env SMOLPREP_DEV_SLURM_WAIT   seconds to wait for the node to become idle (60)

Last line of stdout: export SLURM_CONF=<state-dir>/slurm.conf
EOF
}

log() { printf '[dev-slurm] %s\n' "$*" >&2; }
die() { printf '[dev-slurm] ERROR: %s\n' "$*" >&2; exit 1; }

STATE_DIR=${SMOLPREP_DEV_SLURM_DIR:-/var/tmp/smolprep-dev-slurm}
CPUS=${SMOLPREP_DEV_SLURM_CPUS:-8}
MAX_JOB_COUNT=${SMOLPREP_DEV_SLURM_MAX_JOB_COUNT:-10000}
MAX_ARRAY_SIZE=${SMOLPREP_DEV_SLURM_MAX_ARRAY_SIZE:-1001}
MIN_JOB_AGE=${SMOLPREP_DEV_SLURM_MIN_JOB_AGE:-60}
WAIT_SECONDS=${SMOLPREP_DEV_SLURM_WAIT:-60}
ACCOUNTING=${SMOLPREP_DEV_SLURM_ACCOUNTING:-1}

while [[ $# -gt 0 ]]; do
    case "$1" in
        --cpus) CPUS=${2:?--cpus needs a value}; shift 2 ;;
        --cpus=*) CPUS=${1#*=}; shift ;;
        --max-job-count) MAX_JOB_COUNT=${2:?--max-job-count needs a value}; shift 2 ;;
        --max-job-count=*) MAX_JOB_COUNT=${1#*=}; shift ;;
        --max-array-size) MAX_ARRAY_SIZE=${2:?--max-array-size needs a value}; shift 2 ;;
        --max-array-size=*) MAX_ARRAY_SIZE=${1#*=}; shift ;;
        --min-job-age) MIN_JOB_AGE=${2:?--min-job-age needs a value}; shift 2 ;;
        --min-job-age=*) MIN_JOB_AGE=${1#*=}; shift ;;
        --accounting) ACCOUNTING=1; shift ;;
        --no-accounting) ACCOUNTING=0; shift ;;
        --state-dir) STATE_DIR=${2:?--state-dir needs a value}; shift 2 ;;
        --state-dir=*) STATE_DIR=${1#*=}; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done

is_posint() { [[ $1 =~ ^[1-9][0-9]*$ ]]; }
is_posint "$CPUS" || die "--cpus must be a positive integer, got '$CPUS'"
is_posint "$MAX_JOB_COUNT" || die "--max-job-count must be a positive integer, got '$MAX_JOB_COUNT'"
is_posint "$WAIT_SECONDS" || die "SMOLPREP_DEV_SLURM_WAIT must be a positive integer, got '$WAIT_SECONDS'"
is_posint "$MAX_ARRAY_SIZE" || die "--max-array-size must be a positive integer, got '$MAX_ARRAY_SIZE'"
is_posint "$MIN_JOB_AGE" && ((MIN_JOB_AGE >= 2)) ||
    die "--min-job-age must be an integer >= 2 (Slurm's advice), got '$MIN_JOB_AGE'"
# Slurm's own limit: MaxArraySize <= 4000001.
((MAX_ARRAY_SIZE <= 4000001)) || die "--max-array-size must be <= 4000001 (Slurm's limit)"
[[ $ACCOUNTING == [01] ]] || die "SMOLPREP_DEV_SLURM_ACCOUNTING must be 0 or 1, got '$ACCOUNTING'"
[[ $STATE_DIR == /* ]] || STATE_DIR="$PWD/$STATE_DIR"

[[ $(id -u) -eq 0 ]] || die "must run as root (it installs packages and runs the daemons as SlurmUser=root)"

export PATH="/usr/sbin:/sbin:/usr/bin:/bin:$PATH"

CONF="$STATE_DIR/slurm.conf"
RUN_DIR="$STATE_DIR/run"
LOG_DIR="$STATE_DIR/log"
CTLD_PID="$RUN_DIR/slurmctld.pid"
SLURMD_PID="$RUN_DIR/slurmd.pid"
MUNGED_PID="$RUN_DIR/munged.pid"
DBD_CONF="$STATE_DIR/slurmdbd.conf"
DBD_PID="$RUN_DIR/slurmdbd.pid"
DBD_PORT=6819  # Slurm's default DbdPort
DB_DIR="$STATE_DIR/mariadb"
DB_DATA="$DB_DIR/data"
DB_PASS_FILE="$DB_DIR/slurm.password"
DB_SOCKET="$RUN_DIR/mariadb.sock"
DB_PID="$RUN_DIR/mariadbd.pid"
DB_PORT=6820   # MariaDB listens on 127.0.0.1 only, next to Slurm's ports (slurmdbd connects over TCP)
DB_NAME=slurm_acct_db
DB_USER=slurm
CLUSTER=smolprep-dev
ACCOUNT=smolprep
ME=$(id -un)
MUNGE_KEY=/etc/munge/munge.key
MUNGE_SOCKET=/run/munge/munge.socket.2

# ---------------------------------------------------------------------------------------------------
# helpers

# is_running PID NAME: PID is a live process whose command is NAME (guards against reused pids).
is_running() {
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

# pid_alive PIDFILE NAME: the pid file names a live process whose command is NAME.
pid_alive() {
    local pid
    [[ -s $1 ]] || return 1
    pid=$(tr -dc '0-9' <"$1" 2>/dev/null) || return 1
    is_running "$pid" "$2"
}

# stop_pidfile PIDFILE NAME: TERM (then KILL after 15 s) the process of PIDFILE if it is NAME.
stop_pidfile() {
    local pidfile=$1 name=$2 pid i
    if pid_alive "$pidfile" "$name"; then
        pid=$(tr -dc '0-9' <"$pidfile" 2>/dev/null) || true
        log "stopping $name (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 150; i++)); do
            is_running "$pid" "$name" || break
            sleep 0.1
        done
        if is_running "$pid" "$name"; then
            log "$name (pid $pid) did not stop after 15 s, killing it"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.5
        fi
    fi
    rm -f "$pidfile"
}

show_logs() {
    local f
    for f in "$LOG_DIR"/*; do
        [[ -f $f ]] || continue
        printf '\n----- last 30 lines of %s -----\n' "$f" >&2
        tail -n 30 "$f" >&2 || true
    done
}

fail() {
    printf '[dev-slurm] ERROR: %s\n' "$*" >&2
    show_logs
    printf '\n[dev-slurm] ERROR: %s (logs above, all in %s)\n' "$*" "$LOG_DIR" >&2
    exit 1
}

munge_works() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

# ---------------------------------------------------------------------------------------------------
# 1. packages

install_packages() {
    local missing=() cmd packages=(slurm-wlm munge)
    local cmds=(slurmctld slurmd sinfo squeue sbatch scontrol munged munge unmunge)
    if [[ $ACCOUNTING -eq 1 ]]; then
        packages+=(slurmdbd mariadb-server)
        cmds+=(slurmdbd sacct sacctmgr mariadbd mariadb-install-db mariadb mariadb-admin)
    fi
    for cmd in "${cmds[@]}"; do
        command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and no apt-get to install ${packages[*]}"
    log "installing ${packages[*]} (missing: ${missing[*]})"
    # Keep the packages' maintainer scripts from starting system services: we start our own daemons.
    local policy=/usr/sbin/policy-rc.d wrote_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        wrote_policy=1
    fi
    local rc=0
    {
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q &&
            apt-get install -y -q --no-install-recommends \
                -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
                "${packages[@]}"
    } </dev/null >&2 || rc=$?
    [[ $wrote_policy -eq 1 ]] && rm -f "$policy"
    [[ $rc -eq 0 ]] || die "apt-get install ${packages[*]} failed (exit $rc)"
    for cmd in "${missing[@]}"; do
        command -v "$cmd" >/dev/null 2>&1 || die "$cmd still missing after installing ${packages[*]}"
    done
}

# ---------------------------------------------------------------------------------------------------
# 2. munge

start_munge() {
    if pid_alive "$MUNGED_PID" munged && munge_works; then
        return 0
    fi
    if ! pid_alive "$MUNGED_PID" munged && munge_works; then
        log "using the munged already running on $MUNGE_SOCKET (not started by this script)"
        return 0
    fi
    stop_pidfile "$MUNGED_PID" munged
    if [[ ! -s $MUNGE_KEY ]]; then
        log "creating $MUNGE_KEY"
        mkdir -p "$(dirname "$MUNGE_KEY")"
        if command -v mungekey >/dev/null 2>&1; then
            mungekey --create --keyfile="$MUNGE_KEY"
        elif [[ -x /usr/sbin/create-munge-key ]]; then
            /usr/sbin/create-munge-key -f </dev/null >&2
        else
            dd if=/dev/urandom of="$MUNGE_KEY" bs=1024 count=1 status=none
        fi
        chmod 0400 "$MUNGE_KEY"
        if id munge >/dev/null 2>&1; then chown munge:munge "$MUNGE_KEY"; fi
    fi
    mkdir -p "$(dirname "$MUNGE_SOCKET")" "$STATE_DIR/munge"
    chmod 0755 "$(dirname "$MUNGE_SOCKET")"
    rm -f "$MUNGE_SOCKET" "$MUNGE_SOCKET.lock"
    log "starting munged"
    # --force: munged refuses to run as root (and some container file systems) without it.
    munged --force \
        --key-file="$MUNGE_KEY" \
        --socket="$MUNGE_SOCKET" \
        --pid-file="$MUNGED_PID" \
        --log-file="$LOG_DIR/munged.log" \
        --seed-file="$STATE_DIR/munge/munged.seed" \
        </dev/null >>"$LOG_DIR/munged.out" 2>&1 9>&- || fail "munged did not start"
    local i
    for ((i = 0; i < 50; i++)); do
        munge_works && return 0
        sleep 0.1
    done
    fail "munged started but 'munge -n | unmunge' does not work"
}

# ---------------------------------------------------------------------------------------------------
# 3. slurm.conf

node_name() {
    local h
    h=$(hostname -s 2>/dev/null || uname -n)
    printf '%s' "${h%%.*}"
}

accounting_flag() {
    if [[ $ACCOUNTING -eq 1 ]]; then
        printf -- '--accounting (memory: %s)' "$MEMORY_LIMIT"
    else
        printf -- '--no-accounting'
    fi
}

# cgroup_v1_usable: the memory and freezer cgroup v1 hierarchies are mounted and we may create groups
# in them (task/cgroup and proctrack/cgroup need both; Slurm 22.05's cgroup/v2 needs systemd).
cgroup_v1_usable() {
    local controller probe
    for controller in memory freezer; do
        [[ -f /sys/fs/cgroup/$controller/tasks ]] || return 1
        probe="/sys/fs/cgroup/$controller/smolprep-dev-probe.$$"
        mkdir "$probe" 2>/dev/null || return 1
        rmdir "$probe" 2>/dev/null || true
    done
    [[ -f /sys/fs/cgroup/memory/memory.limit_in_bytes ]]
}

# How a job is held to its --mem: cgroup (the kernel's OOM killer ends it, sacct says OUT_OF_MEMORY),
# else overmemorykill (slurmstepd's polling kills it; sacct says FAILED), none without accounting.
memory_limit_mode() {
    if [[ $ACCOUNTING -eq 0 ]]; then
        echo none
    elif cgroup_v1_usable; then
        echo cgroup
    else
        echo overmemorykill
    fi
}

tracking_conf() {
    case "$MEMORY_LIMIT" in
        cgroup)
            cat <<'EOF'
# --- cgroup v1 (cgroup.conf next to this file): every job is held to its --mem. Past it the kernel's
#     OOM killer ends the job, and sacct says OUT_OF_MEMORY. Memory is sampled every 2 s (MaxRSS) ---
ProctrackType=proctrack/cgroup
TaskPlugin=task/cgroup
JobAcctGatherType=jobacct_gather/cgroup
JobAcctGatherFrequency=task=2
EOF
            ;;
        overmemorykill)
            cat <<'EOF'
# --- no usable cgroup v1 here: slurmstepd samples memory every second (MaxRSS) and kills a job past
#     its --mem (OverMemoryKill; sacct then says FAILED, not OUT_OF_MEMORY) ---
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherParams=OverMemoryKill
JobAcctGatherFrequency=task=1
EOF
            ;;
        *)
            cat <<'EOF'
# --- no cgroups, no systemd: plain Linux process tracking ---
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
EOF
            ;;
    esac
}

accounting_conf() {
    if [[ $ACCOUNTING -eq 1 ]]; then
        cat <<EOF
# --- accounting: slurmdbd (slurmdbd.conf next to this file) stores every job in MariaDB, so sacct and
#     sacctmgr work. Jobs need an association (cluster $CLUSTER, account $ACCOUNT, user $ME), and
#     association and QOS limits (sacctmgr ... set MaxSubmitJobs=N) are enforced ---
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$DBD_PORT
AccountingStorageEnforce=associations,limits,qos
EOF
    else
        cat <<'EOF'
# --- no accounting database: sacct is unavailable on this cluster ---
AccountingStorageType=accounting_storage/none
EOF
    fi
}

write_cgroup_conf() {
    if [[ $MEMORY_LIMIT != cgroup ]]; then
        rm -f "$STATE_DIR/cgroup.conf"
        return 0
    fi
    cat >"$STATE_DIR/cgroup.conf" <<'EOF'
# Written by cluster/dev-slurm/start.sh (do not edit): hold each job to its --mem with cgroup v1.
CgroupPlugin=cgroup/v1
CgroupAutomount=no
ConstrainCores=no
ConstrainRAMSpace=yes
ConstrainSwapSpace=no
EOF
}

write_conf() {  # write_conf FILE
    local out=$1 host hw real_mem mem def_mem
    host=$(node_name)
    hw=$(slurmd -C 2>/dev/null | head -1) || true
    real_mem=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$hw")
    [[ -n $real_mem ]] || real_mem=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
    # Headroom: declare 90 % of the memory (at most 2 GiB less), so slurmd never reports too little.
    mem=$((real_mem * 9 / 10))
    ((real_mem - mem <= 2048)) || mem=$((real_mem - 2048))
    ((mem >= 256)) || mem=256
    def_mem=$((mem / CPUS))
    ((def_mem >= 64)) || def_mem=64
    cat >"$out" <<EOF
# Single-node development Slurm for smolprep, written by cluster/dev-slurm/start.sh.
# Do not edit: start.sh rewrites it (and restarts the daemons) whenever its settings change.
# Settings: --cpus $CPUS --max-job-count $MAX_JOB_COUNT --max-array-size $MAX_ARRAY_SIZE --min-job-age $MIN_JOB_AGE $(accounting_flag)
# Hardware (slurmd -C): ${hw:-unknown}

ClusterName=smolprep-dev
# The controller and the only node are this machine; everything talks over the loopback interface.
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
MpiDefault=none
MailProg=/bin/true

# --- where things live (all inside the state folder) ---
StateSaveLocation=$STATE_DIR/spool/slurmctld
SlurmdSpoolDir=$STATE_DIR/spool/slurmd
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$SLURMD_PID
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info

$(tracking_conf)

# --- scheduling: cores and memory are consumable resources ---
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# A node that was DOWN returns to service as soon as its slurmd registers.
ReturnToService=2

# --- limits (start.sh --max-job-count / --max-array-size / --min-job-age) ---
MaxJobCount=$MAX_JOB_COUNT
MaxArraySize=$MAX_ARRAY_SIZE
# Finished jobs stay visible (squeue -t all, scontrol show job) and count toward MaxJobCount for
# MinJobAge seconds: 60 by default, so that tests see them in scontrol; a cluster with a tiny
# MaxJobCount is started with a short one, or every wave waits a minute or two for them to be purged.
MinJobAge=$MIN_JOB_AGE
KillWait=5
# A job ends (TIMEOUT) as soon as Slurm sees it past its --time, with no grace minutes.
OverTimeLimit=0
InactiveLimit=0
SlurmctldTimeout=60
SlurmdTimeout=120

$(accounting_conf)
JobCompType=jobcomp/none

# --- the node: this machine, declaring $CPUS CPUs whatever it really has ---
# config_overrides: slurmd uses the CPUs/memory written here instead of the detected hardware.
SlurmdParameters=config_overrides
NodeName=$host NodeAddr=127.0.0.1 CPUs=$CPUS Boards=1 SocketsPerBoard=1 CoresPerSocket=$CPUS ThreadsPerCore=1 RealMemory=$mem State=UNKNOWN
# Without a default, a job under CR_Core_Memory would take all the node's memory (one job at a time).
DefMemPerCPU=$def_mem

PartitionName=cpu Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}

# ---------------------------------------------------------------------------------------------------
# 4. accounting: MariaDB (a private server: data directory, socket and pid file in the state folder)
#    and slurmdbd

# The database password of slurmdbd, made once; only root reads it (it is also in slurmdbd.conf).
db_password() {
    mkdir -p "$DB_DIR"
    if [[ ! -s $DB_PASS_FILE ]]; then
        (umask 077 && od -An -tx1 -N16 /dev/urandom | tr -d ' \n' >"$DB_PASS_FILE")
    fi
    cat "$DB_PASS_FILE"
}

write_dbd_conf() {  # write_dbd_conf FILE (mode 600: it holds the database password)
    local out=$1 password
    password=$(db_password)
    (umask 077 && cat >"$out" <<EOF
# Accounting daemon of the development Slurm, written by cluster/dev-slurm/start.sh. Do not edit.
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
DebugLevel=info
LogFile=$LOG_DIR/slurmdbd.log
PidFile=$DBD_PID
# The MariaDB server start.sh runs, on 127.0.0.1:$DB_PORT (data in $DB_DATA)
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=$DB_USER
StoragePass=$password
StorageLoc=$DB_NAME
EOF
    )
    chmod 600 "$out"
}

# The InnoDB sizes slurmdbd checks at start (below them it logs 'Database settings not recommended
# values'). The buffer pool is only reserved: the small database uses little of it.
DB_SERVER_OPTS=(--innodb-buffer-pool-size=1024M --innodb-log-file-size=64M --innodb-lock-wait-timeout=900)

db_sql() { mariadb --no-defaults --socket="$DB_SOCKET" -u root "$@"; }
db_ping() { mariadb-admin --no-defaults --socket="$DB_SOCKET" -u root ping >/dev/null 2>&1; }

start_mariadb() {
    local i pid
    pid_alive "$DB_PID" mariadbd && db_ping && return 0
    stop_pidfile "$DB_PID" mariadbd
    if [[ ! -d $DB_DATA/mysql ]]; then
        log "creating the MariaDB data directory $DB_DATA"
        rm -rf "$DB_DATA"
        mkdir -p "$DB_DATA"
        # root logs in through the unix socket only (as uid 0); no test database, no anonymous users.
        mariadb-install-db --no-defaults --user=root --datadir="$DB_DATA" \
            --auth-root-authentication-method=socket --skip-test-db "${DB_SERVER_OPTS[@]}" \
            </dev/null >>"$LOG_DIR/mariadb-install.out" 2>&1 9>&- || fail "mariadb-install-db failed"
    fi
    rm -f "$DB_SOCKET"
    log "starting mariadbd (127.0.0.1:$DB_PORT)"
    # mariadbd stays in the foreground: run it in its own session, like the daemons that fork.
    setsid mariadbd --no-defaults --user=root --datadir="$DB_DATA" --socket="$DB_SOCKET" \
        --pid-file="$DB_PID" --port="$DB_PORT" --bind-address=127.0.0.1 --skip-name-resolve \
        --log-error="$LOG_DIR/mariadb.log" "${DB_SERVER_OPTS[@]}" \
        </dev/null >>"$LOG_DIR/mariadb.out" 2>&1 9>&- &
    pid=$!
    for ((i = 0; i < 300; i++)); do
        db_ping && break
        kill -0 "$pid" 2>/dev/null || fail "mariadbd exited (is port $DB_PORT in use?)"
        sleep 0.1
    done
    db_ping || fail "mariadbd does not answer on $DB_SOCKET after 30 s"
    local password
    password=$(db_password)
    db_sql <<EOF || fail "could not create the database $DB_NAME and its user $DB_USER"
CREATE DATABASE IF NOT EXISTS $DB_NAME;
CREATE USER IF NOT EXISTS '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$password';
ALTER USER '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$password';
GRANT ALL ON $DB_NAME.* TO '$DB_USER'@'127.0.0.1';
EOF
}

dbd_answers() { sacctmgr -n -P list cluster format=cluster >/dev/null 2>&1; }

start_slurmdbd() {
    local i
    if ! pid_alive "$DBD_PID" slurmdbd; then
        log "starting slurmdbd"
        # slurmdbd finds slurmdbd.conf next to $SLURM_CONF.
        slurmdbd </dev/null >>"$LOG_DIR/slurmdbd.out" 2>&1 9>&- || fail "slurmdbd did not start"
    fi
    for ((i = 0; i < 300; i++)); do
        dbd_answers && return 0
        pid_alive "$DBD_PID" slurmdbd || ((i < 20)) || fail "slurmdbd exited"
        sleep 0.1
    done
    fail "slurmdbd does not answer 'sacctmgr list cluster' after 30 s"
}

# The cluster, the account and this user's association: jobs need one (AccountingStorageEnforce).
register_accounting() {
    local out="$LOG_DIR/sacctmgr.out"
    if [[ -z $(sacctmgr -n -P list cluster "$CLUSTER" format=cluster 2>/dev/null) ]]; then
        log "registering cluster $CLUSTER in the accounting database"
        sacctmgr -i add cluster "$CLUSTER" >>"$out" 2>&1 || fail "sacctmgr add cluster $CLUSTER failed"
    fi
    if [[ -z $(sacctmgr -n -P list account "$ACCOUNT" format=account 2>/dev/null) ]]; then
        sacctmgr -i add account "$ACCOUNT" cluster="$CLUSTER" description="smolprep development" \
            organization=smolprep >>"$out" 2>&1 || fail "sacctmgr add account $ACCOUNT failed"
    fi
    local where=(cluster="$CLUSTER" account="$ACCOUNT" user="$ME")
    if [[ -z $(sacctmgr -n -P show assoc where "${where[@]}" format=user 2>/dev/null) ]]; then
        sacctmgr -i add user "$ME" account="$ACCOUNT" defaultaccount="$ACCOUNT" cluster="$CLUSTER" \
            >>"$out" 2>&1 || fail "sacctmgr add user $ME failed"
    fi
}

stop_accounting() {
    stop_pidfile "$DBD_PID" slurmdbd
    stop_pidfile "$DB_PID" mariadbd
}

accounting_as_set() {  # the accounting daemons run if and only if accounting is on
    if [[ $ACCOUNTING -eq 1 ]]; then
        pid_alive "$DBD_PID" slurmdbd && pid_alive "$DB_PID" mariadbd
    else
        ! pid_alive "$DBD_PID" slurmdbd && ! pid_alive "$DB_PID" mariadbd
    fi
}

# ---------------------------------------------------------------------------------------------------
# 5. slurm daemons

node_state() { sinfo -h -N -n "$(node_name)" -o '%T' 2>/dev/null | head -1; }

resume_if_stuck() {
    local st
    st=$(node_state) || true
    case "$st" in
        down* | drain* | fail*)
            log "node $(node_name) is '$st': resuming it"
            scontrol update nodename="$(node_name)" state=resume >&2 2>/dev/null ||
                scontrol update nodename="$(node_name)" state=idle >&2 2>/dev/null || true
            ;;
    esac
}

node_ready() {  # idle, or busy with jobs; not down/drained/not responding
    local st
    st=$(node_state) || return 1
    [[ $st =~ ^(idle|mixed|allocated|completing)$ ]]
}

daemons_running() {
    pid_alive "$CTLD_PID" slurmctld && pid_alive "$SLURMD_PID" slurmd && scontrol ping >/dev/null 2>&1
}

stop_slurm() {
    stop_pidfile "$SLURMD_PID" slurmd
    stop_pidfile "$CTLD_PID" slurmctld
}

start_slurm() {
    local i
    mkdir -p "$STATE_DIR/spool/slurmctld" "$STATE_DIR/spool/slurmd"
    if ! pid_alive "$CTLD_PID" slurmctld; then
        log "starting slurmctld"
        slurmctld -f "$CONF" </dev/null >>"$LOG_DIR/slurmctld.out" 2>&1 9>&- || fail "slurmctld did not start"
    fi
    for ((i = 0; i < 300; i++)); do
        scontrol ping >/dev/null 2>&1 && break
        pid_alive "$CTLD_PID" slurmctld || ((i < 20)) || fail "slurmctld exited"
        sleep 0.1
    done
    scontrol ping >/dev/null 2>&1 || fail "slurmctld does not answer 'scontrol ping' after 30 s"
    if ! pid_alive "$SLURMD_PID" slurmd; then
        log "starting slurmd"
        slurmd -f "$CONF" </dev/null >>"$LOG_DIR/slurmd.out" 2>&1 9>&- || fail "slurmd did not start"
    fi
}

wait_node() {
    local deadline=$((SECONDS + WAIT_SECONDS)) last=""
    log "waiting (up to ${WAIT_SECONDS} s) for node $(node_name) to be idle"
    while ((SECONDS < deadline)); do
        node_ready && return 0
        last=$(node_state) || true
        resume_if_stuck
        sleep 0.5
    done
    fail "node $(node_name) not idle after ${WAIT_SECONDS} s (sinfo state: '${last:-none}')"
}

# ---------------------------------------------------------------------------------------------------
# main

install_packages
mkdir -p "$STATE_DIR" "$RUN_DIR" "$LOG_DIR"
export SLURM_CONF="$CONF"

# One start.sh at a time (parallel test workers may call it together). The daemons are started
# with fd 9 closed so that they do not inherit (and hold) this lock.
exec 9>"$STATE_DIR/.start.lock"
flock -w 300 9 || die "another start.sh holds $STATE_DIR/.start.lock"

MEMORY_LIMIT=$(memory_limit_mode)
new_conf="$STATE_DIR/.slurm.conf.new"
write_conf "$new_conf"
new_dbd_conf="$STATE_DIR/.slurmdbd.conf.new"
dbd_conf_same=1
if [[ $ACCOUNTING -eq 1 ]]; then
    write_dbd_conf "$new_dbd_conf"
    cmp -s "$new_dbd_conf" "$DBD_CONF" || dbd_conf_same=0
fi

if [[ -f $CONF ]] && cmp -s "$new_conf" "$CONF" && [[ $dbd_conf_same -eq 1 ]] && accounting_as_set &&
    daemons_running && munge_works; then
    rm -f "$new_conf" "$new_dbd_conf"
    resume_if_stuck
    node_ready || wait_node
    log "already running (conf $CONF)"
    echo "export SLURM_CONF=$CONF"
    exit 0
fi

start_munge
if [[ -f $CONF ]] && ! cmp -s "$new_conf" "$CONF"; then
    if pid_alive "$CTLD_PID" slurmctld || pid_alive "$SLURMD_PID" slurmd; then
        log "settings changed: restarting slurmctld and slurmd"
    fi
    stop_slurm
fi
mv -f "$new_conf" "$CONF"
if [[ $ACCOUNTING -eq 1 ]]; then
    if [[ $dbd_conf_same -eq 0 ]]; then
        stop_pidfile "$DBD_PID" slurmdbd
        mv -f "$new_dbd_conf" "$DBD_CONF"
    fi
    rm -f "$new_dbd_conf"
    start_mariadb
    start_slurmdbd
    register_accounting
else
    stop_accounting
fi
write_cgroup_conf
# Starts whichever of slurmctld and slurmd is not running (both on a first run or after a restart).
start_slurm
wait_node
log "running: $(sinfo -h -o '%P %a %D %T %C' | head -1) (partition avail nodes state cpus A/I/O/T)"
if [[ $ACCOUNTING -eq 1 ]]; then
    log "accounting: slurmdbd on 127.0.0.1:$DBD_PORT, MariaDB on 127.0.0.1:$DB_PORT," \
        "memory limit: $MEMORY_LIMIT"
fi
log "state, logs and pid files in $STATE_DIR"
echo "export SLURM_CONF=$CONF"
