-- Conversions from our product (API, pixel) and partners' postbacks: one row
-- per report, repeats included (marked duplicate); what counts is decided by
-- attribution. ts is when it happened, received_at when it reached us.
CREATE TABLE IF NOT EXISTS conversions {{.OnCluster}}
(
    id String,
    ts DateTime,
    received_at DateTime,
    type Enum8('signup' = 1, 'purchase' = 2, 'refund' = 3),
    source String,
    user_id String,
    order_id String,
    click_id String,
    visitor String,
    fingerprint String,
    existing UInt8,
    duplicate UInt8,
    amount Decimal(18, 4),
    currency String,
    link String,
    partner String,
    partnership String,
    country FixedString(2),
    ingested_at DateTime
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (source, type, ts)
