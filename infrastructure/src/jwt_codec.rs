//! Access tokens as JWTs (jsonwebtoken, aws-lc-rs backend).
//!
//! jsonwebtoken checks the signature and the algorithm. Everything else the
//! contract requires is checked here or in the domain, because the library
//! does not do it for us: it ignores `typ` and `crit`, never checks `iat`,
//! skips `nbf` by default and only requires `iss`/`aud` when told to. So the
//! header is inspected before verification (exact `typ`, known `kid`, no
//! `crit`, no key-carrying header), every claim is a required field of the
//! claims type, and the time, issuer and audience rules run in
//! [`gatehouse_domain::TokenPolicy::check`] with the application's clock.

use std::collections::HashMap;

use aws_lc_rs::{
    digest::{SHA256, digest},
    signature::{Ed25519KeyPair, KeyPair},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use gatehouse_application::ports::{PublishedKey, TokenCodec, TokenError};
use gatehouse_domain::{AccessClaims, Amr, Scopes, ServiceAccountId, ServiceClaims, SessionId, UserId, Username};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The media type every Gatehouse access token declares (RFC 9068).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// Headers that would let a token choose its own verification key, or
/// demand extensions we do not implement.
const FORBIDDEN_HEADERS: [&str; 5] = ["crit", "jwk", "jku", "x5u", "x5c"];

/// Shortest HS256 secret accepted, in bytes.
pub const MIN_HMAC_SECRET_BYTES: usize = 32;

/// Key material the codec signs or verifies with.
#[derive(Debug, Clone)]
pub enum SigningKey {
    /// An Ed25519 private key as PKCS#8 DER (see [`crate::key_file`]).
    Ed25519 { pkcs8_der: Vec<u8> },
    /// A shared HS256 secret of at least 32 bytes.
    Hs256 { secret: SecretString },
}

/// Where a key stands in a rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum KeyState {
    /// Signs new tokens; exactly one key is current.
    Current,
    /// Published and verifying, not signing yet: verifiers that cache the
    /// JWKS learn it before it signs anything.
    Next,
    /// Published and verifying until the tokens it signed have expired.
    Retired,
}

/// Why a key set was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the HS256 secret must be at least {MIN_HMAC_SECRET_BYTES} bytes")]
    SecretTooShort,
    #[error("not a valid Ed25519 PKCS#8 key")]
    InvalidEd25519,
    #[error("exactly one key must be current, found {0}")]
    CurrentKeys(usize),
    #[error("every key must use the same algorithm")]
    MixedAlgorithms,
    #[error("two keys have the same kid {0}")]
    DuplicateKid(String),
}

struct VerifyingKey {
    key: DecodingKey,
    state: KeyState,
    published: Option<PublishedKey>,
}

/// One key's parts.
struct Parts {
    algorithm: Algorithm,
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    published: Option<PublishedKey>,
}

/// The jsonwebtoken adapter of [`TokenCodec`].
pub struct JwtCodec {
    algorithm: Algorithm,
    kid: String,
    encoding: EncodingKey,
    verifying: HashMap<String, VerifyingKey>,
    validation: Validation,
}

