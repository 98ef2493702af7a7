// Package storetest opens real databases for tests: a SQLite file in a
// temporary directory, and, when VAULTPAGE_TEST_DATABASE_URL names a
// PostgreSQL server, a fresh schema on it for each test. With PG_REQUIRED=1 a
// missing PostgreSQL fails the test instead of skipping it.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"io"
	"log/slog"
	"net/url"
	"os"
	"testing"

	"github.com/vaultpage/vaultpage/store"
	"github.com/vaultpage/vaultpage/vault"
)

// Backend is one database a conformance test runs against.
type Backend struct {
	Name string
	Open func(t testing.TB) *store.DB
}

// Backends returns SQLite and, where configured, PostgreSQL.
func Backends() []Backend {
	return []Backend{{Name: "sqlite", Open: SQLite}, {Name: "postgres", Open: Postgres}}
}

// SQLite opens a migrated SQLite database in a temporary directory.
func SQLite(t testing.TB) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), "", t.TempDir())
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// PostgresURL returns a URL to a fresh, empty schema on the test server,
// dropped when the test ends. It skips the test when no server is
// configured, unless PG_REQUIRED=1.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("VAULTPAGE_TEST_DATABASE_URL")
	if base == "" {
		if os.Getenv("PG_REQUIRED") == "1" {
			t.Fatal("PG_REQUIRED=1 but VAULTPAGE_TEST_DATABASE_URL is not set")
		}
		t.Skip("PostgreSQL tests skipped: set VAULTPAGE_TEST_DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test) to run them")
	}
	admin, err := sql.Open("pgx", base)
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
		a, err := sql.Open("pgx", base)
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
	u.RawQuery = q.Encode()
	return u.String()
}

// Postgres opens a migrated database in a fresh schema (see PostgresURL).
func Postgres(t testing.TB) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), PostgresURL(t), "")
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// Keyring opens the vault on db under a fresh random software KEK, closed
// when the test ends; logs go nowhere.
func Keyring(t testing.TB, db *store.DB) *vault.Keyring {
	t.Helper()
	key := make([]byte, vault.KEKSize)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	kek, err := vault.NewSoftwareKEK(key)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := vault.Open(context.Background(), vault.Options{Store: db.Vault(), KEKs: vault.NewKEKSet(kek), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("open keyring: %v", err)
	}
	t.Cleanup(ring.Close)
	return ring
}
