-- Partners' postback secrets, sealed with the server key (lib/secrets:
-- AES-256-GCM, the partner id as additional data), one row per version.
-- The newest two versions not revoked are valid (rotation keeps the
-- previous one working). A revocation writes the same (partner, version)
-- again with revoked = 1 and an empty sealed: revoked is the replacing
-- version, so the revocation always wins and, once merged, the sealed
-- secret is gone. Readers take max(revoked) per version and need no FINAL.
CREATE TABLE IF NOT EXISTS partner_secrets {{.OnCluster}}
(
    partner String,
    version UInt32,
    sealed String,
    created_at DateTime,
    created_by String,
    revoked UInt8
)
ENGINE = ReplacingMergeTree(revoked)
ORDER BY (partner, version)
