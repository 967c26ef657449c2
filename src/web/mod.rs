//! The web console (issue 14, docs/web.md).

pub mod password;
