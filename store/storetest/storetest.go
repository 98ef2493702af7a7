// Package storetest opens real databases for tests: a SQLite file in a
// temporary directory, and, when VAULTPAGE_TEST_DATABASE_URL names a
// PostgreSQL server, a fresh schema on it for each test. With PG_REQUIRED=1 a
// missing PostgreSQL fails the test instead of skipping it.
package storetest

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"testing"

	"github.com/vaultpage/vaultpage/internal/testkit"
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
// dropped when the test ends (testkit.PostgresSchemaURL). It skips the
// test when no server is configured, unless PG_REQUIRED=1.
func PostgresURL(t testing.TB) string {
	t.Helper()
	return testkit.PostgresSchemaURL(t)
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
