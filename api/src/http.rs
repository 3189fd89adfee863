//! Small HTTP facts every edge needs: the request id a client or proxy sent, the client's
//! address, and conditional-request matching.

use std::net::IpAddr;

use chrono::{DateTime, Datelike, Utc};
use poem::http::HeaderMap;
use poem::Request;

/// Request id from `X-Request-Id`, if the client or a proxy set one (bounded and printable).
pub fn request_id(req: &Request) -> Option<String> {
    request_id_header(req.headers())
}

/// [`request_id`] from a header map (the MCP tools see the request as `http` parts).
pub fn request_id_header(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
}

/// IPv4-mapped IPv6 addresses are the IPv4 address.
pub fn normalise_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// The client's address: the peer, or with `trust_forwarded_for` the last `X-Forwarded-For`
/// entry (the one the trusted proxy added).
pub fn client_ip(req: &Request, trust_forwarded_for: bool) -> Option<IpAddr> {
    if trust_forwarded_for {
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .last()
            .and_then(|v| v.trim().parse::<IpAddr>().ok());
        if forwarded.is_some() {
            return forwarded.map(normalise_ip);
        }
    }
    req.remote_addr()
        .as_socket_addr()
        .map(|addr| normalise_ip(addr.ip()))
}

/// Whether an `If-None-Match` list matches `etag` (weak comparison, RFC 9110 §13.1.2).
pub fn none_match(header: &str, etag: &str) -> bool {
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    header.trim() == "*" || header.split(',').any(|t| strip(t) == strip(etag))
}

/// An HTTP date (RFC 9110 §5.6.7), for `Last-Modified`.
pub fn http_date(at: DateTime<Utc>) -> String {
    // httpdate writes it without chrono's format parser (a download's `Last-Modified` is
    // written for every request), but only from 1970 to 9999; chrono writes any other.
    match u64::try_from(at.timestamp()) {
        Ok(secs) if at.year() <= 9999 => {
            httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
        }
        _ => at.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
    }
}

/// A header's value as UTF-8 text; 400 when it is not valid UTF-8 or sent twice.
pub fn raw_header(
    req: &poem::Request,
    name: &str,
) -> Result<Option<String>, crate::error::ApiError> {
    use crate::error::{ApiError, Code};
    let mut values = req.headers().get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::new(
            Code::BadRequest,
            format!("`{name}` is sent more than once"),
        ));
    }
    String::from_utf8(value.as_bytes().to_vec())
        .map(Some)
        .map_err(|_| ApiError::new(Code::BadRequest, format!("`{name}` is not valid UTF-8")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_uses_weak_comparison() {
        assert!(none_match("\"abc\"", "\"abc\""));
        assert!(none_match("W/\"abc\", \"x\"", "\"abc\""));
        assert!(none_match("*", "\"abc\""));
        assert!(!none_match("\"abd\"", "\"abc\""));
    }

    #[test]
    fn http_dates_are_written_alike_within_and_outside_httpdates_years() {
        use chrono::TimeZone;
        let chrono_way = |at: DateTime<Utc>| at.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        for at in [
            Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2026, 12, 5, 17, 3, 9).unwrap(),
            Utc.with_ymd_and_hms(2024, 2, 29, 23, 59, 59).unwrap()
                + chrono::Duration::milliseconds(999),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(1969, 12, 31, 23, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap(),
        ] {
            assert_eq!(http_date(at), chrono_way(at), "{at}");
        }
        assert_eq!(
            http_date(Utc.with_ymd_and_hms(1994, 11, 6, 8, 49, 37).unwrap()),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
    }
}
