-- +goose Up
-- A physical card's way to the cardholder (card.Fulfilment): '' status for a
-- virtual card, and for a physical card ordered before fulfilment was
-- recorded (made and shipped already, with no shipping address to send
-- again). The card bureau export looks for pending cards by the partial
-- index.
ALTER TABLE cards ADD COLUMN fulfilment_status TEXT NOT NULL DEFAULT '';
ALTER TABLE cards ADD COLUMN fulfilment_carrier TEXT NOT NULL DEFAULT '';
ALTER TABLE cards ADD COLUMN fulfilment_tracking TEXT NOT NULL DEFAULT '';
ALTER TABLE cards ADD COLUMN bureau_batch TEXT NOT NULL DEFAULT '';
ALTER TABLE cards ADD COLUMN fulfilment_updated_at TIMESTAMPTZ;
CREATE INDEX cards_fulfilment_pending ON cards (created_at, id) WHERE fulfilment_status = 'pending';
CREATE INDEX cards_bureau_batch ON cards (bureau_batch) WHERE bureau_batch <> '';

-- +goose Down
DROP INDEX cards_bureau_batch;
DROP INDEX cards_fulfilment_pending;
ALTER TABLE cards DROP COLUMN fulfilment_updated_at;
ALTER TABLE cards DROP COLUMN bureau_batch;
ALTER TABLE cards DROP COLUMN fulfilment_tracking;
ALTER TABLE cards DROP COLUMN fulfilment_carrier;
ALTER TABLE cards DROP COLUMN fulfilment_status;
