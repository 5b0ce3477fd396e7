"""Renders bench/run's key=value results as bench/RESULTS.md (markdown on stdout)."""
import sys

values = {}
for line in open(sys.argv[1]):
    key, _, value = line.rstrip("\n").partition("=")
    values[key] = value


def num(key):
    try:
        return float(values[key])
    except (KeyError, ValueError):
        return float("nan")


def fmt(x, digits=0):
    return "n/a" if x != x else f"{x:,.{digits}f}"


duration = num("duration_s")
rsa, ec, argon, hello = num("rsa_sign_per_s"), num("ec_sign_per_s"), num("argon2_per_s"), num("hello_rps")
# The refresh loads get their own RSA limit, measured right before each of their runs.
rsa_late = num("rsa_sign_late_per_s")
jose_es = num("jose_es256_per_s")
# hello-world measured right before each ES256 run and each JWKS run.
hello_es, hello_jwks = num("hello_es_rps"), num("hello_jwks_rps")
# What a server doing nothing but hello-world HTTP plus one josekit ES256 signature per request
# could reach, when both costs add up on the same cores.
es_bound = 1 / (1 / jose_es + 1 / hello_es)
rows = []


def row(what, result, unit, name, limit_label, limit, target, met):
    ratio = result / limit if limit == limit and limit else float("nan")
    p50, p99 = values.get(f"{name}_p50_ms", ""), values.get(f"{name}_p99_ms", "")
    errors, rss = values.get(f"{name}_errors", ""), values.get(f"{name}_rss_kib", "")
    rss = f"{int(rss) / 1024:.1f} MiB" if rss else ""
    verdict = "" if met is None else ("met" if met(ratio) else "**missed**")
    rows.append(f"| {what} | {fmt(result)} {unit} | {p50} | {p99} | {errors} | {rss} | "
                f"{limit_label} {fmt(limit)} | {fmt(ratio * 100, 1)}% | {target} {verdict} |")


def p99_under(name, bound):
    return lambda _ratio: num(f"{name}_p99_ms") <= bound


row("client_credentials RS256", num("cc_RS256_rps"), "tokens/s", "cc_RS256",
    "openssl rsa2048 sign/s x cores", rsa, "≥ 75%, 0 errors, p99 ≤ 20 ms",
    lambda r: r >= 0.75 and num("cc_RS256_errors") == 0 and num("cc_RS256_p99_ms") <= 20)
row("client_credentials RS256 over gRPC (GetToken; tonic client, HTTP/2 multiplexed)", num("cc_grpc_rps"),
    "tokens/s", "cc_grpc", "openssl rsa2048 sign/s x cores (before each run)", num("cc_grpc_rsa_sign_per_s"),
    "≥ 75%, 0 errors, RSS ≤ 64 MiB",
    lambda r: r >= 0.75 and num("cc_grpc_errors") == 0 and num("cc_grpc_rss_kib") <= 64 * 1024)
row("client_credentials ES256", num("cc_ES256_rps"), "tokens/s", "cc_ES256",
    "hello-world req/s (before each run)", hello_es, "≥ 40%", lambda r: r >= 0.40)
row("  ES256 next to josekit's ES256 sign loop", num("cc_ES256_rps"), "tokens/s", "",
    "josekit ES256 sign/s x cores", jose_es, "", None)
row("  ES256 next to hello-world + one josekit signature", num("cc_ES256_rps"), "tokens/s", "",
    "1/(1/sign + 1/hello)", es_bound, "", None)
row("JWKS 200", num("jwks_200_rps"), "req/s", "jwks_200", "hello-world req/s (before each run)", hello_jwks,
    "≥ 80%", lambda r: r >= 0.80)
row("JWKS 304", num("jwks_304_rps"), "req/s", "jwks_304", "hello-world req/s (before each run)", hello_jwks,
    "≥ 80%", lambda r: r >= 0.80)
