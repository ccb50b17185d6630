//! The genesis configuration: endowed accounts, authorities and chain parameters.
//!
//! A genesis file is JSON (see `docs/chain.md`):
//!
//! ```json
//! {
//!   "name": "my testnet",
//!   "block_time_ms": 1000,
//!   "authorities": [{ "id": "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY", "power": 1 }],
//!   "endowed": [{ "account": "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY", "tao": "1000" }],
//!   "params": { "existential_deposit": 500, "base_fee": 100000, "byte_fee": 100 }
//! }
//! ```
//!
//! The same file gives the same genesis block hash on every machine.

use std::collections::BTreeSet;

use parity_scale_codec::Encode;

use super::block::{Header, extrinsics_root};
use super::economy::{EconomyParams, keys as economy_keys};
use super::hashing::H256;
use super::keys::{AccountId, Pair};
use super::state::{AccountData, AccountInfo, Authority, ChainParams, LtHash, keys};
use super::units::{Balance, RAO_PER_TAO, parse_tao};

/// The total supply cap: 21,000,000 TAO.
pub const MAX_SUPPLY: Balance = 21_000_000 * RAO_PER_TAO;

/// A genesis configuration.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisConfig {
    /// The chain's name (`system_chain`).
    pub name: String,
    /// Target time between blocks, in milliseconds (default 1000; Bittensor uses 12000).
    #[serde(default = "default_block_time_ms")]
    pub block_time_ms: u64,
    /// Who decides blocks.
    pub authorities: Vec<Authority>,
    /// Accounts that hold TAO at genesis.
    #[serde(default)]
    pub endowed: Vec<Endowment>,
    /// Fees, existential deposit and block limits.
    #[serde(default)]
    pub params: ChainParams,
    /// The account that may set root parameters (kappa, owner cut, subnet limit, ...).
    #[serde(default)]
    pub root: Option<AccountId>,
    /// Economy parameters: owner cut, subnet limit, lock cost, block emission, PoW.
    #[serde(default)]
    pub economy: EconomyParams,
}

fn default_block_time_ms() -> u64 {
    1000
}

/// An account's balance at genesis.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endowment {
    /// The account (SS58 or 0x-hex).
    pub account: AccountId,
    /// Its balance in TAO, as a decimal string (`"1000"`, `"0.5"`).
    pub tao: String,
}

