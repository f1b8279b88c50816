package catalog

import (
	"regexp"
	"strings"
)

// langRe is a language tag as a URL template's {lang} takes it: a
// language (ISO 639-1), optionally a region or script.
var langRe = regexp.MustCompile(`^[a-z]{2,3}([-_][A-Za-z0-9]{2,8})?$`)

// countryLangs is the main language of a country's web audience (ISO
// 639-1), for {lang} when a replication names none. Countries not listed
// are "en".
var countryLangs = func() map[string]string {
	m := map[string]string{}
	for _, group := range []struct{ lang, countries string }{
		{"de", "DE AT CH LI"},
		{"fr", "FR BE LU MC SN CI CM ML BF NE TG BJ GA CG CD MG HT RE GP MQ GF YT NC PF"},
		{"es", "ES MX AR CO CL PE VE EC GT CU BO DO HN PY SV NI CR PA UY PR GQ"},
		{"pt", "PT BR AO MZ CV GW ST TL"},
		{"it", "IT SM VA"},
		{"nl", "NL SR AW CW SX"},
		{"pl", "PL"}, {"cs", "CZ"}, {"sk", "SK"}, {"hu", "HU"}, {"ro", "RO MD"},
		{"bg", "BG"}, {"el", "GR CY"}, {"hr", "HR"}, {"sl", "SI"}, {"sr", "RS ME"},
		{"bs", "BA"}, {"mk", "MK"}, {"sq", "AL XK"}, {"lt", "LT"}, {"lv", "LV"},
		{"et", "EE"}, {"fi", "FI"}, {"sv", "SE AX"}, {"da", "DK GL FO"}, {"nb", "NO"},
		{"is", "IS"}, {"ru", "RU BY KZ KG"}, {"uk", "UA"}, {"tr", "TR"},
		{"ar", "SA AE EG MA DZ TN LY JO LB SY IQ KW QA BH OM YE SD PS"},
		{"he", "IL"}, {"fa", "IR"}, {"hi", "IN"}, {"bn", "BD"}, {"ur", "PK"},
		{"th", "TH"}, {"vi", "VN"}, {"id", "ID"}, {"ms", "MY BN"}, {"tl", "PH"},
		{"ja", "JP"}, {"ko", "KR"}, {"zh", "CN TW HK MO SG"},
		{"ka", "GE"}, {"hy", "AM"}, {"az", "AZ"}, {"uz", "UZ"}, {"mn", "MN"},
		{"sw", "KE TZ"}, {"am", "ET"},
	} {
		for _, cc := range strings.Fields(group.countries) {
			m[cc] = group.lang
		}
	}
	return m
}()

// DefaultLang is the main language of country cc (ISO 3166-1 alpha-2),
// "en" where none is listed.
func DefaultLang(cc string) string {
	if l, ok := countryLangs[strings.ToUpper(cc)]; ok {
		return l
	}
	return "en"
}
