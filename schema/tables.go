package schema

import (
	"fmt"
	"slices"
	"strings"
)

// Table is one ClickHouse table the code writes: its name and the columns
// its writers insert, in the order they append them. The migrations say
// what a column is; this says which columns a writer fills. TestTables
// checks the two agree: every registered column exists, and every column
// without a DEFAULT is registered, so a new column cannot be forgotten by
// the writers. Reads name their tables as text in their own SQL: one file
// per report under reports/, the owning store otherwise.
type Table struct {
	Name    string
	columns []string
}

// Columns returns t's registered columns in insert order.
func (t Table) Columns() []string { return slices.Clone(t.columns) }

// Insert returns the batch insert statement naming every registered
// column, for conn.PrepareBatch: 18.16 rejects a batch insert without a
// column list.
func (t Table) Insert() string { return insert(t.Name, t.columns) }

// InsertOnly returns the batch insert statement for some of t's columns,
// the rest taking their defaults: for test fixtures that fill only what
// they assert on. A column that is not registered panics: it is a typo in
// the caller, not a condition to handle.
func (t Table) InsertOnly(cols ...string) string {
	for _, c := range cols {
		if !slices.Contains(t.columns, c) {
			panic(fmt.Sprintf("schema: %s has no registered column %q", t.Name, c))
		}
	}
	return insert(t.Name, cols)
}

func insert(table string, cols []string) string {
	return "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ")"
}

func table(name string, cols ...string) Table { return Table{Name: name, columns: cols} }

// The tables the code writes, each stated once.
var (
	// Hits: tracker/ingest (and ops/gen's synthetic traffic).
	Hits = table("hits", "id", "ts", "kind", "link", "partner", "partnership", "direction", "campaign",
		"country", "visitor", "referrer_host", "device", "is_bot", "event", "click_ref", "order_id", "amount",
		"currency", "ingested_at", "fallback", "fingerprint", "sub_id")
	// RejectedHits: tracker/ingest.
	RejectedHits = table("rejected_hits", "id", "ts", "endpoint", "reason", "query", "link", "partner",
		"partnership", "country", "is_bot", "ingested_at")
	// Conversions: tracker/ingest (and ops/gen).
	Conversions = table("conversions", "id", "ts", "received_at", "type", "source", "user_id", "order_id",
		"click_id", "visitor", "fingerprint", "existing", "duplicate", "amount", "currency", "link", "partner",
		"partnership", "country", "ingested_at")
	// Attributions: domain/attribution's job.
	Attributions = table("attributions", "conversion", "ts", "type", "source", "user_id", "order_id", "outcome",
		"partnership", "partner", "country", "direction", "click", "model", "match", "terms_version", "overlaps",
		"revenue", "currency", "revenue_rep", "rep_currency", "fx_rate", "fx_date", "computed_at", "version")
	// HitsHourly: filled by hits_hourly_mv; refilled from hits by
	// INSERT ... SELECT (reports/rollup.go).
	HitsHourly = table("hits_hourly", "partnership", "direction", "hour", "kind", "is_bot", "hits", "visitors")
	// The catalog as releases before PostgreSQL kept it: Partners,
	// Partnerships, Links, PartnershipTerms, AuditLog, Tokens, FXRates,
	// PartnerSecrets, CountrySettings, Statements. No code of this
	// release writes them; ops/upgrade reads them once into PostgreSQL
	// (schema/pg), and its tests write them to stand for an old catalog.
	Partners     = table("partners", "id", "name", "domains", "status", "countries", "updated_at", "version")
	Partnerships = table("partnerships", "id", "partner", "country", "direction", "updated_at", "version")
	Links        = table("links", "code", "partnership", "partner", "direction", "url", "campaign", "status",
		"expires_at", "created_by", "updated_at", "version")
	PartnershipTerms = table("partnership_terms", "partnership", "version", "effective_from", "currency",
		"inbound_cpa", "inbound_revshare_pct", "inbound_revenue_window_days",
		"outbound_cpa", "outbound_revshare_pct", "outbound_revenue_window_days",
		"attribution_model", "attribution_window_days",
		"target_inbound_users_month", "target_outbound_users_month",
		"start_date", "end_date", "status", "fallback_url", "partner_may_create_links",
		"created_at", "created_by")
	AuditLog = table("audit_log", "ts", "id", "actor", "action", "entity", "entity_id", "country", "before", "after")
	Tokens   = table("tokens", "id", "secret_hash", "role", "countries", "partner", "name", "created_at",
		"expires_at", "revoked_at", "created_by", "revoked_by", "version")
	FXRates         = table("fx_rates", "date", "currency", "per_eur", "loaded_at")
	PartnerSecrets  = table("partner_secrets", "partner", "version", "sealed", "created_at", "created_by", "revoked")
	CountrySettings = table("country_settings", "country", "timezone", "updated_at", "updated_by", "version")
	Statements      = table("statements", "period", "id", "hash", "closed_at", "closed_by", "lines")
)

// Tables returns every registered table.
func Tables() []Table {
	return []Table{Hits, RejectedHits, Conversions, Attributions, HitsHourly, Partners, Partnerships, Links,
		PartnershipTerms, AuditLog, Tokens, FXRates, PartnerSecrets, CountrySettings, Statements}
}
