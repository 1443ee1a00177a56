//! Shared helpers for netsettle's benchmarks (the bench targets live in `benches/benches/`).
//! Figures are reported in the issue notes with the machine and a same-sitting reference.
//!
//! [`results`] writes what a bench measured where the issues ask for it: a CSV and a PNG
//! plot under `target/bench-results/`; [`process`] reads the CPU time processes used;
//! [`signed`] makes the signed messages verify-rate measurements check.

pub mod process;
pub mod results;
pub mod signed;
