//! Consenter membership as real processes: a sixth orderer (Unicom's orderer3, with
//! certificates from Unicom's CA but not in the genesis block) is added through a config
//! update both carriers' admins signed, starts from the genesis block with the config
//! block that added it, and catches up and orders; then a consenter is removed through
//! another update, stops taking broadcasts, and the other five go on. Ordering continues
//! across both changes, and the remaining orderers end with the same block hashes.
//! Orderer processes only (no peers), loopback slot 6 with ports of its own.
//!
//! The updates go to the orderers' broadcast service from the test's own client (what
//! `netsettle configtx submit` does, without waiting for peers).

use std::path::Path;

use netsettle_ledger::Ledger;
use netsettle_protocol::{BroadcastStatus, ChannelConfig, Consenter, Endpoint, Envelope, encode};
use netsettle_smcrypto::x509::Certificate;
use netsettle_testkit::orderers::{Client, Load, Orderers, assert_exactly_once};
use netsettle_testkit::process::{Netsettle, ORDERERS, REPO, load_member};
use netsettle_testkit::tx::{config_update_under, fresh_header};

/// The binary under test.
const NETSETTLE: Netsettle = Netsettle(env!("CARGO_BIN_EXE_netsettle"));

const SLOT: u8 = 6;
const PREFIX: &str = "4";
const NEW_ORDERER: &str = "unicommsp-orderer3";

/// Both carriers bootstrapped, Unicom with a fourth orderer the genesis block leaves
/// out, and the layout rendered with that orderer as a node of Unicom's cloud.
fn consortium_with_a_spare_orderer(dir: &Path) {
    let spec = std::fs::read_to_string(format!("{REPO}/configs/unicom.toml")).unwrap();
    let spec = spec.replace(
        "# peer0 is Unicom's",
        "[[orderers]]\nname = \"orderer3\"\nhosts = [\"127.0.1.13\"]\n\n# peer0 is Unicom's",
    );
    std::fs::write(dir.join("unicom.toml"), spec).unwrap();
    NETSETTLE.consortium_with_unicom_spec(dir, "unicom.toml");
    NETSETTLE.render_layout(dir, SLOT, PREFIX);
    let spare = format!(
        "\n[[nodes]]\nname = \"orderer3\"\norg = \"UnicomMSP\"\nkind = \"orderer\"\nlisten = \"127.{SLOT}.1.13:{PREFIX}7050\"\npublic_port = {PREFIX}7053\n"
    );
    let mut layout = std::fs::read_to_string(dir.join("layout.toml")).unwrap();
    layout.push_str(&spare);
    std::fs::write(dir.join("layout.toml"), layout).unwrap();
    NETSETTLE.ok(
        dir,
        &["layout", "render", "--layout", "layout.toml", "--base", "."],
    );
}

/// A config update to `config`, approved by both carriers' admins, submitted by Unicom's.
fn update_envelope(dir: &Path, config: ChannelConfig) -> Envelope {
    let unicom = load_member(
        &dir.join("crypto/unicom/users/admin@unicom.example"),
        "UnicomMSP",
    );
    let mobile = load_member(
        &dir.join("crypto/mobile/users/admin@mobile.example"),
        "MobileMSP",
    );
    let header = fresh_header(&unicom.identity());
    config_update_under(config, &[&unicom, &mobile], &unicom, header)
}

/// The latest config block of consenter `id`'s chain (read beside the running node).
fn latest_config_block(orderers: &Orderers, id: u64) -> netsettle_protocol::Block {
    let ledger = Ledger::open_read_only(&orderers.ledger_dir(id)).unwrap();
    let height = ledger.chain_info().unwrap().height;
    let last = ledger.block(height - 1).unwrap().unwrap();
    ledger
        .block(last.metadata.last_config_index)
        .unwrap()
        .unwrap()
}

