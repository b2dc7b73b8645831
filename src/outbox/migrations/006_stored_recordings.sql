-- 006: a call's record as the common delivery sends it. The delivery side
-- may store the record without its recordings (recordings_json, apart) so
-- that a service including no recordings sends record_json as it is,
-- without reading and writing the record again; record_format names the
-- record format that wrote it (a record of another format is rendered as
-- before). Both NULL for rows from before; recordings_json is deleted
-- with record_json.

ALTER TABLE calls ADD COLUMN recordings_json TEXT;
ALTER TABLE calls ADD COLUMN record_format INTEGER;
