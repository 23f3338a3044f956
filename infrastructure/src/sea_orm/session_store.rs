//! sea-orm [`SessionStore`].

use gatehouse_application::ports::{RevokeScope, SessionStore, StoreError};
use gatehouse_domain::{Amr, AuditEvent, Revocation, Session, SessionId, UserId};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
    sea_query::{Expr, OnConflict},
};
use time::OffsetDateTime;

use super::{
    audit_log::record,
    begin_write,
    entities::{session_revocations, sessions},
    from_micros, map_err, retry_on_deadlock, to_micros,
};

/// Sessions in the `sessions` table, revocations in `session_revocations`.
#[derive(Debug, Clone)]
pub struct SeaOrmSessionStore {
    conn: DatabaseConnection,
}

impl SeaOrmSessionStore {
    pub(crate) fn new(conn: DatabaseConnection) -> Self {
        Self { conn }
    }
}

fn generation(value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Internal(format!("negative session generation {value}")))
}

fn to_db_generation(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl TryFrom<sessions::Model> for Session {
    type Error = StoreError;

    fn try_from(row: sessions::Model) -> Result<Self, StoreError> {
        let created_at = from_micros(row.created_at)?;
        Ok(Session {
            id: SessionId::from_uuid(row.id),
            user_id: UserId::from_uuid(row.user_id),
            generation: generation(row.generation)?,
            rotated_at: row.rotated_at.map(from_micros).transpose()?,
            created_at,
            last_used_at: from_micros(row.last_used_at)?,
            expires_at: from_micros(row.expires_at)?,
            revoked_at: row.revoked_at.map(from_micros).transpose()?,
            // Sessions opened before second factors existed signed in with
            // a password, at their creation.
            auth_time: row.auth_time.map(from_micros).transpose()?.unwrap_or(created_at),
            amr: row.amr.map_or_else(Amr::password, |amr| {
                Amr::from_values(amr.split_whitespace().map(str::to_owned).collect())
            }),
        })
    }
}

impl TryFrom<session_revocations::Model> for Revocation {
    type Error = StoreError;

    fn try_from(row: session_revocations::Model) -> Result<Self, StoreError> {
        Ok(Revocation {
            session_id: SessionId::from_uuid(row.session_id),
            user_id: UserId::from_uuid(row.user_id),
            revoked_at: from_micros(row.revoked_at)?,
            relevant_until: from_micros(row.relevant_until)?,
        })
    }
}

fn scope_condition(scope: RevokeScope) -> Condition {
    let condition = Condition::all().add(sessions::Column::RevokedAt.is_null());
    match scope {
        RevokeScope::Session(id) => condition.add(sessions::Column::Id.eq(id.as_uuid())),
        RevokeScope::User(user) => condition.add(sessions::Column::UserId.eq(user.as_uuid())),
        RevokeScope::UserExcept(user, keep) => {
            condition.add(sessions::Column::UserId.eq(user.as_uuid())).add(sessions::Column::Id.ne(keep.as_uuid()))
        }
    }
}

impl SessionStore for SeaOrmSessionStore {
    #[tracing::instrument(skip_all, fields(session_id = %session.id))]
    async fn insert_audited(&self, session: &Session, audit: Option<&AuditEvent>) -> Result<(), StoreError> {
        let row = sessions::ActiveModel {
            id: Set(session.id.as_uuid()),
            user_id: Set(session.user_id.as_uuid()),
            generation: Set(to_db_generation(session.generation)),
            rotated_at: Set(session.rotated_at.map(to_micros)),
            created_at: Set(to_micros(session.created_at)),
            last_used_at: Set(to_micros(session.last_used_at)),
            expires_at: Set(to_micros(session.expires_at)),
            revoked_at: Set(session.revoked_at.map(to_micros)),
            auth_time: Set(Some(to_micros(session.auth_time))),
            amr: Set(Some(session.amr.values().join(" "))),
        };
        retry_on_deadlock(
            |e| Some(e),
            || async {
                let txn = begin_write(&self.conn).await?;
                sessions::Entity::insert(row.clone()).exec_without_returning(&txn).await.map_err(map_err)?;
                record(&txn, audit).await?;
                txn.commit().await.map_err(map_err)
            },
        )
        .await
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

    #[tracing::instrument(skip_all, fields(session_id = %id, from))]
    async fn rotate_audited(
        &self,
        id: SessionId,
        from: u64,
        now: OffsetDateTime,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        retry_on_deadlock(|e| Some(e), || self.rotate_once(id, from, now, audit)).await
    }

    #[tracing::instrument(skip_all, fields(?scope))]
    async fn revoke_audited(
        &self,
        scope: RevokeScope,
        at: OffsetDateTime,
        relevant_until: OffsetDateTime,
        audit: Option<&AuditEvent>,
    ) -> Result<Vec<Revocation>, StoreError> {
        retry_on_deadlock(|e| Some(e), || self.revoke_once(scope, at, relevant_until, audit)).await
    }

    async fn record_revocation(&self, revocation: &Revocation) -> Result<(), StoreError> {
        insert_revocations(&self.conn, std::slice::from_ref(revocation)).await
    }

    #[tracing::instrument(skip_all, fields(user_id = %user))]
    async fn list_live(&self, user: UserId, now: OffsetDateTime) -> Result<Vec<Session>, StoreError> {
        sessions::Entity::find()
            .filter(sessions::Column::UserId.eq(user.as_uuid()))
            .filter(sessions::Column::RevokedAt.is_null())
            .filter(sessions::Column::ExpiresAt.gt(to_micros(now)))
            .order_by_desc(sessions::Column::CreatedAt)
            .order_by_desc(sessions::Column::Id)
            .all(&self.conn)
            .await
            .map_err(map_err)?
            .into_iter()
            .map(Session::try_from)
            .collect()
    }

    async fn revocations_since(
        &self,
        since: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Vec<Revocation>, StoreError> {
        session_revocations::Entity::find()
            .filter(session_revocations::Column::RevokedAt.gte(to_micros(since)))
            .filter(session_revocations::Column::RelevantUntil.gt(to_micros(now)))
            .all(&self.conn)
            .await
            .map_err(map_err)?
            .into_iter()
            .map(Revocation::try_from)
            .collect()
    }

    #[tracing::instrument(skip_all)]
    async fn purge(&self, now: OffsetDateTime, revoked_before: OffsetDateTime) -> Result<u64, StoreError> {
        let sessions = sessions::Entity::delete_many()
            .filter(
                Condition::any()
                    .add(sessions::Column::ExpiresAt.lte(to_micros(now)))
                    .add(sessions::Column::RevokedAt.lt(to_micros(revoked_before))),
            )
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        let revocations = session_revocations::Entity::delete_many()
            .filter(session_revocations::Column::RelevantUntil.lte(to_micros(now)))
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(sessions.rows_affected + revocations.rows_affected)
    }
}

/// Adds `revocations` to the feed, keeping a record already there for the
/// same id (the first revocation time wins).
pub(crate) async fn insert_revocations(
    conn: &impl sea_orm::ConnectionTrait,
    revocations: &[Revocation],
) -> Result<(), StoreError> {
    if revocations.is_empty() {
        return Ok(());
    }
    let rows = revocations.iter().map(|r| session_revocations::ActiveModel {
        session_id: Set(r.session_id.as_uuid()),
        user_id: Set(r.user_id.as_uuid()),
        revoked_at: Set(to_micros(r.revoked_at)),
        relevant_until: Set(to_micros(r.relevant_until)),
    });
    // `do_nothing_on`, not `do_nothing`: for MySQL sea-query renders the
    // latter as `ON DUPLICATE KEY IGNORE`, which is not SQL; this one is
    // `ON DUPLICATE KEY UPDATE session_id = session_id` there and
    // `ON CONFLICT (session_id) DO NOTHING` elsewhere.
    let column = session_revocations::Column::SessionId;
    session_revocations::Entity::insert_many(rows)
        .on_conflict(OnConflict::column(column).do_nothing_on([column]).to_owned())
        .exec_without_returning(conn)
        .await
        .map_err(map_err)?;
    Ok(())
}

impl SeaOrmSessionStore {
    async fn revoke_once(
        &self,
        scope: RevokeScope,
        at: OffsetDateTime,
        relevant_until: OffsetDateTime,
        audit: Option<&AuditEvent>,
    ) -> Result<Vec<Revocation>, StoreError> {
        // SQLite: a deferred transaction that reads first cannot wait for
        // the write lock (SQLITE_BUSY, "database is locked", regardless of
        // the busy timeout), so take it up front. PostgreSQL and MySQL: lock
        // the rows read, so a concurrent revoke waits, then skips the rows
        // this one revoked instead of reporting them as its own.
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        };
        let txn = self.conn.begin_with_options(options).await.map_err(map_err)?;
        let targets: Vec<(uuid::Uuid, uuid::Uuid)> = sessions::Entity::find()
            .select_only()
            .column(sessions::Column::Id)
            .column(sessions::Column::UserId)
            .filter(scope_condition(scope))
            // One lock order for every caller, so overlapping scopes cannot deadlock.
            .order_by_asc(sessions::Column::Id)
            .lock_exclusive()
            .into_tuple()
            .all(&txn)
            .await
            .map_err(map_err)?;
        if targets.is_empty() {
            // Nothing left to revoke, but the request itself (a logout) is
            // still an event.
            record(&txn, audit).await?;
            txn.commit().await.map_err(map_err)?;
            return Ok(Vec::new());
        }
        let ids: Vec<uuid::Uuid> = targets.iter().map(|(id, _)| *id).collect();
        sessions::Entity::update_many()
            .col_expr(sessions::Column::RevokedAt, Expr::value(to_micros(at)))
            .filter(sessions::Column::Id.is_in(ids))
            .filter(sessions::Column::RevokedAt.is_null())
            .exec(&txn)
            .await
            .map_err(map_err)?;
        let revocations: Vec<Revocation> = targets
            .into_iter()
            .map(|(id, user)| Revocation {
                session_id: SessionId::from_uuid(id),
                user_id: UserId::from_uuid(user),
                revoked_at: at,
                relevant_until,
            })
            .collect();
        insert_revocations(&txn, &revocations).await?;
        record(&txn, audit).await?;
        txn.commit().await.map_err(map_err)?;
        Ok(revocations)
    }

    async fn rotate_once(
        &self,
        id: SessionId,
        from: u64,
        now: OffsetDateTime,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        // One conditional UPDATE: the database serialises concurrent
        // rotations of the row, and only the first still matches `from`.
        // (On MySQL too, `rows_affected` counts matched rows, as sqlx asks
        // for CLIENT_FOUND_ROWS; the generation changes anyway.)
        let txn = begin_write(&self.conn).await?;
        let now_us = to_micros(now);
        let result = sessions::Entity::update_many()
            .col_expr(sessions::Column::Generation, Expr::value(to_db_generation(from.saturating_add(1))))
            .col_expr(sessions::Column::RotatedAt, Expr::value(now_us))
            .col_expr(sessions::Column::LastUsedAt, Expr::value(now_us))
            .filter(sessions::Column::Id.eq(id.as_uuid()))
            .filter(sessions::Column::Generation.eq(to_db_generation(from)))
            .filter(sessions::Column::RevokedAt.is_null())
            .filter(sessions::Column::ExpiresAt.gt(now_us))
            .exec(&txn)
            .await
            .map_err(map_err)?;
        let rotated = result.rows_affected == 1;
        if rotated {
            record(&txn, audit).await?;
        }
        txn.commit().await.map_err(map_err)?;
        Ok(rotated)
    }
}
