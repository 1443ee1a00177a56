//! Helpers shared by the process tests: run the real `netsettle` binary in a directory.

#![allow(dead_code, reason = "each test file uses a different subset")]

use std::path::Path;
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_netsettle");

pub fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("netsettle runs")
}

/// Runs `netsettle args` and returns its stdout; fails the test with stderr if it fails.
pub fn ok(dir: &Path, args: &[&str]) -> String {
    let output = run(dir, args);
    assert!(
        output.status.success(),
        "netsettle {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs `netsettle args`, expects it to fail, and returns its stderr.
pub fn fails(dir: &Path, args: &[&str]) -> String {
    let output = run(dir, args);
    assert!(
        !output.status.success(),
        "netsettle {args:?} unexpectedly succeeded"
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}
