use super::*;

/// A challenge altcha-lib 2.8.0 made and solved (`createChallenge` with `cost: 10`,
/// `keyPrefix: "0"`, `hmacSignatureSecret: "voicebin-test-secret"`, `expiresAt: 2000000000`;
/// then `solveChallenge`), as its widget would send it.
const ALTCHA_LIB_SECRET: &[u8] = b"voicebin-test-secret";
const ALTCHA_LIB_CHALLENGE: &str = r#"{"parameters":{"algorithm":"PBKDF2/SHA-256","cost":10,"expiresAt":2000000000,"keyLength":32,"keyPrefix":"0","nonce":"1e4049edf013d4c3a63996200296690b","salt":"f49c0bde509fd41003bdfb2d3acd131a"},"signature":"8f264012239f14c1611fe4d7ef6579cca69d2be4b931061e87c41efde9f55966"}"#;
const ALTCHA_LIB_PAYLOAD: &str = "eyJjaGFsbGVuZ2UiOnsicGFyYW1ldGVycyI6eyJhbGdvcml0aG0iOiJQQktERjIvU0hBLTI1NiIsImNvc3QiOjEwLCJleHBpcmVzQXQiOjIwMDAwMDAwMDAsImtleUxlbmd0aCI6MzIsImtleVByZWZpeCI6IjAiLCJub25jZSI6IjFlNDA0OWVkZjAxM2Q0YzNhNjM5OTYyMDAyOTY2OTBiIiwic2FsdCI6ImY0OWMwYmRlNTA5ZmQ0MTAwM2JkZmIyZDNhY2QxMzFhIn0sInNpZ25hdHVyZSI6IjhmMjY0MDEyMjM5ZjE0YzE2MTFmZTRkN2VmNjU3OWNjYTY5ZDJiZTRiOTMxMDYxZTg3YzQxZWZkZTlmNTU5NjYifSwic29sdXRpb24iOnsiY291bnRlciI6NCwiZGVyaXZlZEtleSI6IjA2YWMyMTdmNmIxZDI5OTc2ZmI3ZjIzMzQ1Y2VkODc3OWI5YmY3OWU1NjllOGIyZjI5YzE2YjczNzYzMjkxNWEiLCJ0aW1lIjowLjd9fQ==";
const NOW: i64 = 1_900_000_000;

fn challenges(work: Work) -> Challenges {
    Challenges::new(b"k", work)
}

/// Solves `challenge` as the widget does: counters from 0 until the derived key has the prefix.
fn solve(challenge: &Challenge) -> (u32, String) {
    let p = &challenge.parameters;
    let nonce = hex::decode(&p.nonce).unwrap();
    let salt = hex::decode(&p.salt).unwrap();
    for counter in 0u32.. {
        let mut password = nonce.clone();
        password.extend_from_slice(&counter.to_be_bytes());
        let mut key = [0u8; 32];
        pbkdf2::derive(
            pbkdf2::PBKDF2_HMAC_SHA256,
            NonZeroU32::new(p.cost).unwrap(),
            &salt,
            &password,
            &mut key,
        );
        let key = hex::encode(key);
        if key.starts_with(&p.key_prefix) {
            return (counter, key);
        }
    }
    unreachable!()
}

fn payload(challenge: &Challenge, counter: u32, derived_key: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(
        serde_json::json!({
            "challenge": challenge,
            "solution": {"counter": counter, "derivedKey": derived_key, "time": 12.5},
        })
        .to_string(),
    )
}

#[test]
fn a_challenge_altcha_lib_made_and_solved_is_taken_and_ours_sign_alike() {
    let ours = Challenges::new(ALTCHA_LIB_SECRET, Work::default());
    let solved = ours.check(ALTCHA_LIB_PAYLOAD, NOW).unwrap();
    assert_eq!(solved.nonce, "1e4049edf013d4c3a63996200296690b");
    assert_eq!(solved.expires_at, 2_000_000_000);
    // Signing the same parameters gives altcha-lib's signature: the canonical JSON agrees.
    let theirs: Challenge = serde_json::from_str(ALTCHA_LIB_CHALLENGE).unwrap();
    assert_eq!(
        hex::encode(ours.sign(&theirs.parameters).as_ref()),
        theirs.signature
    );
    // And serialises back to the very same text.
    assert_eq!(
        serde_json::to_string(&theirs).unwrap(),
        ALTCHA_LIB_CHALLENGE
    );
    // Under another key it is refused.
    assert!(matches!(
        challenges(Work::default()).check(ALTCHA_LIB_PAYLOAD, NOW),
        Err(ChallengeError::Refused(_))
    ));
}

