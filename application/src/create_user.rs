//! Register and create users.

use gatehouse_domain::{AuditAction, AuditEvent};

use crate::{
    Adapters, Gatehouse,
    ports::{Clock, HashError, IdSource, InsertUserError, PasswordHasher, StoreError, UserStore},
};
use gatehouse_domain::{NewPassword, Role, User, UserId, Username};

/// Why a user could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    #[error("username already taken")]
    UsernameTaken,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Hash(#[from] HashError),
}

impl<A: Adapters> Gatehouse<A> {
    /// Self-service registration: always creates a `user`, never an admin.
    ///
    /// # Errors
    /// [`CreateUserError::UsernameTaken`] when the name is taken (also when
    /// another registration of it wins a race).
    #[tracing::instrument(skip_all, fields(username = %username))]
    pub async fn register(
        &self,
        username: Username,
        password: NewPassword,
        client: Option<&str>,
    ) -> Result<User, CreateUserError> {
        self.create(username, password, Role::User, client, None).await
    }

    /// Creates a user with any role (the command line's `user create`).
    ///
    /// # Errors
    /// As [`Self::register`].
    #[tracing::instrument(skip_all, fields(username = %username, role = %role))]
    pub async fn create_user(
        &self,
        username: Username,
        password: NewPassword,
        role: Role,
    ) -> Result<User, CreateUserError> {
        self.create(username, password, role, None, Some(format!("via=cli role={role}"))).await
    }

    async fn create(
        &self,
        username: Username,
        password: NewPassword,
        role: Role,
        client: Option<&str>,
        detail: Option<String>,
    ) -> Result<User, CreateUserError> {
        let password_hash = self.hasher.hash(password.into_secret()).await?;
        let user = User {
            id: UserId::from_uuid(self.ids.new_id()),
            username,
            password_hash,
            role,
            disabled: false,
            // Stores keep microseconds; so does every answer about the user.
            created_at: truncate_to_micros(self.clock.now()),
        };
        let mut audit = AuditEvent::success(user.created_at, AuditAction::Register).about(user.id).client(client);
        audit.detail = detail;
        self.users.insert_audited(&user, Some(&audit)).await.map_err(|e| match e {
            InsertUserError::UsernameTaken => CreateUserError::UsernameTaken,
            InsertUserError::Store(e) => CreateUserError::Store(e),
        })?;
        tracing::info!(user_id = %user.id, "user created");
        Ok(user)
    }
}

pub(crate) fn truncate_to_micros(t: time::OffsetDateTime) -> time::OffsetDateTime {
    t.replace_nanosecond(t.nanosecond() / 1_000 * 1_000).unwrap_or(t)
}
