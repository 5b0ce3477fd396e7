# Sourced by scripts/test: the real gateways the gateway tests put in front of a dummy
# upstream (each test starts its own on a free loopback port and stops it).
#   gateways_install  installs Debian's haproxy with apt-get when missing (as root)

gateways_install() {
  if ! command -v haproxy >/dev/null 2>&1 && [ ! -x /usr/sbin/haproxy ]; then
    if [ "$(id -u)" -ne 0 ]; then
      echo "haproxy not found; install the 'haproxy' package" >&2
      return 1
    fi
    echo "installing haproxy with apt-get" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null
  fi
  # Debian starts the packaged service; the tests run their own instances.
  if command -v systemctl >/dev/null 2>&1; then
    systemctl stop haproxy >/dev/null 2>&1 || true
  fi
}
