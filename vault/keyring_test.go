package vault_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/vaultpage/vaultpage/store"
	"github.com/vaultpage/vaultpage/store/storetest"
	"github.com/vaultpage/vaultpage/vault"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newKEK(t testing.TB) vault.KEK {
	t.Helper()
	key := make([]byte, vault.KEKSize)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	k, err := vault.NewSoftwareKEK(key)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func openRing(t testing.TB, db *store.DB, keks *vault.KEKSet, mutate ...func(*vault.Options)) *vault.Keyring {
	t.Helper()
	o := vault.Options{Store: db.Vault(), KEKs: keks, Logger: quiet}
	for _, m := range mutate {
		m(&o)
	}
	r, err := vault.Open(context.Background(), o)
	if err != nil {
		t.Fatalf("open keyring: %v", err)
	}
	t.Cleanup(r.Close)
	return r
}

// eachBackend runs the test against SQLite and PostgreSQL: the vault's part
// of the store conformance suite.
func eachBackend(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			fn(t, b.Open(t))
		})
	}
}

func cardAAD(partner, card string) vault.AAD {
	return vault.AAD{Purpose: vault.PurposeCardPAN, PartnerID: partner, Table: "cards", RecordID: card, Field: "pan"}
}

var pan16 = []byte("4895370012345671")

func TestTwoEncryptionsOfTheSamePANDiffer(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		r := openRing(t, db, vault.NewKEKSet(newKEK(t)))
		ctx := context.Background()
		a, err := r.Encrypt(ctx, pan16, cardAAD("p1", "c1"))
		if err != nil {
			t.Fatal(err)
		}
		b, err := r.Encrypt(ctx, pan16, cardAAD("p1", "c1"))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(a, b) {
			t.Fatal("two encryptions are equal")
		}
		if bytes.Contains(a, pan16) {
			t.Fatal("ciphertext contains the plaintext")
		}
		for _, ct := range [][]byte{a, b} {
			pt, err := r.Decrypt(ctx, ct, cardAAD("p1", "c1"))
			if err != nil || !bytes.Equal(pt, pan16) {
				t.Fatalf("decrypt: %v", err)
			}
		}
	})
}

