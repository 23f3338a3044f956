//! [`VerifiedTokenCache`] over moka: bounded, keyed by the SHA-256 of the
//! token, with TinyLFU admission (a flood of distinct one-shot or garbage
//! tokens cannot push out the tokens in use: an entry must be asked for
//! more often than the one it would evict).

use std::{sync::Arc, time::Duration};

use aws_lc_rs::digest::{SHA256, digest};
use gatehouse_application::ports::VerifiedTokenCache;
use gatehouse_domain::AccessClaims;
use moka::sync::Cache;

/// Verified access tokens, at most `capacity` of them, each kept at most
/// `ttl` (the access-token lifetime plus the leeway: no entry can be of use
/// longer). Clones share the entries.
#[derive(Clone)]
pub struct MokaTokenCache {
    entries: Cache<[u8; 32], Arc<AccessClaims>>,
}

impl std::fmt::Debug for MokaTokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MokaTokenCache").field("entries", &self.entries.entry_count()).finish()
    }
}

impl MokaTokenCache {
    pub fn new(capacity: u64, ttl: Duration) -> Self {
        Self { entries: Cache::builder().max_capacity(capacity).time_to_live(ttl).build() }
    }

    /// How many tokens are held (after pending maintenance).
    pub fn entry_count(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.entry_count()
    }
}

fn key(token: &str) -> [u8; 32] {
    let mut key = [0u8; 32];
    key.copy_from_slice(digest(&SHA256, token.as_bytes()).as_ref());
    key
}

impl VerifiedTokenCache for MokaTokenCache {
    fn get(&self, token: &str) -> Option<AccessClaims> {
        self.entries.get(&key(token)).map(|claims| (*claims).clone())
    }

    fn insert(&self, token: &str, claims: &AccessClaims) {
        self.entries.insert(key(token), Arc::new(claims.clone()));
    }
}

#[cfg(test)]
mod tests {
    use gatehouse_domain::{Amr, Role, SessionId, UserId, Username};
    use uuid::Uuid;

    use super::*;

    fn claims(n: u128) -> AccessClaims {
        AccessClaims {
            iss: "gatehouse".into(),
            aud: "gatehouse".into(),
            sub: UserId::from_uuid(Uuid::from_u128(n)),
            exp: 2_000_000_900,
            iat: 2_000_000_000,
            nbf: 2_000_000_000,
            jti: Uuid::from_u128(n),
            sid: SessionId::from_uuid(Uuid::from_u128(n)),
            role: Role::User,
            username: Username::parse("alice").unwrap(),
            auth_time: 2_000_000_000,
            amr: Amr::password(),
        }
    }

    #[test]
    fn an_entry_is_found_only_by_the_exact_token() {
        let cache = MokaTokenCache::new(100, Duration::from_secs(60));
        cache.insert("header.payload.signature", &claims(1));
        assert_eq!(cache.get("header.payload.signature"), Some(claims(1)));
        assert_eq!(cache.get("header.payload.signaturf"), None);
        assert_eq!(cache.get("header.payload.signature "), None);
    }

    #[test]
    fn the_cache_stays_within_its_capacity_under_a_flood_of_distinct_tokens() {
        let cache = MokaTokenCache::new(50, Duration::from_secs(60));
        // A hot token, asked for often.
        cache.insert("hot", &claims(0));
        for _ in 0..20 {
            assert!(cache.get("hot").is_some());
        }
        for i in 1..5_000u128 {
            cache.insert(&format!("one-shot-{i}"), &claims(i));
        }
        assert!(cache.entry_count() <= 50, "{} entries", cache.entry_count());
        assert_eq!(cache.get("hot"), Some(claims(0)), "frequency-aware admission keeps the hot token");
    }

    #[test]
    fn entries_expire_after_the_ttl() {
        let cache = MokaTokenCache::new(10, Duration::from_millis(50));
        cache.insert("t", &claims(1));
        std::thread::sleep(Duration::from_millis(120));
        assert_eq!(cache.get("t"), None);
    }
}
