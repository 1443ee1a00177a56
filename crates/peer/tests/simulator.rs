//! The simulator over a real tempdir ledger: the read–write set a contract's calls
//! record, rendered as text and compared, one scenario per case.

use netsettle_contract::{
    Context, Creator, Invocation, MemoryState, Simulator, composite_key, prefix_end,
};
use netsettle_peer::LedgerView;
use netsettle_protocol::{KvWrite, NamespaceReadWriteSet, ReadWriteSet, Role, Timestamp};
use netsettle_testkit::Consortium;
use netsettle_testkit::peer::{TempLedger, commit_unvalidated};
use netsettle_testkit::pki::NOW_MS;
use netsettle_testkit::tx::{proposal, transaction, writes};

/// Ledger with block 0 = genesis and block 1 writing `kv`: a=1, b=2, c=3 and composite
/// keys report/2026-10/{UnicomMSP,MobileMSP}.
fn ledger_with_state(net: &Consortium) -> TempLedger {
    let temp = TempLedger::new();
    let genesis = net.genesis.clone();
    commit_unvalidated(&temp.ledger, genesis.clone());
    let entries = block_1_entries();
    let entries: Vec<(&str, Option<&str>)> = entries
        .iter()
        .map(|(key, value)| (key.as_str(), Some(*value)))
        .collect();
    let signed = proposal(&net.unicom_client, 1, "kv", "setup", &[]);
    let envelope = transaction(
        &signed.proposal,
        &net.unicom_client,
        writes("kv", &entries),
        &[&net.unicom_peer],
    );
    commit_unvalidated(&temp.ledger, net.block(&genesis, vec![envelope]));
    temp
}

/// What block 1 writes, sorted by key.
fn block_1_entries() -> Vec<(String, &'static str)> {
    let unicom_report = composite_key("report", &["2026-10", "UnicomMSP"]).unwrap();
    let mobile_report = composite_key("report", &["2026-10", "MobileMSP"]).unwrap();
    let mut entries = vec![
        ("a".to_owned(), "1"),
        ("b".to_owned(), "2"),
        ("c".to_owned(), "3"),
        (unicom_report, "u"),
        (mobile_report, "m"),
    ];
    entries.sort();
    entries
}

/// The same state in memory: an empty block 0 (genesis), then block 1's writes.
fn memory_with_state(net: &Consortium) -> MemoryState {
    let mut state = MemoryState::new();
    let genesis = proposal(&net.unicom_client, 0, "kv", "genesis", &[]);
    state.commit(genesis.tx_id(), &ReadWriteSet::default());
    let setup = proposal(&net.unicom_client, 1, "kv", "setup", &[]);
    let writes = block_1_entries()
        .into_iter()
        .map(|(key, value)| KvWrite {
            key,
            value: Some(value.as_bytes().to_vec()),
        })
        .collect();
    let rw_set = ReadWriteSet {
        namespaces: vec![NamespaceReadWriteSet {
            namespace: "kv".to_owned(),
            reads: Vec::new(),
            range_queries: Vec::new(),
            writes,
        }],
    };
    state.commit(setup.tx_id(), &rw_set);
    state
}

fn invocation(net: &Consortium) -> Invocation {
    let signed = proposal(&net.unicom_client, 99, "kv", "f", &[]);
    Invocation {
        channel: "settlement".to_owned(),
        namespace: "kv".to_owned(),
        tx_id: signed.tx_id(),
        timestamp: Timestamp {
            unix_time_ms: NOW_MS,
        },
        creator: Creator {
            msp_id: "UnicomMSP".to_owned(),
            role: Role::Client,
            common_name: "settlement.UnicomMSP".to_owned(),
            fingerprint: net.unicom_client.cert.sm3_fingerprint(),
            attributes: Default::default(),
        },
    }
}

fn render(rw_set: &ReadWriteSet) -> String {
    let show = |key: &str| key.replace('\u{0}', "/");
    let mut out = String::new();
    for ns in &rw_set.namespaces {
        out.push_str(&format!("ns {}\n", ns.namespace));
        for read in &ns.reads {
            let version = read.version.map_or("-".to_owned(), |v| v.to_string());
            out.push_str(&format!("read {} {version}\n", show(&read.key)));
        }
        for range in &ns.range_queries {
            let keys: Vec<String> = range
                .reads
                .iter()
                .map(|read| format!("{}@{}", show(&read.key), read.version.unwrap()))
                .collect();
            out.push_str(&format!(
                "range [{}, {}) exhausted={} {}\n",
                show(&range.start_key),
                show(&range.end_key),
                range.exhausted,
                keys.join(",")
            ));
        }
        for write in &ns.writes {
            let value = write.value.as_ref().map_or("DELETE".to_owned(), |v| {
                String::from_utf8_lossy(v).into_owned()
            });
            out.push_str(&format!("write {} {value}\n", show(&write.key)));
        }
    }
    out
}

type Script = fn(&mut dyn Context) -> String;

