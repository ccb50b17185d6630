//! `docs/dsl.md` against the implementation: every ```subnet block is a complete spec that
//! checks and is already in canonical layout, and every library function and hyperparameter
//! is documented.

use ganglion_dsl::check::MapFiles;

/// Every function name the checker knows: a copy of `FUNCS` in `dsl/src/check.rs` (private
/// there). Keep the two in sync.
#[rustfmt::skip]
const FUNCS: &[&str] = &[
    "abs", "accuracy", "arange", "argmax", "argmin", "bernoulli", "ceil", "choice", "clamp",
    "concat", "cos", "cosine", "cross_entropy", "cumsum", "dot", "exp", "flatten", "float",
    "floor", "full", "int", "integer", "linspace", "ln", "log_softmax", "mae", "matmul", "max",
    "mean", "min", "mse", "normal", "normalize", "one_hot", "ones", "pow", "power", "prod", "r2",
    "relu", "reshape", "rmse", "round", "sample", "shuffle", "sigmoid", "sin", "softmax", "sort",
    "sqrt", "stack", "std", "sum", "tan", "tanh", "top_k", "top_k_accuracy", "transpose",
    "trunc", "uniform", "var", "where", "zeros",
];

fn reference() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/dsl.md");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

/// The ```subnet blocks of `text`: (line of the opening fence, the block's text).
fn subnet_blocks(text: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        match current.as_mut() {
            None if line.trim_end() == "```subnet" => current = Some((i + 1, String::new())),
            None => {}
            Some(_) if line.trim_end() == "```" => blocks.extend(current.take()),
            Some((_, block)) => {
                block.push_str(line);
                block.push('\n');
            }
        }
    }
    assert!(
        current.is_none(),
        "docs/dsl.md: a ```subnet block is not closed"
    );
    blocks
}

#[test]
fn every_subnet_block_checks_and_is_formatted() {
    let text = reference();
    let blocks = subnet_blocks(&text);
    assert!(
        blocks.len() >= 10,
        "docs/dsl.md has only {} ```subnet blocks",
        blocks.len()
    );
    for (index, (line, block)) in blocks.iter().enumerate() {
        let spec =
            ganglion_dsl::check_source("docs/dsl.md", block.as_bytes(), &MapFiles::default())
                .unwrap_or_else(|e| {
                    panic!("```subnet block {index} (docs/dsl.md line {line}) does not check:\n{e}")
                });
        let formatted = ganglion_dsl::fmt::format(&spec.file, &spec.source);
        assert!(
            formatted == *block,
            "```subnet block {index} (docs/dsl.md line {line}) is not in canonical layout; \
             `ganglion subnet fmt` gives:\n{formatted}"
        );
    }
}

#[test]
fn every_function_is_documented() {
    let text = reference();
    let missing: Vec<&str> = FUNCS
        .iter()
        .copied()
        .filter(|name| !text.contains(&format!("`{name}(")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/dsl.md does not document these functions as `name(...)`: {missing:?}"
    );
}

#[test]
fn every_hyperparameter_is_documented() {
    let text = reference();
    let missing: Vec<&str> = ganglion_dsl::params::PARAMS
        .iter()
        .map(|p| p.name)
        .filter(|name| !text.contains(&format!("`{name}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/dsl.md does not document these hyperparameters: {missing:?}"
    );
}
