//! The chain hyperparameters an `incentive` block may set: names, units, bounds and how a
//! written value becomes the chain's integer. The bounds mirror the chain's own (the
//! economy's `subnets::set_hyperparameter`, documented in `docs/economics.md`), so that a
//! spec the checker accepts is one the chain accepts; the chain checks them again when the
//! parameters are set.
//!
//! Values are converted with exact decimal arithmetic, never floats: `kappa = 0.5` is
//! `floor(0.5 * 65535) = 32767`, `bonds_moving_average = 0.9` is `900000` parts per million,
//! `min_burn = 0.0005 TAO` is `500000` rao.

use crate::ir::ParamValue;

/// Rao per TAO.
pub const RAO_PER_TAO: u64 = 1_000_000_000;

/// How a parameter is written and converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A whole number of blocks (`20` or `20 blocks`).
    Blocks,
    /// A whole number of epochs (`2` or `2 epochs`).
    Epochs,
    /// A plain whole number.
    Count,
    /// A fraction in `[0, 1]` scaled to parts per million (rounded down).
    Ppm,
    /// A fraction in `[0, 1]` scaled to 65535 (rounded down).
    U16Fraction,
    /// A multiplier kept in thousandths (`1.26` is 1260; rounded down).
    Milli,
    /// An amount of TAO (`1 TAO`, `0.5 TAO`, `500000 rao`), kept in rao.
    Tao,
    /// `on` or `off` (`true`/`false` also accepted).
    Switch,
}

impl Kind {
    /// How to write a value of this kind, for messages.
    pub fn example(self) -> &'static str {
        match self {
            Kind::Blocks => "a whole number of blocks, like `100 blocks`",
            Kind::Epochs => "a whole number of epochs, like `2 epochs`",
            Kind::Count => "a whole number, like `64`",
            Kind::Ppm | Kind::U16Fraction => "a fraction between 0 and 1, like `0.5`",
            Kind::Milli => "a decimal multiplier, like `1.26`",
            Kind::Tao => "an amount with a unit, like `1 TAO` or `500000 rao`",
            Kind::Switch => "`on` or `off`",
        }
    }
}

/// One settable parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamSpec {
    /// The DSL's name: the chain's `SubnetParams` field, without a unit suffix
    /// (`activity_cutoff_factor` is `activity_cutoff_factor_milli`, `burn_increase_mult` is
    /// `burn_increase_mult_milli`, `reveal_period` is `reveal_period_epochs`; the chain sets
    /// `alpha_low` and `alpha_high` together as `alpha_values`).
    pub name: &'static str,
    /// How it is written.
    pub kind: Kind,
    /// Smallest chain value.
    pub min: u64,
    /// Largest chain value.
    pub max: u64,
    /// What it does, for docs and messages.
    pub doc: &'static str,
}

const fn p(name: &'static str, kind: Kind, min: u64, max: u64, doc: &'static str) -> ParamSpec {
    ParamSpec {
        name,
        kind,
        min,
        max,
        doc,
    }
}

