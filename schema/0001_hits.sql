-- Every recorded click, view and pixel conversion. No raw IP is stored.
CREATE TABLE IF NOT EXISTS hits {{.OnCluster}}
(
    id String,
    ts DateTime,
    kind Enum8('click' = 1, 'view' = 2, 'conversion' = 3),
    link String,
    partner String,
    partnership String,
    direction Enum8('none' = 0, 'inbound' = 1, 'outbound' = 2),
    campaign String,
    country FixedString(2),
    visitor String,
    referrer_host String,
    device Enum8('other' = 0, 'desktop' = 1, 'mobile' = 2, 'tablet' = 3, 'bot' = 4),
    is_bot UInt8,
    event String,
    click_ref String,
    order_id String,
    amount Decimal(18, 4),
    currency String,
    ingested_at DateTime
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (country, partnership, kind, ts)