func TestTamperedByteFails(t *testing.T) {
	db := storetest.SQLite(t)
	r := openRing(t, db, vault.NewKEKSet(newKEK(t)))
	ctx := context.Background()
	ct, err := r.Encrypt(ctx, pan16, cardAAD("p1", "c1"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range ct {
		bad := bytes.Clone(ct)
		bad[i] ^= 0x01
		_, err := r.Decrypt(ctx, bad, cardAAD("p1", "c1"))
		switch {
		case i == 0:
			if !errors.Is(err, vault.ErrUnsupportedVersion) {
				t.Fatalf("byte %d: want ErrUnsupportedVersion, got %v", i, err)
			}
		case i < 5:
			if !errors.Is(err, vault.ErrUnknownKey) && !errors.Is(err, vault.ErrDecrypt) && !errors.Is(err, vault.ErrMalformed) {
				t.Fatalf("byte %d (key id): want ErrUnknownKey, ErrDecrypt or ErrMalformed, got %v", i, err)
			}
		default:
			if !errors.Is(err, vault.ErrDecrypt) {
				t.Fatalf("byte %d: want ErrDecrypt, got %v", i, err)
			}
		}
	}
}

func TestMovedCiphertextFails(t *testing.T) {
	db := storetest.SQLite(t)
	r := openRing(t, db, vault.NewKEKSet(newKEK(t)))
	ctx := context.Background()
	orig := cardAAD("partner-a", "card-1")
	ct, err := r.Encrypt(ctx, pan16, orig)
	if err != nil {
		t.Fatal(err)
	}
	moves := map[string]vault.AAD{
		"another row":     cardAAD("partner-a", "card-2"),
		"another partner": cardAAD("partner-b", "card-1"),
		"another field":   {Purpose: vault.PurposeCardPAN, PartnerID: "partner-a", Table: "cards", RecordID: "card-1", Field: "pin_block"},
		"another table":   {Purpose: vault.PurposeCardPAN, PartnerID: "partner-a", Table: "individuals", RecordID: "card-1", Field: "pan"},
		"another purpose": {Purpose: vault.PurposeCardPINBlock, PartnerID: "partner-a", Table: "cards", RecordID: "card-1", Field: "pan"},
		// Length-prefixing keeps shifted boundaries apart.
		"shifted boundary": {Purpose: vault.PurposeCardPAN, PartnerID: "partner-ac", Table: "ards", RecordID: "card-1", Field: "pan"},
	}
	for name, aad := range moves {
		if _, err := r.Decrypt(ctx, ct, aad); !errors.Is(err, vault.ErrDecrypt) {
			t.Errorf("%s: want ErrDecrypt, got %v", name, err)
		}
	}
	if _, err := r.Decrypt(ctx, ct, orig); err != nil {
		t.Fatalf("original place: %v", err)
	}
}

func TestStoredRecordCopiedToAnotherCardFails(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		r := openRing(t, db, vault.NewKEKSet(newKEK(t)))
		ctx := context.Background()
		a := vault.Owner{PartnerID: "p1", Table: "cards", RecordID: "a"}
		b := vault.Owner{PartnerID: "p1", Table: "cards", RecordID: "b"}
		rng := vault.BINRange{Prefix: "489537", Length: 16}
		if _, err := r.IssuePAN(ctx, a, rng); err != nil {
			t.Fatal(err)
		}
		if _, err := r.IssuePAN(ctx, b, rng); err != nil {
			t.Fatal(err)
		}
		s := db.Vault()
		recA, err := s.GetSecret(ctx, vault.Ref{Table: "cards", RecordID: "a", Field: "pan"})
		if err != nil {
			t.Fatal(err)
		}
		recB, err := s.GetSecret(ctx, vault.Ref{Table: "cards", RecordID: "b", Field: "pan"})
		if err != nil {
			t.Fatal(err)
		}
		recB.Ciphertext = recA.Ciphertext
		if err := s.PutSecret(ctx, recB); err != nil {
			t.Fatal(err)
		}
		if _, err := r.LoadPAN(ctx, b); !errors.Is(err, vault.ErrDecrypt) {
			t.Fatalf("want ErrDecrypt for a copied ciphertext, got %v", err)
		}
		if _, err := r.LoadPAN(ctx, vault.Owner{PartnerID: "p2", Table: "cards", RecordID: "a"}); !errors.Is(err, vault.ErrNotFound) {
			t.Fatalf("another partner: want ErrNotFound, got %v", err)
		}
	})
}

func TestWrongKeyFails(t *testing.T) {
	ctx := context.Background()
	db := storetest.SQLite(t)
	r := openRing(t, db, vault.NewKEKSet(newKEK(t)))
	ct, err := r.Encrypt(ctx, pan16, cardAAD("p1", "c1"))
	if err != nil {
		t.Fatal(err)
	}
	// Another deployment's key ring has its own data key 1.
	other := openRing(t, storetest.SQLite(t), vault.NewKEKSet(newKEK(t)))
	if _, err := other.Decrypt(ctx, ct, cardAAD("p1", "c1")); !errors.Is(err, vault.ErrDecrypt) {
		t.Fatalf("other data key: want ErrDecrypt, got %v", err)
	}
	// The right database with the wrong KEK does not even open.
	_, err = vault.Open(ctx, vault.Options{Store: db.Vault(), KEKs: vault.NewKEKSet(newKEK(t)), Logger: quiet})
	if !errors.Is(err, vault.ErrKEK) {
		t.Fatalf("wrong kek: want ErrKEK, got %v", err)
	}
}