/// Every parameter, sorted by name.
pub const PARAMS: &[ParamSpec] = &[
    p(
        "activity_cutoff_factor",
        Kind::Milli,
        1_000,
        50_000,
        "tempos without weights after which a validator counts as inactive",
    ),
    p(
        "alpha_high",
        Kind::U16Fraction,
        1_638,
        65_535,
        "liquid alpha's upper bound",
    ),
    p(
        "alpha_low",
        Kind::U16Fraction,
        1_638,
        65_535,
        "liquid alpha's lower bound",
    ),
    p(
        "alpha_sigmoid_steepness",
        Kind::Count,
        0,
        32_767,
        "liquid alpha's sigmoid steepness",
    ),
    p(
        "bonds_moving_average",
        Kind::Ppm,
        0,
        975_000,
        "how much of the old bonds an epoch keeps",
    ),
    p(
        "bonds_penalty",
        Kind::U16Fraction,
        0,
        65_535,
        "how much of the weight clipping reaches bonds",
    ),
    p(
        "burn_half_life",
        Kind::Blocks,
        1,
        65_535,
        "blocks for the registration price to halve",
    ),
    p(
        "burn_increase_mult",
        Kind::Milli,
        1_000,
        10_000,
        "registration price multiplier after each registration",
    ),
    p(
        "commit_reveal",
        Kind::Switch,
        0,
        1,
        "validators commit weights, then reveal them later",
    ),
    p(
        "immunity_period",
        Kind::Blocks,
        0,
        65_535,
        "blocks a new neuron cannot be pruned",
    ),
    p(
        "kappa",
        Kind::U16Fraction,
        0,
        65_535,
        "the stake fraction that defines consensus",
    ),
    p(
        "liquid_alpha",
        Kind::Switch,
        0,
        1,
        "per-bond EMA rates from consensus (liquid alpha)",
    ),
    p(
        "max_burn",
        Kind::Tao,
        1,
        1_000_000 * RAO_PER_TAO,
        "registration price ceiling",
    ),
    p(
        "max_uids",
        Kind::Count,
        2,
        4_096,
        "most neurons on the subnet",
    ),
    p("max_validators", Kind::Count, 1, 4_096, "validator permits"),
    p(
        "max_weight_limit",
        Kind::U16Fraction,
        1,
        65_535,
        "largest single weight after max-upscaling",
    ),
    p(
        "min_allowed_weights",
        Kind::Count,
        0,
        4_096,
        "fewest weights a validator may set",
    ),
    p(
        "min_burn",
        Kind::Tao,
        0,
        1_000_000 * RAO_PER_TAO,
        "registration price floor",
    ),
    p(
        "pow_registration",
        Kind::Switch,
        0,
        1,
        "registration by proof of work is allowed",
    ),
    p(
        "reveal_period",
        Kind::Epochs,
        1,
        100,
        "epochs from a weights commit to its reveal",
    ),
    p(
        "target_registrations_per_interval",
        Kind::Count,
        1,
        1_000,
        "target registrations per adjustment interval",
    ),
    p("tempo", Kind::Blocks, 1, 10_000, "blocks between epochs"),
    p(
        "weights_rate_limit",
        Kind::Blocks,
        0,
        100_000,
        "blocks between two weight settings of one validator",
    ),
    p(
        "weights_version_key",
        Kind::Count,
        0,
        u64::MAX,
        "the weights version validators must send",
    ),
    p("yuma3", Kind::Switch, 0, 1, "Yuma3 bonds"),
];

/// The parameter called `name`.
pub fn find(name: &str) -> Option<&'static ParamSpec> {
    PARAMS.iter().find(|p| p.name == name)
}

/// An exact decimal: `mantissa / 10^scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decimal {
    /// The digits as an integer.
    pub mantissa: u128,
    /// Digits after the point.
    pub scale: u32,
}

impl Decimal {
    /// Parses a number literal (`12`, `0.975`, `1_000`, `2.5e3`); `None` if it does not fit.
    pub fn parse(text: &str) -> Option<Decimal> {
        let text = text.replace('_', "");
        let (base, exp) = match text.find(['e', 'E']) {
            Some(i) => (&text[..i], text[i + 1..].parse::<i32>().ok()?),
            None => (text.as_str(), 0),
        };
        let (int, frac) = base.split_once('.').unwrap_or((base, ""));
        let digits = format!("{int}{frac}");
        let mut mantissa: u128 = digits.parse().ok()?;
        let mut scale = i64::try_from(frac.len()).ok()? - i64::from(exp);
        while scale < 0 {
            mantissa = mantissa.checked_mul(10)?;
            scale += 1;
        }
        if scale > 36 {
            return None;
        }
        Some(Decimal {
            mantissa,
            scale: u32::try_from(scale).ok()?,
        })
    }

    /// `floor(self * unit)`, or `None` on overflow.
    pub fn times_floor(self, unit: u128) -> Option<u128> {
        Some(self.mantissa.checked_mul(unit)? / 10u128.checked_pow(self.scale)?)
    }

    /// Whether `self * unit` is a whole number.
    pub fn times_is_whole(self, unit: u128) -> bool {
        match (
            self.mantissa.checked_mul(unit),
            10u128.checked_pow(self.scale),
        ) {
            (Some(m), Some(d)) => m % d == 0,
            _ => false,
        }
    }
}

/// A written parameter value: a number (with an optional unit) or a name (`on`, `off`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written<'a> {
    /// A number and its unit, if any.
    Number(&'a str, Option<&'a str>),
    /// A bare name.
    Name(&'a str),
    /// Anything else (an expression).
    Other,
}

