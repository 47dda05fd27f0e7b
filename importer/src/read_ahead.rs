//! Rows read a few ahead of the one being handled, so that the user-map slot each one needs
//! is already on its way into the cache when its turn comes ([`UserIndex::prefetch`]): in a
//! large run nearly every lookup misses the caches, and waiting for each in turn costs more
//! than the rest of the row's handling.
//!
//! [`UserIndex::prefetch`]: crate::user_index::UserIndex::prefetch

use std::collections::VecDeque;

use futures_util::{TryStream, TryStreamExt};

/// How many rows ahead: enough to cover a memory access while the rows between are handled.
const AHEAD: usize = 16;

pub(crate) struct ReadAhead<S: TryStream> {
    stream: S,
    ahead: VecDeque<S::Ok>,
    ended: bool,
}

impl<S: TryStream + Unpin> ReadAhead<S> {
    pub(crate) fn new(stream: S) -> Self {
        Self {
            stream,
            ahead: VecDeque::with_capacity(AHEAD),
            ended: false,
        }
    }

    /// The next row; `read` sees each row once, as it is read (ahead of its turn). An error
    /// comes as soon as it is read, ahead of the rows before it (it ends the run anyway).
    pub(crate) async fn next(
        &mut self,
        mut read: impl FnMut(&S::Ok),
    ) -> Result<Option<S::Ok>, S::Error> {
        while !self.ended && self.ahead.len() < AHEAD {
            match self.stream.try_next().await? {
                Some(row) => {
                    read(&row);
                    self.ahead.push_back(row);
                }
                None => self.ended = true,
            }
        }
        Ok(self.ahead.pop_front())
    }
}

#[cfg(test)]
mod tests {
    use futures_util::stream;

    use super::ReadAhead;

    #[tokio::test]
    async fn every_row_comes_once_in_order_and_is_seen_first() {
        let rows: Vec<Result<u32, String>> = (0..40).map(Ok).collect();
        let mut ahead = ReadAhead::new(stream::iter(rows));
        let (mut seen, mut got) = (Vec::new(), Vec::new());
        while let Some(row) = ahead.next(|row| seen.push(*row)).await.unwrap() {
            assert!(seen.contains(&row));
            got.push(row);
        }
        assert_eq!(got, (0..40).collect::<Vec<_>>());
        assert_eq!(seen, got);
    }

    #[tokio::test]
    async fn an_error_ends_the_rows() {
        let rows: Vec<Result<u32, String>> = vec![Ok(1), Err("broken".to_owned()), Ok(3)];
        let mut ahead = ReadAhead::new(stream::iter(rows));
        assert_eq!(ahead.next(|_| {}).await, Err("broken".to_owned()));
    }
}
