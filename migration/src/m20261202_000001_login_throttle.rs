//! Login-throttle windows, shared by every instance on the database.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum LoginThrottle {
    Table,
    /// `user:<name>` or `addr:<ip>` (`ThrottleKey`'s text form).
    ThrottleKey,
    /// Microseconds since the Unix epoch: when the window opened.
    WindowStart,
    Attempts,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(LoginThrottle::Table)
                    .col(ColumnDef::new(LoginThrottle::ThrottleKey).string_len(80).not_null().primary_key())
                    .col(big_integer(LoginThrottle::WindowStart))
                    .col(big_integer(LoginThrottle::Attempts))
                    .to_owned(),
            )
            .await?;
        // The background purge deletes closed windows by their start.
        manager
            .create_index(
                Index::create()
                    .name("ix_login_throttle_window_start")
                    .table(LoginThrottle::Table)
                    .col(LoginThrottle::WindowStart)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(LoginThrottle::Table).to_owned()).await
    }
}
