-- DPoP proof ids (`jti`) already seen, until the proof would be too old to accept anyway, so a
-- proof replayed against any API replica is refused (RFC 9449 §11.1). `key` is a hash of the
-- proof key's thumbprint and the jti; `expires_at` is in Unix seconds.
CREATE TABLE dpop_proofs
(
    key        text   NOT NULL PRIMARY KEY,
    expires_at bigint NOT NULL
);

CREATE INDEX dpop_proofs_expires_at ON dpop_proofs (expires_at);