func TestWrappedKeyCopiedToAnotherIDFails(t *testing.T) {
	ctx := context.Background()
	db := storetest.SQLite(t)
	keks := vault.NewKEKSet(newKEK(t))
	openRing(t, db, keks)
	s := db.Vault()
	keys, err := s.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Put the blind index key's wrapped material in the data key's row.
	var data, index vault.Key
	for _, k := range keys {
		switch k.Purpose {
		case vault.KeyData:
			data = k
		case vault.KeyBlindIndex:
			index = k
		}
	}
	if err := s.ReplaceWrappedKey(ctx, data.ID, data.KEKID, data.Wrapped, index.Wrapped); err != nil {
		t.Fatal(err)
	}
	if _, err := vault.Open(ctx, vault.Options{Store: s, KEKs: keks, Logger: quiet}); !errors.Is(err, vault.ErrKEK) {
		t.Fatalf("want ErrKEK, got %v", err)
	}
}

func TestMalformedCiphertextsGetTypedErrors(t *testing.T) {
	r := openRing(t, storetest.SQLite(t), vault.NewKEKSet(newKEK(t)))
	ctx := context.Background()
	good, err := r.Encrypt(ctx, pan16, cardAAD("p1", "c1"))
	if err != nil {
		t.Fatal(err)
	}
	testCases := []struct {
		name     string
		ct       []byte
		expected error
	}{
		{"empty", nil, vault.ErrMalformed},
		{"header only", good[:5], vault.ErrMalformed},
		{"truncated tag", good[:len(good)-1], vault.ErrDecrypt},
		{"shorter than a tag", good[:32], vault.ErrMalformed},
		{"oversized", make([]byte, vault.MaxSealedSize+1), vault.ErrMalformed},
		{"version 2", append([]byte{2}, good[1:]...), vault.ErrUnsupportedVersion},
		{"unknown key id", append([]byte{1, 0, 0, 0xff, 0xff}, good[5:]...), vault.ErrUnknownKey},
		{"key id zero", append([]byte{1, 0, 0, 0, 0}, good[5:]...), vault.ErrMalformed},
		{"key id of a non-data key", append([]byte{1, 0, 0, 0, 2}, good[5:]...), vault.ErrUnknownKey},
	}
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := r.Decrypt(ctx, tc.ct, cardAAD("p1", "c1")); !errors.Is(err, tc.expected) {
				t.Fatalf("want %v, got %v", tc.expected, err)
			}
		})
	}
	if _, err := r.Encrypt(ctx, pan16, vault.AAD{Purpose: vault.PurposeCardPAN}); !errors.Is(err, vault.ErrInvalidInput) {
		t.Fatalf("incomplete aad: want ErrInvalidInput, got %v", err)
	}
}

func TestRetiredVersionIsRefused(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		r := openRing(t, db, vault.NewKEKSet(newKEK(t)))
		ct, err := r.Encrypt(ctx, pan16, cardAAD("p1", "c1"))
		if err != nil {
			t.Fatal(err)
		}
		old, _ := vault.KeyIDOf(ct)
		if err := r.Retire(ctx, old); !errors.Is(err, vault.ErrKeyActive) {
			t.Fatalf("retiring the active key: want ErrKeyActive, got %v", err)
		}
		if _, err := r.Rotate(ctx, vault.KeyData); err != nil {
			t.Fatal(err)
		}
		if pt, err := r.Decrypt(ctx, ct, cardAAD("p1", "c1")); err != nil || !bytes.Equal(pt, pan16) {
			t.Fatalf("decrypt-only key must still decrypt: %v", err)
		}
		if err := r.Retire(ctx, old); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Decrypt(ctx, ct, cardAAD("p1", "c1")); !errors.Is(err, vault.ErrKeyRetired) {
			t.Fatalf("want ErrKeyRetired, got %v", err)
		}
		// A second process sharing the database refuses it too.
		other := openRing(t, db, vault.NewKEKSet(r.KEKs().Current()))
		if _, err := other.Decrypt(ctx, ct, cardAAD("p1", "c1")); !errors.Is(err, vault.ErrKeyRetired) {
			t.Fatalf("other process: want ErrKeyRetired, got %v", err)
		}
		// New data is sealed with the new version.
		ct2, err := r.Encrypt(ctx, pan16, cardAAD("p1", "c1"))
		if err != nil {
			t.Fatal(err)
		}
		if id, _ := vault.KeyIDOf(ct2); id == old {
			t.Fatal("sealed with the retired key")
		}
	})
}

