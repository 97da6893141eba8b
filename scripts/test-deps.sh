#!/usr/bin/env bash
# Installs what the test suite needs, only when it is missing.
set -euo pipefail
need=()
command -v go >/dev/null || { echo "Go is required (https://go.dev/dl)"; exit 1; }
command -v bats >/dev/null || need+=(bats)
[ -x /usr/share/zookeeper/bin/zkServer.sh ] || need+=(zookeeper)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
go mod download
