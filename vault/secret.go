package vault

import (
	"fmt"
	"log/slog"
)

// redacted is what every formatter prints in place of a secret.
const redacted = "[REDACTED]"

// Secret holds sensitive bytes (a PAN, a PIN, a key, a one-time code). It
// never prints, marshals or logs its content: String, GoString, Format,
// MarshalJSON, MarshalText and LogValue all redact. Reveal gives the bytes to
// the code that really needs them; Wipe overwrites them when done.
type Secret struct {
	b []byte
}

// NewSecret takes ownership of b: the caller must not use b afterwards.
func NewSecret(b []byte) Secret { return Secret{b: b} }

// SecretString copies s into a new Secret. Go strings cannot be wiped, so
// prefer NewSecret where the caller holds a byte slice.
func SecretString(s string) Secret { return Secret{b: []byte(s)} }

// Reveal returns the secret bytes. The slice aliases the secret: callers must
// not keep it beyond the secret's lifetime.
func (s Secret) Reveal() []byte { return s.b }

// Len reports the length of the secret without revealing it.
func (s Secret) Len() int { return len(s.b) }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return len(s.b) == 0 }

// Wipe overwrites the secret bytes with zeros. Copies made elsewhere (strings
// built from Reveal, for instance) are out of its reach.
func (s Secret) Wipe() { wipe(s.b) }

// String implements fmt.Stringer and redacts.
func (s Secret) String() string { return redacted }

// GoString implements fmt.GoStringer and redacts.
func (s Secret) GoString() string { return "vault.Secret(" + redacted + ")" }

// Format implements fmt.Formatter so that every verb, %x and %q included,
// redacts.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = f.Write([]byte(s.GoString()))
		return
	}
	_, _ = f.Write([]byte(redacted))
}

// MarshalJSON implements json.Marshaler and redacts.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText implements encoding.TextMarshaler and redacts.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// LogValue implements slog.LogValuer and redacts.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// wipe zeroes b. The clear builtin is not elided by the compiler for a slice
// that escapes, which every buffer handed to it here does.
func wipe(b []byte) { clear(b) }
