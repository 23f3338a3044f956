//! sea-orm [`MfaStore`].

use gatehouse_application::ports::{AddFactorError, MfaStore, StoreError};
use gatehouse_domain::{
    AuditEvent, Ceremony, CeremonyPurpose, Digest, Factor, FactorId, FactorKind, MfaChallenge, PasskeyDetails,
    PendingTotp, Sealed, UserId,
};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, SqlErr,
    sea_query::{Expr, ExprTrait, OnConflict},
};
use time::OffsetDateTime;

use super::{
    audit_log::record,
    begin_write,
    entities::{mfa_challenges, mfa_factors, mfa_pending_totp, mfa_recovery_codes, webauthn_ceremonies},
    from_micros, map_err, retry_on_deadlock, to_micros,
};

/// Factors in `mfa_factors`, recovery-code digests in
/// `mfa_recovery_codes`, unconfirmed TOTP secrets in `mfa_pending_totp`,
/// login challenges in `mfa_challenges`, passkey ceremonies in
/// `webauthn_ceremonies`.
#[derive(Debug, Clone)]
pub struct SeaOrmMfaStore {
    conn: DatabaseConnection,
}

impl SeaOrmMfaStore {
    pub(crate) fn new(conn: DatabaseConnection) -> Self {
        Self { conn }
    }
}

fn to_db_step(step: u64) -> i64 {
    i64::try_from(step).unwrap_or(i64::MAX)
}

impl TryFrom<mfa_factors::Model> for Factor {
    type Error = StoreError;

    fn try_from(row: mfa_factors::Model) -> Result<Self, StoreError> {
        Ok(Factor {
            id: FactorId::from_uuid(row.id),
            user_id: UserId::from_uuid(row.user_id),
            kind: FactorKind::parse(&row.kind)
                .ok_or_else(|| StoreError::Internal(format!("unknown factor kind {:?}", row.kind)))?,
            slot: row.slot,
            name: row.name,
            secret: Sealed { key_id: row.key_id, bytes: row.secret },
            last_step: row
                .last_step
                .map(|step| u64::try_from(step).map_err(|_| StoreError::Internal(format!("negative step {step}"))))
                .transpose()?,
            passkey: match row.sign_count {
                Some(count) => Some(PasskeyDetails {
                    sign_count: u32::try_from(count)
                        .map_err(|_| StoreError::Internal(format!("sign count {count} out of range")))?,
                    user_handle: row.user_handle.unwrap_or_default(),
                    transports: row
                        .transports
                        .map(|t| t.split(',').filter(|t| !t.is_empty()).map(str::to_owned).collect())
                        .unwrap_or_default(),
                }),
                None => None,
            },
            created_at: from_micros(row.created_at)?,
            last_used_at: row.last_used_at.map(from_micros).transpose()?,
        })
    }
}

impl TryFrom<webauthn_ceremonies::Model> for Ceremony {
    type Error = StoreError;

    fn try_from(row: webauthn_ceremonies::Model) -> Result<Self, StoreError> {
        Ok(Ceremony {
            purpose: CeremonyPurpose::parse(&row.purpose)
                .ok_or_else(|| StoreError::Internal(format!("unknown ceremony purpose {:?}", row.purpose)))?,
            id: row.id,
            user_id: row.user_id.map(UserId::from_uuid),
            state: row.state,
            created_at: from_micros(row.created_at)?,
            expires_at: from_micros(row.expires_at)?,
        })
    }
}

impl TryFrom<mfa_challenges::Model> for MfaChallenge {
    type Error = StoreError;

    fn try_from(row: mfa_challenges::Model) -> Result<Self, StoreError> {
        Ok(MfaChallenge {
            token_hash: Digest::from_hex(&row.token_hash)
                .ok_or_else(|| StoreError::Internal("malformed challenge digest".into()))?,
            user_id: UserId::from_uuid(row.user_id),
            created_at: from_micros(row.created_at)?,
            expires_at: from_micros(row.expires_at)?,
            failures: u32::try_from(row.failures).unwrap_or(0),
        })
    }
}

