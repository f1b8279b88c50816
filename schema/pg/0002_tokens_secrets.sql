-- API tokens and partners' postback secrets, moved from ClickHouse (where
-- they were ReplacingMergeTree rows read with FINAL) so that any number of
-- API instances and the CLI change them safely: a revoke is one guarded
-- UPDATE, and two rotations cannot both write one secret version.

-- A token's secret is never stored: secret_hash is its SHA-256. expires_at
-- NULL is never, revoked_at NULL not revoked. version counts the row's
-- edits (optimistic concurrency). partner names a partner for a partner
-- token and is '' otherwise; its existence is checked by whoever creates
-- the token, as it always was, so there is no foreign key.
CREATE TABLE tokens (
    id          text PRIMARY KEY CHECK (id ~ '^[a-z2-7]{12}$'),
    secret_hash bytea NOT NULL CHECK (length(secret_hash) = 32),
    role        text NOT NULL CHECK (role IN ('admin', 'country_manager', 'partner', 'finance', 'service')),
    countries   text[] NOT NULL DEFAULT '{}',
    partner     text NOT NULL DEFAULT '',
    name        text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz,
    revoked_at  timestamptz,
    created_by  text NOT NULL DEFAULT '',
    revoked_by  text NOT NULL DEFAULT '',
    version     integer NOT NULL DEFAULT 1 CHECK (version > 0),
    CONSTRAINT tokens_secret_hash_key UNIQUE (secret_hash),
    CONSTRAINT tokens_partner_role CHECK ((role = 'partner') = (partner <> '')),
    CONSTRAINT tokens_expiry CHECK (expires_at IS NULL OR expires_at > created_at)
);

-- One row per version of a partner's secret, sealed with the server key
-- (the partner id is its additional data): never the secret itself.
-- Versions are numbered 1, 2, ... per partner; the primary key makes two
-- rotations that read the same newest version collide on the next one, and
-- the loser retries with the one after (http/postback Store.Rotate).
-- revoked_at NULL is not revoked; a revoked version's sealed secret is
-- dropped, as nothing may use it again. The only way to rotate a secret (`xpromo
-- partner secret rotate`) requires the partner to exist, and partners are
-- archived, never deleted: the foreign key holds.
CREATE TABLE partner_secrets (
    partner    text NOT NULL REFERENCES partners (id),
    version    integer NOT NULL CHECK (version > 0),
    sealed     bytea CHECK (length(sealed) > 0),
    created_at timestamptz NOT NULL,
    created_by text NOT NULL,
    revoked_at timestamptz,
    PRIMARY KEY (partner, version),
    CONSTRAINT partner_secrets_revoked CHECK ((sealed IS NULL) = (revoked_at IS NOT NULL))
);
