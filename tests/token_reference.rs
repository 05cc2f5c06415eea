//! fastauth's token verifier against jsonwebtoken's `decode` (the reference in
//! fastauth-testkit), on a corpus of headers, claims and signature damage and on 20,000
//! random tokens: both accept the same tokens with the same claims and refuse the others
//! for the same reason. The verifier signs and checks with its own HMAC-SHA256; this is
//! what holds it to the behaviour clients know.

mod common;

use fastauth::{FastAuth, hooks::TokenCodec, token::TokenType};
use fastauth_testkit::jwt::Reference;

use common::{
    auth::builder,
    jwt::{HS256, hs256, now},
    keys::KEY,
};

fn auth() -> FastAuth {
    builder().stateless().build().unwrap()
}

fn assert_agree(c: &TokenCodec, reference: &Reference, token: &str) {
    for expected in [TokenType::Access, TokenType::Refresh] {
        let fast = c.verify(token, expected);
        let reference = reference.verify(token, expected);
        assert_eq!(
            fast.is_ok(),
            reference.is_ok(),
            "{token}: fast {fast:?} vs reference {reference:?}"
        );
        if let (Ok(a), Ok(b)) = (&fast, &reference) {
            assert_eq!(a, b, "{token}");
        }
    }
}

/// Every header member jsonwebtoken's `Header` reads (and one it does not), with a value of
/// every JSON type: a member of the wrong type, or a value `decode` refuses (`"b64": false`,
/// checked by `decode` but not by `decode_header`), must be refused alike.
#[test]
fn every_header_member_with_every_type_of_value_is_judged_as_jsonwebtoken_judges_it() {
    let auth = auth();
    let c = fastauth::hooks::codec(&auth);
    let reference = Reference::new([(None, KEY)], 0);
    let payload = format!(
        r#"{{"client_id":"a","type":"access","exp":{},"iat":{}}}"#,
        now() + 60,
        now()
    );
    let members = [
        "typ", "cty", "jku", "jwk", "kid", "x5u", "x5c", "x5t", "x5t#S256", "crit", "enc", "zip", "url",
        "nonce", "b64", "other",
    ];
    let values = [
        r#""JWT""#,
        r#""b64""#,
        "1",
        "1.5",
        "true",
        "false",
        "null",
        r#"["b64"]"#,
        "[]",
        "{}",
    ];
    for member in members {
        for value in values {
            let header = format!(r#"{{"alg":"HS256","{member}":{value}}}"#);
            assert_agree(c, &reference, &hs256(&header, &payload, KEY));
            let with_type = format!(r#"{{"alg":"HS256","typ":"JWT","{member}":{value}}}"#);
            assert_agree(c, &reference, &hs256(&with_type, &payload, KEY));
        }
    }
}

#[test]
fn fast_verifier_agrees_with_jsonwebtoken_on_a_corpus() {
    let auth = auth();
    let c = fastauth::hooks::codec(&auth);
    let reference = Reference::new([(None, KEY)], 0);
    let now = now();
    let h = r#"{"alg":"HS256","typ":"JWT"}"#;
    let payloads = [
        format!(
            r#"{{"client_id":"a","type":"access","exp":{},"iat":{now}}}"#,
            now + 60
        ),
        format!(
            r#"{{"client_id":"a","type":"refresh","exp":{},"iat":{now}}}"#,
            now + 60
        ),
        format!(r#"{{"client_id":"a","type":"access","exp":{}}}"#, now + 60),
        format!(
            r#"{{"client_id":"a","type":"access","exp":{},"iat":{now}}}"#,
            now - 100
        ),
        format!(
            r#"{{"client_id":"a","type":"access","exp":{},"iat":{now}}}"#,
            now - 5
        ),
        format!(r#"{{"client_id":"a","type":"access","iat":{now}}}"#),
        format!(r#"{{"client_id":"a","type":"access","exp":"{}"}}"#, now + 60),
        format!(r#"{{"client_id":"a","type":"access","exp":{}.5}}"#, now + 60),
        format!(r#"{{"client_id":"a","type":"access","exp":{}.0}}"#, now + 60),
        r#"{"client_id":"a","type":"access","exp":1e300}"#.to_owned(),
        r#"{"client_id":"a","type":"access","exp":-5}"#.to_owned(),
        format!(
            r#"{{"client_id":"a","type":"access","exp":{},"nbf":{}}}"#,
            now + 60,
            now + 30
        ),
        format!(
            r#"{{"client_id":"a","type":"access","exp":{},"nbf":{}}}"#,
            now + 60,
            now - 30
        ),
        format!(
            r#"{{"client_id":"a","type":"access","exp":{},"aud":"x"}}"#,
            now + 60
        ),
        format!(
            r#"{{"client_id":"a","type":"access","exp":{},"aud":5}}"#,
            now + 60
        ),
        format!(
            r#"{{"client_id":"a","type":"access","exp":{},"sub":"s","iss":"i"}}"#,
            now + 60
        ),
        format!(
            r#"{{"client_id":"a","client_id":"b","type":"access","exp":{}}}"#,
            now + 60
        ),
        format!(
            r#"{{"client_id":"a","type":"access","exp":{},"exp":{}}}"#,
            now + 60,
            now + 61
        ),
        format!(
            r#"{{"client_id":"a","type":"access","exp":{}}} trailing"#,
            now + 60
        ),
        format!(r#"{{"client_id":"a","type":"access","exp":{}}}   "#, now + 60),
        format!(r#"{{"client_id":"","type":"access","exp":{}}}"#, now + 60),
        format!(r#"{{"client_id":"a\u0000b","type":"access","exp":{}}}"#, now + 60),
        format!(
            r#"{{"client_id":"\u00e9","type":"\u0061ccess","exp":{}}}"#,
            now + 60
        ),
        format!(r#"{{"client_id":5,"type":"access","exp":{}}}"#, now + 60),
        format!(r#"{{"type":"access","exp":{}}}"#, now + 60),
        format!(r#"{{"client_id":"a","exp":{}}}"#, now + 60),
        format!(r#"{{"client_id":"a","type":"other","exp":{}}}"#, now + 60),
        format!(
            r#"{{"client_id":"a","type":"access","exp":{},"jti":null}}"#,
            now + 60
        ),
        format!(
            r#"{{"client_id":"a","type":"access","exp":{},"jti":7}}"#,
            now + 60
        ),
        format!(
            r#"{{"client_id":"a","type":"access","exp":{},"iat":-1}}"#,
            now + 60
        ),
        "[]".to_owned(),
        "null".to_owned(),
        "".to_owned(),
    ];
    let headers = [
        h,
        r#"{"typ":"JWT","alg":"HS256"}"#,
        r#"{"alg":"HS256"}"#,
        r#"{"alg":"HS256","typ":"JWT","kid":"k1"}"#,
        r#"{"alg":"HS384","typ":"JWT"}"#,
        r#"{"alg":"none","typ":"JWT"}"#,
        r#"{"alg":"HS256","typ":"JWT","crit":["exp"]}"#,
        r#"{"alg":"HS256","alg":"HS256"}"#,
        "not json",
    ];
    for header in headers {
        for payload in &payloads {
            let token = hs256(header, payload, KEY);
            assert_agree(c, &reference, &token);
            // The same token with its signature cut, padded or replaced.
            let (message, sig) = token.rsplit_once('.').unwrap();
            for bad in [
                format!("{message}."),
                format!("{message}.{sig}="),
                format!("{message}.{}", &sig[1..]),
                format!("{message}.{sig}A"),
                message.to_owned(),
                format!("{message}.{sig}.{sig}"),
                format!(".{message}.{sig}"),
            ] {
                assert_agree(c, &reference, &bad);
            }
        }
    }
    let pair = c.issue_pair("z").unwrap();
    assert_agree(c, &reference, &pair.access_token);
    assert_agree(c, &reference, &pair.refresh_token);
    assert!(c.verify(&pair.access_token, TokenType::Access).is_ok());
}

#[test]
fn fast_verifier_agrees_with_jsonwebtoken_on_random_tokens() {
    use rand::{RngExt, seq::IndexedRandom};
    let auth = auth();
    let c = fastauth::hooks::codec(&auth);
    let reference = Reference::new([(None, KEY)], 0);
    let mut rng = rand::rng();
    let valid = c.issue_pair("random-client").unwrap().access_token;
    let alphabet: Vec<char> = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ "
        .chars()
        .collect();
    for _ in 0..20_000 {
        let token: String = match rng.random_range(0..3) {
            // Random text.
            0 => (0..rng.random_range(0..300))
                .map(|_| *alphabet.choose(&mut rng).unwrap())
                .collect(),
            // A valid token with a few characters replaced, inserted or removed.
            1 => {
                let mut chars: Vec<char> = valid.chars().collect();
                for _ in 0..rng.random_range(1..4) {
                    let i = rng.random_range(0..chars.len());
                    match rng.random_range(0..3) {
                        0 => chars[i] = *alphabet.choose(&mut rng).unwrap(),
                        1 => chars.insert(i, *alphabet.choose(&mut rng).unwrap()),
                        _ => {
                            chars.remove(i);
                        }
                    }
                }
                chars.into_iter().collect()
            }
            // Random claims, correctly signed.
            _ => {
                // Never within a few seconds of now: both sides read the clock separately.
                let offset = rng.random_range(3..100) * if rng.random_bool(0.5) { 1 } else { -1 };
                let exp: i64 = now() as i64 + offset;
                let fields = [
                    format!(r#""client_id":"c{}""#, rng.random_range(0..3)),
                    format!(
                        r#""type":"{}""#,
                        ["access", "refresh", "x"].choose(&mut rng).unwrap()
                    ),
                    format!(r#""exp":{exp}"#),
                    format!(r#""iat":{}"#, rng.random_range(0..10)),
                    r#""nbf":1"#.to_owned(),
                    r#""aud":"a""#.to_owned(),
                    r#""jti":"j""#.to_owned(),
                    r#""extra":{"x":[1,2]}"#.to_owned(),
                ];
                let chosen: Vec<String> = fields.iter().filter(|_| rng.random_bool(0.7)).cloned().collect();
                hs256(HS256, &format!("{{{}}}", chosen.join(",")), KEY)
            }
        };
        assert_agree(c, &reference, &token);
    }
}