impl std::fmt::Debug for JwtCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtCodec").field("algorithm", &self.algorithm).field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl JwtCodec {
    /// A codec that signs and verifies with one key.
    ///
    /// # Errors
    /// [`KeyError`] when the key is unusable.
    pub fn new(key: &SigningKey) -> Result<Self, KeyError> {
        Self::with_keys(&[(key.clone(), KeyState::Current)])
    }

    /// A codec over a key rotation: signs with the one `Current` key and
    /// verifies with every key (`Next` and `Retired` included), all of which
    /// are published in the JWKS.
    ///
    /// # Errors
    /// [`KeyError`] for an unusable key, no or several current keys, mixed
    /// algorithms or a repeated kid.
    pub fn with_keys(keys: &[(SigningKey, KeyState)]) -> Result<Self, KeyError> {
        let current = keys.iter().filter(|(_, state)| *state == KeyState::Current).count();
        if current != 1 {
            return Err(KeyError::CurrentKeys(current));
        }
        let mut signing = None;
        let mut verifying = HashMap::new();
        let mut algorithm = None;
        for (key, state) in keys {
            let parts = parts(key)?;
            if *algorithm.get_or_insert(parts.algorithm) != parts.algorithm {
                return Err(KeyError::MixedAlgorithms);
            }
            if verifying.contains_key(&parts.kid) {
                return Err(KeyError::DuplicateKid(parts.kid));
            }
            if *state == KeyState::Current {
                signing = Some((parts.kid.clone(), parts.encoding));
            }
            verifying
                .insert(parts.kid, VerifyingKey { key: parts.decoding, state: *state, published: parts.published });
        }
        let (Some((kid, encoding)), Some(algorithm)) = (signing, algorithm) else {
            return Err(KeyError::CurrentKeys(0));
        };
        let mut validation = Validation::new(algorithm);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.leeway = 0;
        validation.required_spec_claims.clear();
        Ok(Self { algorithm, kid, encoding, verifying, validation })
    }

    /// The key id of the signing key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    fn check_header(&self, token: &str) -> Result<&VerifyingKey, TokenError> {
        let encoded = token.split('.').next().ok_or(TokenError::Invalid)?;
        let raw = URL_SAFE_NO_PAD.decode(encoded).map_err(|_| TokenError::Invalid)?;
        let header: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&raw).map_err(|_| TokenError::Invalid)?;
        if FORBIDDEN_HEADERS.iter().any(|name| header.contains_key(*name)) {
            return Err(TokenError::Invalid);
        }
        let typ = header.get("typ").and_then(serde_json::Value::as_str).ok_or(TokenError::Invalid)?;
        let typ = typ.strip_prefix("application/").unwrap_or(typ);
        if !typ.eq_ignore_ascii_case(ACCESS_TOKEN_TYP) {
            return Err(TokenError::Invalid);
        }
        let kid = header.get("kid").and_then(serde_json::Value::as_str).ok_or(TokenError::Invalid)?;
        self.verifying.get(kid).ok_or(TokenError::Invalid)
    }
}

fn parts(key: &SigningKey) -> Result<Parts, KeyError> {
    Ok(match key {
        SigningKey::Ed25519 { pkcs8_der } => {
            let pair = Ed25519KeyPair::from_pkcs8(pkcs8_der).map_err(|_| KeyError::InvalidEd25519)?;
            let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
            // RFC 7638 thumbprint: members in lexicographic order, no spaces.
            let thumbprint = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
            let kid = URL_SAFE_NO_PAD.encode(digest(&SHA256, thumbprint.as_bytes()));
            let decoding = DecodingKey::from_ed_components(&x).map_err(|_| KeyError::InvalidEd25519)?;
            let published =
                PublishedKey { kid: kid.clone(), alg: "EdDSA".into(), kty: "OKP".into(), crv: "Ed25519".into(), x };
            Parts {
                algorithm: Algorithm::EdDSA,
                kid,
                encoding: EncodingKey::from_ed_der(pkcs8_der),
                decoding,
                published: Some(published),
            }
        }
        SigningKey::Hs256 { secret } => {
            let bytes = secret.expose_secret().as_bytes();
            if bytes.len() < MIN_HMAC_SECRET_BYTES {
                return Err(KeyError::SecretTooShort);
            }
            // A short, non-reversible name for the secret, so that a
            // changed secret shows up as an unknown kid.
            let kid = format!("hs256-{}", &URL_SAFE_NO_PAD.encode(digest(&SHA256, bytes))[..11]);
            Parts {
                algorithm: Algorithm::HS256,
                kid,
                encoding: EncodingKey::from_secret(bytes),
                decoding: DecodingKey::from_secret(bytes),
                published: None,
            }
        }
    })
}

