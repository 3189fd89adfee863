-- Playback grants that a counted download has paid for (docs/adr/0005-download-counting.md).
-- `nonce` names the grant (the random part of the signed token the listener holds); a row is
-- `active` = 0 while one request is counting the download that pays for it, 1 once paid.
-- `budget` and `used` are bytes: ranges within the budget are served without counting again.
-- `expires_at` is in Unix seconds (for a pending row: when its claim lapses).
CREATE TABLE playback_grants
(
    nonce      text    NOT NULL PRIMARY KEY,
    clip_id    text    NOT NULL,
    active     integer NOT NULL,
    expires_at bigint  NOT NULL,
    budget     bigint  NOT NULL,
    used       bigint  NOT NULL
);

CREATE INDEX playback_grants_expires_at ON playback_grants (expires_at);
