//! Bundles: reproducible bytes and hash, verification on load, and refusal of anything
//! tampered with.

use ganglion_dsl::bundle::{Bundle, BundleError};
use ganglion_dsl::check::DirFiles;

use crate::examples::{EXAMPLES, spec_path};

fn build(name: &str) -> Bundle {
    let path = spec_path(name);
    let spec = ganglion_dsl::load(&path).unwrap();
    Bundle::build(&spec, &DirFiles(path.parent().unwrap().to_path_buf())).unwrap()
}

#[test]
fn building_twice_gives_the_same_bytes_and_loading_verifies() {
    for name in EXAMPLES {
        let a = build(name);
        let b = build(name);
        assert_eq!(a.bytes(), b.bytes(), "{name}: two builds differ");
        assert_eq!(a.hash(), *blake3::hash(a.bytes()).as_bytes());
        let loaded = Bundle::from_bytes(a.bytes()).unwrap();
        assert_eq!(loaded.hash_hex(), a.hash_hex());
        assert!(
            loaded.reproduced(),
            "{name}: the module was rebuilt from the spec"
        );
        assert_eq!(loaded.manifest, a.manifest);
        assert_eq!(loaded.manifest.name, name);
        assert_eq!(loaded.program, a.program);
    }
}

#[test]
fn formatting_differences_do_not_change_the_hash() {
    let path = spec_path("denoise");
    let source = std::fs::read_to_string(&path).unwrap();
    // The same spec, laid out badly: the bundle holds the canonical layout.
    let messy = source.replace("  ", "\t ").replace(" = ", "=");
    let dir = path.parent().unwrap().to_path_buf();
    let spec = ganglion_dsl::check_source("messy.subnet", messy.as_bytes(), &DirFiles(dir.clone()))
        .unwrap();
    let messy_bundle = Bundle::build(&spec, &DirFiles(dir)).unwrap();
    assert_eq!(messy_bundle.hash(), build("denoise").hash());
}

#[test]
fn a_different_spec_gives_a_different_hash() {
    let path = spec_path("denoise");
    let source = std::fs::read_to_string(&path)
        .unwrap()
        .replace("uniform(0.1, 0.5)", "uniform(0.1, 0.6)");
    let dir = path.parent().unwrap().to_path_buf();
    let spec =
        ganglion_dsl::check_source("x.subnet", source.as_bytes(), &DirFiles(dir.clone())).unwrap();
    assert_ne!(
        Bundle::build(&spec, &DirFiles(dir)).unwrap().hash(),
        build("denoise").hash()
    );
}

#[test]
fn tampered_bundles_are_refused() {
    let good = build("digits");
    let bytes = good.bytes().to_vec();
    // Every single-byte change anywhere is caught (sampled across the whole archive).
    let step = bytes.len() / 97;
    for at in (0..bytes.len()).step_by(step.max(1)) {
        let mut bad = bytes.clone();
        bad[at] ^= 0x20;
        assert!(
            Bundle::from_bytes(&bad).is_err(),
            "a flipped byte at {at} was accepted"
        );
    }
    // Truncation and trailing bytes.
    assert!(matches!(
        Bundle::from_bytes(&bytes[..bytes.len() - 1]),
        Err(BundleError::Malformed(_))
    ));
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(
        Bundle::from_bytes(&longer),
        Err(BundleError::Malformed(_))
    ));
    assert!(matches!(
        Bundle::from_bytes(b"not a bundle"),
        Err(BundleError::Malformed(_))
    ));
    assert!(Bundle::from_bytes(&[]).is_err());
}

#[test]
fn a_module_that_is_not_the_compiled_spec_is_refused() {
    // Swap in the module of another spec, with a manifest hash to match: the bundle is
    // internally consistent but the module does not come from its spec.
    let denoise = build("denoise");
    let sort = build("sort");
    let mut manifest = denoise.manifest.clone();
    manifest.module_blake3 = blake3::hash(&sort.module).to_hex().to_string();
    let mut entries = std::collections::BTreeMap::new();
    let mut m = serde_json::to_vec_pretty(&manifest).unwrap();
    m.push(b'\n');
    entries.insert("manifest.json", m);
    entries.insert("plugin.wasm", sort.module.clone());
    entries.insert("spec.subnet", denoise.spec.clone().into_bytes());
    let mut bytes = b"GNGLBNDL".to_vec();
    bytes.extend(1u16.to_le_bytes());
    bytes.extend((entries.len() as u32).to_le_bytes());
    for (k, v) in &entries {
        bytes.extend((k.len() as u16).to_le_bytes());
        bytes.extend(k.as_bytes());
        bytes.extend((v.len() as u64).to_le_bytes());
        bytes.extend(v);
    }
    let err = Bundle::from_bytes(&bytes).unwrap_err();
    assert!(matches!(err, BundleError::Mismatch(_)), "{err}");
}
