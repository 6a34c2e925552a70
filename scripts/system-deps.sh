#!/usr/bin/env bash
# Installs the system packages gridgov needs (PostGIS for PostgreSQL 15, Chromium for the
# browser tests) with apt-get, only when they are missing. Idempotent and quick when present.
set -euo pipefail

missing=()
pgver=""
if command -v pg_config >/dev/null 2>&1 || ls /usr/lib/postgresql >/dev/null 2>&1; then
  pgver=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1)
fi
[ -n "$pgver" ] || pgver=15
# the extension's control file (…-scripts package) and its library (the main package) both
[ -f "/usr/share/postgresql/$pgver/extension/postgis.control" ] && [ -f "/usr/lib/postgresql/$pgver/lib/postgis-3.so" ] \
  || missing+=("postgresql-$pgver-postgis-3" "postgresql-$pgver")
[ -x /usr/bin/chromium ] || missing+=(chromium)
# a CJK font, or Chromium draws the Chinese interface as boxes (screenshots, and real users)
[ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing+=(fonts-wqy-microhei)
command -v sudo >/dev/null 2>&1 || command -v runuser >/dev/null 2>&1 || missing+=(util-linux)

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
