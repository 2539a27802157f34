//! Keyset pagination. A page ends with the sort key of its last item; the next page starts
//! strictly after it, so items added meanwhile never shift what is left to read.

use chrono::{DateTime, Utc};

/// The position after which the next page starts: the last item's timestamp and a tie-breaking id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub at: DateTime<Utc>,
    pub id: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    limit: u32,
    pub after: Option<Cursor>,
}

/// The page sizes a client may ask for: `default` when it names none, at most `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimits {
    pub default: u32,
    pub max: u32,
}

impl Default for PageLimits {
    fn default() -> Self {
        Self {
            default: PageRequest::DEFAULT_LIMIT,
            max: PageRequest::MAX_LIMIT,
        }
    }
}

impl PageRequest {
    pub const DEFAULT_LIMIT: u32 = 30;
    pub const MAX_LIMIT: u32 = 100;

    /// A request for `limit` items (1 to 100, 30 when absent) after `after`.
    ///
    /// # Errors
    /// A message for the `limit` field when it is out of range.
    pub fn new(limit: Option<u32>, after: Option<Cursor>) -> Result<Self, String> {
        Self::within(&PageLimits::default(), limit, after)
    }

    /// A request for `limit` items (1 to `limits.max`, `limits.default` when absent) after `after`.
    ///
    /// # Errors
    /// A message for the `limit` field when it is out of range.
    pub fn within(
        limits: &PageLimits,
        limit: Option<u32>,
        after: Option<Cursor>,
    ) -> Result<Self, String> {
        let limit = limit.unwrap_or(limits.default);
        if !(1..=limits.max).contains(&limit) {
            return Err(format!("Limit must be between 1 and {}.", limits.max));
        }
        Ok(Self { limit, after })
    }

    /// The first page at the default size of `limits`.
    pub fn first_within(limits: &PageLimits) -> Self {
        Self {
            limit: limits.default.clamp(1, limits.max.max(1)),
            after: None,
        }
    }

    pub fn first(limit: u32) -> Self {
        Self {
            limit: limit.clamp(1, Self::MAX_LIMIT),
            after: None,
        }
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Adapters fetch one row more than the limit to learn whether a next page exists.
    pub fn fetch_limit(&self) -> i64 {
        i64::from(self.limit) + 1
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<Cursor>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows in order: the extra row only says there is more.
    pub fn from_rows(mut rows: Vec<T>, request: &PageRequest, key: impl Fn(&T) -> Cursor) -> Self {
        let limit = request.limit() as usize;
        let next = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(key)
        } else {
            None
        };
        Self { items: rows, next }
    }

    /// Builds a page from the keys of up to `limit + 1` items in order, and the rows read for
    /// them afterwards (in the same order): the next page follows the keys, so a row deleted in
    /// between leaves out its item, not the rest of the walk.
    pub fn from_keys(
        keys: &[Cursor],
        rows: Vec<T>,
        request: &PageRequest,
        key: impl Fn(&T) -> Cursor,
    ) -> Self {
        let limit = request.limit() as usize;
        let shown = &keys[..keys.len().min(limit)];
        let next = if keys.len() > limit {
            shown.last().copied()
        } else {
            None
        };
        let items = rows
            .into_iter()
            .filter(|row| shown.contains(&key(row)))
            .collect();
        Self { items, next }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next: self.next,
        }
    }

    pub fn empty() -> Self {
        Self {
            items: Vec::new(),
            next: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_is_bounded() {
        assert!(PageRequest::new(Some(0), None).is_err());
        assert!(PageRequest::new(Some(101), None).is_err());
        assert_eq!(PageRequest::new(None, None).map(|p| p.limit()), Ok(30));
        let limits = PageLimits {
            default: 7,
            max: 500,
        };
        assert_eq!(
            PageRequest::within(&limits, None, None).map(|p| p.limit()),
            Ok(7)
        );
        assert!(PageRequest::within(&limits, Some(500), None).is_ok());
        assert!(PageRequest::within(&limits, Some(501), None).is_err());
    }

    /// The cursor of item `id` (all at one instant: the id orders them).
    fn key(id: &i64) -> Cursor {
        Cursor {
            at: DateTime::<Utc>::UNIX_EPOCH,
            id: *id,
        }
    }

    #[test]
    fn extra_row_means_next_page() {
        let request = PageRequest::first(2);
        let page = Page::from_rows(vec![1, 2, 3], &request, key);
        assert_eq!(page.items, vec![1, 2]);
        assert_eq!(page.next.map(|c| c.id), Some(2));
        let last = Page::from_rows(vec![1, 2], &request, key);
        assert_eq!(last.next, None);
    }

    #[test]
    fn a_row_gone_after_its_key_was_read_leaves_the_next_page() {
        let request = PageRequest::first(2);
        let keys: Vec<Cursor> = [1, 2, 3].iter().map(key).collect();
        // The second item was deleted between the two statements: the walk goes on after it.
        let page = Page::from_keys(&keys, vec![1, 3], &request, key);
        assert_eq!(page.items, vec![1]);
        assert_eq!(page.next.map(|c| c.id), Some(2));
        let whole = Page::from_keys(&keys, vec![1, 2, 3], &request, key);
        assert_eq!(whole, Page::from_rows(vec![1, 2, 3], &request, key));
        let last = Page::from_keys(&keys[..2], vec![2], &request, key);
        assert_eq!((last.items, last.next), (vec![2], None));
    }
}
