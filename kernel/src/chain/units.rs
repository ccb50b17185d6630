//! Amounts: balances are held in rao (`u64`), shown and typed in TAO (1 TAO = 10^9 rao).
//!
//! Parsing and printing are exact decimal string operations: no float ever touches an amount.

use std::fmt;

/// A balance, in rao.
pub type Balance = u64;

/// Rao in one TAO.
pub const RAO_PER_TAO: Balance = 1_000_000_000;

/// Why a string is not an amount of TAO.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// Not a decimal number.
    #[error("{0:?} is not an amount of TAO: write a decimal number such as 1, 0.5 or 12.000000001")]
    NotANumber(String),
    /// More than nine decimals.
    #[error("{0:?} has more than 9 decimals: 1 rao (0.000000001 TAO) is the smallest amount")]
    TooPrecise(String),
    /// Larger than a `u64` of rao.
    #[error("{0:?} TAO is too large: the largest amount is 18446744073.709551615 TAO")]
    TooLarge(String),
}

/// Parses a TAO amount (`"1"`, `"0.5"`, `"1_000.25"`) into rao, exactly.
pub fn parse_tao(text: &str) -> Result<Balance, AmountError> {
    let cleaned: String = text.trim().chars().filter(|c| *c != '_').collect();
    let (whole, frac) = match cleaned.split_once('.') {
        Some((w, f)) => (w, f),
        None => (cleaned.as_str(), ""),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && frac.is_empty()) || !digits(whole) || !digits(frac) {
        return Err(AmountError::NotANumber(text.to_owned()));
    }
    if frac.len() > 9 {
        return Err(AmountError::TooPrecise(text.to_owned()));
    }
    let too_large = || AmountError::TooLarge(text.to_owned());
    let whole: Balance = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| too_large())?
    };
    let mut frac_rao: Balance = 0;
    for b in frac.bytes().chain(std::iter::repeat(b'0')).take(9) {
        frac_rao = frac_rao * 10 + Balance::from(b - b'0');
    }
    whole
        .checked_mul(RAO_PER_TAO)
        .and_then(|w| w.checked_add(frac_rao))
        .ok_or_else(too_large)
}

/// Formats rao as TAO with no trailing zeros: `1.5`, `0.000000001`, `42`.
pub fn format_tao(rao: Balance) -> String {
    Tao(rao).to_string()
}

/// Displays a rao amount as TAO (see [`format_tao`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tao(pub Balance);

impl fmt::Display for Tao {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / RAO_PER_TAO;
        let frac = self.0 % RAO_PER_TAO;
        if frac == 0 {
            return write!(f, "{whole}");
        }
        let digits = format!("{frac:09}");
        write!(f, "{whole}.{}", digits.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_exactly() {
        assert_eq!(parse_tao("1"), Ok(RAO_PER_TAO));
        assert_eq!(parse_tao("0.5"), Ok(500_000_000));
        assert_eq!(parse_tao(".5"), Ok(500_000_000));
        assert_eq!(parse_tao("1."), Ok(RAO_PER_TAO));
        assert_eq!(parse_tao("0.000000001"), Ok(1));
        assert_eq!(parse_tao("1_000.25"), Ok(1_000_250_000_000));
        assert_eq!(parse_tao("18446744073.709551615"), Ok(u64::MAX));
        assert!(matches!(
            parse_tao("18446744073.709551616"),
            Err(AmountError::TooLarge(_))
        ));
        assert!(matches!(
            parse_tao("0.0000000001"),
            Err(AmountError::TooPrecise(_))
        ));
        for bad in ["", ".", "-1", "1e9", "abc", "1.2.3", "0x10", " "] {
            assert!(
                matches!(parse_tao(bad), Err(AmountError::NotANumber(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn formats_without_rounding() {
        assert_eq!(format_tao(0), "0");
        assert_eq!(format_tao(1), "0.000000001");
        assert_eq!(format_tao(1_500_000_000), "1.5");
        assert_eq!(format_tao(u64::MAX), "18446744073.709551615");
    }

    proptest! {
        #[test]
        fn format_then_parse_is_identity(rao in any::<u64>()) {
            prop_assert_eq!(parse_tao(&format_tao(rao)), Ok(rao));
        }

        #[test]
        fn parse_never_panics(text in ".{0,40}") {
            let _ = parse_tao(&text);
        }
    }
}
