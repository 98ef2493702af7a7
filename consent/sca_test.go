package consent_test

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaultpage/vaultpage/audit"
	"github.com/vaultpage/vaultpage/card"
	"github.com/vaultpage/vaultpage/consent"
	"github.com/vaultpage/vaultpage/store"
	"github.com/vaultpage/vaultpage/store/storetest"
	"github.com/vaultpage/vaultpage/vault"
)

// inbox is a notifier that keeps what it sends.
type inbox struct {
	mu   sync.Mutex
	msgs []consent.Message
}

func (i *inbox) Send(_ context.Context, m consent.Message) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.msgs = append(i.msgs, m)
	return nil
}

var sixDigits = regexp.MustCompile(`\b[0-9]{6}\b`)

func (i *inbox) lastCode(t *testing.T) string {
	t.Helper()
	i.mu.Lock()
	defer i.mu.Unlock()
	if len(i.msgs) == 0 {
		t.Fatal("no code was sent")
	}
	code := sixDigits.FindString(i.msgs[len(i.msgs)-1].Body)
	if code == "" {
		t.Fatal("the message holds no six-digit code")
	}
	return code
}

// newSCA is the authenticator under test on db, with an inbox for its codes.
func newSCA(db *store.DB, f *fixture, cfg consent.SCAConfig) (*consent.SCA, *inbox) {
	box := &inbox{}
	return consent.NewSCA(db.SCA(), f.svc, box, audit.NewLog(db.Audit(), nil), cfg), box
}

func startedConsent(t *testing.T, f *fixture) consent.Consent {
	t.Helper()
	ctx := context.Background()
	c, err := f.svc.Require(ctx, f.actor.PartnerID, f.card.ID, f.card.IndividualID, consent.ActionReveal)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := f.svc.IssueToken(ctx, f.actor.PartnerID, c.ID, consent.TokenOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, _, err = f.svc.Redeem(ctx, tok.Value)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestEnrolThenAuthenticateWithCodeAndPasscode(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			db := b.Open(t)
			f := setup(t, db)
			ctx := context.Background()
			sca, box := newSCA(db, f, testSCAConfig)
			c := startedConsent(t, f)
			if enrolled, err := sca.Enrolled(ctx, c.IndividualID); err != nil || enrolled {
				t.Fatalf("enrolled before enrolment: %v %v", enrolled, err)
			}
			if err := sca.SendCode(ctx, c, "ada@example.com", "en"); err != nil {
				t.Fatal(err)
			}
			var fe *consent.FieldError
			if err := sca.Authenticate(ctx, c, box.lastCode(t), "123"); !errors.As(err, &fe) || fe.Field != "passcode" {
				t.Fatalf("short passcode: %v", err)
			}
			if err := sca.Authenticate(ctx, c, box.lastCode(t), "correct horse"); err != nil {
				t.Fatalf("enrol: %v", err)
			}
			// A code works once.
			if err := sca.Authenticate(ctx, c, box.lastCode(t), "correct horse"); !errors.Is(err, consent.ErrSCAFailed) {
				t.Fatalf("reused code: %v", err)
			}
			// Later: the right code with the wrong passcode fails without saying which.
			c2 := startedConsent(t, f)
			_ = sca.SendCode(ctx, c2, "ada@example.com", "en")
			if err := sca.Authenticate(ctx, c2, box.lastCode(t), "wrong horse"); !errors.Is(err, consent.ErrSCAFailed) {
				t.Fatalf("wrong passcode: %v", err)
			}
			_ = sca.SendCode(ctx, c2, "ada@example.com", "en")
			if err := sca.Authenticate(ctx, c2, "000000", "correct horse"); !errors.Is(err, consent.ErrSCAFailed) && box.lastCode(t) != "000000" {
				t.Fatalf("wrong code: %v", err)
			}
			_ = sca.SendCode(ctx, c2, "ada@example.com", "en")
			if err := sca.Authenticate(ctx, c2, box.lastCode(t), "correct horse"); err != nil {
				t.Fatalf("both right: %v", err)
			}
			// The audit trail has the enrolment and both passes, with the
			// method, as it has every failure.
			if n, m := countAudit(t, db, "passcode.enrolled"), countAudit(t, db, "sca.succeeded"); n != 1 || m != 2 {
				t.Fatalf("%d passcode.enrolled and %d sca.succeeded entries, want 1 and 2", n, m)
			}
		})
	}
}