func TestRetireRefusesAKeyThatStillProtectsRecords(t *testing.T) {
	ctx := context.Background()
	db := storetest.SQLite(t)
	r := openRing(t, db, vault.NewKEKSet(newKEK(t)))
	o := vault.Owner{PartnerID: "p1", Table: "cards", RecordID: "c1"}
	if _, err := r.IssuePAN(ctx, o, vault.BINRange{Prefix: "489537", Length: 16}); err != nil {
		t.Fatal(err)
	}
	old := activeID(t, r, vault.KeyData)
	if _, err := r.Rotate(ctx, vault.KeyData); err != nil {
		t.Fatal(err)
	}
	if err := r.Retire(ctx, old); !errors.Is(err, vault.ErrKeyInUse) {
		t.Fatalf("want ErrKeyInUse, got %v", err)
	}
	if _, err := r.LoadPAN(ctx, o); err != nil {
		t.Fatalf("record must stay readable: %v", err)
	}
}

func activeID(t testing.TB, r *vault.Keyring, p vault.KeyPurpose) uint32 {
	t.Helper()
	st, err := r.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		if s.Purpose == p && s.State == vault.KeyActive {
			return s.ID
		}
	}
	t.Fatalf("no active %s key", p)
	return 0
}

func statusOf(t testing.TB, r *vault.Keyring) map[uint32]vault.KeyStatus {
	t.Helper()
	st, err := r.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[uint32]vault.KeyStatus{}
	for _, s := range st {
		out[s.ID] = s
	}
	return out
}

type card struct {
	owner vault.Owner
	last4 string
	cvv   string
	pin   string
}

// issueCards creates n cards with PANs and PINs and remembers what they hold.
func issueCards(t testing.TB, r *vault.Keyring, n int) []card {
	t.Helper()
	ctx := context.Background()
	exp := vault.Expiry{Year: 2029, Month: 4}
	cards := make([]card, n)
	for i := range cards {
		o := vault.Owner{PartnerID: fmt.Sprintf("p%d", i%3), Table: "cards", RecordID: fmt.Sprintf("card-%04d", i)}
		pan, err := r.IssuePAN(ctx, o, vault.BINRange{Prefix: "489537", Length: 16})
		if err != nil {
			t.Fatal(err)
		}
		pin := fmt.Sprintf("%04d", 1000+i*7%9000)
		if err := r.SetPIN(ctx, o, vault.SecretString(pin)); err != nil {
			t.Fatal(err)
		}
		cvv, err := r.CVV(ctx, o, exp, vault.ServiceCodeCVV2)
		if err != nil {
			t.Fatal(err)
		}
		cards[i] = card{owner: o, last4: pan.Last4(), cvv: string(cvv.Reveal()), pin: pin}
	}
	return cards
}

// checkCards proves every card still reads back as issued.
func checkCards(t testing.TB, r *vault.Keyring, cards []card) {
	t.Helper()
	ctx := context.Background()
	for _, c := range cards {
		pan, err := r.LoadPAN(ctx, c.owner)
		if err != nil {
			t.Fatalf("%s: %v", c.owner.RecordID, err)
		}
		if pan.Last4() != c.last4 {
			t.Fatalf("%s: pan changed", c.owner.RecordID)
		}
		if e, err := r.FindPAN(ctx, pan); err != nil || e.RecordID != c.owner.RecordID {
			t.Fatalf("%s: blind index lookup: %v", c.owner.RecordID, err)
		}
		cvv, err := r.CVV(ctx, c.owner, vault.Expiry{Year: 2029, Month: 4}, vault.ServiceCodeCVV2)
		if err != nil || string(cvv.Reveal()) != c.cvv {
			t.Fatalf("%s: cvv changed: %v", c.owner.RecordID, err)
		}
		ok, err := r.VerifyPIN(ctx, c.owner, vault.SecretString(c.pin))
		if err != nil || !ok {
			t.Fatalf("%s: pin no longer verifies: %v", c.owner.RecordID, err)
		}
	}
}

