//! Playback grants: a signed, short-lived token that lets one playback seek and resume
//! without each range request counting as another download. Signed with a key every replica
//! shares (see `docs/adr/0005-download-counting.md`).

use aws_lc_rs::hmac;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// How long a playback grant lasts.
pub const GRANT_TTL_SECS: i64 = 600;

/// Signs and checks playback grants with a key every replica shares.
pub struct Grants {
    key: hmac::Key,
}

impl Grants {
    /// Grants signed with `secret`.
    pub fn new(secret: &[u8]) -> Self {
        Grants {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    fn mac(&self, clip: &str, expires: i64) -> String {
        let tag = hmac::sign(&self.key, format!("{clip}.{expires}").as_bytes());
        URL_SAFE_NO_PAD.encode(tag.as_ref())
    }

    /// A grant for `clip` valid until `expires` (Unix seconds).
    pub fn issue(&self, clip: &str, expires: i64) -> String {
        format!("{expires}.{}", self.mac(clip, expires))
    }

    /// Whether `token` is an unexpired grant for `clip`.
    pub fn valid(&self, clip: &str, token: &str, now: i64) -> bool {
        let Some((expires, tag)) = token.split_once('.') else {
            return false;
        };
        let Ok(expires) = expires.parse::<i64>() else {
            return false;
        };
        let Ok(tag) = URL_SAFE_NO_PAD.decode(tag) else {
            return false;
        };
        expires > now
            && expires <= now + GRANT_TTL_SECS
            && hmac::verify(&self.key, format!("{clip}.{expires}").as_bytes(), &tag).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_are_bound_to_a_clip_and_expire() {
        let grants = Grants::new(b"secret");
        let token = grants.issue("AAAAAAAAAAAAAAAA", 1_000 + GRANT_TTL_SECS);
        assert!(grants.valid("AAAAAAAAAAAAAAAA", &token, 1_000));
        assert!(!grants.valid("BBBBBBBBBBBBBBBB", &token, 1_000));
        assert!(!grants.valid("AAAAAAAAAAAAAAAA", &token, 1_000 + GRANT_TTL_SECS));
        assert!(!Grants::new(b"other").valid("AAAAAAAAAAAAAAAA", &token, 1_000));
        // A forged far-future expiry is refused even with a valid-looking shape.
        let forged = grants.issue("AAAAAAAAAAAAAAAA", 1_000_000);
        assert!(!grants.valid("AAAAAAAAAAAAAAAA", &forged, 1_000));
        assert!(!grants.valid("AAAAAAAAAAAAAAAA", "garbage", 1_000));
    }
}
