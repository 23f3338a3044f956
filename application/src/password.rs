//! Change one's own password.

use gatehouse_domain::{AuditAction, AuditOutcome, NewPassword};
use secrecy::SecretString;

use crate::{
    Adapters, Gatehouse, Principal,
    ports::{AuditLog, Clock, HashError, LoginThrottle, PasswordHasher, RevokeScope, StoreError, UserStore},
};

/// Why a password change was refused.
#[derive(Debug, thiserror::Error)]
pub enum ChangePasswordError {
    /// The current password is wrong.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The account is gone or disabled.
    #[error("account unavailable")]
    AccountUnavailable,
    /// Too many wrong current passwords recently (shares login's count).
    #[error("too many failed attempts")]
    Throttled { retry_after: time::Duration },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Hash(HashError),
}

impl<A: Adapters> Gatehouse<A> {
    /// Replaces the principal's password after checking the current one,
    /// and revokes every other session of the user (this one stays).
    ///
    /// # Errors
    /// [`ChangePasswordError::InvalidCredentials`] for a wrong current
    /// password; failures count towards login throttling of the username.
    #[tracing::instrument(skip_all, fields(user_id = %principal.user_id))]
    pub async fn change_password(
        &self,
        principal: &Principal,
        current: SecretString,
        new: NewPassword,
    ) -> Result<(), ChangePasswordError> {
        let now = self.clock.now();
        let key = format!("user:{}", principal.username);
        self.throttle.check(&key, now).map_err(|retry_after| ChangePasswordError::Throttled { retry_after })?;
        let user = match self.users.find_by_id(principal.user_id).await? {
            Some(user) if user.is_active() => user,
            _ => return Err(ChangePasswordError::AccountUnavailable),
        };
        let verified = match self.hasher.verify(current, Some(user.password_hash.clone())).await {
            Ok(verified) => verified,
            Err(HashError::Refused) => false,
            Err(e) => return Err(ChangePasswordError::Hash(e)),
        };
        if !verified {
            self.throttle.record_failure(&key, now);
            let mut audit =
                principal.event(now, AuditAction::PasswordChange, Some(user.id), Some("wrong_password".into()));
            audit.outcome = AuditOutcome::Failure;
            self.audit.append(&audit).await?;
            return Err(ChangePasswordError::InvalidCredentials);
        }
        let hash = self.hasher.hash(new.into_secret()).await.map_err(ChangePasswordError::Hash)?;
        let audit = principal.event(now, AuditAction::PasswordChange, Some(user.id), None);
        self.users.set_password_hash_audited(user.id, &hash, now, Some(&audit)).await?;
        self.revoke(RevokeScope::UserExcept(user.id, principal.session_id)).await?;
        tracing::info!("password changed; other sessions revoked");
        Ok(())
    }
}
