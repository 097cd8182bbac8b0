#!/usr/bin/env bash
# A real single-node Slurm cluster on this host, with fake GPUs, for the tests.
#   bash tests/services/start_slurm.sh        prints SLURM_CONF=<path> on its last line
# Idempotent: writes its configuration under $PTB_SLURM_DIR (default /tmp/ptb-slurm) and
# starts munged, slurmctld and slurmd only where they are not running. Installs nothing:
# `bash .devcontainer/setup.sh --test` installs slurm-wlm and munge. Needs root.
set -euo pipefail

dir=${PTB_SLURM_DIR:-/tmp/ptb-slurm}
host=$(hostname -s)
cpus=$(nproc)
mem_mb=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024))

for tool in munged slurmctld slurmd sbatch; do
  command -v "$tool" >/dev/null || { echo "start_slurm.sh: $tool not found: bash .devcontainer/setup.sh --test" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "start_slurm.sh: needs root (slurmd runs jobs as their owner)" >&2; exit 1; }

mkdir -p "$dir"/{state,spool,log,gpu}
# Two fake GPUs: character devices like /dev/null. Slurm only needs a file per GPU to hand
# out indices (CUDA_VISIBLE_DEVICES); devices are not constrained, so nothing opens them.
for i in 0 1; do [ -c "$dir/gpu/nvidia$i" ] || mknod "$dir/gpu/nvidia$i" c 1 3; done

cat > "$dir/slurm.conf.new" <<EOF
ClusterName=ptb-test
# Addresses given: the host name need not resolve (CI machines).
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
# proctrack/cgroup: a cancelled or timed-out job's processes are all killed, setsid and
# double-forked ones included (proctrack/linuxproc leaves those behind).
ProctrackType=proctrack/cgroup
MpiDefault=none
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
GresTypes=gpu
# The node's real size may differ from what is declared here (CI machines vary).
SlurmdParameters=config_overrides
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
MessageTimeout=30
KillWait=5
InactiveLimit=0
MinJobAge=300
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
cat > "$dir/gres.conf.new" <<EOF
AutoDetect=off
NodeName=$host Name=gpu File=$dir/gpu/nvidia[0-1]
EOF
cat > "$dir/cgroup.conf.new" <<EOF
CgroupPlugin=cgroup/v1
CgroupMountpoint=/sys/fs/cgroup
ConstrainCores=no
ConstrainRAMSpace=no
ConstrainDevices=no
EOF
changed=0
for f in slurm gres cgroup; do
  if ! cmp -s "$dir/$f.conf.new" "$dir/$f.conf"; then mv "$dir/$f.conf.new" "$dir/$f.conf"; changed=1; else rm "$dir/$f.conf.new"; fi
done
export SLURM_CONF=$dir/slurm.conf

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

if ! running /run/munge/munged.pid; then
  mkdir -p /run/munge && chown munge:munge /run/munge && chmod 755 /run/munge
  [ -f /etc/munge/munge.key ] || { dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=128 status=none;
                                   chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key; }
  su -s /bin/sh munge -c "munged --pid-file=/run/munge/munged.pid"
fi
if ((changed)); then  # a new configuration: restart the daemons that read the old one
  for pid in "$dir/slurmd.pid" "$dir/slurmctld.pid"; do
    if running "$pid"; then kill "$(cat "$pid")"; while running "$pid"; do sleep 0.2; done; fi
  done
fi
running "$dir/slurmctld.pid" || slurmctld -i
running "$dir/slurmd.pid" || slurmd

# Ready when the node accepts jobs.
for _ in $(seq 1 150); do
  state=$(sinfo -h -n "$host" -o %T 2>/dev/null || true)
  case "$state" in idle*|mixed*|allocated*) echo "SLURM_CONF=$SLURM_CONF"; exit 0 ;; esac
  if [[ "$state" == down* || "$state" == drain* ]]; then scontrol update nodename="$host" state=resume 2>/dev/null || true; fi
  sleep 0.2
done
echo "start_slurm.sh: node $host not ready (state '${state:-unknown}'): see $dir/log/" >&2
exit 1
