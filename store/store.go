// Package store persists vaultpage's data in SQLite (the embedded default,
// through the pure-Go modernc.org/sqlite driver, WAL mode) or PostgreSQL
// (through pgx). It implements the interfaces the domain packages declare,
// with one set of SQL for both where the dialects agree. Migrations are
// embedded and run by goose.
//
// Everything that must be decided once across several vaultpage processes
// (a key's encryption budget, an index claim, a compare-and-swap of a
// ciphertext) is decided by the database in one statement or transaction.
//
// On SQLite, transactions that wait for the single writer share a commit
// (group.go), and a background connection checkpoints the WAL, so that a
// durable commit (synchronous=FULL) costs one WAL write and fsync per group
// rather than per transaction. On PostgreSQL, where each statement is a
// round trip, the hot paths are few statements (an authorisation decision
// is two pipelined round trips, see SpendStore.Decide).
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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

// DB is a migrated database handle shared by the stores. For SQLite, sql is
// a single-connection pool that every write and transaction goes through
// (SQLite has one writer; queueing in the pool beats busy-waiting on the
// file lock) and read is a pool for reads outside transactions. For
// PostgreSQL both are the same pool.
type DB struct {
	sql     *sql.DB
	read    *sql.DB
	dialect Dialect
	// dir is the SQLite file's directory ("" on PostgreSQL), whose
	// volume's free space readiness checks.
	dir string
	// ckpt, on SQLite, checkpoints the WAL in the background until stop
	// closes; on PostgreSQL a goroutine chains audit entries until then.
	// stopped closes when the background work has.
	ckpt *sql.DB
	// ckptMu keeps the passive checkpoints and the writer's WAL resets
	// apart: SQLite runs one checkpoint at a time, and a reset that found
	// a passive round running was refused, so that under a fast stream of
	// writes the WAL grew past twice its bound before a reset got through.
	ckptMu        sync.Mutex
	stop, stopped chan struct{}
	closeOnce     sync.Once
	// stmts and wstmts cache prepared statements on the read and write
	// pools by query text; queries are constants or built from a bounded
	// set of filters.
	stmts, wstmts sync.Map
	// group commits SQLite transactions together (see group.go); nil on
	// PostgreSQL.
	group *committer
	// batch makes PostgreSQL decisions in shared transactions (see
	// batch.go); nil on SQLite.
	batch *batcher
	// instance names this process's readiness probe row.
	instance string
	// walPath is the SQLite WAL file's path; walTried is when the group
	// committer last tried to reset the WAL (its goroutine alone reads and
	// writes it); walResets and walBusy count the resets made and refused.
	walPath            string
	walTried           time.Time
	walResets, walBusy atomic.Int64
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
	// A background connection checkpoints the WAL, passively, so that no
	// request waits for it to be copied into the database file, and resets
	// it past walLimit (see checkpoint); a commit
	// checkpoints only if the WAL has outgrown 100,000 pages all the same
	// (a reader held on to old frames for long, say).
	for _, p := range []string{"journal_mode(WAL)", "busy_timeout(10000)", "foreign_keys(1)", "synchronous(FULL)", "wal_autocheckpoint(100000)",
		"journal_size_limit(8388608)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	s, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite: %w", err)
	}
	s.SetMaxOpenConns(1)
	s.SetMaxIdleConns(1)
	s.SetConnMaxIdleTime(0)
	if err := s.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("store: open sqlite: %w", err), s.Close())
	}
	// The database file holds only ciphertext, but it is nobody else's business.
	if err := os.Chmod(path, 0o600); err != nil {
		return nil, errors.Join(fmt.Errorf("store: sqlite file mode: %w", err), s.Close())
	}
	q.Set("_txlock", "deferred")
	q.Add("_pragma", "query_only(1)")
	r, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, errors.Join(fmt.Errorf("store: open sqlite: %w", err), s.Close())
	}
	n := max(4, 2*runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	q.Del("_pragma")
	for _, p := range []string{"busy_timeout(10000)", "wal_autocheckpoint(0)"} {
		q.Add("_pragma", p)
	}
	c, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, errors.Join(fmt.Errorf("store: open sqlite: %w", err), s.Close(), r.Close())
	}
	c.SetMaxOpenConns(1)
	db := &DB{sql: s, read: r, ckpt: c, dialect: SQLite, stop: make(chan struct{}), stopped: make(chan struct{}), instance: instanceID(),
		dir: filepath.Dir(path)}
	db.walPath = path + "-wal"
	db.group = newCommitter(db)
	go db.checkpoint() //nolint:gosec // It lives as long as the handle, not as the context that opened it.
	return db, nil
}

