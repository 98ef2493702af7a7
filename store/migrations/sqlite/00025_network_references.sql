-- +goose Up
-- The network's own name for an authorisation request (its adapter's
-- reference, unique among them): a resend with it answers the first
-- decision, and follow-ups may name the authorisation by it.
ALTER TABLE authorization_checks ADD COLUMN network_reference TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX authorization_checks_network_reference ON authorization_checks (network_reference) WHERE network_reference <> '';

-- +goose Down
DROP INDEX authorization_checks_network_reference;
ALTER TABLE authorization_checks DROP COLUMN network_reference;
