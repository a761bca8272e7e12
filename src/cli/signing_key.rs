//! `tessera signing-key ...`: list and rotate the keys that sign tokens.
use clap::Subcommand;
use serde_json::json;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::config::{DatabaseArgs, KekArgs};
use crate::domain::ids::Kid;
use crate::service::Actor;
use crate::token::clock::{Clock as _, SystemClock};
use crate::token::keyring::Algorithm;

#[derive(Subcommand, Debug)]
pub enum SigningKeyCommand {
    /// Schedule a new signing key: signing after --prepublish seconds, when the current key
    /// retires. Servers publish an EdDSA key in the JWKS at their next keyring refresh (within
    /// --key-refresh seconds; a retired one stays published until its tokens expire); an HS256
    /// key is never published (see `signing-key export-secret`).
    Rotate {
        /// Algorithm of the key to rotate.
        #[arg(long, env = "TESSERA_ALGORITHM", default_value = "EdDSA", value_parser = |s: &str| s.parse::<Algorithm>())]
        algorithm: Algorithm,
        /// Seconds the new key is published before it signs (as --key-prepublish for serve): at
        /// least the JWKS cache lifetime (300) plus --key-refresh, unless --immediately.
        #[arg(long, env = "TESSERA_KEY_PREPUBLISH", default_value_t = 600)]
        prepublish: u32,
        /// The servers' --key-refresh: how long they take to read the new key.
        #[arg(long, env = "TESSERA_KEY_REFRESH", default_value_t = 10,
              value_parser = clap::value_parser!(u32).range(1..=3600))]
        key_refresh: u32,
        /// Activate the new key at once (for a compromised key). Verifiers holding a cached
        /// JWKS will refuse new tokens until they refetch it.
        #[arg(long)]
        immediately: bool,
        #[command(flatten)]
        kek: KekArgs,
        /// Print JSON, times in Unix seconds (text output shows them as RFC 3339, UTC).
        #[arg(long)]
        json: bool,
    },
    /// Print an HS256 key's shared secret, for verifiers that check HS256 tokens. EdDSA keys are
    /// refused: their verifiers need only the public JWKS.
    ExportSecret {
        /// The key's id (as shown by `signing-key list`).
        #[arg(long)]
        kid: String,
        #[command(flatten)]
        kek: KekArgs,
    },
    /// Show the keyring: ids, algorithms, states and dates (never key material).
    List {
        /// Print JSON, times in Unix seconds (text output shows them as RFC 3339, UTC).
        #[arg(long)]
        json: bool,
    },
}

