//! `fastauth token new` and `fastauth token inspect`: the library's codec, driven
//! from the command line.

use std::{
    io::Read,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use fastauth::{
    Claims, ConfigError, FastAuth, TokenMode,
    hooks::TokenCodec,
    token::{TokenError, TokenType},
};
use serde_json::{Value, json};

use crate::{InspectArgs, KeyArgs, NewArgs, failure::Failure};

pub fn new(args: NewArgs) -> Result<(), Failure> {
    let (codec, mode) = configure(&args.key, args.access_lifetime, args.refresh_lifetime)?;
    let pair = codec
        .issue_pair(&args.client_id)
        .map_err(|e| Failure::Usage(format!("cannot issue a pair for this --client-id: {e}")))?;
    if mode == TokenMode::Stored {
        eprintln!(
            "fastauth: note: the pair is not saved to any token store; a stored-mode service \
             accepts it only once it is saved for client {:?}",
            pair.client_id
        );
    }
    // The shape of the token endpoint's `data`: client_id, access_token, refresh_token.
    print_json(&pair);
    Ok(())
}

pub fn inspect(args: InspectArgs) -> Result<(), Failure> {
    let token = if args.token == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Failure::Io(format!("cannot read the token from standard input: {e}")))?;
        text.trim().to_owned()
    } else {
        args.token
    };
    let (codec, _) = configure(&args.key, None, None)?;
    let claims = match codec.verify(&token, TokenType::Access) {
        Err(TokenError::WrongType) => codec.verify(&token, TokenType::Refresh),
        verified => verified,
    }
    .map_err(|e| Failure::Refused(format!("token rejected: {}", reason(e))))?;
    print_json(&describe(&claims, now_secs()));
    Ok(())
}

/// Only what the codec needs: the key and the lifetimes (and the configured mode, for
/// the note on stored mode). Path rules, stores and the master token are left out, so
/// a service's configuration file works here as it is.
fn configure(
    key: &KeyArgs,
    access_lifetime: Option<u64>,
    refresh_lifetime: Option<u64>,
) -> Result<(TokenCodec, TokenMode), Failure> {
    let mut builder = match &key.config {
        Some(path) => FastAuth::from_file(path).map_err(config_failure)?,
        None => FastAuth::builder(),
    };
    if let Some(key) = &key.key {
        builder = builder.cryptography_key(key);
    }
    if let Some(secs) = access_lifetime {
        builder = builder.access_token_lifetime(Duration::from_secs(secs));
    }
    if let Some(secs) = refresh_lifetime {
        builder = builder.refresh_token_lifetime(Duration::from_secs(secs));
    }
    fastauth::hooks::build_codec(builder).map_err(config_failure)
}

fn config_failure(e: ConfigError) -> Failure {
    match e {
        ConfigError::MissingKey => Failure::Usage(
            "no cryptography key: pass --key, --config with a `cryptography_key`, \
             or set CRYPTOGRAPHY_KEY"
                .to_owned(),
        ),
        e => Failure::Usage(e.to_string()),
    }
}

fn reason(e: TokenError) -> String {
    match e {
        TokenError::InvalidSignature => {
            "invalid signature (tampered with, or signed with another key)".to_owned()
        }
        TokenError::WrongType => "not an access or refresh token".to_owned(),
        e => e.to_string(),
    }
}

/// The claims as the token carries them, plus the times in readable form.
fn describe(claims: &Claims, now: u64) -> Value {
    let mut out = serde_json::to_value(claims).unwrap_or_else(|_| json!({}));
    if let Value::Object(map) = &mut out {
        let left = claims.expires_at().saturating_sub(now);
        map.insert("valid".into(), Value::Bool(true));
        map.insert("issued_at".into(), Value::String(rfc3339(claims.issued_at())));
        map.insert("expires_at".into(), Value::String(rfc3339(claims.expires_at())));
        map.insert("expires_in_secs".into(), Value::from(left));
        map.insert("expires_in".into(), Value::String(human(left)));
    }
    out
}

fn print_json(value: &impl serde::Serialize) {
    // Plain structs of strings and numbers: serialising them cannot fail.
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `29d 23h 59m 59s`, leaving out leading zero units.
fn human(secs: u64) -> String {
    let parts = [
        (secs / 86_400, "d"),
        (secs / 3600 % 24, "h"),
        (secs / 60 % 60, "m"),
        (secs % 60, "s"),
    ];
    let first = parts.iter().position(|(n, _)| *n > 0).unwrap_or(parts.len() - 1);
    parts[first..]
        .iter()
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (UTC), by Howard Hinnant's
/// days-to-civil algorithm.
fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_times() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_735_689_599), "2024-12-31T23:59:59Z");
        assert_eq!(rfc3339(4_102_444_800), "2100-01-01T00:00:00Z");
        assert_eq!(human(0), "0s");
        assert_eq!(human(61), "1m 1s");
        assert_eq!(human(2_592_000 - 1), "29d 23h 59m 59s");
        assert_eq!(human(86_400), "1d 0h 0m 0s");
    }
}
