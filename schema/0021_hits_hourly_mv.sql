-- Feeds hits_hourly from every insert into hits. Hits stored before this
-- view existed are not in the rollup: `xpromo rollup rebuild` refills it.
CREATE MATERIALIZED VIEW IF NOT EXISTS hits_hourly_mv {{.OnCluster}} TO hits_hourly
AS SELECT
    partnership,
    direction,
    toStartOfHour(ts) AS hour,
    kind,
    is_bot,
    countState() AS hits,
    uniqState(visitor) AS visitors
FROM hits
WHERE partnership != ''
GROUP BY partnership, direction, hour, kind, is_bot
