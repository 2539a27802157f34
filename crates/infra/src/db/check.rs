//! Counter verification: every stored counter against a count of the rows it counts. Plain SQL
//! that both backends accept, run by `being-social check` and by the tests after every storm.

use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;

use super::{Database, DbResult};

/// One counter that differs from its rows.
#[derive(Debug, Clone, PartialEq, Eq, diesel::QueryableByName)]
pub struct Drift {
    /// `table.column`, e.g. `posts.likes_count`.
    #[diesel(sql_type = Text)]
    pub counter: String,
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = BigInt)]
    pub stored: i64,
    #[diesel(sql_type = BigInt)]
    pub actual: i64,
}

impl std::fmt::Display for Drift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of id {}: stored {}, rows {}",
            self.counter, self.id, self.stored, self.actual
        )
    }
}

/// For each counter: its table, column, and the count of its rows for the row `t`.
const COUNTERS: [(&str, &str, &str); 6] = [
    (
        "users",
        "post_count",
        "SELECT COUNT(*) FROM posts x WHERE x.author_id = t.id",
    ),
    (
        "users",
        "follower_count",
        "SELECT COUNT(*) FROM follows x WHERE x.leader_id = t.id",
    ),
    (
        "users",
        "following_count",
        "SELECT COUNT(*) FROM follows x WHERE x.follower_id = t.id",
    ),
    (
        "posts",
        "likes_count",
        "SELECT COUNT(*) FROM likes x WHERE x.post_id = t.id",
    ),
    (
        "posts",
        "comments_count",
        "SELECT COUNT(*) FROM comments x WHERE x.post_id = t.id",
    ),
    (
        "comments",
        "reply_count",
        "SELECT COUNT(*) FROM comments x WHERE x.parent_id = t.id",
    ),
];

fn drift_query() -> String {
    COUNTERS
        .iter()
        .map(|(table, column, count)| {
            format!(
                "SELECT '{table}.{column}' AS counter, t.id AS id, t.{column} AS stored, \
                 ({count}) AS actual FROM {table} t WHERE t.{column} <> ({count})"
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
}

fn repair_statements() -> Vec<String> {
    COUNTERS
        .iter()
        .map(|(table, column, count)| {
            format!("UPDATE {table} AS t SET {column} = ({count}) WHERE t.{column} <> ({count})")
        })
        .collect()
}

impl Database {
    /// Every counter that differs from the rows it counts; empty when all agree.
    ///
    /// # Errors
    /// When the database cannot be queried.
    pub async fn counter_drift(&self) -> Result<Vec<Drift>, being_social_domain::DomainError> {
        let query = drift_query();
        let drift: Vec<Drift> = async {
            with_conn!(self, conn => DbResult::Ok(diesel::sql_query(&query).load(conn).await?))
        }
        .await?;
        Ok(drift)
    }

    /// Sets every drifted counter to the count of its rows, in one transaction.
    ///
    /// # Errors
    /// When the database cannot be written.
    pub async fn repair_counters(&self) -> Result<(), being_social_domain::DomainError> {
        let statements = repair_statements();
        async {
            transaction!(self, conn => {
                for statement in &statements {
                    diesel::sql_query(statement).execute(conn).await?;
                }
                Ok(())
            })
        }
        .await?;
        Ok(())
    }
}