pub(crate) async fn run(db: &DatabaseArgs, cmd: SigningKeyCommand) -> anyhow::Result<()> {
    let core = super::shared::open_core(db).await?;
    match cmd {
        SigningKeyCommand::Rotate { algorithm, prepublish, key_refresh, immediately, kek, json } => {
            if !immediately {
                crate::token::keyring::check_prepublish(prepublish, key_refresh, "--prepublish").map_err(|e| {
                    anyhow::anyhow!("{e} (--immediately activates a key at once, for a compromised key)")
                })?;
            }
            let (kek, _) = kek.resolve(&db.database_url)?;
            let core = core.with_kek(std::sync::Arc::new(kek));
            let now = SystemClock.now();
            let (kid, activates_at) = if immediately {
                (core.signing_keys().rotate_now(Actor::CommandLine, algorithm, now).await?, now)
            } else {
                let prepublish = i64::from(prepublish);
                core.signing_keys().schedule(Actor::CommandLine, algorithm, now, prepublish).await?.ok_or_else(
                    || anyhow::anyhow!("a new {algorithm} key is already scheduled (see `signing-key list`)"),
                )?
            };
            super::shared::output(
                json,
                &json!({"kid": kid, "alg": algorithm.jws_name(), "activates_at": activates_at}),
                || rotated_text(algorithm, &kid, activates_at, immediately, key_refresh),
            );
        }
        SigningKeyCommand::ExportSecret { kid, kek } => {
            let (kek, _) = kek.resolve(&db.database_url)?;
            let keys = core.signing_keys().list().await?;
            let rec = keys
                .iter()
                .find(|k| k.kid.as_str() == kid)
                .ok_or_else(|| anyhow::anyhow!("no signing key {kid} (see `tessera signing-key list`)"))?;
            if rec.alg != Algorithm::Hs256 {
                anyhow::bail!(
                    "signing key {kid} is {}: it has no shared secret; verifiers use its public key from \
                     /.well-known/jwks.json",
                    rec.alg
                );
            }
            let secret = kek.open(rec.kid.as_str().as_bytes(), &rec.private_key_sealed)?;
            eprintln!(
                "warning: this is the secret that signs HS256 tokens: whoever holds it can mint tokens \
                 tessera's verifiers accept. Store it where your other secrets live, never in a log \
                 or a repository. It is base64url without padding (the form of a JWK's \"k\"); \
                 `tessera token verify TOKEN --secret-file FILE` reads it as printed."
            );
            let encoded = zeroize::Zeroizing::new(URL_SAFE_NO_PAD.encode(secret.as_slice()));
            super::shared::say(&encoded);
        }
        SigningKeyCommand::List { json } => {
            let keys = core.signing_keys().list().await?;
            let rows: Vec<_> = keys
                .iter()
                .map(|k| {
                    json!({"kid": k.kid, "alg": k.alg, "state": k.state, "created_at": k.created_at,
                           "activated_at": k.activated_at, "retired_at": k.retired_at})
                })
                .collect();
            super::shared::output(json, &json!(rows), || {
                keys.iter()
                    .map(|k| {
                        format!(
                            "{}  {:5}  {:7}  created {}  activates {}  retired {}",
                            k.kid,
                            k.alg,
                            k.state,
                            super::shared::rfc3339(k.created_at),
                            super::shared::rfc3339_or_dash(k.activated_at),
                            super::shared::rfc3339_or_dash(k.retired_at)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
    }
    Ok(())
}

/// What `signing-key rotate` says it did. HS256 keys are never published, so only an EdDSA
/// key is said to be.
fn rotated_text(algorithm: Algorithm, kid: &Kid, activates_at: i64, immediately: bool, key_refresh: u32) -> String {
    let when = if immediately {
        format!("signing on each server from its next keyring refresh (within {key_refresh} s)")
    } else {
        format!("signing from {}", super::shared::rfc3339(activates_at))
    };
    match algorithm {
        Algorithm::EdDsa => format!(
            "new EdDSA key {kid}: in each server's JWKS from its next keyring refresh (within {key_refresh} s), {when}"
        ),
        Algorithm::Hs256 => format!(
            "new HS256 key {kid}: {when}; HS256 keys are never published: give verifiers its \
             secret (`tessera signing-key export-secret --kid {kid}`)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_eddsa_rotation_claims_to_publish_its_key() {
        let kid = Kid::from_string("01J0000000000000000000000K");
        let ed = rotated_text(Algorithm::EdDsa, &kid, 1_700_000_000, false, 10);
        assert_eq!(
            ed,
            "new EdDSA key 01J0000000000000000000000K: in each server's JWKS from its next keyring refresh \
             (within 10 s), signing from 2023-11-14T22:13:20Z"
        );
        assert!(!ed.contains("now"), "the key is not published the moment it is made: {ed}");
        let hs = rotated_text(Algorithm::Hs256, &kid, 1_700_000_000, false, 10);
        assert!(!hs.contains("published in") && !hs.contains("published now"), "{hs}");
        assert!(
            hs.contains("never published") && hs.contains("export-secret --kid 01J0000000000000000000000K"),
            "{hs}"
        );
        assert!(
            rotated_text(Algorithm::Hs256, &kid, 0, true, 10).contains("from its next keyring refresh (within 10 s)")
        );
    }
}
