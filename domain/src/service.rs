//! Service accounts: non-human clients that get access tokens with the
//! OAuth 2.0 client-credentials grant, limited to scopes.
//!
//! A client authenticates with a `client_id` and a `client_secret`. The
//! secret is 256 random bits behind a fixed prefix (`gatehouse_cs_`) that
//! secret scanners can match; only its SHA-256 digest is stored (a
//! high-entropy secret needs no slow hash). Ids and secrets use only
//! `A-Z a-z 0-9 - _`, so the form-encoding inside HTTP Basic changes
//! nothing.

use std::fmt;

use data_encoding::{BASE64URL_NOPAD, HEXLOWER};
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Digest;

/// The prefix of every client secret, for secret scanners.
pub const CLIENT_SECRET_PREFIX: &str = "gatehouse_cs_";
/// Random bytes of a client secret (256 bits).
pub const CLIENT_SECRET_RANDOM_BYTES: usize = 32;
/// The prefix of every client id.
pub const CLIENT_ID_PREFIX: &str = "svc_";
/// Random bytes of a client id.
pub const CLIENT_ID_RANDOM_BYTES: usize = 12;

/// A service account's stable identifier (the `sub` of its tokens).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceAccountId(Uuid);

impl ServiceAccountId {
    pub fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for ServiceAccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What a service token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// `GET /admin/users*`.
    UsersRead,
    /// `PATCH` and `DELETE /admin/users/{id}`, `DELETE /admin/users/{id}/mfa`.
    UsersWrite,
    /// `GET /admin/audit`.
    AuditRead,
    /// `POST /oauth/introspect`.
    Introspect,
}

/// Every scope, in the order metadata lists them.
pub const ALL_SCOPES: [Scope; 4] = [Scope::UsersRead, Scope::UsersWrite, Scope::AuditRead, Scope::Introspect];

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UsersRead => "users:read",
            Self::UsersWrite => "users:write",
            Self::AuditRead => "audit:read",
            Self::Introspect => "introspect",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        ALL_SCOPES.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of scopes, kept sorted and without repeats.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Scopes(Vec<Scope>);

/// Why a scope list was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("unknown scope {0:?}")]
    Unknown(String),
    #[error("scope {0} is not granted to this client")]
    NotGranted(Scope),
}

impl Scopes {
    pub fn new(scopes: impl IntoIterator<Item = Scope>) -> Self {
        let mut scopes: Vec<Scope> = scopes.into_iter().collect();
        scopes.sort();
        scopes.dedup();
        Self(scopes)
    }

    /// A space-separated list (RFC 6749 section 3.3), as in a token
    /// request or a token's `scope` claim.
    ///
    /// # Errors
    /// [`ScopeError::Unknown`] for a name that is no scope.
    pub fn parse(text: &str) -> Result<Self, ScopeError> {
        text.split(' ')
            .filter(|s| !s.is_empty())
            .map(|s| Scope::parse(s).ok_or_else(|| ScopeError::Unknown(s.to_owned())))
            .collect::<Result<Vec<_>, _>>()
            .map(Self::new)
    }

    pub fn contains(&self, scope: Scope) -> bool {
        self.0.contains(&scope)
    }

    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().copied()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The scopes a token request gets: all of `self` when it names none,
    /// else the ones it names, each of which must be granted.
    ///
    /// # Errors
    /// [`ScopeError`] for an unknown or ungranted scope.
    pub fn narrow(&self, requested: Option<&str>) -> Result<Self, ScopeError> {
        let Some(requested) = requested.filter(|r| !r.trim().is_empty()) else { return Ok(self.clone()) };
        let requested = Self::parse(requested)?;
        let missing = requested.iter().find(|s| !self.contains(*s));
        match missing {
            Some(missing) => Err(ScopeError::NotGranted(missing)),
            None => Ok(requested),
        }
    }
}

impl fmt::Display for Scopes {
    /// Space-separated, as OAuth 2.0 writes them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|s| s.as_str()).collect();
        f.write_str(&names.join(" "))
    }
}

