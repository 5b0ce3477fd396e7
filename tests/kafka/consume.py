"""Reads every record of the given topics from the start, with confluent-kafka (librdkafka),
until COUNT records have arrived or TIMEOUT seconds have passed; prints them as one JSON
array: topic, partition, offset, key, headers (name -> value, in order, repeated names kept
as a list of pairs too) and value, all text.

    consume.py BOOTSTRAP COUNT TIMEOUT TOPIC...

Partitions are assigned, not subscribed (no consumer-group rebalance to wait for). A topic
that does not exist yet is looked for again until the timeout.
"""

import json
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition


def main():
    bootstrap, count, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    topics = sys.argv[4:]
    deadline = time.monotonic() + timeout
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "sigil-tests",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    })
    assigned = set()
    records = []
    while len(records) < count and time.monotonic() < deadline:
        if len(assigned) < len(topics):
            assign_new(consumer, topics, assigned)
        message = consumer.poll(0.2)
        if message is None:
            continue
        if message.error():
            continue
        headers = message.headers() or []
        records.append({
            "topic": message.topic(),
            "partition": message.partition(),
            "offset": message.offset(),
            "key": message.key().decode() if message.key() is not None else None,
            "headers": {name: value.decode() for name, value in headers},
            "header_names": [name for name, _ in headers],
            "value": message.value().decode() if message.value() is not None else None,
        })
    consumer.close()
    json.dump(records, sys.stdout)


def assign_new(consumer, topics, assigned):
    """Assigns every partition of the topics that exist now, from the first offset."""
    try:
        metadata = consumer.list_topics(timeout=2)
    except KafkaException:
        return
    partitions = []
    for topic in topics:
        found = metadata.topics.get(topic)
        if found is None or found.error is not None or not found.partitions:
            continue
        assigned.add(topic)
        partitions += [TopicPartition(topic, p, OFFSET_BEGINNING) for p in found.partitions]
    already = consumer.assignment()
    fresh = [p for p in partitions if (p.topic, p.partition) not in {(a.topic, a.partition) for a in already}]
    if fresh:
        consumer.assign(already + fresh)


if __name__ == "__main__":
    main()
