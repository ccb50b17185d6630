//! The Yuma vector format: one epoch case as JSON (`{"name", "input", "expected", ...}`).
//!
//! This is the format of the public epoch vectors (see `docs/yuma.md`). [`Case::from_json`]
//! parses and checks a case, naming the field of any problem (`input.weights[3][1]: uid 9 is
//! not below n = 4`); [`EpochOutput`] serializes to the shape of a case's `expected` object.
//! Parsing is pure: reading the file is the caller's business.

use serde::Deserialize;

use super::{EpochInput, EpochOutput, Hyperparams, InputError, scan};

/// One epoch case: its input and, optionally, the output it must produce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case {
    /// The case's name (empty if the file has none).
    pub name: String,
    /// The epoch input.
    pub input: EpochInput,
    /// The expected output, if the case carries one.
    pub expected: Option<EpochOutput>,
}

/// Why a case could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaseError {
    /// Not JSON, or JSON of the wrong shape (a missing field, a string for a number, ...).
    #[error("{path}: {message}")]
    Shape {
        /// Where in the document (`input.stake[3]`, or `.` for the top level).
        path: String,
        /// What serde_json found wrong there.
        message: String,
    },
    /// A number outside the range of the chain type that stores it.
    #[error("{path}: {value} is out of range for {ty} ({range})")]
    Range {
        /// Where in the document.
        path: String,
        /// The value found.
        value: String,
        /// The chain type.
        ty: &'static str,
        /// Its range.
        range: &'static str,
    },
    /// A well-formed input that breaks one of the epoch's rules.
    #[error("input.{0}")]
    Input(#[from] InputError),
}

#[derive(Deserialize)]
struct RawCase {
    #[serde(default)]
    name: String,
    input: RawInput,
    #[serde(default)]
    expected: Option<EpochOutput>,
}

#[derive(Deserialize)]
pub(super) struct RawInput {
    pub(super) n: u64,
    pub(super) current_block: u64,
    pub(super) tempo: u64,
    pub(super) last_mechanism_step_block: u64,
    pub(super) activity_cutoff: u64,
    pub(super) stake: Vec<u64>,
    pub(super) stake_threshold: u64,
    pub(super) owner_uid: Option<u64>,
    pub(super) weights: RawRows,
    pub(super) bonds: RawRows,
    pub(super) last_update: Vec<u64>,
    pub(super) block_at_registration: Vec<u64>,
    pub(super) validator_permit: Vec<bool>,
    pub(super) max_allowed_validators: u64,
    pub(super) kappa: u64,
    pub(super) bonds_penalty: u64,
    pub(super) bonds_moving_average: u64,
    pub(super) liquid_alpha_enabled: bool,
    pub(super) alpha_low: u64,
    pub(super) alpha_high: u64,
    pub(super) alpha_sigmoid_steepness: i64,
    pub(super) yuma3_enabled: bool,
    pub(super) rao_emission: u64,
    #[serde(default)]
    pub(super) earliest_commit_block: Option<Vec<Option<u64>>>,
}

impl Case {
    /// Parses a case from JSON text and checks its input.
    ///
    /// ```
    /// use ganglion_kernel::yuma::case::Case;
    /// let bad = r#"{"input": {"n": 1}}"#;
    /// let err = Case::from_json(bad.as_bytes()).unwrap_err();
    /// assert_eq!(err.to_string(), "input: missing field `current_block` at line 1 column 18");
    /// ```
    pub fn from_json(text: &[u8]) -> Result<Self, CaseError> {
        Self::read(text, true)
    }

    /// [`Case::from_json`] without reading the `expected` object (it is skipped, and
    /// `expected` is `None`): what running a case needs, at a fraction of the cost for large
    /// cases.
    pub fn from_json_without_expected(text: &[u8]) -> Result<Self, CaseError> {
        Self::read(text, false)
    }

