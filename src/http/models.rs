//! The request models, each described once: what validation enforces (names, types, lengths,
//! literals, nullability) and what the OpenAPI document says about them are read from here.
use serde_json::{Map, Value, json};

/// What a field holds.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// A string of `min` to `max` characters.
    Str { min: usize, max: usize },
    /// A whole number from `min` to `max`, read as Pydantic reads one (also `"30"`, `30.0`,
    /// `true`).
    Int { min: i64, max: i64 },
    /// One of a few strings.
    Literal(&'static [&'static str]),
    /// A boolean (Pydantic's lax reading: also `0`/`1` and words like `"yes"`).
    Bool,
    /// A non-empty list, each item one of a few strings.
    LiteralList(&'static [&'static str]),
}

/// One field of a request model.
#[derive(Clone, Copy, Debug)]
pub struct Field {
    pub name: &'static str,
    pub kind: Kind,
    /// Documented (and accepted) as `null` too.
    pub nullable: bool,
    pub title: Option<&'static str>,
    pub description: Option<&'static str>,
    pub examples: &'static [&'static str],
}

impl Field {
    const fn string(name: &'static str, max: usize) -> Self {
        Field { name, kind: Kind::Str { min: 0, max }, nullable: false, title: None, description: None, examples: &[] }
    }

    const fn string_between(name: &'static str, min: usize, max: usize) -> Self {
        Field { name, kind: Kind::Str { min, max }, nullable: false, title: None, description: None, examples: &[] }
    }

    const fn integer(name: &'static str, min: i64, max: i64) -> Self {
        Field { name, kind: Kind::Int { min, max }, nullable: false, title: None, description: None, examples: &[] }
    }

    const fn literal(name: &'static str, values: &'static [&'static str]) -> Self {
        Field { name, kind: Kind::Literal(values), nullable: false, title: None, description: None, examples: &[] }
    }

    const fn boolean(name: &'static str) -> Self {
        Field { name, kind: Kind::Bool, nullable: false, title: None, description: None, examples: &[] }
    }

    const fn literal_list(name: &'static str, values: &'static [&'static str]) -> Self {
        Field { name, kind: Kind::LiteralList(values), nullable: false, title: None, description: None, examples: &[] }
    }

    const fn nullable(self) -> Self {
        Field { nullable: true, ..self }
    }

    const fn titled(self, title: &'static str) -> Self {
        Field { title: Some(title), ..self }
    }

    const fn described(self, description: &'static str) -> Self {
        Field { description: Some(description), ..self }
    }

    const fn examples(self, examples: &'static [&'static str]) -> Self {
        Field { examples, ..self }
    }

    /// The longest string accepted (for a literal, the longest value).
    pub fn max_len(&self) -> usize {
        match self.kind {
            Kind::Str { max, .. } => max,
            Kind::Literal(values) | Kind::LiteralList(values) => {
                values.iter().map(|v| v.chars().count()).max().unwrap_or(0)
            }
            Kind::Bool | Kind::Int { .. } => 0,
        }
    }

    /// The field's JSON Schema.
    fn schema(&self) -> Value {
        let base = match self.kind {
            Kind::Str { min: 0, max } => json!({"type": "string", "maxLength": max}),
            Kind::Str { min, max } => json!({"type": "string", "maxLength": max, "minLength": min}),
            Kind::Int { min, max } => json!({"type": "integer", "maximum": max, "minimum": min}),
            Kind::Literal(values) => json!({"type": "string", "enum": values}),
            Kind::Bool => json!({"type": "boolean"}),
            Kind::LiteralList(values) => {
                json!({"type": "array", "items": {"type": "string", "enum": values}, "minItems": 1})
            }
        };
        let mut schema = if self.nullable { json!({"anyOf": [base, {"type": "null"}]}) } else { base };
        if let Some(title) = self.title {
            schema["title"] = json!(title);
        }
        if let Some(description) = self.description {
            schema["description"] = json!(description);
        }
        if !self.examples.is_empty() {
            schema["examples"] = json!(self.examples);
        }
        schema
    }
}

/// A request body: an object of fields.
#[derive(Debug)]
pub(crate) struct Model {
    pub name: &'static str,
    pub fields: &'static [Field],
    pub required: &'static [&'static str],
}

