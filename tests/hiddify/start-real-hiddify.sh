#!/usr/bin/env bash
# Start a REAL Hiddify panel (hiddifypanel from PyPI) on this machine, offline, for the
# vpnshop integration tests. See tests/hiddify/REAL_API.md for what its API answers.
#
#   tests/hiddify/start-real-hiddify.sh          # install if needed, init the DB, (re)start the panel
#   tests/hiddify/start-real-hiddify.sh stop     # stop the panel
#   eval "$(tests/hiddify/start-real-hiddify.sh | tail -n 2)"   # -> $HIDDIFY_URL $HIDDIFY_API_KEY
#
# Last two lines of stdout on success (exit 0, the panel left running in the background):
#   HIDDIFY_URL=http://127.0.0.1:<port>/<proxy_path_admin>/    (<HIDDIFY_URL>api/v2/admin/user/ is the admin user API)
#   HIDDIFY_API_KEY=<uuid of the owner admin>                 (sent as header "Hiddify-API-Key")
# When something it needs is missing: one line "SKIP: <reason>" and exit 3.
# Any other failure: exit 1 (the panel log is at $HIDDIFY_HOME/panel.log).
#
# Environment (all optional):
#   HIDDIFY_HOME      state dir (venv, app.cfg, log, pid)        default /tmp/vpnshop-hiddify
#   HIDDIFY_PORT      port on 127.0.0.1                           default 9841
#   HIDDIFY_PYTHON    python >= 3.13 (hiddifypanel 13+ requires it) default: pyenv 3.13.x, then python3.13 on PATH
#   HIDDIFY_VERSION   hiddifypanel version                        default 14.0.5 (the pins below are for it)
#   HIDDIFY_DB        MariaDB database (and user) name            default vpnshop_hiddify
#   HIDDIFY_REDIS_DB  Redis DB index (that and the next one used) default 7
#   MYSQL_HOST/MYSQL_PORT  MariaDB address                        default 127.0.0.1:3306 (root, empty password)
#   HIDDIFY_RESET_DB=1     drop and recreate the database first (a brand new panel)
#
# How it stays offline (nothing of hiddifypanel is edited):
#   * hiddifypanel 14.0.5's wheel lists `mysqlclient` (needs libmariadb-dev + a C build); the panel works with
#     PyMySQL (`mysql+pymysql://`), so the dependencies are installed from the pinned list
#     requirements-hiddify.lock.txt (no mysqlclient) and hiddifypanel itself with --no-deps. MySQLdb allows several
#     statements in one query by default and the panel's migrations rely on it (DROP PROCEDURE ...; CREATE PROCEDURE),
#     so the PyMySQL URI sets client_flag=65536 (CLIENT.MULTI_STATEMENTS).
#     Neither the sdist nor the wheel of 14.0.5 ships a lock file: that list is a `pip freeze` of a working venv.
#   * offline_guard.py (beside this script) goes into the venv as _vpnshop_offline.py + a .pth that imports it in
#     every process: name look-ups other than localhost/IP literals fail at once, sockets may only reach loopback
#     (never port 53). The panel's public-IP / random-domain / user-agent look-ups then fall back to defaults.
#   * $HIDDIFY_HOME/bin is put first on PATH with two shims: `sudo` (logs and does nothing: the panel runs
#     `sudo .../commander.py apply|restart-services...` to push configs to xray/haproxy, which do not exist here)
#     and `wg` (genkey/pubkey/genpsk in Python: init_db makes WireGuard keys with wireguard-tools).
set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
H="${HIDDIFY_HOME:-/tmp/vpnshop-hiddify}"
PORT="${HIDDIFY_PORT:-9841}"
VERSION="${HIDDIFY_VERSION:-14.0.5}"
DBNAME="${HIDDIFY_DB:-vpnshop_hiddify}"
REDIS_DB="${HIDDIFY_REDIS_DB:-7}"
MYSQL_HOST="${MYSQL_HOST:-127.0.0.1}"
MYSQL_PORT="${MYSQL_PORT:-3306}"
VENV="$H/venv"
PIDFILE="$H/panel.pid"
LOG="$H/panel.log"
CFG="$H/app.cfg"

skip() { echo "SKIP: $*"; exit 3; }
die() { echo "ERROR: $*" >&2; exit 1; }
note() { echo "# $*" >&2; }

