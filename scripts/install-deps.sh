#!/usr/bin/env bash
# Ensures the local stack's system dependencies: PostgreSQL 15+ server, pgvector 0.8+,
# TimescaleDB (Apache build), pgTAP and pg_prove, and the de_DE.UTF-8 locale (a test runs the
# nodes with German messages, to prove no error is recognised by its English words). Uses what
# is installed; otherwise, on Debian or Ubuntu as root, installs with apt and builds pgvector and
# TimescaleDB from Debian source packages when the release has no binary package for them.
set -euo pipefail

pg_bin_dir() {
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n -r); do
    [ -x "$dir/postgres" ] && { echo "$dir"; return 0; }
  done
  return 1
}

have_extension() { # name, pg major[, minimum version]
  local control="/usr/share/postgresql/$2/extension/$1.control"
  [ -f "$control" ] || return 1
  [ -z "${3:-}" ] && return 0
  local version
  version=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$control")
  [ "$(printf '%s\n%s\n' "$3" "$version" | sort -V | head -1)" = "$3" ]
}

missing=()
bin=$(pg_bin_dir || true)
major=""
if [ -n "$bin" ]; then
  major=$(basename "$(dirname "$bin")")
  [ "$major" -ge 15 ] || { bin=""; major=""; }
fi
[ -n "$bin" ] || missing+=("postgresql-15")
[ -n "$major" ] && ! have_extension vector "$major" 0.8.0 && missing+=("pgvector")
[ -n "$major" ] && ! have_extension timescaledb "$major" && missing+=("timescaledb")
[ -n "$major" ] && ! have_extension pgtap "$major" && missing+=("pgtap")
command -v pg_prove >/dev/null || missing+=("pg_prove")
locale -a 2>/dev/null | grep -qix 'de_DE\.utf-\?8' || missing+=("de_DE.UTF-8")

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "The local stack needs software that is not installed:" >&2
  for item in "${missing[@]}"; do
    case "$item" in
      postgresql-15) echo "  PostgreSQL 15+ server: apt-get install postgresql-15 (or set PG_BIN to its bin directory)" >&2 ;;
      pgvector) echo "  pgvector 0.8+: apt-get install postgresql-15-pgvector where packaged, else build pgvector from source (make && make install)" >&2 ;;
      timescaledb) echo "  TimescaleDB (Apache build): apt-get install timescaledb-2-postgresql-15 where packaged, else build from source with -DAPACHE_ONLY=1" >&2 ;;
      pgtap) echo "  pgTAP: apt-get install postgresql-15-pgtap" >&2 ;;
      pg_prove) echo "  pg_prove: apt-get install libtap-parser-sourcehandler-pgtap-perl" >&2 ;;
      de_DE.UTF-8) echo "  the de_DE.UTF-8 locale: apt-get install locales && localedef -i de_DE -f UTF-8 de_DE.UTF-8" >&2 ;;
    esac
  done
  echo "On Debian or Ubuntu, as root, this script installs all of it: sudo bash scripts/install-deps.sh" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
log() { echo "install-deps: $*" >&2; }

major=${major:-15}
log "installing: ${missing[*]}"
apt-get update -qq
apt-get install -y -qq "postgresql-$major" "postgresql-$major-pgtap" libtap-parser-sourcehandler-pgtap-perl \
  openssl locales >/dev/null
locale -a | grep -qix 'de_DE\.utf-\?8' || localedef -i de_DE -f UTF-8 de_DE.UTF-8
# The packaged cluster is not ours: the stack runs its own clusters under .stack/.
if command -v pg_lsclusters >/dev/null; then
  pg_lsclusters -h 2>/dev/null | while read -r ver name _; do
    pg_ctlcluster "$ver" "$name" stop >/dev/null 2>&1 || true
  done
fi

build_from_source() { # source package name
  local src=/etc/apt/sources.list.d/fdw-bridge-src.sources
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
  local work
  work=$(mktemp -d)
  (cd "$work" && apt-get source -qq "$1" >/dev/null 2>&1)
  local dir
  dir=$(find "$work" -maxdepth 1 -mindepth 1 -type d | head -1)
  log "building $1 in $dir"
  case "$1" in
    pgvector)
      make -s -C "$dir" PG_CONFIG="/usr/lib/postgresql/$major/bin/pg_config" >/dev/null
      make -s -C "$dir" PG_CONFIG="/usr/lib/postgresql/$major/bin/pg_config" install >/dev/null
      ;;
    timescaledb)
      (cd "$dir" && PATH="/usr/lib/postgresql/$major/bin:$PATH" ./bootstrap -DAPACHE_ONLY=1 \
        -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF -DWARNINGS_AS_ERRORS=OFF \
        -DPG_CONFIG="/usr/lib/postgresql/$major/bin/pg_config" >/dev/null)
      make -s -C "$dir/build" -j"$(nproc)" install >/dev/null
      ;;
  esac
  rm -rf "$work"
}

install_extension() { # binary package, source package, extension name, minimum version
  if ! have_extension "$3" "$major" "${4:-}"; then
    if apt-cache show "$1" >/dev/null 2>&1 && [ -z "${4:-}" ]; then
      apt-get install -y -qq "$1" >/dev/null
    else
      build_from_source "$2"
    fi
  fi
  have_extension "$3" "$major" "${4:-}" || { log "could not install $3 ${4:-}"; exit 1; }
}

# Debian 12's archive has no pgvector 0.8: always build it from the trixie source package.
install_extension "postgresql-$major-pgvector" pgvector vector 0.8.0
install_extension "timescaledb-2-postgresql-$major" timescaledb timescaledb
log "done"
