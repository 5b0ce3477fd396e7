#!/usr/bin/env python3
"""Seeds a migrated sigil database directly with SQL, for the scale benchmark.

  bench/seed.py DATABASE_URL live USERS FAMILIES TOKENS_PER_FAMILY CLIENT_ID
      USERS users (seed<i>@bench.test, one shared argon2id hash: nobody logs in as them) and
      FAMILIES live sessions of theirs (7 days left), each with TOKENS_PER_FAMILY refresh
      tokens (all spent but the newest), issued to CLIENT_ID.
  bench/seed.py DATABASE_URL expired FAMILIES TOKENS_PER_FAMILY CLIENT_ID USER_ID
      FAMILIES sessions of USER_ID that ended two days ago (past the one-day margin: the
      maintenance task deletes them), each with TOKENS_PER_FAMILY tokens.

SQLite through Python's sqlite3, PostgreSQL through psql; one statement per table.
"""
import datetime
import sqlite3
import subprocess
import sys

# Any argon2id PHC string: seeded users only have to exist.
HASH = "$argon2id$v=19$m=19456,t=2,p=1$c2VlZHNlZWRzZWVk$Vh1J0d1B0aWw0b3VsZGJlYW55dGhpbmc"


def sqlite_time(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f000+00:00")


def seed_sqlite(path, statements):
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    with db:
        for sql, params in statements:
            db.execute(sql, params)
    db.close()


def series(count):
    return f"WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < {count}) "


def main():
    url, kind = sys.argv[1], sys.argv[2]
    now = datetime.datetime.now(datetime.timezone.utc)
    if kind == "live":
        users, families, per, client = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
        expires, owner = now + datetime.timedelta(days=7), None
    else:
        families, per, client, owner = int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
        users, expires = 0, now - datetime.timedelta(days=2)
    tokens = families * per
    if url.startswith("sqlite:"):
        t, e = sqlite_time(now), sqlite_time(expires)
        user_of = f"'{owner}'" if owner else f"'seed-' || (i % {max(users, 1)})"
        statements = []
        if users:
            statements.append((
                series(users) + "INSERT INTO users (user_id, email, email_normalized, password_hash, "
                "created_at, updated_at) SELECT 'seed-' || i, 'seed' || i || '@bench.test', "
                "'seed' || i || '@bench.test', ?, ?, ? FROM n", (HASH, t, t)))
        statements.append((
            series(families) + "INSERT INTO refresh_families (family_id, user_id, client_id, "
            f"auth_time, created_at, expires_at) SELECT '{kind}-' || i, {user_of}, ?, ?, ?, ? FROM n",
            (client, t, t, e)))
        statements.append((
            series(tokens) + "INSERT INTO refresh_tokens (token_hash, family_id, scope, issued_at, "
            f"used_at) SELECT randomblob(32), '{kind}-' || (i / {per}), '', ?, "
            f"CASE WHEN i % {per} < {per - 1} THEN ? END FROM n", (t, t)))
        seed_sqlite(url.split("://", 1)[1], statements)
        return
    e = expires.isoformat()
    user_of = f"'{owner}'" if owner else f"'seed-' || (i % {max(users, 1)})"
    sql = []
    if users:
        sql.append(
            "INSERT INTO users (user_id, email, email_normalized, password_hash, created_at, "
            f"updated_at) SELECT 'seed-' || i, 'seed' || i || '@bench.test', 'seed' || i || "
            f"'@bench.test', '{HASH}', now(), now() FROM generate_series(0, {users - 1}) i;")
    sql.append(
        "INSERT INTO refresh_families (family_id, user_id, client_id, auth_time, created_at, "
        f"expires_at) SELECT '{kind}-' || i, {user_of}, '{client}', now(), now(), '{e}' "
        f"FROM generate_series(0, {families - 1}) i;")
    sql.append(
        "INSERT INTO refresh_tokens (token_hash, family_id, scope, issued_at, used_at) "
        f"SELECT sha256(('{kind}' || i)::text::bytea), '{kind}-' || (i / {per}), '', now(), "
        f"CASE WHEN i % {per} < {per - 1} THEN now() END FROM generate_series(0, {tokens - 1}) i;")
    sql.append("ANALYZE;")
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", "\n".join(sql)], check=True)


if __name__ == "__main__":
    main()
