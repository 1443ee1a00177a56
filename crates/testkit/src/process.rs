//! Process tests with the real `netsettle` binary: run its commands in a directory, set
//! up both carriers' consortium as `scripts/demo.sh` does, render `configs/local.toml` on
//! a loopback slot of the test's own, start nodes and wait for their readiness lines, and
//! run the DMZ forwarders. Every process is killed and reaped when its guard drops, so a
//! failing test leaves nothing running; temporary directories are the caller's
//! `tempfile::TempDir`s. Each helper has an `_at` form taking a [`Place`] (or a
//! [`Placement`] for the whole consortium): this host, or a network namespace of
//! [`crate::clouds`].
//!
//! Only the `netsettle` package's tests and benches know where cargo put the binary
//! (`env!("CARGO_BIN_EXE_netsettle")`), so they name it: `const NETSETTLE: Netsettle =
//! Netsettle(env!("CARGO_BIN_EXE_netsettle"));`.

use std::ffi::OsStr;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;

use netsettle_smcrypto::PrivateKey;
use netsettle_smcrypto::x509::Certificate;

use crate::WAIT_MAX;
use crate::pki::Member;

/// The repository root, for `configs/`, `scripts/` and `tests/data/`.
pub const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// Unicom's admin through Unicom's connection profile (`netsettle tx`, `lifecycle`).
pub const ADMIN_U: [&str; 4] = [
    "--profile",
    "clients/unicommsp.toml",
    "--identity",
    "crypto/unicom/users/admin@unicom.example",
];
/// Mobile's admin through Mobile's connection profile.
pub const ADMIN_M: [&str; 4] = [
    "--profile",
    "clients/mobilemsp.toml",
    "--identity",
    "crypto/mobile/users/admin@mobile.example",
];
/// Unicom's settlement staff through Unicom's connection profile (`netsettle settlement`).
pub const STAFF_U: [&str; 4] = [
    "--profile",
    "clients/unicommsp.toml",
    "--identity",
    "crypto/unicom/users/settlement@unicom.example",
];
/// Mobile's settlement staff through Mobile's connection profile.
pub const STAFF_M: [&str; 4] = [
    "--profile",
    "clients/mobilemsp.toml",
    "--identity",
    "crypto/mobile/users/settlement@mobile.example",
];

/// The rendered layout's orderer processes (`nodes/NAME.toml`): three Unicom, two Mobile.
pub const ORDERERS: [&str; 5] = [
    "unicommsp-orderer0",
    "unicommsp-orderer1",
    "unicommsp-orderer2",
    "mobilemsp-orderer0",
    "mobilemsp-orderer1",
];
/// The rendered layout's peer processes: two per carrier.
pub const PEERS: [&str; 4] = [
    "unicommsp-peer0",
    "unicommsp-peer1",
    "mobilemsp-peer0",
    "mobilemsp-peer1",
];

/// The prefix of the line a node prints once every role is serving.
pub const NODE_READY: &str = "netsettle node ready";

/// Where a process runs: on this host, or inside a network namespace (`ip netns exec NS`,
/// which execs, so the child's process id is the program's and killing it kills the
/// program; see [`crate::clouds`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Place {
    #[default]
    Host,
    Namespace(String),
}

impl Place {
    /// A command running `program` here.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        match self {
            Place::Host => Command::new(program),
            Place::Namespace(namespace) => {
                let mut command = Command::new("ip");
                command.args(["netns", "exec", namespace]).arg(program);
                command
            }
        }
    }
}

/// Where each part of the local consortium runs: both carriers' clouds and the DMZ where
/// their forwarders run. [`Placement::default`] puts everything on this host (the
/// loopback clouds of `configs/local.toml`); [`crate::clouds::Clouds::placement`] puts
/// each in its namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    pub unicom: Place,
    pub mobile: Place,
    pub dmz: Place,
}

