-- ECB euro reference rates: units of currency per 1 EUR on a business day.
-- A reload of the same file writes the same (currency, date) keys again
-- with a newer loaded_at; FINAL keeps the latest load's row, so reads must
-- use FINAL. Decimal(18, 8) holds every ECB rate exactly (they have at
-- most 6 significant digits; IDR is about 17000 per EUR).
CREATE TABLE IF NOT EXISTS fx_rates {{.OnCluster}}
(
    date Date,
    currency String,
    per_eur Decimal(18, 8),
    loaded_at DateTime
)
ENGINE = ReplacingMergeTree(loaded_at)
ORDER BY (currency, date)
