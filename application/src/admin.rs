//! User administration: list, inspect, change role or disabled flag,
//! delete. Every change revokes the user's sessions; the last active admin
//! can be neither demoted, disabled nor deleted.

use gatehouse_domain::{AuditAction, User, UserId, leaves_no_active_admin};

use crate::{
    ActsAsAdmin, Adapters, Gatehouse,
    metrics::RevocationReason,
    ports::{ChangeUserError, Clock, RevokeScope, StoreError, UserChange, UserStore},
};

/// Largest page of users an admin may ask for.
pub const MAX_PAGE: u32 = 200;

/// Why an administration request failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("no such user")]
    NotFound,
    #[error("the last active admin cannot be demoted, disabled or deleted")]
    LastAdmin,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ChangeUserError> for AdminError {
    fn from(e: ChangeUserError) -> Self {
        match e {
            ChangeUserError::NotFound => Self::NotFound,
            ChangeUserError::LastAdmin => Self::LastAdmin,
            ChangeUserError::Store(e) => Self::Store(e),
        }
    }
}

/// One page of users and where the next one starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPage {
    pub users: Vec<User>,
    /// The last id of this page when there may be more, for the next call.
    pub next: Option<UserId>,
}

impl<A: Adapters> Gatehouse<A> {
    /// A page of users in creation order, after `after`.
    ///
    /// # Errors
    /// [`StoreError`] only.
    pub async fn list_users(
        &self,
        _admin: &impl ActsAsAdmin,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<UserPage, AdminError> {
        let limit = limit.clamp(1, MAX_PAGE);
        // One extra row tells whether another page exists.
        let mut users = self.users.list(after, limit + 1).await?;
        let more = users.len() > limit as usize;
        users.truncate(limit as usize);
        let next = if more { users.last().map(|u| u.id) } else { None };
        Ok(UserPage { users, next })
    }

    /// One user.
    ///
    /// # Errors
    /// [`AdminError::NotFound`].
    pub async fn get_user(&self, _admin: &impl ActsAsAdmin, id: UserId) -> Result<User, AdminError> {
        self.users.find_by_id(id).await?.ok_or(AdminError::NotFound)
    }

    /// Changes a user's role and/or disabled flag and revokes every session
    /// of that user, so the change applies to tokens at once.
    ///
    /// # Errors
    /// [`AdminError::NotFound`],
    /// [`AdminError::LastAdmin`].
    #[tracing::instrument(skip_all, fields(admin = %admin.actor_id(), user_id = %id, ?change))]
    pub async fn change_user(
        &self,
        admin: &impl ActsAsAdmin,
        id: UserId,
        change: UserChange,
    ) -> Result<User, AdminError> {
        let now = self.clock.now();
        let action = match change.disabled {
            Some(true) => AuditAction::Disable,
            Some(false) => AuditAction::Enable,
            None => AuditAction::RoleChange,
        };
        let mut detail = Vec::new();
        if let Some(role) = change.role {
            detail.push(format!("role={role}"));
        }
        if let Some(disabled) = change.disabled {
            detail.push(format!("disabled={disabled}"));
        }
        let audit = admin.audit_event(now, action).about(id).detail(detail.join(" "));
        let user = self.users.update_audited(id, change, now, Some(&audit)).await?;
        self.revoke(RevokeScope::User(id), RevocationReason::Admin).await?;
        tracing::info!(role = %user.role, disabled = user.disabled, "user changed; sessions revoked");
        Ok(user)
    }

    /// Deletes a user after revoking every session of theirs.
    ///
    /// # Errors
    /// [`AdminError::NotFound`],
    /// [`AdminError::LastAdmin`].
    #[tracing::instrument(skip_all, fields(admin = %admin.actor_id(), user_id = %id))]
    pub async fn delete_user(&self, admin: &impl ActsAsAdmin, id: UserId) -> Result<(), AdminError> {
        let user = self.users.find_by_id(id).await?.ok_or(AdminError::NotFound)?;
        // The store decides the last-admin rule atomically; this early check
        // only spares the last admin a needless logout when it refuses.
        if leaves_no_active_admin(&user, None, &self.users.active_admins(2).await?) {
            return Err(AdminError::LastAdmin);
        }
        // Revoke first: the revocation records must exist before the
        // session rows go with the user.
        self.revoke(RevokeScope::User(id), RevocationReason::Admin).await?;
        let audit = admin
            .audit_event(self.clock.now(), AuditAction::Delete)
            .about(id)
            .detail(format!("username={}", user.username));
        self.users.delete_audited(id, Some(&audit)).await?;
        tracing::info!("user deleted; sessions revoked");
        Ok(())
    }
}