#[test]
fn a_sixth_orderer_is_added_and_one_removed_while_ordering_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    consortium_with_a_spare_orderer(dir.path());
    let mut orderers = Orderers::launch(NETSETTLE, dir, &ORDERERS, |text| text.to_owned());
    let client = Client::connect(orderers.path());
    let leader = client.wait_leader(None);
    let mut outcomes = Load::start(&client, 100, 32, 256).finish(&client);

    // Add orderer3 as consenter 6, reachable at Unicom's DMZ.
    let mut config = latest_config_block(&orderers, leader)
        .config()
        .cloned()
        .expect("a config block");
    config.sequence += 1;
    let tls_cert = Certificate::read_pem_file(
        &orderers
            .path()
            .join("crypto/unicom/orderers/orderer3.unicom.example/tls/cert.pem"),
    )
    .unwrap();
    config.orderer.consenters.push(Consenter {
        id: 6,
        msp_id: "UnicomMSP".to_owned(),
        endpoint: Endpoint {
            host: format!("127.{SLOT}.3.1"),
            port: format!("{PREFIX}7053").parse().unwrap(),
        },
        tls_cert_der: tls_cert.der().to_vec(),
    });
    // Two changes in one update are refused with a clear error.
    let mut double = config.clone();
    double.orderer.consenters.retain(|c| c.id != 5);
    let refused = client
        .broadcast_to(0, &update_envelope(orderers.path(), double))
        .unwrap();
    assert_eq!(refused.status, BroadcastStatus::BadRequest, "{refused:?}");
    assert!(
        refused.info.contains("more than one consenter"),
        "{}",
        refused.info
    );

    let added = client.submit_blocking(&update_envelope(orderers.path(), config));
    assert!(added.landed.is_ok(), "{added:?}");
    let all = [1, 2, 3, 4, 5, 6];
    client.wait_status("consenter 6 not in Raft", |statuses| {
        [1, 2, 3, 4, 5]
            .iter()
            .all(|id| statuses.get(id).is_some_and(|s| s.voters == all))
    });

    // The new orderer starts from the genesis block and the config block that added it.
    let join = latest_config_block(&orderers, leader);
    std::fs::write(orderers.path().join("join.block"), encode(&join).unwrap()).unwrap();
    let node_config = orderers.path().join(format!("nodes/{NEW_ORDERER}.toml"));
    let text = std::fs::read_to_string(&node_config).unwrap();
    std::fs::write(
        &node_config,
        text.replace("[orderer]", "[orderer]\njoin_block = \"../join.block\""),
    )
    .unwrap();
    assert_eq!(orderers.add(NEW_ORDERER), 6);
    outcomes.extend(Load::start(&client, 200, 32, 256).finish(&client));
    let height = client.wait_settled(&all);
    eprintln!("six consenters settled at height {height}");

    // Remove consenter 2 (Unicom's orderer1) while a load runs.
    let leader = client.wait_leader(None);
    let removed = [2, 3, 1].into_iter().find(|id| *id != leader).unwrap();
    let mut config = latest_config_block(&orderers, leader)
        .config()
        .cloned()
        .expect("a config block");
    config.sequence += 1;
    config.orderer.consenters.retain(|c| c.id != removed);
    let load = Load::start(&client, 300, 32, 256);
    let update = client.submit_blocking(&update_envelope(orderers.path(), config));
    assert!(update.landed.is_ok(), "{update:?}");
    outcomes.extend(load.finish(&client));
    let left: Vec<u64> = all.into_iter().filter(|id| *id != removed).collect();
    let statuses = client.wait_status("consenter not removed", |statuses| {
        left.iter()
            .all(|id| statuses.get(id).is_some_and(|s| s.voters == left))
            && statuses.get(&removed).is_some_and(|s| !s.is_consenter())
    });
    eprintln!("removed {removed}: {:?}", statuses[&removed]);
    outcomes.extend(Load::start(&client, 100, 32, 256).finish(&client));
    client.wait_settled(&left);
    Client::close(client);
    orderers.stop_all();

    assert_exactly_once(&outcomes, &orderers.chain_tx_ids(6));
    orderers.assert_same_blocks_among(6, &left);
}

/// Loopback slot of the renewal test (its own addresses, no port prefix).
const RENEWAL_SLOT: u8 = 28;

