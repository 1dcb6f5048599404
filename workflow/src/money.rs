//! Money: ISO 4217 currencies with their minor units, and exact decimal parsing.
//!
//! Amounts are [`Decimal`] from end to end. They are parsed here from the bytes
//! of a CSV cell or the text of a JSON number, never through `f64`, so
//! `1500.10` keeps its scale and `0.1 + 0.2` is `0.3`.

use std::fmt;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An active ISO 4217 currency code (upper case, three letters).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency {
    code: [u8; 3],
    minor_units: u8,
}

/// Active ISO 4217 codes and their minor units (decimal places), sorted by code.
/// Precious metals, funds without a unit (XAU, XDR, …) and test codes are left out:
/// an invoice is never due in them.
#[rustfmt::skip]
const CURRENCIES: &[(&str, u8)] = &[
    ("AED", 2), ("AFN", 2), ("ALL", 2), ("AMD", 2), ("ANG", 2), ("AOA", 2), ("ARS", 2),
    ("AUD", 2), ("AWG", 2), ("AZN", 2), ("BAM", 2), ("BBD", 2), ("BDT", 2), ("BGN", 2),
    ("BHD", 3), ("BIF", 0), ("BMD", 2), ("BND", 2), ("BOB", 2), ("BOV", 2), ("BRL", 2),
    ("BSD", 2), ("BTN", 2), ("BWP", 2), ("BYN", 2), ("BZD", 2), ("CAD", 2), ("CDF", 2),
    ("CHE", 2), ("CHF", 2), ("CHW", 2), ("CLF", 4), ("CLP", 0), ("CNY", 2), ("COP", 2),
    ("COU", 2), ("CRC", 2), ("CUP", 2), ("CVE", 2), ("CZK", 2), ("DJF", 0), ("DKK", 2),
    ("DOP", 2), ("DZD", 2), ("EGP", 2), ("ERN", 2), ("ETB", 2), ("EUR", 2), ("FJD", 2),
    ("FKP", 2), ("GBP", 2), ("GEL", 2), ("GHS", 2), ("GIP", 2), ("GMD", 2), ("GNF", 0),
    ("GTQ", 2), ("GYD", 2), ("HKD", 2), ("HNL", 2), ("HTG", 2), ("HUF", 2), ("IDR", 2),
    ("ILS", 2), ("INR", 2), ("IQD", 3), ("IRR", 2), ("ISK", 0), ("JMD", 2), ("JOD", 3),
    ("JPY", 0), ("KES", 2), ("KGS", 2), ("KHR", 2), ("KMF", 0), ("KPW", 2), ("KRW", 0),
    ("KWD", 3), ("KYD", 2), ("KZT", 2), ("LAK", 2), ("LBP", 2), ("LKR", 2), ("LRD", 2),
    ("LSL", 2), ("LYD", 3), ("MAD", 2), ("MDL", 2), ("MGA", 2), ("MKD", 2), ("MMK", 2),
    ("MNT", 2), ("MOP", 2), ("MRU", 2), ("MUR", 2), ("MVR", 2), ("MWK", 2), ("MXN", 2),
    ("MXV", 2), ("MYR", 2), ("MZN", 2), ("NAD", 2), ("NGN", 2), ("NIO", 2), ("NOK", 2),
    ("NPR", 2), ("NZD", 2), ("OMR", 3), ("PAB", 2), ("PEN", 2), ("PGK", 2), ("PHP", 2),
    ("PKR", 2), ("PLN", 2), ("PYG", 0), ("QAR", 2), ("RON", 2), ("RSD", 2), ("RUB", 2),
    ("RWF", 0), ("SAR", 2), ("SBD", 2), ("SCR", 2), ("SDG", 2), ("SEK", 2), ("SGD", 2),
    ("SHP", 2), ("SLE", 2), ("SOS", 2), ("SRD", 2), ("SSP", 2), ("STN", 2), ("SVC", 2),
    ("SYP", 2), ("SZL", 2), ("THB", 2), ("TJS", 2), ("TMT", 2), ("TND", 3), ("TOP", 2),
    ("TRY", 2), ("TTD", 2), ("TWD", 2), ("TZS", 2), ("UAH", 2), ("UGX", 0), ("USD", 2),
    ("USN", 2), ("UYI", 0), ("UYU", 2), ("UYW", 4), ("UZS", 2), ("VED", 2), ("VES", 2),
    ("VND", 0), ("VUV", 0), ("WST", 2), ("XAF", 0), ("XCD", 2), ("XCG", 2), ("XOF", 0),
    ("XPF", 0), ("YER", 2), ("ZAR", 2), ("ZMW", 2), ("ZWG", 2),
];

/// Index of an upper-case three-letter code in [`LOOKUP`].
const fn table_index(code: [u8; 3]) -> Option<usize> {
    let mut i = 0;
    let mut index = 0;
    while i < 3 {
        if !code[i].is_ascii_uppercase() {
            return None;
        }
        index = index * 26 + (code[i] - b'A') as usize;
        i += 1;
    }
    Some(index)
}

