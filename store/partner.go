package store

import (
	"context"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/vaultpage/vaultpage/partner"
)

// PartnerStore implements partner.Store.
type PartnerStore struct{ db *DB }

// Partners returns the partner store on db.
func (db *DB) Partners() *PartnerStore { return &PartnerStore{db: db} }

var _ partner.Store = (*PartnerStore)(nil)

// CreatePartner implements partner.Store.
func (s *PartnerStore) CreatePartner(ctx context.Context, p partner.Partner, c partner.Client) error {
	urls, err := json.Marshal(append([]string{}, p.ReturnURLs...))
	if err != nil {
		return err
	}
	return s.db.InTx(ctx, func(ctx context.Context) error {
		q := s.db.w(ctx)
		if _, err := q.ExecContext(ctx, `INSERT INTO partners (id, name, return_urls, created_at) VALUES ($1, $2, $3, $4)`,
			p.ID.String(), p.Name, string(urls), p.CreatedAt.UTC()); err != nil {
			return err
		}
		_, err := q.ExecContext(ctx, `INSERT INTO partner_clients (id, partner_id, secret_digest, created_at) VALUES ($1, $2, $3, $4)`,
			c.ID, c.PartnerID.String(), c.SecretDigest, c.CreatedAt.UTC())
		return err
	})
}

func scanPartner(row interface{ Scan(...any) error }) (partner.Partner, error) {
	var (
		p    partner.Partner
		urls string
	)
	if err := row.Scan(&p.ID, &p.Name, &urls, &p.CreatedAt); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return p, partner.ErrNotFound
		}
		return p, err
	}
	p.CreatedAt = p.CreatedAt.UTC()
	return p, json.Unmarshal([]byte(urls), &p.ReturnURLs)
}

// Partner implements partner.Store.
func (s *PartnerStore) Partner(ctx context.Context, id uuid.UUID) (partner.Partner, error) {
	return scanPartner(s.db.q(ctx).QueryRowContext(ctx, `SELECT id, name, return_urls, created_at FROM partners WHERE id = $1`, id.String()))
}

// Client implements partner.Store.
func (s *PartnerStore) Client(ctx context.Context, id string) (partner.Client, error) {
	var c partner.Client
	err := s.db.q(ctx).QueryRowContext(ctx, `SELECT id, partner_id, secret_digest, created_at FROM partner_clients WHERE id = $1`, id).
		Scan(&c.ID, &c.PartnerID, &c.SecretDigest, &c.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return c, partner.ErrNotFound
	}
	return c, err
}

// InsertToken implements partner.Store. Expired tokens are removed on the way.
func (s *PartnerStore) InsertToken(ctx context.Context, digest []byte, partnerID uuid.UUID, expiresAt time.Time) error {
	q := s.db.w(ctx)
	if _, err := q.ExecContext(ctx, `DELETE FROM access_tokens WHERE expires_at < $1`, expiresAt.Add(-2*partner.TokenTTL)); err != nil {
		return err
	}
	_, err := q.ExecContext(ctx, `INSERT INTO access_tokens (digest, partner_id, expires_at) VALUES ($1, $2, $3)`,
		digest, partnerID.String(), expiresAt.UTC())
	return err
}

// AddSigningKey implements partner.Store.
func (s *PartnerStore) AddSigningKey(ctx context.Context, partnerID uuid.UUID, k partner.SigningKey) error {
	_, err := s.db.w(ctx).ExecContext(ctx, `INSERT INTO partner_signing_keys (partner_id, key_id, alg, public_key, created_at)
		VALUES ($1, $2, $3, $4, $5)`, partnerID.String(), k.KeyID, string(k.Alg), k.PublicDER, k.CreatedAt.UTC())
	if isUniqueViolation(err) {
		return fmt.Errorf("%w: key id %q is taken", partner.ErrInvalidInput, k.KeyID)
	}
	return err
}

// SigningKeys implements partner.Store.
func (s *PartnerStore) SigningKeys(ctx context.Context, partnerID uuid.UUID) ([]partner.SigningKey, error) {
	return list(ctx, s.db, `SELECT key_id, alg, public_key, created_at FROM partner_signing_keys WHERE partner_id = $1 ORDER BY key_id`,
		[]any{partnerID.String()}, func(row interface{ Scan(...any) error }) (partner.SigningKey, error) {
			var k partner.SigningKey
			if err := row.Scan(&k.KeyID, &k.Alg, &k.PublicDER, &k.CreatedAt); err != nil {
				return k, err
			}
			pub, err := x509.ParsePKIXPublicKey(k.PublicDER)
			k.Public, k.CreatedAt = pub, k.CreatedAt.UTC()
			return k, err
		})
}

// TokenPartner implements partner.Store.
func (s *PartnerStore) TokenPartner(ctx context.Context, digest []byte, now time.Time) (partner.Partner, time.Time, error) {
	var (
		p       partner.Partner
		urls    string
		expires time.Time
	)
	err := s.db.q(ctx).QueryRowContext(ctx, `SELECT p.id, p.name, p.return_urls, p.created_at, t.expires_at
		FROM access_tokens t JOIN partners p ON p.id = t.partner_id
		WHERE t.digest = $1 AND t.expires_at > $2`, digest, now.UTC()).Scan(&p.ID, &p.Name, &urls, &p.CreatedAt, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return p, expires, partner.ErrNotFound
	}
	if err != nil {
		return p, expires, err
	}
	p.CreatedAt = p.CreatedAt.UTC()
	return p, expires.UTC(), json.Unmarshal([]byte(urls), &p.ReturnURLs)
}

// Branding implements partner.Store.
func (s *PartnerStore) Branding(ctx context.Context, partnerID uuid.UUID) (partner.Branding, error) {
	var (
		b         partner.Branding
		ancestors string
	)
	err := s.db.q(ctx).QueryRowContext(ctx, `SELECT color, logo, frame_ancestors FROM partner_branding WHERE partner_id = $1`,
		partnerID.String()).Scan(&b.Color, &b.Logo, &ancestors)
	if errors.Is(err, sql.ErrNoRows) {
		return partner.Branding{}, nil
	}
	if err != nil {
		return b, err
	}
	return b, json.Unmarshal([]byte(ancestors), &b.FrameAncestors)
}

// SetBranding implements partner.Store.
func (s *PartnerStore) SetBranding(ctx context.Context, partnerID uuid.UUID, b partner.Branding) error {
	if b.FrameAncestors == nil {
		b.FrameAncestors = []string{}
	}
	ancestors, err := json.Marshal(b.FrameAncestors)
	if err != nil {
		return err
	}
	var logo any
	if len(b.Logo) > 0 {
		logo = b.Logo
	}
	res, err := s.db.w(ctx).ExecContext(ctx, `INSERT INTO partner_branding (partner_id, color, logo, frame_ancestors, updated_at)
		SELECT id, $2, $3, $4, $5 FROM partners WHERE id = $1
		ON CONFLICT (partner_id) DO UPDATE SET color = excluded.color, logo = excluded.logo,
			frame_ancestors = excluded.frame_ancestors, updated_at = excluded.updated_at`,
		partnerID.String(), b.Color, logo, string(ancestors), time.Now().UTC())
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return errors.Join(partner.ErrNotFound, err)
	}
	return nil
}
