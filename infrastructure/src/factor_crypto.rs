//! aws-lc-rs [`FactorCrypto`]: the system's secure random generator,
//! SHA-256, HMAC-SHA-1 for TOTP, and AES-256-GCM for secrets at rest.
//!
//! A sealed value is `nonce (12 bytes) || ciphertext || tag (16 bytes)`,
//! with the caller's context (user and purpose) as associated data, and
//! names its key by id. The key comes from `mfa.encryption_key_file`; the
//! AES key and the id are both derived from the file's bytes, so the id
//! says which file opens a value without revealing anything about it.

use std::{collections::HashMap, sync::Arc};

use aws_lc_rs::{
    aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey},
    digest::{SHA256, digest},
    hmac,
};
use gatehouse_application::ports::{FactorCrypto, SealError};
use gatehouse_domain::{Digest, Sealed};

/// Why a key cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealKeyError {
    #[error("the key must hold at least 32 bytes")]
    TooShort,
}

/// One AEAD key and its id.
struct SealKey {
    id: String,
    key: LessSafeKey,
}

impl SealKey {
    fn new(material: &[u8]) -> Result<Self, SealKeyError> {
        if material.len() < 32 {
            return Err(SealKeyError::TooShort);
        }
        let derive = |label: &[u8]| {
            let mut input = label.to_vec();
            input.extend_from_slice(material);
            digest(&SHA256, &input)
        };
        let id: String = derive(b"gatehouse mfa key id\0").as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect();
        let key = UnboundKey::new(&AES_256_GCM, derive(b"gatehouse mfa aead key\0").as_ref())
            .map_err(|_| SealKeyError::TooShort)?;
        Ok(Self { id, key: LessSafeKey::new(key) })
    }
}

/// Second-factor cryptography over aws-lc-rs, sealing with the current key
/// and opening with any key it holds. Clones share the keys.
#[derive(Clone)]
pub struct AwsLcFactorCrypto {
    current: String,
    keys: Arc<HashMap<String, SealKey>>,
}

impl std::fmt::Debug for AwsLcFactorCrypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsLcFactorCrypto").field("current", &self.current).finish_non_exhaustive()
    }
}

impl AwsLcFactorCrypto {
    /// Seals with `current` (the bytes of a key file); also opens values
    /// sealed with any of `previous` (keys rotated out).
    ///
    /// # Errors
    /// [`SealKeyError`] for a key shorter than 32 bytes.
    pub fn new(current: &[u8], previous: &[&[u8]]) -> Result<Self, SealKeyError> {
        let current = SealKey::new(current)?;
        let id = current.id.clone();
        let mut keys = HashMap::from([(id.clone(), current)]);
        for material in previous {
            let key = SealKey::new(material)?;
            keys.entry(key.id.clone()).or_insert(key);
        }
        Ok(Self { current: id, keys: Arc::new(keys) })
    }

    /// A crypto with a fresh random key (test kits).
    pub fn ephemeral() -> Self {
        let mut key = [0u8; 32];
        fill(&mut key);
        match Self::new(&key, &[]) {
            Ok(crypto) => crypto,
            Err(_) => unreachable!("a 32-byte key is long enough"),
        }
    }

    /// The id of the key new values are sealed with.
    pub fn current_key_id(&self) -> &str {
        &self.current
    }
}

fn fill(buf: &mut [u8]) {
    // The system generator failing is not recoverable: refuse to go on
    // rather than hand out predictable secrets.
    if aws_lc_rs::rand::fill(buf).is_err() {
        std::process::abort();
    }
}

impl FactorCrypto for AwsLcFactorCrypto {
    fn random(&self, buf: &mut [u8]) {
        fill(buf);
    }

    fn digest(&self, data: &[u8]) -> Digest {
        let mut out = [0u8; 32];
        out.copy_from_slice(digest(&SHA256, data).as_ref());
        Digest(out)
    }