row("hello-world axum (the HTTP limit)", hello, "req/s", "hello", "", float("nan"), "", None)
row("password grant", num("password_rps"), "logins/s", "password",
    "raw argon2id hash/s x cores", argon, "≥ 85%", lambda r: r >= 0.85)
row("JWKS while logins saturate the CPU (probe: 4 conns, 10 ms pauses)", num("jwks_saturated_rps"), "req/s",
    "jwks_saturated", "", float("nan"), "p99 ≤ 10 ms", p99_under("jwks_saturated", 10))
row("  logins during that probe", num("saturating_rps"), "logins/s", "saturating",
    "raw argon2id hash/s x cores", argon, "", None)
row("refresh_token on SQLite", num("refresh_sqlite_rotations") / duration, "rotations/s", "refresh_sqlite",
    "openssl rsa2048 sign/s x cores (before each run)", rsa_late, "≥ 40%", lambda r: r >= 0.40)
row("refresh_token on PostgreSQL", num("refresh_postgres_rotations") / duration, "rotations/s", "refresh_postgres",
    "openssl rsa2048 sign/s x cores (before each run)", rsa_late, "report", None)
row("password grant on PostgreSQL, in-memory limit counters", num("password_pg_memory_rps"), "logins/s",
    "password_pg_memory", "raw argon2id hash/s x cores", num("password_pg_argon2_per_s"), "report", None)
row("password grant on PostgreSQL, shared limit counters", num("password_pg_shared_rps"), "logins/s",
    "password_pg_shared", "raw argon2id hash/s x cores", num("password_pg_argon2_per_s"), "report", None)
row("  shared / in-memory counters (median of alternating pairs)", num("password_pg_ratio") * 100, "%",
    "", "in-memory counters = 100%", 100.0, "≥ 95%", lambda r: r >= 0.95)

ready = [(k[:-len("_ready_ms")], num(k)) for k in values if k.endswith("_ready_ms")]
restart = num("restart_ready_ms")

print(f"""# Benchmark results

Produced by `bench/run` (commit {values.get('commit')}, {values.get('date')}). Every figure is
measured in the same run as the limit beside it, on the same machine, with the load generator
(wrk, 2 threads, {values.get('connections')} connections, {fmt(duration)} s per load; for gRPC `examples/grpc_load`,
{values.get('connections')} calls in flight over 2 HTTP/2 connections; every limit and load
measured {values.get('repeat')} times, the median run reported) sharing the
machine's {values.get('cores')} cores: {values.get('cpu')}.

Limits: RSA-2048 signatures {fmt(rsa)}/s (measured before each client_credentials RS256 run; before
each refresh run: {fmt(rsa_late)}/s) and ECDSA P-256 signatures {fmt(ec)}/s (`openssl speed -multi {values.get('cores')}`; josekit's
own ES256 sign loop {fmt(jose_es)}/s, `examples/sign_rate`), argon2id
m=19456 KiB t=2 p=1 {fmt(argon, 1)} hashes/s on all cores, hello-world axum {fmt(hello_es)} req/s
(before the ES256 runs) and {fmt(hello_jwks)} req/s (before the JWKS runs). Each
limit is measured right before the loads it bounds, because this VM's speed drifts over minutes.

| load | sigil | p50 ms | p99 ms | errors | peak RSS | limit | ratio | target |
|---|---|---|---|---|---|---|---|---|
""" + "\n".join(rows) + f"""

Start to ready (spawn until `/readyz` answers 200) with an existing database: {fmt(restart, 1)} ms
(target ≤ 200 ms). First starts on an empty database, which generate two keys:
{", ".join(f"{name} {fmt(ms, 0)} ms" for name, ms in ready if name != "restart")}.
Refresh failures (should be 0): SQLite {values.get('refresh_sqlite_failures')},
PostgreSQL {values.get('refresh_postgres_failures')}.
""")
