-- Partnerships: one partner, one country, the directions it runs.
CREATE TABLE IF NOT EXISTS partnerships {{.OnCluster}}
(
    id String,
    partner String,
    country FixedString(2),
    direction Enum8('inbound' = 1, 'outbound' = 2, 'both' = 3),
    updated_at DateTime,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY id
