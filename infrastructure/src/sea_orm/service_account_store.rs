//! sea-orm [`ServiceAccountStore`].

use gatehouse_application::ports::{ServiceAccountStore, StoreError};
use gatehouse_domain::{AuditEvent, Digest, Revocation, Scopes, ServiceAccount, ServiceAccountId, ServiceName};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, sea_query::Expr,
};
use time::OffsetDateTime;

use super::{
    audit_log::record, begin_write, entities::service_accounts, from_micros, map_err, retry_on_deadlock,
    session_store::insert_revocations, to_micros,
};

/// Service accounts in `service_accounts`; a deletion's revocation goes to
/// `session_revocations`, the feed every instance polls.
#[derive(Debug, Clone)]
pub struct SeaOrmServiceAccountStore {
    conn: DatabaseConnection,
}

impl SeaOrmServiceAccountStore {
    pub(crate) fn new(conn: DatabaseConnection) -> Self {
        Self { conn }
    }
}

impl TryFrom<service_accounts::Model> for ServiceAccount {
    type Error = StoreError;

    fn try_from(row: service_accounts::Model) -> Result<Self, StoreError> {
        let corrupt = |what: &str| StoreError::Internal(format!("service account {}: bad {what}", row.id));
        Ok(ServiceAccount {
            id: ServiceAccountId::from_uuid(row.id),
            name: ServiceName::parse(&row.name).map_err(|_| corrupt("name"))?,
            secret_hash: Digest::from_hex(&row.secret_hash).ok_or_else(|| corrupt("secret digest"))?,
            scopes: Scopes::parse(&row.scopes).map_err(|_| corrupt("scopes"))?,
            created_at: from_micros(row.created_at)?,
            client_id: row.client_id,
        })
    }
}

impl ServiceAccountStore for SeaOrmServiceAccountStore {
    #[tracing::instrument(skip_all, fields(service_account_id = %account.id))]
    async fn insert_audited(&self, account: &ServiceAccount, audit: Option<&AuditEvent>) -> Result<(), StoreError> {
        let row = service_accounts::ActiveModel {
            id: Set(account.id.as_uuid()),
            name: Set(account.name.as_str().to_owned()),
            client_id: Set(account.client_id.clone()),
            secret_hash: Set(account.secret_hash.to_hex()),
            scopes: Set(account.scopes.to_string()),
            created_at: Set(to_micros(account.created_at)),
            updated_at: Set(to_micros(account.created_at)),
        };
        retry_on_deadlock(
            |e| Some(e),
            || async {
                let txn = begin_write(&self.conn).await?;
                service_accounts::Entity::insert(row.clone()).exec_without_returning(&txn).await.map_err(map_err)?;
                record(&txn, audit).await?;
                txn.commit().await.map_err(map_err)
            },
        )
        .await
    }

    async fn find(&self, id: ServiceAccountId) -> Result<Option<ServiceAccount>, StoreError> {
        service_accounts::Entity::find_by_id(id.as_uuid())
            .one(&self.conn)
            .await
            .map_err(map_err)?
            .map(ServiceAccount::try_from)
            .transpose()
    }

    async fn find_by_client_id(&self, client_id: &str) -> Result<Option<ServiceAccount>, StoreError> {
        service_accounts::Entity::find()
            .filter(service_accounts::Column::ClientId.eq(client_id))
            .one(&self.conn)
            .await
            .map_err(map_err)?
            .map(ServiceAccount::try_from)
            .transpose()
    }

    async fn list(&self) -> Result<Vec<ServiceAccount>, StoreError> {
        service_accounts::Entity::find()
            .order_by_asc(service_accounts::Column::Id)
            .all(&self.conn)
            .await
            .map_err(map_err)?
            .into_iter()
            .map(ServiceAccount::try_from)
            .collect()
    }

    #[tracing::instrument(skip_all, fields(service_account_id = %id))]
    async fn set_secret_audited(
        &self,
        id: ServiceAccountId,
        secret_hash: &Digest,
        at: OffsetDateTime,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        retry_on_deadlock(
            |e| Some(e),
            || async {
                let txn = begin_write(&self.conn).await?;
                let now = to_micros(at);
                let updated = service_accounts::Entity::update_many()
                    .col_expr(service_accounts::Column::SecretHash, Expr::value(secret_hash.to_hex()))
                    .col_expr(service_accounts::Column::UpdatedAt, Expr::value(now))
                    .filter(service_accounts::Column::Id.eq(id.as_uuid()))
                    .exec(&txn)
                    .await
                    .map_err(map_err)?
                    .rows_affected
                    == 1;
                if updated {
                    record(&txn, audit).await?;
                }
                txn.commit().await.map_err(map_err)?;
                Ok(updated)
            },
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(service_account_id = %id))]
    async fn delete_audited(
        &self,
        id: ServiceAccountId,
        revocation: &Revocation,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        retry_on_deadlock(
            |e| Some(e),
            || async {
                let txn = begin_write(&self.conn).await?;
                let deleted = service_accounts::Entity::delete_by_id(id.as_uuid())
                    .exec(&txn)
                    .await
                    .map_err(map_err)?
                    .rows_affected
                    == 1;
                if !deleted {
                    txn.rollback().await.map_err(map_err)?;
                    return Ok(false);
                }
                insert_revocations(&txn, std::slice::from_ref(revocation)).await?;
                record(&txn, audit).await?;
                txn.commit().await.map_err(map_err)?;
                Ok(true)
            },
        )
        .await
    }
}
