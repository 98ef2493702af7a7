-- +goose Up
-- When the cardholder passed SCA for the consent, kept on the server: the
-- action pages open only after it, and show card secrets for a few minutes
-- from it. A new token clears it.
ALTER TABLE consents ADD COLUMN authenticated_at TIMESTAMPTZ;
-- A card frozen or ended cancels its open consents; this finds them.
CREATE INDEX consents_open_by_card ON consents (card_id) WHERE status IN ('pending', 'started');

-- +goose Down
DROP INDEX consents_open_by_card;
ALTER TABLE consents DROP COLUMN authenticated_at;
