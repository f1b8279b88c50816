-- Country managers learn from each other (docs/AGREEMENTS.md,
-- "Replicating an agreement"; docs/AUTH.md, "Across countries").

-- The transaction an audit entry was written in: the entries of one change
-- that touches several objects (a replication: partnership, terms, links,
-- and the notice in the source's country) share it. NULL for entries
-- copied in bulk (an upgrade's copy, synthetic data).
ALTER TABLE audit_log ADD COLUMN tx bigint;
CREATE INDEX audit_log_tx ON audit_log (tx);

-- Where a partnership replicated from another country came from. The
-- source stays referenced: partnerships are never deleted.
CREATE TABLE partnership_origins (
    partnership text PRIMARY KEY REFERENCES partnerships (id),
    source      text NOT NULL REFERENCES partnerships (id),
    created_at  timestamptz NOT NULL,
    created_by  text NOT NULL,
    CHECK (partnership <> source)
);
CREATE INDEX partnership_origins_source ON partnership_origins (source);

-- A country manager's note on a partnership ("what worked"), read by the
-- managers of other countries next to the cross-country results. One per
-- partnership; version counts the edits (the ETag of the API).
CREATE TABLE playbooks (
    partnership text PRIMARY KEY REFERENCES partnerships (id),
    note        text NOT NULL CHECK (length(note) <= 2000),
    updated_at  timestamptz NOT NULL,
    updated_by  text NOT NULL,
    version     integer NOT NULL DEFAULT 1
);
