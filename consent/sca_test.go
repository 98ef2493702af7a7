package consent_test

import (
	"context"
	"errors"
	"regexp"
	"sync"
	"testing"

	"github.com/vaultpage/vaultpage/audit"
	"github.com/vaultpage/vaultpage/consent"
	"github.com/vaultpage/vaultpage/store/storetest"
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
	c, err = f.svc.Redeem(ctx, tok.Value)
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
			box := &inbox{}
			sca := consent.NewSCA(db.SCA(), f.svc, box, audit.NewLog(db.Audit(), nil), []byte("0123456789abcdef0123456789abcdef"))
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
		})
	}
}

func TestFiveFailuresLockTheCardholderAndFailTheConsent(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			db := b.Open(t)
			f := setup(t, db)
			ctx := context.Background()
			box := &inbox{}
			sca := consent.NewSCA(db.SCA(), f.svc, box, audit.NewLog(db.Audit(), nil), []byte("0123456789abcdef0123456789abcdef"))
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
