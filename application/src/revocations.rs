//! The in-process list of revoked sessions that every authenticated request
//! consults, and the feed that keeps it in step with the store.
//!
//! Authenticating a request must not cost a database round trip, yet a
//! logout must stop the access token at once here and within a second on
//! every other instance. So each instance keeps the revocations that still
//! matter (those younger than an access token's lifetime, see
//! [`gatehouse_domain::TokenPolicy::revocation_relevant_until`]) in memory:
//! it adds its own revocations as it makes them, loads the recent ones at
//! start-up (a restart forgets nothing), and polls the store's revocation
//! feed for the others' ([`Gatehouse::sync_revocations`]). The set stays
//! small: only the revocations of the last ~16 minutes.

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError, RwLock},
};

use gatehouse_domain::{Revocation, SessionId};
use time::{Duration, OffsetDateTime};

use crate::{
    Adapters, Gatehouse,
    ports::{Clock, LoginThrottle, MfaStore, SessionStore, StoreError},
};

/// How far back each poll looks again, beyond the previous poll's start:
/// covers clock skew between instances and transactions that commit after
/// a later one.
pub const FEED_OVERLAP: Duration = Duration::seconds(5);

/// Revoked sessions that still matter, by id, with when they stop mattering.
#[derive(Debug, Default)]
pub struct RevocationList {
    revoked: RwLock<HashMap<SessionId, OffsetDateTime>>,
    /// Start of the last successful poll; `None` before the first.
    synced_at: Mutex<Option<OffsetDateTime>>,
}

impl RevocationList {
    /// Whether `session` is known to be revoked.
    pub fn is_revoked(&self, session: SessionId) -> bool {
        self.revoked.read().unwrap_or_else(PoisonError::into_inner).contains_key(&session)
    }

    /// Adds revocations (duplicates are harmless).
    pub fn extend(&self, revocations: &[Revocation]) {
        if revocations.is_empty() {
            return;
        }
        let mut revoked = self.revoked.write().unwrap_or_else(PoisonError::into_inner);
        for r in revocations {
            revoked.insert(r.session_id, r.relevant_until);
        }
    }

    /// Forgets revocations that no longer matter at `now`.
    pub fn prune(&self, now: OffsetDateTime) {
        self.revoked.write().unwrap_or_else(PoisonError::into_inner).retain(|_, until| *until > now);
    }

    /// How many revocations are held.
    pub fn len(&self) -> usize {
        self.revoked.read().unwrap_or_else(PoisonError::into_inner).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<A: Adapters> Gatehouse<A> {
    /// One poll of the revocation feed: loads every revocation recorded
    /// since the previous poll (minus [`FEED_OVERLAP`]; at the first call,
    /// every one still relevant) and drops those that stopped mattering.
    ///
    /// # Errors
    /// [`StoreError`]; the list keeps what it had and the next poll retries.
    pub async fn sync_revocations(&self) -> Result<usize, StoreError> {
        let started = self.clock.now();
        let last = *self.revocations.synced_at.lock().unwrap_or_else(PoisonError::into_inner);
        let since = match last {
            Some(last) => last - FEED_OVERLAP,
            None => started - self.policy.access_ttl - self.policy.leeway - FEED_OVERLAP,
        };
        let found = self.sessions.revocations_since(since, started).await?;
        self.revocations.extend(&found);
        self.revocations.prune(started);
        *self.revocations.synced_at.lock().unwrap_or_else(PoisonError::into_inner) = Some(started);
        Ok(found.len())
    }

    /// Deletes expired sessions, sessions revoked more than a refresh grace
    /// interval ago, and revocation records that no longer matter.
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn purge_sessions(&self) -> Result<u64, StoreError> {
        let now = self.clock.now();
        let purged = self.sessions.purge(now, now - self.policy.refresh_reuse_grace).await?;
        if purged > 0 {
            tracing::info!(purged, "purged ended sessions");
        }
        Ok(purged)
    }

    /// Deletes login-throttle windows that have closed.
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn purge_throttle(&self) -> Result<u64, StoreError> {
        let purged = self.throttle.purge(self.clock.now()).await?;
        if purged > 0 {
            tracing::debug!(purged, "purged closed login-throttle windows");
        }
        Ok(purged)
    }

    /// Deletes expired MFA challenges and TOTP secrets left unconfirmed
    /// for a day.
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn purge_mfa(&self) -> Result<u64, StoreError> {
        let now = self.clock.now();
        let purged = self.mfa.purge(now, now - crate::mfa::PENDING_TOTP_TTL).await?;
        if purged > 0 {
            tracing::debug!(purged, "purged expired MFA challenges and unconfirmed TOTP secrets");
        }
        Ok(purged)
    }
}
