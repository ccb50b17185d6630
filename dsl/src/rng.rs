//! The random stream of a task: SplitMix64 seeded from `(seed, round)`.
//!
//! The generated code implements the same steps with wasm `i64` arithmetic, so a task is the
//! same on every machine and in the reference interpreter.

/// The SplitMix64 increment (the golden ratio in 64 bits).
pub const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;
/// First SplitMix64 multiplier.
pub const MUL1: u64 = 0xBF58_476D_1CE4_E5B9;
/// Second SplitMix64 multiplier.
pub const MUL2: u64 = 0x94D0_49BB_1331_11EB;
/// `2^-53`: turns 53 random bits into a float in `[0, 1)`.
pub const UNIT: f64 = 1.0 / 9_007_199_254_740_992.0;

/// SplitMix64's finalizer.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(MUL1);
    z = (z ^ (z >> 27)).wrapping_mul(MUL2);
    z ^ (z >> 31)
}

/// A task's random stream.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// The stream for `(seed, round)`: `state = mix(seed ^ mix(round + GOLDEN))`.
    pub fn new(seed: u64, round: u64) -> Self {
        Rng {
            state: mix(seed ^ mix(round.wrapping_add(GOLDEN))),
        }
    }

    /// The next 64 bits: `state += GOLDEN; mix(state)`.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN);
        mix(self.state)
    }

    /// A uniform float in `[0, 1)`: the top 53 bits times `2^-53`.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * UNIT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_matches_the_published_sequence() {
        // SplitMix64 from state 0 (Vigna's reference `next()`): the first outputs.
        let mut state = 0u64;
        let mut next = || {
            state = state.wrapping_add(GOLDEN);
            mix(state)
        };
        assert_eq!(next(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(next(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn streams_differ_by_seed_and_round_and_stay_in_range() {
        let a: Vec<u64> = (0..4)
            .map({
                let mut r = Rng::new(1, 0);
                move |_| r.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..4)
            .map({
                let mut r = Rng::new(1, 1);
                move |_| r.next_u64()
            })
            .collect();
        let c: Vec<u64> = (0..4)
            .map({
                let mut r = Rng::new(2, 0);
                move |_| r.next_u64()
            })
            .collect();
        assert_ne!(a, b);
        assert_ne!(a, c);
        let mut r = Rng::new(7, 7);
        for _ in 0..10_000 {
            let u = r.uniform();
            assert!((0.0..1.0).contains(&u));
        }
    }
}
