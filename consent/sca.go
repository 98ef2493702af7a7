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
	"runtime"
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

// SendLimitError says no code is sent now; RetryAfter says when one may be.
type SendLimitError struct {
	RetryAfter time.Duration
}

func (e *SendLimitError) Error() string {
	return "consent: one-time code limit reached; retry after " + e.RetryAfter.Round(time.Second).String()
}

// SCA errors.
var (
	// ErrSCAFailed: the code or the passcode was wrong (which, is not said).
	ErrSCAFailed = errors.New("consent: authentication failed")
	// ErrLocked: too many failures; the cardholder must wait.
	ErrLocked = errors.New("consent: too many failed attempts")
	// ErrNotEnrolled: the cardholder has no passcode yet, and a payment is
	// not authenticated by a code alone (with a passcode chosen then): the
	// passkey, or a passcode enrolled with another consent, is needed.
	ErrNotEnrolled = errors.New("consent: the cardholder has no passcode yet")
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
	// EnrolPasscode sets the cardholder's first passcode; it reports false,
	// and changes nothing, when a passcode is set already.
	EnrolPasscode(ctx context.Context, individualID uuid.UUID, hash string) (bool, error)
	// ReserveAttempt counts an attempt before it is checked and returns the
	// count, this attempt included. One statement decides: it refuses with
	// ErrLocked while the cardholder is locked, and the attempt that brings
	// the count to max locks until lockUntil at once, so that no other
	// attempt is checked while it is; a lock found expired starts the count
	// again. Of any number of concurrent attempts at most max are counted.
	ReserveAttempt(ctx context.Context, individualID uuid.UUID, max int, now, lockUntil time.Time) (int, error)
	// ResetFailures clears the count and the lock (after a success).
	ResetFailures(ctx context.Context, individualID uuid.UUID) error
	// ReservePaymentAttempt, ResetPaymentFailures and PaymentLock are
	// ReserveAttempt, ResetFailures and the lock of Passcode for online
	// payments' challenges, which are counted apart (see SCA.attempts).
	ReservePaymentAttempt(ctx context.Context, individualID uuid.UUID, max int, now, lockUntil time.Time) (int, error)
	ResetPaymentFailures(ctx context.Context, individualID uuid.UUID) error
	PaymentLock(ctx context.Context, individualID uuid.UUID) (time.Time, error)
	PutCode(ctx context.Context, consentID uuid.UUID, mac []byte, expiresAt time.Time) error
	// TakeCode returns and deletes the consent's code (one try per code).
	TakeCode(ctx context.Context, consentID uuid.UUID, now time.Time) ([]byte, error)
	// ReserveSend counts a code about to be sent for the consent and its
	// cardholder, or refuses with a *SendLimitError when that would pass a
	// limit (see SendLimits); both counts change together or not at all.
	ReserveSend(ctx context.Context, consentID, individualID uuid.UUID, to string, l SendLimits, now time.Time) error
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
	sends    SendLimits
	now      func() time.Time

	webauthn *webauthn.WebAuthn // nil until UsePasskeys
	passkeys PasskeyStore
	hashing  hasher
}

// SendLimits bound the one-time codes sent: at most PerConsent for one
// consent, a new one at least Cooldown after the last unless that one was
// used (each code has one try), and at most PerCardholder to one cardholder,
// and as many to one phone number or email address, in Window (which starts
// with the first of them).
type SendLimits struct {
	PerConsent    int
	Cooldown      time.Duration
	PerCardholder int
	Window        time.Duration
	// Scope keeps the cardholder's and the destination's counts apart:
	// "" for the partner's consents, "payment" for online payments'
	// challenges, which anyone with the card's number can open and which
	// so never use up the codes of the partner's consents.
	Scope string
}

// DefaultSendLimits are five codes a consent (as many as the tries before
// the lock), 30 seconds apart while the last is unused, ten an hour to one
// cardholder.
var DefaultSendLimits = SendLimits{PerConsent: MaxFailures, Cooldown: 30 * time.Second, PerCardholder: 10, Window: time.Hour}

