#!/usr/bin/env bash
# make run: a local pseudo-cluster under ./data, formatted on first run and
# kept after; logs per process in ./data/logs; Ctrl-C stops everything.
# One NameNode on 127.0.0.1 and four DataNodes: 127.0.0.11 and .12 on
# /dc1/rack1, 127.0.0.21 and .22 on /dc1/rack2 (scripts/topology.sh).
# AVATARFS_DATA, NN_PORT and HDFS_BIN override the data folder, the
# NameNode's port and the binary (the tests use them).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bin="${HDFS_BIN:-$root/bin/hdfs}"
data="${AVATARFS_DATA:-$root/data}"
confdir="$data/conf"
mkdir -p "$data/logs" "$confdir"
port=${NN_PORT:-8020}
cat > "$confdir/core-site.xml" <<XML
<?xml version="1.0"?>
<configuration>
  <property><name>fs.defaultFS</name><value>hdfs://127.0.0.1:$port</value></property>
</configuration>
XML
cat > "$confdir/hdfs-site.xml" <<XML
<?xml version="1.0"?>
<configuration>
  <property><name>dfs.namenode.name.dir</name><value>$data/name</value></property>
  <property><name>dfs.replication</name><value>3</value></property>
  <property><name>net.topology.script.file.name</name><value>$root/scripts/topology.sh</value></property>
</configuration>
XML
if [ ! -f "$data/name/current/VERSION" ]; then
  "$bin" --config "$confdir" namenode -format -nonInteractive
fi
pids=()
cleanup() {
  trap - INT TERM EXIT
  echo "stopping..."
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  # Give every process 20 s to shut down cleanly, then kill what is left.
  for _ in $(seq 200); do
    alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for p in "${pids[@]}"; do
    if kill -0 "$p" 2>/dev/null; then
      echo "process $p ($(tr '\0' ' ' < /proc/$p/cmdline 2>/dev/null | cut -c1-120)) did not stop within 20 s; killing it" >&2
      kill -9 "$p" 2>/dev/null || true
    fi
  done
  wait 2>/dev/null || true
}
# A signal stops the script too: after the handler bash would go on
# starting DataNodes (a Ctrl-C during start-up left them running).
trap 'cleanup; exit 130' INT TERM
trap cleanup EXIT
"$bin" --config "$confdir" namenode >>"$data/logs/namenode.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
# (grep -q on a pipe under pipefail can fail by SIGPIPE: read it whole.)
commands=$("$bin" help 2>/dev/null || true)
if grep -q '^ *datanode' <<<"$commands"; then
  i=0
  for ip in 127.0.0.11 127.0.0.12 127.0.0.21 127.0.0.22; do
    i=$((i+1))
    mkdir -p "$data/dn$i"
    "$bin" --config "$confdir" datanode -D dfs.datanode.data.dir="$data/dn$i" \
      -D dfs.datanode.address=$ip:9866 -D dfs.datanode.ipc.address=$ip:9867 -D dfs.datanode.http.address=$ip:9864 \
      >>"$data/logs/datanode-$ip.log" 2>&1 &
    pids+=($!)
  done
fi
cat <<MSG

AvatarFS is running: NameNode at hdfs://127.0.0.1:$port, four DataNodes on
two racks (logs in $data/logs). Try, in another shell:
  export HADOOP_CONF_DIR=$confdir
  $bin dfs -mkdir -p /user/\$USER
  $bin dfs -put README.md /user/\$USER/
  $bin dfs -ls -R /
  $bin fsck / -files -blocks -racks
  $bin dfsadmin -report
  $bin dfsadmin -printTopology
Press Ctrl-C to stop.
MSG
wait
