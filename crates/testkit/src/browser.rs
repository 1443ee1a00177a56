//! The staff console and a real browser for process tests: `netsettle console run` for a
//! carrier of a consortium that [`Netsettle::start_consortium`] started, with staff users
//! whose passwords the test knows, and chromedriver driving headless Chromium (Debian's
//! `chromium` and `chromium-driver`, which `scripts/setup.sh` installs).
//!
//! The WebDriver client itself is the test's (a dev-dependency of `netsettle`): this module
//! only starts, waits for and ends processes, and gives the test what its session needs
//! (the chromedriver URL and the Chromium arguments). A missing browser fails the test
//! with the package to install; it never skips.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::process::{Netsettle, Process};

/// The line `netsettle console run` prints once its listener is bound.
pub const CONSOLE_READY: &str = "console listening on http://";

/// The line chromedriver prints once it listens.
pub const CHROMEDRIVER_READY: &str = "ChromeDriver was started successfully on port ";

/// One of the two carriers of the local consortium, as `ca bootstrap` and `layout render`
/// lay them out in the test's directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carrier {
    Unicom,
    Mobile,
}

impl Carrier {
    /// The carrier's MSP id.
    pub fn msp_id(self) -> &'static str {
        match self {
            Carrier::Unicom => "UnicomMSP",
            Carrier::Mobile => "MobileMSP",
        }
    }

    /// Its name in directories and domains (`crypto/unicom`, `unicom.example`).
    pub fn name(self) -> &'static str {
        match self {
            Carrier::Unicom => "unicom",
            Carrier::Mobile => "mobile",
        }
    }

    /// Its connection profile, relative to the test's directory.
    pub fn profile(self) -> String {
        format!("clients/{}.toml", self.msp_id().to_lowercase())
    }

    /// The identity directory of its user `user` (`settlement`, `finance`, `admin`),
    /// relative to the test's directory.
    pub fn identity(self, user: &str) -> String {
        format!("crypto/{0}/users/{user}@{0}.example", self.name())
    }

    /// `--profile P --identity I` of the CLI for its user `user`.
    pub fn cli(self, user: &str) -> [String; 4] {
        [
            "--profile".into(),
            self.profile(),
            "--identity".into(),
            self.identity(user),
        ]
    }

    /// The third byte of its cloud's loopback addresses (`configs/local.toml`).
    fn cloud(self) -> u8 {
        match self {
            Carrier::Unicom => 1,
            Carrier::Mobile => 2,
        }
    }
}

/// A console user: login name, password and role (`settlement` or `finance`).
#[derive(Debug, Clone, Copy)]
pub struct StaffUser {
    pub name: &'static str,
    pub password: &'static str,
    pub role: &'static str,
}

/// A running `netsettle console run`; killed on drop.
pub struct ConsoleProcess {
    pub process: Process,
    /// `http://ADDR:PORT`, as the console printed it.
    pub url: String,
}

