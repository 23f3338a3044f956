//! Passkeys (WebAuthn): the rules Gatehouse keeps around a relying-party
//! library: how long a ceremony lives and what it is for, what a stored
//! credential remembers, when a sign count shows a cloned authenticator,
//! and what a passkey may be called.
//!
//! Parsing attestation and assertion data (CBOR, COSE, signatures) belongs
//! to the library behind the application's `PasskeyRelyingParty` port.

use std::fmt;

use time::{Duration, OffsetDateTime};

use crate::UserId;

/// How long a ceremony (its challenge) can be finished.
pub const CEREMONY_TTL: Duration = Duration::seconds(300);
/// Random bytes of a ceremony id (256 bits).
pub const CEREMONY_ID_BYTES: usize = 32;
/// The longest passkey name, in characters.
pub const PASSKEY_NAME_MAX_CHARS: usize = 64;
/// The longest credential id Gatehouse stores, in base64url characters (191
/// bytes); authenticators in use produce 16 to 64 bytes.
pub const CREDENTIAL_ID_MAX_CHARS: usize = 255;

/// Whether a credential id (base64url) fits what Gatehouse stores. WebAuthn
/// allows ids up to 1023 bytes; longer than [`CREDENTIAL_ID_MAX_CHARS`] is
/// refused at registration, as the database column would refuse it.
pub fn credential_id_fits(credential_id: &str) -> bool {
    !credential_id.is_empty() && credential_id.len() <= CREDENTIAL_ID_MAX_CHARS
}

/// What a ceremony was started for; a ceremony finishes only as what it
/// started as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CeremonyPurpose {
    /// Adding a passkey to a signed-in user.
    Registration,
    /// Passwordless sign-in with a discoverable credential.
    SignIn,
    /// A passkey as the second step of a password login; the ceremony is
    /// named after the login's `mfa_token`.
    SecondFactor,
}

impl CeremonyPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Registration => "registration",
            Self::SignIn => "sign_in",
            Self::SecondFactor => "second_factor",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "registration" => Some(Self::Registration),
            "sign_in" => Some(Self::SignIn),
            "second_factor" => Some(Self::SecondFactor),
            _ => None,
        }
    }
}

/// A started ceremony: the relying party's state (its challenge) kept on
/// the server between start and finish, so that any instance sharing the
/// database can finish it, once.
#[derive(Clone, PartialEq, Eq)]
pub struct Ceremony {
    pub id: String,
    pub purpose: CeremonyPurpose,
    /// The user it is for; `None` for a passwordless sign-in, whose user is
    /// learnt from the credential.
    pub user_id: Option<UserId>,
    /// The relying-party library's state, opaque here.
    pub state: Vec<u8>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

impl Ceremony {
    /// A ceremony started at `now`, finishable for [`CEREMONY_TTL`].
    pub fn start(
        id: String,
        purpose: CeremonyPurpose,
        user_id: Option<UserId>,
        state: Vec<u8>,
        now: OffsetDateTime,
    ) -> Self {
        Self { id, purpose, user_id, state, created_at: now, expires_at: now + CEREMONY_TTL }
    }

    /// Whether it can still be finished at `now`.
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        now < self.expires_at
    }
}

impl fmt::Debug for Ceremony {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ceremony")
            .field("purpose", &self.purpose)
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// What a stored passkey remembers beside its sealed public key: the
/// authenticator's signature counter, the WebAuthn user handle it was
/// created for, and the transports the client reported.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PasskeyDetails {
    pub sign_count: u32,
    /// base64url, no padding.
    pub user_handle: String,
    /// As the client reported them (`internal`, `hybrid`, `usb`...).
    pub transports: Vec<String>,
}

