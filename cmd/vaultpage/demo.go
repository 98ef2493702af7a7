package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"

	"github.com/google/uuid"

	"github.com/vaultpage/vaultpage/card"
	"github.com/vaultpage/vaultpage/partner"
	"github.com/vaultpage/vaultpage/web"
)

// demoFile remembers the development demo partner and its cardholder in the
// data directory, so /demo keeps its cards across restarts.
const demoFile = "demo.json"

type demoState struct {
	PartnerID    uuid.UUID `json:"partner_id"`
	IndividualID uuid.UUID `json:"individual_id"`
	AccountID    uuid.UUID `json:"account_id"`
}

// ensureDemo returns the demo partner (development only), creating it, its
// cardholder and an account the first time, and again when the public URL
// changed (the partner's registered return URL must match it exactly). The
// partner's API credentials are not kept: /demo acts for it in-process.
func ensureDemo(ctx context.Context, cfg config, partners *partner.Service, cards *card.Service) (*web.Demo, error) {
	path := filepath.Join(cfg.DataDir, demoFile)
	returnURL := web.DemoReturnURL(cfg.PublicURL)
	var st demoState
	if b, err := os.ReadFile(path); err == nil && json.Unmarshal(b, &st) == nil { //nolint:gosec // G304: the configured data directory.
		p, err := partners.Partner(ctx, st.PartnerID)
		if err == nil && slices.Contains(p.ReturnURLs, returnURL) {
			if _, err := cards.Individual(ctx, card.Actor{PartnerID: p.ID}, st.IndividualID); err == nil {
				return &web.Demo{PartnerID: st.PartnerID, IndividualID: st.IndividualID, AccountID: st.AccountID}, nil
			}
		}
		if err != nil && !errors.Is(err, partner.ErrNotFound) {
			return nil, err
		}
	}
	creds, err := partners.Create(ctx, "Demo Fintech", []string{returnURL})
	if err != nil {
		return nil, err
	}
	actor := card.Actor{PartnerID: creds.PartnerID, Source: "demo"}
	ind, err := cards.CreateIndividual(ctx, actor, card.IndividualInput{FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com", Locale: "en"})
	if err != nil {
		return nil, err
	}
	acc, err := cards.CreateAccount(ctx, actor, ind.ID, "EUR")
	if err != nil {
		return nil, err
	}
	st = demoState{PartnerID: creds.PartnerID, IndividualID: ind.ID, AccountID: acc.ID}
	b, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, err
	}
	return &web.Demo{PartnerID: st.PartnerID, IndividualID: st.IndividualID, AccountID: st.AccountID}, nil
}