// SCAConfig is the authenticator's settings.
type SCAConfig struct {
	// CodeKey keys the MAC under which one-time codes are stored, so that a
	// copy of the database alone does not give them.
	CodeKey []byte
	// Sends bound the codes sent; zero means DefaultSendLimits.
	Sends SendLimits
	// Hashes bounds the Argon2id computations at a time (19 MiB each);
	// zero means GOMAXPROCS, at least two.
	Hashes int
}

// NewSCA builds the authenticator. Every failed attempt goes to the audit
// trail.
func NewSCA(s SCAStore, consents *Service, n Notifier, a Auditor, cfg SCAConfig) *SCA {
	if cfg.Sends == (SendLimits{}) {
		cfg.Sends = DefaultSendLimits
	}
	if cfg.Hashes <= 0 {
		cfg.Hashes = max(2, runtime.GOMAXPROCS(0))
	}
	return &SCA{store: s, consents: consents, notify: n, audit: a, codeKey: cfg.CodeKey, sends: cfg.Sends, now: consents.now,
		hashing: newHasher(cfg.Hashes)}
}

// codeMAC is what a code is stored as: a MAC of the consent, the code and,
// for a payment, its commitment (dynamic linking: a code sent for one
// amount and payee checks out for no other).
func (a *SCA) codeMAC(consentID uuid.UUID, p *Payment, code string) []byte {
	m := hmac.New(sha256.New, a.codeKey)
	m.Write(consentID[:])
	m.Write([]byte(code))
	if p != nil {
		m.Write([]byte("\x00payment:"))
		m.Write(p.Commitment)
	}
	return m.Sum(nil)
}

// SendCode sends a fresh six-digit code for the consent to the cardholder's
// registered contact, replacing any earlier code, within the send limits
// (per consent, per cardholder, per destination), and never to a locked
// cardholder. Errors: *SendLimitError, ErrLocked, *StateError.
func (a *SCA) SendCode(ctx context.Context, c Consent, to, locale string) error {
	if c.Status != StatusStarted {
		return &StateError{From: c.Status, To: StatusStarted}
	}
	if to == "" {
		return errors.New("consent: the cardholder has no registered email or phone")
	}
	p, err := a.store.Passcode(ctx, c.IndividualID)
	if err != nil {
		return err
	}
	locked, err := a.lockedUntil(ctx, c, p)
	if err != nil {
		return err
	}
	if a.now().Before(locked) {
		return ErrLocked // no code could be used
	}
	if p.Hash == "" && c.Action == ActionAuthenticatePayment {
		return ErrNotEnrolled // no code could authenticate it
	}
	pay, err := a.consents.payment(ctx, c)
	if err != nil {
		return err
	}
	limits := a.sends
	if pay != nil {
		limits.Scope = "payment"
	}
	if err := a.store.ReserveSend(ctx, c.ID, c.IndividualID, to, limits, a.now()); err != nil {
		return err
	}
	code, err := sixDigits()
	if err != nil {
		return err
	}
	if err := a.store.PutCode(ctx, c.ID, a.codeMAC(c.ID, pay, code), a.now().Add(CodeTTL)); err != nil {
		return err
	}
	return a.notify.Send(ctx, codeMessage(to, locale, code, pay))
}

