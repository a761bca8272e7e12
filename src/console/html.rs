//! The console's page layout and the pieces pages share. Every value goes through maud's
//! escaping: tenant data (customer ids, emails, names, URLs) is text wherever it appears.
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::state::Signed;
use crate::storage::StoreError;

/// The console's stylesheet and script, served by the binary (no CDN, no build step).
pub(super) const CSS: &str = include_str!("../../assets/console/console.css");
pub(super) const JS: &str = include_str!("../../assets/console/console.js");

/// The navigation, in order: (path, label).
const NAV: [(&str, &str); 11] = [
    ("/console", "Overview"),
    ("/console/clients", "Clients"),
    ("/console/connections", "Connections"),
    ("/console/link", "Link"),
    ("/console/tokens", "Tokens"),
    ("/console/signing-keys", "Signing keys"),
    ("/console/connectors", "Connectors"),
    ("/console/partners", "Partner apps"),
    ("/console/retailers", "Retailers"),
    ("/console/audit", "Audit log"),
    ("/console/operators", "Operators"),
];

/// A whole page: `title` as its heading, the navigation when signed in, `body` as its content.
/// Every table's cells carry their column's heading (see [`label_cells`]), for narrow screens.
pub(super) fn page(title: &str, signed: Option<&Signed>, current: &str, body: Markup) -> Markup {
    PreEscaped(label_cells(&layout(title, signed, current, body).into_string()))
}

