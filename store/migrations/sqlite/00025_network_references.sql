-- +goose Up
-- The network's own name for an authorisation request (its adapter's
-- reference, unique among them): a resend with it answers the first
-- decision, and follow-ups may name the authorisation by it.
ALTER TABLE authorization_checks ADD COLUMN network_reference TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX authorization_checks_network_reference ON authorization_checks (network_reference) WHERE network_reference <> '';
-- A reference reserved while the partner's real-time decision endpoint is
-- asked about it, so that a resend meanwhile waits for that answer instead
-- of asking again; gone once the authorisation is recorded, taken over when
-- older than the lease (its process died).
CREATE TABLE network_reservations (
    reference        TEXT PRIMARY KEY,
    authorization_id TEXT NOT NULL,
    reserved_at      DATETIME NOT NULL
);

-- +goose Down
DROP TABLE network_reservations;
DROP INDEX authorization_checks_network_reference;
ALTER TABLE authorization_checks DROP COLUMN network_reference;
