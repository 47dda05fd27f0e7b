//! PostgreSQL's binary `COPY … TO STDOUT` format, read row by row as the chunks arrive.
//!
//! The importer reads Synapse's tables this way instead of as query results: each row is a
//! field count and length-prefixed fields, which decode with no per-row type lookups or row
//! objects (about a fifth of the importer's time went into decoding result rows).
//! The format: an 11-byte signature, a 32-bit flags field, a 32-bit header extension length
//! and the extension; then per row a 16-bit field count and, per field, a 32-bit length (-1
//! for NULL) and the value in the type's binary form; a field count of -1 ends the data.

use futures_util::{Stream, StreamExt};

use crate::source::{Cells, FromCells, SourceError};

const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

/// Reads rows of type `T` from a stream of COPY data chunks (chunks need not align with rows).
pub(crate) struct CopyReader<S> {
    chunks: S,
    buffer: Vec<u8>,
    /// Where the next unread byte of `buffer` is.
    start: usize,
    header_read: bool,
    /// The fields of the row being read: (offset in `buffer`, length), or `None` for NULL.
    fields: Vec<Option<(usize, usize)>>,
}

enum Parsed {
    /// A row is in `fields`; it ends at this offset.
    Row(usize),
    End,
    NeedMore,
}

impl<S, B> CopyReader<S>
where
    S: Stream<Item = Result<B, sqlx::Error>> + Unpin,
    B: AsRef<[u8]>,
{
    pub(crate) fn new(chunks: S) -> Self {
        Self {
            chunks,
            buffer: Vec::new(),
            start: 0,
            header_read: false,
            fields: Vec::new(),
        }
    }

    /// The next row, or `None` after the last one (the COPY is then finished on the
    /// connection).
    pub(crate) async fn next<T: FromCells>(&mut self) -> Result<Option<T>, SourceError> {
        loop {
            match self.parse()? {
                Parsed::Row(end) => {
                    let row = CopyRow {
                        data: &self.buffer,
                        fields: &self.fields,
                    };
                    let value = T::from_cells(&row)?;
                    self.start = end;
                    return Ok(Some(value));
                }
                Parsed::End => {
                    // Let the connection read the end of the COPY (and be usable again).
                    while let Some(chunk) = self.chunks.next().await {
                        if !chunk?.as_ref().is_empty() {
                            return Err(corrupt("data after the end of the COPY"));
                        }
                    }
                    return Ok(None);
                }
                Parsed::NeedMore => match self.chunks.next().await {
                    Some(chunk) => self.push(chunk?.as_ref()),
                    None => return Err(corrupt("the COPY data ended in the middle of a row")),
                },
            }
        }
    }

    fn push(&mut self, chunk: &[u8]) {
        if self.start == self.buffer.len() {
            self.buffer.clear();
            self.start = 0;
        } else if self.start > 0 {
            self.buffer.drain(..self.start);
            self.start = 0;
        }
        self.buffer.extend_from_slice(chunk);
    }

    fn parse(&mut self) -> Result<Parsed, SourceError> {
        let mut at = self.start;
        let data = &self.buffer;
        if !self.header_read {
            let Some(fixed) = data.get(at..at + SIGNATURE.len() + 8) else {
                return Ok(Parsed::NeedMore);
            };
            if &fixed[..SIGNATURE.len()] != SIGNATURE {
                return Err(corrupt("not binary COPY data (wrong signature)"));
            }
            let extension = be_u32(&fixed[SIGNATURE.len() + 4..]) as usize;
            at += SIGNATURE.len() + 8;
            if data.len() < at + extension {
                return Ok(Parsed::NeedMore);
            }
            self.start = at + extension;
            self.header_read = true;
            return self.parse();
        }
        let Some(count) = data.get(at..at + 2) else {
            return Ok(Parsed::NeedMore);
        };
        let count = i16::from_be_bytes([count[0], count[1]]);
        at += 2;
        if count == -1 {
            self.start = at;
            return Ok(Parsed::End);
        }
        let count = usize::try_from(count).map_err(|_| corrupt(format!("field count {count}")))?;
        self.fields.clear();
        for _ in 0..count {
            let Some(length) = data.get(at..at + 4) else {
                return Ok(Parsed::NeedMore);
            };
            let length = i32::from_be_bytes([length[0], length[1], length[2], length[3]]);
            at += 4;
            if length < 0 {
                self.fields.push(None);
                continue;
            }
            let length = length as usize;
            if data.len() < at + length {
                return Ok(Parsed::NeedMore);
            }
            self.fields.push(Some((at, length)));
            at += length;
        }
        Ok(Parsed::Row(at))
    }
}

fn be_u32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

fn corrupt(detail: impl Into<String>) -> SourceError {
    SourceError::Corrupt {
        column: "COPY data",
        detail: detail.into(),
    }
}

/// One row of binary COPY data. Integers are read as the 2, 4 or 8 bytes of `smallint`,
/// `integer` or `bigint`; text as the UTF-8 bytes of `text` or `varchar`.
struct CopyRow<'a> {
    data: &'a [u8],
    fields: &'a [Option<(usize, usize)>],
}

fn decode_error(index: usize, what: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("column {index}: {what}").into())
}

impl CopyRow<'_> {
    fn field(&self, index: usize) -> Result<Option<&[u8]>, sqlx::Error> {
        match self.fields.get(index) {
            Some(Some((at, length))) => Ok(Some(&self.data[*at..*at + *length])),
            Some(None) => Ok(None),
            None => Err(decode_error(index, "no such column")),
        }
    }
}

