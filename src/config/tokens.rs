//! Minted tokens (issuer, audience, algorithm, lifetime), the signing keyring's refresh,
//! prepublication and rotation, and the clock checks tokens depend on.
use clap::Args;

use super::parse::parse_algorithm;
use crate::token::keyring::Algorithm;

/// The help heading of these flags, and the configuration file's `[tokens]` section.
pub(super) const HEADING: &str = "Tokens";

/// What minted tokens say, how long they last, and how the signing keyring and the clock are kept.
#[derive(Args, Clone, Debug)]
pub struct TokenArgs {
    /// The `iss` claim of minted tokens.
    #[arg(long, env = "TESSERA_ISSUER", default_value = "tessera")]
    pub issuer: String,

    /// The `aud` claim of minted tokens.
    #[arg(long, env = "TESSERA_AUDIENCE", default_value = "subtotal")]
    pub audience: String,

    /// Signing algorithm: EdDSA (Ed25519, published in the JWKS) or HS256 (a shared secret).
    #[arg(long, env = "TESSERA_ALGORITHM", default_value = "EdDSA", value_parser = parse_algorithm)]
    pub algorithm: Algorithm,

    /// Token lifetime in seconds (60 to 86400).
    #[arg(long, env = "TESSERA_TOKEN_TTL", default_value_t = 900,
          value_parser = clap::value_parser!(u32).range(60..=86_400))]
    pub token_ttl: u32,

    /// Seconds between re-reads of the signing keyring (picks up rotations by other processes).
    #[arg(long, env = "TESSERA_KEY_REFRESH", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub key_refresh: u32,

    /// Seconds the clock may differ from the database's before tokens are refused: from
    /// PostgreSQL's clock either way, or (SQLite) by a step while serving; a clock behind the
    /// newest recorded time by more than the verifiers' leeway (60 s) is refused too. 0 turns
    /// the check off.
    #[arg(long, env = "TESSERA_CLOCK_MAX_SKEW", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(0..=3600))]
    pub clock_max_skew: u32,

    /// Seconds a step of the clock must hold, on SQLite (which has no clock of its own to ask),
    /// before tessera takes it as a correction rather than a fault. Until then, and while a
    /// step is not confirmed by PostgreSQL's clock, tokens are refused and tessera keeps its
    /// own time.
    #[arg(long, env = "TESSERA_CLOCK_STEP_SETTLE", default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(1..=86_400))]
    pub clock_step_settle: u32,

    /// Seconds a new signing key is published in the JWKS before it signs. Must be at least
    /// the JWKS cache lifetime (300) plus --key-refresh, so no verifier meets an unknown key.
    #[arg(long, env = "TESSERA_KEY_PREPUBLISH", default_value_t = 600,
          value_parser = clap::value_parser!(u32).range(0..=31_536_000))]
    pub key_prepublish: u32,

    /// Seconds between automatic signing-key rotations (default 30 days); 0 turns them off.
    #[arg(long, env = "TESSERA_KEY_ROTATION_PERIOD", default_value_t = 2_592_000,
          value_parser = clap::value_parser!(u32).range(0..=315_360_000))]
    pub key_rotation_period: u32,
}
