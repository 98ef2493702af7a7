-- +goose Up
-- Card data tries: consecutive wrong expiry dates or CVV2s presented in
-- authorisations by card data, and the wrong ones of one UTC day (the day
-- as days since 1970, which a right one does not set back). At five in a
-- row, or ten in a day, the card's data is locked until
-- card_data_locked_until: every authorisation by card data declines without
-- anything being checked, so the expiry and the CVV2 cannot be guessed.
ALTER TABLE cards ADD COLUMN card_data_tries INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cards ADD COLUMN card_data_wrong_day INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cards ADD COLUMN card_data_wrong_today INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cards ADD COLUMN card_data_locked_until DATETIME;

-- +goose Down
ALTER TABLE cards DROP COLUMN card_data_locked_until;
ALTER TABLE cards DROP COLUMN card_data_wrong_today;
ALTER TABLE cards DROP COLUMN card_data_wrong_day;
ALTER TABLE cards DROP COLUMN card_data_tries;
