//! Token inspection.
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use maud::{Markup, html};

use super::{Answer, db, ok};
use crate::console::html::{self, csrf, page, problem, respond, time};
use crate::console::state::{ConsoleState, FormFields, Signed};
use crate::service::Actor;
use crate::service::tokens::Verdict;

pub(super) fn token_form(s: &Signed) -> Markup {
    html! {
        form.stack method="post" action="/console/tokens" {
            (csrf(s))
            label for="token" { "A connection token" }
            textarea #token name="token" rows="4" spellcheck="false" autocomplete="off" required {}
            button type="submit" { "Decode and introspect" }
        }
    }
}

pub(super) async fn tokens(s: Signed) -> Answer {
    ok(page(
        "Tokens",
        Some(&s),
        "/console/tokens",
        html! {
            p { "Paste a token to see what it says, which key signed it, and whether it is live. The token is not kept or shown back." }
            (token_form(&s))
        },
    ))
}

/// A JWS part, base64url-decoded and pretty-printed when it is JSON.
pub(super) fn decode_part(part: Option<&str>) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(part?.trim_end_matches('=')).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    serde_json::to_string_pretty(&value).ok()
}

pub(super) async fn inspect_token(
    State(st): State<ConsoleState>,
    s: Signed,
    Extension(form): Extension<FormFields>,
) -> Answer {
    let token: String = form.text("token").chars().filter(|c| !c.is_whitespace()).collect();
    let mut parts = token.split('.');
    let (header_part, claims_part) = (parts.next(), parts.next());
    let (Some(header_json), Some(claims_json)) = (decode_part(header_part), decode_part(claims_part)) else {
        return Err(respond(
            StatusCode::BAD_REQUEST,
            page(
                "Tokens",
                Some(&s),
                "/console/tokens",
                html! {
                    (problem("That is not a token: a token is three base64url parts separated by dots, the first two JSON."))
                    (token_form(&s))
                },
            ),
        ));
    };
    let header: serde_json::Value = serde_json::from_str(&header_json).unwrap_or_default();
    let kid = header["kid"].as_str().unwrap_or_default().to_owned();
    let keys = db(st.core.signing_keys().list().await)?;
    let key = keys.iter().find(|k| k.kid.as_str() == kid);
    let actor = Actor::Operator(&s.operator);
    let verdict = db(st.core.tokens().inspect(actor, &token, &kid, st.clock.now()).await)?;
    let verdict: Result<String, String> = match verdict {
        Verdict::Unverified(e) => Err(format!("its signature or claims do not hold: {e}")),
        Verdict::NotRecorded => Err("tessera has no record of minting it".into()),
        Verdict::Revoked(at) => Err(format!("it was revoked at {}", html::rfc3339(at))),
        Verdict::ConnectionDeleted => Err("its connection was deleted".into()),
        Verdict::Disconnected => Err("its connection is disconnected".into()),
        Verdict::Live { expires, connection } => {
            Ok(format!("live until {} (connection {connection})", html::rfc3339(expires)))
        }
    };
    ok(page(
        "Tokens",
        Some(&s),
        "/console/tokens",
        html! {
            section aria-labelledby="verdict" {
                h2 #verdict { "Verdict" }
                @match &verdict {
                    Ok(v) => p.good role="status" { strong { "Live: " } (v) },
                    Err(v) => p.problem role="status" { strong { "Not live: " } (v) },
                }
                p {
                    "Signed by key " code { (kid) }
                    @if let Some(k) = key { " (" (k.alg) ", " (k.state) ", created " (time(k.created_at)) ")" }
                    @else { " (not in this keyring)" }
                }
            }
            div.columns {
                section aria-labelledby="header" { h2 #header { "Header" } pre { (header_json) } }
                section aria-labelledby="claims" { h2 #claims { "Claims" } pre { (claims_json) } }
            }
            h2 { "Another token" }
            (token_form(&s))
        },
    ))
}
