//! The path corpus: every spelling of a protected path that some server, proxy or client
//! treats as that path, and near misses that are not protected.
//!
//! The servers protect `/admin` and `/grpc.health.v1.Health/Watch` at master level,
//! `/api`, `/files/*/raw` and `/grpc.health.v1.Health` at access level.

use crate::common::bodies::{MISSING_ACCESS, MISSING_MASTER};

fn encode_all(segment: &str, upper_hex: bool) -> String {
    segment
        .bytes()
        .map(|b| {
            if upper_hex {
                format!("%{b:02X}")
            } else {
                format!("%{b:02x}")
            }
        })
        .collect()
}

fn alternate_case(segment: &str) -> String {
    segment
        .chars()
        .enumerate()
        .map(|(i, c)| if i % 2 == 1 { c.to_ascii_uppercase() } else { c })
        .collect()
}

/// Every spelling of `/{seg}/{tail}` (and of `/{seg}` alone) that some server, proxy or
/// client treats as that path.
pub fn spellings(seg: &str, tail: &str) -> Vec<String> {
    let first = seg.as_bytes()[0];
    let rest = &seg[1..];
    let up = seg.to_uppercase();
    vec![
        format!("/{seg}/{tail}"),
        format!("/{seg}"),
        format!("/{seg}/"),
        format!("/{seg}/{tail}/"),
        format!("/{seg}/."),
        format!("/{seg}/{tail}/."),
        format!("/{seg}/{tail}."),
        // Case.
        format!("/{up}/{tail}"),
        format!("/{}/{tail}", alternate_case(seg)),
        format!(
            "/{}{rest}/{}",
            (first as char).to_ascii_uppercase(),
            tail.to_uppercase()
        ),
        // Percent-encoded letters.
        format!("/%{first:02x}{rest}/{tail}"),
        format!("/%{:02X}{rest}/{tail}", first.to_ascii_uppercase()),
        format!("/{}/{tail}", encode_all(seg, false)),
        format!("/{}/{}", encode_all(seg, true), encode_all(tail, true)),
        format!("/{}", encode_all(&up, true)),
        // Encoded and literal separators.
        format!("/{seg}%2F{tail}"),
        format!("/{seg}%2f{tail}"),
        format!("/{seg}%5C{tail}"),
        format!("/{seg}\\{tail}"),
        format!("/public%2F..%2F{seg}/{tail}"),
        format!("/public%2f%2e%2e%2f{seg}"),
        format!("/public\\..\\{seg}\\{tail}"),
        format!("/public%5c..%5c{seg}/{tail}"),
        // Doubled slashes.
        format!("//{seg}/{tail}"),
        format!("/{seg}//{tail}"),
        format!("///{seg}///{tail}///"),
        // Dot segments, literal and encoded.
        format!("/./{seg}/{tail}"),
        format!("/{seg}/./{tail}"),
        format!("/public/../{seg}/{tail}"),
        format!("/../{seg}/{tail}"),
        format!("/../../../{seg}/{tail}"),
        format!("/{seg}/{tail}/.."),
        format!("/{seg}/{tail}/x/../.."),
        format!("/%2e/{seg}/{tail}"),
        format!("/public/%2e%2e/{seg}/{tail}"),
        format!("/public/%2E%2E/{seg}/{tail}"),
        format!("/public/.%2e/{seg}/{tail}"),
        format!("/public/%2e./{seg}/{tail}"),
        // Semicolon parameters.
        format!("/{seg};x=1/{tail}"),
        format!("/{seg};/{tail}"),
        format!("/{seg}/{tail};jsessionid=0"),
        format!("/public/..;/{seg}/{tail}"),
        format!("/public;x=1/../{seg}/{tail}"),
        // Query and fragment.
        format!("/{seg}/{tail}?x=1"),
        format!("/{seg}?next=/public"),
        format!("/{seg}/{tail}#/../../public"),
        // Absolute form: the path is still the path.
        format!("http://localhost/{seg}/{tail}"),
        format!("http://localhost//{up}"),
    ]
}

