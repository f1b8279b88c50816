package upgrade

// tables in foreign-key order. version and rev are not copied: see
// CopyCatalog. ClickHouse's version columns are nanosecond stamps of the
// write, not edit counts.
var tables = []table{
	{name: "partners", final: true, nkey: 1, cols: []column{
		{name: "id"}, {name: "name"}, {name: "domains", kind: kTextArr},
		{name: "status", ch: "toString(status)"}, {name: "countries", kind: kTextArr},
		{name: "updated_at", kind: kTime},
	}},
	{name: "partnerships", final: true, nkey: 1, cols: []column{
		{name: "id"}, {name: "partner"}, {name: "country", ch: "toString(country)"},
		{name: "direction", ch: "toString(direction)"}, {name: "updated_at", kind: kTime},
	}},
	{name: "partnership_terms", final: true, nkey: 2, cols: []column{
		{name: "partnership"}, {name: "version", kind: kInt}, {name: "effective_from", kind: kDate},
		{name: "currency"},
		{name: "inbound_cpa", kind: kDecimal}, {name: "inbound_revshare_pct", kind: kDecimal},
		{name: "inbound_revenue_window_days", kind: kInt},
		{name: "outbound_cpa", kind: kDecimal}, {name: "outbound_revshare_pct", kind: kDecimal},
		{name: "outbound_revenue_window_days", kind: kInt},
		{name: "attribution_model", ch: "toString(attribution_model)"},
		{name: "attribution_window_days", kind: kInt},
		{name: "target_inbound_users_month", kind: kInt}, {name: "target_outbound_users_month", kind: kInt},
		{name: "start_date", kind: kDate}, {name: "end_date", kind: kDateNull},
		{name: "status", ch: "toString(status)"}, {name: "fallback_url"},
		{name: "partner_may_create_links", kind: kBool},
		{name: "created_at", kind: kTime}, {name: "created_by"},
	}},
	{name: "links", final: true, nkey: 1, cols: []column{
		{name: "code"}, {name: "partnership"}, {name: "partner"},
		{name: "direction", ch: "toString(direction)"}, {name: "url"}, {name: "campaign"},
		{name: "status", ch: "toString(status)"}, {name: "expires_at", kind: kTimeNull},
		{name: "created_by"}, {name: "updated_at", kind: kTime},
	}},
	// The secret's SHA-256 was kept as hex; the countries of a
	// country_manager as FixedString(2). version is the edit count now, as
	// for the catalog rows.
	{name: "tokens", final: true, nkey: 1, cols: []column{
		{name: "id"}, {name: "secret_hash", kind: kBytes, ch: "unhex(secret_hash)"},
		{name: "role", ch: "toString(role)"}, {name: "countries", kind: kTextArr},
		{name: "partner"}, {name: "name"}, {name: "created_at", kind: kTime},
		{name: "expires_at", kind: kTimeNull}, {name: "revoked_at", kind: kTimeNull},
		{name: "created_by"}, {name: "revoked_by"},
	}},
	// FINAL keeps the revocation of a version (revoked was the replacing
	// version), whose sealed secret is empty: NULL now. The old table did
	// not record when a version was revoked; revoked_at is its created_at.
	{name: "partner_secrets", final: true, nkey: 2, cols: []column{
		{name: "partner"}, {name: "version", kind: kInt},
		{name: "sealed", kind: kBytesNull, ch: "if(revoked = 1, '', sealed)"},
		{name: "created_at", kind: kTime}, {name: "created_by"},
		{name: "revoked_at", kind: kTimeNull, ch: "if(revoked = 1 OR sealed = '', created_at, toDateTime(0))"},
	}},
	// A plain MergeTree: a retried insert may have stored an entry twice;
	// copyTable keeps the first row of each id.
	{name: "audit_log", nkey: 1, cols: []column{
		{name: "id"}, {name: "ts", kind: kTime}, {name: "actor"}, {name: "action"},
		{name: "entity"}, {name: "entity_id"}, {name: "country"}, {name: "before"}, {name: "after"},
	}},
	// A reload of the same day's rates wrote the key again: FINAL keeps
	// the latest load, as domain/fx read it.
	{name: "fx_rates", final: true, nkey: 2, cols: []column{
		{name: "date", kind: kDate}, {name: "currency"}, {name: "per_eur", kind: kDecimal}, {name: "loaded_at", kind: kTime},
	}},
	{name: "country_settings", final: true, nkey: 1, cols: []column{
		{name: "country", ch: "toString(country)"}, {name: "timezone"}, {name: "updated_at", kind: kTime}, {name: "updated_by"},
	}},
	// A plain MergeTree where two closes of one month racing could both
	// land; readers took the earlier (closed_at, then id), so that is the
	// statement copied.
	{name: "statements", nkey: 1, then: "closed_at, id", cols: []column{
		{name: "period"}, {name: "id"}, {name: "hash"}, {name: "closed_at", kind: kTime}, {name: "closed_by"}, {name: "lines"},
	}},
}
