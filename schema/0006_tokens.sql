-- API tokens: only the SHA-256 of each secret is kept. A change (revocation)
-- is a new row with a higher version; read with FINAL. 1970-01-01 00:00:00
-- in expires_at means "never expires", in revoked_at "not revoked".
CREATE TABLE IF NOT EXISTS tokens {{.OnCluster}}
(
    id String,
    secret_hash String,
    role Enum8('admin' = 1, 'country_manager' = 2, 'partner' = 3, 'finance' = 4, 'service' = 5),
    countries Array(FixedString(2)),
    partner String,
    name String,
    created_at DateTime,
    expires_at DateTime,
    revoked_at DateTime,
    created_by String,
    revoked_by String,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY id
