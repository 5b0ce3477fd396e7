#!/usr/bin/env python3
"""Outbox figures for the benchmarks, read from sigil's database.

  outbox.py seed DATABASE_URL N [SINK] insert N user.created rows waiting for SINK (nats)
  outbox.py pending DATABASE_URL      rows not yet sent
  outbox.py drain DATABASE_URL        events/s between the first and the last row marked sent
  outbox.py latency DATABASE_URL      p50/p99 of sent_at - occurred_at (commit to broker ack)
"""
import datetime
import re
import subprocess
import sys
import uuid


def parse(text):
    """A timestamp as sqlx writes it to SQLite (RFC 3339, up to nanoseconds)."""
    text = text.replace(" ", "T")
    match = re.match(r"(.*T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?$", text)
    base, fraction, zone = match.groups()
    fraction = (fraction or ".0")[:7]
    zone = "+00:00" if zone in (None, "Z") else zone
    return datetime.datetime.fromisoformat(base + fraction + zone)


def sqlite_rows(url, sql):
    import sqlite3
    db = sqlite3.connect(url.removeprefix("sqlite://"))
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def psql(url, sql):
    out = subprocess.run(["psql", "-qAt", url, "-c", sql], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def main():
    command, url = sys.argv[1], sys.argv[2]
    sqlite = url.startswith("sqlite:")
    if command == "seed":
        n = int(sys.argv[3])
        sink = sys.argv[4] if len(sys.argv) > 4 else "nats"
        pending = "INSERT INTO outbox_pending (sink, seq) SELECT '%s', seq FROM outbox_events" % sink
        if sqlite:
            import sqlite3
            db = sqlite3.connect(url.removeprefix("sqlite://"))
            now = datetime.datetime.now(datetime.timezone.utc).isoformat()
            db.executemany(
                "INSERT INTO outbox_events (id, entity, entity_id, verb, data, occurred_at) "
                "VALUES (?, 'user', ?, 'created', ?, ?)",
                ((str(uuid.uuid4()), str(i), '{"user_id":"%d"}' % i, now) for i in range(n)),
            )
            db.execute(pending)
            db.commit()
            db.close()
        else:
            psql(url, "INSERT INTO outbox_events (id, entity, entity_id, verb, data, occurred_at) "
                      "SELECT gen_random_uuid()::text, 'user', g::text, 'created', "
                      "'{\"user_id\":\"' || g || '\"}', now() FROM generate_series(1, %d) g" % n)
            psql(url, pending)
    elif command == "pending":
        sql = "SELECT COUNT(*) FROM outbox_events WHERE sent_at IS NULL"
        print(sqlite_rows(url, sql)[0][0] if sqlite else psql(url, sql))
    elif command == "drain":
        if sqlite:
            rows = sqlite_rows(url, "SELECT sent_at FROM outbox_events WHERE sent_at IS NOT NULL")
            times = sorted(parse(row[0]) for row in rows)
            seconds = (times[-1] - times[0]).total_seconds()
            count = len(times)
        else:
            count, seconds = psql(url, "SELECT COUNT(*), EXTRACT(EPOCH FROM MAX(sent_at) - MIN(sent_at)) "
                                       "FROM outbox_events WHERE sent_at IS NOT NULL").split("|")
            count, seconds = int(count), float(seconds)
        print(f"{count} events in {seconds:.2f} s: {count / seconds:.0f} events/s")
    elif command == "latency":
        if sqlite:
            rows = sqlite_rows(url, "SELECT occurred_at, sent_at FROM outbox_events WHERE sent_at IS NOT NULL")
            waits = sorted((parse(sent) - parse(occurred)).total_seconds() for occurred, sent in rows)
        else:
            out = psql(url, "SELECT EXTRACT(EPOCH FROM sent_at - occurred_at) FROM outbox_events "
                            "WHERE sent_at IS NOT NULL ORDER BY 1")
            waits = [float(line) for line in out.splitlines()]
        pick = lambda q: waits[min(len(waits) - 1, int(q * len(waits)))] * 1000
        print(f"{len(waits)} events, commit to ack p50 {pick(0.5):.1f} ms, p99 {pick(0.99):.1f} ms")


if __name__ == "__main__":
    main()
