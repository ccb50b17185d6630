//! Integration tests of the kernel: the public Yuma vectors and property tests, keys and
//! wallets against published vectors, the chain end to end, and the node's RPC.

mod bft;
mod chain;
mod economy;
mod economy_flow;
mod keys;
mod p2p;
mod props;
mod rpc;
mod support;
mod vectors;
mod wallet;
