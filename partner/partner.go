// Package partner is about the fintech apps that use vaultpage: who they are,
// how they authenticate (OAuth 2.0 client credentials for opaque bearer
// tokens), and where vaultpage may send their cardholders back to.
//
// Client secrets and access tokens are 256-bit random values; only their
// SHA-256 digests are stored, which is sound for secrets of that entropy
// (a password hash such as Argon2id is for low-entropy secrets).
package partner

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/vaultpage/vaultpage/audit"
	"github.com/vaultpage/vaultpage/internal/httpsig"
)

// TokenTTL is how long an access token is valid.
const TokenTTL = time.Hour

// Errors. None carries a secret.
var (
	// ErrInvalidClient: unknown client id or wrong secret (RFC 6749 invalid_client).
	ErrInvalidClient = errors.New("partner: invalid client credentials")
	// ErrInvalidToken: the bearer token is unknown, malformed or expired.
	ErrInvalidToken = errors.New("partner: invalid or expired access token")
	// ErrNotFound: no such partner.
	ErrNotFound = errors.New("partner: not found")
	// ErrInvalidInput: a name or return URL is not acceptable; wrapped with
	// the reason.
	ErrInvalidInput = errors.New("partner: invalid input")
)

// Partner is a fintech app with an API client.
type Partner struct {
	ID         uuid.UUID
	Name       string
	ReturnURLs []string
	CreatedAt  time.Time
	// SigningKeys, when there are any, make RFC 9421 signatures mandatory
	// on every request of the partner's.
	SigningKeys []SigningKey
}

// SigningKey is a partner's request-signing public key.
type SigningKey struct {
	KeyID     string
	Alg       httpsig.Algorithm
	Public    any    // ed25519.PublicKey or *ecdsa.PublicKey
	PublicDER []byte // SubjectPublicKeyInfo, as stored
	CreatedAt time.Time
}

// Client is a partner's API credential: the id is public, the secret is
// stored as a digest.
type Client struct {
	ID           string
	PartnerID    uuid.UUID
	SecretDigest []byte
	CreatedAt    time.Time
}

// Store persists partners, clients and tokens.
type Store interface {
	// CreatePartner stores a partner with its first client.
	CreatePartner(ctx context.Context, p Partner, c Client) error
	// Partner returns a partner, ErrNotFound if none.
	Partner(ctx context.Context, id uuid.UUID) (Partner, error)
	// Client returns a client, ErrNotFound if none.
	Client(ctx context.Context, id string) (Client, error)
	// InsertToken stores an access token's digest.
	InsertToken(ctx context.Context, digest []byte, partnerID uuid.UUID, expiresAt time.Time) error
	// TokenPartner returns the partner a live token belongs to and when the
	// token expires, ErrNotFound if the token is unknown or expired at now.
	TokenPartner(ctx context.Context, digest []byte, now time.Time) (Partner, time.Time, error)
	// AddSigningKey stores a signing key, ErrInvalidInput if the key id is
	// taken.
	AddSigningKey(ctx context.Context, partnerID uuid.UUID, k SigningKey) error
	// SigningKeys returns a partner's signing keys.
	SigningKeys(ctx context.Context, partnerID uuid.UUID) ([]SigningKey, error)
	// Branding returns the partner's branding, the zero value when none
	// was set.
	Branding(ctx context.Context, partnerID uuid.UUID) (Branding, error)
	// SetBranding replaces the partner's branding.
	SetBranding(ctx context.Context, partnerID uuid.UUID, b Branding) error
}

// Service creates partners and authenticates their requests.
type Service struct {
	store Store
	cfg   Config
	now   func() time.Time

	// cache holds recently authenticated tokens by digest, each until the
	// earlier of its expiry and cacheTTL from lookup, so that most API calls
	// cost no token query.
	mu    sync.Mutex
	cache map[[sha256.Size]byte]cached
}

type cached struct {
	partner Partner
	until   time.Time
}

// cacheTTL bounds how long an authenticated token is trusted from memory.
const cacheTTL = 30 * time.Second

// cacheMax bounds the cache; past it the cache starts over.
const cacheMax = 10_000

// Config is the partner service's settings.
type Config struct {
	// Production refuses plain-http origins and return URLs, which
	// development allows for localhost.
	Production bool
	// Audit, when set, records every token issued and every failed
	// authentication with client credentials.
	Audit Auditor
}

// Auditor records audit entries.
type Auditor interface {
	Append(ctx context.Context, e audit.Entry) error
}

// NewService builds the service; now defaults to time.Now.
func NewService(s Store, cfg Config, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: s, cfg: cfg, now: func() time.Time { return now().UTC().Truncate(time.Microsecond) }, cache: map[[sha256.Size]byte]cached{}}
}

// Credentials are shown to the operator once, when a partner is created.
type Credentials struct {
	PartnerID    uuid.UUID `json:"partner_id"`
	ClientID     string    `json:"client_id"`
	ClientSecret string    `json:"client_secret"`
}

// Create registers a partner and returns its credentials; the secret is not
// stored and cannot be shown again. Errors wrap ErrInvalidInput.
func (s *Service) Create(ctx context.Context, name string, returnURLs []string) (Credentials, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 200 {
		return Credentials{}, fmt.Errorf("%w: name must be 1 to 200 characters", ErrInvalidInput)
	}
	for _, u := range returnURLs {
		if err := ValidateReturnURL(u, s.cfg.Production); err != nil {
			return Credentials{}, err
		}
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Credentials{}, err
	}
	secret, err := randomToken("vps_")
	if err != nil {
		return Credentials{}, err
	}
	clientID, err := randomToken("vpc_")
	if err != nil {
		return Credentials{}, err
	}
	now := s.now().UTC()
	p := Partner{ID: id, Name: name, ReturnURLs: returnURLs, CreatedAt: now}
	c := Client{ID: clientID[:24], PartnerID: id, SecretDigest: digest(secret), CreatedAt: now}
	if err := s.store.CreatePartner(ctx, p, c); err != nil {
		return Credentials{}, err
	}
	return Credentials{PartnerID: id, ClientID: c.ID, ClientSecret: secret}, nil
}

