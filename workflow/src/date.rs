//! Calendar dates in ISO 8601 extended form (`YYYY-MM-DD`), parsed from bytes.

use chrono::NaiveDate;

/// Why a text is not a calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    #[error("is not a date in the form YYYY-MM-DD")]
    Format,
    #[error("is not a real calendar date")]
    NotADate,
}

/// Parses exactly `YYYY-MM-DD` (four-digit year from 0001, two-digit month and
/// day), ignoring surrounding ASCII spaces. `2030-02-30` is [`DateError::NotADate`];
/// `30-12-31`, `2030-1-5` or `2030-12-31T00:00:00Z` are [`DateError::Format`].
pub fn parse_date(text: &[u8]) -> Result<NaiveDate, DateError> {
    let t = text.trim_ascii();
    if t.len() != 10 || t[4] != b'-' || t[7] != b'-' {
        return Err(DateError::Format);
    }
    let num = |range: std::ops::Range<usize>| -> Result<u32, DateError> {
        t[range].iter().try_fold(0u32, |acc, &b| {
            if b.is_ascii_digit() {
                Ok(acc * 10 + u32::from(b - b'0'))
            } else {
                Err(DateError::Format)
            }
        })
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if year == 0 {
        return Err(DateError::NotADate);
    }
    NaiveDate::from_ymd_opt(year as i32, month, day).ok_or(DateError::NotADate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_dates_parse() {
        assert_eq!(parse_date(b"2030-12-31"), Ok(NaiveDate::from_ymd_opt(2030, 12, 31).unwrap()));
        assert_eq!(parse_date(b" 2028-02-29 "), Ok(NaiveDate::from_ymd_opt(2028, 2, 29).unwrap()));
    }

    #[test]
    fn impossible_dates_are_not_dates() {
        for bad in ["2030-02-30", "2029-02-29", "2030-13-01", "2030-00-10", "2030-04-31", "0000-01-01"] {
            assert_eq!(parse_date(bad.as_bytes()), Err(DateError::NotADate), "{bad}");
        }
    }

    #[test]
    fn other_shapes_are_format_errors() {
        for bad in [
            "30-12-31",
            "2030-1-05",
            "2030/12/31",
            "31-12-2030",
            "2030-12-31T00:00:00Z",
            "",
            "20301231",
            "２０３０-12-31",
        ] {
            assert_eq!(parse_date(bad.as_bytes()), Err(DateError::Format), "{bad}");
        }
    }
}
