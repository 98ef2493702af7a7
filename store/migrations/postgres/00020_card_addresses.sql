-- +goose Up
-- Where a physical card ships and the cardholder's billing address, as JSON
-- (store.storedAddress); '' when the card has none.
ALTER TABLE cards ADD COLUMN shipping_address TEXT NOT NULL DEFAULT '';
ALTER TABLE cards ADD COLUMN billing_address TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE cards DROP COLUMN billing_address;
ALTER TABLE cards DROP COLUMN shipping_address;
