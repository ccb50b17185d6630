//! Transaction mortality: Substrate's `Era`, encoded and interpreted exactly as FRAME does.
//!
//! A mortal transaction names a window of `period` blocks (a power of two, 4 to 65,536) by its
//! `phase`; it signs the hash of the window's first block (its *birth*), so it is valid only
//! while that block is among the last [`BLOCK_HASH_COUNT`] the chain remembers and the window
//! has not passed. An immortal transaction signs the genesis hash instead.

use parity_scale_codec::{Decode, Encode, Error as CodecError, Input, Output};

/// How many recent block hashes the chain keeps (FRAME's `BlockHashCount`).
pub const BLOCK_HASH_COUNT: u32 = 256;

/// A transaction's lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Era {
    /// Valid forever (until its nonce is used).
    Immortal,
    /// Valid for `period` blocks from its birth block.
    Mortal {
        /// Length of the window, a power of two in 4..=65536.
        period: u64,
        /// `birth % period`, quantized as the encoding requires.
        phase: u64,
    },
}

impl Era {
    /// A mortal era that begins at block `current` and lasts about `period` blocks (rounded up to
    /// a power of two and clamped to 4..=65536, as Substrate's `Era::mortal`).
    pub fn mortal(period: u64, current: u64) -> Era {
        let period = period
            .checked_next_power_of_two()
            .unwrap_or(1 << 16)
            .clamp(4, 1 << 16);
        let phase = current % period;
        let quantize = (period >> 12).max(1);
        Era::Mortal {
            period,
            phase: phase / quantize * quantize,
        }
    }

    /// The first block of the window that contains `current`.
    pub fn birth(self, current: u64) -> u64 {
        match self {
            Era::Immortal => 0,
            Era::Mortal { period, phase } => (current.max(phase) - phase) / period * period + phase,
        }
    }

    /// The first block at which a transaction born at `birth(current)` is no longer valid.
    pub fn death(self, current: u64) -> u64 {
        match self {
            Era::Immortal => u64::MAX,
            Era::Mortal { period, .. } => self.birth(current).saturating_add(period),
        }
    }
}

impl Encode for Era {
    fn size_hint(&self) -> usize {
        match self {
            Era::Immortal => 1,
            Era::Mortal { .. } => 2,
        }
    }

    fn encode_to<T: Output + ?Sized>(&self, dest: &mut T) {
        match *self {
            Era::Immortal => dest.push_byte(0),
            Era::Mortal { period, phase } => {
                let quantize = (period >> 12).max(1);
                let low = u64::from(period.trailing_zeros().saturating_sub(1).clamp(1, 15));
                let encoded = (low | ((phase / quantize) << 4)) as u16;
                encoded.encode_to(dest);
            }
        }
    }
}

impl Decode for Era {
    fn decode<I: Input>(input: &mut I) -> Result<Self, CodecError> {
        let first = input.read_byte()?;
        if first == 0 {
            return Ok(Era::Immortal);
        }
        let encoded = u64::from(first) | (u64::from(input.read_byte()?) << 8);
        let period = 2u64 << (encoded % 16);
        let quantize = (period >> 12).max(1);
        let phase = (encoded >> 4) * quantize;
        if period >= 4 && phase < period {
            Ok(Era::Mortal { period, phase })
        } else {
            Err("invalid mortal era: its phase is not less than its period".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn matches_substrate_examples() {
        // From sp-runtime's `generic::era` tests.
        assert_eq!(Era::Immortal.encode(), vec![0u8]);
        let e = Era::mortal(64, 42);
        assert_eq!(
            e,
            Era::Mortal {
                period: 64,
                phase: 42
            }
        );
        assert_eq!(e.encode(), vec![165u8, 2]);
        assert_eq!(Era::decode(&mut &[165u8, 2][..]), Ok(e));
        let e = Era::Mortal {
            period: 32768,
            phase: 20000,
        };
        assert_eq!(
            e.encode(),
            vec![(14 + 2500 % 16 * 16) as u8, (2500 / 16) as u8]
        );
        assert_eq!(Era::mortal(4, 3).birth(3), 3);
        assert_eq!(
            Era::Mortal {
                period: 4,
                phase: 1
            }
            .birth(10),
            9
        );
        assert_eq!(
            Era::Mortal {
                period: 4,
                phase: 1
            }
            .death(10),
            13
        );
        assert_eq!(Era::mortal(100, 5).encode().len(), 2);
    }

    proptest! {
        #[test]
        fn roundtrips(period in 4u64..=65536, current in any::<u32>()) {
            let e = Era::mortal(period, u64::from(current));
            prop_assert_eq!(Era::decode(&mut &e.encode()[..]), Ok(e));
            let birth = e.birth(u64::from(current));
            prop_assert!(birth <= u64::from(current));
            prop_assert!(e.death(u64::from(current)) > u64::from(current));
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..4)) {
            let _ = Era::decode(&mut &bytes[..]);
        }
    }
}
