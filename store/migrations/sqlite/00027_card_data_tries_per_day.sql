-- +goose Up
-- The wrong expiry dates or CVV2s of one UTC day (the day as days since
-- 1970), which a right one does not set back: at ten the card's data locks
-- too, whatever came between.
ALTER TABLE cards ADD COLUMN card_data_wrong_day INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cards ADD COLUMN card_data_wrong_today INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE cards DROP COLUMN card_data_wrong_today;
ALTER TABLE cards DROP COLUMN card_data_wrong_day;