/// Gives each `<td>` of each table a `data-label` attribute: the text of its column's
/// `<th scope="col">`. On a narrow screen the stylesheet shows every row as a card, each cell
/// on its own line under its label, so no table is wider than a phone and no id is squeezed
/// into a column one character wide (without any script). Safe on maud's output: tenant text
/// is escaped there, so every `<t` in the markup is the page's own tag; a heading's text is
/// already escaped for an attribute too (maud escapes `"`).
pub(super) fn label_cells(markup: &str) -> String {
    let mut out = String::with_capacity(markup.len() + markup.len() / 8);
    let mut rest = markup;
    while let Some(start) = rest.find("<table") {
        let end = rest[start..].find("</table>").map_or(rest.len(), |e| start + e);
        out.push_str(&rest[..start]);
        let table = &rest[start..end];
        let mut labels = Vec::new();
        let mut at = 0;
        while let Some(th) = table[at..].find("<th scope=\"col\"") {
            let open = at + th;
            let Some(gt) = table[open..].find('>') else { break };
            let text_start = open + gt + 1;
            let text_end = table[text_start..].find("</th>").map_or(table.len(), |e| text_start + e);
            labels.push(strip_tags(&table[text_start..text_end]));
            at = text_end;
        }
        let mut column = 0;
        let body_start = table.find("<tbody").unwrap_or(table.len());
        out.push_str(&table[..body_start]);
        let mut cursor = body_start;
        while let Some(next) = table[cursor..].find('<') {
            let tag = cursor + next;
            out.push_str(&table[cursor..tag]);
            let tail = &table[tag..];
            if tail.starts_with("<tr") {
                column = 0;
            }
            if tail.starts_with("<td") && tail[3..].starts_with(['>', ' ']) {
                out.push_str("<td");
                if let Some(label) = labels.get(column).filter(|l| !l.is_empty()) {
                    out.push_str(" data-label=\"");
                    out.push_str(label);
                    out.push('"');
                }
                column += 1;
                cursor = tag + 3;
            } else {
                out.push('<');
                cursor = tag + 1;
            }
        }
        out.push_str(&table[cursor..]);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// `markup` without its tags (a heading's text).
fn strip_tags(markup: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in markup.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.trim().to_owned()
}

fn layout(title: &str, signed: Option<&Signed>, current: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · tessera console" }
                link rel="stylesheet" href="/console/assets/console.css";
                script src="/console/assets/console.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to the content" }
                header.top {
                    span.brand { "tessera console" }
                    @if let Some(s) = signed {
                        nav aria-label="Console sections" {
                            ul {
                                @for (path, label) in NAV {
                                    li {
                                        @if path == current {
                                            a href=(path) aria-current="page" { (label) }
                                        } @else {
                                            a href=(path) { (label) }
                                        }
                                    }
                                }
                            }
                        }
                        form.signout method="post" action="/console/sign-out" {
                            (csrf(s))
                            span { "Signed in as " strong { (s.operator.name) } }
                            " "
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main #main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// The hidden anti-forgery field every form of a session carries.
pub(super) fn csrf(s: &Signed) -> Markup {
    html! { input type="hidden" name="csrf" value=(s.csrf); }
}

/// A time: RFC 3339 UTC in the markup (and on hover); the script shows it in the viewer's zone.
pub(super) fn time(unix: i64) -> Markup {
    let utc = rfc3339(unix);
    html! { time datetime=(utc) title=(format!("{} UTC", utc.replace('T', " ").trim_end_matches('Z'))) { (utc.replace('T', " ").replace('Z', " UTC")) } }
}

/// [`time`], or a dash.
pub(super) fn time_or(unix: Option<i64>, none: &str) -> Markup {
    match unix {
        Some(t) => time(t),
        None => html! { span.muted { (none) } },
    }
}

/// A notice above a page's content.
pub(super) fn notice(text: &str) -> Markup {
    html! { p.notice role="status" { (text) } }
}

/// An error message above a form.
pub(super) fn problem(text: &str) -> Markup {
    html! { p.problem role="alert" { (text) } }
}

/// The "next page" link of a keyset-paged list, when there may be more.
pub(super) fn next_page(href: Option<String>) -> Markup {
    html! {
        @if let Some(href) = href {
            nav.pager aria-label="Pages" { a href=(href) rel="next" { "Next page →" } }
        }
    }
}

/// A secret shown once, with a copy button (the script's) and the warning.
pub(super) fn secret_once(label: &str, secret: &str) -> Markup {
    html! {
        div.secret {
            p.warning role="alert" { strong { "Shown once." } " Copy this " (label) " now and store it where your other secrets live: tessera keeps only a digest of it and cannot show it again." }
            label for="secret" { (label) }
            div.copyrow {
                input #secret type="text" readonly value=(secret) data-secret;
                button type="button" data-copy="secret" hidden { "Copy" }
            }
        }
    }
}

/// An HTML answer with `status`.
pub(super) fn respond(status: StatusCode, markup: Markup) -> Response {
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], markup.into_string()).into_response()
}

/// A page that only says something went wrong, with `status`.
pub(super) fn refused(status: StatusCode, message: &str) -> Response {
    respond(
        status,
        page("Refused", None, "", html! { (problem(message)) p { a href="/console" { "Back to the console" } } }),
    )
}

pub(super) fn not_found() -> Response {
    respond(
        StatusCode::NOT_FOUND,
        page(
            "Not found",
            None,
            "",
            html! { p { "There is no such page or record. " a href="/console" { "Back to the console" } } },
        ),
    )
}

pub(super) fn rate_limited(retry_after: u64) -> Response {
    let mut r = refused(
        StatusCode::TOO_MANY_REQUESTS,
        &format!("Too many failed sign-ins from your address: try again in {retry_after} seconds."),
    );
    if let Ok(v) = retry_after.to_string().parse() {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// A storage failure: 503 when the database is unavailable (try again), 500 otherwise; the
/// cause is logged, never shown.
pub(super) fn store_error(e: &StoreError) -> Response {
    tracing::error!(error = %crate::telemetry::Chain(e), "console: storage failed");
    match e {
        StoreError::Unavailable(_) => {
            refused(StatusCode::SERVICE_UNAVAILABLE, "The database is unavailable: try again shortly.")
        }
        StoreError::DiskFull(_) => refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "The database's disk is full: nothing was changed. Try again once space has been freed.",
        ),
        _ => refused(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong reading or writing the database; it is logged.",
        ),
    }
}

/// An inline SVG bar chart of `values` (oldest first), labelled for screen readers.
pub(super) fn bar_chart(label: &str, values: &[i64], first_label: &str, last_label: &str) -> Markup {
    const W: i64 = 720;
    const H: i64 = 160;
    let max = values.iter().copied().max().unwrap_or(0).max(1);
    let n = i64::try_from(values.len()).unwrap_or(1).max(1);
    let bar = W / n;
    html! {
        figure.chart {
            svg viewBox=(format!("0 0 {W} {}", H + 20)) role="img" aria-label=(label) xmlns="http://www.w3.org/2000/svg" {
                title { (label) }
                line x1="0" y1=(H) x2=(W) y2=(H) stroke="#888" stroke-width="1" {}
                @for (i, v) in values.iter().enumerate() {
                    @let i = i64::try_from(i).unwrap_or(0);
                    @let h = v * (H - 10) / max;
                    rect x=(i * bar + 1) y=(H - h) width=((bar - 2).max(1)) height=(h) fill="#2a6fb0" {
                        title { (v) }
                    }
                }
                text x="0" y=(H + 16) font-size="12" fill="#333" { (first_label) }
                text x=(W) y=(H + 16) font-size="12" fill="#333" text-anchor="end" { (last_label) }
                text x="4" y="14" font-size="12" fill="#333" { "max " (max) " per minute" }
            }
        }
    }
}

pub(super) use crate::domain::time::rfc3339;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_text_is_escaped_everywhere_it_goes() {
        let hostile = "<script>alert(1)</script>\"><img src=x onerror=alert(2)>";
        let out = html! { p { (hostile) } input value=(hostile); a href=(hostile) { "x" } }.into_string();
        assert!(!out.contains("<script>") && !out.contains("<img"), "{out}");
        assert!(out.contains("&lt;script&gt;") && out.contains("&quot;&gt;&lt;img"), "{out}");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn every_cell_is_labelled_with_its_column_for_narrow_screens() {
        let hostile = "<td>\"x";
        let table = html! {
            p { "<table> in text" }
            table {
                thead { tr { th scope="col" { "Client id" } th scope="col" { "Name \"quoted\"" } th scope="col" {} } }
                tbody {
                    tr { td { code { "cl_1" } } td.x { (hostile) } td { "a" } }
                    tr { td { "cl_2" } td { "b" } }
                }
            }
            table { thead { tr { th scope="col" { "Kid" } } } tbody { tr { td { "k" } } } }
        };
        let out = label_cells(&table.into_string());
        assert_eq!(out.matches("data-label=\"Client id\"").count(), 2, "{out}");
        assert_eq!(out.matches("data-label=\"Name &quot;quoted&quot;\"").count(), 2, "{out}");
        assert!(out.contains("<td data-label=\"Name &quot;quoted&quot;\" class=\"x\">&lt;td&gt;&quot;x</td>"), "{out}");
        assert!(out.contains("<td>a</td>"), "an empty heading gives no label: {out}");
        assert!(out.contains("<td data-label=\"Kid\">k</td>") && out.contains("<p>&lt;table&gt; in text</p>"), "{out}");
    }

    #[test]
    fn the_manual_lists_every_page_of_the_navigation() {
        let console = include_str!("../../docs/src/operators/console.md");
        for (_, title) in NAV {
            assert!(console.contains(&format!("- **{title}**")), "the manual's console chapter lacks {title}");
        }
    }
}
