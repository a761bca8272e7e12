//! `tessera token verify`: check a token the way a resource server would.
use std::io::Read as _;

use clap::Subcommand;

use crate::token::clock::{Clock as _, SystemClock};
use crate::token::verifier::{HttpJwks, Verifier, VerifierOptions};
use crate::token::verify::{Expectations, Jwks, verify};

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Verify a connection token against a JWKS; print its claims, or why it is refused.
    Verify {
        /// The token (compact JWS).
        token: String,
        /// The JWKS: an `http://` URL (e.g. http://127.0.0.1:8080/.well-known/jwks.json), a file
        /// path, or `-` for standard input.
        #[arg(long)]
        jwks: String,
        /// Also require this `iss`.
        #[arg(long)]
        issuer: Option<String>,
        /// Also require this `aud`.
        #[arg(long)]
        audience: Option<String>,
    },
}

pub async fn run(cmd: TokenCommand) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Verify { token, jwks, issuer, audience } => {
            let expect = Expectations { issuer, audience };
            let claims = if jwks.starts_with("http://") || jwks.starts_with("https://") {
                let options = VerifierOptions { expect, ..Default::default() };
                Verifier::new(HttpJwks::new(&jwks)?, options).verify(token.trim()).await?
            } else {
                let text = if jwks == "-" {
                    let mut s = String::new();
                    std::io::stdin().read_to_string(&mut s)?;
                    s
                } else {
                    std::fs::read_to_string(&jwks).map_err(|e| anyhow::anyhow!("--jwks {jwks}: {e}"))?
                };
                let set: Jwks =
                    serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("--jwks is not a JWK set: {e}"))?;
                verify(token.trim(), &set, &expect, SystemClock.now())
                    .map_err(|e| anyhow::anyhow!("token refused: {e}"))?
            };
            println!("{}", serde_json::to_string_pretty(&claims)?);
            Ok(())
        }
    }
}