func TestRotationThenRewrapLeavesEveryRecordReadableAndNoneOnTheOldVersion(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		oldKEK, newKEK := newKEK(t), newKEK(t)
		r := openRing(t, db, vault.NewKEKSet(oldKEK))
		cards := issueCards(t, r, 60)
		old := map[vault.KeyPurpose]uint32{}
		for _, p := range []vault.KeyPurpose{vault.KeyData, vault.KeyBlindIndex, vault.KeyPIN} {
			old[p] = activeID(t, r, p)
			if _, err := r.Rotate(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		checkCards(t, r, cards)

		// The KEK rotates too: restart with the new KEK current and the old
		// one still accepted.
		r.Close()
		r = openRing(t, db, vault.NewKEKSet(newKEK, oldKEK))
		rep, err := r.Rewrap(ctx, vault.RewrapOptions{BatchSize: 7})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Secrets != 120 || rep.Indexes != 60 || rep.Keys < 4 {
			t.Fatalf("rewrap report %+v, want 120 secrets, 60 index entries, every key", rep)
		}
		st := statusOf(t, r)
		for p, id := range old {
			if st[id].Records != 0 {
				t.Fatalf("%s key %d still protects %d records", p, id, st[id].Records)
			}
			if err := r.Retire(ctx, id); err != nil {
				t.Fatalf("retire %s key %d: %v", p, id, err)
			}
		}
		for id, s := range st {
			if !s.KEKCurrent {
				t.Fatalf("key %d still wrapped under the old kek", id)
			}
		}
		// Without the old KEK at all, everything still opens.
		r.Close()
		r = openRing(t, db, vault.NewKEKSet(newKEK))
		checkCards(t, r, cards)
		// And a second rewrap finds nothing to do.
		rep, err = r.Rewrap(ctx, vault.RewrapOptions{})
		if err != nil || rep.Secrets+rep.Indexes+rep.Keys != 0 {
			t.Fatalf("second rewrap did work: %+v %v", rep, err)
		}
	})
}

func TestRewrapInterruptedHalfWayAndResumedCompletes(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		r := openRing(t, db, vault.NewKEKSet(newKEK(t)))
		cards := issueCards(t, r, 40)
		oldData := activeID(t, r, vault.KeyData)
		if _, err := r.Rotate(ctx, vault.KeyData); err != nil {
			t.Fatal(err)
		}
		// Stop after two batches of ten, as a crash would.
		stopCtx, stop := context.WithCancel(ctx)
		_, err := r.Rewrap(stopCtx, vault.RewrapOptions{BatchSize: 10, AfterBatch: func(rep vault.RewrapReport) {
			if rep.Batches == 2 {
				stop()
			}
		}})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("want the interruption, got %v", err)
		}
		left := statusOf(t, r)[oldData].Records
		if left != 60 {
			t.Fatalf("after two batches of 10 out of 80 records, %d remain on the old key; want 60", left)
		}
		checkCards(t, r, cards)
		// A new process resumes.
		r2 := openRing(t, db, r.KEKs())
		rep, err := r2.Rewrap(ctx, vault.RewrapOptions{BatchSize: 10})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Secrets != 60 {
			t.Fatalf("resumed rewrap moved %d records, want 60", rep.Secrets)
		}
		if n := statusOf(t, r2)[oldData].Records; n != 0 {
			t.Fatalf("%d records left on the old key", n)
		}
		checkCards(t, r2, cards)
	})
}

