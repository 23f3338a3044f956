//! Opaque refresh tokens: 256 random bits, stored only as a SHA-256 digest.

use aws_lc_rs::{
    digest::{SHA256, digest},
    rand::{SecureRandom, SystemRandom},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use gatehouse_application::ports::{IssuedRefreshToken, RefreshTokens};
use secrecy::SecretString;

/// Refresh tokens from the operating system's CSPRNG. A SHA-256 digest is
/// enough for storage (no salt, no stretching): the token has 256 bits of
/// entropy, so the digest cannot be reversed by guessing.
#[derive(Debug, Default)]
pub struct RandomRefreshTokens {
    rng: SystemRandom,
}

impl RefreshTokens for RandomRefreshTokens {
    fn issue(&self) -> IssuedRefreshToken {
        let mut bytes = [0u8; 32];
        // The system RNG only fails if the OS has no entropy source at all;
        // retrying is all that can be done, and it does not happen on Linux.
        while self.rng.fill(&mut bytes).is_err() {}
        let token = URL_SAFE_NO_PAD.encode(bytes);
        let digest = self.digest(&token);
        IssuedRefreshToken { token: SecretString::from(token), digest }
    }

    fn digest(&self, token: &str) -> String {
        URL_SAFE_NO_PAD.encode(digest(&SHA256, token.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn each_refresh_token_is_new_and_only_its_digest_matches() {
        let tokens = RandomRefreshTokens::default();
        let a = tokens.issue();
        let b = tokens.issue();
        assert_ne!(a.token.expose_secret(), b.token.expose_secret());
        assert_eq!(tokens.digest(a.token.expose_secret()), a.digest);
        assert_ne!(a.digest, a.token.expose_secret());
        assert_eq!(a.token.expose_secret().len(), 43);
    }
}