impl Model {
    /// The model's JSON Schema, as the OpenAPI document states it.
    pub(crate) fn schema(&self) -> Value {
        let properties: Map<String, Value> = self.fields.iter().map(|f| (f.name.to_owned(), f.schema())).collect();
        let mut schema = json!({"properties": properties, "type": "object", "title": self.name});
        if !self.required.is_empty() {
            schema["required"] = json!(self.required);
        }
        schema
    }
}

const EMAIL: Field = Field::string("email", 64).nullable().titled("Email").described("The email of the user");
const MOBILE: Field =
    Field::string("mobile", 16).nullable().titled("Mobile").described("The mobile number of the user");

/// `POST /connections`.
pub(crate) mod create_connection {
    use super::*;

    pub(crate) const CUSTOMER_ID: Field = Field::string("customer_id", 64)
        .titled("Customer Id")
        .described("A unique identifier used to map connections to customer records in external systems.")
        .examples(&["8a46e581-48ba-498a-9ad0-2ee72582e1af"]);
    pub(crate) const RETAILER_ID: Field = Field::string("retailer_id", 26)
        .titled("Retailer Id")
        .described("The unique identifier for the retailer in the connection")
        .examples(&["walmart"]);
    pub(crate) const EMAIL: Field = super::EMAIL;
    pub(crate) const MOBILE: Field = super::MOBILE;
    pub(crate) const MODEL: Model = Model {
        name: "CreateConnection",
        fields: &[CUSTOMER_ID, RETAILER_ID, EMAIL, MOBILE],
        required: &["customer_id", "retailer_id"],
    };
}

/// `PATCH /connections/{connection_id}`.
pub(crate) mod update_connection {
    use super::*;

    pub(crate) const CUSTOMER_ID: Field = Field::string("customer_id", 64)
        .nullable()
        .titled("Customer Id")
        .described("A new customer id for the connection");
    pub(crate) const EMAIL: Field = super::EMAIL;
    pub(crate) const MOBILE: Field = super::MOBILE;
    pub(crate) const STATUS: Field = Field::literal("status", &["disconnected"])
        .nullable()
        .titled("Status")
        .described("Currently can only be used to disconnect a connection.");
    pub(crate) const MODEL: Model =
        Model { name: "UpdateConnection", fields: &[CUSTOMER_ID, EMAIL, MOBILE, STATUS], required: &[] };
}

/// `POST /connections/{connection_id}/token`.
pub(crate) mod create_token {
    use super::*;

    pub(crate) const SCOPE: Field = Field::literal("scope", &[crate::token::claims::SCOPE_ACCESS])
        .described("The intended scope of the token to be generated")
        .examples(&["access"]);
    pub(crate) const MODEL: Model = Model { name: "CreateTokenRequest", fields: &[SCOPE], required: &["scope"] };
}

/// `POST /connection` (the older API generation): a retailer is a `merchant_id`.
pub(crate) mod create_legacy_connection {
    use super::*;

    pub(crate) const MERCHANT_ID: Field = Field::string("merchant_id", 26)
        .titled("Merchant Id")
        .described("The retailer of the connection (a retailer_id of GET /merchants)")
        .examples(&["walmart"]);
    pub(crate) const CUSTOMER_ID: Field = create_connection::CUSTOMER_ID;
    pub(crate) const MODEL: Model = Model {
        name: "CreateLegacyConnection",
        fields: &[MERCHANT_ID, CUSTOMER_ID],
        required: &["merchant_id", "customer_id"],
    };
}

/// `POST /connection/{connection_id}/token` (the older API generation): `link` or `access`.
pub(crate) mod create_legacy_token {
    use super::*;