/// Replaces the user's recovery codes with `codes`, inside `txn`.
async fn replace_codes(txn: &DatabaseTransaction, user: UserId, codes: &[Digest]) -> Result<(), StoreError> {
    mfa_recovery_codes::Entity::delete_many()
        .filter(mfa_recovery_codes::Column::UserId.eq(user.as_uuid()))
        .exec(txn)
        .await
        .map_err(map_err)?;
    if codes.is_empty() {
        return Ok(());
    }
    let rows = codes
        .iter()
        .map(|code| mfa_recovery_codes::ActiveModel { user_id: Set(user.as_uuid()), code_hash: Set(code.to_hex()) });
    mfa_recovery_codes::Entity::insert_many(rows).exec_without_returning(txn).await.map_err(map_err)?;
    Ok(())
}

fn add_factor_store_error(e: &AddFactorError) -> Option<&StoreError> {
    match e {
        AddFactorError::Store(e) => Some(e),
        AddFactorError::AlreadyRegistered => None,
    }
}

impl MfaStore for SeaOrmMfaStore {
    #[tracing::instrument(skip_all, fields(user_id = %pending.user_id))]
    async fn put_pending_totp(&self, pending: &PendingTotp) -> Result<(), StoreError> {
        let row = mfa_pending_totp::ActiveModel {
            user_id: Set(pending.user_id.as_uuid()),
            key_id: Set(pending.secret.key_id.clone()),
            secret: Set(pending.secret.bytes.clone()),
            created_at: Set(to_micros(pending.created_at)),
        };
        let column = mfa_pending_totp::Column::UserId;
        mfa_pending_totp::Entity::insert(row)
            .on_conflict(
                OnConflict::column(column)
                    .update_columns([
                        mfa_pending_totp::Column::KeyId,
                        mfa_pending_totp::Column::Secret,
                        mfa_pending_totp::Column::CreatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn pending_totp(&self, user: UserId) -> Result<Option<PendingTotp>, StoreError> {
        mfa_pending_totp::Entity::find_by_id(user.as_uuid())
            .one(&self.conn)
            .await
            .map_err(map_err)?
            .map(|row| {
                Ok(PendingTotp {
                    user_id: UserId::from_uuid(row.user_id),
                    secret: Sealed { key_id: row.key_id, bytes: row.secret },
                    created_at: from_micros(row.created_at)?,
                })
            })
            .transpose()
    }

    #[tracing::instrument(skip_all, fields(user_id = %factor.user_id, kind = factor.kind.as_str()))]
    async fn add_factor_audited(
        &self,
        factor: &Factor,
        recovery_codes: Option<&[Digest]>,
        audit: Option<&AuditEvent>,
    ) -> Result<(), AddFactorError> {
        let row = mfa_factors::ActiveModel {
            id: Set(factor.id.as_uuid()),
            user_id: Set(factor.user_id.as_uuid()),
            kind: Set(factor.kind.as_str().into()),
            slot: Set(factor.slot.clone()),
            name: Set(factor.name.clone()),
            key_id: Set(factor.secret.key_id.clone()),
            secret: Set(factor.secret.bytes.clone()),
            last_step: Set(factor.last_step.map(to_db_step)),
            created_at: Set(to_micros(factor.created_at)),
            last_used_at: Set(factor.last_used_at.map(to_micros)),
            sign_count: Set(factor.passkey.as_ref().map(|p| i64::from(p.sign_count))),
            user_handle: Set(factor.passkey.as_ref().map(|p| p.user_handle.clone())),
            transports: Set(factor.passkey.as_ref().map(|p| p.transports.join(","))),
        };
        retry_on_deadlock(add_factor_store_error, || async {
            let txn = begin_write(&self.conn).await?;
            match mfa_factors::Entity::insert(row.clone()).exec_without_returning(&txn).await {
                Ok(_) => {}
                Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                    return Err(AddFactorError::AlreadyRegistered);
                }
                Err(e) => return Err(map_err(e).into()),
            }
            let user = factor.user_id.as_uuid();
            if factor.kind == FactorKind::Totp {
                mfa_pending_totp::Entity::delete_by_id(user).exec(&txn).await.map_err(map_err)?;
            }
            if let Some(codes) = recovery_codes {
                replace_codes(&txn, factor.user_id, codes).await?;
            }
            record(&txn, audit).await?;
            txn.commit().await.map_err(|e| map_err(e).into())
        })
        .await
    }

    async fn factors(&self, user: UserId) -> Result<Vec<Factor>, StoreError> {
        mfa_factors::Entity::find()
            .filter(mfa_factors::Column::UserId.eq(user.as_uuid()))
            .order_by_asc(mfa_factors::Column::CreatedAt)
            .order_by_asc(mfa_factors::Column::Id)
            .all(&self.conn)
            .await
            .map_err(map_err)?
            .into_iter()
            .map(Factor::try_from)
            .collect()
    }

    #[tracing::instrument(skip_all, fields(user_id = %user, factor_id = %id))]
    async fn remove_factor_audited(
        &self,
        user: UserId,
        id: FactorId,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        retry_on_deadlock(
            |e| Some(e),
            || async {
                let txn = begin_write(&self.conn).await?;
                let removed = mfa_factors::Entity::delete_many()
                    .filter(mfa_factors::Column::Id.eq(id.as_uuid()))
                    .filter(mfa_factors::Column::UserId.eq(user.as_uuid()))
                    .exec(&txn)
                    .await
                    .map_err(map_err)?
                    .rows_affected
                    == 1;
                if !removed {
                    txn.rollback().await.map_err(map_err)?;
                    return Ok(false);
                }
                let left = mfa_factors::Entity::find()
                    .filter(mfa_factors::Column::UserId.eq(user.as_uuid()))
                    .count(&txn)
                    .await
                    .map_err(map_err)?;
                if left == 0 {
                    mfa_recovery_codes::Entity::delete_many()
                        .filter(mfa_recovery_codes::Column::UserId.eq(user.as_uuid()))
                        .exec(&txn)
                        .await
                        .map_err(map_err)?;
                }
                record(&txn, audit).await?;
                txn.commit().await.map_err(map_err)?;
                Ok(true)
            },
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(factor_id = %id, step))]
    async fn accept_totp_step(&self, id: FactorId, step: u64, at: OffsetDateTime) -> Result<bool, StoreError> {
        // One conditional UPDATE: the database serialises concurrent
        // acceptances of the row, and only the first still finds an older
        // step (MySQL's `rows_affected` counts matched rows; see the
        // session store's rotation).
        let step = to_db_step(step);
        let result = mfa_factors::Entity::update_many()
            .col_expr(mfa_factors::Column::LastStep, Expr::value(step))
            .col_expr(mfa_factors::Column::LastUsedAt, Expr::value(to_micros(at)))
            .filter(mfa_factors::Column::Id.eq(id.as_uuid()))
            .filter(
                sea_orm::Condition::any()
                    .add(mfa_factors::Column::LastStep.is_null())
                    .add(mfa_factors::Column::LastStep.lt(step)),
            )
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(result.rows_affected == 1)
    }

    async fn recovery_codes_left(&self, user: UserId) -> Result<u32, StoreError> {
        let count = mfa_recovery_codes::Entity::find()
            .filter(mfa_recovery_codes::Column::UserId.eq(user.as_uuid()))
            .count(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    #[tracing::instrument(skip_all, fields(user_id = %user))]
    async fn replace_recovery_codes_audited(
        &self,
        user: UserId,
        codes: &[Digest],
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        retry_on_deadlock(
            |e| Some(e),
            || async {
                let txn = begin_write(&self.conn).await?;
                let factors = mfa_factors::Entity::find()
                    .filter(mfa_factors::Column::UserId.eq(user.as_uuid()))
                    .count(&txn)
                    .await
                    .map_err(map_err)?;
                if factors == 0 {
                    txn.rollback().await.map_err(map_err)?;
                    return Ok(false);
                }
                replace_codes(&txn, user, codes).await?;
                record(&txn, audit).await?;
                txn.commit().await.map_err(map_err)?;
                Ok(true)
            },
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(user_id = %user))]
    async fn use_recovery_code_audited(
        &self,
        user: UserId,
        code: &Digest,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        retry_on_deadlock(
            |e| Some(e),
            || async {
                let txn = begin_write(&self.conn).await?;
                // The DELETE is the check: of two at once, one deletes the row.
                let used = mfa_recovery_codes::Entity::delete_many()
                    .filter(mfa_recovery_codes::Column::UserId.eq(user.as_uuid()))
                    .filter(mfa_recovery_codes::Column::CodeHash.eq(code.to_hex()))
                    .exec(&txn)
                    .await
                    .map_err(map_err)?
                    .rows_affected
                    == 1;
                if used {
                    record(&txn, audit).await?;
                }
                txn.commit().await.map_err(map_err)?;
                Ok(used)
            },
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(user_id = %user))]
    async fn reset_audited(&self, user: UserId, audit: Option<&AuditEvent>) -> Result<(), StoreError> {
        retry_on_deadlock(
            |e| Some(e),
            || async {
                let txn = begin_write(&self.conn).await?;
                let id = user.as_uuid();
                mfa_factors::Entity::delete_many()
                    .filter(mfa_factors::Column::UserId.eq(id))
                    .exec(&txn)
                    .await
                    .map_err(map_err)?;
                mfa_recovery_codes::Entity::delete_many()
                    .filter(mfa_recovery_codes::Column::UserId.eq(id))
                    .exec(&txn)
                    .await
                    .map_err(map_err)?;
                mfa_pending_totp::Entity::delete_by_id(id).exec(&txn).await.map_err(map_err)?;
                mfa_challenges::Entity::delete_many()
                    .filter(mfa_challenges::Column::UserId.eq(id))
                    .exec(&txn)
                    .await
                    .map_err(map_err)?;
                webauthn_ceremonies::Entity::delete_many()
                    .filter(webauthn_ceremonies::Column::UserId.eq(id))
                    .exec(&txn)
                    .await
                    .map_err(map_err)?;
                record(&txn, audit).await?;
                txn.commit().await.map_err(map_err)
            },
        )
        .await
    }

    async fn insert_challenge(&self, challenge: &MfaChallenge) -> Result<(), StoreError> {
        let row = mfa_challenges::ActiveModel {
            token_hash: Set(challenge.token_hash.to_hex()),
            user_id: Set(challenge.user_id.as_uuid()),
            created_at: Set(to_micros(challenge.created_at)),
            expires_at: Set(to_micros(challenge.expires_at)),
            failures: Set(i32::try_from(challenge.failures).unwrap_or(i32::MAX)),
        };
        mfa_challenges::Entity::insert(row).exec_without_returning(&self.conn).await.map_err(map_err)?;
        Ok(())
    }

    async fn challenge(&self, token_hash: &Digest) -> Result<Option<MfaChallenge>, StoreError> {
        mfa_challenges::Entity::find_by_id(token_hash.to_hex())
            .one(&self.conn)
            .await
            .map_err(map_err)?
            .map(MfaChallenge::try_from)
            .transpose()
    }

    async fn challenge_failed(&self, token_hash: &Digest) -> Result<(), StoreError> {
        mfa_challenges::Entity::update_many()
            .col_expr(mfa_challenges::Column::Failures, Expr::col(mfa_challenges::Column::Failures).add(1))
            .filter(mfa_challenges::Column::TokenHash.eq(token_hash.to_hex()))
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn spend_challenge(&self, token_hash: &Digest, now: OffsetDateTime) -> Result<bool, StoreError> {
        let result = mfa_challenges::Entity::delete_many()
            .filter(mfa_challenges::Column::TokenHash.eq(token_hash.to_hex()))
            .filter(mfa_challenges::Column::ExpiresAt.gt(to_micros(now)))
            .filter(
                mfa_challenges::Column::Failures
                    .lt(i32::try_from(gatehouse_domain::mfa::MFA_MAX_FAILURES).unwrap_or(5)),
            )
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(result.rows_affected == 1)
    }

    #[tracing::instrument(skip_all, fields(factor_id = %id))]
    async fn record_passkey_use(
        &self,
        id: FactorId,
        expected: u32,
        sign_count: u32,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        // One conditional UPDATE, compare-and-set on the count read before
        // the assertion was checked. Writing the same count again (0 for
        // counterless authenticators) still counts on MySQL: sqlx asks for
        // CLIENT_FOUND_ROWS, so `rows_affected` counts matched rows.
        let result = mfa_factors::Entity::update_many()
            .col_expr(mfa_factors::Column::SignCount, Expr::value(i64::from(sign_count)))
            .col_expr(mfa_factors::Column::LastUsedAt, Expr::value(to_micros(at)))
            .filter(mfa_factors::Column::Id.eq(id.as_uuid()))
            .filter(mfa_factors::Column::SignCount.eq(i64::from(expected)))
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(result.rows_affected == 1)
    }

    async fn insert_ceremony(&self, ceremony: &Ceremony) -> Result<(), StoreError> {
        let row = webauthn_ceremonies::ActiveModel {
            id: Set(ceremony.id.clone()),
            purpose: Set(ceremony.purpose.as_str().into()),
            user_id: Set(ceremony.user_id.map(|u| u.as_uuid())),
            state: Set(ceremony.state.clone()),
            created_at: Set(to_micros(ceremony.created_at)),
            expires_at: Set(to_micros(ceremony.expires_at)),
        };
        webauthn_ceremonies::Entity::insert(row).exec_without_returning(&self.conn).await.map_err(map_err)?;
        Ok(())
    }

    async fn take_ceremony(&self, id: &str, now: OffsetDateTime) -> Result<Option<Ceremony>, StoreError> {
        let Some(row) =
            webauthn_ceremonies::Entity::find_by_id(id.to_owned()).one(&self.conn).await.map_err(map_err)?
        else {
            return Ok(None);
        };
        // MySQL's default collation compares without case and trailing
        // spaces: only the exact id names the ceremony (ids are lower-case
        // hex, so no two of them are equal under that collation either).
        if row.id != id {
            return Ok(None);
        }
        // The DELETE is the claim: of concurrent takers, on any instance,
        // one deletes the row and the others find nothing to delete.
        let taken = webauthn_ceremonies::Entity::delete_many()
            .filter(webauthn_ceremonies::Column::Id.eq(id))
            .exec(&self.conn)
            .await
            .map_err(map_err)?
            .rows_affected
            == 1;
        if !taken {
            return Ok(None);
        }
        Ok(Some(Ceremony::try_from(row)?).filter(|c| c.is_live(now)))
    }

    #[tracing::instrument(skip_all)]
    async fn purge(&self, now: OffsetDateTime, pending_before: OffsetDateTime) -> Result<u64, StoreError> {
        let challenges = mfa_challenges::Entity::delete_many()
            .filter(mfa_challenges::Column::ExpiresAt.lte(to_micros(now)))
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        let pending = mfa_pending_totp::Entity::delete_many()
            .filter(mfa_pending_totp::Column::CreatedAt.lt(to_micros(pending_before)))
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        let ceremonies = webauthn_ceremonies::Entity::delete_many()
            .filter(webauthn_ceremonies::Column::ExpiresAt.lte(to_micros(now)))
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(challenges.rows_affected + pending.rows_affected + ceremonies.rows_affected)
    }
}
