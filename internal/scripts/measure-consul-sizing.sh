#!/usr/bin/env bash
# The sizing figures of docs/operators.md: connections from one member to its
# Consul agent (idle and while submitting), and the Consul server's memory
# and disk per completed task. One disk-backed Consul server (bin/consul,
# make consul) and one `granary node` on loopback; N echo tasks (default
# 50000, a 30-byte payload each) submitted with `granary submit --from`.
#   N=50000 bash internal/scripts/measure-consul-sizing.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'kill ${GPID:-} ${CPID:-} ${WPID:-} 2>/dev/null || true; rm -rf "$work"' EXIT
cd "$work"
N=${N:-50000}
go -C "$root" build -o "$work/granary" ./cmd/granary
"$root/bin/consul" agent -server -bootstrap-expect=1 -data-dir=cdata -bind=127.0.0.1 -client=127.0.0.1 \
  -http-port=18500 -grpc-port=-1 -dns-port=-1 -server-port=18300 -serf-lan-port=18301 -serf-wan-port=18302 \
  -log-level=warn > consul.log 2>&1 &
CPID=$!
until curl -sf http://127.0.0.1:18500/v1/status/leader | grep -q 18300; do sleep 0.5; done
./granary node --cluster m --consul 127.0.0.1:18500 --bind 127.0.0.1:17000 --http 127.0.0.1:17080 \
  --node-id m1 --log-level warn > node.log 2>&1 &
GPID=$!
until curl -sf http://127.0.0.1:17080/healthz >/dev/null; do sleep 0.5; done
sleep 10
conns() { ss -tnp state established "( dport = :18500 )" 2>/dev/null | grep -c "pid=$GPID," || true; }
rss() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }
heap() { curl -s http://127.0.0.1:18500/v1/agent/metrics | python3 -c "import json,sys; d=json.load(sys.stdin); print([g['Value'] for g in d['Gauges'] if g['Name'].endswith('runtime.alloc_bytes')][0])"; }
echo "connections from the member to its agent, idle: $(conns)"
r0=$(rss $CPID); h0=$(heap)
python3 -c "
import json
for i in range($N): print(json.dumps({'id':'e%06d'%i,'kind':'echo','payload':{'n':i,'pad':'x'*20}}))
" > tasks.jsonl
( while sleep 1; do conns; done ) > busy.txt &
WPID=$!
began=$(date +%s)
./granary submit --addr http://127.0.0.1:17080 --from tasks.jsonl > /dev/null
kill $WPID
echo "submitted $N tasks in $(( $(date +%s) - began ))s; connections while submitting, most: $(sort -n busy.txt | tail -1)"
sleep 40 # Consul snapshots its Raft log (snapshot_interval 30s)
r1=$(rss $CPID); h1=$(heap)
state=$(find cdata/raft/snapshots -name state.bin -printf '%s\n' | sort -n | tail -1)
curl -s http://127.0.0.1:18500/v1/snapshot -o snap.gz
echo "consul server: RSS +$(( (r1-r0)*1024/N )) B/task, heap +$(( (h1-h0)/N )) B/task, snapshot state $(( state/N )) B/task, consul snapshot save (gzip) $(( $(stat -c %s snap.gz)/N )) B/task"
echo "member RSS: $(rss $GPID) KiB"
