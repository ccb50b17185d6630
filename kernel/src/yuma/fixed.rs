//! The chain's fixed-point vocabulary: `substrate-fixed` types with subtensor's rounding.
//!
//! Every helper here is a named operation of subtensor's `epoch/math`: `safe_div` is
//! `checked_div` falling back to 0, proportions are stored as `floor(x * 65535)`, and so on.
//! Both epoch paths (the reference and the fast one) build on these, so a rounding rule is
//! written once.

use substrate_fixed::transcendental;
use substrate_fixed::types::{I32F32, I64F64, I96F32};

/// `0.0` as `I32F32`.
pub(crate) const ZERO: I32F32 = I32F32::from_bits(0);
/// `1.0` as `I32F32`.
pub(crate) const ONE: I32F32 = I32F32::from_bits(1 << 32);
/// `65535.0` (`u16::MAX`) as `I32F32`.
pub(crate) const U16_MAX: I32F32 = I32F32::from_bits(65_535 << 32);

/// `a / b`, or 0 when `b` is 0 or the quotient overflows (subtensor's `safe_div`).
#[inline]
pub(crate) fn safe_div(a: I32F32, b: I32F32) -> I32F32 {
    a.checked_div(b).unwrap_or(ZERO)
}

/// [`safe_div`] on `I64F64`.
#[inline]
pub(crate) fn safe_div64(a: I64F64, b: I64F64) -> I64F64 {
    a.checked_div(b).unwrap_or(I64F64::from_bits(0))
}

/// A raw u16 read as an integer-valued `I32F32` (`65535` is `65535.0`).
#[inline]
pub(crate) fn from_u16(x: u16) -> I32F32 {
    I32F32::from_bits(i64::from(x) << 32)
}

/// A u16 proportion read as `x / 65535`, truncated (kappa, bonds penalty, alpha bounds,
/// Yuma3 bonds).
#[inline]
pub(crate) fn u16_proportion(x: u16) -> I32F32 {
    safe_div(from_u16(x), U16_MAX)
}

/// A proportion stored as u16: `floor(x * 65535)`, saturating at both ends.
#[inline]
pub(crate) fn proportion_to_u16(x: I32F32) -> u16 {
    mul(x, U16_MAX).saturating_to_num::<u16>()
}

/// Rao share of an emission: `floor(I96F32(x) * I96F32(rao))`, saturating into u64.
#[inline]
pub(crate) fn rao_share(x: I32F32, rao: I96F32) -> u64 {
    I96F32::saturating_from_num(x)
        .saturating_mul(rao)
        .saturating_to_num::<u64>()
}

/// Plain (non-saturating) sum, as `iter().sum()` computes it on chain.
///
/// Callers only sum values whose total provably fits (see the input checks in
/// [`super::EpochInput::validate`]).
#[inline]
pub(crate) fn sum(xs: impl IntoIterator<Item = I32F32>) -> I32F32 {
    xs.into_iter().sum()
}

/// Divide every entry by the vector's sum, unless the sum is 0 (`inplace_normalize`).
pub(crate) fn normalize(xs: &mut [I32F32]) {
    let total = sum(xs.iter().copied());
    normalize_with_sum(xs, total);
}

/// Divide every entry by `total`, unless it is 0 (`inplace_normalize_i32f32_with_sum`).
pub(crate) fn normalize_with_sum(xs: &mut [I32F32], total: I32F32) {
    if total == ZERO {
        return;
    }
    for x in xs {
        *x = safe_div(*x, total);
    }
}

/// `1 - bonds_moving_average / 1e6`: the EMA rate when liquid alpha is off.
///
/// The chain converts with `from_num`, which panics where `saturating_from_num` saturates;
/// for every value the chain accepts the two agree.
pub(crate) fn ema_alpha(bonds_moving_average: u64) -> I32F32 {
    let bma = safe_div64(
        I64F64::saturating_from_num(bonds_moving_average),
        I64F64::saturating_from_num(1_000_000u32),
    );
    ONE.saturating_sub(I32F32::saturating_from_num(bma))
}

