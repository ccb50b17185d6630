//! The subnet language: one declarative file per subnet (task, scoring, incentive), checked
//! with precise errors and compiled to a WebAssembly plugin inside a content-addressed bundle.
//!
//! The pipeline: [`syntax`] parses a spec (the pest grammar), [`check`] turns it into the
//! typed program of [`ir`] or reports [`diag::Diagnostic`]s, [`codegen`] compiles the program
//! to a plugin module for the ABI of `ganglion-plugin-abi`, and [`bundle`] packs source,
//! module and data into one canonical archive whose blake3 hash is the subnet's identity.
//! [`interp`] runs the program directly: it is the reference the generated code is tested
//! against. [`fmt`] prints a spec in its canonical layout. `docs/dsl.md` is the language
//! reference.
//!
//! ```
//! use ganglion_dsl::check::MapFiles;
//!
//! let source = r#"
//! subnet echo {
//!   version = "0.1.0"
//!   summary = "Repeat the input"
//!   task {
//!     let x = normal(0, 1, [4])
//!     send x
//!     keep x
//!     expect f32[4]
//!   }
//!   score { item = 1 - clamp(mse(response, x), 0, 1) }
//!   incentive { tempo = 10 blocks }
//! }"#;
//! // A mistake is reported with its place and a hint.
//! let err = ganglion_dsl::check_source("echo.subnet", source.as_bytes(), &MapFiles::default())
//!     .unwrap_err();
//! assert!(err.to_string().contains("echo.subnet:8:10"));
//! assert!(err.to_string().contains("`x` is already sent or kept"));
//!
//! // Sent values are visible to the score: the fixed spec compiles to a plugin module.
//! let fixed = source.replace("    keep x\n", "");
//! let spec = ganglion_dsl::check_source("echo.subnet", fixed.as_bytes(), &MapFiles::default())
//!     .unwrap();
//! let module = ganglion_dsl::codegen::compile(&spec.program).unwrap();
//! assert!(module.starts_with(b"\0asm"));
//! ```

use std::path::Path;

pub mod bundle;
pub mod check;
pub mod codegen;
pub mod data;
pub mod diag;
pub mod fmt;
pub mod interp;
pub mod ir;
pub mod params;
pub mod rng;
pub mod smooth;
pub mod syntax;

use check::Files;
use diag::Diagnostic;

/// A spec that checked: where it came from, its text and its program.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The path shown in messages.
    pub path: String,
    /// The source text.
    pub source: String,
    /// The parsed file (for the formatter).
    pub file: syntax::File,
    /// The checked program.
    pub program: ir::Program,
}

/// A spec's problems, with what is needed to show them.
#[derive(Debug, Clone)]
pub struct SpecErrors {
    /// The path shown in messages.
    pub path: String,
    /// The source text (lossy when it was not UTF-8).
    pub source: String,
    /// Every problem found, in source order.
    pub diagnostics: Vec<Diagnostic>,
}

impl std::fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(diag::render_all(&self.diagnostics, &self.path, &self.source).trim_end())
    }
}

impl std::error::Error for SpecErrors {}

/// Why a spec could not be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The spec has errors.
    #[error("{0}")]
    Spec(#[from] SpecErrors),
}

/// Parses and checks a spec's bytes; data files are read through `files`.
pub fn check_source(path: &str, bytes: &[u8], files: &dyn Files) -> Result<Spec, SpecErrors> {
    let fail = |diagnostics: Vec<Diagnostic>| SpecErrors {
        path: path.to_owned(),
        source: String::from_utf8_lossy(bytes).into_owned(),
        diagnostics,
    };
    let (source, file) = syntax::parse_bytes(bytes).map_err(|d| fail(vec![d]))?;
    let program = check::check(&file, files).map_err(fail)?;
    Ok(Spec {
        path: path.to_owned(),
        source,
        file,
        program,
    })
}

/// Compiles a checked spec to its plugin module. A program the code generator refuses (one
/// that needs more memory than a plugin may have) is reported like an error in the spec.
pub fn compile(spec: &Spec) -> Result<Vec<u8>, SpecErrors> {
    codegen::compile(&spec.program).map_err(|e| codegen_errors(spec, &e))
}

/// A code generator's refusal of `spec`, reported like an error in the spec (at the
/// subnet's name).
pub fn codegen_errors(spec: &Spec, error: &codegen::CodegenError) -> SpecErrors {
    SpecErrors {
        path: spec.path.clone(),
        source: spec.source.clone(),
        diagnostics: vec![
            Diagnostic::new(spec.file.name.span, error.to_string())
                .label("cannot be compiled")
                .help("use smaller tensors, fewer samples or shorter comprehensions"),
        ],
    }
}

/// A commented starter spec for a subnet called `name` (`ganglion subnet new`).
pub fn starter(name: &str) -> String {
    include_str!("starter.subnet").replace("{name}", name)
}

/// Reads and checks the spec at `path`, with its data files beside it.
pub fn load(path: &Path) -> Result<Spec, Error> {
    let bytes = std::fs::read(path).map_err(|source| Error::Read {
        path: path.display().to_string(),
        source,
    })?;
    let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    Ok(check_source(
        &path.display().to_string(),
        &bytes,
        &check::DirFiles(dir),
    )?)
}
