# Sourced by scripts/test: the real gateways the gateway tests put in front of a dummy
# upstream (each test starts its own on a free loopback port and stops it).
#   gateways_install  installs Debian's haproxy, nginx and libnginx-mod-http-js (njs) with
#                     apt-get when missing (as root)

gateways_install() {
  local missing=()
  [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
  [ -x /usr/sbin/nginx ] || missing+=(nginx)
  [ -f /usr/lib/nginx/modules/ngx_http_js_module.so ] || missing+=(libnginx-mod-http-js)
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
      echo "missing gateway packages: ${missing[*]}" >&2
      return 1
    fi
    echo "installing ${missing[*]} with apt-get" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  # Debian may start the packaged services; the tests run their own instances.
  if command -v systemctl >/dev/null 2>&1; then
    systemctl stop haproxy nginx >/dev/null 2>&1 || true
  fi
}
