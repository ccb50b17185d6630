//! The disk cache: reused when intact, recompiled when tampered with or stale.

use ganglion_plugin_abi::limits::Limits;
use ganglion_plugins::{Host, examples::TOY_WAT};

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "ganglion-plugin-cache-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn cwasm_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect()
}

#[test]
fn cached_modules_are_verified_before_use() {
    let dir = temp_dir("verify");
    let wasm = wat::parse_str(TOY_WAT).unwrap();
    let reference = {
        let host = Host::with_cache_dir(&dir).unwrap();
        host.load(&wasm, Limits::default())
            .unwrap()
            .task(5, 5)
            .unwrap()
    };
    let files = cwasm_files(&dir);
    assert_eq!(files.len(), 1, "one compiled module cached");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("cache.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // A fresh host (an empty memory cache, as after a restart) computes the same.
    let fresh_task = || {
        Host::with_cache_dir(&dir)
            .unwrap()
            .load(&wasm, Limits::default())
            .unwrap()
            .task(5, 5)
            .unwrap()
    };
    assert_eq!(fresh_task(), reference);

    // Tamper with the artifact: it is not trusted, the module is recompiled and rewritten.
    let path = &files[0];
    let mut bytes = std::fs::read(path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(path, &bytes).unwrap();
    assert_eq!(fresh_task(), reference);
    assert_ne!(
        std::fs::read(path).unwrap(),
        bytes,
        "the tampered file was replaced"
    );

    // Garbage and truncation are handled the same way.
    std::fs::write(path, b"short").unwrap();
    assert_eq!(fresh_task(), reference);

    // Another configuration (a different memory limit) is a different cache entry.
    let host = Host::with_cache_dir(&dir).unwrap();
    let other = Limits {
        memory_bytes: 32 << 20,
        ..Limits::default()
    };
    host.load(&wasm, other).unwrap();
    assert_eq!(cwasm_files(&dir).len(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}
