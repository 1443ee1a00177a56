//! `netsettle configtx` end to end with the real binary: two carriers' CAs, a genesis block
//! that `ledger verify` accepts, an update one carrier's admin cannot apply alone and both
//! together can.

use netsettle_testkit::process::Netsettle;
use std::path::{Path, PathBuf};

/// The binary under test.
const NETSETTLE: Netsettle = Netsettle(env!("CARGO_BIN_EXE_netsettle"));

/// One carrier: a root CA, an admin and `n_orderers` orderers, in Fabric's MSP layout.
fn carrier(dir: &Path, name: &str, msp_id: &str, n_orderers: usize) -> PathBuf {
    let root = dir.join(name);
    std::fs::create_dir_all(root.join("msp/cacerts")).unwrap();
    let p = |rel: &str| root.join(rel).to_str().unwrap().to_owned();
    NETSETTLE.ok(dir, &["key", "gen", "--out", &p("ca.key")]);
    NETSETTLE.ok(
        dir,
        &[
            "cert",
            "root",
            "--key",
            &p("ca.key"),
            "--cn",
            &format!("ca.{name}"),
            "--org",
            msp_id,
            "--out",
            &p("msp/cacerts/ca.pem"),
        ],
    );
    let mut people = vec![("admin".to_owned(), "admin")];
    for idx in 0..n_orderers {
        people.push((format!("orderer{idx}"), "orderer"));
    }
    for (who, role) in people {
        NETSETTLE.ok(dir, &["key", "gen", "--out", &p(&format!("{who}.key"))]);
        NETSETTLE.ok(
            dir,
            &[
                "cert",
                "issue",
                "--ca-cert",
                &p("msp/cacerts/ca.pem"),
                "--ca-key",
                &p("ca.key"),
                "--subject-key",
                &p(&format!("{who}.key")),
                "--cn",
                &format!("{who}.{name}"),
                "--org",
                msp_id,
                "--role",
                role,
                "--ip",
                "127.0.0.1",
                "--out",
                &p(&format!("{who}.pem")),
            ],
        );
    }
    root
}

fn profile(dir: &Path) {
    let mut text = String::from(
        "channel = \"settlement\"\ncapabilities = [\"V1_0\"]\n\n[batch]\ntimeout_ms = 1000\ntx_max = 50\n\
         absolute_bytes_max = 104857600\npreferred_bytes_max = 2097152\n\n\
         [[orgs]]\nmsp_id = \"UnicomMSP\"\nmsp_dir = \"unicom/msp\"\n\n\
         [[orgs]]\nmsp_id = \"MobileMSP\"\nmsp_dir = \"mobile-export\"\n",
    );
    let consenters = [
        (1, "UnicomMSP", "unicom", 0, "127.0.1.1"),
        (2, "UnicomMSP", "unicom", 1, "127.0.1.2"),
        (3, "UnicomMSP", "unicom", 2, "127.0.1.3"),
        (4, "MobileMSP", "mobile", 0, "127.0.2.1"),
        (5, "MobileMSP", "mobile", 1, "127.0.2.2"),
    ];
    for (id, msp, carrier, idx, host) in consenters {
        text.push_str(&format!(
            "\n[[consenters]]\nid = {id}\nmsp_id = \"{msp}\"\nendpoint = \"{host}:7050\"\ntls_cert = \"{carrier}/orderer{idx}.pem\"\n"
        ));
    }
    std::fs::write(dir.join("consortium.toml"), text).unwrap();
}