/// Runs `script` in a fresh simulator over the ledger and again over the same state in
/// memory; both must give its expected output and rendered set.
fn check(script: Script, expected: &str) {
    let net = Consortium::new();
    let temp = ledger_with_state(&net);
    let view = LedgerView::new(&temp.ledger).unwrap();
    let mut simulator = Simulator::new(&view, invocation(&net));
    let said = script(&mut simulator);
    let simulation = simulator.finish();
    simulation.rw_set.check().unwrap();
    let actual = format!("{said}\n{}", render(&simulation.rw_set));
    assert_eq!(actual.trim(), expected.trim(), "\nactual:\n{actual}");
    // Simulating wrote nothing: the state is what block 1 left.
    let after = temp.ledger.state("kv", "d").unwrap();
    assert_eq!(after, None);

    // The audit replay and contract tests run on MemoryState: same simulator, same view.
    let memory = memory_with_state(&net);
    let mut simulator = Simulator::new(&memory, invocation(&net));
    let said = script(&mut simulator);
    let simulation = simulator.finish();
    let in_memory = format!("{said}\n{}", render(&simulation.rw_set));
    assert_eq!(in_memory, actual, "MemoryState and the ledger disagree");
}

fn text(value: Option<Vec<u8>>) -> String {
    value.map_or("none".to_owned(), |v| String::from_utf8(v).unwrap())
}

#[test]
fn point_reads_record_the_committed_version_once() {
    check(
        |ctx| {
            let a = text(ctx.get("a").unwrap());
            let again = text(ctx.get("a").unwrap());
            let missing = text(ctx.get("zz").unwrap());
            format!("a={a} again={again} zz={missing}")
        },
        "a=1 again=1 zz=none
ns kv
read a 1:0
read zz -",
    );
}

#[test]
fn reads_see_own_writes_without_recording_a_read() {
    check(
        |ctx| {
            ctx.put("d", b"4").unwrap();
            ctx.put("a", b"10").unwrap();
            ctx.delete("b").unwrap();
            let d = text(ctx.get("d").unwrap());
            let a = text(ctx.get("a").unwrap());
            let b = text(ctx.get("b").unwrap());
            format!("d={d} a={a} b={b}")
        },
        "d=4 a=10 b=none
ns kv
write a 10
write b DELETE
write d 4",
    );
}

#[test]
fn writes_come_out_sorted_and_last_write_wins() {
    check(
        |ctx| {
            ctx.put("z", b"1").unwrap();
            ctx.put("m", b"1").unwrap();
            ctx.put("z", b"2").unwrap();
            ctx.delete("m").unwrap();
            String::new()
        },
        "ns kv
write m DELETE
write z 2",
    );
}

#[test]
fn a_range_records_its_committed_keys_and_overlays_own_writes() {
    check(
        |ctx| {
            ctx.delete("b").unwrap();
            ctx.put("bb", b"22").unwrap();
            let entries = ctx.range("", "", 10).unwrap();
            let keys: Vec<String> = entries.into_iter().map(|(k, _)| k).collect();
            keys.join(",")
        },
        "a,bb,c
ns kv
range [, ) exhausted=true a@1:0,b@1:0,c@1:0
write b DELETE
write bb 22",
    );
}

#[test]
fn a_limited_range_is_not_exhausted() {
    check(
        |ctx| {
            let entries = ctx.range("a", "c", 1).unwrap();
            let keys: Vec<String> = entries.into_iter().map(|(k, _)| k).collect();
            keys.join(",")
        },
        "a
ns kv
range [a, c) exhausted=false a@1:0",
    );
}

#[test]
fn composite_key_prefix_ranges_see_only_their_object_type() {
    check(
        |ctx| {
            let prefix = composite_key("report", &["2026-10"]).unwrap();
            let end = prefix_end(&prefix);
            let entries = ctx.range(&prefix, &end, 10).unwrap();
            entries.len().to_string()
        },
        "2
ns kv
range [/report/2026-10/, /report/2026-10\u{1}) exhausted=true /report/2026-10/MobileMSP/@1:0,/report/2026-10/UnicomMSP/@1:0",
    );
}

#[test]
fn bad_keys_and_limits_are_the_contracts_error() {
    check(
        |ctx| {
            let empty = ctx.put("", b"x").unwrap_err().status();
            let range = ctx.range("", "", 0).unwrap_err().status();
            let backwards = ctx.range("b", "a", 1).unwrap_err().status();
            let event = ctx.emit_event("", b"").unwrap_err().status();
            format!("{empty} {range} {backwards} {event}")
        },
        "400 400 400 400",
    );
}

#[test]
fn history_lists_committed_writes() {
    check(
        |ctx| {
            let history = ctx.history("a", 10).unwrap();
            let versions: Vec<String> = history.iter().map(|m| m.version.to_string()).collect();
            format!("{} {}", versions.join(","), ctx.creator().msp_id)
        },
        "1:0 UnicomMSP",
    );
}

#[test]
fn events_are_kept_in_order() {
    let net = Consortium::new();
    let temp = ledger_with_state(&net);
    let view = LedgerView::new(&temp.ledger).unwrap();
    let mut simulator = Simulator::new(&view, invocation(&net));
    simulator.emit_event("First", b"1").unwrap();
    simulator.emit_event("Second", b"2").unwrap();
    let simulation = simulator.finish();
    let names: Vec<&str> = simulation.events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["First", "Second"]);
    assert!(simulation.rw_set.namespaces.is_empty());
}
