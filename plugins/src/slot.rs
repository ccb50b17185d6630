//! Hot loading: a subnet's plugin versions, each in force from its activation block.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use crate::plugin::Plugin;

/// The plugin versions of one subnet, keyed by activation block.
///
/// [`PluginSlot::at`] gives the version in force at a block: the one with the latest
/// activation at or before it. [`PluginSlot::install`] swaps in a new set of versions
/// atomically; a call that already holds a version (an `Arc<Plugin>`) finishes on it.
/// Compile a plugin before installing it, so the swap itself is only a pointer exchange.
///
/// ```
/// use std::sync::Arc;
/// use ganglion_plugin_abi::limits::Limits;
/// use ganglion_plugins::{Plugin, PluginSlot, examples::TOY_WAT};
///
/// let wasm = wat::parse_str(TOY_WAT)?;
/// let slot = PluginSlot::new();
/// slot.install(100, Arc::new(Plugin::load(&wasm, Limits::default())?));
/// assert!(slot.at(99).is_none());
/// let plugin = slot.at(150).expect("in force from block 100");
/// let task = plugin.task(1, 0)?;
/// assert_eq!(plugin.score(&task.public, &task.private, &task.private)?, 1.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Default)]
pub struct PluginSlot {
    versions: RwLock<Arc<BTreeMap<u64, Arc<Plugin>>>>,
}

impl PluginSlot {
    /// An empty slot.
    pub fn new() -> Self {
        Self::default()
    }

    /// The version in force at `block`, if any.
    pub fn at(&self, block: u64) -> Option<Arc<Plugin>> {
        let versions = self.snapshot();
        versions
            .range(..=block)
            .next_back()
            .map(|(_, p)| Arc::clone(p))
    }

    /// Installs `plugin` from block `activation` on (replacing a version with the same
    /// activation).
    pub fn install(&self, activation: u64, plugin: Arc<Plugin>) {
        let mut guard = match self.versions.write() {
            Ok(guard) => guard,
            // A writer that panicked left the previous map intact: keep using it.
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut next = BTreeMap::clone(&guard);
        next.insert(activation, plugin);
        *guard = Arc::new(next);
    }

    /// Drops versions that can no longer be in force at `block` or later (all but the one in
    /// force at `block` and the later ones).
    pub fn prune(&self, block: u64) {
        let mut guard = match self.versions.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let keep_from = guard.range(..=block).next_back().map(|(&a, _)| a);
        if let Some(from) = keep_from {
            let next: BTreeMap<u64, Arc<Plugin>> = guard
                .range(from..)
                .map(|(&a, p)| (a, Arc::clone(p)))
                .collect();
            *guard = Arc::new(next);
        }
    }

    /// The activation blocks installed, in order.
    pub fn activations(&self) -> Vec<u64> {
        self.snapshot().keys().copied().collect()
    }

    fn snapshot(&self) -> Arc<BTreeMap<u64, Arc<Plugin>>> {
        match self.versions.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }
}
