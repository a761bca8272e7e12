//! Signing deliveries as Subtotal documents it: `X-Subtotal-Timestamp` (Unix seconds) and
//! `X-Subtotal-Signature`, the HMAC-SHA256 of `"{timestamp}.{raw_body}"` under the webhook's
//! signing secret, in lowercase hex. While a rotated-out secret still signs, the header holds
//! one signature per secret, comma-separated, the newest first; a receiver accepts the
//! delivery when any of them matches.
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac as _};
use rand::RngCore as _;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::crypto::kek::{Kek, KekError};
use crate::domain::ids::WebhookId;

/// The prefix of a signing secret, so secret scanners can find a leaked one.
pub(crate) const SECRET_PREFIX: &str = "whsec_";

/// A new signing secret: 256 random bits.
pub(crate) fn new_secret() -> Zeroizing<String> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(bytes.as_mut());
    Zeroizing::new(format!("{SECRET_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes.as_ref())))
}

/// A secret sealed under the KEK for storage, bound to its webhook.
pub(crate) fn seal(kek: &Kek, webhook: &WebhookId, secret: &str) -> Vec<u8> {
    kek.seal(aad(webhook).as_bytes(), secret.as_bytes())
}

/// A stored secret, opened.
pub(crate) fn open(kek: &Kek, webhook: &WebhookId, sealed: &[u8]) -> Result<Zeroizing<String>, KekError> {
    let plain = kek.open(aad(webhook).as_bytes(), sealed)?;
    Ok(Zeroizing::new(String::from_utf8_lossy(&plain).into_owned()))
}

fn aad(webhook: &WebhookId) -> String {
    format!("webhook-secret\n{webhook}")
}

/// The signature of `body` sent at `timestamp`, under `secret`.
pub(crate) fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    // HMAC takes keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// The `X-Subtotal-Signature` value for the secrets that sign now (newest first).
pub(crate) fn header(secrets: &[&str], timestamp: i64, body: &str) -> String {
    secrets.iter().map(|s| signature(s, timestamp, body)).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_of_timestamp_dot_body_in_hex() {
        // Computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
        assert_eq!(
            signature("whsec_test", 1_700_000_000, r#"{"a":1}"#),
            "38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
        let both = header(&["new", "old"], 5, "b");
        assert_eq!(both, format!("{},{}", signature("new", 5, "b"), signature("old", 5, "b")));
        assert_ne!(signature("new", 5, "b"), signature("new", 6, "b"));
    }

    #[test]
    fn sealed_secrets_open_only_for_their_webhook() {
        let kek = Kek::generate();
        let (a, b) = (WebhookId::generate(), WebhookId::generate());
        let secret = new_secret();
        assert!(secret.starts_with(SECRET_PREFIX));
        let sealed = seal(&kek, &a, &secret);
        assert_eq!(open(&kek, &a, &sealed).expect("opens").as_str(), secret.as_str());
        assert!(open(&kek, &b, &sealed).is_err());
    }
}
