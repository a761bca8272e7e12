//! Logging through `tracing`: readable text for people, JSON for log pipelines.
use tracing_subscriber::EnvFilter;

/// How log lines are written: readable text for people, or one JSON object per line for log
/// pipelines.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Installs the global subscriber. `RUST_LOG` overrides the default `info` level. Text is
/// coloured only when standard error is a terminal: a file, a pipe or a journal gets plain text.
pub fn init(format: LogFormat) {
    use std::io::IsTerminal as _;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match format {
        // The current span once per line (its fields name the request), not the whole list again.
        LogFormat::Json => builder.json().with_span_list(false).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// An error and every cause under it, `: `-separated, for one log line.
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut messages = vec![self.0.to_string()];
        let mut next = self.0.source();
        while let Some(e) = next {
            messages.push(e.to_string());
            next = e.source();
        }
        f.write_str(&join_causes(messages))
    }
}

/// Messages of an error chain, outermost first, joined with `: `, each said once: a cause
/// whose text its parent's message already holds (as many libraries' messages do) is left out.
pub fn join_causes(messages: impl IntoIterator<Item = String>) -> String {
    let mut out = String::new();
    let mut previous = String::new();
    for message in messages {
        if message.is_empty() || previous.contains(&message) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&message);
        previous = message;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cause_is_said_once() {
        let io = std::io::Error::other("Connection refused (os error 111)");
        let messages = ["database unavailable", "error communicating with database: Connection refused (os error 111)"]
            .map(String::from)
            .into_iter()
            .chain([io.to_string()]);
        assert_eq!(
            join_causes(messages),
            "database unavailable: error communicating with database: Connection refused (os error 111)"
        );
        assert_eq!(join_causes(["a".into(), "b".into()]), "a: b");
    }
}
