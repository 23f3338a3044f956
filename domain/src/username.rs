//! `Username`: the canonical, validated account name.

use std::fmt;

/// Shortest accepted username, in characters.
pub const MIN_LEN: usize = 3;
/// Longest accepted username, in characters.
pub const MAX_LEN: usize = 64;

/// A username that satisfies the contract: trimmed, 3 to 64 characters of
/// `A-Z a-z 0-9 . _ - @ +`, stored in lower case so that uniqueness is
/// case-insensitive on every database.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Username(String);

/// Why a raw string is not a username.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    #[error("must be at least {min} characters")]
    TooShort { min: usize },
    #[error("must be at most {max} characters")]
    TooLong { max: usize },
    #[error("may only contain letters A-Z, digits and . _ - @ +")]
    InvalidCharacter,
}

impl UsernameError {
    /// Stable machine-readable code for API clients.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooShort { .. } => "too_short",
            Self::TooLong { .. } => "too_long",
            Self::InvalidCharacter => "invalid_characters",
        }
    }
}

impl Username {
    /// Parses user input: trims surrounding white space, checks length and
    /// alphabet, and lower-cases the result.
    ///
    /// # Errors
    /// [`UsernameError`] naming the first rule the input breaks.
    pub fn parse(raw: &str) -> Result<Self, UsernameError> {
        let trimmed = raw.trim();
        if !trimmed.chars().all(is_allowed) {
            return Err(UsernameError::InvalidCharacter);
        }
        // Only ASCII is allowed, so bytes are characters from here on.
        let len = trimmed.len();
        if len < MIN_LEN {
            return Err(UsernameError::TooShort { min: MIN_LEN });
        }
        if len > MAX_LEN {
            return Err(UsernameError::TooLong { max: MAX_LEN });
        }
        Ok(Self(trimmed.to_ascii_lowercase()))
    }

    /// The canonical (lower-case) form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+')
}

impl AsRef<str> for Username {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_trimmed_and_lower_cased() {
        let name = Username::parse("  Alice.Smith@Example+1 ").ok();
        assert_eq!(name.as_ref().map(Username::as_str), Some("alice.smith@example+1"));
    }

    #[test]
    fn usernames_shorter_than_three_characters_are_refused() {
        assert_eq!(Username::parse("ab"), Err(UsernameError::TooShort { min: 3 }));
        assert_eq!(Username::parse("   ab  "), Err(UsernameError::TooShort { min: 3 }));
        assert!(Username::parse("abc").is_ok());
    }

    #[test]
    fn usernames_longer_than_sixty_four_characters_are_refused() {
        assert!(Username::parse(&"a".repeat(64)).is_ok());
        assert_eq!(Username::parse(&"a".repeat(65)), Err(UsernameError::TooLong { max: 64 }));
    }

    #[test]
    fn usernames_outside_the_allowed_alphabet_are_refused() {
        for raw in ["al ice", "alice!", "ålice", "alice\u{0}", "al/ice", "<script>"] {
            assert_eq!(Username::parse(raw), Err(UsernameError::InvalidCharacter), "{raw:?}");
        }
    }

    #[test]
    fn an_empty_username_is_too_short() {
        assert_eq!(Username::parse(""), Err(UsernameError::TooShort { min: 3 }));
    }

    #[test]
    fn two_spellings_of_one_name_are_the_same_username() {
        assert_eq!(Username::parse("ALICE"), Username::parse("alice"));
    }
}
