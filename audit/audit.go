// Package audit is vaultpage's append-only audit trail: who did what, when,
// from where and with what result, for every card status change, reveal,
// PIN operation, failed authentication and key operation. Entries are
// hash-chained: each one's hash covers its content and the previous hash, so
// that editing or deleting a row breaks the chain and Verify finds it.
//
// The chain shows tampering by someone who cannot recompute it; an attacker
// with write access to the database could rewrite the whole chain from the
// edited row on. Operators anchor the chain by exporting the head hash that
// `vaultpage audit verify` prints to a separate system.
//
// On SQLite an entry is chained as it is appended. On PostgreSQL it is
// written, in the transaction of the change it records, to a table of
// entries waiting, and chained after commit by one chainer at a time
// (every process runs one each second, and every read chains first):
// appends then take no lock, where chaining in the request made every
// audited write wait for the one before it to commit. Until it is chained,
// about a second, an entry is not covered by the chain.
package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Entry is one audit record. Details never hold secrets: no PAN beyond the
// last four digits, no PIN, code, token or key.
type Entry struct {
	Seq      int64
	At       time.Time
	Actor    string // "partner:<id>", "cardholder:<id>", "operator"
	Action   string // "card.created", "card.status_changed", "key.rotated", ...
	Target   string // "card:<id>", "key:<id>"
	Result   string // "ok", "denied", "failed"
	Source   string // client IP or "cli"
	Details  map[string]string
	PrevHash []byte
	Hash     []byte
}

// Store appends and reads entries. Append must run in the caller's
// transaction where there is one, and the chain must have one head:
// appenders are serialised, or entries are chained after commit by one
// chainer at a time.
type Store interface {
	// AppendAudit stores e to be chained: given the next sequence number,
	// the current head as PrevHash and its hash (hash is Hash, from Log),
	// now or by the chainer after the caller's transaction commits.
	AppendAudit(ctx context.Context, e Entry, hash func(Entry) []byte) (Entry, error)
	// AuditEntries returns up to limit chained entries with Seq > after, in
	// order, every entry committed before the call chained.
	AuditEntries(ctx context.Context, after int64, limit int) ([]Entry, error)
}

// Hash computes an entry's chain hash: SHA-256 over a length-prefixed
// encoding of every field and the previous hash.
func Hash(e Entry) []byte {
	h := sha256.New()
	var n [8]byte
	field := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	field([]byte("vaultpage/audit/v1"))
	binary.BigEndian.PutUint64(n[:], uint64(e.Seq)) //nolint:gosec // Sequence numbers are positive.
	h.Write(n[:])
	field([]byte(e.At.UTC().Format(time.RFC3339Nano)))
	for _, s := range []string{e.Actor, e.Action, e.Target, e.Result, e.Source} {
		field([]byte(s))
	}
	keys := make([]string, 0, len(e.Details))
	for k := range e.Details {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	binary.BigEndian.PutUint64(n[:], uint64(len(keys)))
	h.Write(n[:])
	for _, k := range keys {
		field([]byte(k))
		field([]byte(e.Details[k]))
	}
	field(e.PrevHash)
	return h.Sum(nil)
}

// Log appends entries.
type Log struct {
	store Store
	now   func() time.Time
}

// NewLog builds a log; now defaults to time.Now.
func NewLog(s Store, now func() time.Time) *Log {
	if now == nil {
		now = time.Now
	}
	return &Log{store: s, now: now}
}

// Append records e (At is set from the clock when zero, Source from the
// context when empty, see WithSource). Called with a context that carries a
// store transaction, the entry commits with it.
func (l *Log) Append(ctx context.Context, e Entry) error {
	if e.At.IsZero() {
		e.At = l.now().UTC()
	}
	if e.Source == "" {
		e.Source = SourceOf(ctx)
	}
	if e.Result == "" {
		e.Result = "ok"
	}
	_, err := l.store.AppendAudit(ctx, e, Hash)
	return err
}

type sourceKey struct{}

// WithSource returns ctx carrying where a request comes from (the client
// address), for every entry appended with it that names no source itself:
// the HTTP edge sets it once per request, so that the entries domain code
// writes say where the request came from.
func WithSource(ctx context.Context, source string) context.Context {
	return context.WithValue(ctx, sourceKey{}, source)
}

// SourceOf returns what WithSource put in ctx, or "".
func SourceOf(ctx context.Context) string {
	s, _ := ctx.Value(sourceKey{}).(string)
	return s
}

// ErrBroken says the chain does not verify at a sequence number.
var ErrBroken = errors.New("audit: chain broken")

// BrokenError tells where the chain broke and how.
type BrokenError struct {
	Seq    int64
	Reason string
}

func (e *BrokenError) Error() string {
	return fmt.Sprintf("audit: chain broken at entry %d: %s", e.Seq, e.Reason)
}

// Unwrap returns ErrBroken.
func (e *BrokenError) Unwrap() error { return ErrBroken }

// Report is what Verify found.
type Report struct {
	Entries int64  `json:"entries"`
	Head    string `json:"head_hash"`
}

// Verify walks the whole chain and recomputes every hash. It returns a
// *BrokenError at the first edited, inserted or deleted entry.
func Verify(ctx context.Context, s Store) (Report, error) {
	var (
		rep  Report
		prev []byte
		seq  int64
	)
	for {
		batch, err := s.AuditEntries(ctx, seq, 1000)
		if err != nil {
			return rep, err
		}
		if len(batch) == 0 {
			rep.Head = hex.EncodeToString(prev)
			return rep, nil
		}
		for _, e := range batch {
			switch {
			case e.Seq != seq+1:
				return rep, &BrokenError{Seq: seq + 1, Reason: "entry missing"}
			case !bytes.Equal(e.PrevHash, prev):
				return rep, &BrokenError{Seq: e.Seq, Reason: "previous hash does not match"}
			case !bytes.Equal(Hash(e), e.Hash):
				return rep, &BrokenError{Seq: e.Seq, Reason: "content does not match its hash"}
			}
			prev, seq = e.Hash, e.Seq
			rep.Entries++
		}
	}
}