/// `clamp(value, low, high)` as subtensor writes it: `value.min(high).max(low)`.
#[inline]
pub(crate) fn clamp(value: I32F32, low: I32F32, high: I32F32) -> I32F32 {
    value.min(high).max(low)
}

/// `exp` with its input clamped to `[-20, 20]` (subtensor's `exp_safe`), using
/// `substrate_fixed::transcendental::exp` itself.
pub(crate) fn exp_safe_reference(input: I32F32) -> I32F32 {
    let clamped = input.clamp(EXP_MIN, EXP_MAX);
    match transcendental::exp::<I32F32, I32F32>(clamped) {
        Ok(value) => value,
        Err(()) if clamped <= ZERO => ZERO,
        Err(()) => I32F32::max_value(),
    }
}

const EXP_MIN: I32F32 = I32F32::from_bits(-20 << 32);
const EXP_MAX: I32F32 = I32F32::from_bits(20 << 32);

/// [`exp_safe_reference`], bit for bit, without the generic machinery.
///
/// substrate-fixed sums the Taylor series `1 + x + x^2/2! + ...` up to the term `x^31/31!`,
/// each term computed from the previous one as `floor(floor(term * x) / i)`, and takes the
/// reciprocal `floor(1 / sum)` for a negative input. Once a term is 0 every later term is 0,
/// so the loop stops there; the divisions are by constants, which the compiler turns into
/// multiplications. `x == 1` is special-cased by the crate (it returns the constant `e`), and
/// so here. Within `[-20, 20]` nothing overflows (the largest term is `20^20/20!`, about
/// 4.3e7, and the largest sum is about `e^20` = 4.9e8, both below 2^31).
pub(crate) fn exp_safe(input: I32F32) -> I32F32 {
    let clamped = input.clamp(EXP_MIN, EXP_MAX);
    if clamped == ZERO {
        return ONE;
    }
    if clamped == ONE {
        return exp_safe_reference(ONE);
    }
    let negative = clamped < ZERO;
    // |x| <= 20 << 32 < 2^37.
    let x = clamped.to_bits().unsigned_abs();
    let mut result: u64 = x.saturating_add(1 << 32);
    let mut term: u64 = x;
    macro_rules! series {
        ($($i:literal)*) => {
            'series: {
                $(
                    // floor(term * x) in 32.32: term < 2^63 and x < 2^37, so u128 holds it.
                    let product = (u128::from(term) * u128::from(x)) >> 32;
                    term = u64::try_from(product).unwrap_or(u64::MAX) / $i;
                    if term == 0 {
                        break 'series;
                    }
                    result = result.saturating_add(term);
                )*
            }
        };
    }
    #[allow(
        clippy::arithmetic_side_effects,
        reason = "u128 product of a u64 and a value below 2^37 cannot overflow; divisors are \
                  nonzero constants"
    )]
    {
        series!(2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31);
    }
    let result_bits = i64::try_from(result).unwrap_or(i64::MAX);
    let result = I32F32::from_bits(result_bits);
    if negative {
        ONE.checked_div(result).unwrap_or(ZERO)
    } else {
        result
    }
}

#[cfg(test)]
#[allow(
    clippy::arithmetic_side_effects,
    reason = "tests compute expected values directly"
)]
mod tests {
    use super::*;

    #[test]
    fn proportions_round_down() {
        assert_eq!(proportion_to_u16(ONE), 65_535);
        assert_eq!(proportion_to_u16(I32F32::from_num(0.5)), 32_767);
        assert_eq!(proportion_to_u16(ZERO), 0);
        assert_eq!(proportion_to_u16(I32F32::from_num(2)), 65_535);
        assert_eq!(u16_proportion(65_535), ONE);
        assert_eq!(u16_proportion(32_767), I32F32::from_bits(2_147_450_879));
    }

    #[test]
    fn safe_div_by_zero_is_zero() {
        assert_eq!(safe_div(ONE, ZERO), ZERO);
        assert_eq!(safe_div(I32F32::max_value(), I32F32::from_bits(1)), ZERO);
    }

