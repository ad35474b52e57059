//! One page of a listing, the shape every store port answers lists in.

/// One page of a listing; `next` is the store's position after the last item, if more may follow.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// Turns up to `limit + 1` rows, each with its listing position, into a page; `next` is the
    /// position of the last item when a row beyond the page showed there is more.
    pub fn from_rows(mut rows: Vec<(String, T)>, limit: usize) -> Page<T> {
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next = if more {
            rows.last().map(|(k, _)| k.clone())
        } else {
            None
        };
        Page {
            items: rows.into_iter().map(|(_, v)| v).collect(),
            next,
        }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next: self.next,
        }
    }
}
