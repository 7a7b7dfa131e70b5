#!/usr/bin/env bash
# Java 17 from Debian's packages, when missing: WAREHOUSE=spark runs Spark inside the dbt
# process (pyspark, dbt-spark `method: session`), which needs a JVM (docs/spark.md).
set -euo pipefail
if command -v java >/dev/null 2>&1 && java -version 2>&1 | grep -qE 'version "(1[7-9]|2[0-9])'; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || {
        echo "Java 17 missing: run 'apt-get install openjdk-17-jre-headless' as root" >&2
        exit 1
    }
    SUDO="sudo"
fi
echo "== installing Java 17 (apt-get install openjdk-17-jre-headless) ..."
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless >/dev/null
java -version
