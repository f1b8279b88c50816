-- Per-country settings: the IANA time zone a country's report periods are
-- days of (default UTC). The highest version wins (read with FINAL).
CREATE TABLE IF NOT EXISTS country_settings {{.OnCluster}}
(
    country FixedString(2),
    timezone String,
    updated_at DateTime,
    updated_by String,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY country
