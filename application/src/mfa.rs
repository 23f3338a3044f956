//! Second factors: TOTP enrolment with confirmation, recovery codes, the
//! state of a user's MFA, and an admin's reset.
//!
//! Changing how an account signs in takes a [`RecentPrincipal`]: a stolen
//! access token that is older than `security.reauth_max_age` cannot enrol
//! its holder's own factor.

use gatehouse_domain::{
    AuditAction, Factor, FactorId, FactorKind, MfaStatus, PendingTotp, RecoveryCode, TotpCode, TotpSecret, User,
    UserId,
    mfa::{
        RECOVERY_CODE_COUNT, RECOVERY_CODE_RANDOM_BYTES, TOTP_SECRET_BYTES, TOTP_SLOT, normalize_recovery_code,
        totp_candidate_steps,
    },
};
use secrecy::SecretString;
use time::{Duration, OffsetDateTime};

use crate::{
    Adapters, Gatehouse, Principal, RecentPrincipal,
    metrics::RevocationReason,
    ports::{AddFactorError, Clock, FactorCrypto, IdSource, MfaStore, RevokeScope, StoreError, UserStore},
};

/// A TOTP secret waiting for its first code, as the user's authenticator
/// app takes it.
#[derive(Debug)]
pub struct TotpEnrolment {
    /// RFC 4648 base32, no padding.
    pub secret: SecretString,
    pub otpauth_uri: SecretString,
}

/// Why a second-factor change was refused.
#[derive(Debug, thiserror::Error)]
pub enum MfaError {
    /// Nothing to act on: no pending secret, TOTP off, MFA off, no such
    /// user.
    #[error("not found")]
    NotFound,
    /// TOTP is on already.
    #[error("TOTP is already enabled")]
    AlreadyEnabled,
    /// The code does not match the pending secret.
    #[error("invalid code")]
    InvalidCode,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How long an unconfirmed TOTP secret is kept.
pub const PENDING_TOTP_TTL: Duration = Duration::days(1);

/// What a TOTP secret is sealed for: its user and its purpose, so a sealed
/// value copied to another user's row does not open.
fn totp_context(user: UserId) -> Vec<u8> {
    let mut context = b"gatehouse totp ".to_vec();
    context.extend_from_slice(user.as_uuid().as_bytes());
    context
}

impl<A: Adapters> Gatehouse<A> {
    /// What the principal has set up.
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn mfa_status(&self, principal: &Principal) -> Result<MfaStatus, StoreError> {
        let factors = self.mfa.factors(principal.user_id).await?;
        Ok(MfaStatus::of(&factors, self.mfa.recovery_codes_left(principal.user_id).await?))
    }

    /// Draws a new TOTP secret and keeps it, unconfirmed, replacing any
    /// earlier unconfirmed one. Nothing changes for logins until
    /// [`Self::confirm_totp`].
    ///
    /// # Errors
    /// [`MfaError::AlreadyEnabled`] when TOTP is on.
    pub async fn start_totp(&self, who: &RecentPrincipal) -> Result<TotpEnrolment, MfaError> {
        let principal = who.principal();
        if self.totp_factor(principal.user_id).await?.is_some() {
            return Err(MfaError::AlreadyEnabled);
        }
        let mut bytes = vec![0u8; TOTP_SECRET_BYTES];
        self.crypto.random(&mut bytes);
        let secret = TotpSecret::new(bytes);
        let pending = PendingTotp {
            user_id: principal.user_id,
            secret: self.crypto.seal(secret.expose(), &totp_context(principal.user_id)),
            created_at: self.clock.now(),
        };
        self.mfa.put_pending_totp(&pending).await?;
        Ok(TotpEnrolment {
            secret: secret.to_base32(),
            otpauth_uri: secret.otpauth_uri(&self.security.totp_issuer, principal.username.as_str()),
        })
    }

    /// Confirms the pending TOTP secret with a code from it: TOTP is on,
    /// the code's step counts as used, a new set of recovery codes replaces
    /// any old one (returned once, stored as digests), and every other
    /// session of the user is revoked.
    ///
    /// # Errors
    /// [`MfaError::NotFound`] without a pending secret,
    /// [`MfaError::InvalidCode`], [`MfaError::AlreadyEnabled`].
    pub async fn confirm_totp(&self, who: &RecentPrincipal, code: &str) -> Result<Vec<RecoveryCode>, MfaError> {
        let principal = who.principal();
        let now = self.clock.now();
        let pending = self.mfa.pending_totp(principal.user_id).await?.ok_or(MfaError::NotFound)?;
        if now - pending.created_at > PENDING_TOTP_TTL {
            return Err(MfaError::NotFound);
        }
        let Ok(secret) = self.crypto.open(&pending.secret, &totp_context(principal.user_id)) else {
            tracing::warn!(user_id = %principal.user_id, "a pending TOTP secret does not open; treated as absent");
            return Err(MfaError::NotFound);
        };
        let step = TotpCode::parse(code)
            .and_then(|code| code.matching_step(&totp_candidate_steps(now), |step| self.hotp(&secret, step)))
            .ok_or(MfaError::InvalidCode)?;
        let codes = self.new_recovery_codes();
        let digests: Vec<_> = codes.iter().map(|c| self.crypto.digest(c.canonical().as_bytes())).collect();
        let factor = Factor {
            id: FactorId::from_uuid(self.ids.new_id()),
            user_id: principal.user_id,
            kind: FactorKind::Totp,
            slot: TOTP_SLOT.into(),
            name: None,
            secret: pending.secret,
            last_step: Some(step),
            passkey: None,
            created_at: now,
            last_used_at: Some(now),
        };
        let audit = principal.event(now, AuditAction::TotpEnabled).about(principal.user_id);
        match self.mfa.add_factor_audited(&factor, Some(&digests), Some(&audit)).await {
            Ok(()) => {}
            Err(AddFactorError::AlreadyRegistered) => return Err(MfaError::AlreadyEnabled),
            Err(AddFactorError::Store(e)) => return Err(e.into()),
        }
        // A thief holding another session (or its refresh token) loses it.
        self.revoke(RevokeScope::UserExcept(principal.user_id, principal.session_id), RevocationReason::Mfa).await?;
        tracing::info!(user_id = %principal.user_id, "TOTP enabled");
        Ok(codes)
    }

