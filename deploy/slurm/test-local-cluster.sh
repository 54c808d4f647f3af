#!/usr/bin/env bash
# Runs deploy/slurm/hued-array.sbatch on a real one-node Slurm cluster started here: munged,
# slurmctld and slurmd on localhost, configured in a temporary folder (nothing in /etc/slurm is
# touched), then a 4-task array over a folder of photos. Checks that every photo was colorized
# exactly once and that the merged report is complete, then stops the cluster.
#
#   sudo apt-get install slurm-wlm munge          # Debian/Ubuntu; run as root
#   deploy/slurm/test-local-cluster.sh [PHOTO_COUNT] [HUED_BIN]
#
# .ci/run runs it with 40 photos.
set -euo pipefail
cd "$(dirname "$0")/../.."
COUNT=${1:-40}
HUED_BIN=$(realpath "${2:-target/debug/hued}")
MODEL=$(realpath tests/fixtures/tiny-qdq.toml)
for tool in slurmctld slurmd munged sbatch; do
    command -v "$tool" >/dev/null || { echo "SKIPPED: $tool not installed (apt-get install slurm-wlm munge)"; exit 0; }
done
[ "$(id -u)" -eq 0 ] || { echo "SKIPPED: a local Slurm cluster needs root"; exit 0; }

WORK=$(mktemp -d /tmp/hued-slurm.XXXXXX)
chmod 755 "$WORK"
NODE=$(hostname -s)
CPUS=$(nproc)
export SLURM_CONF="$WORK/slurm.conf"
cleanup() {
    [ -f "$WORK/slurmd.pid" ] && kill "$(cat "$WORK/slurmd.pid")" 2>/dev/null || true
    [ -f "$WORK/slurmctld.pid" ] && kill "$(cat "$WORK/slurmctld.pid")" 2>/dev/null || true
    [ -f "$WORK/munged.pid" ] && kill "$(cat "$WORK/munged.pid")" 2>/dev/null || true
    sleep 1
    rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/state" "$WORK/spool" "$WORK/munge" "$WORK/archive" "$WORK/reports"
# munge: its own key, socket and pid in the work folder.
dd if=/dev/urandom of="$WORK/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$WORK/munge/munge.key"
# A cluster that cannot start here (no munge, a host name that does not resolve) is reported
# as SKIPPED with its logs; an array that runs and gives wrong results fails.
skip() { echo "SKIPPED: $1"; for f in "$WORK"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -n 20 "$f"; }; done; exit 0; }
munged --force --key-file="$WORK/munge/munge.key" --socket="$WORK/munge/munge.socket" \
    --pid-file="$WORK/munged.pid" --log-file="$WORK/munged.log" --seed-file="$WORK/munge/seed" \
    || skip "munged did not start"
cat >"$SLURM_CONF" <<CONF
ClusterName=hued-test
SlurmctldHost=$NODE
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$WORK/munge/munge.socket
CredType=cred/munge
SlurmctldPort=16817
SlurmdPort=16818
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/slurmctld.log
SlurmdLogFile=$WORK/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MpiDefault=none
NodeName=$NODE CPUs=$CPUS State=UNKNOWN
PartitionName=test Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
CONF
slurmctld -f "$SLURM_CONF" || skip "slurmctld did not start"
slurmd -f "$SLURM_CONF" || skip "slurmd did not start"
up=""
for _ in $(seq 60); do sinfo -h -o %T 2>/dev/null | grep -qE "idle|mix" && { up=1; break; }; sleep 0.5; done
[ -n "$up" ] || skip "the one-node cluster did not come up within 30 s"
sinfo

# The archive: COUNT small gray photos in a few folders, made with hued's own test pattern.
python3 - "$WORK/archive" "$COUNT" <<'PY'
import sys, pathlib, zlib, struct
root, n = pathlib.Path(sys.argv[1]), int(sys.argv[2])
def png(w, h, seed):
    rows = b"".join(b"\0" + bytes(((x * 3 + y * 5 + seed) % 200) + 20 for x in range(w)) for y in range(h))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
for i in range(n):
    p = root / f"box{i % 4}" / f"scan{i:04}.png"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(png(64, 48, i))
PY

sbatch --wait --array=0-3 --cpus-per-task=1 --mem=0 --output="$WORK/hued-%A_%a.log" \
    --export=ALL,HUED_ARCHIVE="$WORK/archive",HUED_BIN="$HUED_BIN",HUED_REPORTS="$WORK/reports",HUED_ARGS="--model $MODEL",RUST_LOG=warn \
    deploy/slurm/hued-array.sbatch || { cat "$WORK"/hued-*.log "$WORK"/slurm*.log; exit 1; }

outputs=$(find "$WORK/archive" -name '*.colorized.png' | wc -l)
reports=$(ls "$WORK/reports" | wc -l)
"$HUED_BIN" report merge "$WORK"/reports/*.jsonl >"$WORK/totals.json"
python3 - "$WORK/totals.json" "$COUNT" "$outputs" "$reports" <<'PY'
import json, sys
t, count, outputs, reports = json.load(open(sys.argv[1])), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
assert reports == 4, f"{reports} task reports, expected 4"
assert outputs == count, f"{outputs} colorized copies for {count} photos"
assert (t["inputs"], t["done"], t["failed"], t["repeated"]) == (count, count, 0, 0), t
print(f"slurm: 4 array tasks colorized {count} photos exactly once; merged report complete ({t['ms']} ms of work)")
PY
