//! Refresh tokens derived with HMAC-SHA256 from the session id and its
//! generation: `base64url(version | session id | generation | mac)`.
//!
//! The store keeps no token and no digest, only the generation counter: a
//! copy of the database refreshes nothing without the server key, and the
//! current token can be recomputed for the grace rule. Multiple instances
//! must share the key (`jwt.refresh_secret_file` or `jwt.refresh_secret`).

use aws_lc_rs::hmac;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use gatehouse_application::ports::RefreshTokens;
use gatehouse_domain::SessionId;
use secrecy::SecretString;
use uuid::Uuid;

const VERSION: u8 = 1;
const BODY_LEN: usize = 1 + 16 + 8;
const TOKEN_LEN: usize = BODY_LEN + 32;
/// Domain separation: this key signs nothing else.
const CONTEXT: &[u8] = b"gatehouse refresh token v1";

/// Shortest accepted key, in bytes.
pub const MIN_KEY_BYTES: usize = 32;

/// The HMAC adapter of [`RefreshTokens`].
pub struct HmacRefreshTokens {
    key: hmac::Key,
}

impl std::fmt::Debug for HmacRefreshTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacRefreshTokens(<key>)")
    }
}

/// The key is shorter than [`MIN_KEY_BYTES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the refresh token key must be at least {MIN_KEY_BYTES} bytes")]
pub struct KeyTooShort;

impl HmacRefreshTokens {
    /// # Errors
    /// [`KeyTooShort`].
    pub fn new(key: &[u8]) -> Result<Self, KeyTooShort> {
        if key.len() < MIN_KEY_BYTES {
            return Err(KeyTooShort);
        }
        Ok(Self { key: hmac::Key::new(hmac::HMAC_SHA256, key) })
    }

    fn mac_input(body: &[u8]) -> Vec<u8> {
        [CONTEXT, body].concat()
    }
}

impl RefreshTokens for HmacRefreshTokens {
    fn issue(&self, session: SessionId, generation: u64) -> SecretString {
        let mut token = Vec::with_capacity(TOKEN_LEN);
        token.push(VERSION);
        token.extend_from_slice(session.as_uuid().as_bytes());
        token.extend_from_slice(&generation.to_be_bytes());
        let tag = hmac::sign(&self.key, &Self::mac_input(&token));
        token.extend_from_slice(tag.as_ref());
        SecretString::from(URL_SAFE_NO_PAD.encode(token))
    }

    fn parse(&self, token: &str) -> Option<(SessionId, u64)> {
        let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
        if bytes.len() != TOKEN_LEN || bytes[0] != VERSION {
            return None;
        }
        let (body, tag) = bytes.split_at(BODY_LEN);
        hmac::verify(&self.key, &Self::mac_input(body), tag).ok()?;
        let session = Uuid::from_slice(&body[1..17]).ok()?;
        let generation = u64::from_be_bytes(body[17..25].try_into().ok()?);
        Some((SessionId::from_uuid(session), generation))
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn tokens(key: u8) -> HmacRefreshTokens {
        HmacRefreshTokens::new(&[key; 32]).unwrap()
    }

    #[test]
    fn a_token_names_its_session_and_generation() {
        let sid = SessionId::from_uuid(Uuid::now_v7());
        let token = tokens(1).issue(sid, 7);
        assert_eq!(tokens(1).parse(token.expose_secret()), Some((sid, 7)));
    }

    #[test]
    fn the_same_generation_always_gives_the_same_token_and_the_next_a_new_one() {
        let sid = SessionId::from_uuid(Uuid::now_v7());
        let t = tokens(1);
        assert_eq!(t.issue(sid, 3).expose_secret(), t.issue(sid, 3).expose_secret());
        assert_ne!(t.issue(sid, 3).expose_secret(), t.issue(sid, 4).expose_secret());
    }

    #[test]
    fn tokens_from_another_key_or_altered_are_refused() {
        let sid = SessionId::from_uuid(Uuid::now_v7());
        let token = tokens(1).issue(sid, 0);
        assert_eq!(tokens(2).parse(token.expose_secret()), None);
        let mut bytes = URL_SAFE_NO_PAD.decode(token.expose_secret()).unwrap();
        bytes[20] ^= 1; // bump the generation
        assert_eq!(tokens(1).parse(&URL_SAFE_NO_PAD.encode(&bytes)), None);
        for garbage in ["", "abc", "eyJhbGciOiJFZERTQSJ9.e30.sig", &"A".repeat(76)] {
            assert_eq!(tokens(1).parse(garbage), None, "{garbage}");
        }
    }

    #[test]
    fn short_keys_are_refused() {
        assert_eq!(HmacRefreshTokens::new(&[0; 31]).err(), Some(KeyTooShort));
    }
}
