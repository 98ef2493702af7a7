// Package bureau writes the card bureau's personalisation file: the
// physical cards waiting to be made, with the number, the name, the expiry
// and the CVV2 the bureau prints on each, as one OpenPGP message encrypted
// to the bureau's public key and signed with vaultpage's key. The clear
// records exist only in memory, record by record, on their way into the
// encryption; the file on disk is ciphertext from its first byte. The
// format is docs/bureau.md.
//
// An export claims its cards and writes its file in one transaction:
//
//  1. the cards move to sent_to_bureau under a new batch id, their events
//     and the audit entry are written, and the file is written and synced
//     as BATCH.pgp.part;
//  2. the transaction commits;
//  3. the file is renamed BATCH.pgp and the directory synced.
//
// A batch that fails, or a crash between 2 and 3, leaves a .part file: the
// next export finishes (renames) the file of a batch that committed before
// it starts, and removes one of a batch that never did. Exports into one directory take turns (an
// exclusive lock on its .lock file, so that one never finishes or removes
// another's file in flight); exports anywhere, in one process or many, on
// one host or many, claim disjoint cards (card.Store.ClaimForBureau). A
// directory belongs to one host: the lock is flock(2), which network file
// systems do not all honour.
package bureau

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/google/uuid"

	"github.com/vaultpage/vaultpage/card"
)

// Format names the file format in its header.
const Format = "vaultpage-bureau/1"

// DefaultLimit is how many cards one file holds at most.
const DefaultLimit = 10_000

// Config is where the files go and the keys they are made with.
type Config struct {
	// Dir receives the files (mode 0700 when created).
	Dir string
	// Recipients are the bureau's public keys the file is encrypted to.
	Recipients openpgp.EntityList
	// Signer is vaultpage's private key the file is signed with.
	Signer *openpgp.Entity
	// Programme names the card programme in the header.
	Programme string
	// Limit bounds the cards of one file; 0 is DefaultLimit.
	Limit int
}

// ReadKeys reads the bureau's armored public key ring and vaultpage's
// armored private signing key, checking that the first can encrypt and the
// second can sign.
func ReadKeys(bureauPublic, signingPrivate io.Reader) (openpgp.EntityList, *openpgp.Entity, error) {
	to, err := openpgp.ReadArmoredKeyRing(bureauPublic)
	if err != nil {
		return nil, nil, fmt.Errorf("bureau: the bureau's public key: %w", err)
	}
	now := time.Now()
	for _, e := range to {
		if _, ok := e.EncryptionKey(now); !ok {
			return nil, nil, errors.New("bureau: the bureau's public key has no valid encryption key")
		}
	}
	signers, err := openpgp.ReadArmoredKeyRing(signingPrivate)
	if err != nil {
		return nil, nil, fmt.Errorf("bureau: the signing key: %w", err)
	}
	if len(signers) != 1 || signers[0].PrivateKey == nil || signers[0].PrivateKey.Encrypted {
		return nil, nil, errors.New("bureau: the signing key must be one unencrypted private key")
	}
	if _, ok := signers[0].SigningKey(now); !ok {
		return nil, nil, errors.New("bureau: the signing key cannot sign")
	}
	return to, signers[0], nil
}

// Cards is what an export needs of the card domain.
type Cards interface {
	SendToBureau(ctx context.Context, actor, batch string, limit int, write func(ctx context.Context, cards []card.Personalisation) error) (int, error)
	BureauBatch(ctx context.Context, batch string) (int, error)
}

// Exporter writes personalisation files.
type Exporter struct {
	cards Cards
	cfg   Config
	now   func() time.Time
}

// New builds an exporter; now defaults to time.Now.
func New(cards Cards, cfg Config, now func() time.Time) (*Exporter, error) {
	if cfg.Dir == "" || len(cfg.Recipients) == 0 || cfg.Signer == nil {
		return nil, errors.New("bureau: a directory, the bureau's public key and a signing key are required")
	}
	if cfg.Limit <= 0 {
		cfg.Limit = DefaultLimit
	}
	if now == nil {
		now = time.Now
	}
	return &Exporter{cards: cards, cfg: cfg, now: now}, nil
}

// Result is what one export wrote.
type Result struct {
	Batch string `json:"batch"`
	// File is the file's path ("" when no card waited).
	File  string `json:"file"`
	Cards int    `json:"cards"`
}

// Export finishes what an interrupted export left, then sends the cards
// that wait to the bureau in one file. actor names who exports for the
// audit trail ("operator:cli", "system:schedule").
func (x *Exporter) Export(ctx context.Context, actor string) (Result, error) {
	if err := os.MkdirAll(x.cfg.Dir, 0o700); err != nil {
		return Result{}, fmt.Errorf("bureau: %w", err)
	}
	unlock, err := lockDir(x.cfg.Dir)
	if err != nil {
		return Result{}, err
	}
	defer unlock()
	if err := x.recover(ctx); err != nil {
		return Result{}, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Result{}, err
	}
	batch := "b_" + id.String()
	final := filepath.Join(x.cfg.Dir, batch+".pgp")
	part := final + ".part"
	n, err := x.cards.SendToBureau(ctx, actor, batch, x.cfg.Limit, func(_ context.Context, cards []card.Personalisation) error {
		return x.write(part, batch, cards)
	})
	if err != nil {
		// The .part file stays: a commit can succeed and still answer an
		// error (a connection lost after COMMIT), and only the next
		// export's recovery, which counts the batch's cards, can tell.
		return Result{}, err
	}
	if n == 0 {
		return Result{Batch: batch}, nil
	}
	if err := finish(part, final); err != nil {
		return Result{}, err
	}
	return Result{Batch: batch, File: final, Cards: n}, nil
}

