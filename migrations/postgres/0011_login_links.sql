-- One-time sign-in links already redeemed (`voicebin keys login-link`): the link's `jti`, kept
-- until the link expires (Unix seconds), after which the link is refused anyway and the row is
-- pruned. The primary key makes redemption atomic across API replicas: exactly one insert wins.
CREATE TABLE redeemed_login_links
(
    jti        text   NOT NULL PRIMARY KEY,
    expires_at bigint NOT NULL
);

CREATE INDEX redeemed_login_links_expires_at ON redeemed_login_links (expires_at);