func TestFiveFailuresLockTheCardholderAndFailTheConsent(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			db := b.Open(t)
			f := setup(t, db)
			ctx := context.Background()
			sca, box := newSCA(db, f, testSCAConfig)
			c := startedConsent(t, f)
			_ = sca.SendCode(ctx, c, "ada@example.com", "en")
			_ = sca.Authenticate(ctx, c, box.lastCode(t), "correct horse")
			c = startedConsent(t, f)
			for i := 1; i <= consent.MaxFailures; i++ {
				_ = sca.SendCode(ctx, c, "ada@example.com", "en")
				err := sca.Authenticate(ctx, c, box.lastCode(t), "wrong horse")
				if i < consent.MaxFailures && !errors.Is(err, consent.ErrSCAFailed) {
					t.Fatalf("failure %d: %v", i, err)
				}
				if i == consent.MaxFailures && !errors.Is(err, consent.ErrLocked) {
					t.Fatalf("failure %d: want ErrLocked, got %v", i, err)
				}
			}
			got, err := f.svc.Get(ctx, f.actor.PartnerID, c.ID)
			if err != nil || got.Status != consent.StatusFailed {
				t.Fatalf("consent after five failures: %s %v", got.Status, err)
			}
			entries, err := db.Audit().AuditEntries(ctx, 0, 1000)
			if err != nil {
				t.Fatal(err)
			}
			failed := 0
			for _, e := range entries {
				if e.Action == "sca.failed" {
					failed++
				}
			}
			if failed != consent.MaxFailures {
				t.Fatalf("%d failed attempts in the audit trail, want %d", failed, consent.MaxFailures)
			}
			// Locked even with the right factors, on a new consent.
			c3 := startedConsent(t, f)
			_ = sca.SendCode(ctx, c3, "ada@example.com", "en")
			if err := sca.Authenticate(ctx, c3, box.lastCode(t), "correct horse"); !errors.Is(err, consent.ErrLocked) {
				t.Fatalf("while locked: %v", err)
			}
			// After the lock period, the right factors work and reset the count.
			f.now = f.now.Add(consent.LockFor + 1)
			c4 := startedConsent(t, f)
			_ = sca.SendCode(ctx, c4, "ada@example.com", "en")
			if err := sca.Authenticate(ctx, c4, box.lastCode(t), "correct horse"); err != nil {
				t.Fatalf("after the lock: %v", err)
			}
		})
	}
}

// testSCAConfig lets tests send codes back to back; the send limits have a
// test of their own.
var testSCAConfig = consent.SCAConfig{
	CodeKey: []byte("0123456789abcdef0123456789abcdef"),
	Sends:   consent.SendLimits{PerConsent: 1000, PerCardholder: 1000, Window: time.Hour},
}

// countAudit counts the audit trail's entries of one action.
func countAudit(t *testing.T, db *store.DB, action string) int {
	t.Helper()
	entries, err := db.Audit().AuditEntries(context.Background(), 0, 100_000)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if e.Action == action {
			n++
		}
	}
	return n
}

// parallel runs fn n times at once and counts the outcomes: ErrSCAFailed,
// ErrLocked, and anything else (which fails the test).
func parallel(t *testing.T, n int, fn func(i int) error) (failed, locked int) {
	t.Helper()
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		switch {
		case errors.Is(err, consent.ErrSCAFailed):
			failed++
		case errors.Is(err, consent.ErrLocked):
			locked++
		default:
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	return failed, locked
}

func TestFiftyParallelWrongPasscodesAreCheckedOnlyFiveTimes(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			db := b.Open(t)
			f := setup(t, db)
			ctx := context.Background()
			sca, box := newSCA(db, f, testSCAConfig)
			c := startedConsent(t, f)
			_ = sca.SendCode(ctx, c, "ada@example.com", "en")
			if err := sca.Authenticate(ctx, c, box.lastCode(t), "correct horse"); err != nil {
				t.Fatal(err)
			}
			// Fifty started consents of one cardholder, each with its own
			// right code: only the passcode is wrong, so every attempt that
			// is checked costs an Argon2id run.
			const n = 50
			consents, codes := make([]consent.Consent, n), make([]string, n)
			for i := range n {
				consents[i] = startedConsent(t, f)
				if err := sca.SendCode(ctx, consents[i], "ada@example.com", "en"); err != nil {
					t.Fatal(err)
				}
				codes[i] = box.lastCode(t)
			}
			failed, locked := parallel(t, n, func(i int) error { return sca.Authenticate(ctx, consents[i], codes[i], "wrong horse") })
			if checked := countAudit(t, db, "sca.failed"); checked != consent.MaxFailures {
				t.Fatalf("%d of %d parallel wrong attempts were checked, want %d", checked, n, consent.MaxFailures)
			}
			if failed != consent.MaxFailures-1 || locked != n-failed {
				t.Fatalf("answers: %d failed, %d locked", failed, locked)
			}
			// The right factors on a fresh consent are refused: the lock holds.
			last := startedConsent(t, f)
			_ = sca.SendCode(ctx, last, "ada@example.com", "en")
			if err := sca.Authenticate(ctx, last, box.lastCode(t), "correct horse"); !errors.Is(err, consent.ErrLocked) {
				t.Fatalf("the right passcode after the lock: %v", err)
			}
		})
	}
}

