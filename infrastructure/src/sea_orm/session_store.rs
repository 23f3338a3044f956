//! sea-orm [`SessionStore`].

use gatehouse_application::ports::{SessionStore, StoreError};
use gatehouse_domain::{Session, SessionId, UserId};
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, sea_query::Expr};
use time::OffsetDateTime;

use super::{entities::sessions, from_micros, map_err, to_micros};

/// Sessions in the `sessions` table.
#[derive(Debug, Clone)]
pub struct SeaOrmSessionStore {
    conn: DatabaseConnection,
}

impl SeaOrmSessionStore {
    pub(crate) fn new(conn: DatabaseConnection) -> Self {
        Self { conn }
    }
}

impl TryFrom<sessions::Model> for Session {
    type Error = StoreError;

    fn try_from(row: sessions::Model) -> Result<Self, StoreError> {
        Ok(Session {
            id: SessionId::from_uuid(row.id),
            user_id: UserId::from_uuid(row.user_id),
            refresh_token_digest: row.refresh_token_digest,
            created_at: from_micros(row.created_at)?,
            last_used_at: from_micros(row.last_used_at)?,
            expires_at: from_micros(row.expires_at)?,
            revoked_at: row.revoked_at.map(from_micros).transpose()?,
        })
    }
}

impl SessionStore for SeaOrmSessionStore {
    #[tracing::instrument(skip_all, fields(session_id = %session.id))]
    async fn insert(&self, session: &Session) -> Result<(), StoreError> {
        let row = sessions::ActiveModel {
            id: Set(session.id.as_uuid()),
            user_id: Set(session.user_id.as_uuid()),
            refresh_token_digest: Set(session.refresh_token_digest.clone()),
            created_at: Set(to_micros(session.created_at)),
            last_used_at: Set(to_micros(session.last_used_at)),
            expires_at: Set(to_micros(session.expires_at)),
            revoked_at: Set(session.revoked_at.map(to_micros)),
        };
        sessions::Entity::insert(row).exec_without_returning(&self.conn).await.map(|_| ()).map_err(map_err)
    }

    #[tracing::instrument(skip_all, fields(session_id = %id))]
    async fn find(&self, id: SessionId) -> Result<Option<Session>, StoreError> {
        sessions::Entity::find_by_id(id.as_uuid())
            .one(&self.conn)
            .await
            .map_err(map_err)?
            .map(Session::try_from)
            .transpose()
    }

    #[tracing::instrument(skip_all, fields(session_id = %id))]
    async fn revoke(&self, id: SessionId, at: OffsetDateTime) -> Result<(), StoreError> {
        sessions::Entity::update_many()
            .col_expr(sessions::Column::RevokedAt, Expr::value(to_micros(at)))
            .filter(sessions::Column::Id.eq(id.as_uuid()))
            .filter(sessions::Column::RevokedAt.is_null())
            .exec(&self.conn)
            .await
            .map(|_| ())
            .map_err(map_err)
    }
}
