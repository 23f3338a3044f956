//! sea-orm [`UserStore`].

use gatehouse_application::ports::{ChangeUserError, InsertUserError, StoreError, UserChange, UserStore};
use gatehouse_domain::{AuditEvent, PasswordHash, Role, User, UserId, Username, leaves_no_active_admin};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, SqlErr, sea_query::Expr,
};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{audit_log::record, begin_write, entities::users, from_micros, map_err, retry_on_deadlock, to_micros};

/// Users in the `users` table.
#[derive(Debug, Clone)]
pub struct SeaOrmUserStore {
    conn: DatabaseConnection,
}

impl SeaOrmUserStore {
    pub(crate) fn new(conn: DatabaseConnection) -> Self {
        Self { conn }
    }
}

impl TryFrom<users::Model> for User {
    type Error = StoreError;

    fn try_from(row: users::Model) -> Result<Self, StoreError> {
        let corrupt = |what: &str| StoreError::Internal(format!("users row {}: invalid {what}", row.id));
        Ok(User {
            id: UserId::from_uuid(row.id),
            username: Username::parse(&row.username).map_err(|_| corrupt("username"))?,
            password_hash: PasswordHash::new(row.password_hash.clone()),
            role: row.role.parse().map_err(|_| corrupt("role"))?,
            disabled: row.disabled,
            created_at: from_micros(row.created_at)?,
        })
    }
}

fn insert_store_error(e: &InsertUserError) -> Option<&StoreError> {
    match e {
        InsertUserError::Store(e) => Some(e),
        InsertUserError::UsernameTaken => None,
    }
}

fn store_error(e: &ChangeUserError) -> Option<&StoreError> {
    match e {
        ChangeUserError::Store(e) => Some(e),
        ChangeUserError::NotFound | ChangeUserError::LastAdmin => None,
    }
}

/// The user row, locked for the rest of the transaction.
async fn find_locked(txn: &DatabaseTransaction, id: UserId) -> Result<Option<User>, StoreError> {
    users::Entity::find_by_id(id.as_uuid())
        .lock_exclusive()
        .one(txn)
        .await
        .map_err(map_err)?
        .map(User::try_from)
        .transpose()
}

/// Locks every active admin row, in id order, and returns their ids. With
/// the rows locked, two admins demoting each other are serialised: the
/// second sees the first's change and is refused as the last admin.
async fn lock_active_admins(txn: &DatabaseTransaction) -> Result<Vec<UserId>, StoreError> {
    let ids: Vec<Uuid> = active_admin_ids().lock_exclusive().into_tuple().all(txn).await.map_err(map_err)?;
    Ok(ids.into_iter().map(UserId::from_uuid).collect())
}

/// The ids of the active admins (role admin, not disabled), in id order.
fn active_admin_ids() -> sea_orm::Select<users::Entity> {
    users::Entity::find()
        .select_only()
        .column(users::Column::Id)
        .filter(users::Column::Role.eq(Role::Admin.as_str()))
        .filter(users::Column::Disabled.eq(false))
        .order_by_asc(users::Column::Id)
}

impl UserStore for SeaOrmUserStore {
    #[tracing::instrument(skip_all, fields(user_id = %user.id))]
    async fn insert_audited(&self, user: &User, audit: Option<&AuditEvent>) -> Result<(), InsertUserError> {
        retry_on_deadlock(insert_store_error, || self.insert_once(user, audit)).await
    }

    #[tracing::instrument(skip_all)]
    async fn find_by_username(&self, username: &Username) -> Result<Option<User>, StoreError> {
        users::Entity::find()
            .filter(users::Column::Username.eq(username.as_str()))
            .one(&self.conn)
            .await
            .map_err(map_err)?
            .map(User::try_from)
            .transpose()
    }

