//! The two carriers' clouds as Linux network namespaces (`scripts/clouds.sh`), for process
//! tests that must show the clouds are really apart: [`Clouds`] brings up NAME-unicom,
//! NAME-mobile and NAME-dmz and takes them down on drop (also on panic), renders
//! `configs/local.toml` onto their addresses (`127.0.` read as `198.18.`), and starts the
//! consortium with each part in its namespace through [`Placement`]: both DMZ forwarders
//! in NAME-dmz, each carrier's nodes and client commands in its cloud.
//!
//! Namespaces need root; [`Clouds::available`] says whether they work here, and a test
//! falls back to the loopback clouds of `configs/local.toml` (its own slot) when not.
//! Addresses never collide between tests (each namespace has its own stack); namespace
//! names must, so [`Clouds::unique_name`] derives them from the process id and a counter.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::process::{Consortium, Netsettle, Place, Placement, REPO};

/// One of the three namespaces of a set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cloud {
    /// Unicom's cloud, 198.18.1.0/24.
    Unicom,
    /// Mobile's cloud, 198.18.2.0/24.
    Mobile,
    /// Where both carriers' DMZ forwarders run (198.18.3.1, 198.18.4.1); it never routes.
    Dmz,
}

impl Cloud {
    fn suffix(self) -> &'static str {
        match self {
            Cloud::Unicom => "unicom",
            Cloud::Mobile => "mobile",
            Cloud::Dmz => "dmz",
        }
    }
}

/// Unicom's DMZ forwarder's public address in namespace mode.
pub const DMZ_UNICOM: &str = "198.18.3.1";
/// Mobile's DMZ forwarder's public address in namespace mode.
pub const DMZ_MOBILE: &str = "198.18.4.1";

/// How long a test dial waits for a TCP handshake: a dropped SYN (a route into a DMZ
/// that does not forward) shows as this timeout, a missing route fails at once.
const DIAL_TIMEOUT_SECS: &str = "3";

/// A set of namespaces brought up by `scripts/clouds.sh up`; `down` on drop kills
/// whatever still runs in them and deletes them.
#[derive(Debug)]
pub struct Clouds {
    name: String,
}

impl Clouds {
    /// `Ok` when network namespaces work here (root, iproute2, and the kernel lets us
    /// create one); otherwise why not, for the test to print before it falls back.
    pub fn available() -> Result<(), String> {
        let uid = Command::new("id").arg("-u").output();
        match uid {
            Ok(output) if String::from_utf8_lossy(&output.stdout).trim() == "0" => {}
            _ => return Err("not root".to_owned()),
        }
        let probe = Clouds::unique_name("pr");
        let added = Command::new("ip")
            .args(["netns", "add", &probe])
            .stderr(Stdio::null())
            .status();
        match added {
            Ok(status) if status.success() => {
                let _ = Command::new("ip")
                    .args(["netns", "delete", &probe])
                    .status();
                Ok(())
            }
            Ok(_) => Err("`ip netns add` is refused here".to_owned()),
            Err(error) => Err(format!("`ip` does not run ({error}); install iproute2")),
        }
    }

    /// A set name of the form TAG + process id + counter, unique on this host while
    /// this process lives (at most 8 characters: `tag` at most 2).
    pub fn unique_name(tag: &str) -> String {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        assert!(tag.len() <= 2 && tag.bytes().all(|byte| byte.is_ascii_lowercase()));
        let count = COUNTER.fetch_add(1, Ordering::Relaxed);
        assert!(
            count < 36,
            "more than 36 namespace sets in one test process"
        );
        format!("{tag}{}{}", base36(std::process::id()), base36(count))
    }

    /// Brings up set `name` (a stale set of the same name, left by a killed run of an
    /// earlier process with this id, is taken down first).
    pub fn up(name: &str) -> Clouds {
        let clouds = Clouds {
            name: name.to_owned(),
        };
        clouds.script(&["down", name]);
        clouds.script(&["up", name]);
        clouds
    }

