-- Partnership terms: one row per version, never updated. A change is a new
-- version effective from a date; the version in force at an event's time
-- prices it. FINAL makes a retried insert of the same version harmless.
-- 1970-01-01 in end_date means open-ended; 0 in a target means none.
CREATE TABLE IF NOT EXISTS partnership_terms {{.OnCluster}}
(
    partnership String,
    version UInt32,
    effective_from Date,
    currency String,
    inbound_cpa Decimal(18, 4),
    inbound_revshare_pct Decimal(9, 4),
    inbound_revenue_window_days UInt16,
    outbound_cpa Decimal(18, 4),
    outbound_revshare_pct Decimal(9, 4),
    outbound_revenue_window_days UInt16,
    attribution_model Enum8('last_click' = 1, 'first_click' = 2),
    attribution_window_days UInt16,
    target_inbound_users_month UInt32,
    target_outbound_users_month UInt32,
    start_date Date,
    end_date Date,
    status Enum8('active' = 1, 'paused' = 2, 'archived' = 3),
    fallback_url String,
    partner_may_create_links UInt8,
    created_at DateTime,
    created_by String
)
ENGINE = ReplacingMergeTree
ORDER BY (partnership, version)