func TestRewrapDoesNotOverwriteAConcurrentWrite(t *testing.T) {
	ctx := context.Background()
	db := storetest.SQLite(t)
	r := openRing(t, db, vault.NewKEKSet(newKEK(t)))
	cards := issueCards(t, r, 3)
	if _, err := r.Rotate(ctx, vault.KeyPIN); err != nil {
		t.Fatal(err)
	}
	// While rewrap runs its first batch, the cardholder changes a PIN.
	changed := false
	_, err := r.Rewrap(ctx, vault.RewrapOptions{BatchSize: 1, AfterBatch: func(vault.RewrapReport) {
		if !changed {
			changed = true
			if err := r.SetPIN(ctx, cards[2].owner, vault.SecretString("8203")); err != nil {
				t.Error(err)
			}
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	ok, err := r.VerifyPIN(ctx, cards[2].owner, vault.SecretString("8203"))
	if err != nil || !ok {
		t.Fatalf("the concurrent PIN change was lost: %v", err)
	}
}

func TestDataKeyRotatesBeforeItsEncryptionLimit(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		r := openRing(t, db, vault.NewKEKSet(newKEK(t)), func(o *vault.Options) {
			o.UsesPerDataKey = 100
			o.ReserveBlock = 16
		})
		seen := map[uint32]int{}
		var cts [][]byte
		for i := 0; i < 450; i++ {
			ct, err := r.Encrypt(ctx, pan16, cardAAD("p1", fmt.Sprint(i)))
			if err != nil {
				t.Fatal(err)
			}
			id, _ := vault.KeyIDOf(ct)
			seen[id]++
			cts = append(cts, ct)
		}
		for id, n := range seen {
			if n > 100 {
				t.Fatalf("data key %d sealed %d times, limit 100", id, n)
			}
		}
		if len(seen) < 5 {
			t.Fatalf("450 encryptions at 100 per key used only %d keys", len(seen))
		}
		for i, ct := range cts {
			if _, err := r.Decrypt(ctx, ct, cardAAD("p1", fmt.Sprint(i))); err != nil {
				t.Fatalf("record %d: %v", i, err)
			}
		}
		for _, s := range statusOf(t, r) {
			if s.Purpose == vault.KeyData && s.Uses > 100 {
				t.Fatalf("key %d reserved %d uses", s.ID, s.Uses)
			}
		}
	})
}

func TestIssuedPANsAreUniqueAcrossProcesses(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		keks := vault.NewKEKSet(newKEK(t))
		r1 := openRing(t, db, keks)
		r2 := openRing(t, db, keks)
		rng := vault.BINRange{Prefix: "489537", Length: 13} // 10^6 numbers
		var mu sync.Mutex
		pans := map[string]string{}
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			r := r1
			if w%2 == 1 {
				r = r2
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 100; i++ {
					id := fmt.Sprintf("w%d-%d", w, i)
					p, err := r.IssuePAN(ctx, vault.Owner{PartnerID: "p1", Table: "cards", RecordID: id}, rng)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					if prev, dup := pans[string(p.Reveal())]; dup {
						t.Errorf("%s and %s got the same number", prev, id)
					}
					pans[string(p.Reveal())] = id
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(pans) != 400 {
			t.Fatalf("issued %d distinct numbers, want 400", len(pans))
		}
	})
}

func TestBlindIndexRefusesASecondHolder(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		r := openRing(t, db, vault.NewKEKSet(newKEK(t)))
		pan, err := vault.ParsePAN("4895370012345671")
		if err != nil {
			t.Fatal(err)
		}
		id, digest, err := r.BlindIndex(pan)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(digest, pan.Reveal()) || len(digest) != 32 {
			t.Fatal("digest is not an HMAC-SHA-256")
		}
		s := db.Vault()
		e := vault.IndexEntry{KeyID: id, Digest: digest, Ref: vault.Ref{Table: "cards", RecordID: "a", Field: "pan"}, PartnerID: "p1"}
		if err := s.ClaimIndex(ctx, e); err != nil {
			t.Fatal(err)
		}
		if err := s.ClaimIndex(ctx, e); err != nil {
			t.Fatalf("claiming again for the same record: %v", err)
		}
		e.RecordID = "b"
		if err := s.ClaimIndex(ctx, e); !errors.Is(err, vault.ErrIndexTaken) {
			t.Fatalf("want ErrIndexTaken, got %v", err)
		}
		// Another deployment's index key gives another digest.
		other := openRing(t, storetest.SQLite(t), vault.NewKEKSet(newKEK(t)))
		_, d2, _ := other.BlindIndex(pan)
		if bytes.Equal(digest, d2) {
			t.Fatal("blind index does not depend on the key")
		}
	})
}