// checkpointEvery is how often the background connection checkpoints the
// SQLite WAL.
const checkpointEvery = 250 * time.Millisecond

// walLimit bounds the WAL: past it the writer resets it. Under sustained
// writes a passive checkpoint never finds the WAL still, so SQLite never
// starts it over and it grows without end (393 MiB in 20 s of card orders
// at 250/s, measured); a TRUNCATE checkpoint run by the writer itself,
// right after the group commit that took the WAL past the limit, copies
// what the passive rounds left, waits for the readers, and empties the
// file.
const walLimit = 8 << 20

// checkpoint copies committed WAL frames into the database file, PASSIVE:
// it never blocks writers or readers, and leaves frames a reader still
// needs for the next round. Resetting the WAL is the group committer's
// (walTooLarge, resetWAL).
func (db *DB) checkpoint() {
	defer close(db.stopped)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-db.stop:
			db.ckptMu.Lock()
			_, _ = db.ckpt.ExecContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`)
			db.ckptMu.Unlock()
			return
		case <-t.C:
			if db.ckptMu.TryLock() { // a reset runs: it checkpoints everything
				_, _ = db.ckpt.ExecContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`)
				db.ckptMu.Unlock()
			}
		}
	}
}

// walTooLarge reports whether the WAL file has outgrown walLimit; the group
// committer asks after every commit (a stat of the file).
func (db *DB) walTooLarge() bool {
	st, err := os.Stat(db.walPath)
	return err == nil && st.Size() > walLimit
}