    fn read(text: &[u8], with_expected: bool) -> Result<Self, CaseError> {
        // Well-formed cases take the fast reader; anything it does not plainly accept goes
        // through serde_json, which reads it or says what is wrong and where.
        let (name, raw, expected) = match scan::case(text) {
            Some(scanned) => {
                let part = |range: std::ops::Range<usize>| text.get(range).unwrap_or_default();
                let name = match scanned.name {
                    Some(range) => {
                        serde_json::from_slice(part(range)).map_err(|e| locate(text, e))?
                    }
                    None => String::new(),
                };
                let expected = match scanned.expected.filter(|_| with_expected) {
                    Some(range) => {
                        Some(serde_json::from_slice(part(range)).map_err(|e| locate(text, e))?)
                    }
                    None => None,
                };
                (name, scanned.input, expected)
            }
            None => {
                let raw: RawCase = serde_json::from_slice(text).map_err(|e| locate(text, e))?;
                let expected = raw.expected.filter(|_| with_expected);
                (raw.name, raw.input, expected)
            }
        };
        let input = raw.into_input()?;
        input.validate()?;
        Ok(Case {
            name,
            input,
            expected,
        })
    }
}

fn locate(text: &[u8], plain: serde_json::Error) -> CaseError {
    let mut de = serde_json::Deserializer::from_slice(text);
    match serde_path_to_error::deserialize::<_, RawCase>(&mut de) {
        Err(err) => {
            let path = err.path().to_string();
            CaseError::Shape {
                path,
                message: err.into_inner().to_string(),
            }
        }
        Ok(_) => CaseError::Shape {
            path: ".".to_owned(),
            message: plain.to_string(),
        },
    }
}

fn narrow<T: TryFrom<u64>>(
    path: impl FnOnce() -> String,
    value: u64,
    ty: &'static str,
    range: &'static str,
) -> Result<T, CaseError> {
    T::try_from(value).map_err(|_| CaseError::Range {
        path: path(),
        value: value.to_string(),
        ty,
        range,
    })
}

fn u16_of(path: impl FnOnce() -> String, value: u64) -> Result<u16, CaseError> {
    narrow(path, value, "u16", "0..=65535")
}

/// Sparse rows as read: wide integers from serde_json (checked here, with their place), or
/// u16 pairs from the fast reader (which checked them as it read).
#[derive(Debug)]
pub(super) enum RawRows {
    Wide(Vec<Vec<(u64, u64)>>),
    Narrow(Vec<Vec<(u16, u16)>>),
}

impl<'de> Deserialize<'de> for RawRows {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::deserialize(deserializer).map(RawRows::Wide)
    }
}

fn rows(field: &'static str, raw: RawRows) -> Result<Vec<Vec<(u16, u16)>>, CaseError> {
    let raw = match raw {
        RawRows::Narrow(rows) => return Ok(rows),
        RawRows::Wide(rows) => rows,
    };
    raw.into_iter()
        .enumerate()
        .map(|(i, row)| {
            row.into_iter()
                .enumerate()
                .map(|(k, (uid, value))| {
                    Ok((
                        u16_of(|| format!("input.{field}[{i}][{k}][0]"), uid)?,
                        u16_of(|| format!("input.{field}[{i}][{k}][1]"), value)?,
                    ))
                })
                .collect()
        })
        .collect()
}

impl RawInput {
    fn into_input(self) -> Result<EpochInput, CaseError> {
        let n = usize::try_from(self.n).unwrap_or(usize::MAX);
        if n != self.stake.len() {
            return Err(InputError::Length {
                field: "stake",
                len: self.stake.len(),
                n,
            }
            .into());
        }
        let field = |name: &'static str| move || format!("input.{name}");
        let params = Hyperparams {
            max_allowed_validators: u16_of(
                field("max_allowed_validators"),
                self.max_allowed_validators,
            )?,
            kappa: u16_of(field("kappa"), self.kappa)?,
            bonds_penalty: u16_of(field("bonds_penalty"), self.bonds_penalty)?,
            bonds_moving_average: self.bonds_moving_average,
            yuma3_enabled: self.yuma3_enabled,
            liquid_alpha_enabled: self.liquid_alpha_enabled,
            alpha_low: u16_of(field("alpha_low"), self.alpha_low)?,
            alpha_high: u16_of(field("alpha_high"), self.alpha_high)?,
            alpha_sigmoid_steepness: i16::try_from(self.alpha_sigmoid_steepness).map_err(|_| {
                CaseError::Range {
                    path: "input.alpha_sigmoid_steepness".to_owned(),
                    value: self.alpha_sigmoid_steepness.to_string(),
                    ty: "i16",
                    range: "-32768..=32767",
                }
            })?,
        };
        let owner_uid = match self.owner_uid {
            Some(uid) => Some(u16_of(field("owner_uid"), uid)?),
            None => None,
        };
        Ok(EpochInput {
            current_block: self.current_block,
            tempo: self.tempo,
            last_mechanism_step_block: self.last_mechanism_step_block,
            activity_cutoff: self.activity_cutoff,
            stake: self.stake,
            stake_threshold: self.stake_threshold,
            owner_uid,
            weights: rows("weights", self.weights)?,
            bonds: rows("bonds", self.bonds)?,
            last_update: self.last_update,
            block_at_registration: self.block_at_registration,
            validator_permit: self.validator_permit,
            earliest_commit_block: self.earliest_commit_block,
            params,
            rao_emission: self.rao_emission,
        })
    }
}

