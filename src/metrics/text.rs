//! The text exposition format's pieces: a metric's header lines, a label value's escaping.
use std::fmt::Write as _;

/// A metric's `# HELP` and `# TYPE` lines.
pub(super) fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A label value, escaped as the format requires.
pub(super) fn escape(label: &str) -> String {
    label.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
