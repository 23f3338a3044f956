//! Service accounts: non-human clients of the OAuth 2.0 client-credentials
//! grant. The client secret is stored only as its SHA-256 hex digest.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ServiceAccounts {
    Table,
    Id,
    Name,
    ClientId,
    SecretHash,
    /// Space-separated scope names.
    Scopes,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ServiceAccounts::Table)
                    .col(ColumnDef::new(ServiceAccounts::Id).uuid().not_null().primary_key())
                    .col(string_len(ServiceAccounts::Name, 64))
                    .col(string_len(ServiceAccounts::ClientId, 128))
                    .col(string_len(ServiceAccounts::SecretHash, 64))
                    .col(string_len(ServiceAccounts::Scopes, 255))
                    .col(big_integer(ServiceAccounts::CreatedAt))
                    .col(big_integer(ServiceAccounts::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        // Every token request looks its client up by client id.
        manager
            .create_index(
                Index::create()
                    .name("ux_service_accounts_client_id")
                    .table(ServiceAccounts::Table)
                    .col(ServiceAccounts::ClientId)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(ServiceAccounts::Table).to_owned()).await
    }
}
