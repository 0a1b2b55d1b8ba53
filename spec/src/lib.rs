//! Where deployments come from: deployment spec files ([`load`], [`resolve`]) and the flow files
//! they point at ([`flowfile`]). Kept apart from `rigel-common` (the API: wire types and the
//! client) because reading a Python flow file runs `python3`, which a client of the API never
//! needs.

mod document;
pub mod flowfile;

pub use document::*;