    pub(crate) const SCOPE: Field = Field::literal(
        "scope",
        &[crate::token::claims::SCOPE_LINK, crate::token::claims::SCOPE_ACCESS],
    )
    .described(
        "link: a token for Subtotal Link (it reads no data); access: a token that reads the connection's purchases",
    )
    .examples(&["access"]);
    pub(crate) const MODEL: Model = Model { name: "CreateLegacyTokenRequest", fields: &[SCOPE], required: &["scope"] };
}

/// `POST /tokens/introspect` and `POST /tokens/revoke` (form or JSON).
pub(crate) mod token_request {
    use super::*;

    pub(crate) const TOKEN: Field = Field::string("token", 4096).titled("Token");
    pub(crate) const JTI: Field = Field::string("jti", 64).titled("Jti").described("Revocation only: the token's id");
    pub(crate) const TOKEN_TYPE_HINT: Field = Field::string("token_type_hint", 64).titled("Token Type Hint");
    pub(crate) const MODEL: Model =
        Model { name: "TokenRequest", fields: &[TOKEN, JTI, TOKEN_TYPE_HINT], required: &[] };
}

/// `PUT /connector/connections/{connection_id}/status`: the connector reports a status.
pub(crate) mod report_status {
    use super::*;

    pub(crate) const STATUS: Field = Field::literal("status", &["active", "unauthenticated", "disconnected"])
        .titled("Status")
        .described("The connection's status as the connector sees it now");
    pub(crate) const REASON: Field = Field::string("reason", 256)
        .nullable()
        .titled("Reason")
        .described("Why, in words for the activity log (for example: the retailer asked for a new password)");
    pub(crate) const MODEL: Model = Model { name: "ReportStatus", fields: &[STATUS, REASON], required: &["status"] };
}

const EVENT_TYPES: &[&str] = &[
    "connection.created",
    "connection.activated",
    "connection.unauthenticated",
    "connection.disconnected",
    "connection.deleted",
    "purchase.created",
];

/// `POST /webhooks`.
pub(crate) mod create_webhook {
    use super::*;

    pub(crate) const NAME: Field =
        Field::string("name", 64).titled("Name").described("A name to recognise the endpoint by");
    pub(crate) const URL: Field = Field::string("url", 2048)
        .titled("Url")
        .described("Where events are sent (https; plain http only where the operator allows it)")
        .examples(&["https://example.com/subtotal/webhooks"]);
    pub(crate) const EVENT_TYPES: Field = Field::literal_list("event_types", super::EVENT_TYPES)
        .titled("Event Types")
        .described("The events to send: connection.activated, connection.unauthenticated and connection.disconnected as Subtotal documents them; connection.created and connection.deleted are tessera's own; purchase.created announces each purchase the connector writes that the connection did not have");
    pub(crate) const IS_ACTIVE: Field =
        Field::boolean("is_active").titled("Is Active").described("Whether events are sent (default false)");
    pub(crate) const MODEL: Model = Model {
        name: "CreateWebhook",
        fields: &[NAME, URL, EVENT_TYPES, IS_ACTIVE],
        required: &["name", "url", "event_types"],
    };
}

/// `PATCH /webhooks/{webhook_id}`.
pub(crate) mod update_webhook {
    use super::*;

    pub(crate) const NAME: Field = create_webhook::NAME;
    pub(crate) const URL: Field = create_webhook::URL;
    pub(crate) const EVENT_TYPES: Field = create_webhook::EVENT_TYPES;
    pub(crate) const IS_ACTIVE: Field =
        Field::boolean("is_active").titled("Is Active").described("Whether events are sent");
    pub(crate) const MODEL: Model =
        Model { name: "UpdateWebhook", fields: &[NAME, URL, EVENT_TYPES, IS_ACTIVE], required: &[] };
}

/// `POST /link-tokens`, as Subtotal documents it.
pub(crate) mod create_link_token {
    use super::*;

