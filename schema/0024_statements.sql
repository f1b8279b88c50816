-- Closed monthly statements (reports/statements): one row per closed
-- period, written once by Close and never updated. lines is the canonical
-- JSON of the statement's lines and hash its hex SHA-256; id is
-- st_<period>_<first 12 hex of hash>. Two racing closes of one period could
-- both write a row: readers take the earliest closed_at, then the smallest
-- id, so every reader sees the same one.
CREATE TABLE IF NOT EXISTS statements {{.OnCluster}}
(
    period String,
    id String,
    hash String,
    closed_at DateTime,
    closed_by String,
    lines String
)
ENGINE = MergeTree
ORDER BY (period, closed_at, id)