/// Whether an assertion's signature counter may be accepted after `stored`
/// (WebAuthn Level 3, § 7.2 step 22): when either is non-zero, the new
/// count must be greater; a count that stands still or goes back means two
/// copies of the key are in use. Authenticators that keep no counter
/// (synced passkeys) report 0 every time, which is accepted while the
/// stored count is 0 as well.
pub fn sign_count_is_fresh(stored: u32, reported: u32) -> bool {
    (stored == 0 && reported == 0) || reported > stored
}

/// A passkey's name: what the user calls the device, trimmed, 1 to
/// [`PASSKEY_NAME_MAX_CHARS`] characters, no control characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasskeyName(String);

/// Why a passkey name was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PasskeyNameError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {PASSKEY_NAME_MAX_CHARS} characters")]
    TooLong,
    #[error("must not contain control characters")]
    ControlCharacter,
}

impl PasskeyName {
    pub fn parse(typed: &str) -> Result<Self, PasskeyNameError> {
        let name = typed.trim();
        if name.is_empty() {
            return Err(PasskeyNameError::Empty);
        }
        if name.chars().count() > PASSKEY_NAME_MAX_CHARS {
            return Err(PasskeyNameError::TooLong);
        }
        if name.chars().any(char::is_control) {
            return Err(PasskeyNameError::ControlCharacter);
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn a_counter_must_grow_once_either_side_counts() {
        assert!(sign_count_is_fresh(0, 0), "authenticators without a counter");
        assert!(sign_count_is_fresh(0, 1));
        assert!(sign_count_is_fresh(7, 8));
        assert!(!sign_count_is_fresh(7, 7), "a count that stands still");
        assert!(!sign_count_is_fresh(7, 3), "a count that goes back");
        assert!(!sign_count_is_fresh(7, 0), "a counter that stops counting");
    }

    #[test]
    fn credential_ids_longer_than_the_stored_column_are_refused() {
        assert!(credential_id_fits(&"A".repeat(43)), "32 bytes, as most authenticators make");
        assert!(credential_id_fits(&"A".repeat(CREDENTIAL_ID_MAX_CHARS)));
        assert!(!credential_id_fits(&"A".repeat(CREDENTIAL_ID_MAX_CHARS + 1)));
        assert!(!credential_id_fits(""));
    }

    #[test]
    fn a_ceremony_lives_five_minutes() {
        let start = datetime!(2026-12-04 10:00 UTC);
        let ceremony = Ceremony::start("c".into(), CeremonyPurpose::SignIn, None, vec![1], start);
        assert!(ceremony.is_live(start + Duration::seconds(299)));
        assert!(!ceremony.is_live(start + Duration::seconds(300)));
    }

    #[test]
    fn a_ceremony_hides_its_state_from_debug_output() {
        let ceremony = Ceremony::start(
            "secret-id".into(),
            CeremonyPurpose::Registration,
            None,
            vec![42],
            datetime!(2026-12-04 10:00 UTC),
        );
        let shown = format!("{ceremony:?}");
        assert!(!shown.contains("secret-id") && !shown.contains("42"), "{shown}");
    }

    #[test]
    fn purposes_round_trip_through_their_names() {
        for purpose in [CeremonyPurpose::Registration, CeremonyPurpose::SignIn, CeremonyPurpose::SecondFactor] {
            assert_eq!(CeremonyPurpose::parse(purpose.as_str()), Some(purpose));
        }
        assert_eq!(CeremonyPurpose::parse("login"), None);
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(PasskeyName::parse("  laptop ").map(PasskeyName::into_string), Ok("laptop".into()));
        assert_eq!(PasskeyName::parse("   "), Err(PasskeyNameError::Empty));
        assert_eq!(PasskeyName::parse(&"é".repeat(64)).map(|n| n.as_str().chars().count()), Ok(64));
        assert_eq!(PasskeyName::parse(&"k".repeat(65)), Err(PasskeyNameError::TooLong));
        assert_eq!(PasskeyName::parse("key\u{0}"), Err(PasskeyNameError::ControlCharacter));
    }
}
