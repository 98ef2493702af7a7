package testkit

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// PostgresSchemaURL returns a URL to a fresh, empty schema on the test server,
// dropped when the test ends, with a pool of 4 connections unless the base
// URL names another pool_max_conns. It skips the test when no server is
// configured, unless PG_REQUIRED=1.
func PostgresSchemaURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("VAULTPAGE_TEST_DATABASE_URL")
	if base == "" {
		if os.Getenv("PG_REQUIRED") == "1" {
			t.Fatal("PG_REQUIRED=1 but VAULTPAGE_TEST_DATABASE_URL is not set")
		}
		t.Skip("PostgreSQL tests skipped: set VAULTPAGE_TEST_DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test) to run them")
	}
	admin, err := sql.Open("pgx", PlainURL(base))
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	defer func() { _ = admin.Close() }()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	schema := "vp_test_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(context.Background(), `CREATE SCHEMA `+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		a, err := sql.Open("pgx", PlainURL(base))
		if err != nil {
			return
		}
		defer func() { _ = a.Close() }()
		_, _ = a.ExecContext(context.Background(), `DROP SCHEMA `+schema+` CASCADE`)
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse VAULTPAGE_TEST_DATABASE_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	if q.Get("pool_max_conns") == "" {
		// Tests share the server with other packages' tests, and maybe other
		// clients: every handle a test opens stays small.
		q.Set("pool_max_conns", "4")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// PlainURL is a PostgreSQL URL without vaultpage's pool_max_conns, for
// opening it with the pgx driver directly (which would send it to the
// server as a setting).
func PlainURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	q := p.Query()
	q.Del("pool_max_conns")
	p.RawQuery = q.Encode()
	return p.String()
}
