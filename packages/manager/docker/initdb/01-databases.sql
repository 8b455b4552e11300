-- Run once by the MariaDB image on an empty data directory (docker-compose.yml mounts this folder
-- at /docker-entrypoint-initdb.d). The manager also creates missing databases at start; this only
-- makes them exist before anything connects.
CREATE DATABASE IF NOT EXISTS tally_manager CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE DATABASE IF NOT EXISTS tally_shard_0 CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE DATABASE IF NOT EXISTS tally_shard_1 CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