/// Converts a written value to the chain's value, or says what is wrong and how to write it.
pub fn convert(spec: &ParamSpec, written: &Written<'_>) -> Result<ParamValue, (String, String)> {
    let wrong_kind = || {
        (
            format!("`{}` takes {}", spec.name, spec.kind.example()),
            format!(
                "write it like `{} = {}`",
                spec.name,
                example_value(spec.kind)
            ),
        )
    };
    if spec.kind == Kind::Switch {
        return match written {
            Written::Name("on" | "true") => Ok(ParamValue::Bool(true)),
            Written::Name("off" | "false") => Ok(ParamValue::Bool(false)),
            _ => Err(wrong_kind()),
        };
    }
    let Written::Number(text, unit) = written else {
        return Err(wrong_kind());
    };
    let unit = *unit;
    let Some(d) = Decimal::parse(text) else {
        return Err((format!("`{text}` is too large"), wrong_kind().1));
    };
    let wrong_unit = |u: &str| {
        (
            format!("`{}` is not measured in {}", spec.name, unit_words(u)),
            format!(
                "write it like `{} = {}`",
                spec.name,
                example_value(spec.kind)
            ),
        )
    };
    let value: u128 = match spec.kind {
        Kind::Blocks | Kind::Epochs | Kind::Count => {
            let allowed = match spec.kind {
                Kind::Blocks => &["blocks", "block"][..],
                Kind::Epochs => &["epochs", "epoch"][..],
                _ => &[][..],
            };
            if let Some(u) = unit
                && !allowed.contains(&u)
            {
                return Err(wrong_unit(u));
            }
            if !d.times_is_whole(1) {
                return Err((
                    format!("`{}` must be a whole number, not `{text}`", spec.name),
                    wrong_kind().1,
                ));
            }
            d.times_floor(1).unwrap_or(u128::MAX)
        }
        Kind::Ppm | Kind::U16Fraction | Kind::Milli => {
            if let Some(u) = unit {
                return Err(wrong_unit(u));
            }
            let scale = match spec.kind {
                Kind::Ppm => 1_000_000,
                Kind::U16Fraction => 65_535,
                _ => 1_000,
            };
            if spec.kind != Kind::Milli
                && d.times_floor(1)
                    .is_none_or(|w| w > 1 || (w == 1 && !d.times_is_whole(1)))
            {
                return Err((
                    format!(
                        "`{}` is a fraction between 0 and 1, not `{text}`",
                        spec.name
                    ),
                    wrong_kind().1,
                ));
            }
            d.times_floor(scale).unwrap_or(u128::MAX)
        }
        Kind::Tao => {
            let per = match unit {
                Some("TAO") => u128::from(RAO_PER_TAO),
                Some("rao") => 1,
                Some(u) => return Err(wrong_unit(u)),
                None => {
                    return Err((
                        format!("`{}` is an amount: give its unit", spec.name),
                        format!(
                            "write `{} = {text} TAO` or `{} = {text} rao`",
                            spec.name, spec.name
                        ),
                    ));
                }
            };
            if !d.times_is_whole(per) {
                return Err((
                    format!(
                        "`{text} {}` is not a whole number of rao",
                        unit.unwrap_or_default()
                    ),
                    "a TAO has 9 decimals; round the amount".to_owned(),
                ));
            }
            d.times_floor(per).unwrap_or(u128::MAX)
        }
        Kind::Switch => unreachable!("handled above"),
    };
    if value < u128::from(spec.min) || value > u128::from(spec.max) {
        return Err((
            format!(
                "`{}` = {} is out of range: the chain accepts {} to {}",
                spec.name,
                show(spec.kind, value),
                show(spec.kind, u128::from(spec.min)),
                show(spec.kind, u128::from(spec.max))
            ),
            format!("{} ({})", spec.doc, spec.kind.example()),
        ));
    }
    Ok(ParamValue::Int(u64::try_from(value).unwrap_or(u64::MAX)))
}