/// A client secret as handed out once: the prefix and 256 random bits,
/// base64url.
pub struct ClientSecret(SecretString);

impl ClientSecret {
    pub fn from_random(random: [u8; CLIENT_SECRET_RANDOM_BYTES]) -> Self {
        Self(SecretString::from(format!("{CLIENT_SECRET_PREFIX}{}", BASE64URL_NOPAD.encode(&random))))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(<redacted>)")
    }
}

/// A new client id: the prefix and 96 random bits, hex.
pub fn client_id_from_random(random: [u8; CLIENT_ID_RANDOM_BYTES]) -> String {
    format!("{CLIENT_ID_PREFIX}{}", HEXLOWER.encode(&random))
}

/// Whether `text` can be a client id or secret at all: 1 to 128 of
/// `A-Z a-z 0-9 - _`. Anything else is refused before any lookup.
pub fn is_client_credential(text: &str) -> bool {
    (1..=128).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A service account's name: 1 to 64 characters of `A-Z a-z 0-9 . _ -`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ServiceName(String);

impl ServiceName {
    /// # Errors
    /// A message for the client when the name breaks the rule.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let name = raw.trim();
        if name.is_empty() || name.len() > 64 {
            return Err("must be 1 to 64 characters");
        }
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) {
            return Err("may hold only letters, digits, '.', '_' and '-'");
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A non-human client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceAccount {
    pub id: ServiceAccountId,
    pub name: ServiceName,
    pub client_id: String,
    /// SHA-256 of the current client secret.
    pub secret_hash: Digest,
    pub scopes: Scopes,
    pub created_at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_space_separated_sorted_and_without_repeats() {
        let scopes = Scopes::parse("introspect users:read  introspect").unwrap();
        assert_eq!(scopes.to_string(), "users:read introspect");
        assert_eq!(Scopes::parse("users:read admin"), Err(ScopeError::Unknown("admin".into())));
        assert!(Scopes::parse("").unwrap().is_empty());
    }

    #[test]
    fn a_token_request_gets_all_granted_scopes_or_a_granted_subset() {
        let granted = Scopes::new([Scope::UsersRead, Scope::AuditRead]);
        assert_eq!(granted.narrow(None).unwrap(), granted);
        assert_eq!(granted.narrow(Some("  ")).unwrap(), granted);
        assert_eq!(granted.narrow(Some("audit:read")).unwrap(), Scopes::new([Scope::AuditRead]));
        assert_eq!(granted.narrow(Some("users:write")), Err(ScopeError::NotGranted(Scope::UsersWrite)));
        assert_eq!(granted.narrow(Some("root")), Err(ScopeError::Unknown("root".into())));
    }

    #[test]
    fn client_secrets_carry_the_prefix_and_256_bits_in_url_safe_characters() {
        let secret = ClientSecret::from_random([0xfb; 32]);
        assert!(secret.expose().starts_with("gatehouse_cs_"));
        assert_eq!(secret.expose().len(), "gatehouse_cs_".len() + 43);
        assert!(is_client_credential(secret.expose()));
        assert_eq!(format!("{secret:?}"), "ClientSecret(<redacted>)");
        let id = client_id_from_random([0xab; 12]);
        assert_eq!(id, "svc_abababababababababababab");
        assert!(is_client_credential(&id));
    }

    #[test]
    fn credentials_outside_the_safe_alphabet_are_refused() {
        for bad in ["", "a b", "a:b", "a%20", "é", &"x".repeat(129)] {
            assert!(!is_client_credential(bad), "{bad:?}");
        }
    }

    #[test]
    fn service_names_are_short_and_plain() {
        assert_eq!(ServiceName::parse(" billing-sync ").unwrap().as_str(), "billing-sync");
        assert!(ServiceName::parse("").is_err());
        assert!(ServiceName::parse("a b").is_err());
        assert!(ServiceName::parse(&"x".repeat(65)).is_err());
    }
}
