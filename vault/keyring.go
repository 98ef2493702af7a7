package vault

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultUsesPerDataKey is how many encryptions one data key performs before
// the key ring creates a new one: 2^30, a quarter of the 2^32 that NIST SP
// 800-38D allows AES-GCM with random 96-bit nonces.
const DefaultUsesPerDataKey int64 = 1 << 30

// defaultReserveBlock is how many uses a process reserves from the store at
// a time, so that sealing does not write to the database every time. A
// process that exits wastes at most one block: 2^16 of a key's 2^30.
const defaultReserveBlock int64 = 1 << 16

// Options configure a Keyring.
type Options struct {
	Store  Store
	KEKs   *KEKSet
	Now    func() time.Time // defaults to time.Now
	Rand   io.Reader        // defaults to crypto/rand.Reader
	Logger *slog.Logger     // defaults to slog.Default()
	// UsesPerDataKey caps encryptions per data key; 0 means
	// DefaultUsesPerDataKey.
	UsesPerDataKey int64
	// ReserveBlock is how many uses to reserve from the store at a time; 0
	// means 65,536. It is capped at UsesPerDataKey.
	ReserveBlock int64
}

// Keyring holds the unwrapped keys of every purpose and does all encryption.
// It is safe for concurrent use. Several processes may share one store: each
// reserves encryption counts from it, and Refresh picks up rotations and
// retirements made elsewhere.
type Keyring struct {
	store      Store
	keks       *KEKSet
	now        func() time.Time
	rand       io.Reader
	log        *slog.Logger
	usesPerKey int64
	block      int64

	mu     sync.RWMutex
	keys   map[uint32]*ringKey
	active map[KeyPurpose]uint32
	maxID  uint32
	// activeData is the active data key, read without the lock on the
	// sealing hot path.
	activeData atomic.Pointer[ringKey]
}

// ringKey is one loaded key version. It is immutable once published in the
// key ring's map; Refresh replaces it with a copy when its metadata changes,
// sharing the budget.
type ringKey struct {
	meta     Key
	material []byte      // nil when retired
	aead     cipher.AEAD // data keys only
	budget   *budget
}

// budget is the share of a data key's encryption count this process has
// reserved from the store.
type budget struct {
	mu          sync.Mutex
	next, limit int64 // next < limit may be used
}

// aadBuffers recycles the buffers additional data is encoded into; AAD holds
// no secret.
var aadBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// errExhausted: the data key has used up its encryption budget.
var errExhausted = errors.New("vault: data key exhausted")

