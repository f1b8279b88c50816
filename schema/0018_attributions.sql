-- The attribution of each conversion, recomputed while its period is open:
-- the row with the highest version wins (read with FINAL). Revenue is
-- signed (refunds negative), in the conversion's currency and in the
-- reporting currency with the ECB rate and its date.
-- revenue_rep and fx_rate are created Decimal(38, 12) here for history
-- only: 0025 makes them Decimal(18, 6) and Decimal(18, 10), since a GROUP
-- BY over a Decimal(38, s) column crashes ClickHouse 18.16.
CREATE TABLE IF NOT EXISTS attributions {{.OnCluster}}
(
    conversion String,
    ts DateTime,
    type Enum8('signup' = 1, 'purchase' = 2, 'refund' = 3),
    source String,
    user_id String,
    order_id String,
    outcome Enum8('new_user' = 1, 'returning_user' = 2, 'credited' = 3, 'duplicate' = 4, 'unattributed' = 5, 'outside_window' = 6, 'not_credited' = 7),
    partnership String,
    partner String,
    country FixedString(2),
    direction Enum8('none' = 0, 'inbound' = 1, 'outbound' = 2),
    click String,
    model String,
    match String,
    terms_version UInt32,
    overlaps Array(String),
    revenue Decimal(18, 4),
    currency String,
    revenue_rep Decimal(38, 12),
    rep_currency String,
    fx_rate Decimal(38, 12),
    fx_date Date,
    computed_at DateTime,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(ts)
ORDER BY conversion
