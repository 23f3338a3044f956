//! sea-orm [`AuditLog`], and the append every audited store write runs in
//! its own transaction.
//!
//! The chain head (last `seq` and hash) lives in the one-row table
//! `audit_head`. An append locks that row (`SELECT ... FOR UPDATE`; on
//! SQLite the write transaction already holds the database lock), writes
//! the event with the next `seq` and moves the head, all inside the caller's
//! transaction: the event commits with the change it describes, or neither
//! does, and concurrent appends queue on the head instead of forking the
//! chain.

use gatehouse_application::ports::{AuditLog, ChainReport, StoreError};
use gatehouse_domain::{AuditAction, AuditEvent, AuditOutcome, RecordedEvent, UserId};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, DatabaseConnection, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, sea_query::Expr,
};

use super::{
    begin_write,
    entities::{audit_events, audit_head},
    from_micros, map_err, retry_on_deadlock, to_micros,
};
use crate::audit_chain;

/// Events read per query when walking the chain.
const VERIFY_BATCH: u64 = 5_000;

/// Appends `event` to the chain inside `txn`.
pub(crate) async fn append_in(txn: &DatabaseTransaction, event: &AuditEvent) -> Result<(), StoreError> {
    let head = audit_head::Entity::find_by_id(1)
        .lock_exclusive()
        .one(txn)
        .await
        .map_err(map_err)?
        .ok_or_else(|| StoreError::Internal("audit_head row missing".into()))?;
    let head_seq = u64::try_from(head.seq).map_err(|_| StoreError::Internal("negative audit seq".into()))?;
    let recorded = audit_chain::next(head_seq, &head.hash, event.clone());
    let seq = i64::try_from(recorded.seq).map_err(|_| StoreError::Internal("audit seq overflow".into()))?;
    let row = audit_events::ActiveModel {
        seq: Set(seq),
        occurred_at: Set(to_micros(event.occurred_at)),
        action: Set(event.action.as_str().to_owned()),
        outcome: Set(event.outcome.as_str().to_owned()),
        actor_id: Set(event.actor.map(|u| u.as_uuid())),
        subject_id: Set(event.subject.map(|u| u.as_uuid())),
        client: Set(event.client.clone()),
        detail: Set(event.detail.clone()),
        prev_hash: Set(recorded.prev_hash.clone()),
        hash: Set(recorded.hash.clone()),
    };
    audit_events::Entity::insert(row).exec_without_returning(txn).await.map_err(map_err)?;
    audit_head::Entity::update_many()
        .col_expr(audit_head::Column::Seq, Expr::value(seq))
        .col_expr(audit_head::Column::Hash, Expr::value(recorded.hash))
        .filter(audit_head::Column::Id.eq(1))
        .exec(txn)
        .await
        .map_err(map_err)?;
    Ok(())
}

/// Appends `audit` inside `txn` when there is one.
pub(crate) async fn record(txn: &DatabaseTransaction, audit: Option<&AuditEvent>) -> Result<(), StoreError> {
    match audit {
        Some(event) => append_in(txn, event).await,
        None => Ok(()),
    }
}

impl TryFrom<audit_events::Model> for RecordedEvent {
    type Error = StoreError;

    fn try_from(row: audit_events::Model) -> Result<Self, StoreError> {
        let corrupt = |what: &str| StoreError::Internal(format!("audit event {}: invalid {what}", row.seq));
        Ok(RecordedEvent {
            seq: u64::try_from(row.seq).map_err(|_| corrupt("seq"))?,
            event: AuditEvent {
                occurred_at: from_micros(row.occurred_at)?,
                action: AuditAction::parse(&row.action).ok_or_else(|| corrupt("action"))?,
                outcome: AuditOutcome::parse(&row.outcome).ok_or_else(|| corrupt("outcome"))?,
                actor: row.actor_id.map(UserId::from_uuid),
                subject: row.subject_id.map(UserId::from_uuid),
                client: row.client.clone(),
                detail: row.detail.clone(),
            },
            prev_hash: row.prev_hash,
            hash: row.hash,
        })
    }
}

/// The audit trail in `audit_events`.
#[derive(Debug, Clone)]
pub struct SeaOrmAuditLog {
    conn: DatabaseConnection,
}

impl SeaOrmAuditLog {
    pub(crate) fn new(conn: DatabaseConnection) -> Self {
        Self { conn }
    }

    async fn append_once(&self, event: &AuditEvent) -> Result<(), StoreError> {
        let txn = begin_write(&self.conn).await?;
        append_in(&txn, event).await?;
        txn.commit().await.map_err(map_err)
    }
}

impl AuditLog for SeaOrmAuditLog {
    #[tracing::instrument(skip_all, fields(action = %event.action))]
    async fn append(&self, event: &AuditEvent) -> Result<(), StoreError> {
        retry_on_deadlock(|e| Some(e), || self.append_once(event)).await
    }

    async fn page(
        &self,
        before: Option<u64>,
        limit: u32,
        user: Option<UserId>,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut query = audit_events::Entity::find().order_by_desc(audit_events::Column::Seq).limit(u64::from(limit));
        if let Some(before) = before {
            query = query.filter(audit_events::Column::Seq.lt(i64::try_from(before).unwrap_or(i64::MAX)));
        }
        if let Some(user) = user {
            query = query.filter(
                Condition::any()
                    .add(audit_events::Column::ActorId.eq(user.as_uuid()))
                    .add(audit_events::Column::SubjectId.eq(user.as_uuid())),
            );
        }
        query.all(&self.conn).await.map_err(map_err)?.into_iter().map(RecordedEvent::try_from).collect()
    }

    #[tracing::instrument(skip_all)]
    async fn verify(&self) -> Result<ChainReport, StoreError> {
        // Walk in batches so a long trail never sits in memory at once.
        let mut events = Vec::new();
        let mut after = 0i64;
        let mut report = ChainReport { checked: 0, first_break: None };
        let mut state: Option<(u64, String)> = None;
        loop {
            let batch = audit_events::Entity::find()
                .filter(audit_events::Column::Seq.gt(after))
                .order_by_asc(audit_events::Column::Seq)
                .limit(VERIFY_BATCH)
                .all(&self.conn)
                .await
                .map_err(map_err)?;
            let Some(last) = batch.last() else { break };
            after = last.seq;
            for row in batch {
                events.push(RecordedEvent::try_from(row)?);
            }
            let partial = audit_chain::verify_from(state.as_ref().map(|(s, h)| (*s, h.as_str())), events.drain(..));
            report.checked += partial.report.checked;
            if partial.report.first_break.is_some() {
                report.first_break = partial.report.first_break;
                return Ok(report);
            }
            state = partial.head;
        }
        Ok(report)
    }
}
