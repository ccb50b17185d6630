//! Bundles: a subnet's spec, compiled module and data files in one canonical archive whose
//! blake3 hash is the subnet's identity.
//!
//! # Format (version 1)
//!
//! ```text
//! bundle := magic "GNGLBNDL" | version:u16 | count:u32 | entry*count      (little-endian)
//! entry  := name_len:u16 | name (UTF-8) | data_len:u64 | data
//! ```
//!
//! Entries are sorted by name, unique, and exactly: `manifest.json` (canonical JSON, below),
//! `plugin.wasm` (the compiled module), `spec.subnet` (the spec in its canonical layout, see
//! [`crate::fmt`]) and one `data/FILE` per data file, byte for byte. Nothing in the archive
//! depends on the machine, the clock or the path it was built from, so the same source gives
//! the same bytes, and the same hash, everywhere.
//!
//! Loading a bundle ([`Bundle::from_bytes`]) verifies it: the layout, the hashes in the
//! manifest, that the spec checks, that the manifest says what the spec says, and, when the
//! bundle was built by this compiler version, that compiling the spec gives the module byte
//! for byte.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::check::MapFiles;
use crate::ir::{ParamValue, Program, Smooth};
use crate::{Spec, SpecErrors};

/// The archive's first bytes.
pub const MAGIC: &[u8; 8] = b"GNGLBNDL";
/// The archive format version.
pub const FORMAT: u16 = 1;
/// The largest bundle accepted.
pub const MAX_BUNDLE_BYTES: usize = 64 << 20;
/// The compiler that builds bundles: this crate at this version.
pub const COMPILER: &str = concat!("ganglion-dsl ", env!("CARGO_PKG_VERSION"));

const MANIFEST: &str = "manifest.json";
const MODULE: &str = "plugin.wasm";
const SPEC: &str = "spec.subnet";

/// Why a bundle cannot be built or used.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The archive is malformed.
    #[error("not a valid bundle: {0}")]
    Malformed(String),
    /// A stored hash does not match its content.
    #[error("the bundle is damaged: {0}")]
    Damaged(String),
    /// The stored spec has errors.
    #[error("the bundle's spec does not check:\n{0}")]
    Spec(SpecErrors),
    /// The manifest disagrees with the spec, or the module with the compiled spec.
    #[error("the bundle does not verify: {0}")]
    Mismatch(String),
    /// The spec cannot be compiled.
    #[error("{0}")]
    Codegen(#[from] crate::codegen::CodegenError),
}

/// A payload tensor's declared name, dtype and shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensorInfo {
    /// The spec's name for it.
    pub name: String,
    /// Its dtype (`f32`, `f64`, `i32`, `i64`, `u8`).
    pub dtype: String,
    /// Its shape.
    pub shape: Vec<usize>,
}

/// What a task looks like.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskInfo {
    /// Sent to miners, in order.
    pub send: Vec<TensorInfo>,
    /// Kept by the validator, in order.
    pub keep: Vec<TensorInfo>,
    /// The response (its name is `response`).
    pub expect: TensorInfo,
    /// How long a validator waits, milliseconds.
    pub timeout_ms: u64,
}

/// A bundled data file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataInfo {
    /// The spec's name for the table.
    pub name: String,
    /// The entry in the bundle (`data/FILE`).
    pub file: String,
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// blake3 of the file, hex.
    pub blake3: String,
}

/// The smoothing rule, as validators read it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case", deny_unknown_fields)]
pub enum SmoothInfo {
    /// The latest score.
    Last,
    /// An exponential moving average with this weight for the newest score.
    Ema {
        /// The weight.
        alpha: f64,
    },
    /// The mean of the last `n` scores.
    Window {
        /// How many.
        n: u32,
    },
}

