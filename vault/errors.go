package vault

import "errors"

// Sentinel errors. Every error the package returns wraps one of these, so
// callers can test with errors.Is; none of them ever carries secret material.
var (
	// ErrMalformed: a ciphertext, wrapped key or PIN block is truncated,
	// oversized or otherwise not of the expected form.
	ErrMalformed = errors.New("vault: malformed input")
	// ErrUnsupportedVersion: a ciphertext carries a format version this build
	// does not know.
	ErrUnsupportedVersion = errors.New("vault: unsupported format version")
	// ErrUnknownKey: a ciphertext names a key version the key ring does not hold.
	ErrUnknownKey = errors.New("vault: unknown key version")
	// ErrKeyRetired: the key version was retired and is refused.
	ErrKeyRetired = errors.New("vault: key version retired")
	// ErrKeyInUse: a key version still protects records and cannot be retired.
	ErrKeyInUse = errors.New("vault: key version still in use")
	// ErrKeyActive: the newest key version of a purpose cannot be retired.
	ErrKeyActive = errors.New("vault: key version is the active one")
	// ErrDecrypt: authentication failed. The ciphertext was tampered with,
	// moved to another record or field, or sealed under another key.
	ErrDecrypt = errors.New("vault: decryption failed")
	// ErrKEK: the key-encrypting key is missing, malformed, of the wrong
	// source for the environment, or does not match the stored keys.
	ErrKEK = errors.New("vault: key-encrypting key problem")
	// ErrNotFound: no sealed record exists under the reference.
	ErrNotFound = errors.New("vault: record not found")
	// ErrIndexTaken: another record already claims the blind index value.
	ErrIndexTaken = errors.New("vault: blind index value taken")
	// ErrConflict: a concurrent writer changed the row first; reload and retry.
	ErrConflict = errors.New("vault: concurrent update")
	// ErrInvalidInput: a PAN, PIN, expiry, service code, BIN range or key has
	// the wrong length or characters. Returned wrapped in an *InputError.
	ErrInvalidInput = errors.New("vault: invalid input")
	// ErrWeakPIN: the PIN is well formed but the weak-PIN policy refuses it.
	// Returned wrapped in an *InputError whose Reason says why.
	ErrWeakPIN = errors.New("vault: weak pin")
	// ErrPANSpaceExhausted: no unused card number could be found in the
	// configured BIN range after repeated attempts.
	ErrPANSpaceExhausted = errors.New("vault: card number range exhausted")
)

// InputError names the field that failed validation and a reason safe to show
// to a partner or cardholder. It never includes the offending value.
type InputError struct {
	Field  string // "pan", "pin", "expiry", "service_code", "bin", "key"
	Reason string // lowercase, no trailing punctuation
	Err    error  // ErrInvalidInput or ErrWeakPIN
}

func (e *InputError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap returns the sentinel so that errors.Is works.
func (e *InputError) Unwrap() error { return e.Err }

func invalid(field, reason string) error {
	return &InputError{Field: field, Reason: reason, Err: ErrInvalidInput}
}
