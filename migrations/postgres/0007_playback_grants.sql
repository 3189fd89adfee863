-- Playback grants (docs/adr/0005-download-counting.md). `nonce` names a grant (the random part
-- of the signed token its listener holds). A counted download pays for it: `generation` counts
-- the payments (0: never paid), `budget` and `used` are bytes, `expires_at` ends the paid
-- grant. `lease_until` is when the claim of the one request paying for it right now lapses
-- (0: nobody is paying). `granted` holds what the last reservation took. Times: Unix seconds.
CREATE TABLE playback_grants
(
    nonce       text    NOT NULL PRIMARY KEY,
    clip_id     text    NOT NULL,
    generation  bigint  NOT NULL,
    expires_at  bigint  NOT NULL,
    budget      bigint  NOT NULL,
    used        bigint  NOT NULL,
    granted     bigint  NOT NULL,
    lease_until bigint  NOT NULL
);

CREATE INDEX playback_grants_expires_at ON playback_grants (expires_at);