    #[tracing::instrument(skip_all, fields(user_id = %id))]
    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        users::Entity::find_by_id(id.as_uuid()).one(&self.conn).await.map_err(map_err)?.map(User::try_from).transpose()
    }

    #[tracing::instrument(skip_all, fields(user_id = %id))]
    async fn set_password_hash_audited(
        &self,
        id: UserId,
        hash: &PasswordHash,
        at: OffsetDateTime,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        retry_on_deadlock(
            |e| Some(e),
            || async {
                let txn = begin_write(&self.conn).await?;
                let updated = users::Entity::update_many()
                    .col_expr(users::Column::PasswordHash, Expr::value(hash.as_str()))
                    .col_expr(users::Column::UpdatedAt, Expr::value(to_micros(at)))
                    .filter(users::Column::Id.eq(id.as_uuid()))
                    .exec(&txn)
                    .await
                    .map_err(map_err)?;
                if updated.rows_affected > 0 {
                    record(&txn, audit).await?;
                }
                txn.commit().await.map_err(map_err)
            },
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(limit))]
    async fn list(&self, after: Option<UserId>, limit: u32) -> Result<Vec<User>, StoreError> {
        let mut query = users::Entity::find().order_by_asc(users::Column::Id).limit(u64::from(limit));
        if let Some(after) = after {
            query = query.filter(users::Column::Id.gt(after.as_uuid()));
        }
        query.all(&self.conn).await.map_err(map_err)?.into_iter().map(User::try_from).collect()
    }

    async fn active_admins(&self, limit: u32) -> Result<Vec<UserId>, StoreError> {
        let ids: Vec<Uuid> =
            active_admin_ids().limit(u64::from(limit)).into_tuple().all(&self.conn).await.map_err(map_err)?;
        Ok(ids.into_iter().map(UserId::from_uuid).collect())
    }

    #[tracing::instrument(skip_all, fields(user_id = %id))]
    async fn update_audited(
        &self,
        id: UserId,
        change: UserChange,
        at: OffsetDateTime,
        audit: Option<&AuditEvent>,
    ) -> Result<User, ChangeUserError> {
        retry_on_deadlock(store_error, || self.update_once(id, change, at, audit)).await
    }

    #[tracing::instrument(skip_all, fields(user_id = %id))]
    async fn delete_audited(&self, id: UserId, audit: Option<&AuditEvent>) -> Result<(), ChangeUserError> {
        retry_on_deadlock(store_error, || self.delete_once(id, audit)).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.conn.execute_unprepared("SELECT 1").await.map(|_| ()).map_err(map_err)
    }
}

impl SeaOrmUserStore {
    async fn insert_once(&self, user: &User, audit: Option<&AuditEvent>) -> Result<(), InsertUserError> {
        let now = to_micros(user.created_at);
        let row = users::ActiveModel {
            id: Set(user.id.as_uuid()),
            username: Set(user.username.as_str().to_owned()),
            password_hash: Set(user.password_hash.as_str().to_owned()),
            role: Set(user.role.as_str().to_owned()),
            disabled: Set(user.disabled),
            created_at: Set(now),
            updated_at: Set(now),
        };
        let txn = begin_write(&self.conn).await?;
        match users::Entity::insert(row).exec_without_returning(&txn).await {
            Ok(_) => {}
            Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                return Err(InsertUserError::UsernameTaken);
            }
            Err(e) => return Err(map_err(e).into()),
        }
        record(&txn, audit).await?;
        txn.commit().await.map_err(|e| map_err(e).into())
    }

    async fn update_once(
        &self,
        id: UserId,
        change: UserChange,
        at: OffsetDateTime,
        audit: Option<&AuditEvent>,
    ) -> Result<User, ChangeUserError> {
        let txn = begin_write(&self.conn).await?;
        // Lock order: the admin rows first, then the target, in every
        // transaction, so two admins changing each other queue instead of
        // deadlocking.
        let admins = lock_active_admins(&txn).await?;
        let current = find_locked(&txn, id).await?.ok_or(ChangeUserError::NotFound)?;
        let role = change.role.unwrap_or(current.role);
        let disabled = change.disabled.unwrap_or(current.disabled);
        let changed = User { role, disabled, ..current.clone() };
        if leaves_no_active_admin(&current, Some(&changed), &admins) {
            return Err(ChangeUserError::LastAdmin);
        }
        users::Entity::update_many()
            .col_expr(users::Column::Role, Expr::value(role.as_str()))
            .col_expr(users::Column::Disabled, Expr::value(disabled))
            .col_expr(users::Column::UpdatedAt, Expr::value(to_micros(at)))
            .filter(users::Column::Id.eq(id.as_uuid()))
            .exec(&txn)
            .await
            .map_err(map_err)?;
        record(&txn, audit).await?;
        txn.commit().await.map_err(map_err)?;
        Ok(changed)
    }

    async fn delete_once(&self, id: UserId, audit: Option<&AuditEvent>) -> Result<(), ChangeUserError> {
        let txn = begin_write(&self.conn).await?;
        let admins = lock_active_admins(&txn).await?;
        let current = find_locked(&txn, id).await?.ok_or(ChangeUserError::NotFound)?;
        if leaves_no_active_admin(&current, None, &admins) {
            return Err(ChangeUserError::LastAdmin);
        }
        users::Entity::delete_by_id(id.as_uuid()).exec(&txn).await.map_err(map_err)?;
        record(&txn, audit).await?;
        txn.commit().await.map_err(map_err)?;
        Ok(())
    }
}
