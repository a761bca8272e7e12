//! The signing keyring and its rotation.
use axum::extract::{Extension, RawQuery, State};
use axum::http::StatusCode;
use maud::html;

use super::overview::key_table;
use super::{Answer, db, done_notice, ok, query, see};
use crate::console::html::{self, csrf, page, problem, respond};
use crate::console::state::{ConsoleState, FormFields, Signed};
use crate::service::Actor;

pub(super) async fn signing_keys(State(st): State<ConsoleState>, s: Signed, RawQuery(q): RawQuery) -> Answer {
    let q = query(q);
    let keys = db(st.core.signing_keys().list().await)?;
    ok(page(
        "Signing keys",
        Some(&s),
        "/console/signing-keys",
        html! {
            (done_notice(&q))
            p { "A new key is published in the JWKS (EdDSA) as " em { "next" } " before it signs, becomes " em { "active" } ", and is " em { "retired" } " when the next one activates; a retired key stays published until its tokens have expired." }
            (key_table(&keys))
            h2 { "Rotate" }
            ul.actions {
                li { a.button href="/console/signing-keys/rotate?mode=scheduled" { "Schedule a rotation…" } " the safe way: verifiers see the new key before it signs." }
                li { a.button.danger href="/console/signing-keys/rotate?mode=immediate" { "Rotate immediately…" } " for a compromised key." }
            }
        },
    ))
}

pub(super) async fn rotate_confirm(State(st): State<ConsoleState>, s: Signed, RawQuery(q): RawQuery) -> Answer {
    let immediate = query(q).get("mode") == Some("immediate");
    let alg = st.settings.algorithm;
    let prepublish = st.settings.prepublish_secs;
    ok(page(
        if immediate { "Rotate the signing key immediately?" } else { "Schedule a signing key rotation?" },
        Some(&s),
        "/console/signing-keys",
        html! {
            @if immediate {
                p.warning { "A new " (alg) " key signs from now on and the current one retires. Verifiers holding a cached JWKS do not know the new key yet: they refuse the new tokens until they fetch the JWKS again (up to its cache lifetime). Tokens already minted stay valid until they expire." }
            } @else {
                p { "A new " (alg) " key is created now" @if alg == crate::domain::signing_key::Algorithm::EdDsa { " and published in the JWKS" } "; it signs in " (prepublish) " seconds, when the current key retires. Verifiers keep accepting tokens of both." }
            }
            form.inline method="post" action="/console/signing-keys/rotate" {
                (csrf(&s))
                input type="hidden" name="mode" value=(if immediate { "immediate" } else { "scheduled" });
                @if immediate { button.danger type="submit" { "Rotate now" } } @else { button type="submit" { "Schedule the rotation" } }
                " "
                a href="/console/signing-keys" { "Cancel" }
            }
        },
    ))
}

pub(super) async fn rotate(
    State(st): State<ConsoleState>,
    s: Signed,
    Extension(form): Extension<FormFields>,
) -> Answer {
    let immediate = form.get("mode") == Some("immediate");
    let now = st.clock.now();
    let alg = st.settings.algorithm;
    let failed = |e: crate::token::keyring::KeyringError| {
        tracing::error!(error = %e, "console: rotation failed");
        html::refused(StatusCode::INTERNAL_SERVER_ERROR, "The rotation failed; the reason is logged.")
    };
    let actor = Actor::Operator(&s.operator);
    let done = if immediate {
        st.core.signing_keys().rotate_now(actor, alg, now).await.map_err(failed)?;
        "rotated"
    } else {
        match st.core.signing_keys().schedule(actor, alg, now, st.settings.prepublish_secs).await.map_err(failed)? {
            Some(_) => "rotation-scheduled",
            None => {
                let keys = db(st.core.signing_keys().list().await)?;
                return Err(respond(
                    StatusCode::CONFLICT,
                    page(
                        "Signing keys",
                        Some(&s),
                        "/console/signing-keys",
                        html! {
                            (problem("A rotation is already scheduled: the next key is shown below. Wait for it to activate, or rotate immediately."))
                            (key_table(&keys))
                        },
                    ),
                ));
            }
        }
    };
    if let Err(e) = st.keyring.refresh().await {
        tracing::warn!(error = %e, "console: could not reload the keyring after a rotation");
    }
    see(&format!("/console/signing-keys?done={done}"))
}
