-- +goose Up
-- A challenged online payment's authentication is the cardholder's
-- authenticate_payment consent: consent_id names it, and once it ended,
-- trans_status is Y (method: how the cardholder took it) or N (reason: how
-- the consent ended).
ALTER TABLE authentications ADD COLUMN consent_id TEXT;
ALTER TABLE authentications ADD COLUMN method TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX authentications_consent ON authentications (consent_id);

-- +goose Down
DROP INDEX authentications_consent;
ALTER TABLE authentications DROP COLUMN method;
ALTER TABLE authentications DROP COLUMN consent_id;
