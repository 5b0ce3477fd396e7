# Sourced by scripts/test (and usable by hand): a real OTLP trace receiver for the tracing
# tests, tests/otlp/receiver.py on PyPI's opentelemetry-proto and grpcio (pinned, in a venv
# made here).
#   otlp_install  makes the venv when missing or outdated and exports TEST_OTLP_PYTHON, the
#                 interpreter the API tests start their own receivers with.

OTLP_PROTO_VERSION=1.45.2
OTLP_GRPCIO_VERSION=1.85.1

source scripts/venv.sh

otlp_install() {
  local venv=target/otlp-venv
  venv_install "$venv" "opentelemetry-proto==$OTLP_PROTO_VERSION" "grpcio==$OTLP_GRPCIO_VERSION"
  TEST_OTLP_PYTHON=$PWD/$venv/bin/python
  export TEST_OTLP_PYTHON
}
