//! The node key: the ed25519 identity a node keeps across restarts, so its peer id (and the
//! `/p2p/...` part of its address that others list as a bootnode) stays the same.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use libp2p::identity::{Keypair, ed25519};

/// Why the node key could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum NodeKeyError {
    /// Reading or writing the file failed.
    #[error("node key {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a 32-byte secret.
    #[error(
        "node key {path} is not a 32-byte ed25519 secret ({len} bytes); delete it to make a new one (the peer id will change)"
    )]
    Malformed {
        /// The file.
        path: PathBuf,
        /// Its length.
        len: usize,
    },
}

/// The file name of the node key inside a base path's `network/` directory.
pub const NODE_KEY_FILE: &str = "secret_ed25519";

/// Loads the node key from `path`, or creates one there (owner-only permissions) if the file
/// does not exist.
pub fn load_or_create(path: &Path) -> Result<Keypair, NodeKeyError> {
    let io = |source| NodeKeyError::Io {
        path: path.to_owned(),
        source,
    };
    match std::fs::read(path) {
        Ok(mut bytes) => {
            let len = bytes.len();
            let secret = ed25519::SecretKey::try_from_bytes(&mut bytes).map_err(|_| {
                NodeKeyError::Malformed {
                    path: path.to_owned(),
                    len,
                }
            })?;
            Ok(ed25519::Keypair::from(secret).into())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(io)?;
            }
            let keypair = ed25519::Keypair::generate();
            let secret = keypair.secret();
            let tmp = path.with_extension("tmp");
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&tmp).map_err(io)?;
            file.write_all(secret.as_ref()).map_err(io)?;
            file.sync_all().map_err(io)?;
            std::fs::rename(&tmp, path).map_err(io)?;
            Ok(keypair.into())
        }
        Err(e) => Err(io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_survives_a_restart_and_a_bad_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("network").join(NODE_KEY_FILE);
        let first = load_or_create(&path).unwrap();
        let again = load_or_create(&path).unwrap();
        assert_eq!(first.public().to_peer_id(), again.public().to_peer_id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, b"short").unwrap();
        let err = load_or_create(&path).unwrap_err();
        assert!(err.to_string().contains("not a 32-byte"), "{err}");
    }
}