// codeMessage is the message that carries a code: for a payment, it names
// the amount and the payee the code authenticates.
func codeMessage(to, locale, code string, p *Payment) Message {
	if p != nil {
		amount := p.Amount + " " + p.Currency
		if locale == "sv" {
			return Message{To: to, Subject: "Bekräfta betalningen", Body: "Din kod för att betala " + amount + " till " + p.Payee + " är " + code +
				". Den gäller i 5 minuter. Dela den aldrig."}
		}
		return Message{To: to, Subject: "Confirm your payment", Body: "Your code to pay " + amount + " to " + p.Payee + " is " + code +
			". It is valid for 5 minutes. Never share it."}
	}
	if locale == "sv" {
		return Message{To: to, Subject: "Din kod från vaultpage", Body: "Din kod är " + code + ". Den gäller i 5 minuter. Dela den aldrig."}
	}
	return Message{To: to, Subject: "Your vaultpage code", Body: "Your code is " + code + ". It is valid for 5 minutes. Never share it."}
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
// When the cardholder has no passcode yet, the passcode given is enrolled
// (after the code checks out). The attempt is counted before anything is
// checked (see SCAStore.ReserveAttempt): of any number of attempts in
// parallel, for one consent or many, at most MaxFailures are checked before
// the lock. The code is checked first, so that a wrong code costs no
// Argon2id work. A passcode to enrol is checked for its shape first, and
// against the card's number only once the code has checked out (so that
// the check tells nothing to anyone without the code). At MaxFailures the
// cardholder is locked for LockFor and the consent fails. Errors:
// ErrSCAFailed (never saying which factor), ErrLocked, ErrBusy,
// *FieldError for a passcode that may not be enrolled.
func (a *SCA) Authenticate(ctx context.Context, c Consent, code, passcode string) error {
	now := a.now()
	p, err := a.store.Passcode(ctx, c.IndividualID)
	if err != nil {
		return err
	}
	locked, err := a.lockedUntil(ctx, c, p)
	if err != nil {
		return err
	}
	if now.Before(locked) {
		return ErrLocked
	}
	enrolling := p.Hash == ""
	if enrolling && c.Action == ActionAuthenticatePayment {
		// A code alone, with a passcode chosen now, is one element: a
		// payment is not authenticated by it.
		return ErrNotEnrolled
	}
	if enrolling {
		if err := checkPasscodeShape(passcode); err != nil {
			return err
		}
	}
	// A payment is read afresh: changed since its code was sent, the code
	// no longer checks out.
	pay, err := a.consents.payment(ctx, c)
	if err != nil {
		return err
	}
	// The code is taken first (one try each, whoever asks at once) and
	// the attempt counted next, before anything is compared: with no code
	// to check, nothing can be guessed and nothing is counted, so that
	// whoever can open a consent cannot lock the cardholder without codes
	// being sent to them, and one code counts one attempt at most.
	stored, err := a.store.TakeCode(ctx, c.ID, now)
	if errors.Is(err, ErrSCAFailed) {
		return ErrSCAFailed
	}
	if err != nil {
		return err
	}
	n, err := a.reserve(ctx, c, now)
	if errors.Is(err, ErrLocked) {
		// The code is used up, unchecked: the lock came first.
		return a.refusedLocked(ctx, c, "code_passcode")
	}
	if err != nil {
		return err
	}
	if !hmac.Equal(stored, a.codeMAC(c.ID, pay, strings.TrimSpace(code))) {
		return a.fail(ctx, c, n, "code_passcode")
	}
	if enrolling {
		if err := a.checkPasscodeCard(ctx, c, passcode); err != nil {
			// The code was right: choosing a passcode that may not be is
			// no failed attempt, but the code is used up.
			return errors.Join(err, a.reset(ctx, c))
		}
		h, err := a.hashing.hash(ctx, passcode)
		if err != nil {
			return err
		}
		set, err := a.store.EnrolPasscode(ctx, c.IndividualID, h)
		if err != nil {
			return err
		}
		if !set { // another attempt enrolled a passcode meanwhile
			return a.fail(ctx, c, n, "code_passcode")
		}
		if err := a.audit.Append(ctx, audit.Entry{Actor: "cardholder:" + c.IndividualID.String(), Action: "passcode.enrolled",
			Target: "consent:" + c.ID.String(), Result: "ok"}); err != nil {
			return err
		}
		return a.succeeded(ctx, c, "code_passcode")
	}
	ok, err := a.hashing.verify(ctx, p.Hash, passcode)
	if err != nil {
		return err
	}
	if !ok {
		return a.fail(ctx, c, n, "code_passcode")
	}
	return a.succeeded(ctx, c, "code_passcode")
}

// succeeded records a passed SCA: the failures in a row start again, and
// the audit trail says who passed, for which consent, by which method.
func (a *SCA) succeeded(ctx context.Context, c Consent, method string) error {
	if err := a.reset(ctx, c); err != nil {
		return err
	}
	return a.audit.Append(ctx, audit.Entry{Actor: "cardholder:" + c.IndividualID.String(), Action: "sca.succeeded",
		Target: "consent:" + c.ID.String(), Result: "ok", Details: map[string]string{"action": string(c.Action), "method": method}})
}

// fail records a counted attempt that failed: it audits it (method says
// which ceremony, not which factor), and when it was the MaxFailures-th
// (the reservation locked the cardholder already) fails the consent. It
// returns ErrSCAFailed or ErrLocked.
func (a *SCA) fail(ctx context.Context, c Consent, n int, method string) error {
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

// refused records an attempt that failed and is not counted (see
// FinishPasskeyLogin) and returns ErrSCAFailed.
func (a *SCA) refused(ctx context.Context, c Consent, method string) error {
	if err := a.audit.Append(ctx, audit.Entry{Actor: "cardholder:" + c.IndividualID.String(), Action: "sca.refused",
		Target: "consent:" + c.ID.String(), Result: "failed", Details: map[string]string{"action": string(c.Action), "method": method}}); err != nil {
		return err
	}
	return ErrSCAFailed
}

// refusedLocked records an attempt the lock refused before it was checked
// and returns ErrLocked.
func (a *SCA) refusedLocked(ctx context.Context, c Consent, method string) error {
	if err := a.refused(ctx, c, method); !errors.Is(err, ErrSCAFailed) {
		return err
	}
	return ErrLocked
}

// Argon2id parameters (OWASP: 19 MiB, two passes, one lane).
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
)

// hashWait bounds how long an attempt waits for a turn at Argon2id before
// it is answered ErrBusy.
const hashWait = 5 * time.Second

// ErrBusy means every Argon2id slot stayed taken for hashWait; the attempt may be
// retried shortly.
var ErrBusy = errors.New("consent: too many passcode checks at once")

// hasher runs Argon2id at most cap(slots) at a time: each run holds 19 MiB,
// so a burst of passcode checks cannot take the process's memory.
type hasher struct{ slots chan struct{} }

func newHasher(n int) hasher { return hasher{slots: make(chan struct{}, max(1, n))} }

func (h hasher) acquire(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, hashWait)
	defer cancel()
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ErrBusy
	}
}

