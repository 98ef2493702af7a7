// Package store persists vaultpage's data in SQLite (the embedded default,
// through the pure-Go modernc.org/sqlite driver, WAL mode) or PostgreSQL
// (through pgx). It implements the interfaces the domain packages declare,
// with one set of SQL for both where the dialects agree. Migrations are
// embedded and run by goose.
//
// Everything that must be decided once across several vaultpage processes
// (a key's encryption budget, an index claim, a compare-and-swap of a
// ciphertext) is decided by the database in one statement or transaction.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations
var migrations embed.FS

// Dialect names the database engine behind a DB.
type Dialect string

// Supported dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DB is a migrated database handle shared by the stores.
type DB struct {
	sql     *sql.DB
	dialect Dialect
}

// SQLiteFile is the database file name inside the data directory.
const SQLiteFile = "vaultpage.db"

// Open connects to databaseURL, or when it is empty to the SQLite database
// in dataDir (created with mode 0700 if missing), and runs the embedded
// migrations. A postgres:// or postgresql:// URL selects PostgreSQL; a
// sqlite: or file: URL names a SQLite file.
func Open(ctx context.Context, databaseURL, dataDir string) (*DB, error) {
	var (
		db  *DB
		err error
	)
	switch {
	case strings.HasPrefix(databaseURL, "postgres://"), strings.HasPrefix(databaseURL, "postgresql://"):
		db, err = openPostgres(ctx, databaseURL)
	case databaseURL == "":
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("store: data directory: %w", err)
		}
		db, err = openSQLite(ctx, filepath.Join(dataDir, SQLiteFile))
	case strings.HasPrefix(databaseURL, "sqlite:"):
		db, err = openSQLite(ctx, strings.TrimPrefix(strings.TrimPrefix(databaseURL, "sqlite:"), "//"))
	case strings.HasPrefix(databaseURL, "file:"):
		db, err = openSQLite(ctx, strings.SplitN(strings.TrimPrefix(databaseURL, "file:"), "?", 2)[0])
	default:
		return nil, errors.New("store: the database url must be postgres://…, sqlite:PATH or file:PATH")
	}
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		return nil, errors.Join(err, db.Close())
	}
	return db, nil
}

func openSQLite(ctx context.Context, path string) (*DB, error) {
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "busy_timeout(10000)", "foreign_keys(1)", "synchronous(FULL)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	s, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite: %w", err)
	}
	if err := s.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("store: open sqlite: %w", err), s.Close())
	}
	// The database file holds only ciphertext, but it is nobody else's business.
	if err := os.Chmod(path, 0o600); err != nil {
		return nil, errors.Join(fmt.Errorf("store: sqlite file mode: %w", err), s.Close())
	}
	return &DB{sql: s, dialect: SQLite}, nil
}

func openPostgres(ctx context.Context, databaseURL string) (*DB, error) {
	s, err := sql.Open("pgx", databaseURL)
	if err != nil {
		return nil, fmt.Errorf("store: open postgres: %w", err)
	}
	if err := s.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("store: connect postgres: %w", err), s.Close())
	}
	return &DB{sql: s, dialect: Postgres}, nil
}

// Migrate brings the schema up to date. It is safe to run while other
// processes use the database.
func (db *DB) Migrate(ctx context.Context) error {
	sub, err := fs.Sub(migrations, "migrations/"+string(db.dialect))
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	gd := goose.DialectSQLite3
	if db.dialect == Postgres {
		gd = goose.DialectPostgres
	}
	p, err := goose.NewProvider(gd, db.sql, sub)
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	return nil
}

// Dialect reports the engine.
func (db *DB) Dialect() Dialect { return db.dialect }

// Ping checks the database answers, for readiness probes.
func (db *DB) Ping(ctx context.Context) error { return db.sql.PingContext(ctx) }

// Close closes the connection pool.
func (db *DB) Close() error { return db.sql.Close() }

// isUniqueViolation reports whether err is a unique or primary key violation.
func isUniqueViolation(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "23505"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

type txKey struct{}

// q returns the transaction InTx put in ctx, or the pool.
func (db *DB) q(ctx context.Context) querier {
	if tx, ok := ctx.Value(txKey{}).(*sql.Tx); ok {
		return tx
	}
	return db.sql
}

// InTx runs fn in one database transaction: every store method called with
// the context fn receives joins it, so that a card, its sealed number, its
// index claim and its audit entry commit together or not at all. Nested calls
// join the outer transaction.
func (db *DB) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if _, ok := ctx.Value(txKey{}).(*sql.Tx); ok {
		return fn(ctx)
	}
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(context.WithValue(ctx, txKey{}, tx)); err != nil {
		return errors.Join(err, tx.Rollback())
	}
	return tx.Commit()
}

// placeholders returns "$from, $from+1, …" for n values.
func placeholders(from, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d", from+i)
	}
	return b.String()
}

// ExecForTest runs a statement directly, for tests that tamper with rows to
// prove that tampering is detected. Production code never calls it.
func (db *DB) ExecForTest(ctx context.Context, query string) error {
	_, err := db.sql.ExecContext(ctx, query)
	return err
}
