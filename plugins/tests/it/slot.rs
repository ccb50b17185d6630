//! Hot loading: versions by activation block, atomic swaps, calls finishing on their version.

use std::sync::Arc;

use ganglion_plugin_abi::limits::Limits;
use ganglion_plugins::PluginSlot;

use super::{load_wat, toy, with_task};

fn constant_score(value: f64) -> Arc<ganglion_plugins::Plugin> {
    let wat =
        with_task("(i64.const 0)").replace("(f64.const 0.5)", &format!("(f64.const {value})"));
    Arc::new(load_wat(&wat, Limits::default()).unwrap())
}

#[test]
fn the_version_in_force_follows_activation_blocks() {
    let slot = PluginSlot::new();
    assert!(slot.at(0).is_none());
    slot.install(10, constant_score(0.25));
    slot.install(20, constant_score(0.75));
    let score = |block| slot.at(block).map(|p| p.score(&[], &[], &[]).unwrap());
    assert_eq!(score(9), None);
    assert_eq!(score(10), Some(0.25));
    assert_eq!(score(19), Some(0.25));
    assert_eq!(score(20), Some(0.75));
    assert_eq!(score(1_000), Some(0.75));
    slot.prune(25);
    assert_eq!(slot.activations(), vec![20]);
    assert_eq!(score(30), Some(0.75));
}

#[test]
fn a_call_in_flight_finishes_on_its_version() {
    let slot = Arc::new(PluginSlot::new());
    slot.install(0, Arc::new(toy()));
    let held = slot.at(5).unwrap();
    // Swap while "in flight" (holding the old version), from another thread.
    let swapper = {
        let slot = Arc::clone(&slot);
        std::thread::spawn(move || slot.install(0, constant_score(0.5)))
    };
    swapper.join().unwrap();
    let task = held.task(1, 2).unwrap();
    assert_eq!(
        held.score(&task.public, &task.private, &task.private)
            .unwrap(),
        1.0
    );
    assert_eq!(slot.at(5).unwrap().score(&[], &[], &[]).unwrap(), 0.5);
}
