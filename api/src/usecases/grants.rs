//! Playback grants: what lets one listener's playback seek, probe and resume without each range
//! request counting as another download (see `docs/adr/0005-download-counting.md`).
//!
//! A grant is a signed token naming a clip, a random nonce, a deadline and the listener it was
//! issued to (a digest of the client's address and user agent): presented by anyone else, or
//! for another clip, it is no grant at all. The view and embed pages put an unpaid token in the
//! player's URL (so it works inside iframes, where cookies are blocked); the first counted
//! download pays for it, and the media response also sets it as a cookie for players that were
//! given the bare URL. A paid grant covers about one playback's worth of bytes for about one
//! playback's time; beyond either, a request counts again. Which grants are paid, and how many
//! bytes each has left, lives in the database, so every replica honours every other's grants.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::{digest, hmac, rand};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use poem::http::header;
use poem::Request;
use voicebin_projections::{PlaybackGrants, Reservation, StoreError};

use crate::http::client_ip;

/// How long a paid grant lasts at least; a long clip's grant lasts twice its duration longer.
pub const GRANT_TTL_SECS: i64 = 600;
/// The longest a paid grant lasts, however long the clip.
const MAX_GRANT_SECS: i64 = 6 * 3600;
/// How long a page's unpaid token may be used for its first (counted) download.
const TICKET_SECS: i64 = 6 * 3600;
/// How long one request may hold the claim to pay for a grant before another may take it over.
const CLAIM_SECS: i64 = 30;
/// How often, and how many times, a request waits for another that is paying for its grant.
const PENDING_POLL: Duration = Duration::from_millis(50);
const PENDING_POLLS: u32 = 100;
/// Expired grants are purged after every this many payments.
const PURGE_EVERY: u64 = 256;

/// The client a grant belongs to: a digest of its address and user agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener(String);

impl Listener {
    /// The listener sending `req` (its address as `client_ip` resolves it).
    pub fn of(req: &Request, trust_forwarded_for: bool) -> Self {
        let ip = client_ip(req, trust_forwarded_for)
            .map(|ip| ip.to_string())
            .unwrap_or_default();
        let agent = req
            .headers()
            .get(header::USER_AGENT)
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        let mut context = digest::Context::new(&digest::SHA256);
        context.update(ip.as_bytes());
        context.update(b"\n");
        context.update(agent);
        Listener(URL_SAFE_NO_PAD.encode(&context.finish().as_ref()[..16]))
    }
}

/// A grant token whose signature, clip, listener and deadline were checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    nonce: String,
    raw: String,
}

impl Token {
    /// The token as the listener presents it (URL-safe, cookie-safe).
    pub fn as_str(&self) -> &str {
        &self.raw
    }
}

/// The bytes one request reserved from a grant; what it does not send goes back to the grant
/// when the response body is dropped (the listener seeked or stopped).
pub struct Refund {
    store: Arc<dyn PlaybackGrants>,
    nonce: String,
    reserved: u64,
    sent: Arc<AtomicU64>,
}

impl Refund {
    /// The counter the response body adds each sent chunk's length to.
    pub fn meter(&self) -> Arc<AtomicU64> {
        self.sent.clone()
    }
}

impl Drop for Refund {
    fn drop(&mut self) {
        let unsent = self
            .reserved
            .saturating_sub(self.sent.load(Ordering::Relaxed));
        if unsent == 0 {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (store, nonce) = (self.store.clone(), std::mem::take(&mut self.nonce));
        runtime.spawn(async move {
            let unsent = i64::try_from(unsent).unwrap_or(i64::MAX);
            if let Err(e) = store.refund(&nonce, unsent).await {
                tracing::warn!(error = %e, "returning unsent bytes to a playback grant failed");
            }
        });
    }
}

/// Issues, checks and settles playback grants.
pub struct Grants {
    key: hmac::Key,
    store: Arc<dyn PlaybackGrants>,
    paid: AtomicU64,
}

/// The byte budget of a grant for a clip of `size` bytes: one full copy plus half again for
/// duration probing and seeking (bytes a request reserved but did not send are returned).
pub fn budget(size: u64) -> i64 {
    let size = i64::try_from(size).unwrap_or(i64::MAX / 2);
    size.saturating_add(size / 2)
}

/// How long a paid grant for a clip of `duration_ms` lasts.
pub fn lifetime(duration_ms: Option<i64>) -> i64 {
    let playback = duration_ms.unwrap_or_default().max(0) / 1000;
    GRANT_TTL_SECS
        .saturating_add(playback.saturating_mul(2))
        .min(MAX_GRANT_SECS)
}

impl Grants {
    /// Grants signed with `secret` (shared by every replica), settled in `store`.
    pub fn new(secret: &[u8], store: Arc<dyn PlaybackGrants>) -> Self {
        Grants {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            store,
            paid: AtomicU64::new(0),
        }
    }

