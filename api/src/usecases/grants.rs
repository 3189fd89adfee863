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
//!
//! A *playback pass* is the other capability signed here: what lets the clip's owner or a
//! moderator play it in an `<audio>` element, which cannot send `Authorization`. An
//! authenticated call (`POST /api/v1/items/{id}/playback`) issues it; it names the clip, the
//! listener, a deadline and whom it plays as, and `/{id}/audio?playback=…` serves that listener
//! as the owner or moderator would be served: uncounted, whatever the clip's state. See
//! `docs/adr/0015-playback-urls-for-owners-and-moderators.md`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use aws_lc_rs::{digest, hmac, rand};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use poem::http::header;
use poem::Request;
use voicebin_projections::{PlaybackGrants, StoreError};

use crate::access::Reader;
use crate::http::client_ip;

/// How long a paid grant lasts at least; a long clip's grant lasts twice its duration longer.
pub const GRANT_TTL_SECS: i64 = 600;
/// The longest a paid grant lasts, however long the clip.
const MAX_GRANT_SECS: i64 = 6 * 3600;
/// How long one request may hold the claim to pay for a grant before another may take it over
/// (a request that goes away releases its claim at once).
pub const CLAIM_SECS: i64 = 10;
/// The length of a nonce and of a tag, in unpadded base64url characters.
const NONCE_CHARS: usize = 22;
const TAG_CHARS: usize = 43;
/// The longest a playback pass lasts.
pub const MAX_PASS_SECS: i64 = MAX_GRANT_SECS;

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

/// A grant token whose signature, clip and listener were checked.
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

/// The bytes one request took from a grant; what it does not send goes back to that payment
/// of the grant when the response body is dropped (the listener seeked or stopped).
pub struct Refund {
    store: Arc<dyn PlaybackGrants>,
    nonce: String,
    generation: i64,
    reserved: u64,
    sent: Arc<AtomicU64>,
}

impl Refund {
    /// How many bytes the request may send.
    pub fn bytes(&self) -> u64 {
        self.reserved
    }

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
        let (store, nonce, generation) = (
            self.store.clone(),
            std::mem::take(&mut self.nonce),
            self.generation,
        );
        runtime.spawn(async move {
            let unsent = i64::try_from(unsent).unwrap_or(i64::MAX);
            if let Err(e) = store.refund(&nonce, generation, unsent).await {
                tracing::warn!(error = %e, "returning unsent bytes to a playback grant failed");
            }
        });
    }
}

/// The claim to pay for a grant. Dropped without [`pay`](Claim::pay) (the download could not
/// be counted, or the request went away), it is released, keeping what was paid before.
pub struct Claim {
    store: Arc<dyn PlaybackGrants>,
    nonce: String,
    settled: bool,
}

impl Claim {
    /// Records the payment: the grant covers `budget` bytes until `expires_at`, of which the
    /// paying request takes `bytes`. Returns that request's reservation.
    pub async fn pay(
        mut self,
        budget: i64,
        bytes: u64,
        expires_at: i64,
    ) -> Result<Refund, StoreError> {
        let used = i64::try_from(bytes).unwrap_or(i64::MAX);
        let generation = self
            .store
            .pay(&self.nonce, budget, used, expires_at)
            .await?;
        self.settled = true;
        Ok(Refund {
            store: self.store.clone(),
            nonce: self.nonce.clone(),
            generation,
            reserved: bytes,
            sent: Arc::new(AtomicU64::new(0)),
        })
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (store, nonce) = (self.store.clone(), std::mem::take(&mut self.nonce));
        runtime.spawn(async move {
            if let Err(e) = store.release(&nonce).await {
                tracing::warn!(error = %e, "releasing a playback-grant claim failed");
            }
        });
    }
}

