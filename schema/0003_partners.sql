-- Partners; a row per change, the highest version wins (read with FINAL).
CREATE TABLE IF NOT EXISTS partners {{.OnCluster}}
(
    id String,
    name String,
    domains Array(String),
    updated_at DateTime,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY id
