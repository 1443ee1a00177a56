//! Test fixtures ([`fixtures`]) and the in-memory cluster harness ([`cluster`]).

#![allow(dead_code)]

pub mod cluster;
mod fixtures;

pub use fixtures::*;
