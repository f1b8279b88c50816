package gen

import (
	"context"
	"errors"

	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/domain/vocab"
)

// SeedDemo stores the demo catalog `xpromo demo` announces: partner acme,
// partnership acme-de (Germany, both ways) and the links "demo" (inbound)
// and "demo-out" (outbound). What already exists is left as it is, so a
// second run changes nothing.
func SeedDemo(ctx context.Context, store *catalog.Store, actor string) error {
	ignoreExists := func(_ any, err error) error {
		if errors.Is(err, catalog.ErrExists) {
			return nil
		}
		return err
	}
	steps := []func() error{
		func() error {
			return ignoreExists(store.AddPartner(ctx, catalog.Partner{ID: "acme", Name: "ACME Deals", Domains: []string{"acme.example"}}, actor))
		},
		func() error {
			return ignoreExists(store.AddPartnership(ctx, catalog.Partnership{ID: "acme-de", Partner: "acme", Country: "DE", Direction: vocab.Both}, actor))
		},
		func() error {
			return ignoreExists(store.AddLink(ctx, catalog.Link{Code: "demo", Partnership: "acme-de", Direction: vocab.Inbound, URL: "https://www.example.com/welcome?utm_source=acme#start", Campaign: "launch"}, actor))
		},
		func() error {
			return ignoreExists(store.AddLink(ctx, catalog.Link{Code: "demo-out", Partnership: "acme-de", Direction: vocab.Outbound, URL: "https://www.acme.example/offer", Campaign: "launch"}, actor))
		},
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}
