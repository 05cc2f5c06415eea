//! A token's `allowed_ips` (addresses and CIDR ranges, IPv4 and IPv6) and
//! `allowed_streams` (names, or prefixes ending in `*`).

use std::net::IpAddr;

use ipnet::IpNet;

/// Normalises one `allowed_ips` entry: an address (`10.1.2.3`, `2001:db8::1`) or a
/// range (`10.0.0.0/8`, `2001:db8::/32`). Host bits of a range are cleared.
pub fn normalise_ip_rule(rule: &str) -> Result<String, String> {
    let rule = rule.trim();
    if let Ok(addr) = rule.parse::<IpAddr>() {
        return Ok(addr.to_canonical().to_string());
    }
    match rule.parse::<IpNet>() {
        Ok(net) => Ok(net.trunc().to_string()),
        Err(_) => Err(format!("{rule:?} is not an IP address or CIDR range")),
    }
}

/// Normalises one `allowed_streams` entry.
pub fn normalise_stream_rule(rule: &str) -> Result<String, String> {
    let rule = rule.trim();
    if rule.is_empty() {
        return Err("a stream name must not be empty".to_owned());
    }
    if rule.chars().any(char::is_control) {
        return Err("a stream name must not contain control characters".to_owned());
    }
    if rule.strip_suffix('*').unwrap_or(rule).contains('*') {
        return Err(format!("{rule:?}: '*' may only end a stream pattern"));
    }
    Ok(rule.to_owned())
}

/// Whether `ip` is allowed by `rules` (stored, normalised entries). An address that
/// does not parse is allowed by nothing. IPv4-mapped IPv6 addresses match IPv4 rules.
pub fn ip_allowed<S: AsRef<str>>(rules: &[S], ip: &str) -> bool {
    let Ok(addr) = ip
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    else {
        return false;
    };
    let addr = addr.to_canonical();
    rules.iter().any(|rule| {
        let rule = rule.as_ref();
        if rule.contains('/') {
            rule.parse::<IpNet>().is_ok_and(|net| net.contains(&addr))
        } else {
            rule.parse::<IpAddr>()
                .is_ok_and(|allowed| allowed.to_canonical() == addr)
        }
    })
}

/// Whether stream `name` is allowed by `rules`: equal to an entry, or starting with
/// the part of an entry before its final `*`.
pub fn stream_allowed<S: AsRef<str>>(rules: &[S], name: &str) -> bool {
    rules.iter().any(|rule| {
        let rule = rule.as_ref();
        match rule.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => name == rule,
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail by panicking")]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_families() {
        let rules = ["10.0.0.0/8", "2001:db8::/32", "192.168.1.7"];
        assert!(ip_allowed(&rules, "10.200.3.4"));
        assert!(ip_allowed(&rules, "::ffff:10.1.1.1"));
        assert!(ip_allowed(&rules, "2001:db8:1::5"));
        assert!(ip_allowed(&rules, "192.168.1.7"));
        assert!(!ip_allowed(&rules, "192.168.1.8"));
        assert!(!ip_allowed(&rules, "11.0.0.1"));
        assert!(!ip_allowed(&rules, "not-an-ip"));
        assert_eq!(normalise_ip_rule("10.1.2.3/8").unwrap(), "10.0.0.0/8");
        assert!(normalise_ip_rule("10.0.0.0/33").is_err());
    }

    #[test]
    fn stream_patterns() {
        let rules = ["live/*", "vod/bunny.mp4"];
        assert!(stream_allowed(&rules, "live/ustream"));
        assert!(stream_allowed(&rules, "vod/bunny.mp4"));
        assert!(!stream_allowed(&rules, "vod/other.mp4"));
        assert!(normalise_stream_rule("li*ve").is_err());
    }
}
