-- Tracking links: /r/{code} redirects to url.
CREATE TABLE IF NOT EXISTS links {{.OnCluster}}
(
    code String,
    partnership String,
    partner String,
    direction Enum8('inbound' = 1, 'outbound' = 2),
    url String,
    campaign String,
    updated_at DateTime,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY code
