//! The whole consortium as real processes: both carriers' CAs, five Raft orderers and four
//! peers on their clouds' loopback ranges, both nginx DMZ forwarders, and one settlement
//! month driven through the CLI (`scripts/consortium-demo.sh`): lifecycle, agreement,
//! encrypted uploads, reveals, on-chain reconciliation, dispute, adjustments, both
//! confirmations, final data, byte-identical exports from both carriers' peers, then every
//! ledger verified and the carriers' ledgers compared. Needs nginx (scripts/setup.sh).

use netsettle_testkit::process::{Netsettle, REPO};

/// The binary under test.
const NETSETTLE: Netsettle = Netsettle(env!("CARGO_BIN_EXE_netsettle"));

#[test]
fn a_settlement_month_runs_end_to_end_across_both_carriers() {
    let dir = tempfile::tempdir().unwrap();
    NETSETTLE.consortium(dir.path());
    // The script bounds every wait and stops every process it started, also on failure.
    let output = std::process::Command::new("bash")
        .arg(format!("{REPO}/scripts/consortium-demo.sh"))
        .arg(NETSETTLE.0)
        .arg(dir.path())
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "consortium demo failed:\n{stdout}\n{stderr}"
    );
    // Lifecycle (3) through `lifecycle`, then the config update's status at all four peers
    // (`tx status`): committed and valid.
    // (The /metrics excerpt's `code="VALID"` label lines are not transaction statuses.)
    let statuses: String = stdout
        .lines()
        .filter(|line| !line.trim_start().starts_with("netsettle_"))
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(statuses.matches("code=").count(), 3 + 4, "{stdout}");
    assert_eq!(statuses.matches("code=VALID").count(), 3 + 4, "{stdout}");
    // The month through the settlement commands: agreement (2), uploads (2), reveals (2),
    // dispute (1), adjustments proposed and decided in bulk and singly (5), confirmations
    // (2), finance approvals (2), payment (1), acknowledgement (1); the audit replays them.
    assert!(
        stdout.contains("replayed    18 settlement transactions from "),
        "{stdout}"
    );
    assert!(
        stdout.contains("refused as expected: error: approve refused (403)"),
        "{stdout}"
    );
    assert!(stdout.contains("#net MobileMSP pays UnicomMSP"), "{stdout}");
    assert!(stdout.contains("phase         Closed"), "{stdout}");
    assert!(stdout.contains("5 orderers at height="), "{stdout}");
    // Signed delivery through `netsettle orderer deliver`: blocks 0 to 3, in order.
    assert!(stdout.contains("block 0 hash="), "{stdout}");
    assert!(stdout.contains("block 3 hash="), "{stdout}");
    assert!(stdout.contains("committed   identical"), "{stdout}");
    // Operations: all nine nodes ready, metrics served, a running peer backed up.
    assert_eq!(stdout.matches("/readyz 200").count(), 9, "{stdout}");
    assert!(stdout.contains("netsettle_raft_leader "), "{stdout}");
    assert!(
        stdout.contains("backed up to backup-peer0-mobile"),
        "{stdout}"
    );
    // Three cross-carrier ledger comparisons (two peer pairs, one orderer pair).
    let identical = stdout
        .lines()
        .filter(|line| line.trim() == "identical")
        .count();
    assert_eq!(identical, 3, "{stdout}");
}
