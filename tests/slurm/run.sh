#!/usr/bin/env bash
# `make slurm-test`: a private one-node SLURM cluster on this machine, then tests/slurm/check.py grades
# a folder of the bundle's examples on it (see that file). Needs root (munged runs as `munge`, the
# SLURM daemons as root) and no systemd: every daemon is started by hand with its own config, socket,
# state, spool, pid and log files in one temporary folder, never the system's defaults, and stopped by
# pid on exit, whatever happened. Usage: tests/slurm/run.sh [BUNDLE]   (default: this checkout)
set -euo pipefail
BUNDLE=$(readlink -f "${1:-$(dirname "$0")/../..}")
if [ "$(id -u)" != 0 ]; then
  echo "slurm-test: needs root (it starts munged, slurmctld and slurmd by hand)" >&2
  exit 2
fi
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
  command -v apt-get >/dev/null || { echo "slurm-test: install slurm-wlm and munge first" >&2; exit 2; }
  export DEBIAN_FRONTEND=noninteractive
  # The packages' scripts would start the system's munged and slurm daemons with the default config:
  # a policy-rc.d answering 101 ("not allowed") keeps them stopped, and goes once the install is done.
  added_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && added_policy=1
  fi
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null; } \
    || install_failed=1
  [ -n "$added_policy" ] && rm -f /usr/sbin/policy-rc.d
  [ -z "${install_failed:-}" ] || { echo "slurm-test: apt-get could not install slurm-wlm munge" >&2; exit 2; }
fi

WORK=$(mktemp -d /tmp/grader-slurm.XXXXXX)
chmod 755 "$WORK"          # munged (as munge) and the graded jobs must reach their files in it
MUNGE_LOG="/var/log/munge/grader-slurm-$(basename "$WORK").log"
PIDS=()
CHECK=

cleanup() {
  local rc=$? pid
  set +e
  [ -n "$CHECK" ] && kill -TERM "$CHECK" 2>/dev/null
  # Jobs before daemons: scancel, then wait for slurmd to see their processes end (a task's batch
  # stops its gradings within 30 s of SIGTERM), so none is orphaned when slurmd goes.
  if [ -n "${SLURM_CONF:-}" ] && scontrol ping >/dev/null 2>&1; then
    scancel --quiet --user=root 2>/dev/null
    for _ in $(seq 225); do [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break; sleep 0.2; done
  fi
  for ((i=${#PIDS[@]}-1; i>=0; i--)); do       # the daemons, newest first
    pid=${PIDS[i]}
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null
  done
  # Last resort, by pid: anything still running from this run's folder (a job step slurmd left).
  for pid in $(grep -lsF "$WORK" /proc/[0-9]*/cmdline | cut -d/ -f3); do
    [ "$pid" != $$ ] && kill -KILL "$pid" 2>/dev/null && echo "slurm-test: killed leftover $pid" >&2
  done
  if [ "$rc" != 0 ] && [ -d "$WORK/log" ]; then
    for f in "$WORK"/log/*.log "$MUNGE_LOG" "$WORK"/check/out/*.slurm/logs/*.out; do
      [ -f "$f" ] && { echo "--- last lines of $f" >&2; tail -n 15 "$f" >&2; }
    done
  fi
  rm -rf "$WORK"
  rm -f "$MUNGE_LOG"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { "$BUNDLE/.venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() {   # wait_for SECONDS DESCRIPTION COMMAND...
  local t=$1 what=$2; shift 2
  for _ in $(seq $((t * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "slurm-test: $what did not come up in $t s" >&2
  return 1
}

# --- munge: its own key, socket, pid and seed; as the munge user
mkdir -p "$WORK/munge" /var/log/munge
chown munge: /var/log/munge
dd if=/dev/urandom of="$WORK/munge/munge.key" bs=1024 count=1 status=none
chown -R munge: "$WORK/munge"
chmod 711 "$WORK/munge"    # clients (slurm, as root or the job's user) must reach the socket
chmod 400 "$WORK/munge/munge.key"
SOCKET="$WORK/munge/munge.socket"
# setpriv execs munged itself, so $! is munged's pid (runuser would stay in between).
setpriv --reuid=munge --regid=munge --init-groups -- /usr/sbin/munged --foreground --socket="$SOCKET" \
  --key-file="$WORK/munge/munge.key" --pid-file="$WORK/munge/munged.pid" --seed-file="$WORK/munge/munge.seed" \
  --log-file="$MUNGE_LOG" >>"$WORK/munged.out" 2>&1 &
PIDS+=($!)
wait_for 20 munged test -S "$SOCKET"

# --- slurm: one node at 127.0.0.1, everything under $WORK
mkdir -p "$WORK/state" "$WORK/spool" "$WORK/log"
NODE=$(hostname -s)
CPUS=$(nproc)
MEM=$(( $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) - 2048 ))
cat > "$WORK/slurm.conf" <<EOF
ClusterName=gradertest
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCKET
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/log/slurmctld.log
SlurmdLogFile=$WORK/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
MailProg=/bin/true
DefMemPerCPU=1024
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=grader Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$WORK/slurm.conf"
/usr/sbin/slurmctld -D -i >>"$WORK/log/slurmctld.out" 2>&1 &
PIDS+=($!)
wait_for 30 slurmctld scontrol ping
/usr/sbin/slurmd -D -N "$NODE" >>"$WORK/log/slurmd.out" 2>&1 &
PIDS+=($!)
node_idle() { [ "$(sinfo -h -n "$NODE" -o %t)" = idle ]; }
wait_for 60 "node $NODE" node_idle
echo "slurm-test: cluster up in $WORK ($CPUS CPUs, ${MEM} MB on $NODE)"

# The check's own temporary files live in $WORK too, so they go with the cluster.
# In the background and waited for, so a SIGTERM/SIGINT to this script runs the cleanup at once
# (bash defers traps while a foreground command runs).
TMPDIR="$WORK" PYTHONPATH="$BUNDLE${PYTHONPATH:+:$PYTHONPATH}" "$BUNDLE/.venv/bin/python" \
  "$BUNDLE/tests/slurm/check.py" "$BUNDLE" "$WORK/check" &
CHECK=$!
wait "$CHECK"