    pub(crate) const CUSTOMER_ID: Field = Field::string_between("customer_id", 1, 64)
        .titled("Customer Id")
        .described("Your identifier for the customer who will link an account")
        .examples(&["customer-example-001"]);
    pub(crate) const EMAIL: Field = Field::string("email", 64)
        .nullable()
        .titled("Email")
        .described("The customer's email, for the connector's sign-in page")
        .examples(&["consumer@example.com"]);
    pub(crate) const EXPIRES_IN_DAYS: Field = Field::integer("expires_in_days", 1, 365)
        .titled("Expires In Days")
        .described("Whole days the link token stays valid: 1 to 365, 30 when absent");
    pub(crate) const MODEL: Model = Model {
        name: "CreateLinkTokenRequest",
        fields: &[CUSTOMER_ID, EMAIL, EXPIRES_IN_DAYS],
        required: &["customer_id"],
    };
}

/// `POST /redirect-urls`.
pub(crate) mod add_redirect_url {
    use super::*;

    pub(crate) const URL: Field = Field::string("url", crate::domain::link::MAX_URL_LEN)
        .titled("Url")
        .described("An exact URL Link may send your customers back to (https; http only on loopback)")
        .examples(&["https://app.example.com/linked"]);
    pub(crate) const MODEL: Model = Model { name: "RedirectUrlRequest", fields: &[URL], required: &["url"] };
}

/// `PUT /connector/link-url`: the connector's sign-in page.
pub(crate) mod connector_link_url {
    use super::*;

    pub(crate) const URL: Field = Field::string("url", crate::domain::link::MAX_URL_LEN)
        .titled("Url")
        .described("The connector's sign-in page; Link sends customers there with ?session=<reference>")
        .examples(&["https://connector.example.com/sign-in"]);
    pub(crate) const MODEL: Model = Model { name: "ConnectorLinkUrl", fields: &[URL], required: &["url"] };
}

/// `PUT /connector/retailers/{retailer_id}`.
pub(crate) mod connector_retailer {
    use super::*;

    pub(crate) const NAME: Field = Field::string_between("name", 1, 128).titled("Name").examples(&["Sandbox Books"]);
    pub(crate) const MODEL: Model = Model { name: "ConnectorRetailer", fields: &[NAME], required: &["name"] };
}

/// `POST /connector/link-sessions/{reference}/complete`.
pub(crate) mod complete_link_session {
    use super::*;

    pub(crate) const OUTCOME: Field = Field::literal("outcome", &["active", "unauthenticated", "failed"])
        .titled("Outcome")
        .described("active: signed in, the connection is linked; unauthenticated: the retailer refused the sign-in; failed: linking failed otherwise");
    pub(crate) const REASON: Field = report_status::REASON;
    pub(crate) const MODEL: Model =
        Model { name: "CompleteLinkSession", fields: &[OUTCOME, REASON], required: &["outcome"] };
}

/// `PATCH /account`: the calling client's own name.
pub(crate) mod update_account {
    use super::*;

    pub(crate) const NAME: Field = Field::string_between("name", 1, crate::domain::client::ClientName::MAX_CHARS)
        .titled("Name")
        .described("The client's new name: what customers see on Link pages (\"NAME wants to link your account\") and operators in the console. Trimmed; no control characters.")
        .examples(&["Acme Budgeting"]);
    pub(crate) const MODEL: Model = Model { name: "UpdateAccount", fields: &[NAME], required: &["name"] };
}

/// Every request model, for the OpenAPI document's components.
pub(crate) const ALL: [&Model; 15] = [
    &create_link_token::MODEL,
    &add_redirect_url::MODEL,
    &connector_link_url::MODEL,
    &connector_retailer::MODEL,
    &complete_link_session::MODEL,
    &create_connection::MODEL,
    &update_connection::MODEL,
    &create_token::MODEL,
    &token_request::MODEL,
    &report_status::MODEL,
    &create_webhook::MODEL,
    &update_webhook::MODEL,
    &create_legacy_connection::MODEL,
    &create_legacy_token::MODEL,
    &update_account::MODEL,
];