impl From<Smooth> for SmoothInfo {
    fn from(s: Smooth) -> Self {
        match s {
            Smooth::Last => SmoothInfo::Last,
            Smooth::Ema(alpha) => SmoothInfo::Ema { alpha },
            Smooth::Window(n) => SmoothInfo::Window { n },
        }
    }
}

/// A hyperparameter's chain value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ParamJson {
    /// A number in the chain's unit.
    Int(u64),
    /// A switch.
    Bool(bool),
}

/// The bundle's manifest: what a node, validator or miner needs without running anything.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The archive format.
    pub format: u16,
    /// The plugin ABI version of the module.
    pub abi_version: i32,
    /// The compiler that built it.
    pub compiler: String,
    /// The subnet's name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Its summary.
    pub summary: String,
    /// blake3 of `plugin.wasm`, hex.
    pub module_blake3: String,
    /// The task's tensors.
    pub task: TaskInfo,
    /// How validators smooth scores.
    pub smooth: SmoothInfo,
    /// The hyperparameters the spec sets, by name, in the chain's units.
    pub hyperparameters: BTreeMap<String, ParamJson>,
    /// Whether the module exports `reward`.
    pub reward: bool,
    /// The data files.
    pub data: Vec<DataInfo>,
}

/// A verified bundle.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The manifest.
    pub manifest: Manifest,
    /// The spec (canonical layout).
    pub spec: String,
    /// The compiled module.
    pub module: Vec<u8>,
    /// The data files, by entry name (`data/FILE`).
    pub data: BTreeMap<String, Vec<u8>>,
    /// The checked program.
    pub program: Program,
    bytes: Vec<u8>,
    hash: [u8; 32],
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn manifest_for(program: &Program, module: &[u8], data: &BTreeMap<String, Vec<u8>>) -> Manifest {
    let tensor =
        |name: &str, dtype: ganglion_plugin_abi::payload::DType, shape: &[usize]| TensorInfo {
            name: name.to_owned(),
            dtype: dtype.name().to_owned(),
            shape: shape.to_vec(),
        };
    let t = &program.task;
    Manifest {
        format: FORMAT,
        abi_version: ganglion_plugin_abi::ABI_VERSION,
        compiler: COMPILER.to_owned(),
        name: program.meta.name.clone(),
        version: program.meta.version.clone(),
        summary: program.meta.summary.clone(),
        module_blake3: hex(blake3::hash(module).as_bytes()),
        task: TaskInfo {
            send: t
                .send
                .iter()
                .map(|o| tensor(&o.name, o.dtype, &o.shape))
                .collect(),
            keep: t
                .keep
                .iter()
                .map(|o| tensor(&o.name, o.dtype, &o.shape))
                .collect(),
            expect: tensor("response", t.expect.dtype, &t.expect.shape),
            timeout_ms: t.timeout_ms,
        },
        smooth: program.score.smooth.into(),
        hyperparameters: program
            .params
            .iter()
            .map(|(k, v)| {
                let v = match *v {
                    ParamValue::Int(i) => ParamJson::Int(i),
                    ParamValue::Signed(i) => ParamJson::Int(u64::try_from(i).unwrap_or(0)),
                    ParamValue::Bool(b) => ParamJson::Bool(b),
                };
                (k.clone(), v)
            })
            .collect(),
        reward: program.reward.is_some(),
        data: program
            .data
            .iter()
            .map(|d| {
                let entry = format!("data/{}", d.file);
                DataInfo {
                    name: d.name.clone(),
                    blake3: hex(blake3::hash(data.get(&entry).map_or(&[][..], |v| v)).as_bytes()),
                    file: entry,
                    rows: d.rows,
                    cols: d.cols,
                }
            })
            .collect(),
    }
}

fn manifest_bytes(m: &Manifest) -> Vec<u8> {
    let mut v = serde_json::to_vec_pretty(m).expect("a manifest always serializes");
    v.push(b'\n');
    v
}

