-- Audit log: who changed what, when, with the JSON before and after ('' in
-- before when the thing is new). country lets a country manager read the
-- audit of their country ('' for changes that belong to no country).
CREATE TABLE IF NOT EXISTS audit_log {{.OnCluster}}
(
    ts DateTime,
    id String,
    actor String,
    action String,
    entity String,
    entity_id String,
    country String,
    before String,
    after String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (entity, entity_id, ts)
