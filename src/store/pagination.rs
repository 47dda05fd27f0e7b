//! Keyset pagination over ULID primary keys, and the filter conditions list queries share.
//! A page is `WHERE <filters> AND id > $after ORDER BY id LIMIT n + 1` (or the mirror image
//! going backwards), so every page costs an index range scan whatever its depth.

use chrono::{DateTime, Utc};
use sqlx::{Any, AssertSqlSafe, any::AnyRow, query::Query};
use ulid::Ulid;

use super::{StoreError, codec::ms};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaginationDirection {
    Forward,
    Backward,
}

/// Which slice of a list to read: up to `count` items after `after` and before `before`,
/// taken from the start (`Forward`) or from the end (`Backward`) of that range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pagination {
    pub before: Option<Ulid>,
    pub after: Option<Ulid>,
    pub count: usize,
    pub direction: PaginationDirection,
}

impl Pagination {
    pub fn first(count: usize) -> Self {
        Self {
            before: None,
            after: None,
            count,
            direction: PaginationDirection::Forward,
        }
    }

    pub fn last(count: usize) -> Self {
        Self {
            direction: PaginationDirection::Backward,
            ..Self::first(count)
        }
    }

    pub fn after(self, id: Ulid) -> Self {
        Self {
            after: Some(id),
            ..self
        }
    }

    pub fn before(self, id: Ulid) -> Self {
        Self {
            before: Some(id),
            ..self
        }
    }
}

/// One page of a list, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub edges: Vec<T>,
    pub has_next_page: bool,
    pub has_previous_page: bool,
}

impl<T> Page<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            edges: self.edges.into_iter().map(f).collect(),
            has_next_page: self.has_next_page,
            has_previous_page: self.has_previous_page,
        }
    }
}

/// A bound value of a generated query.
#[derive(Debug, Clone)]
#[allow(dead_code)] // `Int` is for timestamp filters
pub(crate) enum Arg {
    Text(String),
    Int(i64),
}

/// `WHERE` conditions built from filters, with their bound values. Each condition's `{}` is
/// replaced by the next `$N` placeholder.
#[derive(Debug, Clone, Default)]
pub(crate) struct Conditions {
    clauses: Vec<String>,
    args: Vec<Arg>,
}

impl Conditions {
    /// A condition without a bound value (e.g. `finished_at IS NULL`).
    pub fn push(&mut self, clause: &str) {
        self.clauses.push(clause.to_owned());
    }

    /// A condition with one bound value in place of its `{}` (used once or several times).
    pub fn push_arg(&mut self, clause: &str, arg: Arg) {
        self.args.push(arg);
        let placeholder = format!("${}", self.args.len());
        self.clauses.push(clause.replace("{}", &placeholder));
    }

    pub fn text(&mut self, clause: &str, value: impl Into<String>) {
        self.push_arg(clause, Arg::Text(value.into()));
    }

    pub fn int(&mut self, clause: &str, value: i64) {
        self.push_arg(clause, Arg::Int(value));
    }

    /// The session lists' time filters on `{alias}.created_at` and `{alias}.last_active_at`.
    pub fn times(&mut self, alias: &str, times: &SessionTimes) {
        let bounds = [
            ("created_at >", times.created_after),
            ("created_at <", times.created_before),
            ("last_active_at >", times.last_active_after),
            ("last_active_at <", times.last_active_before),
        ];
        for (clause, at) in bounds {
            if let Some(at) = at {
                self.int(&format!("{alias}.{clause} {{}}"), ms(at));
            }
        }
    }

    fn where_sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }

    fn bind<'q>(
        &self,
        mut query: Query<'q, Any, sqlx::any::AnyArguments>,
    ) -> Query<'q, Any, sqlx::any::AnyArguments> {
        for arg in &self.args {
            query = match arg {
                Arg::Text(text) => query.bind(text.clone()),
                Arg::Int(int) => query.bind(*int),
            };
        }
        query
    }
}

