//! Partner apps' OAuth access tokens: the trusted issuers, the audience and client claim,
//! and introspection of opaque tokens.
use clap::Args;

use super::parse::{parse_issuer, parse_opaque_prefix};
use crate::token::partners::ClientSecret;

/// The help heading of these flags, and the configuration file's `[oauth]` section.
pub(super) const HEADING: &str = "Partner OAuth";

/// Which authorization servers' access tokens partner apps may use, and how they are checked.
#[derive(Args, Clone, Debug)]
pub struct OauthArgs {
    /// A trusted OAuth authorization server's issuer URL (repeat the flag, or separate by
    /// commas in TESSERA_OAUTH_ISSUERS): partner apps' JWT access tokens it issues are accepted
    /// as `Authorization: Bearer`. Its metadata is discovered at
    /// /.well-known/oauth-authorization-server or OpenID Connect discovery. None: bearer tokens
    /// are API keys only.
    #[arg(long = "oauth-issuer", env = "TESSERA_OAUTH_ISSUERS", value_delimiter = ',', value_parser = parse_issuer)]
    pub oauth_issuers: Vec<String>,

    /// The audience partner access tokens must name in `aud` (default: the public URL).
    #[arg(long, env = "TESSERA_OAUTH_AUDIENCE")]
    pub oauth_audience: Option<String>,

    /// The claim of a partner access token that names the tessera client it acts for.
    #[arg(long, env = "TESSERA_OAUTH_CLIENT_CLAIM", default_value = crate::token::partners::DEFAULT_CLIENT_CLAIM)]
    pub oauth_client_claim: String,

    /// The least seconds between two fetches of an issuer's JWKS caused by tokens naming an
    /// unknown `kid` (a rotation is picked up after at most this long; forged kids cannot make
    /// tessera fetch more often).
    #[arg(long, env = "TESSERA_OAUTH_JWKS_MIN_REFETCH", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub oauth_jwks_min_refetch: u32,

    /// tessera's own client id at the trusted issuers' introspection endpoints (RFC 7662): with
    /// its secret, opaque partner access tokens are accepted and checked there.
    #[arg(long, env = "TESSERA_OAUTH_INTROSPECTION_CLIENT_ID", requires = "oauth_introspection_client_secret")]
    pub oauth_introspection_client_id: Option<String>,

    /// That client's secret.
    #[arg(long, env = "TESSERA_OAUTH_INTROSPECTION_CLIENT_SECRET", hide_env_values = true,
          requires = "oauth_introspection_client_id",
          value_parser = ClientSecret::from_arg)]
    pub oauth_introspection_client_secret: Option<ClientSecret>,

    /// Which trusted issuer an opaque access token is introspected at, as ISSUER=PREFIX
    /// (repeat the flag, or separate by commas): a token starting with PREFIX goes to ISSUER
    /// only (the longest matching prefix wins), and ISSUER= (empty prefix) takes every opaque
    /// token no prefix claims. Unset: with one trusted issuer, that issuer; with several,
    /// opaque tokens are refused. An opaque token is never sent to more than one issuer.
    #[arg(long = "oauth-opaque-token-prefix", env = "TESSERA_OAUTH_OPAQUE_TOKEN_PREFIXES", value_delimiter = ',',
          value_parser = parse_opaque_prefix)]
    pub oauth_opaque_token_prefixes: Vec<(String, String)>,

    /// Refuse partner JWT access tokens whose header `typ` is not `at+jwt` (RFC 9068). Off by
    /// default: Keycloak, for one, types its access tokens `JWT`.
    #[arg(long, env = "TESSERA_OAUTH_REQUIRE_AT_JWT", default_value_t = false, num_args = 0..=1,
          default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub oauth_require_at_jwt: bool,

    /// The longest seconds an active introspection answer is reused (never past the token's
    /// exp): a token revoked at the authorization server is refused after at most this long.
    #[arg(long, env = "TESSERA_OAUTH_INTROSPECTION_CACHE", default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(0..=3600))]
    pub oauth_introspection_cache: u32,
}
