-- Fetched WSDL documents by URL, so SOAP deliveries go on when the WSDL's
-- host is down. `postcall soap refresh` fetches them again.
CREATE TABLE wsdl_cache (
    url        TEXT PRIMARY KEY,
    body       TEXT NOT NULL,
    fetched_at TEXT NOT NULL
) STRICT;