impl Placement {
    /// The cloud of a rendered node (`nodes/NAME.toml`: `unicommsp-…` or `mobilemsp-…`).
    pub fn of_node(&self, name: &str) -> &Place {
        if name.starts_with("mobilemsp-") {
            &self.mobile
        } else {
            assert!(name.starts_with("unicommsp-"), "{name} is no layout node");
            &self.unicom
        }
    }

    /// The cloud a client command belongs in: that of the carrier whose connection
    /// profile (`--profile clients/ORG.toml`) it uses; Unicom's for a command without
    /// one.
    pub fn of_args(&self, args: &[&str]) -> &Place {
        let profile = args
            .windows(2)
            .find(|pair| pair.first() == Some(&"--profile"))
            .and_then(|pair| pair.get(1));
        match profile {
            Some(profile) if profile.ends_with("mobilemsp.toml") => &self.mobile,
            _ => &self.unicom,
        }
    }
}

/// The `netsettle` binary under test, by path.
#[derive(Debug, Clone, Copy)]
pub struct Netsettle(pub &'static str);

impl Netsettle {
    /// `self`, or the binary the environment variable `var` names when it is set: a bench
    /// measures an earlier build and this one in the same sitting (the machine is shared,
    /// so figures from different hours do not compare).
    pub fn overridden_by(self, var: &str) -> Netsettle {
        match std::env::var(var) {
            Ok(path) if !path.is_empty() => Netsettle(Box::leak(path.into_boxed_str())),
            _ => self,
        }
    }

    /// A command running the binary.
    pub fn command(self) -> Command {
        self.command_at(&Place::Host)
    }

    /// A command running the binary at `place`.
    pub fn command_at(self, place: &Place) -> Command {
        place.command(self.0)
    }

    /// Runs `netsettle args` in `dir` to completion.
    pub fn run(self, dir: &Path, args: &[&str]) -> Output {
        self.run_at(&Place::Host, dir, args)
    }

    /// Runs `netsettle args` at `place` in `dir` to completion.
    pub fn run_at(self, place: &Place, dir: &Path, args: &[&str]) -> Output {
        self.command_at(place)
            .args(args)
            .current_dir(dir)
            .output()
            .expect("netsettle runs")
    }

    /// Runs `netsettle args` and returns its stdout; fails the test with stderr if it
    /// fails.
    pub fn ok(self, dir: &Path, args: &[&str]) -> String {
        self.ok_at(&Place::Host, dir, args)
    }

    /// [`Netsettle::ok`] at `place`.
    pub fn ok_at(self, place: &Place, dir: &Path, args: &[&str]) -> String {
        let output = self.run_at(place, dir, args);
        assert!(
            output.status.success(),
            "netsettle {args:?} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Runs `netsettle args`, expects it to fail, and returns its stderr.
    pub fn fails(self, dir: &Path, args: &[&str]) -> String {
        self.fails_at(&Place::Host, dir, args)
    }

    /// [`Netsettle::fails`] at `place`.
    pub fn fails_at(self, place: &Place, dir: &Path, args: &[&str]) -> String {
        let output = self.run_at(place, dir, args);
        assert!(
            !output.status.success(),
            "netsettle {args:?} unexpectedly succeeded"
        );
        String::from_utf8_lossy(&output.stderr).into_owned()
    }

    /// Both carriers bootstrapped, the roots exchanged and the genesis block written, as
    /// in `scripts/demo.sh`.
    pub fn consortium(self, dir: &Path) {
        self.consortium_with_unicom_spec(dir, &format!("{REPO}/configs/unicom.toml"));
    }

    /// [`Netsettle::consortium`] with Unicom's CA spec taken from `unicom_spec` (e.g.
    /// one with more nodes than the genesis block names).
    pub fn consortium_with_unicom_spec(self, dir: &Path, unicom_spec: &str) {
        let mobile_spec = format!("{REPO}/configs/mobile.toml");
        for (spec, out) in [
            (unicom_spec, "crypto/unicom"),
            (&mobile_spec, "crypto/mobile"),
        ] {
            self.ok(dir, &["ca", "bootstrap", "--spec", spec, "--out", out]);
        }
        self.ok(
            dir,
            &[
                "msp",
                "export",
                "--msp-dir",
                "crypto/mobile/msp",
                "--out",
                "exchange/mobile-msp",
            ],
        );
        self.genesis(dir, "orderer0");
    }

    /// Writes `genesis.block` signed by one of Unicom's orderers.
    pub fn genesis(self, dir: &Path, orderer: &str) {
        self.genesis_from_profile(dir, orderer, &format!("{REPO}/configs/consortium.toml"));
    }

    /// Writes `genesis.block` from consortium profile `profile`, signed by one of
    /// Unicom's orderers.
    pub fn genesis_from_profile(self, dir: &Path, orderer: &str, profile: &str) {
        self.genesis_block(dir, orderer, profile, "genesis.block");
    }

    /// Writes genesis block `out` (relative to `dir`) from consortium profile `profile`,
    /// signed by one of Unicom's orderers.
    pub fn genesis_block(self, dir: &Path, orderer: &str, profile: &str, out: &str) {
        let msp = format!("crypto/unicom/orderers/{orderer}.unicom.example/msp");
        self.ok(
            dir,
            &[
                "configtx",
                "genesis",
                "--profile",
                profile,
                "--base",
                ".",
                "--signer-key",
                &format!("{msp}/keystore/key.pem"),
                "--signer-cert",
                &format!("{msp}/signcerts/cert.pem"),
                "--signer-msp",
                "UnicomMSP",
                "--out",
                out,
            ],
        );
    }

    /// `configs/local.toml` rendered into `dir` on loopback addresses and ports of the
    /// test's own: every `127.0.` address moves to `127.{slot}.` and every port gets
    /// `prefix` in front (e.g. `"3"`: 7050 becomes 37050; the operations listeners' 7070
    /// too), so a test's consortium cannot
    /// collide with the demo's or another test's. In use: the demo, consortium.rs and
    /// network_sh.rs (configs/local.toml as is, without root) slot 0 without prefix,
    /// node.rs slot 0 prefix 2, orderer_faults.rs slot 3 prefix 3,
    /// orderer_kill_loop.rs slot 5 prefix 4, orderer_leader.rs slot 5 prefix 5,
    /// orderer_membership.rs slot 6 prefix 4, orderer_catch_up.rs slot 6 prefix 5,
    /// peer_gossip.rs slot 7, peer_faults.rs slot 8, the consensus bench slot 9 (its
    /// own addresses), the e2e bench slot 10, role_death.rs slot 12, resources.rs slot 14,
    /// peer_kill.rs slot 16, the adversary suite slots 11, 13 and 15, sdk_month.rs slot 17,
    /// http_gateway.rs slot 18, settlement_cli.rs slot 19, notices.rs slot 20,
    /// console_browser.rs slot 21, console_pages.rs slot 22, operations.rs slot 23,
    /// ledger_backup.rs slot 24 (and prefix 4 for its orderers-only test), clouds.rs slot 25
    /// and drills.rs slot 26 with prefixes 1 to 3 (their loopback fallbacks without root;
    /// in network namespaces they use no slot: `clouds`), orderer_membership.rs slot 28 (its
    /// renewal test), gateway_cli.rs slot 29, peer_failover.rs slot 30; give each new
    /// test file its own slot.
    pub fn render_layout(self, dir: &Path, slot: u8, prefix: &str) {
        let layout = std::fs::read_to_string(format!("{REPO}/configs/local.toml"))
            .expect("configs/local.toml")
            .replace("\"127.0.", &format!("\"127.{slot}."))
            .replace(":7050\"", &format!(":{prefix}7050\""))
            .replace(":7060\"", &format!(":{prefix}7060\""))
            .replace(":7070\"", &format!(":{prefix}7070\""))
            .replace("= 70", &format!("= {prefix}70"))
            .replace(":7054\"", &format!(":{prefix}7054\""));
        self.render(dir, &layout);
    }

    /// Renders layout text `layout` (e.g. `configs/local.toml` with its addresses moved)
    /// into `dir` as `layout.toml`, then `nodes/`, `dmz/` and `clients/`.
    pub fn render(self, dir: &Path, layout: &str) {
        std::fs::write(dir.join("layout.toml"), layout).expect("layout.toml written");
        self.ok(
            dir,
            &["layout", "render", "--layout", "layout.toml", "--base", "."],
        );
    }

    /// Starts `netsettle node --config CONFIG` and waits for its readiness line.
    pub fn node(self, config: &Path) -> Process {
        self.node_at(&Place::Host, config)
    }

    /// [`Netsettle::node`] at `place`.
    pub fn node_at(self, place: &Place, config: &Path) -> Process {
        let mut command = self.command_at(place);
        command
            .arg("node")
            .arg("--config")
            .arg(config)
            .stderr(Stdio::null());
        Process::start(command, NODE_READY)
    }

    /// Starts `netsettle node --config config` with `NETSETTLE_LOG=log_filter`, waits for
    /// its readiness line, and returns it with a receiver of what `pick` makes of its
    /// stderr lines (read from the start, so none is seen late). Bounded: values nobody
    /// waits for are dropped, so the node never blocks on stderr.
    pub fn node_with_log<T: Send + 'static>(
        self,
        config: &Path,
        log_filter: &str,
        pick: impl Fn(&str) -> Option<T> + Send + 'static,
    ) -> (Process, mpsc::Receiver<T>) {
        let mut command = self.command();
        command
            .arg("node")
            .arg("--config")
            .arg(config)
            .env("NETSETTLE_LOG", log_filter)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut process = Process::spawn(command);
        let stdout = process.child.stdout.take().expect("piped stdout");
        let stderr = process.child.stderr.take().expect("piped stderr");
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.starts_with(NODE_READY) {
                    let _ = ready_tx.try_send(line);
                }
            }
        });
        let (picked_tx, picked_rx) = mpsc::sync_channel(4_096);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(value) = pick(&line) {
                    let _ = picked_tx.try_send(value);
                }
            }
        });
        process.ready = ready_rx
            .recv_timeout(WAIT_MAX)
            .unwrap_or_else(|_| panic!("{} printed no readiness line", config.display()));
        (process, picked_rx)
    }

    /// Starts the rendered node `nodes/NAME.toml` and waits for its readiness line.
    pub fn start_node(self, dir: &Path, name: &str) -> Process {
        self.start_node_at(&Placement::default(), dir, name)
    }

    /// Starts the rendered node `nodes/NAME.toml` in its cloud of `placement` and waits
    /// for its readiness line.
    pub fn start_node_at(self, placement: &Placement, dir: &Path, name: &str) -> Process {
        self.node_at(
            placement.of_node(name),
            &dir.join(format!("nodes/{name}.toml")),
        )
    }

    /// Writes the local consortium into `dir`, renders it onto loopback `slot` (no port
    /// prefix), starts both DMZ forwarders, then the named `orderers` and `peers`, each
    /// past its readiness line. Dropping the result stops them all.
    pub fn start_consortium(
        self,
        dir: &Path,
        slot: u8,
        orderers: &[&str],
        peers: &[&str],
    ) -> Consortium {
        self.consortium(dir);
        self.render_layout(dir, slot, "");
        self.start_nodes(dir, orderers, peers)
    }

    /// Starts both DMZ forwarders, then the named `orderers` and `peers` of a consortium
    /// already written and rendered into `dir` (a test may edit node configs in between),
    /// each past its readiness line. Dropping the result stops them all.
    pub fn start_nodes(self, dir: &Path, orderers: &[&str], peers: &[&str]) -> Consortium {
        self.start_nodes_at(&Placement::default(), dir, orderers, peers)
    }

    /// [`Netsettle::start_nodes`] with each part where `placement` puts it.
    pub fn start_nodes_at(
        self,
        placement: &Placement,
        dir: &Path,
        orderers: &[&str],
        peers: &[&str],
    ) -> Consortium {
        let dmz = Forwarder::both_at(&placement.dmz, dir);
        let orderers = orderers
            .iter()
            .map(|name| self.start_node_at(placement, dir, name))
            .collect();
        let peers = peers
            .iter()
            .map(|name| self.start_node_at(placement, dir, name))
            .collect();
        Consortium {
            peers,
            orderers,
            dmz,
        }
    }

    /// Fetches Unicom's current CRL from its CA (`ca_args`: the `ca` subcommand's
    /// options that reach and authenticate to it) into `crl.pem`, and writes the config
    /// update that puts it in the channel, `crl-update.json`, both in `dir`.
    pub fn unicom_crl_update(self, dir: &Path, ca_args: &[&str]) {
        let mut crl = vec!["ca", "crl"];
        crl.extend(ca_args);
        crl.extend(["--out", "crl.pem"]);
        self.ok(dir, &crl);
        self.ok(
            dir,
            &[
                "configtx",
                "crl",
                "--block",
                "genesis.block",
                "--org",
                "UnicomMSP",
                "--crl",
                "crl.pem",
                "--out",
                "crl-update.json",
            ],
        );
    }

    /// The settlement contract's lifecycle through the CLI: both carriers' admins
    /// approve, Unicom's commits; each step committed VALID.
    pub fn define_settlement(self, dir: &Path) {
        self.define_settlement_at(&Placement::default(), dir);
    }

    /// [`Netsettle::define_settlement`], each admin in its carrier's cloud of
    /// `placement`.
    pub fn define_settlement_at(self, placement: &Placement, dir: &Path) {
        for (args, function) in [
            (ADMIN_U, "approve"),
            (ADMIN_M, "approve"),
            (ADMIN_U, "commit"),
        ] {
            let mut call = vec!["lifecycle", function];
            call.extend(args);
            let output = self.ok_at(placement.of_args(&args), dir, &call);
            assert!(output.contains("code=VALID"), "{output}");
        }
    }

    /// An agreement proposal by Unicom's admin (`netsettle tx invoke
    /// --verify-endorsements`): a real settlement transaction, valid any time after the
    /// lifecycle.
    pub fn propose(self, dir: &Path) -> Output {
        self.propose_at(&Place::Host, dir)
    }

    /// [`Netsettle::propose`] at `place` (Unicom's cloud).
    pub fn propose_at(self, place: &Place, dir: &Path) -> Output {
        let agreement = format!("{REPO}/tests/data/settlement/agreement.json");
        let mut args = vec!["tx", "invoke", "--verify-endorsements"];
        args.extend(ADMIN_U);
        args.extend([
            "--contract",
            "settlement",
            "--function",
            "agreement_propose",
            "--arg-file",
            &agreement,
        ]);
        self.run_at(place, dir, &args)
    }
}

