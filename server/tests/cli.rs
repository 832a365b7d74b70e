//! The binary as a newcomer runs it: configuration errors, `schema`, and `serve` with its
//! embedded PostgreSQL started and stopped cleanly.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_coves-appview");

/// A command with none of the server's settings inherited from the environment.
fn command() -> Command {
    let mut command = Command::new(BIN);
    for var in
        ["DATABASE_URL", "LISTEN_ADDR", "JETSTREAM_URL", "INSTANCE_DID", "INSTANCE_DOMAIN", "PLC_URL", "COVES_DATA_DIR"]
    {
        command.env_remove(var);
    }
    command
}

#[test]
fn invalid_configuration_is_refused_with_what_to_fix() {
    let output = command()
        .args(["serve", "--instance-domain", "coves.local", "--jetstream-url", "http://example.com/subscribe"])
        .args(["--instance-did", "not-a-did", "--plc-url", "ftp://plc.example.com"])
        .output()
        .expect("run the binary");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    for expected in [
        "invalid configuration:",
        "INSTANCE_DOMAIN (--instance-domain) \"coves.local\" ends in .local, which is reserved for multicast DNS; atproto refuses handles under it",
        "or a .test domain for local development (e.g. coves.test)",
        "JETSTREAM_URL (--jetstream-url) entry \"http://example.com/subscribe\" uses scheme \"http\"; Jetstream speaks websockets",
        "INSTANCE_DID (--instance-did) \"not-a-did\" is not a DID",
        "PLC_URL (--plc-url) \"ftp://plc.example.com\" must be an http(s) URL",
    ] {
        assert!(stderr.contains(expected), "missing {expected:?} in:\n{stderr}");
    }

    let output = command().args(["--listen-addr", "nowhere"]).output().expect("run the binary");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid value 'nowhere' for '--listen-addr"));
}

#[test]
fn schema_graphql_is_what_the_server_generates() {
    let output = command().arg("schema").output().expect("run the binary");
    assert!(output.status.success());
    let generated = String::from_utf8(output.stdout).expect("UTF-8 SDL");
    let checked_in =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../schema.graphql")).unwrap_or_default();
    assert!(
        generated == checked_in,
        "schema.graphql is stale: regenerate it with `cargo run -- schema > schema.graphql` and review the diff"
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn pid_alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[tokio::test]
async fn serve_without_database_url_runs_its_own_postgres_and_stops_it_on_ctrl_c() {
    // Under /tmp and world-traversable: as root the cluster runs as `postgres`.
    let dir = tempfile::Builder::new().prefix("coves-cli-test-").tempdir_in("/tmp").expect("temp dir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let data_dir = dir.path().join("postgres");
    let addr = format!("127.0.0.1:{}", free_port());
    let mut server = command()
        .args(["serve", "--playground=false", "--listen-addr", &addr, "--data-dir"])
        .arg(&data_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the server");

    let http = reqwest::Client::new();
    let base = format!("http://{addr}");
    let started = Instant::now();
    loop {
        if let Ok(response) = http.get(format!("{base}/health")).send().await {
            assert_eq!(response.status(), 200);
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(90), "the server did not answer /health in 90 s");
        assert!(server.try_wait().expect("wait").is_none(), "the server exited early");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let introspection: Value = http
        .post(format!("{base}/graphql"))
        .json(&serde_json::json!({"query": "{ __schema { queryType { name } } }"}))
        .send()
        .await
        .expect("POST /graphql")
        .json()
        .await
        .expect("JSON");
    assert_eq!(introspection["data"]["__schema"]["queryType"]["name"], "Query");
    let profile = http
        .get(format!("{base}/xrpc/social.coves.actor.getProfile?actor=did:plc:nobody222222222222222222"))
        .send()
        .await
        .expect("GET xrpc");
    assert_eq!(profile.status(), 404);
    let body: Value = profile.json().await.expect("JSON");
    assert_eq!(body["error"], "ProfileNotFound");
    let playground = http.get(format!("{base}/")).send().await.expect("GET /");
    assert_eq!(playground.status(), 404, "--playground=false serves no playground");

    let pid_file = std::fs::read_to_string(data_dir.join("postmaster.pid")).expect("postmaster.pid");
    let postmaster: i32 = pid_file.lines().next().and_then(|l| l.trim().parse().ok()).expect("postmaster pid");
    assert!(pid_alive(postmaster));

    kill(Pid::from_raw(server.id() as i32), Signal::SIGINT).expect("send SIGINT");
    let stopping = Instant::now();
    let status = loop {
        if let Some(status) = server.try_wait().expect("wait") {
            break status;
        }
        assert!(stopping.elapsed() < Duration::from_secs(30), "the server did not stop within 30 s of SIGINT");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "clean exit after SIGINT: {status}");
    assert!(!pid_alive(postmaster), "the embedded PostgreSQL must be gone after shutdown");
}
