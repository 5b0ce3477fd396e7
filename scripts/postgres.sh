# Sourced by scripts/test and bench/run: a throwaway PostgreSQL on loopback.
#   pg_start   installs PostgreSQL with apt-get when missing (as root), initialises a cluster in
#              a temporary directory as an unprivileged user (initdb refuses root), starts it on
#              a free port and exports PG_URL (postgres://sigil@127.0.0.1:PORT/postgres).
#   pg_stop    stops it and removes the directory (also registered as an EXIT trap).

find_pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

pg_start() {
  pg_bin=$(find_pg_bin)
  if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; then
    if [ "$(id -u)" -ne 0 ]; then
      echo "PostgreSQL server binaries not found; install the 'postgresql' package" >&2
      return 1
    fi
    echo "installing PostgreSQL with apt-get" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    pg_bin=$(find_pg_bin)
  fi
  pg_dir=$(mktemp -d)
  pg_as=()
  if [ "$(id -u)" -eq 0 ]; then
    local user=postgres
    id "$user" >/dev/null 2>&1 || user=nobody
    chown "$user" "$pg_dir"
    pg_as=(runuser -u "$user" --)
  fi
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  trap pg_stop EXIT
  "${pg_as[@]}" "$pg_bin/initdb" -D "$pg_dir/data" -U sigil -A trust -E UTF8 --no-sync \
    >"$pg_dir/initdb.log" 2>&1 || { cat "$pg_dir/initdb.log" >&2; return 1; }
  "${pg_as[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -o \
    "-c listen_addresses=127.0.0.1 -p $port -k $pg_dir -c max_connections=300 ${PG_EXTRA_OPTIONS:-}" \
    start >/dev/null || { cat "$pg_dir/server.log" >&2; return 1; }
  export PG_URL="postgres://sigil@127.0.0.1:$port/postgres"
}

pg_stop() {
  [ -n "${pg_dir:-}" ] || return 0
  "${pg_as[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$pg_dir"
  pg_dir=
}
