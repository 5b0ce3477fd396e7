"""Produces records to a topic with confluent-kafka (librdkafka), creating the topic (one
partition: the records stay in the order given) when it is missing. Reads one JSON object per
line from standard input: "value" (text, sent as is), optional "key" and "headers" (a list of
[name, value] pairs). Exits once every record is acknowledged.

    produce.py BOOTSTRAP TOPIC < records.jsonl
"""

import json
import sys

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic


def main():
    bootstrap, topic = sys.argv[1], sys.argv[2]
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, 1, -1)]).values():
        try:
            future.result(timeout=30)
        except KafkaException as error:
            if error.args[0].code() != 36:  # TOPIC_ALREADY_EXISTS
                raise
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    failures = []
    for line in sys.stdin:
        record = json.loads(line)
        producer.produce(
            topic,
            value=record["value"].encode(),
            key=record.get("key", "").encode() or None,
            headers=[(name, value.encode()) for name, value in record.get("headers", [])],
            on_delivery=lambda error, _: error and failures.append(str(error)),
        )
    producer.flush(30)
    if failures or len(producer):
        sys.exit(f"not delivered: {failures}, {len(producer)} left")


if __name__ == "__main__":
    main()
