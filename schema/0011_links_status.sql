-- Paused and archived links redirect to their partnership's fallback URL.
ALTER TABLE links {{.OnCluster}} ADD COLUMN status Enum8('active' = 1, 'paused' = 2, 'archived' = 3) DEFAULT 'active'