func TestCodesAreLimitedPerConsentAndPerCardholder(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			db := b.Open(t)
			f := setup(t, db)
			ctx := context.Background()
			box := &inbox{}
			l := consent.DefaultSendLimits
			sca := consent.NewSCA(db.SCA(), f.svc, box, audit.NewLog(db.Audit(), nil), consent.SCAConfig{CodeKey: testSCAConfig.CodeKey})
			c := startedConsent(t, f)
			if err := sca.SendCode(ctx, c, "ada@example.com", "en"); err != nil {
				t.Fatal(err)
			}
			var le *consent.SendLimitError
			if err := sca.SendCode(ctx, c, "ada@example.com", "en"); !errors.As(err, &le) || le.RetryAfter != l.Cooldown {
				t.Fatalf("a second code while the first is unused: %v", err)
			}
			f.now = f.now.Add(l.Cooldown)
			if err := sca.SendCode(ctx, c, "ada@example.com", "en"); err != nil {
				t.Fatalf("a second code after the cooldown: %v", err)
			}
			// A code used up (one try each) may be followed by another at once.
			if err := sca.Authenticate(ctx, c, "000000", "plum tree 1987"); !errors.Is(err, consent.ErrSCAFailed) && box.lastCode(t) != "000000" {
				t.Fatalf("a wrong code: %v", err)
			}
			for i := 3; i <= l.PerConsent; i++ {
				if err := sca.SendCode(ctx, c, "ada@example.com", "en"); err != nil {
					t.Fatalf("code %d after the last was used: %v", i, err)
				}
				_ = sca.Authenticate(ctx, c, "000000", "plum tree 1987")
			}
			if err := sca.SendCode(ctx, c, "ada@example.com", "en"); !errors.As(err, &le) {
				t.Fatalf("code %d for one consent: %v", l.PerConsent+1, err)
			}
			// Fifty at once on fresh consents: the cardholder's quota holds
			// under concurrency, across consents.
			const n = 50
			consents := make([]consent.Consent, n)
			for i := range n {
				consents[i] = startedConsent(t, f)
			}
			sent := len(box.msgs)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() { defer wg.Done(); _ = sca.SendCode(ctx, consents[i], "ada@example.com", "en") }()
			}
			wg.Wait()
			if got := len(box.msgs); got != l.PerCardholder {
				t.Fatalf("%d codes sent to one cardholder in the window (%d in the burst), want %d", got, got-sent, l.PerCardholder)
			}
			if err := sca.SendCode(ctx, startedConsent(t, f), "ada@example.com", "en"); !errors.As(err, &le) || le.RetryAfter <= 0 || le.RetryAfter > l.Window {
				t.Fatalf("past the cardholder's quota: %v", err)
			}
			// A new window gives new codes.
			f.now = f.now.Add(l.Window)
			if err := sca.SendCode(ctx, startedConsent(t, f), "ada@example.com", "en"); err != nil {
				t.Fatalf("after the window: %v", err)
			}
		})
	}
}

