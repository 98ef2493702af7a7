-- +goose Up
-- Card data tries: consecutive wrong expiry dates or CVV2s presented in
-- authorisations by card data. At five the card's data is locked until
-- card_data_locked_until: every authorisation by card data declines without
-- anything being checked, so the expiry and the CVV2 cannot be guessed.
ALTER TABLE cards ADD COLUMN card_data_tries INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cards ADD COLUMN card_data_locked_until TIMESTAMPTZ;

-- +goose Down
ALTER TABLE cards DROP COLUMN card_data_locked_until;
ALTER TABLE cards DROP COLUMN card_data_tries;
