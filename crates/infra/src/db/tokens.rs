//! Login tokens, stored only as hashes.

use async_trait::async_trait;
use being_social_domain::model::{User, UserId};
use being_social_domain::ports::TokenRepository;
use being_social_domain::{DomainError, Result};
use diesel::prelude::*;
use diesel::result::DatabaseErrorKind;
use diesel_async::RunQueryDsl;

use super::models::{NewTokenRow, UserRow};
use super::schema::{Ts, tokens, users};
use super::{Database, DbResult, is_violation};

#[async_trait]
impl TokenRepository for Database {
    #[tracing::instrument(skip_all, fields(user))]
    async fn insert(&self, user: UserId, token_hash: Vec<u8>) -> Result<()> {
        let row = NewTokenRow {
            hash: token_hash,
            user_id: user,
            created_at: Ts::now(),
        };
        let result: DbResult<usize> = async {
            with_conn!(self, conn => {
                Ok(diesel::insert_into(tokens::table).values(&row).execute(conn).await?)
            })
        }
        .await;
        match result {
            Ok(_) => Ok(()),
            // The account was deleted between the password check and now.
            Err(err) if is_violation(&err, &DatabaseErrorKind::ForeignKeyViolation) => {
                Err(DomainError::InvalidCredentials)
            }
            Err(err) => Err(err.into()),
        }
    }

    #[tracing::instrument(skip_all)]
    async fn user_for(&self, token_hash: Vec<u8>) -> Result<Option<User>> {
        let row: Option<UserRow> = async {
            with_conn!(self, conn => {
                DbResult::Ok(tokens::table
                    .inner_join(users::table)
                    .filter(tokens::hash.eq(&token_hash))
                    .select(UserRow::as_select())
                    .first(conn)
                    .await
                    .optional()?)
            })
        }
        .await?;
        Ok(row.map(User::from))
    }

    #[tracing::instrument(skip_all)]
    async fn revoke(&self, token_hash: Vec<u8>) -> Result<()> {
        async {
            with_conn!(self, conn => {
                diesel::delete(tokens::table.find(&token_hash)).execute(conn).await?;
                DbResult::Ok(())
            })
        }
        .await?;
        Ok(())
    }
}