/// Not protected, so they reach the inner service.
pub const NEAR_MISSES: [&str; 10] = [
    "/administrator",
    "/apiary",
    "/admin-panel",
    "/api2/items",
    "/public/admin",
    "/public/x",
    "/adm",
    "/",
    "/grpc.health.v1.HealthCheck",
    "/files/raw",
];

/// Spellings of `/files/{id}/raw`, under the one-segment wildcard `/files/*/raw`.
pub const FILES: [&str; 9] = [
    "/files/a/raw",
    "/FILES/a/RAW",
    "/files//a//raw/",
    "/files/a/./raw",
    "/files/a/b/../raw",
    "/files/%61/%72aw",
    "/files/a%2Fraw",
    "/files/a;v=1/raw;x",
    "/files/a/raw/deeper",
];

/// Two segments or a longer last one: not `/files/*/raw`.
pub const FILES_NEAR_MISSES: [&str; 2] = ["/files/a/b/raw", "/files/a/rawx"];

/// Spellings of the master-level gRPC method.
pub const GRPC_WATCH: [&str; 12] = [
    "/grpc.health.v1.Health/Watch",
    "/GRPC.HEALTH.V1.HEALTH/WATCH",
    "/grpc.health.v1.Health//Watch",
    "//grpc.health.v1.Health/Watch",
    "/grpc%2Ehealth%2Ev1%2EHealth/Watch",
    "/grpc.health.v1.Health%2FWatch",
    "/grpc.health.v1.Health/Watch/",
    "/x/../grpc.health.v1.Health/Watch",
    "/grpc.health.v1.Health/./Watch",
    "/grpc.health.v1.Health;x/Watch",
    "/grpc.health.v1.Health/%57atch",
    // Read with the dots kept, this is below Watch: the stricter level applies.
    "/grpc.health.v1.Health/Watch/../Check",
];

/// Spellings of the access-level gRPC service.
pub const GRPC_CHECK: [&str; 6] = [
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.health/check",
    "/grpc.health.v1.Health//Check",
    "/grpc%2ehealth.v1.Health/Check",
    "/grpc.health.v1.Health/x/../Check",
    "/grpc.health.v1.Health",
];

/// Spoken as gRPC: (path, the message of the trailers-only refusal).
pub const GRPC_CALLS: [(&str, &str); 4] = [
    ("/grpc.health.v1.Health/Watch", MISSING_MASTER),
    ("/GRPC.health.v1.Health//Watch", MISSING_MASTER),
    ("/grpc.health.v1.Health/Check", MISSING_ACCESS),
    ("/grpc.health.v1.Health/%43heck", MISSING_ACCESS),
];

/// The mount prefix `/v1`, spelt otherwise.
pub const MOUNT_PREFIXES: [&str; 7] = ["/V1", "/%76%31", "//v1/", "/v1;x", "/x/../v1", "/./v1", "/v1%2F."];

/// Near misses of a protected path under the `/v1` mount (and the unmounted paths).
pub const MOUNT_NEAR_MISSES: [&str; 6] = [
    "/v1/administrator",
    "/v1/apiary",
    "/v1",
    "/admin/users",
    "/api/items",
    "/v2/admin/users",
];

/// `..` right after a protected segment, for a server protecting `/admin` and `/ops`
/// (master) and `/api`, `/files/*/raw` (access), whose router does not resolve dots.
pub const DOTS_AFTER_A_PROTECTED_SEGMENT: [(&str, &str); 10] = [
    ("/admin/..", MISSING_MASTER),
    ("/admin/%2e%2e", MISSING_MASTER),
    ("/admin/.%2E", MISSING_MASTER),
    ("/admin/..;x", MISSING_MASTER),
    ("/admin/%2F..", MISSING_MASTER),
    ("/admin/%5C..", MISSING_MASTER),
    ("/ops/..", MISSING_MASTER),
    ("/api/../items", MISSING_ACCESS),
    ("/api/%2e%2e/items", MISSING_ACCESS),
    ("/files/../raw", MISSING_ACCESS),
];
