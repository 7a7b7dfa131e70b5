#!/usr/bin/env bash
# Install Debian packages with apt-get, through sudo when not root: the one place the
# project's install scripts (tools/install_postgres.sh, tools/install_java.sh) do it.
# usage: tools/apt_install.sh "WHAT IT IS" PACKAGE...
set -euo pipefail
what="$1"
shift
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || {
        echo "$what missing: run 'apt-get install $*' as root" >&2
        exit 1
    }
    SUDO="sudo"
fi
echo "== installing $what (apt-get install $*) ..."
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
