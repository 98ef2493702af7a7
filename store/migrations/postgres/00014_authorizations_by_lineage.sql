-- +goose Up
-- A card's authorisations are listed through its lineage: (lineage_id, id)
-- walks one card's history, and its reissues', in the list's order, where
-- the list used to walk every authorisation of the partner. The
-- (lineage_id, created_at) order served window sums, which spend_days
-- serves now. (The rebuild holds writes to authorizations while it runs.)
DROP INDEX authorizations_lineage;
CREATE INDEX authorizations_lineage ON authorizations (lineage_id, id);

-- +goose Down
DROP INDEX authorizations_lineage;
CREATE INDEX authorizations_lineage ON authorizations (lineage_id, created_at);
