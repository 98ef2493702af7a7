package store

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/vaultpage/vaultpage/card"
)

// A card's authorisations are read through the lineage index, not by
// walking the partner's.
func TestACardsAuthorizationsUseTheLineageIndex(t *testing.T) {
	db, err := Open(context.Background(), "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	id := uuid.New()
	query, args := authorizationsQuery(uuid.New(), &id, card.Page{Limit: 20, After: uuid.New()})
	rows, err := db.sql.Query(`EXPLAIN QUERY PLAN `+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rows.Close() }()
	var plan []string
	for rows.Next() {
		var a, b, c int
		var detail string
		if err := rows.Scan(&a, &b, &c, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	joined := strings.Join(plan, "; ")
	if !strings.Contains(joined, "authorizations USING INDEX authorizations_lineage (lineage_id=? AND id<?)") || strings.Contains(joined, "TEMP B-TREE") {
		t.Fatalf("plan: %s", joined)
	}
}