/// Every three-letter code → minor units + 1 (0: not a currency), built from
/// [`CURRENCIES`] at compile time: a lookup is one load.
static LOOKUP: [u8; 26 * 26 * 26] = {
    let mut table = [0u8; 26 * 26 * 26];
    let mut i = 0;
    while i < CURRENCIES.len() {
        let code = CURRENCIES[i].0.as_bytes();
        match table_index([code[0], code[1], code[2]]) {
            Some(index) => table[index] = CURRENCIES[i].1 + 1,
            None => panic!("currency codes are three upper-case letters"),
        }
        i += 1;
    }
    table
};

impl Currency {
    /// US dollars, the default currency unless configured otherwise.
    pub const USD: Currency = Currency { code: *b"USD", minor_units: 2 };

    /// Looks a code up, ignoring ASCII case and surrounding spaces (`" usd"` is USD).
    pub fn parse(text: &str) -> Option<Currency> {
        Self::parse_bytes(text.trim().as_bytes())
    }

    /// [`Currency::parse`] over bytes (no trimming).
    pub fn parse_bytes(bytes: &[u8]) -> Option<Currency> {
        let [a, b, c] = <[u8; 3]>::try_from(bytes).ok()?;
        let code = [a.to_ascii_uppercase(), b.to_ascii_uppercase(), c.to_ascii_uppercase()];
        let slot = LOOKUP[table_index(code)?];
        (slot != 0).then(|| Currency { code, minor_units: slot - 1 })
    }

    /// The three-letter code.
    pub fn code(&self) -> &str {
        // The code was matched against the ASCII table above.
        std::str::from_utf8(&self.code).unwrap_or("???")
    }

    /// Number of decimal places of the currency's minor unit (USD 2, JPY 0, BHD 3).
    pub fn minor_units(&self) -> u32 {
        u32::from(self.minor_units)
    }

    /// Rounds half away from zero to the minor unit.
    pub fn round(&self, amount: Decimal) -> Decimal {
        amount.round_dp_with_strategy(self.minor_units(), RoundingStrategy::MidpointAwayFromZero)
    }

    /// Renders an amount with exactly the currency's decimal places and
    /// thousands separators, for people: `1,500.10 USD`.
    pub fn format(&self, amount: Decimal) -> String {
        let mut fixed = self.round(amount);
        fixed.rescale(self.minor_units());
        let text = fixed.abs().to_string();
        let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
        let mut out = String::with_capacity(text.len() + text.len() / 3 + 5);
        if fixed.is_sign_negative() && !fixed.is_zero() {
            out.push('-');
        }
        for (i, ch) in int.chars().enumerate() {
            if i > 0 && (int.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(ch);
        }
        if !frac.is_empty() {
            out.push('.');
            out.push_str(frac);
        }
        out.push(' ');
        out.push_str(self.code());
        out
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.code())
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Currency::parse(&text).ok_or_else(|| serde::de::Error::custom(format!("unknown ISO 4217 currency {text:?}")))
    }
}

/// Why a text is not a decimal amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    #[error("is empty")]
    Empty,
    #[error("is not a decimal number")]
    Invalid,
    #[error("is out of range")]
    OutOfRange,
}

/// Longest text accepted as a number; anything longer is surely not an amount.
const MAX_NUMBER_TEXT: usize = 64;

