-- The countries whose managers may see a partner before it has a
-- partnership there: set to the creating manager's countries.
ALTER TABLE partners {{.OnCluster}} ADD COLUMN countries Array(String)
