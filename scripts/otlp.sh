# Sourced by scripts/test (and usable by hand): a real OTLP trace receiver for the tracing
# tests, tests/otlp/receiver.py on PyPI's opentelemetry-proto and grpcio (pinned, in a venv
# made here).
#   otlp_install  makes the venv when missing or outdated and exports TEST_OTLP_PYTHON, the
#                 interpreter the API tests start their own receivers with.

OTLP_PROTO_VERSION=1.45.2
OTLP_GRPCIO_VERSION=1.85.1

otlp_install() {
  local venv=target/otlp-venv
  local wanted="opentelemetry-proto==$OTLP_PROTO_VERSION grpcio==$OTLP_GRPCIO_VERSION"
  if [[ "$(cat "$venv/wanted" 2>/dev/null)" != "$wanted" ]]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    # shellcheck disable=SC2086
    "$venv/bin/pip" install --quiet --disable-pip-version-check $wanted
    echo "$wanted" >"$venv/wanted"
  fi
  TEST_OTLP_PYTHON=$PWD/$venv/bin/python
  export TEST_OTLP_PYTHON
}
