-- The documents a cached WSDL imports (wsdl:import, xsd:import,
-- xsd:include), by their own URL, stored and replaced with the WSDL that
-- imports them, so the WSDL can be read whole with its host down.
CREATE TABLE wsdl_cache_import (
    wsdl_url TEXT NOT NULL REFERENCES wsdl_cache (url) ON DELETE CASCADE,
    url      TEXT NOT NULL,
    body     TEXT NOT NULL,
    PRIMARY KEY (wsdl_url, url)
) STRICT;
