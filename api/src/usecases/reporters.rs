//! Who files abuse reports, and how much: anonymous reporters are named by a keyed hash of
//! their network address (never the address), and reports are limited per address and per
//! account.

use std::net::IpAddr;

use aws_lc_rs::hmac;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use voicebin_domain::Reporter;

use crate::http::normalise_ip;

/// How reports are limited and when they hide a clip.
#[derive(Debug, Clone)]
pub struct ModerationSettings {
    /// Distinct reporters with open reports that hide a clip until a moderator decides; 0
    /// never hides.
    pub hide_threshold: u32,
    /// Reports accepted per network address per hour (0: no limit).
    pub reports_per_hour_per_ip: u32,
    /// Reports accepted per signed-in account per hour (0: no limit).
    pub reports_per_hour_per_account: u32,
    /// Take the client address from the last `X-Forwarded-For` entry (only behind a proxy that
    /// sets it; otherwise clients could pick their own address).
    pub trust_forwarded_for: bool,
}

impl Default for ModerationSettings {
    fn default() -> Self {
        ModerationSettings {
            hide_threshold: 3,
            reports_per_hour_per_ip: 10,
            reports_per_hour_per_account: 30,
            trust_forwarded_for: false,
        }
    }
}

/// Names anonymous reporters by a keyed hash of their address, so repeated reports from one
/// address count once without the address being stored. The key is shared by all replicas.
pub struct ReporterTags {
    key: hmac::Key,
}

impl ReporterTags {
    /// Tags keyed with `secret`.
    pub fn new(secret: &[u8]) -> Self {
        ReporterTags {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    /// The reporter an address stands for. An IPv6 address stands for its /64: one host
    /// usually holds a whole /64, and must not count as that many reporters.
    pub fn anonymous(&self, ip: IpAddr) -> Reporter {
        let network = match normalise_ip(ip) {
            IpAddr::V6(v6) => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(bits.into())
            }
            v4 => v4,
        };
        let tag = hmac::sign(&self.key, network.to_string().as_bytes());
        Reporter::anonymous(&URL_SAFE_NO_PAD.encode(&tag.as_ref()[..12]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_reporters_are_tagged_not_named() {
        let tags = ReporterTags::new(b"k");
        let a = tags.anonymous("192.0.2.1".parse().unwrap());
        assert!(a.as_str().starts_with("anonymous:"));
        assert!(!a.as_str().contains("192"));
        assert_eq!(a, tags.anonymous("::ffff:192.0.2.1".parse().unwrap()));
        assert_ne!(a, tags.anonymous("192.0.2.2".parse().unwrap()));
        assert_ne!(
            a,
            ReporterTags::new(b"other").anonymous("192.0.2.1".parse().unwrap())
        );
    }
}
