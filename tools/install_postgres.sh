#!/usr/bin/env bash
# PostgreSQL server binaries from Debian's packages, when they are missing. The tests (and
# `make run-postgres`) start throwaway servers with them (tools/pg_cluster.py).
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || {
        echo "PostgreSQL server missing: run 'apt-get install postgresql' as root" >&2
        exit 1
    }
    SUDO="sudo"
fi
echo "== installing the PostgreSQL server (apt-get install postgresql) ..."
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null
ls /usr/lib/postgresql/*/bin/initdb
