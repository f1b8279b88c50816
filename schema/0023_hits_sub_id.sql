-- A partner's sub-id of a click (/r/{code}?sub=...): its own placement or
-- campaign label, for the breakdown report.
ALTER TABLE hits {{.OnCluster}} ADD COLUMN sub_id String
