package consent_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/descope/virtualwebauthn"

	"github.com/vaultpage/vaultpage/audit"
	"github.com/vaultpage/vaultpage/consent"
	"github.com/vaultpage/vaultpage/internal/testkit"
	"github.com/vaultpage/vaultpage/store"
	"github.com/vaultpage/vaultpage/store/storetest"
)

var relyingParty = consent.PasskeyConfig{RPID: "cards.example", RPName: "vaultpage", Origins: []string{"https://cards.example"}}

func newPhone() *testkit.Phone { return testkit.NewPhone("cards.example", "https://cards.example") }

type passkeyFixture struct {
	*fixture
	db  *store.DB
	sca *consent.SCA
}

func eachPasskeyBackend(t *testing.T, fn func(t *testing.T, f passkeyFixture)) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			db := b.Open(t)
			f := setup(t, db)
			sca := consent.NewSCA(db.SCA(), f.svc, &inbox{}, audit.NewLog(db.Audit(), nil), testSCAConfig)
			if err := sca.UsePasskeys(db.SCA(), relyingParty); err != nil {
				t.Fatal(err)
			}
			fn(t, passkeyFixture{fixture: f, db: db, sca: sca})
		})
	}
}

// enrol registers the phone's passkey for the fixture's cardholder.
func (f passkeyFixture) enrol(t *testing.T, p *testkit.Phone) {
	t.Helper()
	ctx := context.Background()
	c := startedConsent(t, f.fixture)
	opts, err := f.sca.BeginPasskeyRegistration(ctx, c, consent.Cardholder{Name: "a@b.co", DisplayName: "A B"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.sca.FinishPasskeyRegistration(ctx, c, strings.NewReader(p.Register(t, opts))); err != nil {
		t.Fatalf("registration: %v", err)
	}
}

func TestPasskeyRegistrationAsksForADiscoverableCredentialWithUserVerification(t *testing.T) {
	eachPasskeyBackend(t, func(t *testing.T, f passkeyFixture) {
		ctx := context.Background()
		c := startedConsent(t, f.fixture)
		if has, err := f.sca.HasPasskey(ctx, c.IndividualID); err != nil || has {
			t.Fatalf("passkey before registration: %v %v", has, err)
		}
		if _, err := f.sca.BeginPasskeyLogin(ctx, c); !errors.Is(err, consent.ErrNoPasskey) {
			t.Fatalf("login without a passkey: %v", err)
		}
		raw, err := f.sca.BeginPasskeyRegistration(ctx, c, consent.Cardholder{Name: "a@b.co", DisplayName: "A B"})
		if err != nil {
			t.Fatal(err)
		}
		var opts struct {
			PublicKey struct {
				RP                     struct{ ID string }
				User                   struct{ ID, Name string }
				AuthenticatorSelection struct{ ResidentKey, UserVerification string }
			}
		}
		if err := json.Unmarshal(raw, &opts); err != nil {
			t.Fatal(err)
		}
		sel := opts.PublicKey.AuthenticatorSelection
		if opts.PublicKey.RP.ID != "cards.example" || sel.ResidentKey != "required" || sel.UserVerification != "required" {
			t.Fatalf("creation options: %s", raw)
		}
		if strings.Contains(string(raw), c.IndividualID.String()) {
			t.Fatal("the user handle reveals the individual's id")
		}
		p := newPhone()
		resp := p.Register(t, raw)
		if err := f.sca.FinishPasskeyRegistration(ctx, c, strings.NewReader(resp)); err != nil {
			t.Fatalf("registration: %v", err)
		}
		// The ceremony state is gone: the same response cannot register twice.
		if err := f.sca.FinishPasskeyRegistration(ctx, c, strings.NewReader(resp)); !errors.Is(err, consent.ErrSCAFailed) {
			t.Fatalf("second finish: %v", err)
		}
		handle, keys, err := f.db.SCA().PasskeyUser(ctx, c.IndividualID)
		if err != nil || len(keys) != 1 {
			t.Fatalf("stored passkeys: %d %v", len(keys), err)
		}
		k := keys[0]
		if len(handle) != 32 || string(handle) != string(p.Auth.Options.UserHandle) || !k.BackupEligible || !k.BackupState || !k.UserVerified || len(k.PublicKey) == 0 {
			t.Fatalf("stored passkey: handle %d bytes, %+v", len(handle), k)
		}
		// A second registration excludes the first passkey.
		raw, err = f.sca.BeginPasskeyRegistration(ctx, c, consent.Cardholder{Name: "a@b.co", DisplayName: "A B"})
		if err != nil {
			t.Fatal(err)
		}
		again, _ := virtualwebauthn.ParseAttestationOptions(string(raw))
		if len(again.ExcludeCredentials) != 1 || !p.Cred.IsExcludedForAttestation(*again) {
			t.Fatalf("exclusions: %v", again.ExcludeCredentials)
		}
		entries, err := f.db.Audit().AuditEntries(ctx, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		registered := 0
		for _, e := range entries {
			if e.Action == "passkey.registered" {
				registered++
			}
		}
		if registered != 1 {
			t.Fatalf("%d passkey.registered audit entries, want 1", registered)
		}
	})
}

func TestPasskeyLoginChecksSignatureCounterAndUserVerification(t *testing.T) {
	eachPasskeyBackend(t, func(t *testing.T, f passkeyFixture) {
		ctx := context.Background()
		p := newPhone()
		f.enrol(t, p)

		c := startedConsent(t, f.fixture)
		opts, err := f.sca.BeginPasskeyLogin(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		var o struct {
			PublicKey struct {
				UserVerification string
				AllowCredentials []struct{ ID string }
			}
		}
		if err := json.Unmarshal(opts, &o); err != nil || o.PublicKey.UserVerification != "required" || len(o.PublicKey.AllowCredentials) != 1 {
			t.Fatalf("request options: %s %v", opts, err)
		}
		good := p.Sign(t, opts)
		if err := f.sca.FinishPasskeyLogin(ctx, c, strings.NewReader(good)); err != nil {
			t.Fatalf("login: %v", err)
		}
		_, keys, _ := f.db.SCA().PasskeyUser(ctx, c.IndividualID)
		if keys[0].SignCount != 1 || keys[0].LastUsedAt.IsZero() {
			t.Fatalf("after login: sign count %d, last used %v", keys[0].SignCount, keys[0].LastUsedAt)
		}
		if n := countAudit(t, f.db, "sca.succeeded"); n != 1 {
			t.Fatalf("%d sca.succeeded entries after a passkey login, want 1", n)
		}

		testCases := []struct {
			name   string
			answer func(opts []byte) string
		}{
			{"the same response again", func([]byte) string { return good }},
			{"a counter that did not move (a cloned key)", func(opts []byte) string { p.Cred.Counter--; return p.Sign(t, opts) }},
			{"no user verification", func(opts []byte) string {
				p.Auth.Options.UserNotVerified = true
				defer func() { p.Auth.Options.UserNotVerified = false }()
				return p.Sign(t, opts)
			}},
			{"another origin", func(opts []byte) string {
				p.RP.Origin = "https://cards.example.evil"
				defer func() { p.RP.Origin = "https://cards.example" }()
				return p.Sign(t, opts)
			}},
			{"another key", func(opts []byte) string {
				other := newPhone()
				other.Cred.ID = p.Cred.ID
				return other.Sign(t, opts)
			}},
			{"not JSON", func([]byte) string { return "{" }},
		}
		failures := 0
		attempt := func(name string, answer func(opts []byte) string) error {
			c := startedConsent(t, f.fixture)
			opts, err := f.sca.BeginPasskeyLogin(ctx, c)
			if err != nil {
				t.Fatalf("%s: begin: %v", name, err)
			}
			return f.sca.FinishPasskeyLogin(ctx, c, strings.NewReader(answer(opts)))
		}
		for i, tc := range testCases {
			if i == 3 { // a good login in between resets the count
				if err := attempt("good", func(opts []byte) string { return p.Sign(t, opts) }); err != nil {
					t.Fatalf("good login between failures: %v", err)
				}
				failures = 0
			}
			failures++
			if err := attempt(tc.name, tc.answer); !errors.Is(err, consent.ErrSCAFailed) {
				t.Fatalf("%s: got %v, want ErrSCAFailed", tc.name, err)
			}
		}
		// Failures with passkeys count towards the same lock as passcodes.
		for ; failures < consent.MaxFailures; failures++ {
			want := consent.ErrSCAFailed
			if failures+1 == consent.MaxFailures {
				want = consent.ErrLocked
			}
			if err := attempt("no user verification", testCases[2].answer); !errors.Is(err, want) {
				t.Fatalf("failure %d: got %v, want %v", failures+1, err, want)
			}
		}
		// Five failures in a row locked the cardholder.
		c = startedConsent(t, f.fixture)
		if _, err := f.sca.BeginPasskeyLogin(ctx, c); !errors.Is(err, consent.ErrLocked) {
			t.Fatalf("begin while locked: %v", err)
		}
		entries, err := f.db.Audit().AuditEntries(ctx, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		failed := 0
		for _, e := range entries {
			if e.Action == "sca.failed" && strings.HasPrefix(e.Details["method"], "passkey") {
				failed++
			}
		}
		if want := len(testCases) + 2; failed != want {
			t.Fatalf("%d failed passkey attempts audited, want %d", failed, want)
		}
		// After the lock, the phone works again and the counter carries on.
		f.now = f.now.Add(consent.LockFor + 1)
		c = startedConsent(t, f.fixture)
		opts, err = f.sca.BeginPasskeyLogin(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.sca.FinishPasskeyLogin(ctx, c, strings.NewReader(p.Sign(t, opts))); err != nil {
			t.Fatalf("after the lock: %v", err)
		}
	})
}

func TestPasskeyCeremonyStateIsBoundToItsConsent(t *testing.T) {
	eachPasskeyBackend(t, func(t *testing.T, f passkeyFixture) {
		ctx := context.Background()
		p := newPhone()
		f.enrol(t, p)
		c1, c2 := startedConsent(t, f.fixture), startedConsent(t, f.fixture)
		opts, err := f.sca.BeginPasskeyLogin(ctx, c1)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.sca.BeginPasskeyLogin(ctx, c2); err != nil {
			t.Fatal(err)
		}
		// c1's signed challenge is no good for c2.
		if err := f.sca.FinishPasskeyLogin(ctx, c2, strings.NewReader(p.Sign(t, opts))); !errors.Is(err, consent.ErrSCAFailed) {
			t.Fatalf("c1's response on c2: %v", err)
		}
		// An expired ceremony is refused.
		f.now = f.now.Add(6 * 60e9)
		c3 := startedConsent(t, f.fixture)
		opts, err = f.sca.BeginPasskeyLogin(ctx, c3)
		if err != nil {
			t.Fatal(err)
		}
		f.now = f.now.Add(5*60e9 + 1)
		if err := f.sca.FinishPasskeyLogin(ctx, c3, strings.NewReader(p.Sign(t, opts))); !errors.Is(err, consent.ErrSCAFailed) {
			t.Fatalf("after the ceremony expired: %v", err)
		}
	})
}

func TestPasskeysRefuseAnIPAddressAsRelyingParty(t *testing.T) {
	sca := consent.NewSCA(nil, consent.NewService(nil, nil, nil, consent.Config{}, nil), nil, nil, consent.SCAConfig{})
	if err := sca.UsePasskeys(nil, consent.PasskeyConfig{RPID: "127.0.0.1", RPName: "vaultpage", Origins: []string{"http://127.0.0.1:8080"}}); err == nil {
		t.Fatal("an IP address was accepted as RP ID")
	}
	if sca.PasskeysEnabled() {
		t.Fatal("passkeys enabled after a refused configuration")
	}
}

func TestFiftyParallelBadPasskeyAssertionsAreCheckedOnlyFiveTimes(t *testing.T) {
	eachPasskeyBackend(t, func(t *testing.T, f passkeyFixture) {
		ctx := context.Background()
		f.enrol(t, newPhone())
		const n = 50
		consents := make([]consent.Consent, n)
		for i := range n {
			consents[i] = startedConsent(t, f.fixture)
			if _, err := f.sca.BeginPasskeyLogin(ctx, consents[i]); err != nil {
				t.Fatal(err)
			}
		}
		failed, locked := parallel(t, n, func(i int) error {
			return f.sca.FinishPasskeyLogin(ctx, consents[i], strings.NewReader(`{"id":"forged","type":"public-key"}`))
		})
		if checked := countAudit(t, f.db, "sca.failed"); checked != consent.MaxFailures {
			t.Fatalf("%d of %d parallel assertions were checked, want %d", checked, n, consent.MaxFailures)
		}
		if failed != consent.MaxFailures-1 || locked != n-failed {
			t.Fatalf("answers: %d failed, %d locked", failed, locked)
		}
	})
}
