#!/usr/bin/env bash
# Ensures the local stack's system dependencies: PostgreSQL 15+ server, pgvector 0.8+,
# TimescaleDB (Apache build), plpgsql_check, pgTAP and pg_prove, and the de_DE.UTF-8 locale (a test runs the
# nodes with German messages, to prove no error is recognised by its English words). Uses what
# is installed; otherwise, on Debian or Ubuntu as root, installs with apt and builds pgvector and
# TimescaleDB from Debian source packages when the release has no binary package for them.
set -euo pipefail
log() { echo "install-deps: $*" >&2; }

# The newest PostgreSQL server installed, if it is 15 or later.
major=$(ls /usr/lib/postgresql/*/bin/postgres 2>/dev/null | cut -d/ -f5 | sort -n | tail -1 || true)
[ "${major:-0}" -ge 15 ] || major=""

have_extension() { # name[, minimum version]
  local control="/usr/share/postgresql/$major/extension/$1.control" version
  [ -f "$control" ] || return 1
  version=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$control")
  [ -z "${2:-}" ] || [ "$(printf '%s\n%s\n' "$2" "$version" | sort -V | head -1)" = "$2" ]
}

missing=()
need() { missing+=("  $1"); } # what is missing, and how to install it
[ -n "$major" ] || need "PostgreSQL 15+ server: apt-get install postgresql-15 (or set PG_BIN to its bin directory)"
have_extension vector 0.8.0 || need "pgvector 0.8+: apt-get install postgresql-15-pgvector where packaged, else build pgvector from source (make && make install)"
have_extension timescaledb || need "TimescaleDB (Apache build): apt-get install timescaledb-2-postgresql-15 where packaged, else build from source with -DAPACHE_ONLY=1"
have_extension pgtap || need "pgTAP: apt-get install postgresql-15-pgtap"
have_extension plpgsql_check || need "plpgsql_check (supabase db lint needs it): apt-get install postgresql-15-plpgsql-check"
command -v pg_prove >/dev/null || need "pg_prove: apt-get install libtap-parser-sourcehandler-pgtap-perl"
locale -a 2>/dev/null | grep -qix 'de_DE\.utf-\?8' ||
  need "the de_DE.UTF-8 locale: apt-get install locales && localedef -i de_DE -f UTF-8 de_DE.UTF-8"
# PostgreSQL 17, the Supabase side's default, is its own script: it runs last, whatever 15 needed.
pg17="$(dirname "$0")/install-deps-pg17.sh"
[ ${#missing[@]} -gt 0 ] || exec bash "$pg17"

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "The local stack needs software that is not installed:" >&2
  printf '%s\n' "${missing[@]}" >&2
  echo "On Debian or Ubuntu, as root, this script installs all of it: sudo bash scripts/install-deps.sh" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
major=${major:-15}
pg_config="/usr/lib/postgresql/$major/bin/pg_config"
log "installing what is missing:"
printf '%s\n' "${missing[@]}" >&2
apt-get update -qq
apt-get install -y -qq "postgresql-$major" "postgresql-$major-pgtap" libtap-parser-sourcehandler-pgtap-perl \
  openssl locales >/dev/null
locale -a | grep -qix 'de_DE\.utf-\?8' || localedef -i de_DE -f UTF-8 de_DE.UTF-8
# The packaged cluster is not ours: the stack runs its own clusters under .stack/. (pg_lsclusters
# comes with postgresql-common, which the packages above depend on.)
pg_lsclusters -h 2>/dev/null | while read -r ver name _; do
  pg_ctlcluster "$ver" "$name" stop >/dev/null 2>&1 || true
done

build_from_source() { # source package name
  local src=/etc/apt/sources.list.d/fdw-bridge-src.sources work dir
  if [ ! -f "$src" ]; then
    cat >"$src" <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    apt-get update -qq
  fi
  apt-get install -y -qq "postgresql-server-dev-$major" cmake dpkg-dev build-essential libssl-dev >/dev/null
  work=$(mktemp -d)
  (cd "$work" && apt-get source -qq "$1" >/dev/null 2>&1)
  dir=$(find "$work" -maxdepth 1 -mindepth 1 -type d | head -1)
  log "building $1 in $dir"
  case "$1" in
    pgvector)
      make -s -C "$dir" PG_CONFIG="$pg_config" >/dev/null
      make -s -C "$dir" PG_CONFIG="$pg_config" install >/dev/null
      ;;
    timescaledb)
      (cd "$dir" && PATH="/usr/lib/postgresql/$major/bin:$PATH" ./bootstrap -DAPACHE_ONLY=1 \
        -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF -DWARNINGS_AS_ERRORS=OFF -DPG_CONFIG="$pg_config" >/dev/null)
      make -s -C "$dir/build" -j"$(nproc)" install >/dev/null
      ;;
  esac
  rm -rf "$work"
}

# Debian 12's archive has no pgvector 0.8: always build it from the trixie source package.
have_extension vector 0.8.0 || build_from_source pgvector
if ! have_extension timescaledb; then
  if apt-cache show "timescaledb-2-postgresql-$major" >/dev/null 2>&1; then
    apt-get install -y -qq "timescaledb-2-postgresql-$major" >/dev/null
  else
    build_from_source timescaledb
  fi
fi
# `supabase db lint` checks PL/pgSQL with plpgsql_check, as hosted projects offer it; Debian packages
# it for 15.
if ! have_extension plpgsql_check; then
  apt-get install -y -qq "postgresql-$major-plpgsql-check" >/dev/null
fi
have_extension plpgsql_check || { log "could not install plpgsql_check"; exit 1; }
have_extension vector 0.8.0 || { log "could not install vector 0.8.0"; exit 1; }
have_extension timescaledb || { log "could not install timescaledb"; exit 1; }
log "done"
exec bash "$pg17"
