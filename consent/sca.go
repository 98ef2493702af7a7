package consent

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"
	"golang.org/x/crypto/argon2"

	"github.com/vaultpage/vaultpage/audit"
)

// Strong customer authentication with a one-time code and a passcode: the
// code proves possession of the registered phone or email, the passcode is
// knowledge. Failures never say which factor was wrong.

// SCA limits.
const (
	// MaxFailures consecutive failures lock the cardholder and fail the consent.
	MaxFailures = 5
	// LockFor is how long a locked cardholder stays locked.
	LockFor = 15 * time.Minute
	// CodeTTL is how long a one-time code is valid.
	CodeTTL = 5 * time.Minute
	// MinPasscode is the shortest passcode a cardholder may choose.
	MinPasscode = 6
	// MaxPasscode is the longest passcode accepted.
	MaxPasscode = 64
)

// SCA errors.
var (
	// ErrSCAFailed: the code or the passcode was wrong (which, is not said).
	ErrSCAFailed = errors.New("consent: authentication failed")
	// ErrLocked: too many failures; the cardholder must wait.
	ErrLocked = errors.New("consent: too many failed attempts")
)

// Passcode is a cardholder's stored passcode state.
type Passcode struct {
	Hash        string // PHC-formatted Argon2id, "" when not enrolled
	Failures    int
	LockedUntil time.Time
}

// Message is a one-time code on its way to the cardholder.
type Message struct {
	To      string // email address or E.164 phone number
	Subject string
	Body    string
}

// Notifier delivers one-time codes (a development outbox, SMTP, an SMS
// provider hook).
type Notifier interface {
	Send(ctx context.Context, m Message) error
}

// SCAStore persists passcodes, failure counts and one-time codes.
type SCAStore interface {
	Passcode(ctx context.Context, individualID uuid.UUID) (Passcode, error)
	SetPasscode(ctx context.Context, individualID uuid.UUID, hash string) error
	// RecordFailure adds one failure and, at max, locks until lockUntil; it
	// returns the new count. One statement decides.
	RecordFailure(ctx context.Context, individualID uuid.UUID, max int, lockUntil time.Time) (int, error)
	ResetFailures(ctx context.Context, individualID uuid.UUID) error
	PutCode(ctx context.Context, consentID uuid.UUID, mac []byte, expiresAt time.Time) error
	// TakeCode returns and deletes the consent's code (one try per code).
	TakeCode(ctx context.Context, consentID uuid.UUID, now time.Time) ([]byte, error)
}

// Auditor records audit entries.
type Auditor interface {
	Append(ctx context.Context, e audit.Entry) error
}

// SCA authenticates cardholders.
type SCA struct {
	store    SCAStore
	consents *Service
	notify   Notifier
	audit    Auditor
	codeKey  []byte // HMAC key for one-time codes at rest
	now      func() time.Time

	webauthn *webauthn.WebAuthn // nil until UsePasskeys
	passkeys PasskeyStore
}

// NewSCA builds the authenticator. codeKey keys the MAC under which one-time
// codes are stored, so that a copy of the database alone does not give them.
// Every failed attempt goes to the audit trail.
func NewSCA(s SCAStore, consents *Service, n Notifier, a Auditor, codeKey []byte) *SCA {
	return &SCA{store: s, consents: consents, notify: n, audit: a, codeKey: codeKey, now: consents.now}
}

func (a *SCA) codeMAC(consentID uuid.UUID, code string) []byte {
	m := hmac.New(sha256.New, a.codeKey)
	m.Write(consentID[:])
	m.Write([]byte(code))
	return m.Sum(nil)
}

// SendCode sends a fresh six-digit code for the consent to the cardholder's
// registered contact, replacing any earlier code.
func (a *SCA) SendCode(ctx context.Context, c Consent, to, locale string) error {
	if c.Status != StatusStarted {
		return &StateError{From: c.Status, To: StatusStarted}
	}
	if to == "" {
		return errors.New("consent: the cardholder has no registered email or phone")
	}
	code, err := sixDigits()
	if err != nil {
		return err
	}
	if err := a.store.PutCode(ctx, c.ID, a.codeMAC(c.ID, code), a.now().Add(CodeTTL)); err != nil {
		return err
	}
	subject, body := "Your vaultpage code", "Your code is "+code+". It is valid for 5 minutes. Never share it."
	if locale == "sv" {
		subject, body = "Din kod från vaultpage", "Din kod är "+code+". Den gäller i 5 minuter. Dela den aldrig."
	}
	return a.notify.Send(ctx, Message{To: to, Subject: subject, Body: body})
}

