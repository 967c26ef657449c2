//! The binary's commands, one module each: `main` parses the command line
//! and calls one function here per command. Nothing here is part of the
//! library (lib.rs declares none of it): these modules call the library
//! and turn its results into output and exit codes.

pub mod calendar;
pub mod check;
pub mod cluster;
pub mod migrate;
pub mod oauth;
pub mod outcomes;
pub mod parse;
pub mod privacy;
pub mod reprocess;
pub mod run;
pub mod shared;
pub mod stats;
pub mod status;
pub mod sweep;
pub mod sync;
pub mod tickets;
pub mod users;
pub mod zip;

mod terminal;