#[cfg(test)]
#[allow(
    clippy::arithmetic_side_effects,
    reason = "tests compute expected values directly"
)]
mod tests {
    use super::*;

    const SMALL: &str = r#"{"name":"t","input":{"activity_cutoff":5000,"alpha_high":58982,
        "alpha_low":45875,"alpha_sigmoid_steepness":1000,"block_at_registration":[100,100],
        "bonds":[[],[]],"bonds_moving_average":900000,"bonds_penalty":65535,
        "current_block":10000,"kappa":32767,"last_mechanism_step_block":0,
        "last_update":[9990,9990],"liquid_alpha_enabled":false,"max_allowed_validators":64,
        "n":2,"owner_uid":null,"rao_emission":1000000000,"stake":[10000000000000,0],
        "stake_threshold":0,"tempo":360,"validator_permit":[true,false],
        "weights":[[[1,65535]],[]],"yuma3_enabled":false}}"#;

    fn with(from: &str, to: &str) -> Result<Case, CaseError> {
        assert!(SMALL.contains(from), "{from}");
        Case::from_json(SMALL.replacen(from, to, 1).as_bytes())
    }

    #[test]
    fn round_trips_through_json() {
        for seed in 0..50 {
            let case = Case {
                name: format!("arbitrary {seed}"),
                input: crate::yuma::synth::arbitrary(seed, 1 + seed as usize % 20),
                expected: None,
            };
            let case = Case {
                expected: Some(crate::yuma::epoch(&case.input).unwrap()),
                ..case
            };
            assert_eq!(Case::from_json(&case.to_json()).unwrap(), case);
        }
    }

    #[test]
    fn fast_reader_and_serde_agree() {
        for seed in 0..200 {
            let case = Case {
                name: format!("arbitrary \"{seed}\""),
                input: crate::yuma::synth::arbitrary(seed, 1 + seed as usize % 30),
                expected: None,
            };
            let json = case.to_json();
            let scanned = scan::case(&json).expect("a case we wrote is plainly well formed");
            let via_serde: RawCase = serde_json::from_slice(&json).unwrap();
            assert_eq!(
                scanned.input.into_input().unwrap(),
                via_serde.input.into_input().unwrap()
            );
            // Pretty-printed JSON with the keys in another order reads the same.
            let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
            let pretty = serde_json::to_vec_pretty(&value).unwrap();
            assert_eq!(Case::from_json(&pretty).unwrap(), case);
        }
    }

    #[test]
    fn fast_reader_gives_up_on_what_it_does_not_know() {
        for doc in [
            &br#"{"input": {"n": 1.5}}"#[..],
            br#"{"input": {"n": 01}}"#,
            br#"{"input": {"n": 99999999999999999999}}"#,
            br#"{"input": {"n": 1}} x"#,
            br#"{"input": [}"#,
            br#"{"in\u0070ut": {}}"#,
        ] {
            assert!(
                scan::case(doc).is_none(),
                "{}",
                String::from_utf8_lossy(doc)
            );
            assert!(Case::from_json(doc).is_err());
        }
    }

    #[test]
    fn parses_a_small_case() {
        let case = Case::from_json(SMALL.as_bytes()).unwrap();
        assert_eq!(case.name, "t");
        assert_eq!(case.input.n(), 2);
        assert_eq!(case.input.weights, vec![vec![(1, 65535)], vec![]]);
        assert!(case.expected.is_none());
    }

    #[test]
    fn names_the_field_of_each_problem() {
        let msg = |r: Result<Case, CaseError>| r.unwrap_err().to_string();
        assert!(msg(with("\"kappa\":32767,", "")).starts_with("input: missing field `kappa`"));
        assert_eq!(
            msg(with("[[[1,65535]],[]]", "[[[1,65536]],[]]")),
            "input.weights[0][0][1]: 65536 is out of range for u16 (0..=65535)"
        );
        assert_eq!(
            msg(with("[[[1,65535]],[]]", "[[[2,65535]],[]]")),
            "input.weights[0]: names uid 2, but uids run from 0 to n - 1 = 1"
        );
        assert_eq!(
            msg(with(
                "\"last_update\":[9990,9990]",
                "\"last_update\":[9990]"
            )),
            "input.last_update: has 1 entries, expected n = 2 (one per uid)"
        );
        assert_eq!(
            msg(with("\"n\":2", "\"n\":3")),
            "input.stake: has 2 entries, expected n = 3 (one per uid)"
        );
        assert!(
            msg(with("\"tempo\":360", "\"tempo\":\"360\""))
                .starts_with("input.tempo: invalid type: string \"360\", expected u64")
        );
        assert!(
            msg(with("\"tempo\":360", "\"tempo\":-1"))
                .starts_with("input.tempo: invalid value: integer `-1`, expected u64")
        );
        assert_eq!(
            msg(with(
                "\"alpha_sigmoid_steepness\":1000",
                "\"alpha_sigmoid_steepness\":40000"
            )),
            "input.alpha_sigmoid_steepness: 40000 is out of range for i16 (-32768..=32767)"
        );
        assert!(msg(Case::from_json(b"{\"input\": [")).starts_with("input: "));
    }
}

