#!/usr/bin/env bash
# NameNode throughput over real RPC: formats a throw-away NameNode, runs
# `hdfs nnbench` against it from this machine, and stops it.
#   NNBENCH_FILES (100000) NNBENCH_THREADS (64) set the load.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=bin/hdfs
[ -x "$bin" ] || go build -o "$bin" ./cmd/hdfs
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/core-site.xml" <<XML
<configuration>
  <property><name>fs.defaultFS</name><value>hdfs://127.0.0.1:$port</value></property>
  <property><name>dfs.namenode.name.dir</name><value>$work/name</value></property>
  <property><name>dfs.namenode.handler.count</name><value>${NNBENCH_HANDLERS:-16}</value></property>
</configuration>
XML
cp "$work/core-site.xml" "$work/hdfs-site.xml"
"$bin" --config "$work" namenode -format -nonInteractive >/dev/null
AVATARFS_LOG_LEVEL=warn AVATARFS_PPROF=${NNBENCH_PPROF:-} "$bin" --config "$work" namenode 2>"$work/nn.log" &
nn=$!
trap 'kill $nn 2>/dev/null; wait $nn 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
"$bin" --config "$work" nnbench --files "${NNBENCH_FILES:-100000}" --threads "${NNBENCH_THREADS:-64}" --conns "${NNBENCH_CONNS:-0}"
