-- Idempotency-Key records (docs/API.md, "Retrying writes"): the first answer to a write
-- sent with a key, replayed when the same caller sends the same key and body again.
-- `scope` names the caller (a person, or one org API token by its hash), not an org: the
-- middleware that keeps these rows runs before the route knows the org, and a row holds
-- nothing of an org's but a sealed copy of an answer that caller already received.
CREATE TABLE idempotency_keys (
    scope text NOT NULL CHECK (length(scope) BETWEEN 1 AND 100),
    key text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    -- SHA-256 of the method, path and body: the same key with another request is refused.
    request_hash bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- Null while the first request is still being handled.
    completed_at timestamptz,
    status smallint,
    location text,
    content_type text,
    -- The answer's body, sealed like org secrets (a created token's secret is in it).
    key_id text,
    nonce bytea,
    body bytea,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

GRANT SELECT, INSERT, UPDATE, DELETE ON idempotency_keys TO switchyard_app;
