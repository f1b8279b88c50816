-- When a link stops redirecting to its URL; 1970-01-01 00:00:00 means never.
ALTER TABLE links {{.OnCluster}} ADD COLUMN expires_at DateTime DEFAULT toDateTime(0)