/// Parses a decimal number exactly from its text: an optional sign, digits with
/// an optional fraction, and an optional exponent (`1.5e3`, as JSON allows).
/// Surrounding ASCII spaces are ignored. `NaN`, `Infinity`, thousands separators
/// and hexadecimal are refused; values beyond [`Decimal`]'s 28 digits are
/// [`DecimalError::OutOfRange`] (`1e400`). `-0` is zero.
pub fn parse_decimal(text: &[u8]) -> Result<Decimal, DecimalError> {
    let text = text.trim_ascii();
    if text.is_empty() {
        return Err(DecimalError::Empty);
    }
    if text.len() > MAX_NUMBER_TEXT {
        return Err(DecimalError::OutOfRange);
    }
    let (negative, rest) = match text[0] {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let mut mantissa: u128 = 0;
    let mut digits = 0u32; // significant digits kept in the mantissa
    let mut scale: i64 = 0;
    let mut seen_digit = false;
    let mut seen_point = false;
    let mut i = 0;
    while i < rest.len() {
        let b = rest[i];
        match b {
            b'0'..=b'9' => {
                seen_digit = true;
                if mantissa == 0 && b == b'0' {
                    // Leading zeros add no significant digit.
                } else {
                    digits += 1;
                    if digits > 29 {
                        return Err(DecimalError::OutOfRange);
                    }
                    mantissa = mantissa * 10 + u128::from(b - b'0');
                }
                if seen_point {
                    scale += 1;
                }
            }
            b'.' if !seen_point => seen_point = true,
            b'e' | b'E' => break,
            _ => return Err(DecimalError::Invalid),
        }
        i += 1;
    }
    if !seen_digit {
        return Err(DecimalError::Invalid);
    }
    if i < rest.len() {
        // Exponent: [eE][+-]?digits
        let exp = &rest[i + 1..];
        let (exp_negative, exp_digits) = match exp.first() {
            Some(b'-') => (true, &exp[1..]),
            Some(b'+') => (false, &exp[1..]),
            _ => (false, exp),
        };
        if exp_digits.is_empty() || !exp_digits.iter().all(u8::is_ascii_digit) {
            return Err(DecimalError::Invalid);
        }
        if exp_digits.len() > 4 {
            return Err(DecimalError::OutOfRange);
        }
        let e: i64 = exp_digits.iter().fold(0, |acc, d| acc * 10 + i64::from(d - b'0'));
        scale += if exp_negative { e } else { -e };
    }
    while scale < 0 {
        mantissa = mantissa.checked_mul(10).ok_or(DecimalError::OutOfRange)?;
        scale += 1;
    }
    if scale > 28 || mantissa >= (1u128 << 96) {
        return Err(DecimalError::OutOfRange);
    }
    let signed = if negative && mantissa != 0 { -(mantissa as i128) } else { mantissa as i128 };
    Decimal::try_from_i128_with_scale(signed, scale as u32).map_err(|_| DecimalError::OutOfRange)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn table_is_sorted_and_unique() {
        assert!(CURRENCIES.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn currencies_have_their_minor_units() {
        assert_eq!(Currency::parse("USD").unwrap().minor_units(), 2);
        assert_eq!(Currency::parse("jpy").unwrap().minor_units(), 0);
        assert_eq!(Currency::parse(" BHD ").unwrap().minor_units(), 3);
        assert_eq!(Currency::parse("usd").unwrap().code(), "USD");
        assert!(Currency::parse("XXX").is_none());
        assert!(Currency::parse("US").is_none());
        assert!(Currency::parse("USDD").is_none());
    }

    #[test]
    fn decimals_keep_their_text_exactly() {
        assert_eq!(parse_decimal(b"1500.10").unwrap().to_string(), "1500.10");
        assert_eq!(parse_decimal(b"0.1").unwrap() + parse_decimal(b"0.2").unwrap(), d("0.3"));
        assert_eq!(parse_decimal(b" 42 ").unwrap(), d("42"));
        assert_eq!(parse_decimal(b"+7.5").unwrap(), d("7.5"));
        assert_eq!(parse_decimal(b"-12.30").unwrap().to_string(), "-12.30");
        assert_eq!(parse_decimal(b"1.5e3").unwrap(), d("1500"));
        assert_eq!(parse_decimal(b"15E-3").unwrap().to_string(), "0.015");
        assert_eq!(parse_decimal(b".5").unwrap(), d("0.5"));
        assert_eq!(parse_decimal(b"5.").unwrap(), d("5"));
        assert_eq!(parse_decimal(b"0000.10").unwrap().to_string(), "0.10");
        assert_eq!(parse_decimal(b"79228162514264337593543950335").unwrap(), Decimal::MAX);
    }

    #[test]
    fn minus_zero_is_zero() {
        let z = parse_decimal(b"-0").unwrap();
        assert!(z.is_zero());
        assert!(!z.is_sign_negative());
    }

    #[test]
    fn bad_numbers_are_refused() {
        for bad in ["NaN", "nan", "Infinity", "-inf", "1,500.00", "0x10", "1.2.3", "--1", "1e", "1e+", ".", "-", "12a"]
        {
            assert_eq!(parse_decimal(bad.as_bytes()), Err(DecimalError::Invalid), "{bad}");
        }
        assert_eq!(parse_decimal(b""), Err(DecimalError::Empty));
        assert_eq!(parse_decimal(b"   "), Err(DecimalError::Empty));
        assert_eq!(parse_decimal(b"1e400"), Err(DecimalError::OutOfRange));
        assert_eq!(parse_decimal(b"1e-400"), Err(DecimalError::OutOfRange));
        assert_eq!(parse_decimal(b"79228162514264337593543950336"), Err(DecimalError::OutOfRange));
        assert_eq!(parse_decimal(b"1e29"), Err(DecimalError::OutOfRange));
    }

    #[test]
    fn amounts_are_formatted_for_the_currency() {
        let usd = Currency::USD;
        assert_eq!(usd.format(d("1500.1")), "1,500.10 USD");
        assert_eq!(usd.format(d("999")), "999.00 USD");
        assert_eq!(usd.format(d("-1234567.891")), "-1,234,567.89 USD");
        assert_eq!(Currency::parse("JPY").unwrap().format(d("150000")), "150,000 JPY");
        assert_eq!(Currency::parse("BHD").unwrap().format(d("12.5")), "12.500 BHD");
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        assert_eq!(Currency::USD.round(d("0.125")), d("0.13"));
        assert_eq!(Currency::USD.round(d("-0.125")), d("-0.13"));
    }
}