// sixDigits draws a uniform code from crypto/rand.
func sixDigits() (string, error) {
	var b [4]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return "", err
		}
		n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		if n < 4_294_000_000 { // a multiple of 10^6, for uniformity
			return fmt.Sprintf("%06d", n%1_000_000), nil
		}
	}
}

// Enrolled reports whether the cardholder has a passcode.
func (a *SCA) Enrolled(ctx context.Context, individualID uuid.UUID) (bool, error) {
	p, err := a.store.Passcode(ctx, individualID)
	return p.Hash != "", err
}

// Authenticate checks the one-time code and the passcode for the consent.
// When the cardholder has no passcode yet, newPasscode sets it (after the
// code checks out). Each failure counts; at MaxFailures the cardholder is
// locked for LockFor and the consent fails. Errors: ErrSCAFailed (never
// saying which factor), ErrLocked, *FieldError for a passcode too short.
func (a *SCA) Authenticate(ctx context.Context, c Consent, code, passcode string) error {
	now := a.now()
	p, err := a.store.Passcode(ctx, c.IndividualID)
	if err != nil {
		return err
	}
	if now.Before(p.LockedUntil) {
		return ErrLocked
	}
	enrolling := p.Hash == ""
	if enrolling && (len(passcode) < MinPasscode || len(passcode) > MaxPasscode) {
		return &FieldError{Field: "passcode", Reason: fmt.Sprintf("must be %d to %d characters", MinPasscode, MaxPasscode)}
	}
	stored, err := a.store.TakeCode(ctx, c.ID, now)
	if err != nil && !errors.Is(err, ErrSCAFailed) {
		return err
	}
	codeOK := err == nil && hmac.Equal(stored, a.codeMAC(c.ID, strings.TrimSpace(code)))
	passOK := enrolling || verifyPasscode(p.Hash, passcode)
	if codeOK && passOK {
		if enrolling {
			h, err := hashPasscode(passcode)
			if err != nil {
				return err
			}
			if err := a.store.SetPasscode(ctx, c.IndividualID, h); err != nil {
				return err
			}
		}
		return a.store.ResetFailures(ctx, c.IndividualID)
	}
	return a.fail(ctx, c, "code_passcode")
}

// fail counts a failed attempt, audits it (method says which ceremony, not
// which factor), and at MaxFailures locks the cardholder and fails the
// consent. It returns ErrSCAFailed or ErrLocked.
func (a *SCA) fail(ctx context.Context, c Consent, method string) error {
	n, err := a.store.RecordFailure(ctx, c.IndividualID, MaxFailures, a.now().Add(LockFor))
	if err != nil {
		return err
	}
	if err := a.audit.Append(ctx, audit.Entry{Actor: "cardholder:" + c.IndividualID.String(), Action: "sca.failed",
		Target: "consent:" + c.ID.String(), Result: "failed", Details: map[string]string{"failures": strconv.Itoa(n), "action": string(c.Action), "method": method}}); err != nil {
		return err
	}
	if n >= MaxFailures {
		if _, err := a.consents.change(ctx, c.PartnerID, c.ID, func(_ context.Context, c *Consent) error { return c.Fail() }); err != nil {
			return err
		}
		return ErrLocked
	}
	return ErrSCAFailed
}

// Argon2id parameters (OWASP: 19 MiB, two passes, one lane).
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
)

func hashPasscode(p string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	h := argon2.IDKey([]byte(p), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(h)), nil
}

func verifyPasscode(phc, p string) bool {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var m, t uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &threads); err != nil {
		return false
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil {
		return false
	}
	got := argon2.IDKey([]byte(p), salt, t, m, threads, uint32(len(want))) //nolint:gosec // len of a 32-byte hash.
	return subtle.ConstantTimeCompare(got, want) == 1
}
