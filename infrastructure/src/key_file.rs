//! The Ed25519 signing key file: PKCS#8 in PEM, mode 0600, created on first
//! start outside production.

use std::{
    fs,
    io::{self, Write},
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
};

use aws_lc_rs::{rand::SystemRandom, signature::Ed25519KeyPair};

/// Why a key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("{path}: no such key file")]
    Missing { path: PathBuf },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: not a PEM-encoded PKCS#8 Ed25519 private key")]
    Invalid { path: PathBuf },
    #[error("{path}: not a secret key file (base64 of at least 32 bytes)")]
    InvalidSecret { path: PathBuf },
}

/// Reads the Ed25519 key at `path` as PKCS#8 DER; when the file does not
/// exist and `create` is set, generates a new key and writes it there first
/// (parent folders included, file mode 0600).
///
/// # Errors
/// [`KeyFileError`] naming the path.
pub fn load_or_create(path: &Path, create: bool) -> Result<Vec<u8>, KeyFileError> {
    match fs::read(path) {
        Ok(bytes) => parse(path, &bytes),
        Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
            match generate(path) {
                Ok(der) => Ok(der),
                // Another instance created it between our read and write.
                Err(KeyFileError::Io { source, .. }) if source.kind() == io::ErrorKind::AlreadyExists => {
                    let bytes = fs::read(path).map_err(|source| KeyFileError::Io { path: path.into(), source })?;
                    parse(path, &bytes)
                }
                Err(e) => Err(e),
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(KeyFileError::Missing { path: path.into() }),
        Err(source) => Err(KeyFileError::Io { path: path.into(), source }),
    }
}

/// Writes a new Ed25519 key to `path`, which must not exist yet.
///
/// # Errors
/// [`KeyFileError::Io`], with kind `AlreadyExists` if the file exists.
pub fn generate(path: &Path) -> Result<Vec<u8>, KeyFileError> {
    let io_err = |source| KeyFileError::Io { path: path.into(), source };
    let document = Ed25519KeyPair::generate_pkcs8v1(&SystemRandom::new())
        .map_err(|_| io_err(io::Error::other("key generation failed")))?;
    let der = document.as_ref().to_vec();
    let text = pem::encode(&pem::Pem::new("PRIVATE KEY", der.clone()));
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(io_err)?;
    }
    let mut file = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(io_err)?;
    file.write_all(text.as_bytes()).and_then(|()| file.sync_all()).map_err(io_err)?;
    tracing::info!(path = %path.display(), "generated a new Ed25519 signing key");
    Ok(der)
}

/// Reads a secret key file (base64 of at least 32 random bytes); when it
/// does not exist and `create` is set, writes a new one first (mode 0600).
///
/// # Errors
/// [`KeyFileError`] naming the path.
pub fn load_or_create_secret(path: &Path, create: bool) -> Result<Vec<u8>, KeyFileError> {
    let decode = |text: &str| {
        let bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, text.trim())
            .map_err(|_| KeyFileError::InvalidSecret { path: path.into() })?;
        if bytes.len() < 32 { Err(KeyFileError::InvalidSecret { path: path.into() }) } else { Ok(bytes) }
    };
    match fs::read_to_string(path) {
        Ok(text) => decode(&text),
        Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
            let io_err = |source| KeyFileError::Io { path: path.into(), source };
            let mut secret = [0u8; 32];
            aws_lc_rs::rand::fill(&mut secret).map_err(|_| io_err(io::Error::other("no randomness")))?;
            let text = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, secret) + "\n";
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                fs::create_dir_all(parent).map_err(io_err)?;
            }
            match fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
                Ok(mut file) => {
                    file.write_all(text.as_bytes()).and_then(|()| file.sync_all()).map_err(io_err)?;
                    tracing::info!(path = %path.display(), "generated a new secret key file");
                    Ok(secret.to_vec())
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    decode(&fs::read_to_string(path).map_err(io_err)?)
                }
                Err(e) => Err(io_err(e)),
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(KeyFileError::Missing { path: path.into() }),
        Err(source) => Err(KeyFileError::Io { path: path.into(), source }),
    }
}

fn parse(path: &Path, bytes: &[u8]) -> Result<Vec<u8>, KeyFileError> {
    let invalid = || KeyFileError::Invalid { path: path.into() };
    let block = pem::parse(bytes).map_err(|_| invalid())?;
    if block.tag() != "PRIVATE KEY" {
        return Err(invalid());
    }
    let der = block.into_contents();
    Ed25519KeyPair::from_pkcs8(&der).map_err(|_| invalid())?;
    Ok(der)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_missing_key_is_created_private_and_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/jwt.pem");
        let first = load_or_create(&path, true).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(fs::read_to_string(&path).unwrap().starts_with("-----BEGIN PRIVATE KEY-----"));
        assert_eq!(load_or_create(&path, true).unwrap(), first);
    }

    #[test]
    fn a_missing_key_is_an_error_when_creation_is_not_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let err = load_or_create(&dir.path().join("absent.pem"), false).unwrap_err();
        assert!(matches!(err, KeyFileError::Missing { .. }));
    }

    #[test]
    fn a_missing_secret_is_created_private_and_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("refresh.key");
        let first = load_or_create_secret(&path, true).unwrap();
        assert_eq!(first.len(), 32);
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(load_or_create_secret(&path, false).unwrap(), first);
        assert!(matches!(load_or_create_secret(&dir.path().join("x"), false), Err(KeyFileError::Missing { .. })));
    }

    #[test]
    fn a_file_that_is_not_an_ed25519_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.pem");
        fs::write(&path, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").unwrap();
        assert!(matches!(load_or_create(&path, true), Err(KeyFileError::Invalid { .. })));
    }
}
