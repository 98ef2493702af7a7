-- +goose Up
-- A foreign key check locks the row it finds (FOR KEY SHARE) until commit.
-- Authorisations, fundings and consents each pointed at their partner's one
-- row, so concurrent writes of a partner shared a lock on it, and each
-- writer that joined made PostgreSQL create a new multixact (1,000
-- decisions a second made thousands). The partner now comes with the row
-- they belong to: (partner_id, card_id) must name a card of that partner,
-- (partner_id, account_id) an account of that partner. That is stronger
-- than the keys apart were, and locks only the card's or account's row,
-- which a decision holds FOR UPDATE already. (SQLite takes no row locks and
-- keeps the keys apart.)
CREATE UNIQUE INDEX cards_partner_key ON cards (partner_id, id);
DROP INDEX cards_partner;
ALTER INDEX cards_partner_key RENAME TO cards_partner;
CREATE UNIQUE INDEX accounts_partner_key ON accounts (partner_id, id);
DROP INDEX accounts_partner;
ALTER INDEX accounts_partner_key RENAME TO accounts_partner;

ALTER TABLE authorizations DROP CONSTRAINT authorizations_partner_id_fkey,
    DROP CONSTRAINT authorizations_card_id_fkey,
    DROP CONSTRAINT authorizations_account_id_fkey,
    ADD CONSTRAINT authorizations_card_fkey FOREIGN KEY (partner_id, card_id) REFERENCES cards (partner_id, id) NOT VALID,
    ADD CONSTRAINT authorizations_account_fkey FOREIGN KEY (partner_id, account_id) REFERENCES accounts (partner_id, id) NOT VALID;
ALTER TABLE fundings DROP CONSTRAINT fundings_partner_id_fkey,
    DROP CONSTRAINT fundings_account_id_fkey,
    ADD CONSTRAINT fundings_account_fkey FOREIGN KEY (partner_id, account_id) REFERENCES accounts (partner_id, id) NOT VALID;
ALTER TABLE consents DROP CONSTRAINT consents_partner_id_fkey,
    DROP CONSTRAINT consents_card_id_fkey,
    ADD CONSTRAINT consents_card_fkey FOREIGN KEY (partner_id, card_id) REFERENCES cards (partner_id, id) NOT VALID;
-- Checked apart from adding them, so that writes wait only for the
-- constraints' catalog change, not for the scans of existing rows.
ALTER TABLE authorizations VALIDATE CONSTRAINT authorizations_card_fkey;
ALTER TABLE authorizations VALIDATE CONSTRAINT authorizations_account_fkey;
ALTER TABLE fundings VALIDATE CONSTRAINT fundings_account_fkey;
ALTER TABLE consents VALIDATE CONSTRAINT consents_card_fkey;

-- +goose Down
ALTER TABLE consents DROP CONSTRAINT consents_card_fkey,
    ADD CONSTRAINT consents_partner_id_fkey FOREIGN KEY (partner_id) REFERENCES partners (id),
    ADD CONSTRAINT consents_card_id_fkey FOREIGN KEY (card_id) REFERENCES cards (id);
ALTER TABLE fundings DROP CONSTRAINT fundings_account_fkey,
    ADD CONSTRAINT fundings_partner_id_fkey FOREIGN KEY (partner_id) REFERENCES partners (id),
    ADD CONSTRAINT fundings_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts (id);
ALTER TABLE authorizations DROP CONSTRAINT authorizations_card_fkey,
    DROP CONSTRAINT authorizations_account_fkey,
    ADD CONSTRAINT authorizations_partner_id_fkey FOREIGN KEY (partner_id) REFERENCES partners (id),
    ADD CONSTRAINT authorizations_card_id_fkey FOREIGN KEY (card_id) REFERENCES cards (id),
    ADD CONSTRAINT authorizations_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts (id);
CREATE INDEX accounts_partner_plain ON accounts (partner_id, id);
DROP INDEX accounts_partner;
ALTER INDEX accounts_partner_plain RENAME TO accounts_partner;
CREATE INDEX cards_partner_plain ON cards (partner_id, id);
DROP INDEX cards_partner;
ALTER INDEX cards_partner_plain RENAME TO cards_partner;