func TestAWrongCodeCostsNoArgon2idAndHashingIsBounded(t *testing.T) {
	db := storetest.SQLite(t)
	f := setup(t, db)
	ctx := context.Background()
	box := &inbox{}
	cfg := testSCAConfig
	cfg.Hashes = 1
	sca := consent.NewSCA(db.SCA(), f.svc, box, audit.NewLog(db.Audit(), nil), cfg)
	c := startedConsent(t, f)
	_ = sca.SendCode(ctx, c, "ada@example.com", "en")
	if err := sca.Authenticate(ctx, c, box.lastCode(t), "correct horse"); err != nil {
		t.Fatal(err)
	}
	release := consent.HoldHashes(sca)
	defer func() { release() }()
	// Every Argon2id slot is taken: a wrong code is answered without one.
	c = startedConsent(t, f)
	_ = sca.SendCode(ctx, c, "ada@example.com", "en")
	if err := sca.Authenticate(ctx, c, "000000", "correct horse"); !errors.Is(err, consent.ErrSCAFailed) && box.lastCode(t) != "000000" {
		t.Fatalf("a wrong code while hashing is busy: %v", err)
	}
	// The right code needs the passcode checked, and waits for a slot.
	_ = sca.SendCode(ctx, c, "ada@example.com", "en")
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := sca.Authenticate(short, c, box.lastCode(t), "correct horse"); !errors.Is(err, consent.ErrBusy) {
		t.Fatalf("the right code while every slot is held: %v", err)
	}
	release()
	release = func() {}
	_ = sca.SendCode(ctx, c, "ada@example.com", "en")
	if err := sca.Authenticate(ctx, c, box.lastCode(t), "correct horse"); err != nil {
		t.Fatalf("once a slot is free: %v", err)
	}
}

func TestPasscodesThatAreEasyToGuessAreRefusedAtEnrolment(t *testing.T) {
	db := storetest.SQLite(t)
	f := setup(t, db)
	ctx := context.Background()
	sca, box := newSCA(db, f, testSCAConfig)
	pan, err := f.ring.LoadPAN(ctx, vault.Owner{PartnerID: f.card.PartnerID.String(), Table: "cards", RecordID: f.card.ID.String()})
	if err != nil {
		t.Fatal(err)
	}
	digits := string(pan.Reveal())
	testCases := []struct {
		name     string
		passcode string
		weak     bool
	}{
		{"six digits in a run", "123456", true},
		{"a descending run", "987654", true},
		{"letters in a run", "abcdefg", true},
		{"one digit repeated", "000000", true},
		{"a pair repeated", "121212", true},
		{"a triple repeated", "abcabcabc", true},
		{"a common password", "Password", true},
		{"the card's last six digits", digits[len(digits)-6:], true},
		{"the card's BIN", digits[:6], true},
		{"a control character", "correct\x00horse", false},
		{"too short", "a1b2c", false},
	}
	c := startedConsent(t, f)
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			_ = sca.SendCode(ctx, c, "ada@example.com", "en")
			err := sca.Authenticate(ctx, c, box.lastCode(t), tc.passcode)
			var fe *consent.FieldError
			if !errors.As(err, &fe) || fe.Field != "passcode" || errors.Is(err, consent.ErrWeakPasscode) != tc.weak {
				t.Fatalf("%q: %v", tc.passcode, err)
			}
			if strings.Contains(fe.Reason, tc.passcode) {
				t.Fatalf("the reason repeats the passcode: %q", fe.Reason)
			}
		})
	}
	// None of them counted as a failed attempt, and a good one enrols.
	if n := countAudit(t, db, "sca.failed"); n != 0 {
		t.Fatalf("%d failures counted for refused passcodes", n)
	}
	_ = sca.SendCode(ctx, c, "ada@example.com", "en")
	if err := sca.Authenticate(ctx, c, box.lastCode(t), "plum tree 1987"); err != nil {
		t.Fatalf("a good passcode: %v", err)
	}
}

func TestWithoutTheCodeThePasscodeRulesTellNothingOfTheCard(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			db := b.Open(t)
			f := setup(t, db)
			ctx := context.Background()
			sca := consent.NewSCA(db.SCA(), f.svc, &inbox{}, audit.NewLog(db.Audit(), nil), testSCAConfig)
			pan, err := f.ring.LoadPAN(ctx, vault.Owner{PartnerID: f.card.PartnerID.String(), Table: "cards", RecordID: f.card.ID.String()})
			if err != nil {
				t.Fatal(err)
			}
			digits := string(pan.Reveal())
			// The card's own digits and digits that are not its, with no code
			// (a cardholder who never enrolled): the same answer, and nothing
			// checked, so nothing counted either (no code was sent).
			for i, probe := range []string{digits[6:12], "907431", digits[:7], "5550123"} {
				c := startedConsent(t, f)
				if err := sca.Authenticate(ctx, c, "", probe); !errors.Is(err, consent.ErrSCAFailed) {
					t.Fatalf("probe %d: %v", i, err)
				}
			}
			if n := countAudit(t, db, "sca.failed"); n != 0 {
				t.Fatalf("%d of 4 probes without a code counted", n)
			}
		})
	}
}