// Token is an issued access token.
type Token struct {
	AccessToken string
	ExpiresIn   time.Duration
	PartnerID   uuid.UUID
}

// IssueToken checks client credentials and issues an access token. Errors:
// ErrInvalidClient, in the same way for an unknown client and a wrong secret.
func (s *Service) IssueToken(ctx context.Context, clientID, secret string) (Token, error) {
	c, err := s.store.Client(ctx, clientID)
	if errors.Is(err, ErrNotFound) {
		// Compare anyway so that unknown and known clients take equal time.
		subtle.ConstantTimeCompare(digest(secret), make([]byte, sha256.Size))
		// Not audited: whatever was sent as the id (a secret pasted in
		// the wrong field, say) must not reach the trail, and any number
		// of addresses could fill it. The request log has the attempt.
		return Token{}, ErrInvalidClient
	}
	if err != nil {
		return Token{}, err
	}
	if subtle.ConstantTimeCompare(digest(secret), c.SecretDigest) != 1 {
		// A real client's id with a wrong secret: an attack on that
		// partner, bounded by the token endpoint's rate per address.
		return Token{}, errors.Join(ErrInvalidClient, s.audited(ctx, audit.Entry{Actor: "client:" + c.ID,
			Action: "partner.authentication_failed", Target: "partner:" + c.PartnerID.String(), Result: "failed"}))
	}
	tok, err := randomToken("vpt_")
	if err != nil {
		return Token{}, err
	}
	if err := s.store.InsertToken(ctx, digest(tok), c.PartnerID, s.now().UTC().Add(TokenTTL)); err != nil {
		return Token{}, err
	}
	if err := s.audited(ctx, audit.Entry{Actor: "partner:" + c.PartnerID.String(), Action: "partner.token_issued",
		Target: "partner:" + c.PartnerID.String(), Result: "ok"}); err != nil {
		return Token{}, err
	}
	return Token{AccessToken: tok, ExpiresIn: TokenTTL, PartnerID: c.PartnerID}, nil
}

// audited appends e when the service has an auditor.
func (s *Service) audited(ctx context.Context, e audit.Entry) error {
	if s.cfg.Audit == nil {
		return nil
	}
	return s.cfg.Audit.Append(ctx, e)
}

// Authenticate returns the partner a bearer token belongs to. Errors:
// ErrInvalidToken.
func (s *Service) Authenticate(ctx context.Context, token string) (Partner, error) {
	if !strings.HasPrefix(token, "vpt_") || len(token) > 128 {
		return Partner{}, ErrInvalidToken
	}
	d := sha256.Sum256([]byte(token))
	now := s.now()
	s.mu.Lock()
	c, ok := s.cache[d]
	s.mu.Unlock()
	if ok && now.Before(c.until) {
		return c.partner, nil
	}
	p, expires, err := s.store.TokenPartner(ctx, d[:], now)
	if errors.Is(err, ErrNotFound) {
		return Partner{}, ErrInvalidToken
	}
	if err != nil {
		return Partner{}, err
	}
	if p.SigningKeys, err = s.store.SigningKeys(ctx, p.ID); err != nil {
		return Partner{}, err
	}
	until := now.Add(cacheTTL)
	if expires.Before(until) {
		until = expires
	}
	s.mu.Lock()
	if len(s.cache) >= cacheMax {
		s.cache = map[[sha256.Size]byte]cached{}
	}
	s.cache[d] = cached{partner: p, until: until}
	s.mu.Unlock()
	return p, nil
}

// Partner returns a partner by id.
func (s *Service) Partner(ctx context.Context, id uuid.UUID) (Partner, error) {
	return s.store.Partner(ctx, id)
}

// AddSigningKey registers a PEM public key (Ed25519, ECDSA P-256 or P-384)
// under keyID; from then on the partner must sign every request. Errors wrap
// ErrInvalidInput or ErrNotFound.
func (s *Service) AddSigningKey(ctx context.Context, partnerID uuid.UUID, keyID string, publicPEM []byte) (SigningKey, error) {
	if keyID == "" || len(keyID) > 100 || strings.ContainsAny(keyID, "\"\\") {
		return SigningKey{}, fmt.Errorf("%w: key id must be 1 to 100 characters without quotes or backslashes", ErrInvalidInput)
	}
	if _, err := s.store.Partner(ctx, partnerID); err != nil {
		return SigningKey{}, err
	}
	pub, alg, err := httpsig.ParsePublicKey(publicPEM)
	if err != nil {
		return SigningKey{}, fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return SigningKey{}, fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	k := SigningKey{KeyID: keyID, Alg: alg, Public: pub, PublicDER: der, CreatedAt: s.now()}
	if err := s.store.AddSigningKey(ctx, partnerID, k); err != nil {
		return SigningKey{}, err
	}
	s.mu.Lock()
	s.cache = map[[sha256.Size]byte]cached{} // tokens now need signatures
	s.mu.Unlock()
	return k, nil
}

func digest(s string) []byte {
	d := sha256.Sum256([]byte(s))
	return d[:]
}

// randomToken is prefix ‖ base64url(32 random bytes): 256 bits.
func randomToken(prefix string) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b), nil
}