panel_pid() {
    local pid
    pid="$(cat "$PIDFILE" 2>/dev/null)" || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

stop_panel() {
    local pid
    if pid="$(panel_pid)"; then
        # granian runs in its own session (setsid): end its whole process group
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL -- "-$pid" 2>/dev/null || true
        note "stopped panel (pid $pid)"
    fi
    rm -f "$PIDFILE"
}

if [ "${1:-}" = "stop" ]; then
    stop_panel
    exit 0
fi

mkdir -p "$H" "$H/bin" "$H/manager" || skip "cannot create $H"

# ---------------------------------------------------------------- python
PY="${HIDDIFY_PYTHON:-}"
if [ -z "$PY" ]; then
    for c in /root/.pyenv/versions/3.13*/bin/python3.13 "$(command -v python3.13 || true)"; do
        [ -n "$c" ] && [ -x "$c" ] && { PY="$c"; break; }
    done
fi
[ -n "$PY" ] && [ -x "$PY" ] || skip "no Python 3.13 (hiddifypanel $VERSION requires Python >= 3.13; set HIDDIFY_PYTHON)"
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 13) else 1)' || skip "$PY is older than 3.13"

# ---------------------------------------------------------------- MariaDB + Redis
command -v mysql >/dev/null || skip "no mysql client"
MYSQL=(mysql -uroot -h"$MYSQL_HOST" -P"$MYSQL_PORT" --protocol=TCP)
if ! "${MYSQL[@]}" -e 'select 1' >/dev/null 2>&1; then
    if [ -x /usr/sbin/mariadbd ] && [ "$MYSQL_HOST" = 127.0.0.1 ]; then
        note "starting MariaDB"
        start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd >/dev/null 2>&1 || true
        for _ in $(seq 1 60); do "${MYSQL[@]}" -e 'select 1' >/dev/null 2>&1 && break; sleep 0.5; done
    fi
    "${MYSQL[@]}" -e 'select 1' >/dev/null 2>&1 || skip "MariaDB at $MYSQL_HOST:$MYSQL_PORT not reachable as root"
fi
command -v redis-cli >/dev/null || skip "no redis-cli"
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    command -v redis-server >/dev/null || skip "no redis-server"
    note "starting Redis"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/ci.log >/dev/null 2>&1 || true
    for _ in $(seq 1 40); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.25; done
    redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || skip "Redis on 127.0.0.1:6379 not reachable"
fi

# ---------------------------------------------------------------- venv + hiddifypanel
STAMP="$VENV/.vpnshop-installed-$VERSION-$(md5sum "$HERE/requirements-hiddify.lock.txt" | cut -c1-12)"
if [ ! -e "$STAMP" ]; then
    note "installing hiddifypanel $VERSION into $VENV (takes a minute)"
    rm -rf "$VENV"
    "$PY" -m venv "$VENV" || skip "cannot create a venv with $PY"
    "$VENV/bin/pip" download --no-deps --quiet -d "$H/dl" "hiddifypanel==$VERSION" >/dev/null 2>&1 ||
        skip "PyPI not reachable (pip download hiddifypanel==$VERSION failed)"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$HERE/requirements-hiddify.lock.txt" >"$H/pip.log" 2>&1 ||
        die "pip install of the pinned dependencies failed: see $H/pip.log"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps --find-links "$H/dl" "hiddifypanel==$VERSION" >>"$H/pip.log" 2>&1 ||
        die "pip install hiddifypanel==$VERSION failed: see $H/pip.log"
    touch "$STAMP"
fi
SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
cp "$HERE/offline_guard.py" "$SITE/_vpnshop_offline.py"
echo "import _vpnshop_offline" >"$SITE/_vpnshop_offline.pth"

# ---------------------------------------------------------------- shims on PATH
cat >"$H/bin/sudo" <<EOF
#!/bin/sh
# vpnshop test shim: the panel asks root (commander.py) to apply configs / restart services. Nothing to do here.
echo "\$(date '+%F %T') sudo \$*" >>"$H/sudo.log"
exit 0
EOF
cat >"$H/bin/wg" <<EOF
#!$VENV/bin/python
# vpnshop test shim for wireguard-tools: wg genkey | wg pubkey | wg genpsk
import base64, os, sys
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives import serialization as s
cmd = sys.argv[1] if len(sys.argv) > 1 else ""
if cmd == "genkey":
    k = X25519PrivateKey.generate().private_bytes(s.Encoding.Raw, s.PrivateFormat.Raw, s.NoEncryption())
    print(base64.b64encode(k).decode())
elif cmd == "pubkey":
    k = X25519PrivateKey.from_private_bytes(base64.b64decode(sys.stdin.read().strip()))
    print(base64.b64encode(k.public_key().public_bytes(s.Encoding.Raw, s.PublicFormat.Raw)).decode())
elif cmd == "genpsk":
    print(base64.b64encode(os.urandom(32)).decode())
else:
    sys.exit(1)
EOF
chmod +x "$H/bin/sudo" "$H/bin/wg"

# ---------------------------------------------------------------- database + config
if [ "${HIDDIFY_RESET_DB:-0}" = 1 ]; then
    stop_panel
    "${MYSQL[@]}" -e "DROP DATABASE IF EXISTS \`$DBNAME\`" || die "cannot drop $DBNAME"
    redis-cli -n "$REDIS_DB" flushdb >/dev/null; redis-cli -n "$((REDIS_DB + 1))" flushdb >/dev/null