    fn hmac_sha1(&self, key: &[u8], message: &[u8]) -> [u8; 20] {
        let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key);
        let mut out = [0u8; 20];
        out.copy_from_slice(hmac::sign(&key, message).as_ref());
        out
    }

    fn seal(&self, plain: &[u8], context: &[u8]) -> Sealed {
        let key = &self.keys[&self.current];
        let mut nonce = [0u8; NONCE_LEN];
        fill(&mut nonce);
        let mut in_out = plain.to_vec();
        if key
            .key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(context), &mut in_out)
            .is_err()
        {
            // Only a plaintext beyond GCM's 64 GiB limit fails.
            std::process::abort();
        }
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&in_out);
        Sealed { key_id: key.id.clone(), bytes }
    }

    fn open(&self, sealed: &Sealed, context: &[u8]) -> Result<Vec<u8>, SealError> {
        let key = self.keys.get(&sealed.key_id).ok_or_else(|| SealError::UnknownKey(sealed.key_id.clone()))?;
        if sealed.bytes.len() < NONCE_LEN {
            return Err(SealError::Corrupt);
        }
        let (nonce, ciphertext) = sealed.bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Corrupt)?;
        let mut in_out = ciphertext.to_vec();
        let plain = key.key.open_in_place(nonce, Aad::from(context), &mut in_out).map_err(|_| SealError::Corrupt)?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use gatehouse_domain::mfa::truncate_hotp;

    use super::*;

    const KEY: [u8; 32] = [7; 32];

    #[test]
    fn a_sealed_secret_opens_only_with_its_context_and_key() {
        let crypto = AwsLcFactorCrypto::new(&KEY, &[]).unwrap();
        let sealed = crypto.seal(b"a totp secret", b"alice");
        assert_eq!(sealed.key_id, crypto.current_key_id());
        assert!(!sealed.bytes.windows(13).any(|w| w == b"a totp secret"), "the plaintext is not in the sealed bytes");
        assert_eq!(crypto.open(&sealed, b"alice").unwrap(), b"a totp secret");
        assert_eq!(crypto.open(&sealed, b"bob"), Err(SealError::Corrupt));
        let mut altered = sealed.clone();
        altered.bytes[15] ^= 1;
        assert_eq!(crypto.open(&altered, b"alice"), Err(SealError::Corrupt));
        let other = AwsLcFactorCrypto::new(&[8; 32], &[]).unwrap();
        assert_eq!(other.open(&sealed, b"alice"), Err(SealError::UnknownKey(sealed.key_id.clone())));
    }

    #[test]
    fn after_a_rotation_old_values_still_open_and_new_ones_use_the_new_key() {
        let old = AwsLcFactorCrypto::new(&KEY, &[]).unwrap();
        let sealed = old.seal(b"secret", b"ctx");
        let rotated = AwsLcFactorCrypto::new(&[9; 32], &[&KEY]).unwrap();
        assert_eq!(rotated.open(&sealed, b"ctx").unwrap(), b"secret");
        assert_ne!(rotated.seal(b"secret", b"ctx").key_id, sealed.key_id);
    }

    #[test]
    fn keys_shorter_than_32_bytes_are_refused() {
        assert_eq!(AwsLcFactorCrypto::new(&[1; 31], &[]).err(), Some(SealKeyError::TooShort));
    }

    /// RFC 6238 appendix B, SHA-1 rows: the secret "12345678901234567890"
    /// and the 8-digit codes, of which TOTP's 6 digits are the last six.
    #[test]
    fn totp_codes_match_the_rfc_6238_vectors() {
        let crypto = AwsLcFactorCrypto::ephemeral();
        let secret = b"12345678901234567890";
        for (time, code) in [
            (59u64, 94_287_082u32),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ] {
            let mac = crypto.hmac_sha1(secret, &(time / 30).to_be_bytes());
            assert_eq!(truncate_hotp(&mac), code % 1_000_000, "T = {time}");
        }
    }
}
