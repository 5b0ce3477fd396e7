# Sourced by scripts/test and scripts/conformance (and usable by hand): a real SMTP server
# for tests, Python's aiosmtpd writing every message it accepts into a Maildir.
#   smtp_install  installs Debian's python3-aiosmtpd with apt-get when Debian's python3 cannot
#                 import it (as root), and exports TEST_SMTP_PYTHON, the interpreter the API
#                 tests start their own servers with (one per test that mails: each may start
#                 late or stop its own).
#   smtp_start    starts a throwaway server on a free loopback port, its Maildir in a temporary
#                 directory, and exports SMTP_URL and SMTP_MAILDIR; smtp_stop (the caller runs
#                 it) stops every server started here and removes their directories.

smtp_dirs=()
smtp_pids=()

smtp_install() {
  local python=/usr/bin/python3
  if ! "$python" -c 'import aiosmtpd' >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
      echo "aiosmtpd not found; install the 'python3-aiosmtpd' package" >&2
      return 1
    fi
    echo "installing python3-aiosmtpd with apt-get" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-aiosmtpd >/dev/null
  fi
  TEST_SMTP_PYTHON=$python
  export TEST_SMTP_PYTHON
}

smtp_start() {
  smtp_install || return 1
  local dir port
  dir=$(mktemp -d)
  smtp_dirs+=("$dir")
  port=$("$TEST_SMTP_PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$TEST_SMTP_PYTHON" -m aiosmtpd -n -l "127.0.0.1:$port" -c aiosmtpd.handlers.Mailbox "$dir/mail" \
    >"$dir/smtp.log" 2>&1 &
  smtp_pids+=("$!")
  for _ in $(seq 200); do
    if "$TEST_SMTP_PYTHON" -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$port" 2>/dev/null; then
      SMTP_URL="smtp://127.0.0.1:$port"
      SMTP_MAILDIR="$dir/mail"
      export SMTP_URL SMTP_MAILDIR
      return 0
    fi
    sleep 0.05
  done
  echo "aiosmtpd did not start" >&2
  cat "$dir/smtp.log" >&2
  return 1
}

smtp_stop() {
  local pid dir
  for pid in "${smtp_pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  for dir in "${smtp_dirs[@]}"; do
    rm -rf "$dir"
  done
  smtp_pids=()
  smtp_dirs=()
}
