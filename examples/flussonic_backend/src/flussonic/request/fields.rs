//! The fields of Flussonic's `/auth` request that the backend keeps: their names, their
//! length limits and what else a value must be. Every source (query string, JSON body,
//! form body, the viewer's `qs`) stores a value only through [`Field::check`], so a
//! limit set here holds for all of them, and the access log never keeps more of a
//! field than its limit (see [`kept`]).

use std::net::IpAddr;

/// A request parameter the decision uses; any other name is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `token`.
    Token,
    /// `name`: the stream or file.
    Name,
    /// `ip`: the viewer's address.
    Ip,
    /// `proto`.
    Proto,
    /// `session_id`.
    SessionId,
    /// `request_type`.
    RequestType,
    /// `qs`: the viewer's own query string.
    Qs,
}

/// Appended to what is kept of a value cut at its limit (so that it cannot be taken
/// for a value that was sent).
pub const CUT_MARKER: &str = "…";

impl Field {
    /// Every field.
    pub const ALL: [Field; 7] = [
        Field::Token,
        Field::Name,
        Field::Ip,
        Field::Proto,
        Field::SessionId,
        Field::RequestType,
        Field::Qs,
    ];

    /// The field a parameter name stands for.
    pub fn from_name(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|field| field.name() == name)
    }

    /// The parameter name.
    pub const fn name(self) -> &'static str {
        match self {
            Field::Token => "token",
            Field::Name => "name",
            Field::Ip => "ip",
            Field::Proto => "proto",
            Field::SessionId => "session_id",
            Field::RequestType => "request_type",
            Field::Qs => "qs",
        }
    }

    /// The most bytes a value may have (after trimming).
    pub const fn limit(self) -> usize {
        match self {
            // The longest token the management API accepts.
            Field::Token => 256,
            Field::Name => 1024,
            // An address is at most 45 bytes (47 in brackets); the parse decides.
            Field::Ip => 64,
            Field::Proto => 16,
            Field::SessionId => 128,
            Field::RequestType => 32,
            Field::Qs => 4096,
        }
    }

    /// Whether `value` (trimmed, non-empty) may be stored; if not, why, naming the field.
    pub fn check(self, value: &str) -> Result<(), String> {
        let limit = self.limit();
        if value.len() > limit {
            return Err(format!("{} is longer than {limit} bytes", self.name()));
        }
        if self == Field::Ip && !is_ip_address(value) {
            return Err("ip is not an IP address".to_owned());
        }
        Ok(())
    }
}

/// What is kept of a value: the whole of it within `field`'s limit, otherwise its
/// first bytes up to the limit (whole characters) and [`CUT_MARKER`].
pub fn kept(field: Field, value: &str) -> String {
    let limit = field.limit();
    if value.len() <= limit {
        return value.to_owned();
    }
    let end = (0..=limit)
        .rev()
        .find(|&i| value.is_char_boundary(i))
        .unwrap_or(0);
    let mut kept = value.get(..end).unwrap_or("").to_owned();
    kept.push_str(CUT_MARKER);
    kept
}

/// An IPv4 or IPv6 address, an IPv6 one possibly in brackets (`[2001:db8::1]`).
fn is_ip_address(value: &str) -> bool {
    let bare = value
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .unwrap_or(value);
    bare.parse::<IpAddr>().is_ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail by panicking")]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for field in Field::ALL {
            assert_eq!(Field::from_name(field.name()), Some(field));
        }
        assert_eq!(Field::from_name("referer"), None);
    }

    #[test]
    fn limits_and_addresses() {
        assert!(Field::Token.check(&"t".repeat(256)).is_ok());
        assert_eq!(
            Field::Token.check(&"t".repeat(257)).unwrap_err(),
            "token is longer than 256 bytes"
        );
        assert!(Field::Ip.check("10.0.0.1").is_ok());
        assert!(Field::Ip.check("[2001:db8::1]").is_ok());
        assert!(Field::Ip.check("::ffff:10.0.0.1").is_ok());
        assert_eq!(Field::Ip.check("garbage").unwrap_err(), "ip is not an IP address");
        assert!(Field::Ip.check("10.0.0.0/8").is_err());
    }

    #[test]
    fn cut_values_keep_whole_characters_and_say_so() {
        assert_eq!(kept(Field::Proto, "hls"), "hls");
        let cut = kept(Field::Proto, &"é".repeat(20));
        assert_eq!(cut, format!("{}{CUT_MARKER}", "é".repeat(8)));
        let cut = kept(Field::Proto, &format!("a{}", "é".repeat(20)));
        assert_eq!(cut, format!("a{}{CUT_MARKER}", "é".repeat(7)));
    }
}
