-- ID tokens are signed with RS256 whatever --signing-alg says (OIDC Discovery requires RS256),
-- so under ES256 the ring holds two lifecycles side by side: at most one current and one next
-- key per algorithm.
DROP INDEX signing_keys_one_current;
DROP INDEX signing_keys_one_next;
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys (alg) WHERE state = 'current';
CREATE UNIQUE INDEX signing_keys_one_next ON signing_keys (alg) WHERE state = 'next';
