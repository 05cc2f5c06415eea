//! fastauth's refusal messages, and the exact bodies that carry them, to compare answers
//! with byte for byte.

use serde_json::json;

pub const MISSING_MASTER: &str = "Master token missing";
pub const INVALID_MASTER: &str = "Unauthorized Master Token";
pub const MISSING_ACCESS: &str = "Access token missing";
pub const INVALID_ACCESS: &str = "Unauthorized Access Token";
pub const EXPIRED_ACCESS: &str = "Access token expired";
pub const REVOKED_ACCESS: &str = "Access token revoked";
pub const WRONG_TYPE: &str = "Wrong token type";

/// The layer's refusal: `{"detail":…}`, as FastAPI's `HTTPException` writes it.
pub fn detail(message: &str) -> String {
    json!({ "detail": message }).to_string()
}

/// The token endpoints' envelope, keys in fastauth-api's order.
pub fn envelope(status: u16, message: &str) -> String {
    format!(
        r#"{{"status":"error","message":{},"code":{status}}}"#,
        json!(message)
    )
}
