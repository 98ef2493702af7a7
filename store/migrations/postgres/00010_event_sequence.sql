-- +goose Up
-- The feed's order: a sequence number given to committed events by one
-- sequencer at a time, so that an event committed late never lands behind
-- a reader's cursor.
ALTER TABLE events ADD COLUMN seq BIGINT;
CREATE UNIQUE INDEX events_seq ON events (seq);
CREATE INDEX events_unsequenced ON events (created_at, id) WHERE seq IS NULL;
CREATE INDEX events_partner_seq ON events (partner_id, seq);

-- +goose Down
DROP INDEX events_partner_seq;
DROP INDEX events_unsequenced;
DROP INDEX events_seq;
ALTER TABLE events DROP COLUMN seq;
