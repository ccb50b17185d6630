//! Smoothing a miner's scores across rounds, as a spec's `smooth` rule says. Validators keep
//! one [`Smoother`] per miner and set weights from [`Smoother::value`]. This runs off chain,
//! so floats are fine here; each validator's own weights are what the chain sees.

use std::collections::VecDeque;

use crate::ir::Smooth;

/// One miner's smoothed score.
#[derive(Debug, Clone, PartialEq)]
pub struct Smoother {
    rule: Smooth,
    value: Option<f64>,
    recent: VecDeque<f64>,
}

impl Smoother {
    /// A smoother with no scores yet.
    pub fn new(rule: Smooth) -> Self {
        Smoother {
            rule,
            value: None,
            recent: VecDeque::new(),
        }
    }

    /// Adds a round's score (clamped to `[0, 1]`, NaN as 0) and returns the smoothed value.
    pub fn push(&mut self, score: f64) -> f64 {
        let score = if score > 0.0 { score.min(1.0) } else { 0.0 };
        let value = match self.rule {
            Smooth::Last => score,
            Smooth::Ema(alpha) => match self.value {
                None => score,
                Some(v) => alpha * score + (1.0 - alpha) * v,
            },
            Smooth::Window(n) => {
                self.recent.push_back(score);
                while self.recent.len() > n as usize {
                    self.recent.pop_front();
                }
                self.recent.iter().sum::<f64>() / self.recent.len() as f64
            }
        };
        self.value = Some(value);
        value
    }

    /// The smoothed score, or `None` before the first round.
    pub fn value(&self) -> Option<f64> {
        self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ema_starts_at_the_first_score_and_moves_by_alpha() {
        let mut s = Smoother::new(Smooth::Ema(0.25));
        assert_eq!(s.value(), None);
        assert_eq!(s.push(0.8), 0.8);
        assert!((s.push(0.0) - 0.6).abs() < 1e-12);
        assert!((s.push(1.0) - 0.7).abs() < 1e-12);
    }

    #[test]
    fn window_averages_the_last_n_and_last_keeps_one() {
        let mut w = Smoother::new(Smooth::Window(2));
        w.push(1.0);
        w.push(0.0);
        assert_eq!(w.push(0.5), 0.25);
        let mut l = Smoother::new(Smooth::Last);
        l.push(0.3);
        assert_eq!(l.push(0.9), 0.9);
    }

    #[test]
    fn bad_scores_are_clamped() {
        let mut s = Smoother::new(Smooth::Last);
        assert_eq!(s.push(f64::NAN), 0.0);
        assert_eq!(s.push(7.0), 1.0);
        assert_eq!(s.push(-1.0), 0.0);
    }
}
