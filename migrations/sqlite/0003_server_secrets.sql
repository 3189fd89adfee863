-- Secrets every API replica must share (e.g. the key that signs playback grants), created once
-- by whichever replica needs one first.
CREATE TABLE server_secrets
(
    name  text NOT NULL PRIMARY KEY,
    value text NOT NULL
) STRICT;