/// The time filters of the session lists (the admin API's `filter[created-after]`,
/// `filter[created-before]`, `filter[last-active-after]`, `filter[last-active-before]`), each
/// strict, as MAS has them. A session never used has no `last_active_at` and so matches neither
/// last-active bound.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionTimes {
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    pub last_active_after: Option<DateTime<Utc>>,
    pub last_active_before: Option<DateTime<Utc>>,
}

/// Escape `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
pub(crate) fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Read one page. `select` is `SELECT <columns> FROM <table> <alias>`; `id_column` the ULID
/// primary key the list is ordered by.
pub(crate) async fn fetch_page<T>(
    conn: &mut sqlx::AnyConnection,
    select: &str,
    id_column: &str,
    mut conditions: Conditions,
    pagination: &Pagination,
    map: impl Fn(&AnyRow) -> Result<T, StoreError>,
) -> Result<Page<T>, StoreError> {
    if let Some(after) = pagination.after {
        conditions.text(&format!("{id_column} > {{}}"), after.to_string());
    }
    if let Some(before) = pagination.before {
        conditions.text(&format!("{id_column} < {{}}"), before.to_string());
    }
    let order = match pagination.direction {
        PaginationDirection::Forward => "ASC",
        PaginationDirection::Backward => "DESC",
    };
    // One more than asked tells whether there is another page.
    let limit = pagination.count + 1;
    let sql = format!(
        "{select}{} ORDER BY {id_column} {order} LIMIT {limit}",
        conditions.where_sql()
    );
    let rows = conditions
        .bind(sqlx::query(AssertSqlSafe(sql)))
        .fetch_all(&mut *conn)
        .await?;
    let more = rows.len() > pagination.count;
    let mut edges = rows
        .iter()
        .take(pagination.count)
        .map(map)
        .collect::<Result<Vec<T>, _>>()?;
    let page = match pagination.direction {
        PaginationDirection::Forward => Page {
            edges,
            has_next_page: more,
            has_previous_page: pagination.after.is_some(),
        },
        PaginationDirection::Backward => {
            edges.reverse();
            Page {
                edges,
                has_next_page: pagination.before.is_some(),
                has_previous_page: more,
            }
        }
    };
    Ok(page)
}

/// Offset pagination, for APIs that define it (Synapse's admin API). Costs grow with `offset`.
pub(crate) async fn fetch_offset<T>(
    conn: &mut sqlx::AnyConnection,
    select: &str,
    order_by: &str,
    conditions: Conditions,
    offset: u64,
    limit: u64,
    map: impl Fn(&AnyRow) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let sql = format!(
        "{select}{} ORDER BY {order_by} LIMIT {limit} OFFSET {offset}",
        conditions.where_sql()
    );
    conditions
        .bind(sqlx::query(AssertSqlSafe(sql)))
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(map)
        .collect()
}

/// How many rows match. `from` is `FROM <table> <alias>`.
pub(crate) async fn count(
    conn: &mut sqlx::AnyConnection,
    from: &str,
    conditions: &Conditions,
) -> Result<u64, StoreError> {
    let sql = format!(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n {from}{}",
        conditions.where_sql()
    );
    let count: i64 = conditions
        .bind(sqlx::query(AssertSqlSafe(sql)))
        .fetch_one(&mut *conn)
        .await
        .and_then(|row| sqlx::Row::try_get(&row, "n"))?;
    Ok(count.max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_follow_the_arguments() {
        let mut conditions = Conditions::default();
        conditions.push("a IS NULL");
        conditions.int("b = {}", 1);
        conditions.text("(c = {} OR d = {})", "x");
        assert_eq!(
            conditions.where_sql(),
            " WHERE a IS NULL AND b = $1 AND (c = $2 OR d = $2)"
        );
        assert_eq!(like_escape("a_b%c\\"), "a\\_b\\%c\\\\");
    }
}
