//! In-memory [`MfaStore`]: factors (passkeys among them), recovery codes,
//! pending TOTP secrets, login challenges and passkey ceremonies.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use gatehouse_application::ports::{AddFactorError, MfaStore, StoreError};
use gatehouse_domain::{AuditEvent, Ceremony, Digest, Factor, FactorId, FactorKind, MfaChallenge, PendingTotp, UserId};
use time::OffsetDateTime;

use super::{MemoryAuditLog, lock};

#[derive(Debug, Default)]
struct State {
    pending: HashMap<UserId, PendingTotp>,
    factors: Vec<Factor>,
    recovery_codes: HashMap<UserId, Vec<Digest>>,
    challenges: HashMap<Digest, MfaChallenge>,
    ceremonies: HashMap<String, Ceremony>,
}

/// Factors, recovery-code digests, pending secrets and challenges in maps;
/// clones share the data. Every operation holds one lock, which makes each
/// one atomic as the contract requires.
#[derive(Debug, Clone, Default)]
pub struct MemoryMfaStore {
    state: Arc<Mutex<State>>,
    audit: MemoryAuditLog,
}

impl MemoryMfaStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// A store that appends its audit events to `audit`.
    pub fn with_audit(audit: MemoryAuditLog) -> Self {
        Self { state: Arc::default(), audit }
    }

    fn record(&self, audit: Option<&AuditEvent>) {
        if let Some(event) = audit {
            self.audit.push(event);
        }
    }
}

impl MfaStore for MemoryMfaStore {
    async fn put_pending_totp(&self, pending: &PendingTotp) -> Result<(), StoreError> {
        lock(&self.state).pending.insert(pending.user_id, pending.clone());
        Ok(())
    }

    async fn pending_totp(&self, user: UserId) -> Result<Option<PendingTotp>, StoreError> {
        Ok(lock(&self.state).pending.get(&user).cloned())
    }

    async fn add_factor_audited(
        &self,
        factor: &Factor,
        recovery_codes: Option<&[Digest]>,
        audit: Option<&AuditEvent>,
    ) -> Result<(), AddFactorError> {
        let mut state = lock(&self.state);
        if state.factors.iter().any(|f| f.user_id == factor.user_id && f.slot == factor.slot) {
            return Err(AddFactorError::AlreadyRegistered);
        }
        state.factors.push(factor.clone());
        if factor.kind == FactorKind::Totp {
            state.pending.remove(&factor.user_id);
        }
        if let Some(codes) = recovery_codes {
            state.recovery_codes.insert(factor.user_id, codes.to_vec());
        }
        self.record(audit);
        Ok(())
    }

    async fn factors(&self, user: UserId) -> Result<Vec<Factor>, StoreError> {
        let mut factors: Vec<Factor> =
            lock(&self.state).factors.iter().filter(|f| f.user_id == user).cloned().collect();
        // Oldest first, ties by id, as the SQL adapter orders them.
        factors.sort_by_key(|f| (f.created_at, f.id));
        Ok(factors)
    }

    async fn remove_factor_audited(
        &self,
        user: UserId,
        id: FactorId,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        let before = state.factors.len();
        state.factors.retain(|f| !(f.user_id == user && f.id == id));
        if state.factors.len() == before {
            return Ok(false);
        }
        if !state.factors.iter().any(|f| f.user_id == user) {
            state.recovery_codes.remove(&user);
        }
        self.record(audit);
        Ok(true)
    }

    async fn accept_totp_step(&self, id: FactorId, step: u64, at: OffsetDateTime) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        let Some(factor) = state.factors.iter_mut().find(|f| f.id == id) else { return Ok(false) };
        if factor.last_step.is_some_and(|last| last >= step) {
            return Ok(false);
        }
        factor.last_step = Some(step);
        factor.last_used_at = Some(at);
        Ok(true)
    }

    async fn recovery_codes_left(&self, user: UserId) -> Result<u32, StoreError> {
        let state = lock(&self.state);
        Ok(state.recovery_codes.get(&user).map_or(0, |codes| u32::try_from(codes.len()).unwrap_or(u32::MAX)))
    }

    async fn replace_recovery_codes_audited(
        &self,
        user: UserId,
        codes: &[Digest],
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        if !state.factors.iter().any(|f| f.user_id == user) {
            return Ok(false);
        }
        state.recovery_codes.insert(user, codes.to_vec());
        self.record(audit);
        Ok(true)
    }

    async fn use_recovery_code_audited(
        &self,
        user: UserId,
        code: &Digest,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        let Some(codes) = state.recovery_codes.get_mut(&user) else { return Ok(false) };
        let Some(at) = codes.iter().position(|c| c == code) else { return Ok(false) };
        codes.remove(at);
        self.record(audit);
        Ok(true)
    }

    async fn reset_audited(&self, user: UserId, audit: Option<&AuditEvent>) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        state.factors.retain(|f| f.user_id != user);
        state.recovery_codes.remove(&user);
        state.pending.remove(&user);
        state.challenges.retain(|_, c| c.user_id != user);
        state.ceremonies.retain(|_, c| c.user_id != Some(user));
        self.record(audit);
        Ok(())
    }

    async fn insert_challenge(&self, challenge: &MfaChallenge) -> Result<(), StoreError> {
        lock(&self.state).challenges.insert(challenge.token_hash, challenge.clone());
        Ok(())
    }

    async fn challenge(&self, token_hash: &Digest) -> Result<Option<MfaChallenge>, StoreError> {
        Ok(lock(&self.state).challenges.get(token_hash).cloned())
    }

    async fn challenge_failed(&self, token_hash: &Digest) -> Result<(), StoreError> {
        if let Some(challenge) = lock(&self.state).challenges.get_mut(token_hash) {
            challenge.failures = challenge.failures.saturating_add(1);
        }
        Ok(())
    }

    async fn spend_challenge(&self, token_hash: &Digest, now: OffsetDateTime) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        match state.challenges.get(token_hash) {
            Some(challenge) if challenge.is_usable(now) => {
                state.challenges.remove(token_hash);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn record_passkey_use(
        &self,
        id: FactorId,
        expected: u32,
        sign_count: u32,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        let Some(factor) = state.factors.iter_mut().find(|f| f.id == id) else { return Ok(false) };
        let Some(details) = factor.passkey.as_mut().filter(|d| d.sign_count == expected) else { return Ok(false) };
        details.sign_count = sign_count;
        factor.last_used_at = Some(at);
        Ok(true)
    }

    async fn insert_ceremony(&self, ceremony: &Ceremony) -> Result<(), StoreError> {
        lock(&self.state).ceremonies.insert(ceremony.id.clone(), ceremony.clone());
        Ok(())
    }

    async fn take_ceremony(&self, id: &str, now: OffsetDateTime) -> Result<Option<Ceremony>, StoreError> {
        Ok(lock(&self.state).ceremonies.remove(id).filter(|c| c.is_live(now)))
    }

    async fn purge(&self, now: OffsetDateTime, pending_before: OffsetDateTime) -> Result<u64, StoreError> {
        let mut state = lock(&self.state);
        let before = state.challenges.len() + state.pending.len() + state.ceremonies.len();
        state.challenges.retain(|_, c| c.expires_at > now);
        state.pending.retain(|_, p| p.created_at >= pending_before);
        state.ceremonies.retain(|_, c| c.is_live(now));
        let after = state.challenges.len() + state.pending.len() + state.ceremonies.len();
        Ok(u64::try_from(before - after).unwrap_or(0))
    }
}
