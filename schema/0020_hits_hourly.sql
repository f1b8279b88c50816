-- Hourly rollup of hits per partnership, direction, kind and bot flag: hit
-- counts (exact) and visitor states (uniq: exact up to 65,536 distinct
-- values per state, then an adaptive sample, error about 1%). Reports read
-- it instead of hits; filled by hits_hourly_mv from every insert into hits
-- (the ingester never inserts a hit twice, so the counts stay exact).
CREATE TABLE IF NOT EXISTS hits_hourly {{.OnCluster}}
(
    partnership String,
    direction Enum8('none' = 0, 'inbound' = 1, 'outbound' = 2),
    hour DateTime,
    kind Enum8('click' = 1, 'view' = 2, 'conversion' = 3),
    is_bot UInt8,
    hits AggregateFunction(count),
    visitors AggregateFunction(uniq, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (partnership, hour, direction, kind, is_bot)
