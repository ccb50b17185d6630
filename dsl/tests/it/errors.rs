//! Error messages, as snapshots: every kind of mistake gives `file:line:col`, the source
//! line, a caret under the span, what is wrong and a hint. Review changes with
//! `cargo insta review` (or `INSTA_UPDATE=always`) and read the new text before accepting.

use ganglion_dsl::check::MapFiles;

/// A small valid spec; cases replace one part of it.
const BASE: &str = r#"subnet demo {
  version = "0.1.0"
  summary = "A demo"

  task {
    let noise = normal(0, 0.3, [16])
    let clean = sin(linspace(0, tau, 16))
    let noisy = clean + noise
    send noisy: f32[16]
    keep clean
    expect f32[16]
  }

  score {
    item = 1 - clamp(mse(response, clean), 0, 1)
  }

  incentive {
    tempo = 20 blocks
  }
}
"#;

fn errors(source: &str) -> String {
    match ganglion_dsl::check_source("demo.subnet", source.as_bytes(), &MapFiles::default()) {
        Ok(_) => panic!("the spec checked, but it has a mistake:\n{source}"),
        Err(e) => e.to_string(),
    }
}

fn with(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "the base spec has no `{from}`");
    errors(&BASE.replacen(from, to, 1))
}

#[test]
fn the_base_spec_checks() {
    ganglion_dsl::check_source("demo.subnet", BASE.as_bytes(), &MapFiles::default()).unwrap();
}

#[test]
fn syntax_error() {
    insta::assert_snapshot!(with("let noisy = clean + noise", "let noisy clean + noise"));
}

#[test]
fn unclosed_block() {
    insta::assert_snapshot!(errors(BASE.trim_end().trim_end_matches('}')));
}

#[test]
fn unknown_name_with_suggestion() {
    insta::assert_snapshot!(with("send noisy: f32[16]", "send nosy: f32[16]"));
}

#[test]
fn unknown_name_in_expression() {
    insta::assert_snapshot!(with("clean + noise", "clean + nosie"));
}

#[test]
fn shape_mismatch() {
    insta::assert_snapshot!(with("normal(0, 0.3, [16])", "normal(0, 0.3, [8])"));
}

#[test]
fn declared_shape_mismatch() {
    insta::assert_snapshot!(with("send noisy: f32[16]", "send noisy: f32[32]"));
}

#[test]
fn float_sent_as_integer() {
    insta::assert_snapshot!(with("send noisy: f32[16]", "send noisy: i32[16]"));
}

#[test]
fn wrong_unit() {
    insta::assert_snapshot!(with("tempo = 20 blocks", "tempo = 20s"));
}

#[test]
fn out_of_range_hyperparameter() {
    insta::assert_snapshot!(with(
        "tempo = 20 blocks",
        "tempo = 20 blocks\n    kappa = 1.5\n    max_uids = 10000"
    ));
}

#[test]
fn unknown_hyperparameter() {
    insta::assert_snapshot!(with(
        "tempo = 20 blocks",
        "tempo = 20 blocks\n    max_uid = 64"
    ));
}

#[test]
fn amount_without_unit() {
    insta::assert_snapshot!(with("tempo = 20 blocks", "min_burn = 1"));
}

#[test]
fn inconsistent_hyperparameters() {
    insta::assert_snapshot!(with(
        "tempo = 20 blocks",
        "min_burn = 2 TAO\n    max_burn = 1 TAO"
    ));
}

#[test]
fn missing_block() {
    insta::assert_snapshot!(with(
        "  score {\n    item = 1 - clamp(mse(response, clean), 0, 1)\n  }\n",
        ""
    ));
}

#[test]
fn missing_item_and_expect() {
    insta::assert_snapshot!(errors(&BASE.replace("    expect f32[16]\n", "").replace(
        "item = 1 - clamp(mse(response, clean), 0, 1)",
        "smooth = ema(0.1)"
    )));
}

#[test]
fn unknown_function() {
    insta::assert_snapshot!(with("sin(linspace", "log(linspace"));
}

#[test]
fn wrong_arguments() {
    insta::assert_snapshot!(with("normal(0, 0.3, [16])", "normal(0, 0.3, [16], 4)"));
}

#[test]
fn task_value_not_kept() {
    insta::assert_snapshot!(with("mse(response, clean)", "mse(response, noise)"));
}

#[test]
fn randomness_in_score() {
    insta::assert_snapshot!(with(
        "mse(response, clean)",
        "mse(response, normal(0, 1, [16]))"
    ));
}

#[test]
fn metric_shapes_differ() {
    insta::assert_snapshot!(with("mse(response, clean)", "mse(response, clean[:8])"));
}

#[test]
fn item_not_a_scalar() {
    insta::assert_snapshot!(with(
        "item = 1 - clamp(mse(response, clean), 0, 1)",
        "item = response - clean"
    ));
}

#[test]
fn index_out_of_range() {
    insta::assert_snapshot!(with(
        "keep clean\n",
        "keep clean\n    let last = clean[16]\n"
    ));
}

#[test]
fn bool_arithmetic() {
    insta::assert_snapshot!(with("clean + noise", "clean + (noise > 0)"));
}

#[test]
fn matmul_shapes() {
    insta::assert_snapshot!(with(
        "let noisy = clean + noise",
        "let m = matmul(reshape(noise, [4, 4]), reshape(clean, [2, 8]))\n    let noisy = clean + noise"
    ));
}

#[test]
fn reward_outside_its_language() {
    insta::assert_snapshot!(with(
        "tempo = 20 blocks",
        "tempo = 20 blocks\n    reward = sort(incentive)"
    ));
}

#[test]
fn missing_data_file() {
    insta::assert_snapshot!(with(
        "  task {",
        "  data table = csv(\"table.csv\")\n\n  task {"
    ));
}

#[test]
fn data_path_escaping_the_directory() {
    insta::assert_snapshot!(with(
        "  task {",
        "  data table = csv(\"../secrets.csv\")\n\n  task {"
    ));
}

#[test]
fn several_errors_in_one_run() {
    let source = BASE
        .replace("send noisy: f32[16]", "send nosy: f32[16]")
        .replace("tempo = 20 blocks", "tempo = 20s\n    kappa = 2")
        .replace("mse(response, clean)", "mse(response, clean[:8])");
    let text = errors(&source);
    assert!(text.contains("has 4 errors"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn empty_file() {
    insta::assert_snapshot!(errors(""));
}

#[test]
fn binary_junk() {
    let junk: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let e = ganglion_dsl::check_source("junk.bin", &junk, &MapFiles::default()).unwrap_err();
    insta::assert_snapshot!(e.diagnostics[0].message.clone());
}

#[test]
fn hostile_inputs_are_refused_without_panicking() {
    let deep = format!(
        "subnet a {{ task {{ let x = {}1{} }} }}",
        "(".repeat(100_000),
        ")".repeat(100_000)
    );
    insta::assert_snapshot!("deep_nesting", errors(&deep));
    let chain = BASE.replace(
        "clean + noise",
        &format!("clean{}", " + noise".repeat(2_000)),
    );
    insta::assert_snapshot!("long_chain", errors(&chain));
    let huge = vec![b'#'; 50 << 20];
    let e = ganglion_dsl::check_source("huge.subnet", &huge, &MapFiles::default()).unwrap_err();
    insta::assert_snapshot!("huge_file", e.diagnostics[0].message.clone());
    // Control characters and stray bytes in otherwise valid text.
    let ctrl = BASE.replace("let noisy", "let \u{7}noisy");
    insta::assert_snapshot!("control_character", errors(&ctrl));
}
