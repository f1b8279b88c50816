-- revenue_rep and fx_rate were Decimal(38, 12) (Decimal128): a GROUP BY
-- over such a column segfaults ClickHouse 18.16
-- (ColumnDecimal<Decimal128>::deserializeAndInsertFromArena) and takes the
-- whole server down, so an analyst's ad-hoc query could. Decimal(18, s)
-- (Decimal64) does not crash (schema/migrate_test.go groups by both on the
-- real server). Keep every stored decimal at precision 18 or less.
--
-- revenue_rep Decimal(18, 6): the amount in the reporting currency, rounded
-- half-even to 6 decimals by attribution (a millionth of a unit; a sum
-- over a million conversions stays well within a cent), up to 12 integer
-- digits; an amount that does not fit is left unconverted, like one
-- without a rate (domain/attribution).
-- fx_rate Decimal(18, 10): reporting-currency units per unit of the
-- conversion's currency, rounded half-even to 10 decimals (6 significant
-- digits, the ECB's, even for IDR to EUR, about 0.0000588), up to 8
-- integer digits. revenue_rep is computed with the full 12-decimal rate.
--
-- MODIFY COLUMN rewrites the stored values, truncating them to the new
-- scale; a value with more integer digits fails the migration
-- ("Decimal convert overflow") and leaves the column as it was.
ALTER TABLE attributions {{.OnCluster}}
    MODIFY COLUMN revenue_rep Decimal(18, 6),
    MODIFY COLUMN fx_rate Decimal(18, 10)