// Open loads the key ring from the store, unwrapping every live key, and
// creates the first key of any purpose that has none. Errors wrap ErrKEK when
// a stored key was wrapped under a KEK that is not configured or does not
// match.
func Open(ctx context.Context, o Options) (*Keyring, error) {
	if o.Store == nil || o.KEKs == nil {
		return nil, fmt.Errorf("%w: keyring needs a store and a kek", ErrKEK)
	}
	r := &Keyring{
		store: o.Store, keks: o.KEKs, now: o.Now, rand: o.Rand, log: o.Logger,
		usesPerKey: o.UsesPerDataKey, block: o.ReserveBlock,
		keys: map[uint32]*ringKey{}, active: map[KeyPurpose]uint32{},
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.rand == nil {
		r.rand = rand.Reader
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	if r.usesPerKey <= 0 {
		r.usesPerKey = DefaultUsesPerDataKey
	}
	if r.block <= 0 {
		r.block = defaultReserveBlock
	}
	r.block = min(r.block, r.usesPerKey)
	if err := r.Refresh(ctx); err != nil {
		return nil, err
	}
	for _, p := range KeyPurposes {
		r.mu.RLock()
		_, ok := r.active[p]
		r.mu.RUnlock()
		if !ok {
			if _, err := r.createKey(ctx, p, 0); err != nil {
				return nil, err
			}
		}
	}
	return r, nil
}

// Close wipes the unwrapped keys held in memory.
func (r *Keyring) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range r.keys {
		wipe(k.material)
	}
	r.keys = map[uint32]*ringKey{}
	r.active = map[KeyPurpose]uint32{}
	r.activeData.Store(nil)
}

// Refresh reloads key metadata from the store, unwrapping keys it has not
// seen. Call it periodically in long-running processes so that rotations
// and retirements made by another process take effect here.
func (r *Keyring) Refresh(ctx context.Context) error {
	stored, err := r.store.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("vault: list keys: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	keys := make(map[uint32]*ringKey, len(stored))
	active := map[KeyPurpose]uint32{}
	var maxID uint32
	for _, m := range stored {
		maxID = max(maxID, m.ID)
		old := r.keys[m.ID]
		switch {
		case m.State == KeyRetired:
			// The material is dropped, not wiped: a request in flight may
			// still hold it. Close wipes what the ring holds at the end.
			keys[m.ID] = &ringKey{meta: m, budget: &budget{}}
			continue
		case old != nil && old.material != nil:
			keys[m.ID] = &ringKey{meta: m, material: old.material, aead: old.aead, budget: old.budget}
		default:
			k, err := r.load(ctx, m)
			if err != nil {
				return err
			}
			keys[m.ID] = k
		}
		if m.State == KeyActive {
			if prev, dup := active[m.Purpose]; dup && prev > m.ID {
				continue
			}
			active[m.Purpose] = m.ID
		}
	}
	r.keys, r.active, r.maxID = keys, active, maxID
	r.activeData.Store(keys[active[KeyData]])
	return nil
}

// load unwraps a stored key.
func (r *Keyring) load(ctx context.Context, m Key) (*ringKey, error) {
	kek, ok := r.keks.Lookup(m.KEKID)
	if !ok {
		return nil, fmt.Errorf("%w: key %d is wrapped under kek %s, which is not configured", ErrKEK, m.ID, m.KEKID)
	}
	material, err := kek.Unwrap(ctx, m.Wrapped, wrapAAD(m.ID, m.Purpose))
	if err != nil {
		return nil, fmt.Errorf("%w: key %d: %w", ErrKEK, m.ID, err)
	}
	if len(material) != m.Purpose.keySize() {
		wipe(material)
		return nil, fmt.Errorf("%w: key %d has the wrong length", ErrKEK, m.ID)
	}
	k := &ringKey{meta: m, material: material, budget: &budget{}}
	if m.Purpose == KeyData {
		block, err := aes.NewCipher(material)
		if err != nil {
			return nil, fmt.Errorf("%w: key %d: %w", ErrKEK, m.ID, err)
		}
		if k.aead, err = cipher.NewGCM(block); err != nil {
			return nil, fmt.Errorf("%w: key %d: %w", ErrKEK, m.ID, err)
		}
	}
	return k, nil
}

// wrapAAD binds a wrapped key to its id and purpose, so that a wrapped key
// copied to another row does not unwrap.
func wrapAAD(id uint32, p KeyPurpose) []byte {
	b := []byte("vaultpage/kek/v1")
	b = binary.BigEndian.AppendUint32(b, id)
	return append(b, p...)
}

// createKey makes a new active key of purpose p, replacing the active key
// with id replaces (0: none). When another process rotated first it returns
// that process's key instead.
func (r *Keyring) createKey(ctx context.Context, p KeyPurpose, replaces uint32) (Key, error) {
	for attempt := 0; attempt < 5; attempt++ {
		r.mu.RLock()
		id := r.maxID + 1
		r.mu.RUnlock()
		material := make([]byte, p.keySize())
		if _, err := io.ReadFull(r.rand, material); err != nil {
			return Key{}, fmt.Errorf("vault: key material: %w", err)
		}
		kek := r.keks.Current()
		wrapped, err := kek.Wrap(ctx, material, wrapAAD(id, p))
		wipe(material)
		if err != nil {
			return Key{}, err
		}
		k := Key{ID: id, Purpose: p, State: KeyActive, KEKID: kek.ID(), Wrapped: wrapped, CreatedAt: r.now().UTC()}
		err = r.store.CreateKey(ctx, k, replaces)
		if err != nil && !errors.Is(err, ErrConflict) {
			return Key{}, fmt.Errorf("vault: create key: %w", err)
		}
		if err := r.Refresh(ctx); err != nil {
			return Key{}, err
		}
		r.mu.RLock()
		cur, ok := r.active[p]
		var meta Key
		if ok {
			meta = r.keys[cur].meta
		}
		r.mu.RUnlock()
		if ok && cur != replaces {
			if err == nil {
				r.log.Info("vault key created", "key_id", id, "purpose", string(p), "replaces", replaces, "kek", kek.ID())
			}
			return meta, nil
		}
	}
	return Key{}, fmt.Errorf("%w: could not create a %s key", ErrConflict, p)
}

// activeKey returns the newest key of a purpose.
func (r *Keyring) activeKey(p KeyPurpose) (*ringKey, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	id, ok := r.active[p]
	if !ok {
		return nil, fmt.Errorf("%w: no active %s key", ErrUnknownKey, p)
	}
	return r.keys[id], nil
}

// keyByID returns a live key of purpose p, reloading once if it is unknown.
func (r *Keyring) keyByID(ctx context.Context, id uint32, p KeyPurpose) (*ringKey, error) {
	for attempt := 0; ; attempt++ {
		r.mu.RLock()
		k, ok := r.keys[id]
		r.mu.RUnlock()
		if ok {
			switch {
			case k.meta.Purpose != p:
				return nil, fmt.Errorf("%w: key %d is not a %s key", ErrUnknownKey, id, p)
			case k.meta.State == KeyRetired || k.material == nil:
				return nil, fmt.Errorf("%w: key %d", ErrKeyRetired, id)
			}
			return k, nil
		}
		if attempt > 0 {
			return nil, fmt.Errorf("%w: key %d", ErrUnknownKey, id)
		}
		if err := r.Refresh(ctx); err != nil {
			return nil, err
		}
	}
}

// reserve takes one encryption from the key's budget.
func (r *Keyring) reserve(ctx context.Context, k *ringKey) error {
	b := k.budget
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.next < b.limit {
		b.next++
		return nil
	}
	uses, err := r.store.ReserveKeyUses(ctx, k.meta.ID, r.block, r.usesPerKey)
	if errors.Is(err, ErrConflict) {
		return errExhausted
	}
	if err != nil {
		return fmt.Errorf("vault: reserve key uses: %w", err)
	}
	b.limit, b.next = uses, uses-r.block+1
	return nil
}

// Encrypt seals plaintext under the active data key, bound to aad. Two
// encryptions of the same plaintext differ. Errors: *InputError for an
// incomplete aad or oversized plaintext; store errors while reserving.
func (r *Keyring) Encrypt(ctx context.Context, plaintext []byte, aad AAD) ([]byte, error) {
	if err := aad.validate(); err != nil {
		return nil, err
	}
	if len(plaintext) > MaxPlaintextSize {
		return nil, invalid("plaintext", "too large")
	}
	// Every failed attempt means another caller exhausted the key and a new
	// one now exists, so the loop makes progress; the bound only stops a
	// store that misbehaves.
	for attempt := 0; attempt < 16; attempt++ {
		k := r.activeData.Load()
		if k == nil {
			return nil, fmt.Errorf("%w: no active data key", ErrUnknownKey)
		}
		err := r.reserve(ctx, k)
		if errors.Is(err, errExhausted) {
			r.log.Info("vault data key reached its encryption limit; rotating", "key_id", k.meta.ID)
			if _, err := r.createKey(ctx, KeyData, k.meta.ID); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		return r.seal(k, plaintext, aad)
	}
	return nil, fmt.Errorf("%w: no data key with budget left", ErrConflict)
}

func (r *Keyring) seal(k *ringKey, plaintext []byte, aad AAD) ([]byte, error) {
	out := make([]byte, headerSize+nonceSize, headerSize+nonceSize+len(plaintext)+tagSize)
	out[0] = formatV1
	binary.BigEndian.PutUint32(out[1:headerSize], k.meta.ID)
	if _, err := io.ReadFull(r.rand, out[headerSize:]); err != nil {
		return nil, fmt.Errorf("vault: nonce: %w", err)
	}
	buf := aadBuffers.Get().(*[]byte)
	ad := aad.appendTo((*buf)[:0], out[:headerSize])
	out = k.aead.Seal(out, out[headerSize:], plaintext, ad)
	*buf = ad
	aadBuffers.Put(buf)
	return out, nil
}

// Decrypt opens a ciphertext made by Encrypt with the same aad. Errors wrap
// ErrMalformed, ErrUnsupportedVersion, ErrUnknownKey, ErrKeyRetired or
// ErrDecrypt (tampered, moved, or sealed under another key).
func (r *Keyring) Decrypt(ctx context.Context, ciphertext []byte, aad AAD) ([]byte, error) {
	env, err := ParseEnvelope(ciphertext)
	if err != nil {
		return nil, err
	}
	k, err := r.keyByID(ctx, env.KeyID, KeyData)
	if err != nil {
		return nil, err
	}
	buf := aadBuffers.Get().(*[]byte)
	ad := aad.appendTo((*buf)[:0], env.header)
	pt, err := k.aead.Open(nil, env.Nonce, env.Sealed, ad)
	*buf = ad
	aadBuffers.Put(buf)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// KEKs returns the KEK set the key ring wraps with.
func (r *Keyring) KEKs() *KEKSet { return r.keks }
