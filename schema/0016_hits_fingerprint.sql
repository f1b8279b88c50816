-- Daily-salted hash of the client's IP and User-Agent (the salt is dropped
-- after two days), the last resort when a conversion names neither a click
-- nor a visitor.
ALTER TABLE hits {{.OnCluster}} ADD COLUMN fingerprint String
