//! The protocol Flussonic speaks to an authorization backend: its `/auth` request
//! ([`request`]), the decision on it ([`decision`], with a token's IP and stream
//! [`rules`]), and the answer Flussonic reads ([`handler`]).

pub mod decision;
pub mod handler;
pub mod request;
pub mod rules;
