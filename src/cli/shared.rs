//! What every command shares: opening the database a command names, writing to the terminal
//! (people's text or JSON), and a server's announcements and signals. Commands use this; it
//! uses no command.
use crate::config::DatabaseArgs;

/// Opens the store named by the database arguments, with the URL's password masked in
/// errors. Only `serve` and `migrate` create a missing database; every other command refuses one.
pub(crate) async fn open_store(
    db: &DatabaseArgs,
    create: bool,
) -> anyhow::Result<std::sync::Arc<dyn crate::storage::Store>> {
    crate::storage::connect_with(db.database_url.expose(), &crate::storage::DbOptions { create, ..db.options() })
        .await
        .map_err(|e| anyhow::Error::new(e).context(format!("database {}", db.database_url)))
}

/// The core of a command: the database named by `db` (which must exist) and the system clock.
pub(crate) async fn open_core(db: &DatabaseArgs) -> anyhow::Result<crate::service::Core> {
    let store = open_store(db, false).await?;
    Ok(crate::service::Core::new(store, std::sync::Arc::new(crate::token::clock::SystemClock)))
}

/// Prints `value` as JSON, or `text` for people.
pub(crate) fn output(json: bool, value: &serde_json::Value, text: impl FnOnce() -> String) {
    if json {
        say(&value.to_string());
    } else {
        say(&text());
    }
}

/// Writes `text` and a newline to standard output. A reader that has gone away (`| head`)
/// ends the command quietly with status 0, as other command-line tools do; any other write
/// error ends it with status 1 and a message, never a panic.
pub(crate) fn say(text: &str) {
    if let Err(e) = write_line(&mut std::io::stdout().lock(), text) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: writing to standard output: {e}");
        std::process::exit(1);
    }
}

/// `text`, a newline and a flush, so a closed pipe is seen here rather than at exit.
fn write_line(out: &mut impl std::io::Write, text: &str) -> std::io::Result<()> {
    out.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// Unix seconds as RFC 3339 in UTC, for text output. JSON output keeps the seconds.
pub(crate) use crate::domain::time::rfc3339;

/// [`rfc3339`] of an optional time, `-` when there is none.
pub(crate) fn rfc3339_or_dash(unix: Option<i64>) -> String {
    unix.map_or_else(|| "-".to_owned(), rfc3339)
}

/// The id in a credential pasted whole (`tsk_<id>_<secret>`), or the argument itself when it
/// is a bare id. The secret part is dropped here, so no message can echo it.
pub(crate) fn id_of_pasted(arg: &str, prefix: &str) -> String {
    let arg = arg.trim();
    match arg.strip_prefix(prefix) {
        Some(rest) => rest.split('_').next().unwrap_or_default().to_owned(),
        None => arg.to_owned(),
    }
}

/// A line on standard output for whoever started the server. A server keeps serving when
/// nobody reads it any more, so a failed write is not an error here.
pub(crate) fn announce(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}").and_then(|()| out.flush());
}

/// Completes on SIGINT or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_seconds_read_as_rfc3339_in_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(1_709_251_199), "2024-02-29T23:59:59Z");
        assert_eq!(rfc3339(4_102_444_800), "2100-01-01T00:00:00Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
        assert_eq!(rfc3339_or_dash(None), "-");
    }

    #[test]
    fn a_pasted_credential_gives_its_id_and_never_its_secret() {
        let id = "01J0000000000000000000000A";
        let secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I";
        assert_eq!(id_of_pasted(&format!("tsk_{id}_{secret}"), "tsk_"), id);
        assert_eq!(id_of_pasted(&format!("  tsk_{id}_{secret}\n"), "tsk_"), id);
        // A truncated or mangled paste still loses everything after the id.
        assert_eq!(id_of_pasted(&format!("tsk_{id}_{}", &secret[..9]), "tsk_"), id);
        assert_eq!(id_of_pasted(id, "tsk_"), id);
        assert_eq!(id_of_pasted(&format!("tsc_{id}_{secret}"), "tsc_"), id);
    }

    /// A writer whose reader has gone, as stdout is under `| head -0`.
    struct ClosedPipe;

    impl std::io::Write for ClosedPipe {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_pipe_is_an_error_to_handle_not_a_panic() {
        let err = write_line(&mut ClosedPipe, "x").expect_err("refused");
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
        let mut buf = Vec::new();
        write_line(&mut buf, "a").expect("written");
        write_line(&mut buf, "b\n").expect("written");
        assert_eq!(buf, b"a\nb\n");
    }
}