impl Netsettle {
    /// The argon2id PHC string of `password`, from `netsettle console hash-password`
    /// (which reads it from stdin, as staff would give it).
    pub fn hash_password(self, password: &str) -> String {
        let mut child = self
            .command()
            .args(["console", "hash-password"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("netsettle console hash-password starts");
        let mut stdin = child.stdin.take().expect("piped stdin");
        writeln!(stdin, "{password}").expect("the password is written");
        drop(stdin);
        let output = child.wait_with_output().expect("hash-password ends");
        assert!(
            output.status.success(),
            "console hash-password failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let hash = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        assert!(hash.starts_with("$argon2id$"), "not a PHC string: {hash}");
        hash
    }

    /// Writes `console-NAME.toml` into `dir` (a directory set up by
    /// [`Netsettle::start_consortium`]): `carrier`'s connection profile, its settlement
    /// and finance users' identities, `users`, listening on port 0 of an address in the
    /// carrier's cloud of loopback `slot`; starts the console on it and waits for its
    /// readiness line, which names the bound port.
    pub fn start_console(
        self,
        dir: &Path,
        slot: u8,
        carrier: Carrier,
        users: &[StaffUser],
    ) -> ConsoleProcess {
        let mut config = format!(
            "listen = \"127.{slot}.{}.40:0\"\nprofile = \"{}\"\n\
             settlement_identity = \"{}\"\nfinance_identity = \"{}\"\n",
            carrier.cloud(),
            carrier.profile(),
            carrier.identity("settlement"),
            carrier.identity("finance"),
        );
        for user in users {
            config.push_str(&format!(
                "\n[[users]]\nname = \"{}\"\npassword_hash = \"{}\"\nrole = \"{}\"\n",
                user.name,
                self.hash_password(user.password),
                user.role
            ));
        }
        let path = dir.join(format!("console-{}.toml", carrier.name()));
        std::fs::write(&path, config).expect("the console config is written");
        let mut command = self.command();
        command
            .args(["console", "run", "--config"])
            .arg(&path)
            .current_dir(dir)
            .stderr(Stdio::null());
        let process = Process::start(command, CONSOLE_READY);
        let url = process
            .ready
            .strip_prefix("console listening on ")
            .expect("the readiness line names the URL")
            .trim()
            .to_owned();
        ConsoleProcess { process, url }
    }
}

/// chromedriver on a free port of 127.0.0.1, in a process group of its own, with a
/// temporary user-data-dir for the Chromium it starts. Dropping it kills the group and any
/// Chromium still running on that user-data-dir, then removes the directory.
pub struct Chromedriver {
    process: Process,
    port: u16,
    profile: tempfile::TempDir,
}

impl Chromedriver {
    /// Starts chromedriver and waits until it listens. Fails the test, naming the Debian
    /// packages, when `chromedriver` or `chromium` is not installed.
    pub fn start() -> Chromedriver {
        let driver = on_path("chromedriver");
        on_path("chromium");
        let profile = tempfile::Builder::new()
            .prefix("netsettle-chromium-")
            .tempdir()
            .expect("a temporary user-data-dir");
        let mut command = Command::new(driver);
        command.arg("--port=0").stderr(Stdio::null());
        // Its own group, so that drop can end chromedriver and the browser it started
        // together.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let process = Process::start(command, CHROMEDRIVER_READY);
        let port = process
            .ready
            .strip_prefix(CHROMEDRIVER_READY)
            .and_then(|rest| rest.trim_end_matches('.').parse().ok())
            .unwrap_or_else(|| panic!("no port in {:?}", process.ready));
        Chromedriver {
            process,
            port,
            profile,
        }
    }

    /// The WebDriver endpoint.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The Chromium binary for `goog:chromeOptions.binary`.
    pub fn chromium(&self) -> PathBuf {
        on_path("chromium")
    }

    /// The arguments for `goog:chromeOptions.args`: headless, no sandbox (tests run as
    /// root), no GPU, the temporary user-data-dir, no first-run or sync noise.
    pub fn chromium_args(&self) -> Vec<String> {
        vec![
            "--headless=new".into(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--no-first-run".into(),
            "--disable-sync".into(),
            "--window-size=1280,1024".into(),
            format!("--user-data-dir={}", self.profile.path().display()),
        ]
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let group = format!("-{}", self.process.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        // Chromium may have left chromedriver's group; it is found by its user-data-dir,
        // which is unique to this launcher.
        let marker = format!("--user-data-dir={}", self.profile.path().display());
        for pid in pids_with_argument(&marker) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// The processes with `argument` among their command-line arguments.
fn pids_with_argument(argument: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
                cmdline
                    .split(|byte| *byte == 0)
                    .any(|arg| arg == argument.as_bytes())
            })
        })
        .collect()
}

/// The path of `program` on `PATH`; fails the test with the packages to install.
fn on_path(program: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{program} is not installed: the browser test needs Debian's chromium and \
                 chromium-driver (scripts/setup.sh installs them: apt-get install chromium \
                 chromium-driver)"
            )
        })
}