func (h hasher) release() { <-h.slots }

func (h hasher) hash(ctx context.Context, p string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	return hashPasscode(p)
}

// verify checks p against a stored hash; a passcode longer than any that
// can be enrolled is wrong without being hashed.
func (h hasher) verify(ctx context.Context, phc, p string) (bool, error) {
	if len(p) > MaxPasscode {
		return false, nil
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	return verifyPasscode(phc, p), nil
}

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

// Failed attempts are counted per cardholder: five in a row lock them for
// LockFor. Online payments' challenges are counted apart from the
// cardholder's other consents: anyone with a card's number and expiry can
// open a payment's challenge (a merchant's authentication request), and
// its failures lock the cardholder's online payments, not the consents
// the partner opens for them (activation, the card's details, the PIN).

// lockedUntil is until when the cardholder may not try for c, p their
// passcode's state.
func (a *SCA) lockedUntil(ctx context.Context, c Consent, p Passcode) (time.Time, error) {
	if c.Action == ActionAuthenticatePayment {
		return a.store.PaymentLock(ctx, c.IndividualID)
	}
	return p.LockedUntil, nil
}

// reserve counts an attempt for c, before it is checked.
func (a *SCA) reserve(ctx context.Context, c Consent, now time.Time) (int, error) {
	if c.Action == ActionAuthenticatePayment {
		return a.store.ReservePaymentAttempt(ctx, c.IndividualID, MaxFailures, now, now.Add(LockFor))
	}
	return a.store.ReserveAttempt(ctx, c.IndividualID, MaxFailures, now, now.Add(LockFor))
}

// reset clears c's count after a success.
func (a *SCA) reset(ctx context.Context, c Consent) error {
	if c.Action == ActionAuthenticatePayment {
		return a.store.ResetPaymentFailures(ctx, c.IndividualID)
	}
	return a.store.ResetFailures(ctx, c.IndividualID)
}