// A PIN block as a network sends it (format 0 under a zone PIN key) is
// checked against the stored format 4 block inside the vault.
func TestPINBlocksFromTheNetworkAreCheckedAgainstTheStoredPIN(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		r := openRing(t, db, vault.NewKEKSet(newKEK(t)))
		o := vault.Owner{PartnerID: "p1", Table: "cards", RecordID: "c1"}
		if _, err := r.IssuePAN(ctx, o, vault.BINRange{Prefix: "489537", Length: 16}); err != nil {
			t.Fatal(err)
		}
		pan, err := r.LoadPAN(ctx, o) // the terminal's copy, as the card carries it
		if err != nil {
			t.Fatal(err)
		}
		if err := r.SetPIN(ctx, o, vault.SecretString("8203")); err != nil {
			t.Fatal(err)
		}
		zpkBytes, _ := hex.DecodeString("AB9292288227277226252525224665FE")
		zpk, err := vault.NewZonePINKey(zpkBytes)
		if err != nil {
			t.Fatal(err)
		}
		block := func(pin string, p vault.PAN) []byte {
			b, err := vault.EncipherISO0(zpkBytes, vault.SecretString(pin), p)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		if ok, err := r.VerifyPINBlock(ctx, o, zpk, block("8203", pan)); err != nil || !ok {
			t.Fatalf("the right PIN: %v %v", ok, err)
		}
		if ok, err := r.VerifyPINBlock(ctx, o, zpk, block("8204", pan)); err != nil || ok {
			t.Fatalf("a wrong PIN: %v %v", ok, err)
		}
		o2 := vault.Owner{PartnerID: "p1", Table: "cards", RecordID: "c2"}
		if _, err := r.IssuePAN(ctx, o2, vault.BINRange{Prefix: "489537", Length: 16}); err != nil {
			t.Fatal(err)
		}
		other, err := r.LoadPAN(ctx, o2)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := r.VerifyPINBlock(ctx, o, zpk, block("8203", other)); ok || !errors.Is(err, vault.ErrMalformed) {
			t.Fatalf("a block for another card's number: %v %v", ok, err)
		}
		wrongBytes, _ := hex.DecodeString("0123456789ABCDEFFEDCBA9876543210")
		wrongKey, err := vault.NewZonePINKey(wrongBytes)
		if err != nil {
			t.Fatal(err)
		}
		if ok, _ := r.VerifyPINBlock(ctx, o, wrongKey, block("8203", pan)); ok {
			t.Fatal("a block under another zone key matched")
		}
	})
}

func TestPINSetVerifyReveal(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		r := openRing(t, db, vault.NewKEKSet(newKEK(t)))
		o := vault.Owner{PartnerID: "p1", Table: "cards", RecordID: "c1"}
		if _, err := r.IssuePAN(ctx, o, vault.BINRange{Prefix: "489537", Length: 16}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.RevealPIN(ctx, o); !errors.Is(err, vault.ErrNotFound) {
			t.Fatalf("no pin yet: want ErrNotFound, got %v", err)
		}
		if err := r.SetPIN(ctx, o, vault.SecretString("12a4")); !errors.Is(err, vault.ErrInvalidInput) {
			t.Fatalf("want ErrInvalidInput, got %v", err)
		}
		if err := r.SetPIN(ctx, o, vault.SecretString("8203")); err != nil {
			t.Fatal(err)
		}
		for pin, want := range map[string]bool{"8203": true, "8204": false, "82030": false, "": false} {
			ok, err := r.VerifyPIN(ctx, o, vault.SecretString(pin))
			if err != nil || ok != want {
				t.Fatalf("verify %q = %v, %v", pin, ok, err)
			}
		}
		pin, err := r.RevealPIN(ctx, o)
		if err != nil || string(pin.Reveal()) != "8203" {
			t.Fatalf("reveal: %v", err)
		}
		rec, err := db.Vault().GetSecret(ctx, vault.Ref{Table: "cards", RecordID: "c1", Field: "pin_block"})
		if err != nil {
			t.Fatal(err)
		}
		if rec.InnerKeyID != activeID(t, r, vault.KeyPIN) {
			t.Fatal("pin block not bound to the active pin key")
		}
		// The inner key id column is authenticated: editing it breaks the record.
		rec.InnerKeyID = activeID(t, r, vault.KeyCVK)
		if err := db.Vault().PutSecret(ctx, rec); err != nil {
			t.Fatal(err)
		}
		if _, err := r.RevealPIN(ctx, o); !errors.Is(err, vault.ErrDecrypt) {
			t.Fatalf("edited inner key id: want ErrDecrypt, got %v", err)
		}
	})
}

