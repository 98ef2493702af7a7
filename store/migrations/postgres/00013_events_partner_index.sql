-- +goose Up
-- events_partner (partner_id, id) serves no query: an event is found by its
-- primary key and the feed reads events_partner_seq. Every event written
-- paid for it.
DROP INDEX events_partner;

-- +goose Down
CREATE INDEX events_partner ON events (partner_id, id);