fn archive(entries: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT.to_le_bytes());
    out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    for (name, data) in entries {
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&(data.len() as u64).to_le_bytes());
        out.extend_from_slice(data);
    }
    out
}

fn unarchive(bytes: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, BundleError> {
    let bad = |why: String| BundleError::Malformed(why);
    if bytes.len() > MAX_BUNDLE_BYTES {
        return Err(bad(format!(
            "{} bytes; the limit is {MAX_BUNDLE_BYTES}",
            bytes.len()
        )));
    }
    if bytes.len() < 14 || &bytes[..8] != MAGIC {
        return Err(bad(
            "it does not start with GNGLBNDL (is this a bundle?)".to_owned()
        ));
    }
    let version = u16::from_le_bytes([bytes[8], bytes[9]]);
    if version != FORMAT {
        return Err(bad(format!(
            "format version {version}; this build reads version {FORMAT}"
        )));
    }
    let count = u32::from_le_bytes([bytes[10], bytes[11], bytes[12], bytes[13]]) as usize;
    let mut at = 14usize;
    let mut take = |n: usize, what: &str| -> Result<&[u8], BundleError> {
        let end = at
            .checked_add(n)
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| bad(format!("truncated in {what}")))?;
        let s = &bytes[at..end];
        at = end;
        Ok(s)
    };
    let mut entries = BTreeMap::new();
    let mut last: Option<String> = None;
    for _ in 0..count.min(1 << 16) {
        let len = take(2, "an entry name length")?;
        let len = usize::from(u16::from_le_bytes([len[0], len[1]]));
        let name = std::str::from_utf8(take(len, "an entry name")?)
            .map_err(|_| bad("an entry name is not UTF-8".to_owned()))?
            .to_owned();
        let dlen = take(8, "an entry length")?;
        let dlen = u64::from_le_bytes(dlen.try_into().expect("8 bytes"));
        let data = take(usize::try_from(dlen).unwrap_or(usize::MAX), &name)?.to_vec();
        if last.as_ref().is_some_and(|l| *l >= name) {
            return Err(bad(format!("entry `{name}` is out of order or repeated")));
        }
        last = Some(name.clone());
        entries.insert(name, data);
    }
    if entries.len() != count {
        return Err(bad(format!("{count} entries declared")));
    }
    if at != bytes.len() {
        return Err(bad(format!(
            "{} bytes after the last entry",
            bytes.len() - at
        )));
    }
    Ok(entries)
}

impl Bundle {
    /// Builds the bundle of a checked spec: formats the spec canonically, checks it again,
    /// compiles it and packs everything.
    pub fn build(spec: &Spec, files: &dyn crate::check::Files) -> Result<Bundle, BundleError> {
        let canonical = crate::fmt::format(&spec.file, &spec.source);
        let mut data = BTreeMap::new();
        for d in &spec.program.data {
            let bytes = files
                .read(&d.file)
                .map_err(|e| BundleError::Malformed(format!("data file `{}`: {e}", d.file)))?;
            data.insert(format!("data/{}", d.file), bytes);
        }
        let (program, module) = compile_canonical(&spec.path, &canonical, &data)?;
        let manifest = manifest_for(&program, &module, &data);
        let mut entries = data.clone();
        entries.insert(MANIFEST.to_owned(), manifest_bytes(&manifest));
        entries.insert(MODULE.to_owned(), module.clone());
        entries.insert(SPEC.to_owned(), canonical.clone().into_bytes());
        let bytes = archive(&entries);
        Ok(Bundle {
            manifest,
            spec: canonical,
            module,
            data,
            program,
            hash: *blake3::hash(&bytes).as_bytes(),
            bytes,
        })
    }