#[test]
fn an_issued_challenge_has_the_operators_work_and_a_solution_checks_out() {
    let work = Work {
        cost: 50,
        digits: 2,
    };
    let c = challenges(work);
    let challenge = c.issue(NOW);
    let p = &challenge.parameters;
    assert_eq!(p.algorithm, "PBKDF2/SHA-256");
    assert_eq!(
        (p.cost, p.key_prefix.as_str(), p.key_length),
        (50, "00", 32)
    );
    assert_eq!(p.expires_at, NOW + CHALLENGE_TTL_SECS);
    assert_eq!((p.nonce.len(), p.salt.len()), (32, 32));
    assert_ne!(c.issue(NOW).parameters.nonce, p.nonce);
    let (counter, key) = solve(&challenge);
    let solved = c.check(&payload(&challenge, counter, &key), NOW).unwrap();
    assert_eq!(solved.nonce, p.nonce);
    // Padding is optional, surrounding spaces are not an error.
    let unpadded = payload(&challenge, counter, &key)
        .trim_end_matches('=')
        .to_owned();
    assert!(c.check(&format!(" {unpadded} "), NOW).is_ok());
}

#[test]
fn wrong_expired_or_tampered_solutions_are_refused() {
    let c = challenges(Work { cost: 5, digits: 1 });
    let challenge = c.issue(NOW);
    let (counter, key) = solve(&challenge);
    let refused = |text: &str| matches!(c.check(text, NOW), Err(ChallengeError::Refused(_)));
    // Another counter does not derive that key.
    assert!(refused(&payload(&challenge, counter + 1, &key)));
    // A key without the prefix.
    let mut other = key.clone().into_bytes();
    other[0] = if other[0] == b'1' { b'2' } else { b'1' };
    assert!(refused(&payload(
        &challenge,
        counter,
        &String::from_utf8(other).unwrap()
    )));
    // Easier parameters break the signature.
    for change in [
        |p: &mut ChallengeParameters| p.cost = 1,
        |p: &mut ChallengeParameters| p.key_prefix = String::new(),
        |p: &mut ChallengeParameters| p.expires_at += 3_600,
        |p: &mut ChallengeParameters| p.nonce = "00".repeat(16),
    ] {
        let mut tampered = challenge.clone();
        change(&mut tampered.parameters);
        let (counter, key) = solve(&tampered);
        assert!(refused(&payload(&tampered, counter, &key)));
    }
    // Past its time, from `expiresAt` itself on (the second the replay cache forgets it).
    let good = payload(&challenge, counter, &key);
    assert!(c.check(&good, challenge.parameters.expires_at - 1).is_ok());
    for at in [
        challenge.parameters.expires_at,
        challenge.parameters.expires_at + 1,
    ] {
        assert!(matches!(
            c.check(&good, at),
            Err(ChallengeError::Refused(e)) if e.contains("expired")
        ));
    }
}

#[test]
fn malformed_solutions_are_malformed_not_refused() {
    let c = challenges(Work { cost: 5, digits: 1 });
    let challenge = c.issue(NOW);
    let b64 =
        |v: serde_json::Value| base64::engine::general_purpose::STANDARD.encode(v.to_string());
    let cases = [
        "not base64!".to_owned(),
        "A".repeat(5_000),
        b64(serde_json::json!({"challenge": challenge})),
        b64(
            serde_json::json!({"challenge": challenge, "solution": {"counter": -1, "derivedKey": "00"}}),
        ),
        b64(
            serde_json::json!({"challenge": challenge, "solution": {"counter": 1.5, "derivedKey": "00"}}),
        ),
        b64(
            serde_json::json!({"challenge": challenge, "solution": {"counter": 1, "derivedKey": "XYZ"}}),
        ),
        b64(
            serde_json::json!({"challenge": {"parameters": challenge.parameters, "signature": "zz"}, "solution": {"counter": 1, "derivedKey": "00"}}),
        ),
        b64(
            serde_json::json!({"challenge": {"parameters": {"extra": 1}, "signature": "00"}, "solution": {"counter": 1, "derivedKey": "00"}}),
        ),
        b64(serde_json::json!([1, 2, 3])),
        base64::engine::general_purpose::STANDARD.encode([0xff, 0xfe]),
    ];
    for case in cases {
        assert!(
            matches!(c.check(&case, NOW), Err(ChallengeError::Malformed(_))),
            "{case:.80}"
        );
    }
    let e: ApiError = ChallengeError::Malformed("x").into();
    assert_eq!(e.code(), Code::InvalidField);
    let e: ApiError = ChallengeError::Refused("x").into();
    assert_eq!(e.code(), Code::ChallengeFailed);
}

#[test]
fn a_management_token_manages_its_clip_only() {
    let tokens = ManagementTokens::new(b"k");
    let a = ClipId::parse("AAAAAAAAAAAAAAAA").unwrap();
    let b = ClipId::parse("BBBBBBBBBBBBBBBB").unwrap();
    let token = tokens.token(&a);
    assert_eq!(token.len(), 43);
    assert!(tokens.verify(&a, &token));
    assert!(!tokens.verify(&b, &token));
    assert!(!ManagementTokens::new(b"other").verify(&a, &token));
    assert!(!tokens.verify(&a, &token[..42]));
    assert!(!tokens.verify(&a, "not a token"));
    assert!(!tokens.verify(&a, ""));
}