/// Why a genesis configuration is refused.
#[derive(Debug, thiserror::Error)]
pub enum GenesisError {
    /// Not valid JSON, or a field has the wrong type.
    #[error("genesis config: {0}")]
    Parse(String),
    /// Valid JSON, invalid content.
    #[error("genesis config: {field}: {reason}")]
    Invalid {
        /// Which field.
        field: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> GenesisError {
    GenesisError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

/// The genesis state and block, built from a config.
#[derive(Debug, Clone)]
pub struct Genesis {
    /// Every state pair, in key order.
    pub state: Vec<(Vec<u8>, Vec<u8>)>,
    /// The genesis header.
    pub header: Header,
    /// Its state hash.
    pub lthash: LtHash,
}

impl GenesisConfig {
    /// The development chain: //Alice is the one authority; //Alice to //Ferdie hold
    /// 1,000,000 TAO each; one-second blocks.
    pub fn dev() -> GenesisConfig {
        let account = |name: &str| {
            Pair::from_uri(&format!("//{name}"))
                .map(|p| p.public())
                .unwrap_or(AccountId([0; 32]))
        };
        GenesisConfig {
            name: "ganglion dev".into(),
            block_time_ms: 1000,
            authorities: vec![Authority {
                id: account("Alice"),
                power: 1,
            }],
            endowed: ["Alice", "Bob", "Charlie", "Dave", "Eve", "Ferdie"]
                .iter()
                .map(|n| Endowment {
                    account: account(n),
                    tao: "1000000".into(),
                })
                .collect(),
            params: ChainParams::default(),
            root: Some(account("Alice")),
            economy: EconomyParams::default(),
        }
    }

    /// Reads a JSON config, naming the field at fault.
    pub fn from_json(bytes: &[u8]) -> Result<GenesisConfig, GenesisError> {
        let de = &mut serde_json::Deserializer::from_slice(bytes);
        let config: GenesisConfig = serde_path_to_error::deserialize(de)
            .map_err(|e| GenesisError::Parse(format!("{}: {}", e.path(), e.inner())))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks the config's content.
    pub fn validate(&self) -> Result<(), GenesisError> {
        if self.name.trim().is_empty() {
            return Err(invalid("name", "must not be empty"));
        }
        if !(100..=600_000).contains(&self.block_time_ms) {
            return Err(invalid(
                "block_time_ms",
                "must be between 100 and 600000 (10 minutes)",
            ));
        }
        if self.authorities.is_empty() {
            return Err(invalid(
                "authorities",
                "at least one authority is needed to decide blocks",
            ));
        }
        let mut seen = BTreeSet::new();
        let mut power: u64 = 0;
        for (i, a) in self.authorities.iter().enumerate() {
            if a.power == 0 {
                return Err(invalid(
                    format!("authorities[{i}].power"),
                    "must be at least 1",
                ));
            }
            if !seen.insert(a.id) {
                return Err(invalid(
                    format!("authorities[{i}].id"),
                    format!("{} is listed twice", a.id),
                ));
            }
            power = power
                .checked_add(a.power)
                .ok_or_else(|| invalid("authorities", "total voting power overflows a u64"))?;
        }
        let p = &self.params;
        if p.max_block_bytes < 64 * 1024 {
            return Err(invalid("params.max_block_bytes", "must be at least 65536"));
        }
        if self.economy.block_emission > RAO_PER_TAO * 1000 {
            return Err(invalid(
                "economy.block_emission",
                "must be at most 1000 TAO per block",
            ));
        }
        if p.max_block_extrinsics == 0 {
            return Err(invalid("params.max_block_extrinsics", "must be at least 1"));
        }
        let mut accounts = BTreeSet::new();
        let mut total: Balance = 0;
        for (i, e) in self.endowed.iter().enumerate() {
            let field = format!("endowed[{i}]");
            if !accounts.insert(e.account) {
                return Err(invalid(
                    format!("{field}.account"),
                    format!("{} is endowed twice", e.account),
                ));
            }
            let rao = parse_tao(&e.tao)
                .map_err(|err| invalid(format!("{field}.tao"), err.to_string()))?;
            if rao < p.existential_deposit {
                return Err(invalid(
                    format!("{field}.tao"),
                    format!(
                        "{rao} rao is below the existential deposit ({} rao)",
                        p.existential_deposit
                    ),
                ));
            }
            total = total
                .checked_add(rao)
                .filter(|t| *t <= MAX_SUPPLY)
                .ok_or_else(|| {
                    invalid(
                        "endowed",
                        "the endowments exceed the 21,000,000 TAO supply cap",
                    )
                })?;
        }
        Ok(())
    }

    /// Builds the genesis state and header.
    pub fn build(&self) -> Result<Genesis, GenesisError> {
        self.validate()?;
        let mut state = std::collections::BTreeMap::new();
        let mut total: Balance = 0;
        for e in &self.endowed {
            let free = parse_tao(&e.tao).map_err(|err| invalid("endowed", err.to_string()))?;
            total = total.saturating_add(free);
            let info = AccountInfo {
                providers: 1,
                data: AccountData {
                    free,
                    ..AccountData::default()
                },
                ..AccountInfo::default()
            };
            state.insert(keys::account(&e.account), info.encode());
        }
        state.insert(keys::total_issuance(), total.encode());
        state.insert(keys::chain_params(), self.params.encode());
        state.insert(keys::authorities(), self.authorities.encode());
        state.insert(keys::number(), 0u32.encode());
        state.insert(keys::parent_hash(), H256::ZERO.encode());
        state.insert(keys::last_slot(), 0u64.encode());
        state.insert(economy_keys::economy(), self.economy.encode());
        if let Some(root) = &self.root {
            state.insert(keys::root(), root.encode());
        }
        let mut lthash = LtHash::default();
        for (k, v) in &state {
            lthash.insert(k, v);
        }
        let header = Header {
            parent_hash: H256::ZERO,
            number: 0,
            state_root: lthash.root(),
            extrinsics_root: extrinsics_root(&[]),
            slot: 0,
            author: AccountId([0; 32]),
        };
        Ok(Genesis {
            state: state.into_iter().collect(),
            header,
            lthash,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_genesis_is_valid_and_reproducible() {
        let a = GenesisConfig::dev().build().expect("dev genesis");
        let b = GenesisConfig::dev().build().expect("dev genesis");
        assert_eq!(a.header.hash(), b.header.hash());
        let json = serde_json::to_vec(&GenesisConfig::dev()).expect("json");
        assert_eq!(
            GenesisConfig::from_json(&json).expect("parses"),
            GenesisConfig::dev()
        );
    }

    #[test]
    fn bad_configs_name_the_field() {
        let mut c = GenesisConfig::dev();
        c.authorities.clear();
        assert!(
            c.validate()
                .expect_err("no authorities")
                .to_string()
                .contains("authorities")
        );
        let mut c = GenesisConfig::dev();
        c.endowed[1].tao = "21000000".into();
        let err = c.validate().expect_err("over cap").to_string();
        assert!(err.contains("supply cap"), "{err}");
        let mut c = GenesisConfig::dev();
        c.endowed[0].tao = "0.0000001".into();
        assert!(
            c.validate()
                .expect_err("below ED")
                .to_string()
                .contains("endowed[0].tao")
        );
        let err = GenesisConfig::from_json(
            br#"{"name": "x", "authorities": [{"id": "5Grw", "power": 1}]}"#,
        )
        .expect_err("bad address")
        .to_string();
        assert!(err.contains("authorities[0].id"), "{err}");
        let err = GenesisConfig::from_json(br#"{"name": "x", "authorities": [], "colour": 1}"#)
            .expect_err("unknown field")
            .to_string();
        assert!(err.contains("colour"), "{err}");
    }
}