    #[test]
    fn ema_alpha_of_default_is_a_tenth() {
        assert_eq!(ema_alpha(900_000), ONE - I32F32::from_num(0.9));
        assert_eq!(ema_alpha(0), ONE);
        assert_eq!(ema_alpha(1_000_000), ZERO);
        // Saturates instead of panicking.
        let _ = ema_alpha(u64::MAX);
    }

    #[test]
    fn fast_exp_matches_substrate_fixed_on_a_grid() {
        // Every multiple of 2^-12 in [-21, 21], plus the points around 0 and 1.
        let step = 1i64 << 20;
        let mut bits = -21i64 << 32;
        while bits <= 21i64 << 32 {
            for delta in [-1i64, 0, 1] {
                let x = I32F32::from_bits(bits + delta);
                assert_eq!(exp_safe(x), exp_safe_reference(x), "exp({x})");
            }
            bits += step;
        }
        for x in [
            ZERO,
            ONE,
            -ONE,
            EXP_MIN,
            EXP_MAX,
            I32F32::min_value(),
            I32F32::max_value(),
        ] {
            assert_eq!(exp_safe(x), exp_safe_reference(x), "exp({x})");
        }
    }
}

/// Division of many non-negative `I32F32` values by one positive `I32F32`, exactly as
/// [`safe_div`] divides, at the cost of two multiplications instead of a 128-bit division.
///
/// `safe_div(a, b)` is `floor(a_bits * 2^32 / b_bits)`, or 0 when that does not fit an i64.
/// With `b` fixed, this precomputes Möller and Granlund's reciprocal of the normalized
/// divisor ("Improved division by invariant integers", 2011, algorithm 4) and divides the
/// 128-bit numerator by it; a negative dividend or a zero divisor takes the plain path.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Divisor {
    divisor: I32F32,
    /// The divisor shifted left until its top bit is set.
    normalized: u64,
    shift: u32,
    reciprocal: u64,
}

impl Divisor {
    /// Division by 0: every quotient is 0, as `safe_div` gives.
    pub(crate) const ZERO: Divisor = Divisor {
        divisor: ZERO,
        normalized: 0,
        shift: 0,
        reciprocal: 0,
    };

    pub(crate) fn new(divisor: I32F32) -> Self {
        let bits = divisor.to_bits();
        let (normalized, shift, reciprocal) = match u64::try_from(bits) {
            Ok(d) if d > 0 => {
                let shift = d.leading_zeros();
                let normalized = d.checked_shl(shift).unwrap_or(0);
                // floor((2^128 - 1) / d) - 2^64, which fits in 64 bits for a normalized d.
                let reciprocal = u128::MAX
                    .checked_div(u128::from(normalized))
                    .map_or(0, |r| r as u64);
                (normalized, shift, reciprocal)
            }
            _ => (0, 0, 0),
        };
        Self {
            divisor,
            normalized,
            shift,
            reciprocal,
        }
    }

    /// `safe_div(dividend, divisor)`.
    #[inline]
    #[allow(
        clippy::arithmetic_side_effects,
        reason = "shifts by amounts below the width, checked above not to lose bits"
    )]
    pub(crate) fn divide(&self, dividend: I32F32) -> I32F32 {
        let (Ok(a), true) = (u64::try_from(dividend.to_bits()), self.normalized != 0) else {
            return safe_div(dividend, self.divisor);
        };
        // The quotient a * 2^32 / d needs 64 bits or more exactly when a >= d * 2^32: it
        // overflows an I32F32, and safe_div gives 0.
        if a >> 32 >= self.normalized >> self.shift {
            return ZERO;
        }
        // Now (a << 32) << shift < normalized * 2^64 < 2^128: nothing is shifted out.
        let numerator = (u128::from(a) << 32) << self.shift;
        let high = (numerator >> 64) as u64;
        let low = numerator as u64;
        let quotient = div_2by1(high, low, self.normalized, self.reciprocal);
        i64::try_from(quotient).map_or(ZERO, I32F32::from_bits)
    }
}

