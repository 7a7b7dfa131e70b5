#!/usr/bin/env bash
# PostgreSQL server binaries from Debian's packages, when they are missing. The tests (and
# `make run-postgres`) start throwaway servers with them (tools/pg_cluster.py).
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then
    exit 0
fi
bash "$(dirname "$0")/apt_install.sh" "the PostgreSQL server" postgresql
ls /usr/lib/postgresql/*/bin/initdb
