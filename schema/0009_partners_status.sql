-- Partners can be archived (never deleted: reports and statements name them).
ALTER TABLE partners {{.OnCluster}} ADD COLUMN status Enum8('active' = 1, 'archived' = 3) DEFAULT 'active'