func TestParallelCodeRequestsSendOneAndDestinationsHaveAQuotaOfTheirOwn(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			db := b.Open(t)
			f := setup(t, db)
			ctx := context.Background()
			sca, box := newSCA(db, f, consent.SCAConfig{CodeKey: testSCAConfig.CodeKey})
			// Ten requests for a code at once on one consent: one code.
			c := startedConsent(t, f)
			var wg sync.WaitGroup
			for range 10 {
				wg.Add(1)
				go func() { defer wg.Done(); _ = sca.SendCode(ctx, c, "ada@example.com", "en") }()
			}
			wg.Wait()
			if n := len(box.msgs); n != 1 {
				t.Fatalf("%d codes sent for ten requests at once", n)
			}
			// Other cardholders with the same phone: its quota is shared.
			l := consent.DefaultSendLimits
			for i := range l.PerCardholder + 2 {
				ind, err := f.cards.CreateIndividual(ctx, f.actor, card.IndividualInput{FirstName: "P", LastName: strconv.Itoa(i), Phone: "+46701234567"})
				if err != nil {
					t.Fatal(err)
				}
				acc, _ := f.cards.CreateAccount(ctx, f.actor, ind.ID, "EUR")
				cd, err := f.cards.CreateCard(ctx, f.actor, card.Input{IndividualID: ind.ID, AccountID: acc.ID})
				if err != nil {
					t.Fatal(err)
				}
				cs, _ := f.svc.Require(ctx, f.actor.PartnerID, cd.ID, ind.ID, consent.ActionReveal)
				tok, _ := f.svc.IssueToken(ctx, f.actor.PartnerID, cs.ID, consent.TokenOptions{}, nil)
				cs, _, _ = f.svc.Redeem(ctx, tok.Value)
				err = sca.SendCode(ctx, cs, "+46701234567", "en")
				var le *consent.SendLimitError
				if i < l.PerCardholder && err != nil || i >= l.PerCardholder && !errors.As(err, &le) {
					t.Fatalf("cardholder %d with a shared phone: %v", i+1, err)
				}
			}
		})
	}
}

func TestALockedCardholderGetsNoCode(t *testing.T) {
	db := storetest.SQLite(t)
	f := setup(t, db)
	ctx := context.Background()
	sca, box := newSCA(db, f, testSCAConfig)
	for range consent.MaxFailures {
		c := startedConsent(t, f)
		if err := sca.SendCode(ctx, c, "ada@example.com", "en"); err != nil {
			t.Fatal(err)
		}
		wrong := "000000"
		if box.lastCode(t) == wrong {
			wrong = "000001"
		}
		_ = sca.Authenticate(ctx, c, wrong, "plum tree 1987")
	}
	sent := len(box.msgs)
	if err := sca.SendCode(ctx, startedConsent(t, f), "ada@example.com", "en"); !errors.Is(err, consent.ErrLocked) || len(box.msgs) != sent {
		t.Fatalf("a code for a locked cardholder: %v, %d sent", err, len(box.msgs)-sent)
	}
}

// One code is one try, however many attempts use it at once: of five
// parallel wrong attempts with one code sent, one is counted, and the
// cardholder is not locked.
func TestOneCodeCountsOneAttempt(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			db := b.Open(t)
			f := setup(t, db)
			ctx := context.Background()
			sca, box := newSCA(db, f, testSCAConfig)
			c := startedConsent(t, f)
			_ = sca.SendCode(ctx, c, "ada@example.com", "en")
			if err := sca.Authenticate(ctx, c, box.lastCode(t), "correct horse"); err != nil {
				t.Fatal(err)
			}
			next := startedConsent(t, f)
			if err := sca.SendCode(ctx, next, "ada@example.com", "en"); err != nil {
				t.Fatal(err)
			}
			wrong := "000000"
			if box.lastCode(t) == wrong {
				wrong = "000001"
			}
			_, locked := parallel(t, consent.MaxFailures, func(int) error { return sca.Authenticate(ctx, next, wrong, "wrong horse") })
			if counted := countAudit(t, db, "sca.failed"); counted != 1 || locked != 0 {
				t.Fatalf("%d counted, %d locked, want 1 and 0", counted, locked)
			}
		})
	}
}
