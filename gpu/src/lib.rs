//! Miners' models: Burn networks (MLP, CNNs, a small transformer) picked from a subnet's
//! tensor shapes, trained on the subnet's own tasks and served with batched inference; CPU
//! by default, GPU by Cargo feature.
//!
//! Not built yet: this crate holds no code.
