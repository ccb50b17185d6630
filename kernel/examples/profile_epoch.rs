//! Runs one large epoch repeatedly, for profilers: `profile_epoch [VALIDATORS] [la]`.
use ganglion_kernel::yuma::{self, synth};
fn main() {
    let v: usize = std::env::args().nth(1).map_or(64, |a| a.parse().unwrap());
    let la = std::env::args().nth(2).is_some();
    let input = synth::subnet(&synth::Shape { n: 4096, validators: v, weights_per_validator: 4096, yuma3: la, liquid_alpha: la, seed: 2026 });
    let t = std::time::Instant::now();
    for _ in 0..50 { std::hint::black_box(yuma::epoch(&input).unwrap()); }
    eprintln!("{:?}", t.elapsed() / 50);
}
