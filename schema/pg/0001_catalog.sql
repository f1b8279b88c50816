-- The catalog of record: partners, partnerships, terms versions, links and
-- the audit log of their changes. Constraints do the checking that a lock
-- in one process used to: two writers in two processes cannot both create
-- one code, one terms version or a second partnership of a partner in a
-- country.
--
-- Every row carries version (its edit count, for optimistic concurrency:
-- the ETag of the API) and rev, the catalog-wide change number taken from
-- catalog_rev when the row was last written: a tracker asks for the rows
-- with a rev above the one its snapshot has seen.
CREATE SEQUENCE catalog_rev;

CREATE TABLE partners (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    domains    text[] NOT NULL DEFAULT '{}',
    status     text NOT NULL CHECK (status IN ('active', 'archived')),
    countries  text[] NOT NULL DEFAULT '{}',
    version    integer NOT NULL DEFAULT 1,
    rev        bigint NOT NULL DEFAULT nextval('catalog_rev'),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- One agreement per partner and country: a change of terms is a new terms
-- version, not a second partnership.
CREATE TABLE partnerships (
    id         text PRIMARY KEY,
    partner    text NOT NULL REFERENCES partners (id),
    country    text NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
    direction  text NOT NULL CHECK (direction IN ('inbound', 'outbound', 'both')),
    version    integer NOT NULL DEFAULT 1,
    rev        bigint NOT NULL DEFAULT nextval('catalog_rev'),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT partnerships_partner_country_key UNIQUE (partner, country)
);

-- Terms versions are never updated: a change is the next version, numbered
-- without gaps by the writer that holds the partnership's row lock.
-- end_date NULL is open-ended; 0 in a target means none.
CREATE TABLE partnership_terms (
    partnership                  text NOT NULL REFERENCES partnerships (id),
    version                      integer NOT NULL CHECK (version > 0),
    effective_from               date NOT NULL,
    currency                     text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    inbound_cpa                  numeric(18, 4) NOT NULL,
    inbound_revshare_pct         numeric(9, 4) NOT NULL,
    inbound_revenue_window_days  integer NOT NULL,
    outbound_cpa                 numeric(18, 4) NOT NULL,
    outbound_revshare_pct        numeric(9, 4) NOT NULL,
    outbound_revenue_window_days integer NOT NULL,
    attribution_model            text NOT NULL CHECK (attribution_model IN ('last_click', 'first_click')),
    attribution_window_days      integer NOT NULL,
    target_inbound_users_month   bigint NOT NULL,
    target_outbound_users_month  bigint NOT NULL,
    start_date                   date NOT NULL,
    end_date                     date,
    status                       text NOT NULL CHECK (status IN ('active', 'paused', 'archived')),
    fallback_url                 text NOT NULL,
    partner_may_create_links     boolean NOT NULL,
    created_at                   timestamptz NOT NULL,
    created_by                   text NOT NULL,
    rev                          bigint NOT NULL DEFAULT nextval('catalog_rev'),
    PRIMARY KEY (partnership, version)
);

-- Codes are case-sensitive, as the redirect looks them up.
CREATE TABLE links (
    code        text PRIMARY KEY,
    partnership text NOT NULL REFERENCES partnerships (id),
    partner     text NOT NULL REFERENCES partners (id),
    direction   text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    url         text NOT NULL,
    campaign    text NOT NULL DEFAULT '',
    status      text NOT NULL CHECK (status IN ('active', 'paused', 'archived')),
    expires_at  timestamptz,
    created_by  text NOT NULL DEFAULT '',
    version     integer NOT NULL DEFAULT 1,
    rev         bigint NOT NULL DEFAULT nextval('catalog_rev'),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX links_partnership ON links (partnership);
CREATE INDEX links_rev ON links (rev);

-- Who changed what, when, with the JSON before ('' for a creation) and
-- after. country lets a country manager read the audit of their countries
-- ('' for changes that belong to none). Written in the transaction of the
-- change it describes.
CREATE TABLE audit_log (
    id        text PRIMARY KEY,
    ts        timestamptz NOT NULL,
    actor     text NOT NULL,
    action    text NOT NULL,
    entity    text NOT NULL,
    entity_id text NOT NULL,
    country   text NOT NULL DEFAULT '',
    before    text NOT NULL DEFAULT '',
    after     text NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_entity ON audit_log (entity, entity_id, ts);
CREATE INDEX audit_log_ts ON audit_log (ts);
