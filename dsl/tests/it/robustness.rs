//! Whatever the input, checking gives a result or errors: never a panic, never a stack
//! overflow. Mutated example specs that still check compile to modules that load, and the
//! formatter is idempotent on them.

use ganglion_dsl::check::MapFiles;
use proptest::prelude::*;

use crate::examples::spec_path;

fn denoise() -> String {
    std::fs::read_to_string(spec_path("denoise")).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = ganglion_dsl::check_source("junk", &bytes, &MapFiles::default());
    }

    #[test]
    fn mutated_specs_check_or_fail_cleanly(
        cuts in proptest::collection::vec((any::<prop::sample::Index>(), 0usize..8, "[ -~\n]{0,6}"), 1..4)
    ) {
        let mut src = denoise().into_bytes();
        for (at, len, insert) in cuts {
            let start = at.index(src.len());
            let end = (start + len).min(src.len());
            src.splice(start..end, insert.into_bytes());
        }
        match ganglion_dsl::check_source("m.subnet", &src, &MapFiles::default()) {
            Ok(spec) => {
                let module = ganglion_dsl::codegen::compile(&spec.program);
                if let Ok(module) = module {
                    ganglion_plugins::Plugin::load(&module, Default::default()).unwrap();
                }
                let once = ganglion_dsl::fmt::format(&spec.file, &spec.source);
                let file = ganglion_dsl::syntax::parse(&once).unwrap();
                prop_assert_eq!(ganglion_dsl::fmt::format(&file, &once), once);
            }
            Err(e) => {
                prop_assert!(!e.diagnostics.is_empty());
                let text = e.to_string();
                prop_assert!(text.contains("m.subnet:"), "{}", text);
            }
        }
    }
}

#[test]
fn the_formatter_is_idempotent_on_every_example_and_they_are_formatted() {
    for name in crate::examples::EXAMPLES {
        let source = std::fs::read_to_string(spec_path(name)).unwrap();
        let file = ganglion_dsl::syntax::parse(&source).unwrap();
        let formatted = ganglion_dsl::fmt::format(&file, &source);
        assert_eq!(formatted, source, "{name} is not in canonical layout");
    }
}
