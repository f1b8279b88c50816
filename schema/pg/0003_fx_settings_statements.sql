-- ECB rates, the countries' report time zones and the closed monthly
-- statements, moved from ClickHouse so that any number of API instances
-- agree on them: keys and constraints replace the FINAL reads and the
-- in-process lock that ClickHouse needed.

-- ECB euro reference rates: units of currency per 1 EUR on a business day
-- (domain/fx). numeric(18, 8) is the ClickHouse Decimal(18, 8) it
-- replaces, and what fx.MaxScale checks: every ECB rate exactly. A reload
-- writes the same keys again and the latest load wins (ON CONFLICT DO
-- UPDATE), as FINAL gave before.
CREATE TABLE fx_rates (
    date      date NOT NULL,
    currency  text NOT NULL CHECK (currency ~ '^[A-Z]{3}$' AND currency <> 'EUR'),
    per_eur   numeric(18, 8) NOT NULL CHECK (per_eur > 0),
    loaded_at timestamptz NOT NULL,
    PRIMARY KEY (date, currency)
);

-- The IANA time zone a country's report days are in (reports.SetZone);
-- a country without a row is in UTC. version counts the edits.
CREATE TABLE country_settings (
    country    text PRIMARY KEY CHECK (country ~ '^[A-Z]{2}$'),
    timezone   text NOT NULL CHECK (timezone <> ''),
    updated_at timestamptz NOT NULL,
    updated_by text NOT NULL,
    version    integer NOT NULL DEFAULT 1
);

-- Closed monthly statements (reports/statements): one per period, the
-- primary key, so closing a month twice, from any two processes at once,
-- leaves one statement and the second close fails. Later events never
-- change a closed statement: the next open month's statement carries them
-- as adjustment lines, inside its own one row. lines is the canonical
-- JSON of the lines byte for byte as hashed (text, not jsonb, which would
-- reorder it); hash is its hex SHA-256; id is st_<period>_<first 12 hex>.
CREATE TABLE statements (
    period    text PRIMARY KEY CHECK (period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
    id        text NOT NULL UNIQUE,
    hash      text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
    closed_at timestamptz NOT NULL,
    closed_by text NOT NULL,
    lines     text NOT NULL
);

-- A closed statement is immutable: the database refuses to change or
-- delete one, whoever asks.
CREATE FUNCTION statements_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'statement % of % is closed and cannot be changed', OLD.id, OLD.period
        USING ERRCODE = 'integrity_constraint_violation';
END
$$;
CREATE TRIGGER statements_immutable BEFORE UPDATE OR DELETE ON statements
    FOR EACH ROW EXECUTE FUNCTION statements_immutable();
