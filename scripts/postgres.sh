# Sourced by scripts/test and bench/run: throwaway PostgreSQL servers on loopback.
#   pg_start   installs PostgreSQL with apt-get when missing (as root), initialises a cluster in
#              a temporary directory as an unprivileged user (initdb refuses root), starts it on
#              a free port and exports PG_URL (postgres://sigil@127.0.0.1:PORT/postgres) and
#              PG_CTL (the pg_ctl command, with -D, that stops and starts this server again:
#              its port and addresses are in its postgresql.conf). Each call starts another.
#   pg_stop    stops every server started here and removes their directories (also registered
#              as an EXIT trap).

find_pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

pg_dirs=()

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
  local dir
  dir=$(mktemp -d)
  chmod 755 "$dir"
  pg_as=()
  if [ "$(id -u)" -eq 0 ]; then
    local user=postgres
    id "$user" >/dev/null 2>&1 || user=nobody
    chown "$user" "$dir"
    pg_as=(runuser -u "$user" --)
  fi
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  pg_dirs+=("$dir")
  trap pg_stop EXIT
  "${pg_as[@]}" "$pg_bin/initdb" -D "$dir/data" -U sigil -A trust -E UTF8 --no-sync \
    >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; return 1; }
  {
    echo "listen_addresses = '127.0.0.1'"
    echo "port = $port"
    echo "unix_socket_directories = '$dir'"
    echo "max_connections = 300"
    for option in ${PG_EXTRA_OPTIONS:-}; do
      [ "$option" = "-c" ] || echo "${option%%=*} = '${option#*=}'"
    done
  } | "${pg_as[@]}" tee -a "$dir/data/postgresql.conf" >/dev/null
  PG_CTL="${pg_as[*]} $pg_bin/pg_ctl -D $dir/data -l $dir/server.log"
  $PG_CTL -w start >/dev/null || { cat "$dir/server.log" >&2; return 1; }
  export PG_URL="postgres://sigil@127.0.0.1:$port/postgres"
  export PG_CTL
}

pg_stop() {
  local dir
  for dir in "${pg_dirs[@]}"; do
    "${pg_as[@]}" "$pg_bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$dir"
  done
  pg_dirs=()
}