// resetWAL checkpoints the whole WAL and truncates it, on the writer's own
// connection: the group committer calls it between commits, when no write
// transaction is open. A reader that still holds an old snapshot (a backup,
// an operator's shell, a long read) keeps the WAL from being reset; the
// reset then waits for it at most walResetWait, is tried again at most once
// a walResetEvery, and is counted as busy (WALResets), so that writers never
// queue behind it.
func (db *DB) resetWAL() {
	now := time.Now()
	if now.Sub(db.walTried) < walResetEvery {
		return
	}
	db.walTried = now
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	conn, err := db.sql.Conn(ctx)
	if err != nil {
		db.walBusy.Add(1)
		return
	}
	defer func() { _ = conn.Close() }()
	if _, err := conn.ExecContext(ctx, `PRAGMA busy_timeout = `+strconv.Itoa(int(walResetWait/time.Millisecond))); err != nil {
		db.walBusy.Add(1)
		return
	}
	defer func() { _, _ = conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA busy_timeout = 10000`) }()
	db.ckptMu.Lock() // waits for a passive round to end
	defer db.ckptMu.Unlock()
	var busy, frames, done int64
	if err := conn.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &frames, &done); err != nil || busy != 0 {
		db.walBusy.Add(1)
		return
	}
	db.walResets.Add(1)
}

// How long a WAL reset may wait for readers, and how often it is tried.
const (
	walResetWait  = 20 * time.Millisecond
	walResetEvery = 100 * time.Millisecond
)

// WALResets says how many times the SQLite WAL was reset, and how many
// times a reset could not be made because a reader held the WAL (for
// /metrics; zero on PostgreSQL).
func (db *DB) WALResets() (done, busy int64) { return db.walResets.Load(), db.walBusy.Load() }

// chainEvery is how often a PostgreSQL process chains the audit entries
// waiting (see AuditStore.ChainAudit).
const chainEvery = time.Second

// chain chains waiting audit entries in the background until stop closes,
// and once more then.
func (db *DB) chain() {
	defer close(db.stopped)
	t := time.NewTicker(chainEvery)
	defer t.Stop()
	run := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = db.Audit().ChainAudit(ctx) // a failed round is retried by the next
	}
	for {
		select {
		case <-db.stop:
			run()
			return
		case <-t.C:
			run()
		}
	}
}

func openPostgres(ctx context.Context, databaseURL string) (*DB, error) {
	databaseURL, conns, err := poolSize(databaseURL)
	if err != nil {
		return nil, err
	}
	s, err := sql.Open("pgx", databaseURL)
	if err != nil {
		return nil, fmt.Errorf("store: open postgres: %w", err)
	}
	if err := s.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("store: connect postgres: %w", err), s.Close())
	}
	// Bounded, so that many vaultpage instances fit in max_connections.
	s.SetMaxOpenConns(conns)
	s.SetMaxIdleConns(conns)
	s.SetConnMaxLifetime(30 * time.Minute)
	db := &DB{sql: s, read: s, dialect: Postgres, stop: make(chan struct{}), stopped: make(chan struct{}), instance: instanceID()}
	db.batch = newBatcher(db)
	go db.chain()
	return db, nil
}

// postgresConns is the size of a process's PostgreSQL pool, unless the
// URL's pool_max_conns says otherwise.
const postgresConns = 24

// poolSize takes pool_max_conns (1 to 1000) out of a PostgreSQL URL, where
// PostgreSQL would take it for a server setting, and returns the URL
// without it and the pool size. A server that other clients share, or many
// vaultpage instances, may need a smaller pool than the default.
func poolSize(databaseURL string) (string, int, error) {
	u, err := url.Parse(databaseURL)
	if err != nil {
		return "", 0, errors.New("store: the database url is not a URL")
	}
	q := u.Query()
	v := q.Get("pool_max_conns")
	if v == "" {
		return databaseURL, postgresConns, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 1000 {
		return "", 0, errors.New("store: pool_max_conns in the database url must be a number from 1 to 1000")
	}
	q.Del("pool_max_conns")
	u.RawQuery = q.Encode()
	return u.String(), n, nil
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
func (db *DB) Ping(ctx context.Context) error { return db.read.PingContext(ctx) }

// MinFreeSpace is the free space on a SQLite database's volume below which
// the store is not ready: room for the write-ahead log to grow by more
// than a batch of group-committed transactions.
const MinFreeSpace = 1 << 20

// instanceID names a process's readiness row: its host and process id and
// a random part, so that processes never share one.
func instanceID() string {
	host, _ := os.Hostname()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s/%d/%x", host, os.Getpid(), b)
}

// Ready reports whether the store can take traffic: it answers, and it can
// write (a probe row per process, rewritten each time). A full disk, a
// read-only database or a PostgreSQL that is down makes it not ready. On
// SQLite a volume with less than MinFreeSpace left is full: a small write
// that fits in the space the write-ahead log already holds still succeeds
// there, so the probe row alone does not always see it.
func (db *DB) Ready(ctx context.Context) error {
	if err := db.Ping(ctx); err != nil {
		return err
	}
	if db.dir != "" {
		if free, known := freeSpace(db.dir); known && free < MinFreeSpace {
			return fmt.Errorf("store: %d bytes left on the database's volume, less than %d", free, MinFreeSpace)
		}
	}
	_, err := db.sql.ExecContext(ctx, `INSERT INTO health (id, at) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET at = excluded.at`,
		db.instance, time.Now().UTC())
	return err
}

// Close lets queued transactions finish and closes the connection pools.
func (db *DB) Close() error {
	if db.group != nil {
		db.group.close()
	}
	if db.batch != nil {
		db.batch.close()
	}
	if db.stop != nil { // the checkpointer (SQLite) or the audit chainer (PostgreSQL)
		db.closeOnce.Do(func() { close(db.stop) })
		<-db.stopped
	}
	if db.ckpt != nil {
		_ = db.ckpt.Close()
	}
	for _, m := range []*sync.Map{&db.stmts, &db.wstmts} {
		m.Range(func(_, s any) bool {
			if st, ok := s.(*sql.Stmt); ok {
				_ = st.Close()
			}
			return true
		})
	}
	if db.read != db.sql {
		return errors.Join(db.read.Close(), db.sql.Close())
	}
	return db.sql.Close()
}

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

// q returns the transaction InTx put in ctx, or the read pool, both with
// prepared statements.
func (db *DB) q(ctx context.Context) querier {
	if tx, ok := ctx.Value(txKey{}).(*sql.Tx); ok {
		return txq{db, tx}
	}
	return reader{db}
}

// prepared returns the cached statement for query on pool, preparing it once.
func prepared(ctx context.Context, cache *sync.Map, pool *sql.DB, query string) (*sql.Stmt, error) {
	if s, ok := cache.Load(query); ok {
		return s.(*sql.Stmt), nil
	}
	s, err := pool.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := cache.LoadOrStore(query, s); loaded {
		_ = s.Close()
		return prev.(*sql.Stmt), nil
	}
	return s, nil
}

// txq runs a transaction's statements through statements prepared on the
// write pool; sql.Tx.StmtContext reuses them on the transaction's connection.
// A statement not prepared yet runs unprepared once and is prepared in the
// background: preparing it on the pool now could wait for the very
// connection the transaction holds (SQLite has one).
type txq struct {
	db *DB
	tx *sql.Tx
}

// preparing marks a write statement whose background preparation started.
type preparing struct{}

func (t txq) stmt(ctx context.Context, query string) *sql.Stmt {
	v, ok := t.db.wstmts.Load(query)
	if s, isStmt := v.(*sql.Stmt); ok && isStmt {
		return t.tx.StmtContext(ctx, s)
	}
	if _, started := t.db.wstmts.LoadOrStore(query, preparing{}); !started {
		// Detached from the request on purpose: the preparation must outlive
		// the transaction that needs the connection it prepares on.
		go func() { //nolint:gosec // See above.
			pctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			s, err := t.db.sql.PrepareContext(pctx, query)
			if err != nil {
				t.db.wstmts.Delete(query)
				return
			}
			t.db.wstmts.Store(query, s)
		}()
	}
	return nil
}

func (t txq) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s := t.stmt(ctx, query); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, query, args...)
}

func (t txq) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s := t.stmt(ctx, query); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, query, args...)
}

func (t txq) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if s := t.stmt(ctx, query); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, query, args...)
}

// reader runs reads outside transactions through cached prepared statements,
// which spares SQLite and PostgreSQL parsing and planning the same query on
// every request.
type reader struct{ db *DB }

func (r reader) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	return prepared(ctx, &r.db.stmts, r.db.read, query)
}

func (r reader) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return r.db.sql.ExecContext(ctx, query, args...)
}

func (r reader) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	s, err := r.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return s.QueryContext(ctx, args...)
}

func (r reader) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	s, err := r.stmt(ctx, query)
	if err != nil {
		return r.db.read.QueryRowContext(ctx, query, args...)
	}
	return s.QueryRowContext(ctx, args...)
}

// w returns the transaction InTx put in ctx, or the write pool.
func (db *DB) w(ctx context.Context) querier {
	if tx, ok := ctx.Value(txKey{}).(*sql.Tx); ok {
		return txq{db, tx}
	}
	return db.sql
}

// InTx runs fn in one database transaction: every store method called with
// the context fn receives joins it, so that a card, its sealed number, its
// index claim and its audit entry commit together or not at all. Nested calls
// join the outer transaction. On SQLite, transactions waiting for the
// writer share a commit (group.go).
func (db *DB) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if _, ok := ctx.Value(txKey{}).(*sql.Tx); ok {
		return fn(ctx)
	}
	if db.group != nil {
		return db.group.do(ctx, fn)
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