/// The renewal path of a consenter's TLS certificate, as operators run it: `netsettle ca
/// reenroll` at Unicom's CA (new key, new certificate), a config update replacing the
/// consenter's certificate that one carrier alone cannot make and both carriers' admins
/// sign, then the orderer restarted on its new key (the layout re-rendered so every
/// profile names its new node id). The consenter keeps its id and place in Raft; ordering
/// goes on before and after, each transaction once, the same blocks everywhere.
#[test]
fn a_consenter_renews_its_tls_certificate_through_the_ca_and_a_config_update() {
    let dir = tempfile::tempdir().unwrap();
    NETSETTLE.consortium(dir.path());
    NETSETTLE.render_layout(dir.path(), RENEWAL_SLOT, "");
    let mut orderers = Orderers::launch(NETSETTLE, dir, &ORDERERS, |text| text.to_owned());
    let client = Client::connect(orderers.path());
    let leader = client.wait_leader(None);
    let mut outcomes = Load::start(&client, 100, 32, 256).finish(&client);

    // Unicom's orderer1 or orderer2, whichever is not leading (orderer0 runs the CA).
    let renewed = [2, 3].into_iter().find(|id| *id != leader).unwrap();
    let identity = format!(
        "crypto/unicom/orderers/orderer{}.unicom.example",
        renewed - 1
    );
    let tls_cert = orderers.path().join(&identity).join("tls/cert.pem");
    let old_cert = Certificate::read_pem_file(&tls_cert).unwrap();
    NETSETTLE.ok(
        orderers.path(),
        &[
            "ca",
            "reenroll",
            "--ca",
            &format!("127.{RENEWAL_SLOT}.1.1:7054"),
            "--ca-cert",
            "crypto/unicom/ca/ca.pem",
            "--server-name",
            "ca.unicom.example",
            "--identity",
            &identity,
        ],
    );
    let new_cert = Certificate::read_pem_file(&tls_cert).unwrap();
    assert_ne!(new_cert.public_key(), old_cert.public_key(), "new key");
    assert_eq!(new_cert.common_name(), old_cert.common_name());

    let mut config = latest_config_block(&orderers, leader)
        .config()
        .cloned()
        .expect("a config block");
    config.sequence += 1;
    let sequence = config.sequence;
    for consenter in &mut config.orderer.consenters {
        if consenter.id == renewed {
            consenter.tls_cert_der = new_cert.der().to_vec();
        }
    }
    // Unicom alone may not change a consenter, even its own.
    let unicom = load_member(
        &orderers
            .path()
            .join("crypto/unicom/users/admin@unicom.example"),
        "UnicomMSP",
    );
    let alone = config_update_under(
        config.clone(),
        &[&unicom],
        &unicom,
        fresh_header(&unicom.identity()),
    );
    let refused = client.broadcast_to(0, &alone).unwrap();
    assert_eq!(refused.status, BroadcastStatus::BadRequest, "{refused:?}");
    assert!(
        refused.info.contains("needs channel Admins"),
        "{}",
        refused.info
    );

    let update = client.submit_blocking(&update_envelope(orderers.path(), config));
    assert!(update.landed.is_ok(), "{update:?}");
    // Every orderer has the config block, the renewed one too (still on its old key).
    client.wait_status("renewal not in force everywhere", |statuses| {
        (1..=5).all(|id| {
            statuses
                .get(&id)
                .is_some_and(|s| s.config_sequence == sequence)
        })
    });
    Client::close(client);

    orderers.kill(renewed);
    NETSETTLE.ok(
        orderers.path(),
        &["layout", "render", "--layout", "layout.toml", "--base", "."],
    );
    orderers.restart(renewed);
    let client = Client::connect(orderers.path());
    outcomes.extend(Load::start(&client, 200, 32, 256).finish(&client));
    let statuses = client.wait_status("renewed consenter not back in Raft", |statuses| {
        statuses
            .get(&renewed)
            .is_some_and(|s| s.voters == [1, 2, 3, 4, 5] && s.leader_id != 0)
    });
    eprintln!("consenter {renewed} renewed: {:?}", statuses[&renewed]);
    client.wait_settled(&[1, 2, 3, 4, 5]);
    Client::close(client);
    orderers.stop_all();

    assert_exactly_once(&outcomes, &orderers.chain_tx_ids(renewed));
    orderers.assert_same_blocks(renewed);
}
