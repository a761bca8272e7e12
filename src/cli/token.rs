//! `tessera token verify`: check a token the way a resource server would.
use std::io::Read as _;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::Subcommand;

use crate::token::clock::{Clock as _, SystemClock};
use crate::token::verifier::{HttpJwks, Verifier, VerifierOptions};
use crate::token::verify::{Expectations, Jwks, VerifyKey, verify, verify_with};

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Verify a connection token against a JWKS (EdDSA) or a shared secret (HS256); print its
    /// claims, or why it is refused.
    #[command(group = clap::ArgGroup::new("key").required(true).args(["jwks", "secret_file"]))]
    Verify {
        /// The token (compact JWS).
        token: String,
        /// The JWKS, for EdDSA tokens: an `http://` URL (e.g.
        /// http://127.0.0.1:8080/.well-known/jwks.json), a file path, or `-` for standard input.
        #[arg(long)]
        jwks: Option<String>,
        /// A file holding an HS256 key's secret as `tessera signing-key export-secret` prints it
        /// (base64url), for HS256 tokens.
        #[arg(long)]
        secret_file: Option<String>,
        /// Also require this `iss`.
        #[arg(long)]
        issuer: Option<String>,
        /// Also require this `aud`.
        #[arg(long)]
        audience: Option<String>,
    },
}

pub(crate) async fn run(cmd: TokenCommand) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Verify { token, jwks, secret_file, issuer, audience } => {
            let expect = Expectations { issuer, audience, ..Default::default() };
            let claims = if let Some(file) = secret_file {
                let key = hs256_key(&file)?;
                verify_with(token.trim(), |_| Some(Ok(&key)), &expect, SystemClock.now())
                    .map_err(|e| anyhow::anyhow!("token refused: {e}"))?
            } else if let Some(jwks) = jwks {
                verify_jwks(&token, &jwks, expect).await?
            } else {
                unreachable!("clap requires --jwks or --secret-file")
            };
            super::shared::say(&serde_json::to_string_pretty(&claims)?);
            Ok(())
        }
    }
}

/// The HS256 key in `file`: a secret as `signing-key export-secret` prints it.
fn hs256_key(file: &str) -> anyhow::Result<VerifyKey> {
    use hmac::Mac as _;
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(file).map_err(|e| anyhow::anyhow!("--secret-file {file}: {e}"))?,
    );
    let secret = zeroize::Zeroizing::new(URL_SAFE_NO_PAD.decode(text.trim()).map_err(|_| {
        anyhow::anyhow!("--secret-file {file}: not a secret as `signing-key export-secret` prints it (base64url)")
    })?);
    if secret.len() < 32 {
        anyhow::bail!("--secret-file {file}: an HS256 secret of tessera's is 32 bytes, this one is {}", secret.len());
    }
    let mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&secret)
        .map_err(|e| anyhow::anyhow!("--secret-file {file}: {e}"))?;
    Ok(VerifyKey::Hs(mac))
}

async fn verify_jwks(token: &str, jwks: &str, expect: Expectations) -> anyhow::Result<crate::token::claims::Claims> {
    Ok(if jwks.starts_with("http://") || jwks.starts_with("https://") {
        let options = VerifierOptions { expect, ..Default::default() };
        Verifier::new(HttpJwks::new(jwks)?, options).verify(token.trim()).await?
    } else {
        let text = if jwks == "-" {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s)?;
            s
        } else {
            std::fs::read_to_string(jwks).map_err(|e| anyhow::anyhow!("--jwks {jwks}: {e}"))?
        };
        let set: Jwks = serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("--jwks is not a JWK set: {e}"))?;
        verify(token.trim(), &set, &expect, SystemClock.now()).map_err(|e| anyhow::anyhow!("token refused: {e}"))?
    })
}
