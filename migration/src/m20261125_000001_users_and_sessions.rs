//! Users, their login sessions, and the session revocation feed.
//!
//! Despite its name, this first migration also creates the audit trail's
//! tables (`audit_events` and the one-row `audit_head`). It cannot be
//! renamed: deployed databases record it by this name. Like every released
//! migration it never changes again (see `migration/released.sha256`).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Username,
    PasswordHash,
    Role,
    Disabled,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    UserId,
    Generation,
    RotatedAt,
    CreatedAt,
    LastUsedAt,
    ExpiresAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum SessionRevocations {
    Table,
    SessionId,
    UserId,
    RevokedAt,
    RelevantUntil,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Seq,
    OccurredAt,
    Action,
    Outcome,
    ActorId,
    SubjectId,
    Client,
    Detail,
    PrevHash,
    Hash,
}

#[derive(DeriveIden)]
enum AuditHead {
    Table,
    Id,
    Seq,
    Hash,
}

/// The hash before the first audit event.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(ColumnDef::new(Users::Id).uuid().not_null().primary_key())
                    .col(string_len(Users::Username, 64))
                    .col(string_len(Users::PasswordHash, 255))
                    .col(string_len(Users::Role, 16))
                    .col(boolean(Users::Disabled).default(false))
                    .col(big_integer(Users::CreatedAt))
                    .col(big_integer(Users::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("ux_users_username").table(Users::Table).col(Users::Username).unique().to_owned(),
            )
            .await?;
        // The last-admin rule locks the active admins; with this index a
        // locking read touches only their rows (on MySQL, an unindexed
        // locking read locks every row and gap of the table).
        manager
            .create_index(
                Index::create()
                    .name("ix_users_role_disabled")
                    .table(Users::Table)
                    .col(Users::Role)
                    .col(Users::Disabled)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .col(ColumnDef::new(Sessions::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Sessions::UserId).uuid().not_null())
                    .col(big_integer(Sessions::Generation).default(0))
                    .col(big_integer_null(Sessions::RotatedAt))
                    .col(big_integer(Sessions::CreatedAt))
                    .col(big_integer(Sessions::LastUsedAt))
                    .col(big_integer(Sessions::ExpiresAt))
                    .col(big_integer_null(Sessions::RevokedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_sessions_user")
                            .from(Sessions::Table, Sessions::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("ix_sessions_user_id").table(Sessions::Table).col(Sessions::UserId).to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_sessions_expires_at")
                    .table(Sessions::Table)
                    .col(Sessions::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        // The purge deletes sessions revoked long ago.
        manager
            .create_index(
                Index::create()
                    .name("ix_sessions_revoked_at")
                    .table(Sessions::Table)
                    .col(Sessions::RevokedAt)
                    .to_owned(),
            )
            .await?;
        // The revocation feed every instance polls. No foreign key: a
        // revocation must outlive the session row (purged, or deleted with
        // its user) until no access token of the session can be valid.
        manager
            .create_table(
                Table::create()
                    .table(SessionRevocations::Table)
                    .col(ColumnDef::new(SessionRevocations::SessionId).uuid().not_null().primary_key())
                    .col(ColumnDef::new(SessionRevocations::UserId).uuid().not_null())
                    .col(big_integer(SessionRevocations::RevokedAt))
                    .col(big_integer(SessionRevocations::RelevantUntil))
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("ix_session_revocations_revoked_at", SessionRevocations::RevokedAt),
            ("ix_session_revocations_relevant_until", SessionRevocations::RelevantUntil),
        ] {
            manager
                .create_index(Index::create().name(name).table(SessionRevocations::Table).col(column).to_owned())
                .await?;
        }
        // The audit trail: append-only, each event carrying the hash of the
        // previous one; `audit_head` holds the chain's end and is locked by
        // every append.
        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .col(ColumnDef::new(AuditEvents::Seq).big_integer().not_null().primary_key())
                    .col(big_integer(AuditEvents::OccurredAt))
                    .col(string_len(AuditEvents::Action, 32))
                    .col(string_len(AuditEvents::Outcome, 16))
                    .col(ColumnDef::new(AuditEvents::ActorId).uuid().null())
                    .col(ColumnDef::new(AuditEvents::SubjectId).uuid().null())
                    .col(string_len_null(AuditEvents::Client, 64))
                    .col(string_len_null(AuditEvents::Detail, 255))
                    .col(string_len(AuditEvents::PrevHash, 64))
                    .col(string_len(AuditEvents::Hash, 64))
                    .to_owned(),
            )
            .await?;
        for (name, column) in
            [("ix_audit_events_actor_id", AuditEvents::ActorId), ("ix_audit_events_subject_id", AuditEvents::SubjectId)]
        {
            manager.create_index(Index::create().name(name).table(AuditEvents::Table).col(column).to_owned()).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(AuditHead::Table)
                    .col(ColumnDef::new(AuditHead::Id).integer().not_null().primary_key())
                    .col(big_integer(AuditHead::Seq))
                    .col(string_len(AuditHead::Hash, 64))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(AuditHead::Table)
                    .columns([AuditHead::Id, AuditHead::Seq, AuditHead::Hash])
                    .values_panic([1.into(), 0i64.into(), GENESIS.into()])
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(AuditHead::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(AuditEvents::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(SessionRevocations::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Sessions::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Users::Table).to_owned()).await
    }
}
