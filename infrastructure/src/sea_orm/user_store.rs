//! sea-orm [`UserStore`].

use gatehouse_application::ports::{InsertUserError, StoreError, UserStore};
use gatehouse_domain::{PasswordHash, User, UserId, Username};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, SqlErr,
    sea_query::Expr,
};
use time::OffsetDateTime;

use super::{entities::users, from_micros, map_err, to_micros};

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

impl UserStore for SeaOrmUserStore {
    #[tracing::instrument(skip_all, fields(user_id = %user.id))]
    async fn insert(&self, user: &User) -> Result<(), InsertUserError> {
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
        match users::Entity::insert(row).exec_without_returning(&self.conn).await {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                Err(InsertUserError::UsernameTaken)
            }
            Err(e) => Err(map_err(e).into()),
        }
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
    async fn set_password_hash(&self, id: UserId, hash: &PasswordHash, at: OffsetDateTime) -> Result<(), StoreError> {
        users::Entity::update_many()
            .col_expr(users::Column::PasswordHash, Expr::value(hash.as_str()))
            .col_expr(users::Column::UpdatedAt, Expr::value(to_micros(at)))
            .filter(users::Column::Id.eq(id.as_uuid()))
            .exec(&self.conn)
            .await
            .map(|_| ())
            .map_err(map_err)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.conn.execute_unprepared("SELECT 1").await.map(|_| ()).map_err(map_err)
    }
}
