-- +goose Up
-- Merchant controls on cards, and the reissue lineage spend limits count
-- under (the first card of the chain).
ALTER TABLE cards ADD COLUMN usage TEXT NOT NULL DEFAULT 'multi_use';
ALTER TABLE cards ADD COLUMN locked_merchant TEXT NOT NULL DEFAULT '';
ALTER TABLE cards ADD COLUMN allowed_mccs TEXT NOT NULL DEFAULT '';
ALTER TABLE cards ADD COLUMN blocked_mccs TEXT NOT NULL DEFAULT '';
ALTER TABLE cards ADD COLUMN allowed_countries TEXT NOT NULL DEFAULT '';
ALTER TABLE cards ADD COLUMN blocked_countries TEXT NOT NULL DEFAULT '';
ALTER TABLE cards ADD COLUMN lineage_id TEXT NOT NULL DEFAULT '';
UPDATE cards SET lineage_id = id;

-- +goose Down
ALTER TABLE cards DROP COLUMN lineage_id;
ALTER TABLE cards DROP COLUMN blocked_countries;
ALTER TABLE cards DROP COLUMN allowed_countries;
ALTER TABLE cards DROP COLUMN blocked_mccs;
ALTER TABLE cards DROP COLUMN allowed_mccs;
ALTER TABLE cards DROP COLUMN locked_merchant;
ALTER TABLE cards DROP COLUMN usage;
