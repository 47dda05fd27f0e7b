-- Dynamic client registration (RFC 7591). Same on both backends.
-- `metadata`: the registration's descriptive fields as JSON (application type, logo, terms and
-- policy pages, contacts, localized values, response types, signing algorithms); '{}' for static
-- clients. `metadata_digest`: SHA-256 of the whole registration, so an identical registration of a
-- public client is answered with the client it registered before instead of a new row.

ALTER TABLE oauth2_clients ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';
ALTER TABLE oauth2_clients ADD COLUMN metadata_digest TEXT;
CREATE INDEX oauth2_clients_metadata_digest ON oauth2_clients (metadata_digest);