    /// Turns TOTP off. When it was the last factor, MFA is off and the
    /// recovery codes go.
    ///
    /// # Errors
    /// [`MfaError::NotFound`] when TOTP was off.
    pub async fn disable_totp(&self, who: &RecentPrincipal) -> Result<(), MfaError> {
        let principal = who.principal();
        let factor = self.totp_factor(principal.user_id).await?.ok_or(MfaError::NotFound)?;
        let audit = principal.event(self.clock.now(), AuditAction::TotpDisabled).about(principal.user_id);
        if !self.mfa.remove_factor_audited(principal.user_id, factor.id, Some(&audit)).await? {
            return Err(MfaError::NotFound);
        }
        tracing::info!(user_id = %principal.user_id, "TOTP disabled");
        Ok(())
    }

    /// A new set of recovery codes; the old set stops working.
    ///
    /// # Errors
    /// [`MfaError::NotFound`] when MFA is off.
    pub async fn regenerate_recovery_codes(&self, who: &RecentPrincipal) -> Result<Vec<RecoveryCode>, MfaError> {
        let principal = who.principal();
        let codes = self.new_recovery_codes();
        let digests: Vec<_> = codes.iter().map(|c| self.crypto.digest(c.canonical().as_bytes())).collect();
        let audit = principal.event(self.clock.now(), AuditAction::RecoveryCodesRegenerated).about(principal.user_id);
        if !self.mfa.replace_recovery_codes_audited(principal.user_id, &digests, Some(&audit)).await? {
            return Err(MfaError::NotFound);
        }
        Ok(codes)
    }

    /// Removes every factor and recovery code of `user` and revokes their
    /// sessions: the way back in for a user who lost every factor, after
    /// the admin has checked who is asking.
    ///
    /// # Errors
    /// [`MfaError::NotFound`] for an unknown user.
    pub async fn reset_mfa(&self, admin: &impl crate::ActsAsAdmin, user: UserId) -> Result<(), MfaError> {
        if self.users.find_by_id(user).await?.is_none() {
            return Err(MfaError::NotFound);
        }
        let audit = admin.audit_event(self.clock.now(), AuditAction::MfaReset).about(user);
        self.mfa.reset_audited(user, Some(&audit)).await?;
        self.revoke(RevokeScope::User(user), RevocationReason::Admin).await?;
        tracing::info!(user_id = %user, admin_id = %admin.actor_id(), "MFA reset by an admin");
        Ok(())
    }

    /// Checks a TOTP code at login and, when it matches a step not used
    /// before, records that step as used (atomically: a code works once).
    pub(crate) async fn accept_totp(&self, user: &User, code: &str, now: OffsetDateTime) -> Result<bool, StoreError> {
        let Some(code) = TotpCode::parse(code) else { return Ok(false) };
        let Some(factor) = self.totp_factor(user.id).await? else { return Ok(false) };
        let Ok(secret) = self.crypto.open(&factor.secret, &totp_context(user.id)) else {
            tracing::error!(user_id = %user.id, "a TOTP secret does not open with the configured keys");
            return Ok(false);
        };
        match code.matching_step(&totp_candidate_steps(now), |step| self.hotp(&secret, step)) {
            Some(step) => self.mfa.accept_totp_step(factor.id, step, now).await,
            None => Ok(false),
        }
    }

    /// Uses up a recovery code at login.
    pub(crate) async fn use_recovery_code(
        &self,
        user: UserId,
        typed: &str,
        audit: &gatehouse_domain::AuditEvent,
    ) -> Result<bool, StoreError> {
        let Some(canonical) = normalize_recovery_code(typed) else { return Ok(false) };
        let digest = self.crypto.digest(canonical.as_bytes());
        self.mfa.use_recovery_code_audited(user, &digest, Some(audit)).await
    }

    async fn totp_factor(&self, user: UserId) -> Result<Option<Factor>, StoreError> {
        Ok(self.mfa.factors(user).await?.into_iter().find(|f| f.kind == FactorKind::Totp))
    }

    fn hotp(&self, secret: &[u8], step: u64) -> [u8; 20] {
        self.crypto.hmac_sha1(secret, &step.to_be_bytes())
    }

    pub(crate) fn new_recovery_codes(&self) -> Vec<RecoveryCode> {
        (0..RECOVERY_CODE_COUNT)
            .map(|_| {
                let mut random = [0u8; RECOVERY_CODE_RANDOM_BYTES];
                self.crypto.random(&mut random);
                RecoveryCode::from_random(random)
            })
            .collect()
    }
}

/// The codes as shown to the user.
pub fn shown(codes: &[RecoveryCode]) -> Vec<String> {
    codes.iter().map(|c| c.shown().to_owned()).collect()
}
