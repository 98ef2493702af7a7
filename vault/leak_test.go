package vault_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/vaultpage/vaultpage/internal/panscan"
	"github.com/vaultpage/vaultpage/store"
	"github.com/vaultpage/vaultpage/vault"
)

// scanDir returns every PAN-shaped number in the files of dir.
func scanDir(t *testing.T, dir, prefix string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		found = append(found, panscan.Find(b, prefix)...)
	}
	return found
}

func TestDatabaseFilesHoldNoPANInClear(t *testing.T) {
	if testing.Short() {
		t.Skip("issues 2,000 cards")
	}
	ctx := context.Background()
	dir := t.TempDir()
	db, err := store.Open(ctx, "", dir)
	if err != nil {
		t.Fatal(err)
	}
	r := openRing(t, db, vault.NewKEKSet(newKEK(t)))
	var last vault.PAN
	for i := 0; i < 2000; i++ {
		o := vault.Owner{PartnerID: "p1", Table: "cards", RecordID: fmt.Sprintf("card-%04d", i)}
		p, err := r.IssuePAN(ctx, o, vault.BINRange{Prefix: "489537", Length: 16})
		if err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			if err := r.SetPIN(ctx, o, vault.SecretString("8203")); err != nil {
				t.Fatal(err)
			}
		}
		last = p
	}
	// The WAL is scanned as it is, before and after a checkpoint.
	if found := scanDir(t, dir, "489537"); len(found) != 0 {
		t.Fatalf("found %d PAN-shaped numbers in the database files, e.g. one ending %s", len(found), found[0][len(found[0])-4:])
	}
	r.Close()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if found := scanDir(t, dir, "489537"); len(found) != 0 {
		t.Fatalf("found %d PAN-shaped numbers after checkpoint", len(found))
	}

	// Control: the scan does see a PAN written in clear.
	raw, err := sql.Open("sqlite", "file:"+filepath.Join(dir, store.SQLiteFile))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = raw.Close() }()
	if _, err := raw.Exec(`CREATE TABLE control (v TEXT); INSERT INTO control VALUES ($1)`, string(last.Reveal())); err != nil {
		t.Fatal(err)
	}
	if found := scanDir(t, dir, "489537"); len(found) == 0 {
		t.Fatal("the scan missed a PAN written in clear")
	}
}
