#!/usr/bin/env bash
# A local Superset with the product-ops dashboard on the published marts (docs/bi.md):
#   bash bi/superset/setup.sh [path/to/analytics.duckdb]
# Superset pins old pandas and SQLAlchemy, so it gets its own virtual environment, never .venv.
# SUPERSET_DIR (default data/superset) holds it, the config and the metadata database. Superset's
# import keeps a database connection and charts that already exist: to point the dashboard at
# another marts file, edit the connection `productops_marts` in Superset (Settings, Database
# connections) or delete $SUPERSET_DIR/superset.db and run the script again.
set -euo pipefail
cd "$(dirname "$0")/../.."
DIR="$(python3 -c 'import os,sys; print(os.path.abspath(sys.argv[1]))' "${SUPERSET_DIR:-data/superset}")"
VENV="${SUPERSET_VENV:-$DIR/venv}"
if [ -n "${1:-}" ]; then MARTS="$1"
elif [ -n "${MARTS_PATH:-}" ]; then MARTS="$MARTS_PATH"
elif [ -f data/analytics.duckdb ]; then MARTS=data/analytics.duckdb
else MARTS=data/demo/analytics.duckdb
fi
if [ ! -f "$MARTS" ]; then
    echo "setup.sh: no published marts file at $MARTS; run 'make run' first or pass its path" >&2
    exit 2
fi
mkdir -p "$DIR"
if ! "$VENV/bin/python" -c "import superset, duckdb_engine, rich, cachetools" 2>/dev/null; then
    echo "== installing Superset into $VENV (a few minutes, once) ..."
    python3 -m venv --clear "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r bi/superset/requirements.txt
fi
CONFIG="$DIR/superset_config.py"
if [ ! -f "$CONFIG" ]; then
    python3 - "$CONFIG" "$DIR/superset.db" <<'PY'
import secrets, sys
config, metadata = sys.argv[1], sys.argv[2]
with open(config, "w") as out:
    out.write(f"SECRET_KEY = {secrets.token_urlsafe(42)!r}\n")
    out.write(f"SQLALCHEMY_DATABASE_URI = {'sqlite:///' + metadata!r}\n")
PY
fi
export SUPERSET_CONFIG_PATH="$CONFIG" SUPERSET_HOME="$DIR/home"
SUPERSET="$VENV/bin/superset"
echo "== superset db upgrade, init ..."
"$SUPERSET" db upgrade >"$DIR/setup.log" 2>&1
if ! "$SUPERSET" fab list-users 2>>"$DIR/setup.log" | grep -q "username:admin "; then
    "$SUPERSET" fab create-admin --username admin --firstname Product --lastname Ops \
        --email admin@localhost.invalid --password "${SUPERSET_ADMIN_PASSWORD:-admin}" \
        >>"$DIR/setup.log" 2>&1
fi
"$SUPERSET" init >>"$DIR/setup.log" 2>&1
BUNDLE="$(python3 bi/superset/make_bundle.py "$MARTS" "$DIR/productops-dashboard.zip")"
"$SUPERSET" import-dashboards -p "$BUNDLE" -u admin >>"$DIR/setup.log" 2>&1 || {
    echo "setup.sh: import failed; see $DIR/setup.log" >&2
    exit 1
}
echo "== dashboard 'Product ops' imported, reading $MARTS"
echo "start Superset:  SUPERSET_CONFIG_PATH=$CONFIG $SUPERSET run -h 127.0.0.1 -p 8088"
echo "then open http://127.0.0.1:8088/superset/dashboard/product-ops/ (user admin)"