    fn script(&self, args: &[&str]) -> Output {
        let output = Command::new("bash")
            .arg(format!("{REPO}/scripts/clouds.sh"))
            .args(args)
            .output()
            .expect("bash runs scripts/clouds.sh");
        assert!(
            output.status.success(),
            "clouds.sh {args:?} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// The namespace of `cloud` in this set.
    pub fn namespace(&self, cloud: Cloud) -> String {
        format!("{}-{}", self.name, cloud.suffix())
    }

    /// Where a process of `cloud` runs.
    pub fn place(&self, cloud: Cloud) -> Place {
        Place::Namespace(self.namespace(cloud))
    }

    /// The consortium's parts in this set's namespaces.
    pub fn placement(&self) -> Placement {
        Placement {
            unicom: self.place(Cloud::Unicom),
            mobile: self.place(Cloud::Mobile),
            dmz: self.place(Cloud::Dmz),
        }
    }

    /// `ip netns exec NAME-CLOUD program`.
    pub fn command(&self, cloud: Cloud, program: &str) -> Command {
        self.place(cloud).command(program)
    }

    /// `configs/local.toml` rendered into `dir` on the namespaces' addresses: `127.0.`
    /// becomes `198.18.`, ports unchanged (no other test shares these stacks).
    pub fn render_layout(netsettle: Netsettle, dir: &Path) {
        let layout = std::fs::read_to_string(format!("{REPO}/configs/local.toml"))
            .expect("configs/local.toml")
            .replace("\"127.0.", "\"198.18.");
        netsettle.render(dir, &layout);
    }

    /// Writes the local consortium into `dir`, renders it onto the namespaces and starts
    /// both DMZ forwarders in the DMZ namespace, then the named `orderers` and `peers`,
    /// each in its carrier's cloud and past its readiness line.
    pub fn start_consortium(
        &self,
        netsettle: Netsettle,
        dir: &Path,
        orderers: &[&str],
        peers: &[&str],
    ) -> Consortium {
        netsettle.consortium(dir);
        Clouds::render_layout(netsettle, dir);
        netsettle.start_nodes_at(&self.placement(), dir, orderers, peers)
    }

    /// Whether a TCP handshake from `cloud` to `address` completes (bash's `/dev/tcp`,
    /// bounded by [`DIAL_TIMEOUT_SECS`]).
    pub fn dials(&self, cloud: Cloud, address: &str) -> bool {
        let (host, port) = address.rsplit_once(':').expect("IP:PORT");
        let output = self
            .command(cloud, "timeout")
            .args([DIAL_TIMEOUT_SECS, "bash", "-c"])
            .arg(format!("exec 3<>/dev/tcp/{host}/{port} && echo connected"))
            .stderr(Stdio::null())
            .output()
            .expect("timeout runs");
        output.status.success() && String::from_utf8_lossy(&output.stdout).contains("connected")
    }

    /// The remote ends of every established TCP connection in `cloud` (`ss -Htn state
    /// established`).
    pub fn established_remotes(&self, cloud: Cloud) -> Vec<SocketAddr> {
        let output = self
            .command(cloud, "ss")
            .args(["-Htn", "state", "established"])
            .output()
            .expect("ss runs");
        assert!(output.status.success(), "ss failed in {cloud:?}");
        // Columns without the state: Recv-Q Send-Q Local Peer.
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| line.split_whitespace().nth(3))
            .map(|peer| {
                peer.parse()
                    .unwrap_or_else(|_| panic!("ss peer {peer:?} is no IPv4 address"))
            })
            .collect()
    }

    /// Adds `route` (e.g. `198.18.2.0/24 via 198.18.0.2`) in `cloud`, as an operator's
    /// mistake would.
    pub fn add_route(&self, cloud: Cloud, route: &str) {
        let status = self
            .command(cloud, "ip")
            .args(["route", "add"])
            .args(route.split(' '))
            .status()
            .expect("ip runs");
        assert!(status.success(), "ip route add {route} in {cloud:?}");
    }
}

impl Drop for Clouds {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(format!("{REPO}/scripts/clouds.sh"))
            .args(["down", &self.name])
            .stdout(Stdio::null())
            .status();
    }
}

fn base36(mut value: u32) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut digits = Vec::new();
    loop {
        digits.push(DIGITS[(value % 36) as usize]);
        value /= 36;
        if value == 0 {
            break;
        }
    }
    digits.reverse();
    String::from_utf8(digits).expect("ASCII digits")
}
