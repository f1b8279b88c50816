-- Who created the link (token name or id), for partner-made links.
ALTER TABLE links {{.OnCluster}} ADD COLUMN created_by String
