//! Second factors: registered factors (TOTP secrets now, passkeys next),
//! recovery-code digests, TOTP secrets awaiting confirmation, the
//! challenges between login's two steps, and each session's `auth_time`
//! and `amr`.
//!
//! Secrets are stored sealed (AES-256-GCM, `key_id` names the key);
//! recovery codes and `mfa_token`s only as SHA-256 hex digests.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    /// Microseconds since the Unix epoch; NULL for sessions opened before
    /// this migration (read as their `created_at`).
    AuthTime,
    /// Space-separated RFC 8176 values; NULL before this migration (read
    /// as `pwd`).
    Amr,
}

#[derive(DeriveIden)]
enum MfaFactors {
    Table,
    Id,
    UserId,
    /// `totp` or `passkey`.
    Kind,
    /// Unique per user: `totp` for the one TOTP secret, a credential id
    /// for a passkey.
    Slot,
    Name,
    KeyId,
    /// Sealed secret or credential.
    Secret,
    /// The last TOTP time step accepted.
    LastStep,
    CreatedAt,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum MfaRecoveryCodes {
    Table,
    UserId,
    CodeHash,
}

#[derive(DeriveIden)]
enum MfaPendingTotp {
    Table,
    UserId,
    KeyId,
    Secret,
    CreatedAt,
}

#[derive(DeriveIden)]
enum MfaChallenges {
    Table,
    TokenHash,
    UserId,
    CreatedAt,
    ExpiresAt,
    Failures,
}

fn user_fk(table: impl IntoIden, column: impl IntoIden, name: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(table, column)
        .to(Users::Table, Users::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds one at a time.
        manager
            .alter_table(
                Table::alter().table(Sessions::Table).add_column(big_integer_null(Sessions::AuthTime)).to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter().table(Sessions::Table).add_column(string_len_null(Sessions::Amr, 64)).to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(MfaFactors::Table)
                    .col(ColumnDef::new(MfaFactors::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(MfaFactors::UserId).uuid().not_null())
                    .col(string_len(MfaFactors::Kind, 16))
                    .col(string_len(MfaFactors::Slot, 255))
                    .col(string_len_null(MfaFactors::Name, 64))
                    .col(string_len(MfaFactors::KeyId, 32))
                    .col(blob(MfaFactors::Secret))
                    .col(big_integer_null(MfaFactors::LastStep))
                    .col(big_integer(MfaFactors::CreatedAt))
                    .col(big_integer_null(MfaFactors::LastUsedAt))
                    .foreign_key(&mut user_fk(MfaFactors::Table, MfaFactors::UserId, "fk_mfa_factors_user"))
                    .to_owned(),
            )
            .await?;
        // A user has one factor per slot, enforced by the database so that
        // two confirmations racing cannot both enable TOTP.
        manager
            .create_index(
                Index::create()
                    .name("ux_mfa_factors_user_slot")
                    .table(MfaFactors::Table)
                    .col(MfaFactors::UserId)
                    .col(MfaFactors::Slot)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(MfaRecoveryCodes::Table)
                    .col(ColumnDef::new(MfaRecoveryCodes::UserId).uuid().not_null())
                    .col(string_len(MfaRecoveryCodes::CodeHash, 64))
                    .primary_key(Index::create().col(MfaRecoveryCodes::UserId).col(MfaRecoveryCodes::CodeHash))
                    .foreign_key(&mut user_fk(
                        MfaRecoveryCodes::Table,
                        MfaRecoveryCodes::UserId,
                        "fk_mfa_recovery_codes_user",
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(MfaPendingTotp::Table)
                    .col(ColumnDef::new(MfaPendingTotp::UserId).uuid().not_null().primary_key())
                    .col(string_len(MfaPendingTotp::KeyId, 32))
                    .col(blob(MfaPendingTotp::Secret))
                    .col(big_integer(MfaPendingTotp::CreatedAt))
                    .foreign_key(&mut user_fk(
                        MfaPendingTotp::Table,
                        MfaPendingTotp::UserId,
                        "fk_mfa_pending_totp_user",
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(MfaChallenges::Table)
                    .col(string_len(MfaChallenges::TokenHash, 64).primary_key())
                    .col(ColumnDef::new(MfaChallenges::UserId).uuid().not_null())
                    .col(big_integer(MfaChallenges::CreatedAt))
                    .col(big_integer(MfaChallenges::ExpiresAt))
                    .col(integer(MfaChallenges::Failures).default(0))
                    .foreign_key(&mut user_fk(MfaChallenges::Table, MfaChallenges::UserId, "fk_mfa_challenges_user"))
                    .to_owned(),
            )
            .await?;
        // The background purge deletes expired challenges by expiry.
        manager
            .create_index(
                Index::create()
                    .name("ix_mfa_challenges_expires_at")
                    .table(MfaChallenges::Table)
                    .col(MfaChallenges::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            MfaChallenges::Table.into_iden(),
            MfaPendingTotp::Table.into_iden(),
            MfaRecoveryCodes::Table.into_iden(),
            MfaFactors::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        manager.alter_table(Table::alter().table(Sessions::Table).drop_column(Sessions::Amr).to_owned()).await?;
        manager.alter_table(Table::alter().table(Sessions::Table).drop_column(Sessions::AuthTime).to_owned()).await
    }
}