#[derive(serde::Serialize)]
struct CaseOut<'a> {
    name: &'a str,
    input: InputOut<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expected: Option<&'a EpochOutput>,
}

#[derive(serde::Serialize)]
struct InputOut<'a> {
    n: usize,
    current_block: u64,
    tempo: u64,
    last_mechanism_step_block: u64,
    activity_cutoff: u64,
    stake: &'a [u64],
    stake_threshold: u64,
    owner_uid: Option<u16>,
    weights: &'a [Vec<(u16, u16)>],
    bonds: &'a [Vec<(u16, u16)>],
    last_update: &'a [u64],
    block_at_registration: &'a [u64],
    validator_permit: &'a [bool],
    max_allowed_validators: u16,
    kappa: u16,
    bonds_penalty: u16,
    bonds_moving_average: u64,
    liquid_alpha_enabled: bool,
    alpha_low: u16,
    alpha_high: u16,
    alpha_sigmoid_steepness: i16,
    yuma3_enabled: bool,
    rao_emission: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    earliest_commit_block: Option<&'a [Option<u64>]>,
}

impl Case {
    /// The case as JSON in the vector format; [`Case::from_json`] reads it back unchanged.
    pub fn to_json(&self) -> Vec<u8> {
        let i = &self.input;
        let p = &i.params;
        let out = CaseOut {
            name: &self.name,
            input: InputOut {
                n: i.n(),
                current_block: i.current_block,
                tempo: i.tempo,
                last_mechanism_step_block: i.last_mechanism_step_block,
                activity_cutoff: i.activity_cutoff,
                stake: &i.stake,
                stake_threshold: i.stake_threshold,
                owner_uid: i.owner_uid,
                weights: &i.weights,
                bonds: &i.bonds,
                last_update: &i.last_update,
                block_at_registration: &i.block_at_registration,
                validator_permit: &i.validator_permit,
                max_allowed_validators: p.max_allowed_validators,
                kappa: p.kappa,
                bonds_penalty: p.bonds_penalty,
                bonds_moving_average: p.bonds_moving_average,
                liquid_alpha_enabled: p.liquid_alpha_enabled,
                alpha_low: p.alpha_low,
                alpha_high: p.alpha_high,
                alpha_sigmoid_steepness: p.alpha_sigmoid_steepness,
                yuma3_enabled: p.yuma3_enabled,
                rao_emission: i.rao_emission,
                earliest_commit_block: i.earliest_commit_block.as_deref(),
            },
            expected: self.expected.as_ref(),
        };
        // Plain data with string keys: serialization cannot fail.
        serde_json::to_vec(&out).unwrap_or_default()
    }
}
