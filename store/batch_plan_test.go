package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vaultpage/vaultpage/internal/testkit"
)

// Batches of decisions keep one plan for their lock once the cards table
// has grown: without beginBatch's setting, PostgreSQL planned it afresh on
// every batch (a custom plan each time), which took a quarter of its time
// per decision after 20,000 card creations.
func TestDecisionBatchesKeepOnePlanForTheirLock(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, testkit.PostgresSchemaURL(t), "")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	const partner, individual, account = "p-1", "i-1", "a-1"
	now := time.Now().UTC()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO partners (id, name, return_urls, created_at) VALUES ($1, 'Plans', '', $2)`, []any{partner, now}},
		{`INSERT INTO individuals (id, partner_id, first_name, last_name, email, phone, locale, created_at)
			VALUES ($1, $2, 'A', 'B', 'a@example.com', '', 'en', $3)`, []any{individual, partner, now}},
		{`INSERT INTO accounts (id, partner_id, individual_id, currency, created_at) VALUES ($1, $2, $3, 'EUR', $4)`,
			[]any{account, partner, individual, now}},
		{`INSERT INTO cards (id, partner_id, account_id, individual_id, display_name, type, brand, region, currency, last4,
			exp_month, exp_year, status, spend_limit_duration, created_at, updated_at, version)
			SELECT 'c-' || g, $1, $2, $3, 'Plans', 'virtual', 'visa', 'europe', 'EUR', '0000', 12, 2029, 'active', '', $4, $4, 1
			FROM generate_series(1, 5000) g`, []any{partner, account, individual, now}},
		{`ANALYZE cards`, nil},
	} {
		if _, err := db.sql.ExecContext(ctx, q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	err = db.withPgx(ctx, func(pc *pgx.Conn, open *bool) error {
		for i := range 10 { // past the five custom plans PostgreSQL makes before it compares
			q := &pgx.Batch{}
			beginBatch(q)
			q.Queue(lockAccountsPG, []string{partner}, []string{fmt.Sprintf("c-%d", i+1)})
			q.Queue(`ROLLBACK`)
			if err := pc.SendBatch(ctx, q).Close(); err != nil {
				return err
			}
		}
		var generic, custom int64
		if err := pc.QueryRow(ctx, `SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = $1`,
			lockAccountsPG).Scan(&generic, &custom); err != nil {
			return err
		}
		if custom != 0 || generic != 10 {
			return fmt.Errorf("the lock was planned %d times for 10 batches (%d generic plans)", custom, generic)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
