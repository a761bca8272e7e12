//! `tessera sandbox`, the process: its help, and a start-up against a tessera that is not
//! there. (Signing in through it end to end needs tessera's Link routes: that test lives
//! with them.) Also: the purchases it writes pass tessera's own batch parser.
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_tessera");

/// A credential of the right shape whose secret part must never be printed.
const CREDENTIAL: &str = "tsc_01J0000000000000000000000A_c2FuZGJveC1zZWNyZXQtbmV2ZXItcHJpbnRlZA";

/// The sandbox command, with none of its variables inherited from the test's environment.
fn sandbox(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("sandbox").args(args).stdin(Stdio::null());
    for var in [
        "TESSERA_URL",
        "TESSERA_CONNECTOR_CREDENTIAL",
        "TESSERA_SANDBOX_LISTEN",
        "TESSERA_SANDBOX_PUBLIC_URL",
        "TESSERA_SANDBOX_EXPIRE_AFTER",
        "TESSERA_CONFIG",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// A local port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// Runs `cmd` to its end, failing the test if that takes longer than `limit`.
fn run_within(mut cmd: Command, limit: Duration) -> (std::process::Output, Duration) {
    let start = Instant::now();
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    loop {
        if child.try_wait().expect("wait").is_some() {
            return (child.wait_with_output().expect("output"), start.elapsed());
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("tessera sandbox still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sandbox_help_names_every_flag_and_its_variable() {
    let out = sandbox(&["--help"]).output().expect("runs");
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).expect("utf8");
    for (flag, var) in [
        ("--tessera-url", "TESSERA_URL"),
        ("--connector-credential", "TESSERA_CONNECTOR_CREDENTIAL"),
        ("--listen", "TESSERA_SANDBOX_LISTEN"),
        ("--public-url", "TESSERA_SANDBOX_PUBLIC_URL"),
        ("--expire-after", "TESSERA_SANDBOX_EXPIRE_AFTER"),
    ] {
        assert!(help.contains(flag) && help.contains(&format!("[env: {var}")), "{flag} {var}:\n{help}");
    }
    assert!(help.contains("user_good") && help.contains("123456"), "the test credentials:\n{help}");
    assert!(!help.contains("startup-retry-window"), "the tests' flag is hidden");
}

#[test]
fn sandbox_against_an_unreachable_tessera_fails_within_its_retry_window() {
    let url = format!("http://127.0.0.1:{}", closed_port());
    let mut cmd = sandbox(&["--tessera-url", &url, "--listen", "127.0.0.1:0", "--startup-retry-window", "1"]);
    cmd.env("TESSERA_CONNECTOR_CREDENTIAL", CREDENTIAL);
    let (out, took) = run_within(cmd, Duration::from_secs(20));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains(&format!("tessera at {url} could not be reached within 1 s")), "{stderr}");
    assert!(stderr.contains("--tessera-url"), "says what to change: {stderr}");
    assert!(took >= Duration::from_millis(900), "it kept trying for the window ({took:?})");
    assert!(took < Duration::from_secs(10), "it gave up soon after the window ({took:?})");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stderr.contains("c2FuZGJveC1zZWNyZXQ") && !stdout.contains("c2FuZGJveC1zZWNyZXQ"), "{stderr}{stdout}");
}

#[test]
fn sandbox_refuses_a_malformed_credential_without_echoing_it() {
    let (out, _) = run_within(
        sandbox(&["--connector-credential", "not-a-credential-secretvalue", "--listen", "127.0.0.1:0"]),
        Duration::from_secs(20),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("--connector-credential") && stderr.contains("tsc_"), "{stderr}");
    assert!(!stderr.contains("secretvalue"), "{stderr}");
    let (out, _) = run_within(sandbox(&["--listen", "127.0.0.1:0"]), Duration::from_secs(20));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--connector-credential"), "required");
}

#[test]
fn sandbox_purchases_pass_tesseras_batch_parser() {
    use tessera::http::purchase_batch::parse_batch;
    use tessera::http::validation::RawBody;
    for retailer in ["sandbox-books", "sandbox-grocer", "sandbox-outfitters"] {
        for n in 0..20 {
            let batch =
                tessera::sandbox::purchases::for_connection(&format!("01J51S0JYV6N7K1030CV1ZK{n:03}"), retailer);
            let body = RawBody::Json(serde_json::json!({ "purchases": batch }));
            let parsed = parse_batch(&body).unwrap_or_else(|_| panic!("refused: {batch}"));
            assert_eq!(parsed.len(), tessera::sandbox::purchases::COUNT);
            assert!(parsed.iter().all(|p| p.item_count >= 1 && p.tax.is_some() && p.subtotal.is_some()));
        }
    }
}
