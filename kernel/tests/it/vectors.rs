//! Every public Yuma vector reproduces exactly, on both epoch paths.

use std::path::{Path, PathBuf};

use ganglion_kernel::yuma::{self, case::Case};

fn vector_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/yuma-vectors");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 6,
        "expected the public vectors in {}",
        dir.display()
    );
    files
}

fn load(path: &Path) -> Case {
    Case::from_json(&std::fs::read(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn fast_epoch_reproduces_every_vector() {
    for path in vector_files() {
        let case = load(&path);
        let expected = case
            .expected
            .as_ref()
            .expect("public vectors carry `expected`");
        let out = yuma::epoch(&case.input).unwrap();
        assert_eq!(&out, expected, "{}", path.display());
    }
}

#[test]
fn reference_epoch_reproduces_every_vector() {
    for path in vector_files() {
        let case = load(&path);
        let out = yuma::reference::epoch(&case.input).unwrap();
        assert_eq!(Some(&out), case.expected.as_ref(), "{}", path.display());
    }
}

#[test]
fn a_sequence_step_feeds_the_next() {
    // Running the step's output back in as the next epoch's bonds and permits is what the
    // chain does; the result must be a valid input whose epoch both paths agree on.
    let case = load(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/yuma-vectors/seq_classic_test_bonds_step2.json"),
    );
    let out = yuma::epoch(&case.input).unwrap();
    let mut next = case.input.clone();
    next.bonds = out.bonds.clone();
    next.validator_permit = out.new_validator_permit.clone();
    next.current_block += next.tempo;
    next.last_mechanism_step_block = case.input.current_block;
    let fast = yuma::epoch(&next).unwrap();
    assert_eq!(fast, yuma::reference::epoch(&next).unwrap());
    assert_ne!(
        fast.bonds, out.bonds,
        "bonds keep moving toward the weights"
    );
}
