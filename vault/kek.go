package vault

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// KEKSize is the length of a software key-encrypting key: AES-256.
const KEKSize = 32

// KEK is a key-encrypting key: it wraps and unwraps the key ring's keys and
// nothing else. Implementations must be safe for concurrent use.
type KEK interface {
	// ID names the KEK without revealing it (a check value or an HSM label).
	// It is stored next to every key the KEK wraps.
	ID() string
	// Wrap encrypts key, bound to aad. Errors wrap ErrKEK.
	Wrap(ctx context.Context, key, aad []byte) ([]byte, error)
	// Unwrap reverses Wrap. Errors wrap ErrKEK, or ErrDecrypt when the
	// wrapped key was tampered with or wrapped under another KEK.
	Unwrap(ctx context.Context, wrapped, aad []byte) ([]byte, error)
}

// aeadKEK wraps keys with an AEAD: nonce ‖ AEAD output.
type aeadKEK struct {
	id   string
	aead cipher.AEAD
}

func (k *aeadKEK) ID() string { return k.id }

func (k *aeadKEK) Wrap(_ context.Context, key, aad []byte) ([]byte, error) {
	out := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(key)+k.aead.Overhead())
	if _, err := rand.Read(out); err != nil {
		return nil, fmt.Errorf("%w: nonce: %w", ErrKEK, err)
	}
	return k.aead.Seal(out, out, key, aad), nil
}

func (k *aeadKEK) Unwrap(_ context.Context, wrapped, aad []byte) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(wrapped) < n+k.aead.Overhead() {
		return nil, fmt.Errorf("%w: wrapped key too short", ErrMalformed)
	}
	key, err := k.aead.Open(nil, wrapped[:n], wrapped[n:], aad)
	if err != nil {
		return nil, fmt.Errorf("%w: wrapped key does not open under kek %s", ErrDecrypt, k.id)
	}
	return key, nil
}

// NewSoftwareKEK makes a KEK from 32 key bytes held in process memory
// (AES-256-GCM). The caller should wipe key afterwards.
func NewSoftwareKEK(key []byte) (KEK, error) {
	if len(key) != KEKSize {
		return nil, fmt.Errorf("%w: key must be %d bytes", ErrKEK, KEKSize)
	}
	if subtle.ConstantTimeCompare(key, make([]byte, KEKSize)) == 1 {
		return nil, fmt.Errorf("%w: key is all zeros", ErrKEK)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKEK, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKEK, err)
	}
	return &aeadKEK{id: "sw:" + CheckValue(key), aead: aead}, nil
}

// CheckValue is a key check value: the first six bytes of
// HMAC-SHA-256(key, "vaultpage key check value"), in hex. Custodians compare
// it to confirm they entered a component or key correctly; it reveals
// nothing usable about the key.
func CheckValue(key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("vaultpage key check value"))
	return hex.EncodeToString(m.Sum(nil)[:6])
}

// ParseKEK decodes a base64 (standard or URL alphabet, padded or not) 32-byte
// key and makes a software KEK of it.
func ParseKEK(b64 string) (KEK, error) {
	key, err := decodeKey(b64)
	if err != nil {
		return nil, err
	}
	defer wipe(key)
	return NewSoftwareKEK(key)
}

func decodeKey(b64 string) ([]byte, error) {
	s := strings.TrimSpace(b64)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil {
			if len(k) != KEKSize {
				wipe(k)
				return nil, fmt.Errorf("%w: key must decode to %d bytes", ErrKEK, KEKSize)
			}
			return k, nil
		}
	}
	return nil, fmt.Errorf("%w: key is not base64", ErrKEK)
}

// CombineComponents builds a KEK from two or more full-length key components
// held by different custodians (split knowledge, dual control): the KEK is
// the XOR of all components, so that no proper subset of them reveals
// anything about it. It returns each component's check value, in order, for
// the custodians to confirm.
func CombineComponents(components []string) (KEK, []string, error) {
	if len(components) < 2 {
		return nil, nil, fmt.Errorf("%w: at least two key components are required", ErrKEK)
	}
	key := make([]byte, KEKSize)
	defer wipe(key)
	checks := make([]string, 0, len(components))
	seen := map[string]bool{}
	for i, c := range components {
		part, err := decodeKey(c)
		if err != nil {
			return nil, nil, fmt.Errorf("component %d: %w", i+1, err)
		}
		kcv := CheckValue(part)
		if seen[kcv] {
			wipe(part)
			return nil, nil, fmt.Errorf("%w: component %d repeats an earlier one", ErrKEK, i+1)
		}
		seen[kcv] = true
		checks = append(checks, kcv)
		subtle.XORBytes(key, key, part)
		wipe(part)
	}
	kek, err := NewSoftwareKEK(key)
	if err != nil {
		return nil, nil, err
	}
	return kek, checks, nil
}

// DevKEKFile is the name of the generated development KEK in the data
// directory.
const DevKEKFile = "dev-kek.key"

