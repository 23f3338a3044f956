//! Password policy (NIST SP 800-63B style: length and a deny-list, no
//! composition rules) and the stored hash type.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

/// Shortest accepted password, in Unicode scalar values.
pub const MIN_LEN: usize = 8;
/// Longest accepted password, in Unicode scalar values.
pub const MAX_LEN: usize = 256;

/// A password that passed the policy and may be hashed and stored.
///
/// The plaintext stays in a [`SecretString`]: it has no `Display` and its
/// `Debug` is redacted.
#[derive(Debug)]
pub struct NewPassword(SecretString);

/// The rule a new password breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PasswordRule {
    #[error("must be at least {min} characters")]
    TooShort { min: usize },
    #[error("must be at most {max} characters")]
    TooLong { max: usize },
    #[error("must not be the same as the username")]
    EqualsUsername,
    #[error("is too common; choose a less predictable password")]
    Common,
}

impl PasswordRule {
    /// Stable machine-readable code for API clients.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooShort { .. } => "too_short",
            Self::TooLong { .. } => "too_long",
            Self::EqualsUsername => "equals_username",
            Self::Common => "weak_password",
        }
    }
}

impl NewPassword {
    /// Checks a candidate password against the policy.
    ///
    /// `username` is the raw username the password belongs to (compared
    /// case-insensitively after trimming), when it is known.
    ///
    /// # Errors
    /// The first [`PasswordRule`] the candidate breaks.
    pub fn parse(candidate: SecretString, username: Option<&str>) -> Result<Self, PasswordRule> {
        check(candidate.expose_secret(), username)?;
        Ok(Self(candidate))
    }

    /// The plaintext, for the hasher only.
    pub fn into_secret(self) -> SecretString {
        self.0
    }
}

fn check(candidate: &str, username: Option<&str>) -> Result<(), PasswordRule> {
    let len = candidate.chars().count();
    if len < MIN_LEN {
        return Err(PasswordRule::TooShort { min: MIN_LEN });
    }
    if len > MAX_LEN {
        return Err(PasswordRule::TooLong { max: MAX_LEN });
    }
    if let Some(username) = username {
        let username = username.trim();
        if candidate.trim().eq_ignore_ascii_case(username) {
            return Err(PasswordRule::EqualsUsername);
        }
    }
    if is_common(candidate) {
        return Err(PasswordRule::Common);
    }
    Ok(())
}

/// Whether `candidate` is on the deny-list of commonly used passwords
/// (about 100,000 entries compiled into the binary by the `passwords`
/// crate), compared as typed and in lower case so that `Password1` is
/// caught as well as `password1`.
pub fn is_common(candidate: &str) -> bool {
    passwords::analyzer::is_common_password(candidate)
        || passwords::analyzer::is_common_password(candidate.to_lowercase())
}

/// A stored password hash in PHC string format. It is not a secret in the
/// way a password is, but it must never reach a log or an error body, so it
/// has no `Display` and its `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a PHC string produced by a hasher or read from a store.
    pub fn new(phc: String) -> Self {
        Self(phc)
    }

    /// The PHC string, for the hasher and the stores.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(candidate: &str, username: &str) -> Result<NewPassword, PasswordRule> {
        NewPassword::parse(SecretString::from(candidate.to_owned()), Some(username))
    }

    #[test]
    fn passwords_shorter_than_eight_characters_are_refused() {
        assert_eq!(parse("x7#kq9!", "alice").err(), Some(PasswordRule::TooShort { min: 8 }));
        assert!(parse("x7#kq9!m", "alice").is_ok());
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        // Seven characters, but 21 bytes.
        assert_eq!(parse("ééééééé", "alice").err(), Some(PasswordRule::TooShort { min: 8 }));
        assert!(parse("日本語のパスワード", "alice").is_ok());
    }

    #[test]
    fn passwords_longer_than_256_characters_are_refused() {
        let at_limit = "a1b2c3d4".repeat(32);
        assert!(parse(&at_limit, "alice").is_ok());
        assert_eq!(parse(&format!("{at_limit}x"), "alice").err(), Some(PasswordRule::TooLong { max: 256 }));
    }

    #[test]
    fn a_password_equal_to_the_username_is_refused_in_any_case() {
        assert_eq!(parse("AliceSmith", "alicesmith").err(), Some(PasswordRule::EqualsUsername));
        assert_eq!(parse("alicesmith", " AliceSmith ").err(), Some(PasswordRule::EqualsUsername));
    }

    #[test]
    fn commonly_used_passwords_are_refused() {
        for common in ["password", "12345678", "qwertyui", "iloveyou", "Password1", "PASSWORD"] {
            assert_eq!(parse(common, "alice").err(), Some(PasswordRule::Common), "{common}");
        }
    }

    #[test]
    fn the_deny_list_holds_at_least_ten_thousand_passwords() {
        // A sample from deep in the list shows it is not a handful of entries.
        for common in ["sunshine", "trustno1", "football1", "qwerty123", "letmein1", "princess1"] {
            assert!(is_common(common), "{common}");
        }
    }

    #[test]
    fn there_are_no_composition_rules() {
        assert!(parse("correct horse battery staple", "alice").is_ok());
        assert!(parse("zqxwvrtplmnb", "alice").is_ok());
    }

    #[test]
    fn a_password_hash_never_shows_in_debug_output() {
        let hash = PasswordHash::new("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into());
        assert_eq!(format!("{hash:?}"), "PasswordHash(<redacted>)");
    }
}
