# Sourced by scripts/test (and usable by hand): a real NATS server with JetStream.
#   nats_install  installs Debian's nats-server with apt-get when missing (as root) and exports
#                 TEST_NATS_SERVER, the binary the API tests start their own servers from (one
#                 per test that needs a broker: each stops, pauses and restarts its own).
#   nats_start    starts a throwaway server with JetStream on a free loopback port, its store in
#                 a temporary directory, and exports NATS_URL; nats_stop (the caller runs it) stops
#                 every server started here and removes their directories.

nats_dirs=()
nats_pids=()

nats_install() {
  if ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ]; then
    if [ "$(id -u)" -ne 0 ]; then
      echo "nats-server not found; install the 'nats-server' package" >&2
      return 1
    fi
    echo "installing nats-server with apt-get" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null
  fi
  TEST_NATS_SERVER=$(command -v nats-server || echo /usr/sbin/nats-server)
  export TEST_NATS_SERVER
}

nats_start() {
  nats_install || return 1
  local dir
  dir=$(mktemp -d)
  nats_dirs+=("$dir")
  "$TEST_NATS_SERVER" -a 127.0.0.1 -p -1 -js -sd "$dir/store" --ports_file_dir "$dir" \
    -l "$dir/nats.log" &
  nats_pids+=("$!")
  local ports
  for _ in $(seq 100); do
    ports=$(ls "$dir"/*.ports 2>/dev/null | head -n 1 || true)
    [ -n "$ports" ] && break
    sleep 0.05
  done
  [ -n "$ports" ] || { echo "nats-server did not start" >&2; cat "$dir/nats.log" >&2; return 1; }
  NATS_URL=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["nats"][0])' "$ports")
  export NATS_URL
}

nats_stop() {
  local pid dir
  for pid in "${nats_pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  for dir in "${nats_dirs[@]}"; do
    rm -rf "$dir"
  done
  nats_pids=()
  nats_dirs=()
}