    fn mac(&self, clip: &str, listener: &Listener, nonce: &str, deadline: i64) -> hmac::Tag {
        let message = format!("{clip}.{}.{nonce}.{deadline}", listener.0);
        hmac::sign(&self.key, message.as_bytes())
    }

    fn token(&self, clip: &str, listener: &Listener, deadline: i64) -> Token {
        let mut nonce = [0u8; 16];
        // The system generator does not fail on supported platforms; a zero nonce would only
        // make this listener's tokens for this clip share one grant.
        let _ = rand::fill(&mut nonce);
        let nonce = URL_SAFE_NO_PAD.encode(nonce);
        let tag = self.mac(clip, listener, &nonce, deadline);
        let raw = format!(
            "{nonce}.{deadline}.{}",
            URL_SAFE_NO_PAD.encode(tag.as_ref())
        );
        Token { nonce, raw }
    }

    /// A new, unpaid token for `listener` to play `clip` with: for a page's player URL, or
    /// for a listener who arrived without one (set as a cookie). Its first download counts and
    /// pays for it.
    pub fn issue(&self, clip: &str, listener: &Listener, now: i64) -> Token {
        self.token(clip, listener, now + TICKET_SECS)
    }

    /// `raw` as a token of `listener` for `clip`, if it is one and its deadline has not passed.
    pub fn verify(&self, clip: &str, listener: &Listener, raw: &str, now: i64) -> Option<Token> {
        let mut parts = raw.splitn(3, '.');
        let (nonce, deadline, tag) = (parts.next()?, parts.next()?, parts.next()?);
        let deadline = deadline.parse::<i64>().ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        if deadline <= now || deadline > now + TICKET_SECS || nonce.len() > 64 {
            return None;
        }
        let message = format!("{clip}.{}.{nonce}.{deadline}", listener.0);
        hmac::verify(&self.key, message.as_bytes(), &tag).ok()?;
        Some(Token {
            nonce: nonce.to_owned(),
            raw: raw.to_owned(),
        })
    }

    /// Whether `token`'s paid grant covers `bytes` more of `clip`: the reservation, to be
    /// metered by the response. Waits while another request is paying for the same grant.
    pub async fn cover(
        &self,
        token: &Token,
        clip: &str,
        bytes: u64,
        now: i64,
    ) -> Result<Option<Refund>, StoreError> {
        let wanted = i64::try_from(bytes).unwrap_or(i64::MAX);
        for _ in 0..PENDING_POLLS {
            match self.store.reserve(&token.nonce, clip, wanted, now).await? {
                Reservation::Reserved => return Ok(Some(self.refund(token, bytes))),
                Reservation::Unpaid => return Ok(None),
                Reservation::Pending => tokio::time::sleep(PENDING_POLL).await,
            }
        }
        Ok(None)
    }

    /// Starts paying for `token`'s grant with a counted download: `true` when this request is
    /// the one paying (it then calls [`pay`](Self::pay) or [`abandon`](Self::abandon)).
    pub async fn claim(&self, token: &Token, clip: &str, now: i64) -> Result<bool, StoreError> {
        self.store
            .claim(&token.nonce, clip, now + CLAIM_SECS, now)
            .await
    }

