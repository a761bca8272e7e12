//! The bearer token that guards `/metrics` when the operator sets one.

/// The bearer token `/metrics` requires. Its `Debug` never shows it.
#[derive(Clone)]
pub struct MetricsToken(String);

impl MetricsToken {
    pub const MIN_LEN: usize = 16;
    pub const MAX_LEN: usize = 256;

    /// Taken as given: checked by [`MetricsToken::check`] at start-up, whose message, unlike
    /// a flag parser's, does not repeat the value.
    pub fn from_arg(s: &str) -> Result<MetricsToken, std::convert::Infallible> {
        Ok(MetricsToken(s.to_owned()))
    }

    /// A token, if `s` is one tessera accepts.
    pub fn new(s: &str) -> anyhow::Result<MetricsToken> {
        let token = MetricsToken(s.to_owned());
        token.check()?;
        Ok(token)
    }

    /// That the token is long enough to resist guessing and can travel in a header.
    pub fn check(&self) -> anyhow::Result<()> {
        let ok =
            (Self::MIN_LEN..=Self::MAX_LEN).contains(&self.0.len()) && self.0.bytes().all(|b| b.is_ascii_graphic());
        anyhow::ensure!(
            ok,
            "TESSERA_METRICS_TOKEN / --metrics-token must be {} to {} printable ASCII characters without spaces \
             (e.g. the output of `openssl rand -hex 32`)",
            Self::MIN_LEN,
            Self::MAX_LEN
        );
        Ok(())
    }

    /// Whether `presented` is the token, in time that depends on neither value: both are
    /// hashed, and the digests compared in constant time.
    pub fn matches(&self, presented: &[u8]) -> bool {
        use sha2::{Digest as _, Sha256};
        use subtle::ConstantTimeEq as _;
        Sha256::digest(self.0.as_bytes()).ct_eq(&Sha256::digest(presented)).into()
    }
}

impl std::fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsToken(<redacted>)")
    }
}
