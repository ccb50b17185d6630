//! Compiled modules on disk, keyed by content and engine, verified before use.
//!
//! A compiled artifact is native code: loading one is only safe if it is exactly what this
//! node compiled. Each file therefore carries a MAC: blake3 keyed with a secret made by this
//! node (`cache.key`, mode 0600) over the cache key and the artifact. A file that is missing,
//! truncated, tampered with, or written for another engine configuration fails the check (or
//! wasmtime's own compatibility check) and is recompiled, never trusted.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use wasmtime::{Engine, Module};

use crate::error::PluginError;

/// The on-disk cache in one directory.
pub(crate) struct DiskCache {
    dir: PathBuf,
    secret: [u8; 32],
}

impl DiskCache {
    /// Opens (creating) the cache directory and its secret.
    pub(crate) fn open(dir: &Path) -> Result<Self, PluginError> {
        let host = |what: &str, e: std::io::Error| {
            PluginError::Host(format!("plugin cache {}: {what}: {e}", dir.display()))
        };
        fs::create_dir_all(dir).map_err(|e| host("creating the directory", e))?;
        let key_path = dir.join("cache.key");
        let secret = match fs::read(&key_path) {
            Ok(bytes) if bytes.len() == 32 => {
                let mut secret = [0u8; 32];
                secret.copy_from_slice(&bytes);
                secret
            }
            _ => {
                let mut secret = [0u8; 32];
                fs::File::open("/dev/urandom")
                    .and_then(|mut f| f.read_exact(&mut secret))
                    .map_err(|e| host("reading /dev/urandom for the cache secret", e))?;
                write_private(&key_path, &secret).map_err(|e| host("writing cache.key", e))?;
                secret
            }
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            secret,
        })
    }

    fn path(&self, key: &[u8; 32]) -> PathBuf {
        self.dir
            .join(format!("{}.cwasm", blake3::Hash::from(*key).to_hex()))
    }

    fn mac(&self, key: &[u8; 32], artifact: &[u8]) -> [u8; 32] {
        let mut hasher = blake3::Hasher::new_keyed(&self.secret);
        hasher.update(key);
        hasher.update(artifact);
        *hasher.finalize().as_bytes()
    }

    /// The module cached under `key`, if a verified artifact is there.
    pub(crate) fn get(&self, engine: &Engine, key: &[u8; 32]) -> Option<Module> {
        let path = self.path(key);
        let bytes = fs::read(&path).ok()?;
        let (mac, artifact) = bytes.split_first_chunk::<32>()?;
        if *mac != self.mac(key, artifact) {
            tracing::warn!(target: "ganglion::plugins", path = %path.display(), "cached module fails verification; recompiling");
            return None;
        }
        #[allow(
            unsafe_code,
            reason = "the one place compiled code is loaded from disk"
        )]
        // SAFETY: `Module::deserialize` trusts its input to be an artifact wasmtime produced.
        // This one is: its MAC, keyed with this node's secret, proves this node's
        // `Module::serialize` wrote these exact bytes for this cache key, which covers the
        // module's hash and the engine configuration; wasmtime also checks that the artifact
        // matches this engine's version and settings and errors (not UB) if not.
        let module = unsafe { Module::deserialize(engine, artifact) };
        match module {
            Ok(module) => Some(module),
            Err(err) => {
                tracing::warn!(target: "ganglion::plugins", path = %path.display(), %err, "cached module is stale; recompiling");
                None
            }
        }
    }

    /// Stores `module` under `key` (atomically: a temporary file renamed into place).
    pub(crate) fn put(&self, key: &[u8; 32], module: &Module) {
        let result = module
            .serialize()
            .map_err(|e| std::io::Error::other(e.to_string()))
            .and_then(|artifact| {
                let mut file = self.mac(key, &artifact).to_vec();
                file.extend_from_slice(&artifact);
                let path = self.path(key);
                let tmp = path.with_extension(format!("tmp{}", std::process::id()));
                write_private(&tmp, &file)?;
                fs::rename(&tmp, &path)
            });
        if let Err(err) = result {
            tracing::warn!(target: "ganglion::plugins", %err, "cannot write the plugin cache");
        }
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}
