//! Timestamps as Step Functions reads them (Java's ISO-8601 extended offset date-time):
//! `2016-03-14T01:59:00Z`, `2016-03-14T01:59:00.243167252+01:00`; a zone is required,
//! the `T` separator too, and every field must be in range.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc};

/// Parses an ISO-8601 extended offset date-time; `None` when it is not one.
pub fn parse(text: &str) -> Option<DateTime<Utc>> {
    let b = text.as_bytes();
    let num = |from: usize, len: usize| -> Option<u32> {
        let s = b.get(from..from + len)?;
        if !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(s).ok()?.parse().ok()
    };
    // date: YYYY-MM-DD
    let year = num(0, 4)? as i32;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') || b.get(10) != Some(&b'T') {
        return None;
    }
    let month = num(5, 2)?;
    let day = num(8, 2)?;
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    // time: HH:MM[:SS[.fraction]]
    let hour = num(11, 2)?;
    if b.get(13) != Some(&b':') {
        return None;
    }
    let minute = num(14, 2)?;
    let mut i = 16;
    let mut second = 0;
    let mut nanos = 0u32;
    if b.get(i) == Some(&b':') {
        second = num(i + 1, 2)?;
        i += 3;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let from = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            let digits = &text[from..i];
            if digits.is_empty() || digits.len() > 9 {
                return None;
            }
            nanos = digits.parse::<u32>().ok()? * 10u32.pow(9 - digits.len() as u32);
        }
    }
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?;
    // zone: Z | ±HH:MM[:SS]
    let offset_secs = match b.get(i)? {
        b'Z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') => {
            let h = num(i + 1, 2)? as i32;
            if b.get(i + 3) != Some(&b':') {
                return None;
            }
            let m = num(i + 4, 2)? as i32;
            let mut end = i + 6;
            let mut s = 0;
            if b.get(end) == Some(&b':') {
                s = num(end + 1, 2)? as i32;
                end += 3;
            }
            if end != b.len() || h > 18 || m > 59 || s > 59 {
                return None;
            }
            let total = h * 3600 + m * 60 + s;
            if *sign == b'-' {
                -total
            } else {
                total
            }
        }
        _ => return None,
    };
    let offset = FixedOffset::east_opt(offset_secs)?;
    let local = date.and_time(time);
    offset.from_local_datetime(&local).single().map(|t| t.with_timezone(&Utc))
}

/// The form AWS uses in the context object and history: `2024-05-01T12:00:00.123Z`.
pub fn format(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_aws_accepts() {
        for ok in [
            "2016-03-14T01:59:00Z",
            "2016-03-05T21:29:29.243167252Z",
            "2024-05-01T12:00:00.00Z",
            "2024-05-01T12:00:00.000000Z",
            "2012-10-09T19:00:55+01:00",
            "2012-10-09T19:00Z",
        ] {
            assert!(parse(ok).is_some(), "{ok}");
        }
        assert_eq!(parse("2012-10-09T19:00:55+01:00"), parse("2012-10-09T18:00:55Z"));
    }

    #[test]
    fn rejects_what_aws_rejects() {
        for bad in [
            "2016-13-05T21:29:29Z",
            "05-12-2016T21:29:29Z",
            "2016-12-05T25:29:29Z",
            "2016-12-05 21:29:29Z",
            "2016-12-05T21:29:29",
            "2024-05-01T12:00:00.000000",
            "2023-02-24",
            "",
            "2016-12-05T21:29:29Zx",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }
}
