//! Data files a spec bundles: CSV tables of numbers, optionally gzipped.
//!
//! A table is rows of comma-separated numbers, every row the same length. Blank lines are
//! skipped; a first line that is not numeric is taken as a header and skipped. A `.gz` file is
//! decompressed first (gzip, one member).

use crate::ir::DataTable;

/// The largest data file accepted (compressed), in bytes.
pub const MAX_FILE_BYTES: usize = 32 << 20;
/// The largest table accepted, in values.
pub const MAX_VALUES: usize = 4 << 20;

/// Why a data file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataError {
    /// Not a usable gzip stream.
    #[error("{0} is not a valid gzip file: {1}")]
    Gzip(String, String),
    /// Not text.
    #[error("{file} line {line}: not UTF-8 text")]
    NotText {
        /// The file.
        file: String,
        /// The 1-based line.
        line: usize,
    },
    /// A cell that is not a number.
    #[error("{file} line {line}, column {column}: `{cell}` is not a number")]
    NotANumber {
        /// The file.
        file: String,
        /// The 1-based line.
        line: usize,
        /// The 1-based column.
        column: usize,
        /// The cell's text.
        cell: String,
    },
    /// A row of another length.
    #[error("{file} line {line} has {found} columns; the first row has {expected}")]
    Ragged {
        /// The file.
        file: String,
        /// The 1-based line.
        line: usize,
        /// Columns found.
        found: usize,
        /// Columns expected.
        expected: usize,
    },
    /// No rows.
    #[error("{0} holds no rows of numbers")]
    Empty(String),
    /// Too big.
    #[error("{file} is too large: {what}")]
    TooLarge {
        /// The file.
        file: String,
        /// What limit.
        what: String,
    },
}

/// Parses a CSV table (gunzipping it first when `file` ends in `.gz`).
pub fn parse_table(name: &str, file: &str, bytes: &[u8]) -> Result<DataTable, DataError> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(DataError::TooLarge {
            file: file.to_owned(),
            what: format!("{} bytes; the limit is {MAX_FILE_BYTES}", bytes.len()),
        });
    }
    let raw;
    let bytes = if file.ends_with(".gz") {
        raw = gunzip(file, bytes)?;
        &raw[..]
    } else {
        bytes
    };
    let mut values = Vec::new();
    let mut cols = 0usize;
    let mut rows = 0usize;
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line_no = i + 1;
        let line = std::str::from_utf8(line).map_err(|_| DataError::NotText {
            file: file.to_owned(),
            line: line_no,
        })?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        let parsed: Result<Vec<f64>, usize> = cells
            .iter()
            .enumerate()
            .map(|(c, cell)| parse_cell(cell).ok_or(c))
            .collect();
        let row = match parsed {
            Ok(row) => row,
            Err(_) if rows == 0 && values.is_empty() && cols == 0 => {
                // A header line.
                cols = usize::MAX;
                continue;
            }
            Err(c) => {
                return Err(DataError::NotANumber {
                    file: file.to_owned(),
                    line: line_no,
                    column: c + 1,
                    cell: cells[c].chars().take(40).collect(),
                });
            }
        };
        if rows == 0 {
            cols = row.len();
        } else if row.len() != cols {
            return Err(DataError::Ragged {
                file: file.to_owned(),
                line: line_no,
                found: row.len(),
                expected: cols,
            });
        }
        values.extend(row);
        rows += 1;
        if values.len() > MAX_VALUES {
            return Err(DataError::TooLarge {
                file: file.to_owned(),
                what: format!("more than {MAX_VALUES} values"),
            });
        }
    }
    if rows == 0 {
        return Err(DataError::Empty(file.to_owned()));
    }
    Ok(DataTable {
        name: name.to_owned(),
        file: file.to_owned(),
        rows,
        cols,
        values,
    })
}

fn parse_cell(cell: &str) -> Option<f64> {
    let v: f64 = cell.parse().ok()?;
    v.is_finite().then_some(v)
}

/// Decompresses one gzip member (RFC 1952), checking its CRC and length.
fn gunzip(file: &str, bytes: &[u8]) -> Result<Vec<u8>, DataError> {
    let bad = |why: &str| DataError::Gzip(file.to_owned(), why.to_owned());
    if bytes.len() < 18 || bytes[0] != 0x1f || bytes[1] != 0x8b {
        return Err(bad("no gzip header"));
    }
    if bytes[2] != 8 {
        return Err(bad("not deflate-compressed"));
    }
    let flags = bytes[3];
    let mut at = 10usize;
    if flags & 0x04 != 0 {
        let xlen = bytes
            .get(at..at + 2)
            .map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])))
            .ok_or_else(|| bad("truncated header"))?;
        at += 2 + xlen;
    }
    for bit in [0x08u8, 0x10] {
        if flags & bit != 0 {
            let end = bytes
                .get(at..)
                .and_then(|rest| rest.iter().position(|&b| b == 0))
                .ok_or_else(|| bad("truncated header"))?;
            at += end + 1;
        }
    }
    if flags & 0x02 != 0 {
        at += 2;
    }
    if at + 8 > bytes.len() {
        return Err(bad("truncated"));
    }
    let body = &bytes[at..bytes.len() - 8];
    let out = miniz_oxide::inflate::decompress_to_vec_with_limit(body, MAX_VALUES * 32)
        .map_err(|e| bad(&format!("{:?}", e.status)))?;
    let trailer = &bytes[bytes.len() - 8..];
    let crc = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
    let len = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
    if crc32(&out) != crc || out.len() as u32 != len {
        return Err(bad("checksum mismatch (the file is damaged)"));
    }
    Ok(out)
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
        out.extend(miniz_oxide::deflate::compress_to_vec(data, 6));
        out.extend(crc32(data).to_le_bytes());
        out.extend((data.len() as u32).to_le_bytes());
        out
    }

    #[test]
    fn parses_plain_and_gzipped_tables_with_headers() {
        let csv = b"a,b,c\n1,2,3\n\n4, 5.5 ,6\n";
        let t = parse_table("t", "t.csv", csv).unwrap();
        assert_eq!((t.rows, t.cols), (2, 3));
        assert_eq!(t.values, vec![1.0, 2.0, 3.0, 4.0, 5.5, 6.0]);
        let z = parse_table("t", "t.csv.gz", &gzip(csv)).unwrap();
        assert_eq!(
            z,
            DataTable {
                file: "t.csv.gz".into(),
                ..t
            }
        );
    }

    #[test]
    fn crc_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn bad_tables_say_where() {
        let e = parse_table("t", "t.csv", b"1,2\n3,x\n").unwrap_err();
        assert_eq!(e.to_string(), "t.csv line 2, column 2: `x` is not a number");
        let e = parse_table("t", "t.csv", b"1,2\n3\n").unwrap_err();
        assert!(e.to_string().contains("line 2 has 1 columns"));
        assert!(matches!(
            parse_table("t", "t.csv", b"\n\n"),
            Err(DataError::Empty(_))
        ));
        assert!(matches!(
            parse_table("t", "t.csv.gz", b"1,2,3"),
            Err(DataError::Gzip(..))
        ));
        let mut damaged = gzip(b"1,2\n");
        let n = damaged.len();
        damaged[n - 5] ^= 1;
        assert!(matches!(
            parse_table("t", "t.csv.gz", &damaged),
            Err(DataError::Gzip(..))
        ));
        assert!(parse_table("t", "t.csv", b"1,inf\n").is_err());
    }
}