func TestCVVIsDerivedNotStored(t *testing.T) {
	ctx := context.Background()
	db := storetest.SQLite(t)
	r := openRing(t, db, vault.NewKEKSet(newKEK(t)))
	o := vault.Owner{PartnerID: "p1", Table: "cards", RecordID: "c1"}
	if _, err := r.IssuePAN(ctx, o, vault.BINRange{Prefix: "489537", Length: 16}); err != nil {
		t.Fatal(err)
	}
	a, err := r.CVV(ctx, o, vault.Expiry{Year: 2029, Month: 4}, vault.ServiceCodeCVV2)
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.CVV(ctx, o, vault.Expiry{Year: 2029, Month: 4}, vault.ServiceCodeCVV2)
	if err != nil || !bytes.Equal(a.Reveal(), b.Reveal()) || a.Len() != 3 {
		t.Fatalf("cvv not stable: %v", err)
	}
	// Rotating the CVK leaves existing cards on their own CVK.
	if _, err := r.Rotate(ctx, vault.KeyCVK); err != nil {
		t.Fatal(err)
	}
	c, err := r.CVV(ctx, o, vault.Expiry{Year: 2029, Month: 4}, vault.ServiceCodeCVV2)
	if err != nil || !bytes.Equal(a.Reveal(), c.Reveal()) {
		t.Fatalf("cvv changed after a cvk rotation: %v", err)
	}
	fields := 0
	for _, f := range []string{"pan", "pin_block", "cvv", "cvv2"} {
		if _, err := db.Vault().GetSecret(ctx, vault.Ref{Table: "cards", RecordID: "c1", Field: f}); err == nil {
			fields++
			if f != "pan" {
				t.Fatalf("a %s field is stored", f)
			}
		}
	}
	if fields != 1 {
		t.Fatalf("stored fields = %d, want only the pan", fields)
	}
}

func TestConcurrentUseIsClean(t *testing.T) {
	ctx := context.Background()
	db := storetest.SQLite(t)
	r := openRing(t, db, vault.NewKEKSet(newKEK(t)), func(o *vault.Options) { o.UsesPerDataKey, o.ReserveBlock = 64, 8 })
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				aad := cardAAD("p1", fmt.Sprintf("%d-%d", w, i))
				ct, err := r.Encrypt(ctx, pan16, aad)
				if err != nil {
					t.Error(err)
					return
				}
				pt, err := r.Decrypt(ctx, ct, aad)
				if err != nil || !bytes.Equal(pt, pan16) {
					t.Errorf("round trip: %v", err)
					return
				}
				if w == 0 && i%10 == 0 {
					if _, err := r.Status(ctx); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
}

func TestStatusCountsRecordsPerVersion(t *testing.T) {
	r := openRing(t, storetest.SQLite(t), vault.NewKEKSet(newKEK(t)), func(o *vault.Options) {
		o.Now = func() time.Time { return time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC) }
	})
	issueCards(t, r, 5)
	st := statusOf(t, r)
	want := map[vault.KeyPurpose]int64{vault.KeyData: 10, vault.KeyBlindIndex: 5, vault.KeyCVK: 5, vault.KeyPIN: 5}
	for _, s := range st {
		if s.Records != want[s.Purpose] {
			t.Fatalf("%s key %d protects %d records, want %d", s.Purpose, s.ID, s.Records, want[s.Purpose])
		}
		if !s.CreatedAt.Equal(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)) {
			t.Fatalf("created_at %v does not come from the injected clock", s.CreatedAt)
		}
	}
	if len(st) != 4 {
		t.Fatalf("%d keys, want one per purpose", len(st))
	}
}