#[test]
fn genesis_then_update_needs_both_carriers() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    carrier(dir, "unicom", "UnicomMSP", 3);
    carrier(dir, "mobile", "MobileMSP", 2);
    // Mobile hands Unicom only its public MSP.
    NETSETTLE.ok(
        dir,
        &[
            "msp",
            "export",
            "--msp-dir",
            "mobile/msp",
            "--out",
            "mobile-export",
        ],
    );
    profile(dir);

    let unicom_orderer = [
        "--signer-key",
        "unicom/orderer0.key",
        "--signer-cert",
        "unicom/orderer0.pem",
        "--signer-msp",
        "UnicomMSP",
    ];
    let mut genesis = vec![
        "configtx",
        "genesis",
        "--profile",
        "consortium.toml",
        "--out",
        "genesis.block",
        "--ledger",
        "ledger",
    ];
    genesis.extend(unicom_orderer);
    NETSETTLE.ok(dir, &genesis);
    let verified = NETSETTLE.ok(dir, &["ledger", "verify", "--path", "ledger"]);
    assert!(verified.contains("height 1"), "{verified}");

    // An edited config: smaller blocks.
    let current = NETSETTLE.ok(dir, &["configtx", "inspect", "--from-ledger", "ledger"]);
    let mut config: serde_json::Value = serde_json::from_str(&current).unwrap();
    assert_eq!(config["sequence"], 0);
    config["orderer"]["batch"]["tx_max"] = 20.into();
    std::fs::write(dir.join("edited.json"), config.to_string()).unwrap();
    NETSETTLE.ok(
        dir,
        &[
            "configtx",
            "update",
            "--from-ledger",
            "ledger",
            "--edited",
            "edited.json",
            "--out",
            "update.json",
        ],
    );

    NETSETTLE.ok(
        dir,
        &[
            "configtx",
            "sign",
            "--update",
            "update.json",
            "--signer-key",
            "unicom/admin.key",
            "--signer-cert",
            "unicom/admin.pem",
            "--signer-msp",
            "UnicomMSP",
        ],
    );
    let refused = NETSETTLE.fails(
        dir,
        &[
            "configtx",
            "check",
            "--from-ledger",
            "ledger",
            "--update",
            "update.json",
        ],
    );
    assert!(
        refused.contains("channel Admins") && refused.contains("1 of 2 organisations"),
        "{refused}"
    );
    let mut apply = vec![
        "configtx",
        "apply",
        "--ledger",
        "ledger",
        "--update",
        "update.json",
    ];
    apply.extend(unicom_orderer);
    let refused = NETSETTLE.fails(dir, &apply);
    assert!(refused.contains("policy"), "{refused}");

    NETSETTLE.ok(
        dir,
        &[
            "configtx",
            "sign",
            "--update",
            "update.json",
            "--signer-key",
            "mobile/admin.key",
            "--signer-cert",
            "mobile/admin.pem",
            "--signer-msp",
            "MobileMSP",
        ],
    );
    let accepted = NETSETTLE.ok(
        dir,
        &[
            "configtx",
            "check",
            "--from-ledger",
            "ledger",
            "--update",
            "update.json",
        ],
    );
    assert!(accepted.contains("sequence 0 -> 1"), "{accepted}");
    NETSETTLE.ok(dir, &apply);

    let now = NETSETTLE.ok(dir, &["configtx", "inspect", "--from-ledger", "ledger"]);
    let config: serde_json::Value = serde_json::from_str(&now).unwrap();
    assert_eq!(config["sequence"], 1);
    assert_eq!(config["orderer"]["batch"]["tx_max"], 20);
    let verified = NETSETTLE.ok(dir, &["ledger", "verify", "--path", "ledger"]);
    assert!(verified.contains("height 2"), "{verified}");

    // The same update again is a replay: its sequence is no longer next.
    let replay = NETSETTLE.fails(dir, &apply);
    assert!(replay.contains("sequence 1, expected 2"), "{replay}");

    // Anchor peers: Unicom's admin alone may set Unicom's.
    NETSETTLE.ok(
        dir,
        &[
            "configtx",
            "anchor-peers",
            "--from-ledger",
            "ledger",
            "--org",
            "UnicomMSP",
            "--peer",
            "127.0.1.11:7051",
            "--out",
            "anchors.json",
        ],
    );
    NETSETTLE.ok(
        dir,
        &[
            "configtx",
            "sign",
            "--update",
            "anchors.json",
            "--signer-key",
            "unicom/admin.key",
            "--signer-cert",
            "unicom/admin.pem",
            "--signer-msp",
            "UnicomMSP",
        ],
    );
    let accepted = NETSETTLE.ok(
        dir,
        &[
            "configtx",
            "check",
            "--from-ledger",
            "ledger",
            "--update",
            "anchors.json",
        ],
    );
    assert!(accepted.contains("UnicomMSP Admins"), "{accepted}");
}