/// A chain value written back in the DSL's units.
pub fn show(kind: Kind, value: u128) -> String {
    match kind {
        Kind::Blocks if value == 1 => "1 block".to_owned(),
        Kind::Blocks => format!("{value} blocks"),
        Kind::Epochs if value == 1 => "1 epoch".to_owned(),
        Kind::Epochs => format!("{value} epochs"),
        Kind::Count => value.to_string(),
        Kind::Ppm => decimal(value, 1_000_000),
        Kind::U16Fraction => format!("{value}/65535"),
        Kind::Milli => decimal(value, 1_000),
        Kind::Tao => format!("{} TAO", decimal(value, u128::from(RAO_PER_TAO))),
        Kind::Switch => if value == 0 { "off" } else { "on" }.to_owned(),
    }
}

fn decimal(value: u128, per: u128) -> String {
    let whole = value / per;
    let frac = value % per;
    if frac == 0 {
        return whole.to_string();
    }
    let width = per.ilog10() as usize;
    let f = format!("{frac:0width$}");
    format!("{whole}.{}", f.trim_end_matches('0'))
}

fn example_value(kind: Kind) -> &'static str {
    match kind {
        Kind::Blocks => "100 blocks",
        Kind::Epochs => "2 epochs",
        Kind::Count => "64",
        Kind::Ppm | Kind::U16Fraction => "0.5",
        Kind::Milli => "1.26",
        Kind::Tao => "1 TAO",
        Kind::Switch => "on",
    }
}

fn unit_words(unit: &str) -> &'static str {
    match unit {
        "s" => "seconds",
        "ms" => "milliseconds",
        "blocks" | "block" => "blocks",
        "epochs" | "epoch" => "epochs",
        "TAO" | "rao" => "TAO",
        _ => "that unit",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(name: &str, w: Written<'_>) -> Result<ParamValue, (String, String)> {
        convert(find(name).unwrap(), &w)
    }

    #[test]
    fn table_is_sorted_and_unique() {
        assert!(PARAMS.windows(2).all(|w| w[0].name < w[1].name));
    }

    #[test]
    fn converts_exactly_without_floats() {
        assert_eq!(
            conv("kappa", Written::Number("0.5", None)),
            Ok(ParamValue::Int(32_767))
        );
        assert_eq!(
            conv("kappa", Written::Number("1", None)),
            Ok(ParamValue::Int(65_535))
        );
        assert_eq!(
            conv("bonds_moving_average", Written::Number("0.9", None)),
            Ok(ParamValue::Int(900_000))
        );
        assert_eq!(
            conv("min_burn", Written::Number("0.0005", Some("TAO"))),
            Ok(ParamValue::Int(500_000))
        );
        assert_eq!(
            conv("max_burn", Written::Number("100", Some("TAO"))),
            Ok(ParamValue::Int(100 * RAO_PER_TAO))
        );
        assert_eq!(
            conv("tempo", Written::Number("20", Some("blocks"))),
            Ok(ParamValue::Int(20))
        );
        assert_eq!(
            conv("tempo", Written::Number("20", None)),
            Ok(ParamValue::Int(20))
        );
        assert_eq!(
            conv("burn_increase_mult", Written::Number("1.26", None)),
            Ok(ParamValue::Int(1_260))
        );
        assert_eq!(
            conv("commit_reveal", Written::Name("on")),
            Ok(ParamValue::Bool(true))
        );
        assert_eq!(
            Decimal::parse("2.5e3"),
            Some(Decimal {
                mantissa: 2500,
                scale: 0
            })
        );
    }

    #[test]
    fn refuses_wrong_units_ranges_and_kinds() {
        assert!(
            conv("tempo", Written::Number("2", Some("s")))
                .unwrap_err()
                .0
                .contains("seconds")
        );
        assert!(
            conv("tempo", Written::Number("0", None))
                .unwrap_err()
                .0
                .contains("out of range")
        );
        assert!(
            conv("tempo", Written::Number("2.5", None))
                .unwrap_err()
                .0
                .contains("whole")
        );
        assert!(
            conv("kappa", Written::Number("1.5", None))
                .unwrap_err()
                .0
                .contains("fraction")
        );
        assert!(
            conv("min_burn", Written::Number("1", None))
                .unwrap_err()
                .0
                .contains("unit")
        );
        assert!(
            conv("min_burn", Written::Number("0.0000000001", Some("TAO")))
                .unwrap_err()
                .0
                .contains("rao")
        );
        assert!(
            conv("yuma3", Written::Number("1", None))
                .unwrap_err()
                .0
                .contains("on")
        );
        assert!(conv("bonds_moving_average", Written::Number("0.99", None)).is_err());
    }
}