// recover renames the .part files of committed batches and removes those
// of batches that never committed.
func (x *Exporter) recover(ctx context.Context) error {
	parts, err := filepath.Glob(filepath.Join(x.cfg.Dir, "b_*.pgp.part"))
	if err != nil {
		return err
	}
	for _, part := range parts {
		batch := strings.TrimSuffix(filepath.Base(part), ".pgp.part")
		n, err := x.cards.BureauBatch(ctx, batch)
		if err != nil {
			return err
		}
		if n == 0 {
			if err := os.Remove(part); err != nil {
				return fmt.Errorf("bureau: %w", err)
			}
			continue
		}
		if err := finish(part, strings.TrimSuffix(part, ".part")); err != nil {
			return err
		}
	}
	return nil
}

// lockDir takes the directory's export lock, waiting for another export to
// end, and returns its release.
func lockDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(filepath.Clean(dir), ".lock"), os.O_RDWR|os.O_CREATE, 0o600) //nolint:gosec // G304: the operator's configured directory.
	if err != nil {
		return nil, fmt.Errorf("bureau: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil { //nolint:gosec // G115: a file descriptor fits an int.
		_ = f.Close()
		return nil, fmt.Errorf("bureau: lock %s: %w", dir, err)
	}
	return func() { _ = f.Close() }, nil // closing releases the lock
}

// finish renames a written .part file to its final name, durably.
func finish(part, final string) error {
	if err := os.Rename(part, final); err != nil {
		return fmt.Errorf("bureau: %w", err)
	}
	d, err := os.Open(filepath.Dir(final))
	if err != nil {
		return fmt.Errorf("bureau: %w", err)
	}
	defer func() { _ = d.Close() }()
	return d.Sync()
}

// header is the file's first line.
type header struct {
	Format    string `json:"format"`
	Batch     string `json:"batch"`
	Programme string `json:"programme"`
	CreatedAt string `json:"created_at"`
	Cards     int    `json:"cards"`
}

// record is a card's line, without its number and CVV2, which are written
// as bytes around it.
type record struct {
	CardID          string  `json:"card_id"`
	PartnerID       string  `json:"partner_id"`
	NameOnCard      string  `json:"name_on_card"`
	ExpMonth        string  `json:"exp_month"`
	ExpYear         string  `json:"exp_year"`
	Brand           string  `json:"brand"`
	ShippingAddress address `json:"shipping_address"`
}

type address struct {
	Line1      string `json:"line1"`
	Line2      string `json:"line2,omitempty"`
	City       string `json:"city"`
	PostalCode string `json:"postal_code"`
	Region     string `json:"region,omitempty"`
	Country    string `json:"country"`
}

// write encrypts and signs the file to path, synced before it returns.
func (x *Exporter) write(path, batch string, cards []card.Personalisation) (err error) {
	f, err := os.OpenFile(filepath.Clean(path), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) //nolint:gosec // G304: a batch file in the configured directory.
	if err != nil {
		return fmt.Errorf("bureau: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	cfg := &packet.Config{DefaultCipher: packet.CipherAES256, DefaultHash: 0, Time: x.now}
	plain, err := openpgp.Encrypt(f, x.cfg.Recipients, x.cfg.Signer, &openpgp.FileHints{IsBinary: true, FileName: batch + ".jsonl"}, cfg)
	if err != nil {
		return fmt.Errorf("bureau: encrypt: %w", err)
	}
	h, err := json.Marshal(header{Format: Format, Batch: batch, Programme: x.cfg.Programme, CreatedAt: x.now().UTC().Format(time.RFC3339), Cards: len(cards)})
	if err != nil {
		return err
	}
	if _, err := plain.Write(append(h, '\n')); err != nil {
		return fmt.Errorf("bureau: %w", err)
	}
	var line bytes.Buffer
	for _, p := range cards {
		if err := writeRecord(plain, &line, p); err != nil {
			return err
		}
	}
	if err := plain.Close(); err != nil {
		return fmt.Errorf("bureau: encrypt: %w", err)
	}
	return f.Sync()
}

// writeRecord writes p's line: {"pan":"…","cvv2":"…", then the record's
// other fields. The secrets go from their wipeable bytes into the
// encryption through line, which is wiped after.
func writeRecord(w io.Writer, line *bytes.Buffer, p card.Personalisation) error {
	c := p.Card
	if c.ShippingAddress == nil {
		return fmt.Errorf("bureau: card %s has no shipping address", c.ID)
	}
	a := c.ShippingAddress
	rest, err := json.Marshal(record{CardID: c.ID.String(), PartnerID: c.PartnerID.String(), NameOnCard: p.NameOnCard,
		ExpMonth: fmt.Sprintf("%02d", c.ExpMonth), ExpYear: strconv.Itoa(c.ExpYear), Brand: c.Brand,
		ShippingAddress: address{Line1: a.Line1, Line2: a.Line2, City: a.City, PostalCode: a.PostalCode, Region: a.Region, Country: a.Country}})
	if err != nil {
		return err
	}
	line.Reset()
	line.WriteString(`{"pan":"`)
	line.Write(p.Number)
	line.WriteString(`","cvv2":"`)
	line.Write(p.CVV2)
	line.WriteString(`",`)
	line.Write(rest[1:])
	line.WriteByte('\n')
	_, err = w.Write(line.Bytes())
	b := line.Bytes()
	for i := range b {
		b[i] = 0
	}
	if err != nil {
		return fmt.Errorf("bureau: %w", err)
	}
	return nil
}
