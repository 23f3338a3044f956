//! Passkeys: what a passkey factor remembers beside its sealed credential
//! (the signature counter, the WebAuthn user handle, the transports), and
//! the ceremonies between a passkey's start and finish.
//!
//! A ceremony holds the relying party's state (its challenge), so that any
//! instance sharing the database can finish what another started; it is
//! deleted when it is finished, and purged once expired.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum MfaFactors {
    Table,
    /// A passkey's signature counter; NULL for TOTP.
    SignCount,
    /// A passkey's WebAuthn user handle, base64url.
    UserHandle,
    /// A passkey's transports, comma-separated.
    Transports,
}

#[derive(DeriveIden)]
enum WebauthnCeremonies {
    Table,
    /// 64 hex characters: random for a registration or a sign-in, the
    /// `mfa_token` digest for a login's passkey step.
    Id,
    /// `registration`, `sign_in` or `second_factor`.
    Purpose,
    /// NULL for a passwordless sign-in.
    UserId,
    /// The relying party's state, JSON.
    State,
    CreatedAt,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds one at a time.
        manager
            .alter_table(
                Table::alter().table(MfaFactors::Table).add_column(big_integer_null(MfaFactors::SignCount)).to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(MfaFactors::Table)
                    .add_column(string_len_null(MfaFactors::UserHandle, 128))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(MfaFactors::Table)
                    .add_column(string_len_null(MfaFactors::Transports, 255))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebauthnCeremonies::Table)
                    .col(string_len(WebauthnCeremonies::Id, 64).primary_key())
                    .col(string_len(WebauthnCeremonies::Purpose, 16))
                    .col(ColumnDef::new(WebauthnCeremonies::UserId).uuid().null())
                    .col(blob(WebauthnCeremonies::State))
                    .col(big_integer(WebauthnCeremonies::CreatedAt))
                    .col(big_integer(WebauthnCeremonies::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_webauthn_ceremonies_user")
                            .from(WebauthnCeremonies::Table, WebauthnCeremonies::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_webauthn_ceremonies_expires_at")
                    .table(WebauthnCeremonies::Table)
                    .col(WebauthnCeremonies::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(WebauthnCeremonies::Table).to_owned()).await?;
        for column in [MfaFactors::Transports, MfaFactors::UserHandle, MfaFactors::SignCount] {
            manager.alter_table(Table::alter().table(MfaFactors::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}