/// The member whose identity directory (as `ca bootstrap` writes it) is `dir`, signing
/// for `msp_id`.
pub fn load_member(dir: &Path, msp_id: &str) -> Member {
    let layout = netsettle_msp::IdentityLayout::new(dir);
    let member = Member {
        key: PrivateKey::read_pkcs8_pem_file(&layout.sign_key()).expect("the signing key"),
        cert: Certificate::read_pem_file(&layout.sign_cert()).expect("the certificate"),
        msp_id: msp_id.to_owned(),
    };
    assert!(
        member.cert.public_key() == member.key.public_key(),
        "{} holds a key that is not its certificate's",
        dir.display()
    );
    member
}

/// A running process and the readiness line it printed; killed and reaped on drop.
pub struct Process {
    pub child: Child,
    /// The readiness line (empty for [`Process::spawn`]).
    pub ready: String,
}

impl Process {
    /// Spawns `command` with stdout piped and waits until it prints a line starting with
    /// `ready_prefix`; fails (and kills it) after [`WAIT_MAX`]. Later output is read and
    /// dropped, so the process never blocks on a full pipe.
    pub fn start(mut command: Command, ready_prefix: &str) -> Process {
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .expect("the process starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        let prefix = ready_prefix.to_owned();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.starts_with(&prefix) {
                    let _ = ready_tx.try_send(line);
                }
            }
        });
        let mut process = Process {
            child,
            ready: String::new(),
        };
        match ready_rx.recv_timeout(WAIT_MAX) {
            Ok(line) => process.ready = line,
            Err(_) => panic!("{command:?} printed no line {ready_prefix:?}"),
        }
        process
    }

    /// Spawns `command` without waiting for anything: for tests that watch its logs.
    pub fn spawn(mut command: Command) -> Process {
        Process {
            child: command.spawn().expect("the process starts"),
            ready: String::new(),
        }
    }

    /// The value of `name=VALUE` in the readiness line.
    pub fn field(&self, name: &str) -> String {
        self.ready
            .split(' ')
            .find_map(|part| part.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name}= in {:?}", self.ready))
            .to_owned()
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(mut self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        let status = self.child.wait().expect("the process is reaped");
        assert!(status.success(), "process exited with {status}");
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A started local consortium ([`Netsettle::start_consortium`]); its fields drop in
/// order: peers, orderers, then the forwarders.
pub struct Consortium {
    pub peers: Vec<Process>,
    pub orderers: Vec<Process>,
    pub dmz: [Forwarder; 2],
}

/// A DMZ forwarder (`scripts/dmz.sh` → nginx) serving the mappings of file `map` from
/// directory `dir`; stopped on drop.
pub struct Forwarder {
    child: Child,
}

impl Forwarder {
    pub fn start(dir: &Path, map: &Path) -> Forwarder {
        Forwarder::start_at(&Place::Host, dir, map)
    }

    /// [`Forwarder::start`] at `place` (the DMZ namespace: nginx binds the public
    /// addresses there).
    pub fn start_at(place: &Place, dir: &Path, map: &Path) -> Forwarder {
        let mappings = std::fs::read_to_string(map).expect("the DMZ map");
        let child = place
            .command("bash")
            .arg(format!("{REPO}/scripts/dmz.sh"))
            .arg(dir)
            .args(mappings.lines())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("scripts/dmz.sh starts (needs nginx: scripts/setup.sh installs it)");
        Forwarder { child }
    }

    /// Both carriers' forwarders of a rendered layout in `dir` (`dmz/{unicom,mobile}`).
    pub fn both(dir: &Path) -> [Forwarder; 2] {
        Forwarder::both_at(&Place::Host, dir)
    }

    /// [`Forwarder::both`] at `place`.
    pub fn both_at(place: &Place, dir: &Path) -> [Forwarder; 2] {
        [
            Forwarder::unicom_at(place, dir),
            Forwarder::mobile_at(place, dir),
        ]
    }

    /// Unicom's forwarder of a rendered layout in `dir`, at `place`.
    pub fn unicom_at(place: &Place, dir: &Path) -> Forwarder {
        Forwarder::start_at(
            place,
            &dir.join("dmz/unicom"),
            &dir.join("dmz/UnicomMSP.map"),
        )
    }

    /// Waits until the forwarder listens: nginx writes its pid file (`DIR/nginx.pid`)
    /// once its listening sockets are open, and `dmz.sh` execs nginx, so the file then
    /// holds this child's process id (a stale file of a stopped forwarder holds another).
    pub fn wait_listening(&mut self, dir: &Path) {
        let pid_file = dir.join("nginx.pid");
        let pid = self.child.id().to_string();
        let deadline = std::time::Instant::now() + WAIT_MAX;
        loop {
            let written = std::fs::read_to_string(&pid_file).unwrap_or_default();
            if written.trim() == pid {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the forwarder of {} exited: {status}", dir.display());
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the forwarder of {} does not listen",
                dir.display()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Stops the forwarder now (as dropping it would), cutting every session through it;
    /// a test restores the link by assigning a newly started one in its place.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Mobile's forwarder of a rendered layout in `dir`, at `place`.
    pub fn mobile_at(place: &Place, dir: &Path) -> Forwarder {
        Forwarder::start_at(
            place,
            &dir.join("dmz/mobile"),
            &dir.join("dmz/MobileMSP.map"),
        )
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
