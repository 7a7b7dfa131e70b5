#!/usr/bin/env bash
# Java 17 from Debian's packages, when missing: WAREHOUSE=spark runs Spark inside the dbt
# process (pyspark, dbt-spark `method: session`), which needs a JVM (docs/spark.md).
set -euo pipefail
if command -v java >/dev/null 2>&1 && java -version 2>&1 | grep -qE 'version "(1[7-9]|2[0-9])'; then
    exit 0
fi
bash "$(dirname "$0")/apt_install.sh" "Java 17" openjdk-17-jre-headless
java -version