/// The wire form of [`AccessClaims`]. Every field is required: a token
/// missing any of them fails to decode.
#[derive(Serialize, Deserialize)]
struct WireClaims {
    iss: String,
    aud: String,
    sub: Uuid,
    exp: i64,
    iat: i64,
    nbf: i64,
    jti: Uuid,
    sid: Uuid,
    role: String,
    username: String,
    auth_time: i64,
    amr: Vec<String>,
}

impl From<&AccessClaims> for WireClaims {
    fn from(c: &AccessClaims) -> Self {
        Self {
            iss: c.iss.clone(),
            aud: c.aud.clone(),
            sub: c.sub.as_uuid(),
            exp: c.exp,
            iat: c.iat,
            nbf: c.nbf,
            jti: c.jti,
            sid: c.sid.as_uuid(),
            role: c.role.as_str().into(),
            username: c.username.as_str().into(),
            auth_time: c.auth_time,
            amr: c.amr.values().to_vec(),
        }
    }
}

impl TryFrom<WireClaims> for AccessClaims {
    type Error = TokenError;

    fn try_from(w: WireClaims) -> Result<Self, TokenError> {
        let username = Username::parse(&w.username).map_err(|_| TokenError::Invalid)?;
        if username.as_str() != w.username {
            return Err(TokenError::Invalid);
        }
        Ok(Self {
            iss: w.iss,
            aud: w.aud,
            sub: UserId::from_uuid(w.sub),
            exp: w.exp,
            iat: w.iat,
            nbf: w.nbf,
            jti: w.jti,
            sid: SessionId::from_uuid(w.sid),
            role: w.role.parse().map_err(|_| TokenError::Invalid)?,
            username,
            auth_time: w.auth_time,
            amr: Amr::from_values(w.amr),
        })
    }
}

/// A service token on the wire. The user claims are read only to refuse a
/// token that carries them.
#[derive(Serialize, Deserialize)]
struct WireServiceClaims {
    iss: String,
    aud: String,
    sub: Uuid,
    client_id: String,
    scope: String,
    exp: i64,
    iat: i64,
    nbf: i64,
    jti: Uuid,
    #[serde(default, skip_serializing)]
    sid: Option<serde_json::Value>,
    #[serde(default, skip_serializing)]
    role: Option<serde_json::Value>,
    #[serde(default, skip_serializing)]
    username: Option<serde_json::Value>,
}

impl From<&ServiceClaims> for WireServiceClaims {
    fn from(c: &ServiceClaims) -> Self {
        Self {
            iss: c.iss.clone(),
            aud: c.aud.clone(),
            sub: c.sub.as_uuid(),
            client_id: c.client_id.clone(),
            scope: c.scope.to_string(),
            exp: c.exp,
            iat: c.iat,
            nbf: c.nbf,
            jti: c.jti,
            sid: None,
            role: None,
            username: None,
        }
    }
}

impl TryFrom<WireServiceClaims> for ServiceClaims {
    type Error = TokenError;

    fn try_from(w: WireServiceClaims) -> Result<Self, TokenError> {
        if w.sid.is_some() || w.role.is_some() || w.username.is_some() {
            return Err(TokenError::Invalid);
        }
        Ok(Self {
            iss: w.iss,
            aud: w.aud,
            sub: ServiceAccountId::from_uuid(w.sub),
            client_id: w.client_id,
            scope: Scopes::parse(&w.scope).map_err(|_| TokenError::Invalid)?,
            exp: w.exp,
            iat: w.iat,
            nbf: w.nbf,
            jti: w.jti,
        })
    }
}

impl JwtCodec {
    fn sign_wire<T: Serialize>(&self, claims: &T) -> Result<String, TokenError> {
        let mut header = Header::new(self.algorithm);
        header.typ = Some(ACCESS_TOKEN_TYP.into());
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).map_err(|e| TokenError::Internal(e.to_string()))
    }

    fn verify_wire<T: serde::de::DeserializeOwned>(&self, token: &str) -> Result<T, TokenError> {
        let key = self.check_header(token)?;
        let data = jsonwebtoken::decode::<T>(token, &key.key, &self.validation).map_err(|_| TokenError::Invalid)?;
        Ok(data.claims)
    }
}

