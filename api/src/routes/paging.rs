//! `?limit=&cursor=` paging of lists ordered by id: the cursor is the last id of the
//! previous page, and a page is read one row longer than asked, so the extra row tells
//! whether another page follows.

use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::error::ApiError;

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 200;

/// Checks `?limit=`: 1 to 200, default 50.
pub fn page_limit(limit: Option<i64>) -> Result<i64, ApiError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(l) if (1..=MAX_LIMIT).contains(&l) => Ok(l),
        Some(_) => Err(ApiError::validation(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        ))),
    }
}

/// Query of a list paged by id.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IdPageQuery {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page (opaque).
    pub cursor: Option<String>,
}

/// A checked [`IdPageQuery`].
#[derive(Debug, Clone, Copy)]
pub struct IdPage {
    pub limit: i64,
    /// Rows after this id.
    pub after: Option<Uuid>,
}

impl IdPageQuery {
    pub fn checked(&self) -> Result<IdPage, ApiError> {
        let limit = page_limit(self.limit)?;
        let after = self
            .cursor
            .as_deref()
            .map(|c| {
                Uuid::parse_str(c).map_err(|_| ApiError::InvalidQuery("invalid cursor".into()))
            })
            .transpose()?;
        Ok(IdPage { limit, after })
    }
}

impl IdPage {
    /// How many rows to read: one more than the page.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }

    /// The page's rows (the extra one dropped) and the cursor of the next page, if any.
    pub fn split<R>(&self, mut rows: Vec<R>, id: impl Fn(&R) -> Uuid) -> (Vec<R>, Option<String>) {
        let more = rows.len() as i64 > self.limit;
        rows.truncate(self.limit as usize);
        let next = if more {
            rows.last().map(|r| id(r).to_string())
        } else {
            None
        };
        (rows, next)
    }
}