    /// Reads and verifies a bundle.
    pub fn from_bytes(bytes: &[u8]) -> Result<Bundle, BundleError> {
        let mut entries = unarchive(bytes)?;
        let manifest_raw = entries
            .remove(MANIFEST)
            .ok_or_else(|| BundleError::Malformed("no manifest.json".to_owned()))?;
        let module = entries
            .remove(MODULE)
            .ok_or_else(|| BundleError::Malformed("no plugin.wasm".to_owned()))?;
        let spec = entries
            .remove(SPEC)
            .ok_or_else(|| BundleError::Malformed("no spec.subnet".to_owned()))?;
        if let Some(other) = entries.keys().find(|k| !k.starts_with("data/")) {
            return Err(BundleError::Malformed(format!(
                "unexpected entry `{other}`"
            )));
        }
        let data = entries;
        let manifest: Manifest = serde_json::from_slice(&manifest_raw)
            .map_err(|e| BundleError::Malformed(format!("manifest.json: {e}")))?;
        if manifest_bytes(&manifest) != manifest_raw {
            return Err(BundleError::Malformed(
                "manifest.json is not in canonical form".to_owned(),
            ));
        }
        if hex(blake3::hash(&module).as_bytes()) != manifest.module_blake3 {
            return Err(BundleError::Damaged(
                "plugin.wasm does not match the manifest's hash".to_owned(),
            ));
        }
        for d in &manifest.data {
            let got = data
                .get(&d.file)
                .ok_or_else(|| BundleError::Malformed(format!("no entry {}", d.file)))?;
            if hex(blake3::hash(got).as_bytes()) != d.blake3 {
                return Err(BundleError::Damaged(format!(
                    "{} does not match the manifest's hash",
                    d.file
                )));
            }
        }
        if data.len() != manifest.data.len() {
            return Err(BundleError::Malformed(
                "data entries the manifest does not list".to_owned(),
            ));
        }
        let spec = String::from_utf8(spec)
            .map_err(|_| BundleError::Malformed("spec.subnet is not UTF-8".to_owned()))?;
        let (program, compiled) =
            compile_canonical(&format!("{}.subnet", manifest.name), &spec, &data)?;
        let expected = manifest_for(&program, &module, &data);
        let same_but_compiler = Manifest {
            compiler: manifest.compiler.clone(),
            ..expected
        };
        if same_but_compiler != manifest {
            return Err(BundleError::Mismatch(
                "the manifest does not describe the bundled spec".to_owned(),
            ));
        }
        if manifest.compiler == COMPILER && compiled != module {
            return Err(BundleError::Mismatch(
                "plugin.wasm is not the compiled spec (rebuild the bundle from its source)"
                    .to_owned(),
            ));
        }
        Ok(Bundle {
            manifest,
            spec,
            module,
            data,
            program,
            hash: *blake3::hash(bytes).as_bytes(),
            bytes: bytes.to_vec(),
        })
    }

    /// The archive's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The bundle's identity: blake3 of its bytes.
    pub fn hash(&self) -> [u8; 32] {
        self.hash
    }

    /// The identity in hex.
    pub fn hash_hex(&self) -> String {
        hex(&self.hash)
    }

    /// Whether this build of the compiler reproduced the module from the spec.
    pub fn reproduced(&self) -> bool {
        self.manifest.compiler == COMPILER
    }
}

/// Checks canonical spec text with the bundled data and compiles it.
fn compile_canonical(
    path: &str,
    canonical: &str,
    data: &BTreeMap<String, Vec<u8>>,
) -> Result<(Program, Vec<u8>), BundleError> {
    let files = MapFiles(
        data.iter()
            .map(|(k, v)| (k.trim_start_matches("data/").to_owned(), v.clone()))
            .collect(),
    );
    let spec =
        crate::check_source(path, canonical.as_bytes(), &files).map_err(BundleError::Spec)?;
    if crate::fmt::format(&spec.file, &spec.source) != canonical {
        return Err(BundleError::Malformed(
            "spec.subnet is not in canonical layout".to_owned(),
        ));
    }
    let module = crate::codegen::compile(&spec.program)?;
    Ok((spec.program, module))
}
