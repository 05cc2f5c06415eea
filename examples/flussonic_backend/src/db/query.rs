//! Listing queries built from the filters actually given, so that SQLite can pick the
//! index each filter has (a catch-all `?1 IS NULL OR col = ?1` would defeat it).

use rusqlite::{Connection, Row, params_from_iter, types::Value};

/// A `SELECT` under construction.
pub struct Query {
    sql: String,
    args: Vec<Value>,
    has_where: bool,
}

impl Query {
    /// Starts from `SELECT … FROM …` (no `WHERE`).
    pub fn new(select: &str) -> Self {
        Self {
            sql: select.to_owned(),
            args: Vec::new(),
            has_where: false,
        }
    }

    /// Adds `AND clause`, where `clause` has one `?` for `value`; a `None` value adds nothing.
    pub fn filter<T: Into<Value>>(&mut self, clause: &str, value: Option<T>) -> &mut Self {
        if let Some(value) = value {
            self.sql
                .push_str(if self.has_where { " AND " } else { " WHERE " });
            self.sql.push_str(clause);
            self.args.push(value.into());
            self.has_where = true;
        }
        self
    }

    /// Orders, pages and runs the query, handing each row to `each`.
    pub fn for_each(
        mut self,
        conn: &Connection,
        order: &str,
        limit: i64,
        skip: i64,
        mut each: impl FnMut(&Row<'_>) -> rusqlite::Result<()>,
    ) -> rusqlite::Result<()> {
        self.finish(order, limit, skip);
        let mut stmt = conn.prepare_cached(&self.sql)?;
        let mut rows = stmt.query(params_from_iter(self.args.iter()))?;
        while let Some(row) = rows.next()? {
            each(row)?;
        }
        Ok(())
    }

    fn finish(&mut self, order: &str, limit: i64, skip: i64) {
        self.sql.push_str(" ORDER BY ");
        self.sql.push_str(order);
        self.sql.push_str(" LIMIT ? OFFSET ?");
        self.args.push(Value::Integer(limit));
        self.args.push(Value::Integer(skip));
    }

    /// Orders, pages and runs the query.
    pub fn fetch<T>(
        mut self,
        conn: &Connection,
        order: &str,
        limit: i64,
        skip: i64,
        map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<Vec<T>> {
        self.finish(order, limit, skip);
        let mut stmt = conn.prepare_cached(&self.sql)?;
        let rows = stmt.query_map(params_from_iter(self.args.iter()), map)?;
        rows.collect()
    }
}
