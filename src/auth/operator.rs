//! Operators' credentials: argon2id password hashes, and the random secrets of sessions and
//! one-time sign-in links, of which only SHA-256 digests are stored.
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

/// The shortest password an operator may choose.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// The longest accepted (argon2 takes any length; this bounds the work one request causes).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// The argon2id hash (PHC string, salted) of a password.
pub fn hash_password(password: &str) -> Result<String, String> {
    check_password(password)?;
    let mut salt_bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut salt_bytes);
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| format!("cannot salt the password: {e}"))?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

/// Whether a password is acceptable; the message never repeats it.
pub fn check_password(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!("the password must have at least {MIN_PASSWORD_CHARS} characters"));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(format!("the password must have at most {MAX_PASSWORD_BYTES} bytes"));
    }
    Ok(())
}

/// Whether `password` matches a stored hash. A hash that cannot be read matches nothing.
pub fn verify_password(password: &str, hash: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(hash) else { return false };
    argon2::Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok()
}

/// Spends about the time a password check does, for a name that has no password, so the time
/// an answer takes does not tell which operators exist.
pub fn verify_nothing(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let hash = DUMMY.get_or_init(|| hash_password("not-anyone's-password").unwrap_or_default());
    let _ = verify_password(password, hash);
}

/// A fresh random secret (32 bytes, base64url): a session id or a sign-in link's token.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The SHA-256 of a secret: what the database keeps of it.
pub fn digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// The anti-forgery token of a session's forms: derived from the session's secret (so it is
/// not stored, and no other session's forms carry it), never the secret itself.
pub fn csrf_token(session_secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"tessera console csrf\0");
    h.update(session_secret.as_bytes());
    URL_SAFE_NO_PAD.encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let hash = hash_password("correct horse battery").expect("hashed");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(!hash.contains("correct horse"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse batterY", &hash));
        assert!(!verify_password("x", "not a hash"));
        let short = hash_password("short").expect_err("refused");
        assert!(!short.contains("short\""), "{short}");
    }

    #[test]
    fn secrets_are_random_and_only_digests_and_csrf_tokens_derive_from_them() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(digest(&a).len(), 32);
        assert_ne!(csrf_token(&a), csrf_token(&b));
        assert!(!csrf_token(&a).contains(&a));
    }
}
