//! `POST /tokens/introspect` (RFC 7662) and `POST /tokens/revoke` (RFC 7009 style).
//!
//! Both take the token as a form field or in a JSON body, from a client authenticated as an
//! OAuth client ([`crate::http::oauth`]: HTTP Basic, or `client_id` and `client_secret` in the
//! body, with an API key as the secret) or by API key, and answer errors in OAuth's form. A
//! token of another client is treated exactly like garbage: `{"active": false}`, and a
//! revocation that changes nothing.
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::domain::ids::TokenId;
use crate::http::error::ApiError;
use crate::http::json::FormOrJson;
use crate::http::models::token_request;
use crate::http::oauth::{OAuthCaller, OAuthError};
use crate::http::validation::{FieldError, Fields, Loc, RawBody, body_object};
use crate::service::{Actor, AppState};
use crate::storage::cause;
use crate::token::verify::Expectations;

/// The body, once the client is known: the body's own failure (an unreadable body) comes
/// after the client's.
async fn authenticated(
    app: &AppState,
    caller: OAuthCaller,
    body: Result<FormOrJson, ApiError>,
) -> Result<(crate::http::extract::Caller, RawBody), OAuthError> {
    let body = body.map(|b| b.0);
    let caller = caller.resolve(app, &body).await?;
    Ok((caller, body?))
}

pub(crate) async fn introspect(
    State(app): State<AppState>,
    caller: OAuthCaller,
    body: Result<FormOrJson, ApiError>,
) -> Result<Json<Value>, OAuthError> {
    let (caller, body) = authenticated(&app, caller, body).await?;
    let token = {
        let mut f = Fields::new(body_object(&body)?);
        let token = f.required_str(&token_request::TOKEN);
        f.optional_str(&token_request::TOKEN_TYPE_HINT);
        f.finish(token)?
    };
    let Some(claims) = app.core.tokens().live(&caller.client_id, &token).await? else {
        return Ok(Json(json!({ "active": false })));
    };
    let mut answer = serde_json::to_value(&claims).map_err(|e| OAuthError::Other(ApiError::Internal(cause(e))))?;
    if let Value::Object(map) = &mut answer {
        map.insert("active".into(), Value::Bool(true));
        map.insert("token_type".into(), Value::String("Bearer".into()));
    }
    Ok(Json(answer))
}

pub(crate) async fn revoke(
    State(app): State<AppState>,
    caller: OAuthCaller,
    body: Result<FormOrJson, ApiError>,
) -> Result<Json<Value>, OAuthError> {
    let (caller, body) = authenticated(&app, caller, body).await?;
    let (token, jti) = {
        let mut f = Fields::new(body_object(&body)?);
        let token = f.optional_str(&token_request::TOKEN).flatten();
        let jti = f.optional_str(&token_request::JTI).flatten();
        f.optional_str(&token_request::TOKEN_TYPE_HINT);
        f.finish((token, jti))?
    };
    let jti = match (token, jti) {
        (_, Some(jti)) => Some(jti),
        // Only a token this service signed names a jti; anything else revokes nothing.
        (Some(token), None) => app.keyring.verify(&token, &Expectations::default()).ok().map(|c| c.jti),
        (None, None) => {
            let input = match &body {
                RawBody::Json(v) => v.clone(),
                _ => Value::Null,
            };
            return Err(vec![FieldError::missing(vec![Loc::from("body"), Loc::from("token")], input)].into());
        }
    };
    // A jti tessera could not have made names no token: there is nothing to look up.
    if let Some(jti) = jti.map(TokenId::from_string).filter(TokenId::is_well_formed) {
        let actor = Actor::ApiKey(&caller.api_key_id);
        app.core.tokens().revoke(actor, &caller.client_id, &jti, app.clock.now()).await?;
    }
    // The same answer whether or not anything was revoked (RFC 7009, section 2.2).
    Ok(Json(json!({})))
}
