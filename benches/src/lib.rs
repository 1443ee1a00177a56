//! Shared helpers for netsettle's benchmarks (the bench targets live in `benches/benches/`).
//! Figures are reported in the issue notes with the machine and a same-sitting reference.
