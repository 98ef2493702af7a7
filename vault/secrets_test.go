package vault_test

import (
	"context"
	"errors"
	"testing"

	"github.com/vaultpage/vaultpage/store"
	"github.com/vaultpage/vaultpage/vault"
)

// Secrets other than card data (webhook signing secrets) live with the
// card secrets: bound to their owner, moved by rewrap, counted by retire.
func TestOtherSecretsAreSealedRewrappedAndBoundToTheirOwner(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		r := openRing(t, db, vault.NewKEKSet(newKEK(t)))
		o := vault.Owner{PartnerID: "p-1", Table: "webhook_endpoints", RecordID: "ep-1"}
		if err := r.PutSecret(ctx, o, "secret", vault.PurposeWebhookSecret, vault.NewSecret([]byte("whsec_abc"))); err != nil {
			t.Fatal(err)
		}
		if err := r.PutSecret(ctx, o, "secret", vault.PurposeCardPAN, vault.NewSecret([]byte("x"))); err == nil {
			t.Fatal("PutSecret accepted the card number purpose")
		}
		if _, err := r.GetSecret(ctx, vault.Owner{PartnerID: "p-2", Table: o.Table, RecordID: o.RecordID}, "secret"); !errors.Is(err, vault.ErrNotFound) {
			t.Fatalf("another partner's secret: %v", err)
		}
		dataKey := func(state vault.KeyState) vault.KeyStatus {
			st, err := r.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range st {
				if k.Purpose == vault.KeyData && k.State == state {
					return k
				}
			}
			t.Fatalf("no %s data key", state)
			return vault.KeyStatus{}
		}
		before := dataKey(vault.KeyActive)
		if before.Records != 1 {
			t.Fatalf("the active data key protects %d records, want the secret", before.Records)
		}
		if _, err := r.Rotate(ctx, vault.KeyData); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Rewrap(ctx, vault.RewrapOptions{}); err != nil {
			t.Fatal(err)
		}
		got, err := r.GetSecret(ctx, o, "secret")
		if err != nil || string(got.Reveal()) != "whsec_abc" {
			t.Fatalf("after rotate and rewrap: %v", err)
		}
		if old := dataKey(vault.KeyDecryptOnly); old.ID != before.ID || old.Records != 0 {
			t.Fatalf("after rewrap the old data key %d protects %d records", old.ID, old.Records)
		}
		if err := r.Retire(ctx, before.ID); err != nil {
			t.Fatalf("retire the old data key: %v", err)
		}
		if err := r.DeleteSecrets(ctx, o); err != nil {
			t.Fatal(err)
		}
		if _, err := r.GetSecret(ctx, o, "secret"); !errors.Is(err, vault.ErrNotFound) {
			t.Fatalf("after delete: %v", err)
		}
	})
}
