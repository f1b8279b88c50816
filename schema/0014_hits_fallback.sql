-- 1 when a click went to the partnership's fallback URL because its link
-- was paused, archived or expired, or its partnership was not active.
ALTER TABLE hits {{.OnCluster}} ADD COLUMN fallback UInt8