/// Issues, checks and settles playback grants.
pub struct Grants {
    key: hmac::Key,
    store: Arc<dyn PlaybackGrants>,
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
        }
    }

    fn message(clip: &str, listener: &Listener, nonce: &str) -> String {
        format!("{clip}.{}.{nonce}", listener.0)
    }

    /// A new, unpaid token for `listener` to play `clip` with: for a page's player URL, or for
    /// a listener who arrived without one (set as a cookie). Its first download counts and
    /// pays for it.
    pub fn issue(&self, clip: &str, listener: &Listener) -> Token {
        let mut nonce = [0u8; 16];
        // The system generator does not fail on supported platforms; a zero nonce would only
        // make this listener's tokens for this clip share one grant.
        let _ = rand::fill(&mut nonce);
        let nonce = URL_SAFE_NO_PAD.encode(nonce);
        let tag = hmac::sign(&self.key, Self::message(clip, listener, &nonce).as_bytes());
        let raw = format!("{nonce}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()));
        Token { nonce, raw }
    }

    /// `raw` as a token of `listener` for `clip`, if it is one (in its one canonical form).
    pub fn verify(&self, clip: &str, listener: &Listener, raw: &str) -> Option<Token> {
        let (nonce, tag) = raw.split_once('.')?;
        if nonce.len() != NONCE_CHARS || tag.len() != TAG_CHARS {
            return None;
        }
        URL_SAFE_NO_PAD.decode(nonce).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let message = Self::message(clip, listener, nonce);
        hmac::verify(&self.key, message.as_bytes(), &tag).ok()?;
        Some(Token {
            nonce: nonce.to_owned(),
            raw: raw.to_owned(),
        })
    }

    fn pass_message(clip: &str, listener: &Listener, expires_at: i64, role: char) -> String {
        // Its own prefix: no grant's message (which starts with a clip id) is a pass's.
        format!("playback.{clip}.{}.{expires_at}.{role}", listener.0)
    }

    /// A playback pass for `listener` to play `clip` as `reader` (its owner or a moderator)
    /// until `expires_at` (Unix seconds); `None` for the public, who need none.
    pub fn issue_pass(
        &self,
        clip: &str,
        listener: &Listener,
        reader: Reader,
        expires_at: i64,
    ) -> Option<String> {
        let role = match reader {
            Reader::Owner => 'o',
            Reader::Moderator => 'm',
            Reader::Public => return None,
        };
        let message = Self::pass_message(clip, listener, expires_at, role);
        let tag = hmac::sign(&self.key, message.as_bytes());
        Some(format!(
            "{expires_at}.{role}.{}",
            URL_SAFE_NO_PAD.encode(tag.as_ref())
        ))
    }

    /// Whom `raw` lets `listener` play `clip` as at `now`, if it is a live pass of theirs for
    /// that clip (in its one canonical form).
    pub fn verify_pass(
        &self,
        clip: &str,
        listener: &Listener,
        raw: &str,
        now: i64,
    ) -> Option<Reader> {
        let mut parts = raw.split('.');
        let (expires, role, tag) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || tag.len() != TAG_CHARS {
            return None;
        }
        if expires.is_empty() || expires.len() > 12 || !expires.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let expires_at: i64 = expires.parse().ok()?;
        if expires != expires_at.to_string() || expires_at <= now {
            return None;
        }
        let (role, reader) = match role {
            "o" => ('o', Reader::Owner),
            "m" => ('m', Reader::Moderator),
            _ => return None,
        };
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let message = Self::pass_message(clip, listener, expires_at, role);
        hmac::verify(&self.key, message.as_bytes(), &tag).ok()?;
        Some(reader)
    }

    /// Takes up to `want` bytes of `clip`, and at least `min`, from `token`'s live, paid grant:
    /// the reservation, to be metered by the response.
    pub async fn reserve(
        &self,
        token: &Token,
        clip: &str,
        want: u64,
        min: u64,
        now: i64,
    ) -> Result<Option<Refund>, StoreError> {
        let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let taken = self
            .store
            .reserve(&token.nonce, clip, as_i64(want), as_i64(min), now)
            .await?;
        Ok(taken.map(|taken| Refund {
            store: self.store.clone(),
            nonce: token.nonce.clone(),
            generation: taken.generation,
            reserved: u64::try_from(taken.bytes).unwrap_or_default(),
            sent: Arc::new(AtomicU64::new(0)),
        }))
    }

    /// The claim to pay for `token`'s grant with a counted download, unless another request
    /// holds it.
    pub async fn claim(
        &self,
        token: &Token,
        clip: &str,
        now: i64,
    ) -> Result<Option<Claim>, StoreError> {
        let held = self
            .store
            .claim(&token.nonce, clip, now + CLAIM_SECS, now)
            .await?;
        Ok(held.then(|| Claim {
            store: self.store.clone(),
            nonce: token.nonce.clone(),
            settled: false,
        }))
    }

    /// Forgets expired grants (run periodically by the server); returns how many.
    pub async fn purge_expired(&self) -> Result<u64, StoreError> {
        self.store
            .purge_expired(chrono::Utc::now().timestamp())
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use voicebin_projections::Reservation;

    use super::*;

    #[derive(Clone, Default)]
    struct Row {
        clip: String,
        generation: i64,
        expires_at: i64,
        budget: i64,
        used: i64,
        lease_until: i64,
    }

    /// Grants in memory (the SQL adapters are tested against the real databases).
    #[derive(Default)]
    struct Memory(Mutex<HashMap<String, Row>>);

    #[async_trait::async_trait]
    impl PlaybackGrants for Memory {
        async fn reserve(
            &self,
            nonce: &str,
            clip: &str,
            want: i64,
            min: i64,
            now: i64,
        ) -> Result<Option<Reservation>, StoreError> {
            let mut rows = self.0.lock().unwrap();
            Ok(rows.get_mut(nonce).and_then(|row| {
                let left = row.budget - row.used;
                let live = row.clip == clip && row.generation > 0 && row.expires_at > now;
                (live && left >= min).then(|| {
                    let bytes = want.min(left);
                    row.used += bytes;
                    Reservation {
                        bytes,
                        generation: row.generation,
                    }
                })
            }))
        }
        async fn claim(
            &self,
            nonce: &str,
            clip: &str,
            lease_until: i64,
            now: i64,
        ) -> Result<bool, StoreError> {
            let mut rows = self.0.lock().unwrap();
            let row = rows.entry(nonce.into()).or_insert_with(|| Row {
                clip: clip.into(),
                ..Row::default()
            });
            let free = row.clip == clip && row.lease_until <= now;
            if free {
                row.lease_until = lease_until;
            }
            Ok(free)
        }
        async fn pay(
            &self,
            nonce: &str,
            budget: i64,
            used: i64,
            expires_at: i64,
        ) -> Result<i64, StoreError> {
            let mut rows = self.0.lock().unwrap();
            let row = rows.get_mut(nonce).unwrap();
            row.generation += 1;
            (row.budget, row.used, row.expires_at, row.lease_until) = (budget, used, expires_at, 0);
            Ok(row.generation)
        }
        async fn release(&self, nonce: &str) -> Result<(), StoreError> {
            let mut rows = self.0.lock().unwrap();
            if rows.get(nonce).is_some_and(|row| row.generation == 0) {
                rows.remove(nonce);
            } else if let Some(row) = rows.get_mut(nonce) {
                row.lease_until = 0;
            }
            Ok(())
        }
        async fn refund(&self, nonce: &str, generation: i64, bytes: i64) -> Result<(), StoreError> {
            if let Some(row) = self.0.lock().unwrap().get_mut(nonce) {
                if row.generation == generation {
                    row.used = (row.used - bytes).max(0);
                }
            }
            Ok(())
        }
        async fn purge_expired(&self, now: i64) -> Result<u64, StoreError> {
            let mut rows = self.0.lock().unwrap();
            let before = rows.len();
            rows.retain(|_, row| row.expires_at > now || row.lease_until > now);
            Ok((before - rows.len()) as u64)
        }
    }

    const CLIP: &str = "AAAAAAAAAAAAAAAA";
    const SIZE: u64 = 1_000_000;

    fn listener(name: &str) -> Listener {
        Listener(name.to_owned())
    }

    fn grants() -> (Grants, Arc<Memory>) {
        let memory = Arc::new(Memory::default());
        (Grants::new(b"secret", memory.clone()), memory)
    }

    /// Lets spawned refunds and releases run.
    async fn settle() {
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
    }

    /// Pays for `token` with a download of the whole clip, all of it sent.
    async fn paid(grants: &Grants, token: &Token) {
        let claim = grants.claim(token, CLIP, 1_000).await.unwrap().unwrap();
        let refund = claim
            .pay(budget(SIZE), SIZE, 1_000 + GRANT_TTL_SECS)
            .await
            .unwrap();
        refund.meter().store(SIZE, Ordering::Relaxed);
    }

    #[test]
    fn a_token_is_its_listeners_for_its_clip_in_its_one_form() {
        let (grants, _) = grants();
        let alice = listener("alice");
        let token = grants.issue(CLIP, &alice);
        assert!(grants.verify(CLIP, &alice, token.as_str()).is_some());
        assert!(grants
            .verify(CLIP, &listener("bob"), token.as_str())
            .is_none());
        assert!(grants
            .verify("BBBBBBBBBBBBBBBB", &alice, token.as_str())
            .is_none());
        let other_key = Grants::new(b"other", Arc::new(Memory::default()));
        assert!(other_key.verify(CLIP, &alice, token.as_str()).is_none());
        // Two tokens for the same listener are different grants.
        assert_ne!(grants.issue(CLIP, &alice), token);
        let (nonce, tag) = token.as_str().split_once('.').unwrap();
        for garbage in [
            "",
            "garbage",
            "a.b",
            &format!("{nonce}.{tag}="),
            &format!("{nonce}=.{tag}"),
            &format!("{nonce}.{tag}.x"),
            nonce,
        ] {
            assert!(grants.verify(CLIP, &alice, garbage).is_none(), "{garbage}");
        }
    }

    #[test]
    fn a_pass_plays_its_clip_for_its_listener_as_whom_it_names_until_it_expires() {
        let (grants, _) = grants();
        let alice = listener("alice");
        let pass = grants
            .issue_pass(CLIP, &alice, Reader::Moderator, 2_000)
            .unwrap();
        assert_eq!(
            grants.verify_pass(CLIP, &alice, &pass, 1_999),
            Some(Reader::Moderator)
        );
        let owner = grants
            .issue_pass(CLIP, &alice, Reader::Owner, 2_000)
            .unwrap();
        assert_eq!(
            grants.verify_pass(CLIP, &alice, &owner, 1_000),
            Some(Reader::Owner)
        );
        // Expired, another listener, another clip, another key.
        assert_eq!(grants.verify_pass(CLIP, &alice, &pass, 2_000), None);
        assert_eq!(
            grants.verify_pass(CLIP, &listener("bob"), &pass, 1_000),
            None
        );
        assert_eq!(
            grants.verify_pass("BBBBBBBBBBBBBBBB", &alice, &pass, 1_000),
            None
        );
        let other_key = Grants::new(b"other", Arc::new(Memory::default()));
        assert_eq!(other_key.verify_pass(CLIP, &alice, &pass, 1_000), None);
        // Nobody needs a pass to play as the public.
        assert_eq!(grants.issue_pass(CLIP, &alice, Reader::Public, 2_000), None);
        // Tampering: a later deadline, another role, other forms of the same numbers.
        let tag = pass.rsplit('.').next().unwrap();
        for forged in [
            format!("3000.m.{tag}"),
            format!("2000.o.{tag}"),
            format!("02000.m.{tag}"),
            format!("+2000.m.{tag}"),
            format!("2000.p.{tag}"),
            format!("2000.m.{tag}.x"),
            format!("2000.m.{tag}="),
            "2000.m".to_owned(),
            String::new(),
        ] {
            assert_eq!(
                grants.verify_pass(CLIP, &alice, &forged, 1_000),
                None,
                "{forged}"
            );
        }
        // A grant token is no pass, and a pass no grant token.
        let grant = grants.issue(CLIP, &alice);
        assert_eq!(
            grants.verify_pass(CLIP, &alice, grant.as_str(), 1_000),
            None
        );
        assert!(grants.verify(CLIP, &alice, &pass).is_none());
    }

    #[tokio::test]
    async fn a_paid_grant_covers_one_playback_and_no_more() {
        let (grants, _) = grants();
        let token = grants.issue(CLIP, &listener("alice"));
        assert!(grants
            .reserve(&token, CLIP, SIZE, 1, 1_000)
            .await
            .unwrap()
            .is_none());
        paid(&grants, &token).await;
        // A seek is covered; an open-ended range gets what is left of the budget; a whole copy
        // (which cannot be shortened) is not covered.
        let seek = grants
            .reserve(&token, CLIP, 100_000, 1, 1_001)
            .await
            .unwrap();
        assert_eq!(seek.as_ref().map(Refund::bytes), Some(100_000));
        assert!(grants
            .reserve(&token, CLIP, SIZE, SIZE, 1_001)
            .await
            .unwrap()
            .is_none());
        let rest = grants.reserve(&token, CLIP, SIZE, 1, 1_001).await.unwrap();
        assert_eq!(rest.as_ref().map(Refund::bytes), Some(400_000));
        // Nothing once the budget is spent, the grant's life is over, or for another clip.
        assert!(grants
            .reserve(&token, CLIP, 1, 1, 1_001)
            .await
            .unwrap()
            .is_none());
        drop((seek, rest));
        settle().await;
        assert!(grants
            .reserve(&token, CLIP, 1, 1, 1_000 + GRANT_TTL_SECS)
            .await
            .unwrap()
            .is_none());
        assert!(grants
            .reserve(&token, "BBBBBBBBBBBBBBBB", 1, 1, 1_001)
            .await
            .unwrap()
            .is_none());
    }

    #[tokio::test]
    async fn one_request_pays_at_a_time_and_a_failed_payment_keeps_the_grant() {
        let (grants, memory) = grants();
        let token = grants.issue(CLIP, &listener("alice"));
        paid(&grants, &token).await;
        let claim = grants.claim(&token, CLIP, 1_001).await.unwrap().unwrap();
        // While one request pays, nobody else may claim the same grant.
        assert!(grants.claim(&token, CLIP, 1_001).await.unwrap().is_none());
        // The payment fails (the limit is used up): what was left of the grant stays usable.
        drop(claim);
        settle().await;
        let seek = grants.reserve(&token, CLIP, 1_000, 1, 1_002).await.unwrap();
        assert_eq!(seek.map(|r| r.bytes()), Some(1_000));
        // A claim of a grant never paid is forgotten with its release.
        let fresh = grants.issue(CLIP, &listener("bob"));
        drop(grants.claim(&fresh, CLIP, 1_001).await.unwrap().unwrap());
        settle().await;
        assert_eq!(memory.0.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn bytes_a_request_did_not_send_go_back_to_its_payment_only() {
        let (grants, _) = grants();
        let token = grants.issue(CLIP, &listener("alice"));
        let claim = grants.claim(&token, CLIP, 1_000).await.unwrap().unwrap();
        // The first request asked for everything but the listener seeked after 10 kB.
        let first = claim
            .pay(budget(SIZE), SIZE, 1_000 + GRANT_TTL_SECS)
            .await
            .unwrap();
        first.meter().store(10_000, Ordering::Relaxed);
        drop(first);
        settle().await;
        let rest = grants
            .reserve(&token, CLIP, SIZE - 5_000, SIZE - 5_000, 1_001)
            .await;
        assert!(rest.unwrap().is_some());
        // A refund from an earlier payment does not top up a later one.
        let stale = grants
            .reserve(&token, CLIP, 400_000, 1, 1_001)
            .await
            .unwrap()
            .unwrap();
        let claim = grants.claim(&token, CLIP, 1_001).await.unwrap().unwrap();
        let renewed = claim
            .pay(budget(SIZE), SIZE, 1_001 + GRANT_TTL_SECS)
            .await
            .unwrap();
        renewed.meter().store(SIZE, Ordering::Relaxed);
        drop((stale, renewed));
        settle().await;
        let left = grants.reserve(&token, CLIP, SIZE, 1, 1_002).await.unwrap();
        assert_eq!(left.map(|r| r.bytes()), Some(500_000));
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
