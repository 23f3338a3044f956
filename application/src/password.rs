//! Change one's own password.

use gatehouse_domain::{AuditAction, NewPassword, ThrottleKey};
use secrecy::SecretString;

use crate::{
    Adapters, Gatehouse, Principal,
    metrics::RevocationReason,
    ports::{Admission, AuditLog, Clock, HashError, LoginThrottle, PasswordHasher, RevokeScope, StoreError, UserStore},
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
    /// password. The attempt takes a slot of the username's login throttle
    /// before the password is checked, as a login does.
    #[tracing::instrument(skip_all, fields(user_id = %principal.user_id))]
    pub async fn change_password(
        &self,
        principal: &Principal,
        current: SecretString,
        new: NewPassword,
    ) -> Result<(), ChangePasswordError> {
        let now = self.clock.now();
        let keys = [ThrottleKey::Username(principal.username.clone())];
        let slots = match self.throttle.acquire(&keys, now).await? {
            Admission::Granted(slots) => slots,
            Admission::Refused { retry_after } => return Err(ChangePasswordError::Throttled { retry_after }),
        };
        let user = match self.users.find_by_id(principal.user_id).await? {
            Some(user) if user.is_active() => user,
            _ => return Err(ChangePasswordError::AccountUnavailable),
        };
        let verified = match self.hasher.verify(current, Some(user.password_hash.clone())).await {
            Ok(verified) => verified,
            Err(HashError::Refused) => false,
            Err(HashError::Overloaded) => {
                self.throttle.release(&slots).await?;
                return Err(ChangePasswordError::Hash(HashError::Overloaded));
            }
            Err(e) => return Err(ChangePasswordError::Hash(e)),
        };
        if !verified {
            let audit =
                principal.event(now, AuditAction::PasswordChange).about(user.id).detail("wrong_password").failed();
            self.audit.append(&audit).await?;
            return Err(ChangePasswordError::InvalidCredentials);
        }
        self.throttle.succeeded(&slots).await?;
        let hash = self.hasher.hash(new.into_secret()).await.map_err(ChangePasswordError::Hash)?;
        let audit = principal.event(now, AuditAction::PasswordChange).about(user.id);
        self.users.set_password_hash_audited(user.id, &hash, now, Some(&audit)).await?;
        self.revoke(RevokeScope::UserExcept(user.id, principal.session_id), RevocationReason::PasswordChange).await?;
        tracing::info!("password changed; other sessions revoked");
        Ok(())
    }
}
