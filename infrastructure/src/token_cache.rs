//! [`VerifiedTokenCache`] over moka: bounded, keyed by the SHA-256 of the
//! token, with TinyLFU admission (a flood of distinct one-shot or garbage
//! tokens cannot push out the tokens in use: an entry must be asked for
//! more often than the one it would evict). [`VerifiedClientCache`] the
//! same way, keyed by client id.

use std::{sync::Arc, time::Duration};

use aws_lc_rs::digest::{SHA256, digest};
use gatehouse_application::ports::{VerifiedClientCache, VerifiedTokenCache};
use gatehouse_domain::{AccessClaims, Digest, ServiceAccount};
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

/// Clients that presented their current secret within `ttl` (at most one
/// second in production), at most `capacity` of them. Clones share the
/// entries.
#[derive(Clone)]
pub struct MokaClientCache {
    entries: Cache<String, Arc<ServiceAccount>>,
}

impl std::fmt::Debug for MokaClientCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MokaClientCache").field("entries", &self.entries.entry_count()).finish()
    }
}

impl MokaClientCache {
    /// Clients remembered at most: more than any deployment has.
    pub const CAPACITY: u64 = 10_000;

    pub fn new(capacity: u64, ttl: Duration) -> Self {
        Self { entries: Cache::builder().max_capacity(capacity).time_to_live(ttl).build() }
    }
}

impl VerifiedClientCache for MokaClientCache {
    fn get(&self, client_id: &str, secret: &Digest) -> Option<ServiceAccount> {
        // Digests of 256-bit secrets: comparing them leaks nothing.
        self.entries.get(client_id).filter(|account| account.secret_hash == *secret).map(|account| (*account).clone())
    }

    fn insert(&self, account: &ServiceAccount) {
        self.entries.insert(account.client_id.clone(), Arc::new(account.clone()));
    }

    fn forget(&self, client_id: &str) {
        self.entries.invalidate(client_id);
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

    fn account(secret: u8) -> ServiceAccount {
        ServiceAccount {
            id: gatehouse_domain::ServiceAccountId::from_uuid(Uuid::from_u128(7)),
            name: gatehouse_domain::ServiceName::parse("billing-sync").unwrap(),
            client_id: "gh_client".into(),
            secret_hash: Digest([secret; 32]),
            scopes: gatehouse_domain::Scopes::parse("introspect").unwrap(),
            created_at: time::OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_client_is_found_only_with_the_secret_it_was_cached_with() {
        let cache = MokaClientCache::new(10, Duration::from_secs(1));
        cache.insert(&account(1));
        assert_eq!(cache.get("gh_client", &Digest([1; 32])), Some(account(1)));
        assert_eq!(cache.get("gh_client", &Digest([2; 32])), None, "a wrong secret is a miss");
        assert_eq!(cache.get("gh_client", &Digest([1; 32])), Some(account(1)), "and does not evict the entry");
        assert_eq!(cache.get("gh_other", &Digest([1; 32])), None);
    }

    #[test]
    fn a_forgotten_client_is_gone_and_entries_expire_after_the_ttl() {
        let cache = MokaClientCache::new(10, Duration::from_millis(50));
        cache.insert(&account(1));
        cache.forget("gh_client");
        assert_eq!(cache.get("gh_client", &Digest([1; 32])), None);
        cache.insert(&account(1));
        std::thread::sleep(Duration::from_millis(120));
        assert_eq!(cache.get("gh_client", &Digest([1; 32])), None);
    }

    #[test]
    fn entries_expire_after_the_ttl() {
        let cache = MokaTokenCache::new(10, Duration::from_millis(50));
        cache.insert("t", &claims(1));
        std::thread::sleep(Duration::from_millis(120));
        assert_eq!(cache.get("t"), None);
    }
}