// LoadDevKEK reads, or on first use generates, a KEK in dir/dev-kek.key with
// mode 0600. It is for local development only: the key sits next to the data
// it protects. It logs a warning every time it is used and refuses a file that
// other users can read.
func LoadDevKEK(dir string, logger *slog.Logger) (KEK, error) {
	path := filepath.Join(dir, DevKEKFile)
	b, err := os.ReadFile(path) //nolint:gosec // The path is the operator's own data directory.
	switch {
	case errors.Is(err, fs.ErrNotExist):
		key := make([]byte, KEKSize)
		defer wipe(key)
		if _, err := io.ReadFull(rand.Reader, key); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrKEK, err)
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrKEK, err)
		}
		enc := []byte(base64.StdEncoding.EncodeToString(key) + "\n")
		defer wipe(enc)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) //nolint:gosec // As above.
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrKEK, err)
		}
		if _, err := f.Write(enc); err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("%w: %w", ErrKEK, err)
		}
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrKEK, err)
		}
		logger.Warn("generated a development key-encrypting key next to the data; never use it in production", "path", path)
		return NewSoftwareKEK(key)
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrKEK, err)
	}
	defer wipe(b)
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKEK, err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s must be readable by its owner only (mode 0600)", ErrKEK, path)
	}
	logger.Warn("using the development key-encrypting key from the data directory; never use it in production", "path", path)
	return ParseKEK(string(b))
}

// KEKSet is the current KEK, which wraps every new key, and the previous ones,
// which only unwrap until Rewrap has moved every key to the current one.
type KEKSet struct {
	current KEK
	byID    map[string]KEK
	closers []io.Closer
}

// NewKEKSet makes a set from the current KEK and any previous ones.
func NewKEKSet(current KEK, previous ...KEK) *KEKSet {
	s := &KEKSet{current: current, byID: map[string]KEK{current.ID(): current}}
	for _, p := range previous {
		s.byID[p.ID()] = p
	}
	return s
}

// Current returns the KEK that wraps new keys.
func (s *KEKSet) Current() KEK { return s.current }

// Lookup returns the KEK with the given id.
func (s *KEKSet) Lookup(id string) (KEK, bool) {
	k, ok := s.byID[id]
	return k, ok
}

// Close releases HSM sessions held by the set's KEKs.
func (s *KEKSet) Close() error {
	var errs []error
	for _, c := range s.closers {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// KEKSource says where the KEK comes from.
type KEKSource string

// KEK sources.
const (
	KEKSourceKey        KEKSource = "key"        // one base64 key from a file or the environment
	KEKSourceComponents KEKSource = "components" // two or more full-length components, XORed
	KEKSourcePKCS11     KEKSource = "pkcs11"     // an AES key in a PKCS#11 HSM
	KEKSourceDev        KEKSource = "dev"        // generated into the data directory; development only
)

// KEKConfig selects and parameterises the KEK source.
type KEKConfig struct {
	Source     KEKSource
	Key        string   // base64, for KEKSourceKey
	Components []string // base64, for KEKSourceComponents
	Previous   []string // base64 software KEKs still accepted for unwrapping
	PKCS11     PKCS11Config
	DataDir    string // for KEKSourceDev
	Production bool   // refuses KEKSourceDev
}

// PKCS11Config locates an AES key in a PKCS#11 token.
type PKCS11Config struct {
	Module     string // path to the PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so
	TokenLabel string
	PIN        string
	KeyLabel   string // the current KEK
	Previous   []string
}

// Validate lists every problem with the configuration at once.
func (c KEKConfig) Validate() error {
	var errs []error
	switch c.Source {
	case KEKSourceKey:
		if c.Key == "" {
			errs = append(errs, errors.New("kek: source key needs a key"))
		}
	case KEKSourceComponents:
		if len(c.Components) < 2 {
			errs = append(errs, errors.New("kek: source components needs at least two components"))
		}
	case KEKSourcePKCS11:
		p := c.PKCS11
		if p.Module == "" || p.TokenLabel == "" || p.KeyLabel == "" {
			errs = append(errs, errors.New("kek: source pkcs11 needs a module, a token label and a key label"))
		}
	case KEKSourceDev:
		if c.Production {
			errs = append(errs, errors.New("kek: the development key source is refused in production"))
		}
		if c.DataDir == "" {
			errs = append(errs, errors.New("kek: source dev needs a data directory"))
		}
	default:
		errs = append(errs, fmt.Errorf("kek: unknown source %q (key, components, pkcs11, dev)", c.Source))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrKEK, err)
	}
	return nil
}

// OpenKEKs builds the KEK set the configuration describes. Close the set when
// done to release HSM sessions.
func OpenKEKs(ctx context.Context, c KEKConfig, logger *slog.Logger) (*KEKSet, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	var previous []KEK
	for i, p := range c.Previous {
		k, err := ParseKEK(p)
		if err != nil {
			return nil, fmt.Errorf("previous kek %d: %w", i+1, err)
		}
		previous = append(previous, k)
	}
	switch c.Source {
	case KEKSourceKey:
		k, err := ParseKEK(c.Key)
		if err != nil {
			return nil, err
		}
		return NewKEKSet(k, previous...), nil
	case KEKSourceComponents:
		k, checks, err := CombineComponents(c.Components)
		if err != nil {
			return nil, err
		}
		logger.Info("combined key-encrypting key from components", "components", len(checks), "component_check_values", checks, "kek", k.ID())
		return NewKEKSet(k, previous...), nil
	case KEKSourcePKCS11:
		return openPKCS11(ctx, c.PKCS11, previous)
	default: // KEKSourceDev, checked by Validate.
		k, err := LoadDevKEK(c.DataDir, logger)
		if err != nil {
			return nil, err
		}
		return NewKEKSet(k, previous...), nil
	}
}
