//! Run the Yuma Consensus epoch on a small subnet you write by hand, then watch the bonds
//! carry over into a second epoch.
//!
//! `cargo run --example yuma_epoch`

#![allow(clippy::print_stdout, reason = "an example prints its results")]

use ganglion_kernel::yuma::{self, EpochInput, Hyperparams};

fn main() -> Result<(), yuma::InputError> {
    // Two validators (uids 0 and 1, with 3:1 stake) and three miners (uids 2, 3, 4).
    // The big validator likes miner 2; the small one tries to boost miner 4.
    let mut input = EpochInput {
        current_block: 1_000,
        tempo: 100,
        last_mechanism_step_block: 0,
        activity_cutoff: 5_000,
        stake: vec![300_000_000_000, 100_000_000_000, 0, 0, 0],
        stake_threshold: 0,
        owner_uid: None,
        weights: vec![
            vec![(2, 65_535), (3, 32_768)],
            vec![(3, 20_000), (4, 65_535)],
            vec![],
            vec![],
            vec![],
        ],
        bonds: vec![vec![]; 5],
        last_update: vec![990, 995, 0, 0, 0],
        block_at_registration: vec![10, 10, 20, 20, 20],
        validator_permit: vec![true, true, false, false, false],
        earliest_commit_block: None,
        params: Hyperparams::default(),
        rao_emission: 1_000_000_000,
    };

    for epoch in 1..=2 {
        let out = yuma::epoch(&input)?;
        println!("epoch {epoch}");
        println!("  uid  consensus  incentive  dividends  vtrust  emission (rao)");
        for uid in 0..input.n() {
            println!(
                "  {uid:>3}  {:>9}  {:>9}  {:>9}  {:>6}  {:>14}",
                out.consensus[uid],
                out.incentive[uid],
                out.dividends[uid],
                out.validator_trust[uid],
                out.emission[uid]
            );
        }
        // What the chain stores feeds the next epoch.
        input.bonds = out.bonds;
        input.validator_permit = out.new_validator_permit;
        input.last_mechanism_step_block = input.current_block;
        input.current_block += input.tempo;
        input.last_update = vec![input.current_block - 5; input.n()];
    }
    Ok(())
}