impl Cells for CopyRow<'_> {
    fn int(&self, index: usize) -> Result<i64, sqlx::Error> {
        self.opt_int(index)?
            .ok_or_else(|| decode_error(index, "unexpected NULL"))
    }

    fn opt_int(&self, index: usize) -> Result<Option<i64>, sqlx::Error> {
        let Some(bytes) = self.field(index)? else {
            return Ok(None);
        };
        Ok(Some(match *bytes {
            [a, b] => i64::from(i16::from_be_bytes([a, b])),
            [a, b, c, d] => i64::from(i32::from_be_bytes([a, b, c, d])),
            [a, b, c, d, e, f, g, h] => i64::from_be_bytes([a, b, c, d, e, f, g, h]),
            _ => {
                return Err(decode_error(
                    index,
                    &format!("{} bytes is not an integer", bytes.len()),
                ));
            }
        }))
    }

    fn text(&self, index: usize) -> Result<String, sqlx::Error> {
        self.opt_text(index)?
            .ok_or_else(|| decode_error(index, "unexpected NULL"))
    }

    fn opt_text(&self, index: usize) -> Result<Option<String>, sqlx::Error> {
        let Some(bytes) = self.field(index)? else {
            return Ok(None);
        };
        std::str::from_utf8(bytes)
            .map(|text| Some(text.to_owned()))
            .map_err(|_| decode_error(index, "text is not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use futures_util::stream;

    use super::*;

    /// (text, nullable bigint) rows.
    #[derive(Debug, PartialEq)]
    struct Pair(String, Option<i64>);

    impl FromCells for Pair {
        const SQL: &'static str = "unused";
        fn from_cells(row: &impl Cells) -> Result<Self, sqlx::Error> {
            Ok(Self(row.text(0)?, row.opt_int(1)?))
        }
    }

    fn header() -> Vec<u8> {
        let mut data = SIGNATURE.to_vec();
        data.extend_from_slice(&0u32.to_be_bytes());
        // A header extension, which readers skip.
        data.extend_from_slice(&3u32.to_be_bytes());
        data.extend_from_slice(b"ext");
        data
    }

    fn row(text: &str, int: Option<i64>) -> Vec<u8> {
        let mut data = 2i16.to_be_bytes().to_vec();
        data.extend_from_slice(&(text.len() as i32).to_be_bytes());
        data.extend_from_slice(text.as_bytes());
        match int {
            Some(value) => {
                data.extend_from_slice(&8i32.to_be_bytes());
                data.extend_from_slice(&value.to_be_bytes());
            }
            None => data.extend_from_slice(&(-1i32).to_be_bytes()),
        }
        data
    }

    const TRAILER: [u8; 2] = (-1i16).to_be_bytes();

    async fn read_all(chunks: Vec<Vec<u8>>) -> Result<Vec<Pair>, SourceError> {
        let mut reader = CopyReader::new(stream::iter(chunks.into_iter().map(Ok)));
        let mut rows = Vec::new();
        while let Some(row) = reader.next::<Pair>().await? {
            rows.push(row);
        }
        Ok(rows)
    }

    fn expected() -> Vec<Pair> {
        vec![
            Pair("@alice:example.test".to_owned(), Some(1_700_000_000_000)),
            Pair("émile".to_owned(), None),
            Pair(String::new(), Some(-5)),
        ]
    }

    fn whole() -> Vec<u8> {
        let mut data = header();
        for Pair(text, int) in expected() {
            data.extend(row(&text, int));
        }
        data.extend_from_slice(&TRAILER);
        data
    }

    #[tokio::test]
    async fn rows_come_out_however_the_data_is_cut() {
        let data = whole();
        // One chunk, one byte per chunk, and every cut in between.
        assert_eq!(read_all(vec![data.clone()]).await.ok(), Some(expected()));
        let bytes = data.iter().map(|b| vec![*b]).collect();
        assert_eq!(read_all(bytes).await.ok(), Some(expected()));
        for cut in 1..data.len() {
            let chunks = vec![data[..cut].to_vec(), data[cut..].to_vec()];
            assert_eq!(
                read_all(chunks).await.ok(),
                Some(expected()),
                "cut at {cut}"
            );
        }
    }

    #[tokio::test]
    async fn bad_data_is_an_error_not_a_short_read() {
        let data = whole();
        // Cut short (before the trailer): an error, not a silent end.
        let short = read_all(vec![data[..data.len() - 2].to_vec()]).await;
        assert!(
            matches!(short, Err(SourceError::Corrupt { .. })),
            "{short:?}"
        );
        // Not COPY data at all.
        let text = read_all(vec![b"1\tfoo\n\\.\n".repeat(3)]).await;
        assert!(matches!(text, Err(SourceError::Corrupt { .. })), "{text:?}");
        // Text that is not UTF-8, and an integer of an odd size.
        let mut bad = header();
        bad.extend(row("\u{0}", Some(1)));
        let at = bad.len() - 8 - 4 - 1;
        bad[at] = 0xff;
        bad.extend_from_slice(&TRAILER);
        let utf8 = read_all(vec![bad]).await;
        assert!(
            matches!(&utf8, Err(SourceError::Database(e)) if e.to_string().contains("UTF-8")),
            "{utf8:?}"
        );
        let mut odd = header();
        odd.extend_from_slice(&2i16.to_be_bytes());
        odd.extend_from_slice(&1i32.to_be_bytes());
        odd.push(b'x');
        odd.extend_from_slice(&3i32.to_be_bytes());
        odd.extend_from_slice(&[1, 2, 3]);
        odd.extend_from_slice(&TRAILER);
        let int = read_all(vec![odd]).await;
        assert!(
            matches!(&int, Err(SourceError::Database(e)) if e.to_string().contains("3 bytes")),
            "{int:?}"
        );
    }
}