    /// Records that `token`'s grant is paid: it covers `budget` bytes until `expires_at`, of
    /// which this request takes `bytes`. Returns this request's reservation.
    pub async fn pay(
        &self,
        token: &Token,
        budget: i64,
        bytes: u64,
        expires_at: i64,
        now: i64,
    ) -> Result<Refund, StoreError> {
        let used = i64::try_from(bytes).unwrap_or(i64::MAX);
        self.store
            .pay(&token.nonce, budget, used, expires_at)
            .await?;
        if self.paid.fetch_add(1, Ordering::Relaxed) % PURGE_EVERY == PURGE_EVERY - 1 {
            if let Err(e) = self.store.purge_expired(now).await {
                tracing::warn!(error = %e, "purging expired playback grants failed");
            }
        }
        Ok(self.refund(token, bytes))
    }

    /// Gives up paying for `token`'s grant (the download could not be counted).
    pub async fn abandon(&self, token: &Token) {
        if let Err(e) = self.store.abandon(&token.nonce).await {
            tracing::warn!(error = %e, "abandoning a playback-grant claim failed");
        }
    }

    fn refund(&self, token: &Token, reserved: u64) -> Refund {
        Refund {
            store: self.store.clone(),
            nonce: token.nonce.clone(),
            reserved,
            sent: Arc::new(AtomicU64::new(0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use super::*;

    /// Grants in memory (the SQL adapters are tested against the real databases).
    #[derive(Default)]
    struct Memory(Mutex<HashMap<String, (String, bool, i64, i64, i64)>>);

    #[async_trait::async_trait]
    impl PlaybackGrants for Memory {
        async fn reserve(
            &self,
            nonce: &str,
            clip: &str,
            bytes: i64,
            now: i64,
        ) -> Result<Reservation, StoreError> {
            let mut rows = self.0.lock().unwrap();
            Ok(match rows.get_mut(nonce) {
                Some((c, true, expires, budget, used))
                    if c == clip && *expires > now && *used + bytes <= *budget =>
                {
                    *used += bytes;
                    Reservation::Reserved
                }
                Some((c, false, expires, ..)) if c == clip && *expires > now => {
                    Reservation::Pending
                }
                _ => Reservation::Unpaid,
            })
        }
        async fn claim(
            &self,
            nonce: &str,
            clip: &str,
            until: i64,
            now: i64,
        ) -> Result<bool, StoreError> {
            let mut rows = self.0.lock().unwrap();
            let free = match rows.get(nonce) {
                None => true,
                Some((c, active, expires, ..)) => c == clip && (*active || *expires <= now),
            };
            if free {
                rows.insert(nonce.into(), (clip.into(), false, until, 0, 0));
            }
            Ok(free)
        }
        async fn pay(
            &self,
            nonce: &str,
            budget: i64,
            used: i64,
            expires_at: i64,
        ) -> Result<(), StoreError> {
            if let Some(row) = self.0.lock().unwrap().get_mut(nonce) {
                *row = (row.0.clone(), true, expires_at, budget, used);
            }
            Ok(())
        }
        async fn abandon(&self, nonce: &str) -> Result<(), StoreError> {
            self.0.lock().unwrap().remove(nonce);
            Ok(())
        }
        async fn refund(&self, nonce: &str, bytes: i64) -> Result<(), StoreError> {
            if let Some(row) = self.0.lock().unwrap().get_mut(nonce) {
                row.4 = (row.4 - bytes).max(0);
            }
            Ok(())
        }
        async fn purge_expired(&self, now: i64) -> Result<u64, StoreError> {
            let mut rows = self.0.lock().unwrap();
            let before = rows.len();
            rows.retain(|_, row| row.2 > now);
            Ok((before - rows.len()) as u64)
        }
    }

    const CLIP: &str = "AAAAAAAAAAAAAAAA";

    fn listener(name: &str) -> Listener {
        Listener(name.to_owned())
    }

    #[test]
    fn a_token_is_its_listeners_for_its_clip_until_its_deadline() {
        let grants = Grants::new(b"secret", Arc::new(Memory::default()));
        let alice = listener("alice");
        let token = grants.issue(CLIP, &alice, 1_000);
        assert!(grants.verify(CLIP, &alice, token.as_str(), 1_000).is_some());
        assert!(grants
            .verify(CLIP, &listener("bob"), token.as_str(), 1_000)
            .is_none());
        assert!(grants
            .verify("BBBBBBBBBBBBBBBB", &alice, token.as_str(), 1_000)
            .is_none());
        assert!(grants
            .verify(CLIP, &alice, token.as_str(), 1_000 + TICKET_SECS)
            .is_none());
        let other_key = Grants::new(b"other", Arc::new(Memory::default()));
        assert!(other_key
            .verify(CLIP, &alice, token.as_str(), 1_000)
            .is_none());
        // Two tickets for the same listener and second are different grants.
        assert_ne!(grants.issue(CLIP, &alice, 1_000), token);
        for garbage in [
            "",
            "garbage",
            "a.b.c",
            "a.99999999999.c",
            token.as_str().trim_end_matches(char::is_alphanumeric),
        ] {
            assert!(
                grants.verify(CLIP, &alice, garbage, 1_000).is_none(),
                "{garbage}"
            );
        }
    }

    #[tokio::test]
    async fn a_paid_grant_covers_one_playback_and_no_more() {
        let grants = Grants::new(b"secret", Arc::new(Memory::default()));
        let token = grants.issue(CLIP, &listener("alice"), 1_000);
        let size = 1_000_000;
        assert!(grants
            .cover(&token, CLIP, size, 1_000)
            .await
            .unwrap()
            .is_none());
        assert!(grants.claim(&token, CLIP, 1_000).await.unwrap());
        // While one request pays, nobody else may claim the same grant.
        assert!(!grants.claim(&token, CLIP, 1_000).await.unwrap());
        let paid = grants
            .pay(&token, budget(size), size, 1_000 + GRANT_TTL_SECS, 1_000)
            .await
            .unwrap();
        paid.meter().store(size, Ordering::Relaxed);
        drop(paid);
        // Seeking within the budget is covered, another whole copy is not.
        let seek = grants.cover(&token, CLIP, size / 4, 1_001).await.unwrap();
        assert!(seek.is_some());
        assert!(grants
            .cover(&token, CLIP, size, 1_001)
            .await
            .unwrap()
            .is_none());
        // Nor is anything once the grant's life is over, or for another clip.
        assert!(grants
            .cover(&token, CLIP, 1, 1_000 + GRANT_TTL_SECS)
            .await
            .unwrap()
            .is_none());
        assert!(grants
            .cover(&token, "BBBBBBBBBBBBBBBB", 1, 1_001)
            .await
            .unwrap()
            .is_none());
    }

    #[tokio::test]
    async fn bytes_a_request_did_not_send_go_back_to_the_grant() {
        let grants = Grants::new(b"secret", Arc::new(Memory::default()));
        let token = grants.issue(CLIP, &listener("alice"), 1_000);
        let size = 1_000_000;
        assert!(grants.claim(&token, CLIP, 1_000).await.unwrap());
        // The first request asked for everything but the listener seeked after 10 kB.
        let first = grants
            .pay(&token, budget(size), size, 1_000 + GRANT_TTL_SECS, 1_000)
            .await
            .unwrap();
        first.meter().store(10_000, Ordering::Relaxed);
        drop(first);
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        // So the rest of the clip from the seek point is still covered.
        let rest = grants
            .cover(&token, CLIP, size - 5_000, 1_001)
            .await
            .unwrap();
        assert!(rest.is_some());
    }

    #[test]
    fn budgets_and_lifetimes_follow_the_clip() {
        assert_eq!(budget(1_000_000), 1_500_000);
        assert_eq!(budget(1_000), 1_500);
        assert_eq!(lifetime(None), GRANT_TTL_SECS);
        assert_eq!(lifetime(Some(60_000)), GRANT_TTL_SECS + 120);
        assert_eq!(lifetime(Some(i64::MAX)), MAX_GRANT_SECS);
    }
}
