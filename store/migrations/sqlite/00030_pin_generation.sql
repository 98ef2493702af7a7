-- +goose Up
-- Counts the PINs a card has had: an authorisation that compared a
-- presented PIN with the one stored compares it again, under the card's
-- lock, when a new PIN was chosen in between.
ALTER TABLE cards ADD COLUMN pin_generation INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE cards DROP COLUMN pin_generation;
