#!/usr/bin/env bash
# Installs the system packages that `make run`, `make test` and the scripts they run need, with
# apt-get, only when they are missing: a fresh Debian 12 with nothing but make and git gets
# through both. Idempotent and quick when everything is there (no apt-get at all).
#
# What calls for each package:
#   python3, python3-venv   the Makefile's `$(PYTHON) -m venv .venv` (venv + ensurepip, which
#                           Debian splits out of python3)
#   ca-certificates         pip (PyPI) and npm (the npm registry) over HTTPS
#   nodejs, npm             `npm ci` for the front-end libraries (Debian 12's npm 9 reads our
#                           lockfile v3)
#   postgresql-15(-postgis-3)  initdb, pg_ctl and psql for the managed cluster (db/cluster.py)
#   util-linux, passwd      runuser and useradd: the server runs unprivileged when we are root
#   tzdata                  case deadlines are in Asia/Shanghai (zoneinfo)
#   chromium                the browser tests (Playwright drives /usr/bin/chromium)
#   libatomic1              Playwright's own Node.js driver (in its wheel) links to it
#   fonts-wqy-microhei      a CJK font, or Chromium draws the Chinese interface as boxes
#   mosquitto               the monitoring feeds' MQTT broker (feeds/broker.py: `make run` when a
#                           feed exists, and the tests, each on a port of its own)
#   mosquitto-clients       mosquitto_pub, for sending a feed's event by hand (README)
#   pgbouncer               connection pooling in front of the managed cluster (db/pgbouncer.py:
#                           `gridgov db start --pgbouncer`, GRIDGOV_PGBOUNCER=on, and the tests);
#                           we run our own on a port of our own, never the package's service
set -euo pipefail

python=${PYTHON:-python3}
missing=()
need() { missing+=("$@"); }

# Python with a working venv and ensurepip. Debian's python3 lacks both until python3-venv is
# installed (a pyenv or python.org build has them built in).
if ! command -v "$python" >/dev/null 2>&1; then
  need python3 python3-venv
elif ! "$python" -c 'import ensurepip, venv; ensurepip.version()' >/dev/null 2>&1; then
  need python3-venv
fi
[ -s /etc/ssl/certs/ca-certificates.crt ] || need ca-certificates
command -v npm >/dev/null 2>&1 || need npm
command -v node >/dev/null 2>&1 || command -v nodejs >/dev/null 2>&1 || need nodejs

pgver=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1 || true)  # none yet: set -e must not stop here
[ -n "$pgver" ] || pgver=15
# the extension's control file (…-scripts package) and its library (the main package) both,
# and the server and client programs db/cluster.py and the tests run
[ -f "/usr/share/postgresql/$pgver/extension/postgis.control" ] && [ -f "/usr/lib/postgresql/$pgver/lib/postgis-3.so" ] \
  || need "postgresql-$pgver-postgis-3"
[ -x "/usr/lib/postgresql/$pgver/bin/initdb" ] && [ -x "/usr/lib/postgresql/$pgver/bin/pg_ctl" ] \
  || need "postgresql-$pgver"
command -v psql >/dev/null 2>&1 || need "postgresql-client-$pgver"
command -v runuser >/dev/null 2>&1 || need util-linux
command -v useradd >/dev/null 2>&1 || need passwd
[ -f /usr/share/zoneinfo/Asia/Shanghai ] || need tzdata

[ -x /usr/bin/chromium ] || need chromium
case "$(ldconfig -p 2>/dev/null)" in *libatomic.so.1*) ;; *) need libatomic1 ;; esac
[ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || need fonts-wqy-microhei
[ -x /usr/sbin/mosquitto ] || need mosquitto
command -v mosquitto_pub >/dev/null 2>&1 || need mosquitto-clients
[ -x /usr/sbin/pgbouncer ] || need pgbouncer

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "gridgov needs these system packages: ${missing[*]}" >&2
  echo "run as root, or: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