impl TokenCodec for JwtCodec {
    fn sign(&self, claims: &AccessClaims) -> Result<String, TokenError> {
        self.sign_wire(&WireClaims::from(claims))
    }

    fn verify(&self, token: &str) -> Result<AccessClaims, TokenError> {
        self.verify_wire::<WireClaims>(token)?.try_into()
    }

    fn sign_service(&self, claims: &ServiceClaims) -> Result<String, TokenError> {
        self.sign_wire(&WireServiceClaims::from(claims))
    }

    fn verify_service(&self, token: &str) -> Result<ServiceClaims, TokenError> {
        self.verify_wire::<WireServiceClaims>(token)?.try_into()
    }

    fn published_keys(&self) -> Vec<PublishedKey> {
        let mut keys: Vec<&VerifyingKey> = self.verifying.values().collect();
        keys.sort_by_key(|k| k.state);
        keys.into_iter().filter_map(|k| k.published.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::{rand::SystemRandom, signature::Ed25519KeyPair};
    use gatehouse_domain::{Role, Scope};

    use super::*;

    fn codec() -> JwtCodec {
        let der = Ed25519KeyPair::generate_pkcs8v1(&SystemRandom::new()).unwrap();
        JwtCodec::new(&SigningKey::Ed25519 { pkcs8_der: der.as_ref().to_vec() }).unwrap()
    }

    fn user_claims() -> AccessClaims {
        AccessClaims {
            iss: "gatehouse".into(),
            aud: "gatehouse".into(),
            sub: UserId::from_uuid(Uuid::from_u128(1)),
            exp: 2_000_000_900,
            iat: 2_000_000_000,
            nbf: 2_000_000_000,
            jti: Uuid::from_u128(2),
            sid: SessionId::from_uuid(Uuid::from_u128(3)),
            role: Role::Admin,
            username: Username::parse("alice").unwrap(),
            auth_time: 2_000_000_000,
            amr: Amr::password(),
        }
    }

    fn service_claims() -> ServiceClaims {
        ServiceClaims {
            iss: "gatehouse".into(),
            aud: "gatehouse".into(),
            sub: ServiceAccountId::from_uuid(Uuid::from_u128(4)),
            client_id: "svc_0123".into(),
            scope: Scopes::new([Scope::UsersRead, Scope::Introspect]),
            exp: 2_000_000_900,
            iat: 2_000_000_000,
            nbf: 2_000_000_000,
            jti: Uuid::from_u128(5),
        }
    }

    #[test]
    fn a_service_token_round_trips_with_its_client_and_scope() {
        let codec = codec();
        let token = codec.sign_service(&service_claims()).unwrap();
        assert_eq!(codec.verify_service(&token).unwrap(), service_claims());
    }

    #[test]
    fn a_user_token_never_passes_as_a_service_token() {
        let codec = codec();
        let token = codec.sign(&user_claims()).unwrap();
        assert_eq!(codec.verify_service(&token), Err(TokenError::Invalid));
    }

    #[test]
    fn a_service_token_never_passes_as_a_user_token() {
        let codec = codec();
        let token = codec.sign_service(&service_claims()).unwrap();
        assert_eq!(codec.verify(&token), Err(TokenError::Invalid));
    }

    #[test]
    fn a_service_token_that_also_carries_user_claims_is_refused() {
        #[derive(Serialize)]
        struct Both {
            #[serde(flatten)]
            service: WireServiceClaims,
            sid: Uuid,
            role: &'static str,
            username: &'static str,
        }
        let codec = codec();
        let token = codec
            .sign_wire(&Both {
                service: WireServiceClaims::from(&service_claims()),
                sid: Uuid::from_u128(3),
                role: "admin",
                username: "alice",
            })
            .unwrap();
        assert_eq!(codec.verify_service(&token), Err(TokenError::Invalid));
    }
}