fi
"${MYSQL[@]}" -e "CREATE DATABASE IF NOT EXISTS \`$DBNAME\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS '$DBNAME'@'127.0.0.1' IDENTIFIED BY '$DBNAME';
CREATE USER IF NOT EXISTS '$DBNAME'@'localhost' IDENTIFIED BY '$DBNAME';
GRANT ALL ON \`$DBNAME\`.* TO '$DBNAME'@'127.0.0.1';
GRANT ALL ON \`$DBNAME\`.* TO '$DBNAME'@'localhost';" || skip "cannot create database $DBNAME in MariaDB"

cat >"$CFG" <<EOF
STDOUT_LOG_LEVEL=INFO
HIDDIFY_CONFIG_PATH=$H/manager/
SECRET_KEY=vpnshop-test-only
DEBUG=False
HIDDIFY_DISABLE_UPDATE=true
SQLALCHEMY_DATABASE_URI=mysql+pymysql://$DBNAME:$DBNAME@$MYSQL_HOST:$MYSQL_PORT/$DBNAME?charset=utf8mb4&client_flag=65536
REDIS_URI_MAIN=redis://127.0.0.1:6379/$REDIS_DB
REDIS_URI_SSH=redis://127.0.0.1:6379/$((REDIS_DB + 1))
EOF

export HIDDIFY_CFG_PATH="$CFG"
export PATH="$H/bin:$VENV/bin:$PATH"
export LANG=C.UTF-8
cd "$H" || die "cd $H"

hp() { "$VENV/bin/hiddifypanel" "$@"; }

# Every `hiddifypanel <command>` creates the app, which runs init_db() (create tables, run migrations, create the
# owner admin, random proxy paths...) when the DB is not at the latest version; `init-db` does just that.
note "initialising the database (a no-op when it is up to date; ~20 s the first time)"
hp init-db >"$H/init-db.log" 2>&1 || die "hiddifypanel init-db failed: see $H/init-db.log"

ADMIN_PATH="$(hp get-setting proxy_path_admin 2>>"$H/init-db.log" | tail -n 1)"
[ -n "$ADMIN_PATH" ] || die "no proxy_path_admin setting: see $H/init-db.log"
CLIENT_PATH="$(hp get-setting proxy_path_client 2>>"$H/init-db.log" | tail -n 1)"
API_KEY="$("${MYSQL[@]}" -N -B "$DBNAME" -e "select uuid from admin_user where mode='super_admin' order by id limit 1")"
[ -n "$API_KEY" ] || die "no owner admin in $DBNAME.admin_user"

# ---------------------------------------------------------------- (re)start the panel
stop_panel
if command -v ss >/dev/null && ss -ltn "sport = :$PORT" | grep -q LISTEN; then
    die "port $PORT is already in use by another process"
fi
note "starting the panel on 127.0.0.1:$PORT (log: $LOG)"
# As the service does (granian, ASGI interface), one worker. `granian` must be argv[0] for the web app.
setsid "$VENV/bin/granian" --interface asgi --host 127.0.0.1 --port "$PORT" --workers 1 --access-log \
    hiddifypanel.apps.asgi_app:app >>"$LOG" 2>&1 </dev/null &
echo $! >"$PIDFILE"

URL="http://127.0.0.1:$PORT/$ADMIN_PATH/"
ok=""
for _ in $(seq 1 180); do
    panel_pid >/dev/null || break
    code="$(curl -s -o /dev/null -w '%{http_code}' -H "Hiddify-API-Key: $API_KEY" "${URL}api/v2/panel/ping/" || true)"
    [ "$code" = 200 ] && { ok=1; break; }
    sleep 0.5
done
if [ -z "$ok" ]; then
    tail -n 40 "$LOG" >&2
    stop_panel
    die "the panel did not answer on $URL (log: $LOG)"
fi

# The user side (subscription <client url><user uuid>/sub/, api/v2/user/me/) lives under another path:
# written, with the two lines below, to $H/hiddify.env (source it) and told on stderr.
CLIENT_URL="http://127.0.0.1:$PORT/$CLIENT_PATH/"
printf 'HIDDIFY_URL=%s\nHIDDIFY_API_KEY=%s\nHIDDIFY_CLIENT_URL=%s\n' "$URL" "$API_KEY" "$CLIENT_URL" >"$H/hiddify.env"
note "panel up (pid $(cat "$PIDFILE")); client base: HIDDIFY_CLIENT_URL=$CLIENT_URL (also in $H/hiddify.env)"
echo "HIDDIFY_URL=$URL"
echo "HIDDIFY_API_KEY=$API_KEY"
