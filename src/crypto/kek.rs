//! The key-encryption key (KEK): envelope encryption of signing keys at rest.
//!
//! Private key material is sealed with ChaCha20-Poly1305 under the KEK, with a fresh random
//! nonce per seal and the key's `kid` as associated data, so a sealed key cannot be moved to
//! another row unnoticed. Stored form: `nonce (12 bytes) || ciphertext+tag`.
use std::fmt;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use rand::RngCore as _;
use zeroize::Zeroizing;

const NONCE_LEN: usize = 12;

/// A 32-byte key-encryption key. `Debug` never shows it.
#[derive(Clone)]
pub struct Kek(Zeroizing<[u8; 32]>);

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Kek(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KekError {
    #[error("the key-encryption key must be 32 bytes encoded as standard base64 (e.g. `openssl rand -base64 32`)")]
    Malformed,
    #[error("a signing key could not be decrypted: the key-encryption key is not the one that encrypted it")]
    WrongKey,
    /// A command that needs the key-encryption key was not given one.
    #[error("no key-encryption key was given (--kek, --kek-file or TESSERA_KEK)")]
    NotGiven,
    #[error("key-encryption key file {path}")]
    Io { path: String, source: std::io::Error },
}

impl Kek {
    /// A fresh random key.
    pub fn generate() -> Self {
        let mut k = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(k.as_mut());
        Self(k)
    }

    /// Parses the base64 form used in config and key files.
    pub fn from_base64(s: &str) -> Result<Self, KekError> {
        let bytes = Zeroizing::new(STANDARD.decode(s.trim()).map_err(|_| KekError::Malformed)?);
        let arr: [u8; 32] = bytes.as_slice().try_into().map_err(|_| KekError::Malformed)?;
        Ok(Self(Zeroizing::new(arr)))
    }

    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(self.0.as_ref()))
    }

    /// Reads the key file at `path`, creating it (mode 0600) with a fresh key when it does
    /// not exist. Returns the key and whether it was created.
    pub fn load_or_create(path: &Path) -> Result<(Self, bool), KekError> {
        let io = |source| KekError::Io { path: path.display().to_string(), source };
        match std::fs::read_to_string(path) {
            Ok(s) => Ok((Self::from_base64(&s)?, false)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let kek = Self::generate();
                match write_private_file(path, kek.to_base64().as_bytes()) {
                    Ok(()) => Ok((kek, true)),
                    // Another process created it first: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        let s = std::fs::read_to_string(path).map_err(io)?;
                        Ok((Self::from_base64(&s)?, false))
                    }
                    Err(e) => Err(io(e)),
                }
            }
            Err(e) => Err(io(e)),
        }
    }

    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let cipher = ChaCha20Poly1305::new(self.0.as_ref().into());
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad })
            // Encryption fails only for inputs larger than 2^38 bytes; keys are 32 bytes.
            .expect("ChaCha20-Poly1305 encryption of a small key cannot fail");
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, KekError> {
        if sealed.len() < NONCE_LEN {
            return Err(KekError::WrongKey);
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        let cipher = ChaCha20Poly1305::new(self.0.as_ref().into());
        cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
            .map(Zeroizing::new)
            .map_err(|_| KekError::WrongKey)
    }
}

/// Writes `contents` to a new file at `path`, readable by the owner only. The file appears
/// whole or not at all (written aside, then linked into place), and an existing file is
/// never replaced: of two processes racing here, one wins and the other reads its key.
fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = std::path::PathBuf::from(tmp_name);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let result = options.open(&tmp).and_then(|mut f| {
        f.write_all(contents)?;
        f.sync_all()?;
        std::fs::hard_link(&tmp, path)
    });
    let _ = std::fs::remove_file(&tmp);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_error_names_its_cause_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A directory where the key file should be: reading it fails.
        let path = dir.path().join("tessera.db.kek");
        std::fs::create_dir(&path).expect("mkdir");
        let err = anyhow::Error::from(Kek::load_or_create(&path).expect_err("a directory is no key file"));
        let text = format!("{err:#}");
        assert!(text.starts_with("key-encryption key file "), "{text}");
        let cause = err.root_cause().to_string();
        assert_eq!(text.matches(cause.as_str()).count(), 1, "{text}");
    }

    #[test]
    fn seal_open_round_trip_and_binding() {
        let kek = Kek::generate();
        let sealed = kek.seal(b"kid-1", b"secret key bytes");
        assert_eq!(kek.open(b"kid-1", &sealed).expect("opens").as_slice(), b"secret key bytes");
        assert!(kek.open(b"kid-2", &sealed).is_err(), "aad binds the kid");
        assert!(Kek::generate().open(b"kid-1", &sealed).is_err(), "another KEK cannot open");
        assert!(!sealed.windows(16).any(|w| w == b"secret key bytes"));
    }

    #[test]
    fn base64_parsing() {
        let kek = Kek::generate();
        assert!(Kek::from_base64(&kek.to_base64()).is_ok());
        assert!(matches!(Kek::from_base64("short"), Err(KekError::Malformed)));
        assert!(matches!(Kek::from_base64(&STANDARD.encode([0u8; 16])), Err(KekError::Malformed)));
        assert_eq!(format!("{kek:?}"), "Kek(<redacted>)");
    }

    #[cfg(unix)]
    #[test]
    fn key_file_is_created_private_and_reused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/tessera.kek");
        let (a, created) = Kek::load_or_create(&path).expect("create");
        assert!(created);
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let (b, created) = Kek::load_or_create(&path).expect("reuse");
        assert!(!created);
        assert_eq!(a.to_base64(), b.to_base64());
    }
}
