//! The whole consortium as real processes, as `scripts/demo.sh` runs it: after the demo's
//! first steps, `scripts/network.sh up` starts both carriers' CAs, five Raft orderers and
//! four peers (each peer0 with its HTTP gateway) in their clouds (network namespaces as
//! root, else loopback ranges), both nginx DMZ forwarders and both consoles in the seed's
//! setup order (each carrier sets its own anchor peer through the running orderers;
//! lifecycle; agreement); `scripts/month.sh` drives one settlement month through the CLI:
//! encrypted uploads, reveals, on-chain reconciliation, dispute, adjustments, both
//! confirmations, final data, byte-identical exports from both carriers' peers, each
//! carrier's finance reading the period through its own gateway; then
//! `network.sh down`, every ledger verified and the carriers' ledgers compared, and the
//! consortium restarted from its data at the same heights. Needs nginx (scripts/setup.sh).

use netsettle_testkit::process::{Netsettle, REPO};

/// The binary under test.
const NETSETTLE: Netsettle = Netsettle(env!("CARGO_BIN_EXE_netsettle"));

#[test]
fn a_settlement_month_runs_end_to_end_across_both_carriers() {
    let dir = tempfile::tempdir().unwrap();
    // The demo bounds every wait; with NETSETTLE_DEMO_DOWN=1 it stops the consortium at the
    // end, and it stops it on failure too.
    let output = std::process::Command::new("bash")
        .arg(format!("{REPO}/scripts/demo.sh"))
        .env("NETSETTLE_BIN", NETSETTLE.0)
        .env("NETSETTLE_NETWORK_DIR", dir.path().join("network"))
        .env("NETSETTLE_DEMO_DOWN", "1")
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
        stdout.contains("backed up to month/backup-peer0-mobile"),
        "{stdout}"
    );
    // Each carrier's finance system reads the closed period through its own HTTP gateway
    // (`netsettle gateway call`); a Mobile certificate at Unicom's gateway gets a 403.
    assert_eq!(
        stdout
            .matches("/v1/settlement/periods/2026-10 at its gateway ")
            .count(),
        2,
        "{stdout}"
    );
    assert_eq!(
        stdout.matches("phase Closed, version ").count(),
        2,
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "refused as expected: error: GET /v1/settlement/periods/2026-10: HTTP 403 Forbidden: \
             this gateway acts for UnicomMSP only"
        ),
        "{stdout}"
    );
    // `network.sh status` after the restart: both gateways answer.
    assert_eq!(
        stdout.matches("answers: HTTP 200 OK").count(),
        2,
        "{stdout}"
    );
    // The restart from the data: every node at the height it had before `network.sh down`.
    assert!(stdout.contains("heights unchanged: "), "{stdout}");
    // As root (the test machines) each carrier's cloud is a network namespace; without
    // root the demo says it falls back to loopback ranges.
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0");
    if root {
        assert!(
            stdout.contains("network namespaces settle-unicom, settle-mobile, settle-dmz"),
            "{stdout}"
        );
    } else {
        assert!(stdout.contains("loopback clouds (not root"), "{stdout}");
    }
    // Three cross-carrier ledger comparisons (two peer pairs, one orderer pair).
    let identical = stdout
        .lines()
        .filter(|line| line.trim() == "identical")
        .count();
    assert_eq!(identical, 3, "{stdout}");
}