/// `floor((high * 2^64 + low) / d)` for a normalized `d` (top bit set) and `high < d`, with
/// `reciprocal = floor((2^128 - 1) / d) - 2^64`.
#[inline]
#[allow(
    clippy::arithmetic_side_effects,
    reason = "every operation is wrapping by design of the algorithm, written out"
)]
fn div_2by1(high: u64, low: u64, d: u64, reciprocal: u64) -> u64 {
    let product = u128::from(reciprocal) * u128::from(high);
    let estimate = product.wrapping_add((u128::from(high) << 64) | u128::from(low));
    let mut q1 = ((estimate >> 64) as u64).wrapping_add(1);
    let q0 = estimate as u64;
    let mut r = low.wrapping_sub(q1.wrapping_mul(d));
    if r > q0 {
        q1 = q1.wrapping_sub(1);
        r = r.wrapping_add(d);
    }
    if r >= d {
        q1 = q1.wrapping_add(1);
    }
    q1
}

#[cfg(test)]
#[allow(
    clippy::arithmetic_side_effects,
    reason = "tests compute expected values directly"
)]
mod divisor_tests {
    use super::*;
    use proptest::prelude::*;

    fn check(a: i64, b: i64) {
        let (a, b) = (I32F32::from_bits(a), I32F32::from_bits(b));
        assert_eq!(Divisor::new(b).divide(a), safe_div(a, b), "{a:?} / {b:?}");
    }

    #[test]
    fn edges() {
        for b in [
            1,
            2,
            3,
            7,
            1 << 31,
            1 << 32,
            (1 << 32) + 1,
            i64::MAX,
            65_535 << 32,
            0,
            -5,
        ] {
            for a in [
                0,
                1,
                2,
                5,
                1 << 32,
                b.saturating_sub(1),
                b,
                b.saturating_add(1),
                i64::MAX,
                -3,
            ] {
                check(a, b);
            }
        }
    }

    proptest! {
        #[test]
        fn matches_checked_div(a in 0i64.., b in 1i64..) {
            check(a, b);
        }

        #[test]
        fn matches_checked_div_for_proportions(b in 1i64..(1i64 << 45), frac in 0u32..=u32::MAX) {
            // a <= b: the normalization case.
            let a = i64::try_from((i128::from(b) * i128::from(frac)) >> 32).unwrap();
            check(a, b);
        }
    }
}

/// `a.saturating_mul(b)`, bit for bit, with a fast path for non-negative operands.
///
/// substrate-fixed multiplies `a * (b << 32)` as an overflow-checked i128 and keeps the high
/// 64 bits, which is `floor(a * b / 2^32)` saturated to the I32F32 range. For `a, b >= 0`
/// that is one 64x64->128 multiplication, a shift and a comparison.
#[inline]
pub(crate) fn mul(a: I32F32, b: I32F32) -> I32F32 {
    match (u64::try_from(a.to_bits()), u64::try_from(b.to_bits())) {
        (Ok(x), Ok(y)) => {
            #[allow(
                clippy::arithmetic_side_effects,
                reason = "a u64 x u64 product fits a u128"
            )]
            let product = (u128::from(x) * u128::from(y)) >> 32;
            I32F32::from_bits(i64::try_from(product).unwrap_or(i64::MAX))
        }
        _ => a.saturating_mul(b),
    }
}

#[cfg(test)]
#[allow(
    clippy::arithmetic_side_effects,
    reason = "tests compute expected values directly"
)]
mod mul_tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn matches_saturating_mul(a: i64, b: i64) {
            let (a, b) = (I32F32::from_bits(a), I32F32::from_bits(b));
            prop_assert_eq!(mul(a, b), a.saturating_mul(b));
        }

        #[test]
        fn matches_saturating_mul_in_range(a in 0i64..=(1i64 << 40), b in 0i64..=(1i64 << 40)) {
            let (a, b) = (I32F32::from_bits(a), I32F32::from_bits(b));
            prop_assert_eq!(mul(a, b), a.saturating_mul(b));
        }
    }

    #[test]
    fn saturates_like_substrate_fixed() {
        let big = I32F32::from_bits(i64::MAX);
        assert_eq!(mul(big, big), big.saturating_mul(big));
        assert_eq!(mul(big, ONE), big);
        assert_eq!(
            mul(I32F32::from_bits(1 << 47), I32F32::from_bits(1 << 48)),
            big
        );
    }
}
