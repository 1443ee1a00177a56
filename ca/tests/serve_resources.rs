//! What an anonymous client can exhaust at the enrollment service, over real sockets on
//! 127.0.17.x: wrong secrets from one address throttle that address but never lock the
//! registration's holder out; a re-enrollment's replaced certificate is refused at the
//! TLS handshake; idle TCP connections beyond the bounds are evicted, so a real client
//! still gets an answer. Every wait is on a response; a deadline only marks failure.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use netsettle_ca::{CaClient, CaError, Refusal, ServeConfig, Spec};
use netsettle_smcrypto::x509::{Certificate, Role};

const DEADLINE: Duration = Duration::from_secs(60);

fn spec_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("configs")
        .join(name)
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

struct Served {
    out: tempfile::TempDir,
    address: String,
    root: Certificate,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<Result<(), CaError>>,
}

async fn serve_bootstrapped(listen: &str) -> Served {
    let out = tempfile::tempdir().unwrap();
    let spec = Spec::load(&spec_path("unicom.toml")).unwrap();
    netsettle_ca::bootstrap(&spec, out.path(), netsettle_ca::now_unix().unwrap()).unwrap();
    let root = Certificate::read_pem_file(&out.path().join("ca/ca.pem")).unwrap();
    let listener = tokio::net::TcpListener::bind(listen).await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(netsettle_ca::serve(
        ServeConfig {
            dir: out.path().join("ca"),
        },
        listener,
        async move {
            let _ = stopped.await;
        },
    ));
    Served {
        out,
        address,
        root,
        stop,
        server,
    }
}

impl Served {
    fn admin(&self) -> CaClient {
        CaClient::with_identity(
            &self.address,
            "localhost",
            self.root.clone(),
            &self.out.path().join("users/admin@unicom.example"),
        )
        .unwrap()
    }

    fn anonymous_from(&self, source: &str) -> CaClient {
        CaClient::anonymous(&self.address, "localhost", self.root.clone())
            .unwrap()
            .from_source(ip(source))
    }

    async fn stop(self) {
        self.stop.send(()).unwrap();
        self.server.await.unwrap().unwrap();
    }
}

async fn within<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(DEADLINE, future)
        .await
        .expect("an answer within the deadline")
}

/// Before: five anonymous wrong secrets locked the registration for good, so anyone who
/// knew a name could lock its holder out. Now the guessing address is throttled and the
/// holder enrolls at once; re-enrolling then revokes the replaced certificate, which
/// the CA itself refuses from then on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessed_secrets_throttle_the_guesser_not_the_holder() {
    let served = serve_bootstrapped("127.0.17.1:0").await;
    let name = "peer2.unicom.example";
    let secret = within(served.admin().register(
        name,
        Role::Peer,
        vec!["peer2.unicom.example".to_owned()],
        Vec::new(),
        None,
    ))
    .await
    .unwrap();
    let guesser = served.anonymous_from("127.0.17.2");
    let scratch = tempfile::tempdir().unwrap();
    let mut answers = Vec::new();
    for _ in 0..6 {
        match within(guesser.enroll(name, "guess-guess-guess", scratch.path())).await {
            Err(CaError::Refused(Refusal::WrongSecret { .. })) => answers.push("wrong"),
            Err(CaError::Refused(Refusal::EnrollmentThrottled {
                retry_after_seconds,
            })) => {
                assert!(retry_after_seconds >= 1);
                answers.push("throttled");
            }
            other => panic!("unexpected answer to a guess: {other:?}"),
        }
    }
    // Three guesses, then the address waits (a second, doubling with each further
    // wrong guess; the next attempts come within it).
    assert_eq!(
        answers[..4],
        ["wrong", "wrong", "wrong", "throttled"],
        "{answers:?}"
    );
    // The holder, from its own address, is not held back by the guesser.
    let holder_dir = served.out.path().join("peers/peer2.unicom.example");
    let holder = served.anonymous_from("127.0.17.3");
    let first = within(holder.enroll(name, &secret, &holder_dir))
        .await
        .unwrap();

    let before = served.out.path().join("peers/peer2.unicom.example.before");
    copy_identity(&holder_dir, &before);
    let enrolled = CaClient::with_identity(
        &served.address,
        "localhost",
        served.root.clone(),
        &holder_dir,
    )
    .unwrap();
    let second = within(enrolled.reenroll(name, &holder_dir)).await.unwrap();
    assert_ne!(first.tls_cert.serial(), second.tls_cert.serial());
    let crl = within(served.admin().crl()).await.unwrap();
    assert!(
        crl.is_revoked(first.tls_cert.serial()),
        "the replaced TLS certificate"
    );
    assert!(
        crl.is_revoked(first.sign_cert.serial()),
        "the replaced signing certificate"
    );
    let replaced =
        CaClient::with_identity(&served.address, "localhost", served.root.clone(), &before)
            .unwrap();
    assert!(matches!(within(replaced.crl()).await, Err(CaError::Tls(_))));
    served.stop().await;
}

fn copy_identity(from: &Path, to: &Path) {
    for entry in walk(from) {
        let relative = entry.strip_prefix(from).unwrap();
        let target = to.join(relative);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&entry, &target).unwrap();
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// Before: 64 idle TCP connections held every connection slot (each for the handshake
/// timeout, then the frame timeout) and real clients waited in the backlog. Now the
/// oldest are evicted and a real client is answered at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_do_not_lock_out_real_clients() {
    let served = serve_bootstrapped("127.0.17.10:0").await;
    let mut idle = Vec::new();
    // From one address and from many: beyond both bounds.
    for n in 0..(netsettle_ca::limits::CONNECTIONS_MAX + 16) {
        let source = if n < 32 {
            "127.0.17.11".to_owned()
        } else {
            format!("127.0.18.{}", n - 31)
        };
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
        idle.push(
            socket
                .connect(served.address.parse().unwrap())
                .await
                .unwrap(),
        );
    }
    let started = tokio::time::Instant::now();
    let admin = served.admin();
    let crl = within(admin.crl()).await.unwrap();
    assert!(crl.crl_number().is_some());
    assert!(
        started.elapsed() < netsettle_smtls::HANDSHAKE_TIMEOUT / 2,
        "the real client waited {:?}",
        started.elapsed()
    );
    drop(idle);
    served.stop().await;
}
