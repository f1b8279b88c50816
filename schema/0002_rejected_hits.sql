-- Malformed hits, kept with the reason instead of being dropped.
CREATE TABLE IF NOT EXISTS rejected_hits {{.OnCluster}}
(
    id String,
    ts DateTime,
    endpoint String,
    reason String,
    query String,
    link String,
    partner String,
    partnership String,
    country FixedString(2),
    is_bot UInt8,
    ingested_at DateTime
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (reason, ts)
