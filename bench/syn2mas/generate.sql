-- Synthetic Synapse data for the importer benchmark, on top of a real Synapse schema (the
-- fixture dump, emptied). Per user: 1 email, 2 devices, 2 access tokens (one per device); every
-- 20th user's second token is refreshable; every 10th user has an external id; every 1000th is
-- an admin. Portable SQL (SQLite and PostgreSQL). bench/syn2mas/run.sh replaces :N with the
-- user count, and :CREATED (a user's creation_ts), :LAST_SEEN (a device's last_seen) and
-- :ORDER (the ORDER BY of the device and token rows) with the expressions of the layout it runs.
DELETE FROM access_tokens;
DELETE FROM refresh_tokens;
DELETE FROM devices;
DELETE FROM user_external_ids;
DELETE FROM user_threepids;
DELETE FROM users;
CREATE TABLE bench_n (i BIGINT PRIMARY KEY);
INSERT INTO bench_n (i) WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :N) SELECT i FROM s;
CREATE TABLE bench_d (d BIGINT PRIMARY KEY);
INSERT INTO bench_d (d) VALUES (1), (2);
INSERT INTO users (name, password_hash, creation_ts, admin, is_guest, deactivated, locked, suspended)
    SELECT '@user' || i || ':example.test', '$2b$04$0123456789abcdefghijkuN0m8H4o3p3Hq8y0v6Dk5b2b8m1Q9KzG',
           :CREATED, CASE WHEN i % 1000 = 0 THEN 1 ELSE 0 END, 0, 0, FALSE, FALSE
    FROM bench_n;
INSERT INTO user_threepids (user_id, medium, address, validated_at, added_at)
    SELECT '@user' || i || ':example.test', 'email', 'user' || i || '@example.test', 1700000000000, 1700000000000
    FROM bench_n;
INSERT INTO user_external_ids (auth_provider, external_id, user_id)
    SELECT 'oidc-keycloak', 'sub-' || i, '@user' || i || ':example.test' FROM bench_n WHERE i % 10 = 0;
INSERT INTO devices (user_id, device_id, display_name, last_seen, ip, user_agent, hidden)
    SELECT '@user' || i || ':example.test', 'DEVICE' || d, 'Device ' || d, :LAST_SEEN, '10.0.0.1', 'Element/1.11', FALSE
    FROM bench_n, bench_d ORDER BY :ORDER;
INSERT INTO refresh_tokens (id, user_id, device_id, token)
    SELECT i, '@user' || i || ':example.test', 'DEVICE2', 'syr_' || i || '_refreshtokenrefreshtoke_000000'
    FROM bench_n WHERE i % 20 = 0;
INSERT INTO access_tokens (id, user_id, device_id, token, valid_until_ms, last_validated, refresh_token_id, used)
    SELECT i * 2 + d, '@user' || i || ':example.test', 'DEVICE' || d,
           'syt_' || i || '_' || d || '_accesstokenaccesstoke_000000',
           CASE WHEN d = 2 AND i % 20 = 0 THEN 1900000000000 ELSE NULL END, 1700000000000,
           CASE WHEN d = 2 AND i % 20 = 0 THEN i ELSE NULL END, FALSE
    FROM bench_n, bench_d ORDER BY :ORDER;
DROP TABLE bench_n;
DROP TABLE bench_d;
