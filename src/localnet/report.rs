//! What `ganglion localnet` reports: the JSON summary, the terminal table, the live epoch
//! lines and the incentive chart.
//!
//! The [`Summary`] is the one record of a run: [`write_json`] saves it (its schema is in
//! `docs/localnet.md`), [`summary_table`] prints it, [`epoch_line`] shows each epoch as it
//! happens and [`plot`] draws incentive per miner over the epochs, to SVG or PNG. Text in
//! PNGs uses a subset of DejaVu Sans embedded in the binary (`assets/fonts/`), so nothing
//! here reads system fonts.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::sync::OnceLock;

use anyhow::{Context as _, anyhow, bail};
use plotters::coord::Shift;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};

/// Rao in one TAO.
const RAO_PER_TAO: u64 = 1_000_000_000;

/// Width of the chart [`plot`] draws, in pixels (PNG) or user units (SVG).
pub(crate) const PLOT_WIDTH: u32 = 960;

/// Height of the chart [`plot`] draws, in pixels (PNG) or user units (SVG).
pub(crate) const PLOT_HEIGHT: u32 = 540;

/// The font PNG text is drawn with: DejaVu Sans cut down to Latin-1 plus a few punctuation
/// marks (see `assets/fonts/README.md`).
const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-subset.ttf");

/// The font family plotters' default text style asks for, under which [`FONT`] is registered.
const FONT_FAMILY: &str = "sans-serif";

/// The miners' line colours, in UID order, repeating after ten (Tableau 10: distinct, and
/// readable on white).
const PALETTE: [RGBColor; 10] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x7f, 0x7f, 0x7f),
    RGBColor(0xbc, 0xbd, 0x22),
    RGBColor(0x17, 0xbe, 0xcf),
];

/// Everything a localnet run ends with; written as JSON by [`write_json`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Summary {
    /// The chain's name.
    pub(crate) chain: String,
    /// The subnet the run registered.
    pub(crate) netuid: u16,
    /// The subnet's name, from its bundle.
    pub(crate) subnet: String,
    /// blake3 of the bundle in force at the end, as 64 lowercase hex digits.
    pub(crate) bundle: String,
    /// Blocks produced during the run: the head's number at the end.
    pub(crate) blocks: u64,
    /// Epochs of the subnet that ran.
    pub(crate) epochs: u64,
    /// Emission per block, in rao.
    pub(crate) block_reward_rao: u64,
    /// Emission over the run, in rao: `blocks * block_reward_rao`.
    pub(crate) total_emission_rao: u64,
    /// The miners, by UID.
    pub(crate) miners: Vec<MinerSummary>,
    /// The validators, by UID.
    pub(crate) validators: Vec<ValidatorSummary>,
    /// One record per epoch, oldest first.
    pub(crate) history: Vec<EpochRecord>,
    /// When the run reached its milestones.
    pub(crate) timings: Timings,
}

/// One miner at the end of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct MinerSummary {
    /// The miner's UID on the subnet.
    pub(crate) uid: u16,
    /// The miner's hotkey, as an SS58 address.
    pub(crate) hotkey: String,
    /// What the miner runs: `untrained`, `brief`, `trained` or `noise`.
    pub(crate) kind: String,
    /// The miner's incentive after the last epoch, from 0 to 1.
    pub(crate) incentive: f64,
    /// Emission the miner earned over the run, in rao.
    pub(crate) emission_rao: u64,
    /// Queries the miner answered over the run.
    pub(crate) served: u64,
}

/// One validator at the end of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ValidatorSummary {
    /// The validator's UID on the subnet.
    pub(crate) uid: u16,
    /// The validator's hotkey, as an SS58 address.
    pub(crate) hotkey: String,
    /// The validator's dividends after the last epoch, from 0 to 1.
    pub(crate) dividends: f64,
    /// The validator's trust after the last epoch, from 0 to 1.
    pub(crate) vtrust: f64,
    /// Emission the validator earned over the run, in rao.
    pub(crate) emission_rao: u64,
    /// The validator's stake at the end, in rao.
    pub(crate) stake_rao: u64,
}

/// What one epoch gave the miners.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct EpochRecord {
    /// The epoch's number, counted from 1 over the run.
    pub(crate) epoch: u64,
    /// The block the epoch ran in.
    pub(crate) block: u64,
    /// `(uid, incentive)` for each miner, incentive from 0 to 1.
    pub(crate) incentive: Vec<(u16, f64)>,
}

/// When a run reached its milestones, in milliseconds of wall-clock time since it started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Timings {
    /// The first block was produced.
    pub(crate) first_block_ms: u64,
    /// The first weights were set on chain; `None` if none were.
    pub(crate) first_weights_ms: Option<u64>,
    /// The first epoch ran; `None` if none did.
    pub(crate) first_epoch_ms: Option<u64>,
}

/// Writes `summary` to `path` as pretty-printed JSON, atomically: into a temporary file in the
/// same directory, then renamed over `path`, so readers see the old file or the whole new one.
///
/// Fails if a ratio is not finite (JSON has no NaN or infinity) or the file cannot be written.
pub(crate) fn write_json(summary: &Summary, path: &Path) -> anyhow::Result<()> {
    check_finite(summary)?;
    let mut json =
        serde_json::to_vec_pretty(summary).context("serializing the localnet summary")?;
    json.push(b'\n');
    write_atomic(path, &json).with_context(|| format!("writing the summary to {}", path.display()))
}

/// The summary as a fixed-width table for the terminal: the miners, the validators, the totals
/// and the timings. Ratios are percentages with one decimal, amounts are TAO with three.
pub(crate) fn summary_table(summary: &Summary) -> String {
    let mut out = String::new();
    // `fmt::Write` for `String` never fails; the results are ignored below for that reason.
    let _ = writeln!(
        out,
        "chain {}  subnet {} ({})  bundle {}",
        summary.chain,
        summary.netuid,
        summary.subnet,
        short_hash(&summary.bundle)
    );

    let kind_width = summary
        .miners
        .iter()
        .map(|miner| miner.kind.chars().count())
        .chain([4])
        .max()
        .unwrap_or(4);
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:>5}  {:<kind_width$}  {:<9}  {:>9}  {:>12}  {:>8}",
        "miner", "kind", "hotkey", "incentive", "emission TAO", "served"
    );
    for miner in &summary.miners {
        let _ = writeln!(
            out,
            "{:>5}  {:<kind_width$}  {:<9}  {:>9}  {:>12}  {:>8}",
            miner.uid,
            miner.kind,
            short_address(&miner.hotkey),
            percent(miner.incentive),
            tao(miner.emission_rao),
            miner.served
        );
    }

    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:>9}  {:<9}  {:>9}  {:>7}  {:>12}  {:>12}",
        "validator", "hotkey", "dividends", "vtrust", "emission TAO", "stake TAO"
    );
    for validator in &summary.validators {
        let _ = writeln!(
            out,
            "{:>9}  {:<9}  {:>9}  {:>7}  {:>12}  {:>12}",
            validator.uid,
            short_address(&validator.hotkey),
            percent(validator.dividends),
            percent(validator.vtrust),
            tao(validator.emission_rao),
            tao(validator.stake_rao)
        );
    }

    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{} blocks, {} epochs, {} TAO emitted ({} TAO per block)",
        summary.blocks,
        summary.epochs,
        tao(summary.total_emission_rao),
        tao(summary.block_reward_rao)
    );
    let _ = writeln!(
        out,
        "first block {}, first weights {}, first epoch {}",
        millis(Some(summary.timings.first_block_ms)),
        millis(summary.timings.first_weights_ms),
        millis(summary.timings.first_epoch_ms)
    );
    out
}

/// One line for the live view: the epoch, its block and each miner's incentive, by UID, named
/// by `kinds` (`uid N` for a UID that `kinds` lacks).
///
/// ```text
/// epoch 3  #96   untrained 5.0%  brief 30.1%  trained 61.2%  noise 3.7%
/// ```
pub(crate) fn epoch_line(record: &EpochRecord, kinds: &BTreeMap<u16, String>) -> String {
    let mut incentive = record.incentive.clone();
    incentive.sort_by_key(|&(uid, _)| uid);
    let block = format!("#{}", record.block);
    let mut line = format!("epoch {}  {block:<4}", record.epoch);
    for (uid, value) in incentive {
        match kinds.get(&uid) {
            Some(kind) => {
                let _ = write!(line, "  {kind} {}", percent(value));
            }
            None => {
                let _ = write!(line, "  uid {uid} {}", percent(value));
            }
        }
    }
    line.truncate(line.trim_end().len());
    line
}

/// Draws each miner's incentive over the epochs to `path`, as SVG or PNG by its extension
/// (`.svg` or `.png`, in any case), [`PLOT_WIDTH`] by [`PLOT_HEIGHT`]. One line per miner,
/// labelled `kind (uid N)`. The file is written atomically, as by [`write_json`].
pub(crate) fn plot(summary: &Summary, path: &Path) -> anyhow::Result<()> {
    let format = ImageFormat::of(path)?;
    // Both backends measure text with the font; the bitmap one also draws it.
    register_font()?;
    let bytes = match format {
        ImageFormat::Svg => {
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, (PLOT_WIDTH, PLOT_HEIGHT))
                    .into_drawing_area();
                draw_incentive(&root, summary)
                    .and_then(|()| root.present())
                    .map_err(|err| anyhow!("{err}"))
                    .context("drawing the incentive chart")?;
            }
            svg.into_bytes()
        }
        ImageFormat::Png => {
            let mut rgb = vec![0_u8; PLOT_WIDTH as usize * PLOT_HEIGHT as usize * 3];
            {
                let root = BitMapBackend::with_buffer(&mut rgb, (PLOT_WIDTH, PLOT_HEIGHT))
                    .into_drawing_area();
                draw_incentive(&root, summary)
                    .and_then(|()| root.present())
                    .map_err(|err| anyhow!("{err}"))
                    .context("drawing the incentive chart")?;
            }
            encode_png(&rgb, PLOT_WIDTH, PLOT_HEIGHT)
        }
    };
    write_atomic(path, &bytes).with_context(|| format!("writing the chart to {}", path.display()))
}

/// The image formats [`plot`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ImageFormat {
    /// Scalable vector graphics, text.
    Svg,
    /// A PNG bitmap.
    Png,
}

impl ImageFormat {
    /// The format `path`'s extension names.
    fn of(path: &Path) -> anyhow::Result<Self> {
        let extension = path
            .extension()
            .and_then(|ext| ext.to_str())
            .map(str::to_ascii_lowercase);
        match extension.as_deref() {
            Some("svg") => Ok(Self::Svg),
            Some("png") => Ok(Self::Png),
            Some(other) => bail!(
                "cannot plot to {}: unknown extension `.{other}`; use `.svg` or `.png`",
                path.display()
            ),
            None => bail!(
                "cannot plot to {}: no extension; use `.svg` or `.png`",
                path.display()
            ),
        }
    }
}

/// Registers [`FONT`] with plotters, once per process.
fn register_font() -> anyhow::Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FONT_FAMILY, FontStyle::Normal, FONT).is_ok()
    });
    if ok {
        Ok(())
    } else {
        bail!("the embedded chart font could not be loaded (our bug)")
    }
}

/// Draws the incentive chart on `root`.
fn draw_incentive<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    summary: &Summary,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;

    let first = summary.history.iter().map(|r| r.epoch).min().unwrap_or(0);
    let last = summary.history.iter().map(|r| r.epoch).max().unwrap_or(0);
    // A single epoch (or none) sits in the middle of an axis two epochs wide.
    let (first, last) = if first == last {
        (first.saturating_sub(1), last.saturating_add(1))
    } else {
        (first, last)
    };
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!(
                "Incentive per miner, subnet {} ({})",
                summary.netuid, summary.subnet
            ),
            (FONT_FAMILY, 24),
        )
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(first..last, 0.0_f64..1.0_f64)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc("incentive")
        .y_label_formatter(&|value| format!("{:.0}%", value * 100.0))
        .light_line_style(WHITE)
        .draw()?;

    let mut miners: Vec<&MinerSummary> = summary.miners.iter().collect();
    miners.sort_by_key(|miner| miner.uid);
    for (miner, color) in miners.into_iter().zip(PALETTE.iter().cycle()) {
        let color = *color;
        let points: Vec<(u64, f64)> = summary
            .history
            .iter()
            .filter_map(|record| {
                record
                    .incentive
                    .iter()
                    .find(|&&(uid, _)| uid == miner.uid)
                    .map(|&(_, value)| (record.epoch, value))
            })
            .collect();
        // Markers too, so that a single epoch (a line of one point) still shows.
        chart.draw_series(
            points
                .iter()
                .map(|&point| Circle::new(point, 3, color.filled())),
        )?;
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(format!("{} (uid {})", miner.kind, miner.uid))
            .legend(move |(x, y)| {
                PathElement::new(
                    vec![(x, y), (x.saturating_add(20), y)],
                    color.stroke_width(2),
                )
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// Fails if any ratio in `summary` is NaN or infinite, naming it.
fn check_finite(summary: &Summary) -> anyhow::Result<()> {
    let miners = summary
        .miners
        .iter()
        .map(|m| (m.incentive, format!("miner {}'s incentive", m.uid)));
    let validators = summary.validators.iter().flat_map(|v| {
        [
            (v.dividends, format!("validator {}'s dividends", v.uid)),
            (v.vtrust, format!("validator {}'s vtrust", v.uid)),
        ]
    });
    let history = summary.history.iter().flat_map(|record| {
        record.incentive.iter().map(|&(uid, value)| {
            (
                value,
                format!("miner {uid}'s incentive in epoch {}", record.epoch),
            )
        })
    });
    for (value, what) in miners.chain(validators).chain(history) {
        if !value.is_finite() {
            bail!("{what} is {value}, which JSON cannot hold (our bug)");
        }
    }
    Ok(())
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over `path`.
fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut file = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    // A temporary file is private (0600); the result is an ordinary file others may read.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .with_context(|| format!("setting the permissions of {}", file.path().display()))?;
    }
    file.write_all(bytes)
        .and_then(|()| file.as_file().sync_all())
        .with_context(|| format!("writing {}", file.path().display()))?;
    file.persist(path)
        .map_err(|err| err.error)
        .with_context(|| format!("renaming the temporary file to {}", path.display()))?;
    Ok(())
}

/// `5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY` as `5Grw…utQY`; short ones unchanged.
fn short_address(address: &str) -> String {
    let chars: Vec<char> = address.chars().collect();
    if chars.len() <= 9 {
        return address.to_owned();
    }
    let head: String = chars.iter().take(4).collect();
    let tail: String = chars.iter().skip(chars.len() - 4).collect();
    format!("{head}…{tail}")
}

/// The first 12 characters of a hex hash, then `…`; short ones unchanged.
fn short_hash(hash: &str) -> String {
    if hash.chars().count() <= 12 {
        return hash.to_owned();
    }
    let head: String = hash.chars().take(12).collect();
    format!("{head}…")
}

/// A ratio from 0 to 1 as a percentage with one decimal: `0.6125` is `61.2%`.
fn percent(ratio: f64) -> String {
    format!("{:.1}%", ratio * 100.0)
}

/// Rao as TAO with three decimals, rounded half up, in integers so that it is exact.
fn tao(rao: u64) -> String {
    let milli = (u128::from(rao) + 500_000) / 1_000_000;
    let per_tao = u128::from(RAO_PER_TAO / 1_000_000);
    format!("{}.{:03}", milli / per_tao, milli % per_tao)
}

/// Milliseconds as `1.234 s`, or `-` for none.
fn millis(ms: Option<u64>) -> String {
    match ms {
        Some(ms) => format!("{}.{:03} s", ms / 1000, ms % 1000),
        None => "-".to_owned(),
    }
}

/// Encodes 8-bit RGB pixels, row by row, as a PNG (no filtering, zlib level 6).
fn encode_png(rgb: &[u8], width: u32, height: u32) -> Vec<u8> {
    let row = width as usize * 3;
    let mut raw = Vec::with_capacity((row + 1) * height as usize);
    for line in rgb.chunks(row) {
        raw.push(0); // filter type: none
        raw.extend_from_slice(line);
    }
    let mut header = Vec::with_capacity(13);
    header.extend_from_slice(&width.to_be_bytes());
    header.extend_from_slice(&height.to_be_bytes());
    // Bit depth 8, colour type 2 (RGB), deflate, adaptive filtering, no interlace.
    header.extend_from_slice(&[8, 2, 0, 0, 0]);

    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png_chunk(&mut png, b"IHDR", &header);
    png_chunk(
        &mut png,
        b"IDAT",
        &miniz_oxide::deflate::compress_to_vec_zlib(&raw, 6),
    );
    png_chunk(&mut png, b"IEND", &[]);
    png
}

/// Appends one PNG chunk: length, type, data and the CRC of type and data.
fn png_chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    // Chunks here are far below PNG's 2^31 - 1 limit: the image is a fixed, small size.
    let length = u32::try_from(data.len()).unwrap_or(u32::MAX);
    png.extend_from_slice(&length.to_be_bytes());
    png.extend_from_slice(kind);
    png.extend_from_slice(data);
    let crc = crc32(kind.iter().chain(data));
    png.extend_from_slice(&crc.to_be_bytes());
}

/// The CRC-32 (ISO-HDLC, as PNG and zlib's `crc32` use) of `bytes`.
fn crc32<'a>(bytes: impl IntoIterator<Item = &'a u8>) -> u32 {
    /// The byte-at-a-time table for the reflected polynomial 0xEDB88320.
    const TABLE: [u32; 256] = {
        let mut table = [0_u32; 256];
        let mut n = 0;
        while n < 256 {
            let mut c = n as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 == 1 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            table[n] = c;
            n += 1;
        }
        table
    };
    let mut crc = u32::MAX;
    for &byte in bytes {
        crc = TABLE[((crc ^ u32::from(byte)) & 0xFF) as usize] ^ (crc >> 8);
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
    const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
    const CHARLIE: &str = "5FLSigC9HGRKVhB9FiEo4Y3koPsNmBmLJbpXg2mp1hXcS59Y";

    fn miner(uid: u16, kind: &str, incentive: f64, emission_rao: u64) -> MinerSummary {
        MinerSummary {
            uid,
            hotkey: CHARLIE.to_owned(),
            kind: kind.to_owned(),
            incentive,
            emission_rao,
            served: u64::from(uid) * 100,
        }
    }

    fn sample() -> Summary {
        Summary {
            chain: "ganglion dev".to_owned(),
            netuid: 1,
            subnet: "denoise".to_owned(),
            bundle: "9f2c4e1a7b3d5c6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6".to_owned(),
            blocks: 96,
            epochs: 3,
            block_reward_rao: 1_000_000_000,
            total_emission_rao: 96_000_000_000,
            miners: vec![
                miner(2, "untrained", 0.05, 2_400_000_000),
                miner(3, "brief", 0.301, 14_448_000_000),
                miner(4, "trained", 0.612, 29_376_000_000),
                miner(5, "noise", 0.037, 1_776_000_500),
            ],
            validators: vec![
                ValidatorSummary {
                    uid: 0,
                    hotkey: ALICE.to_owned(),
                    dividends: 0.5,
                    vtrust: 1.0,
                    emission_rao: 24_000_000_000,
                    stake_rao: 1_024_000_000_000,
                },
                ValidatorSummary {
                    uid: 1,
                    hotkey: BOB.to_owned(),
                    dividends: 0.5,
                    vtrust: 0.9876,
                    emission_rao: 23_999_999_499,
                    stake_rao: 1_023_999_999_499,
                },
            ],
            history: vec![
                EpochRecord {
                    epoch: 1,
                    block: 32,
                    incentive: vec![(2, 0.25), (3, 0.25), (4, 0.25), (5, 0.25)],
                },
                EpochRecord {
                    epoch: 2,
                    block: 64,
                    incentive: vec![(2, 0.1), (3, 0.3), (4, 0.5), (5, 0.1)],
                },
                EpochRecord {
                    epoch: 3,
                    block: 96,
                    incentive: vec![(2, 0.05), (3, 0.301), (4, 0.612), (5, 0.037)],
                },
            ],
            timings: Timings {
                first_block_ms: 412,
                first_weights_ms: Some(2_050),
                first_epoch_ms: None,
            },
        }
    }

    #[test]
    fn json_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.json");
        let summary = sample();
        write_json(&summary, &path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.ends_with("}\n"));
        assert!(text.contains("\n  \"chain\": \"ganglion dev\",\n"));
        let back: Summary = serde_json::from_str(&text).unwrap();
        assert_eq!(back, summary);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o644);
        }
        // Overwriting replaces the file whole and leaves no temporary file behind.
        write_json(&summary, &path).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn json_names_the_path_it_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("summary.json");
        let err = write_json(&sample(), &path).unwrap_err();
        let message = format!("{err:#}");
        assert!(message.contains(&path.display().to_string()), "{message}");
    }

    #[test]
    fn json_refuses_nan() {
        let dir = tempfile::tempdir().unwrap();
        let mut summary = sample();
        summary.validators[1].vtrust = f64::NAN;
        let err = write_json(&summary, &dir.path().join("s.json")).unwrap_err();
        assert!(
            format!("{err:#}").contains("validator 1's vtrust is NaN"),
            "{err:#}"
        );
    }

    #[test]
    fn table_text() {
        let expected = "\
chain ganglion dev  subnet 1 (denoise)  bundle 9f2c4e1a7b3d…

miner  kind       hotkey     incentive  emission TAO    served
    2  untrained  5FLS…S59Y       5.0%         2.400       200
    3  brief      5FLS…S59Y      30.1%        14.448       300
    4  trained    5FLS…S59Y      61.2%        29.376       400
    5  noise      5FLS…S59Y       3.7%         1.776       500

validator  hotkey     dividends   vtrust  emission TAO     stake TAO
        0  5Grw…utQY      50.0%   100.0%        24.000      1024.000
        1  5FHn…94ty      50.0%    98.8%        24.000      1024.000

96 blocks, 3 epochs, 96.000 TAO emitted (1.000 TAO per block)
first block 0.412 s, first weights 2.050 s, first epoch -
";
        assert_eq!(summary_table(&sample()), expected);
    }

    #[test]
    fn tao_rounds_half_up_exactly() {
        assert_eq!(tao(0), "0.000");
        assert_eq!(tao(499_999), "0.000");
        assert_eq!(tao(500_000), "0.001");
        assert_eq!(tao(1_999_500_000), "2.000");
        assert_eq!(tao(u64::MAX), "18446744073.710");
    }

    #[test]
    fn epoch_line_text() {
        let kinds: BTreeMap<u16, String> = [(2, "untrained"), (3, "brief"), (4, "trained")]
            .into_iter()
            .map(|(uid, kind)| (uid, kind.to_owned()))
            .collect();
        let record = EpochRecord {
            epoch: 3,
            block: 96,
            incentive: vec![(4, 0.612), (5, 0.037), (2, 0.05), (3, 0.301)],
        };
        assert_eq!(
            epoch_line(&record, &kinds),
            "epoch 3  #96   untrained 5.0%  brief 30.1%  trained 61.2%  uid 5 3.7%"
        );
        let empty = EpochRecord {
            epoch: 1,
            block: 123_456,
            incentive: Vec::new(),
        };
        assert_eq!(epoch_line(&empty, &kinds), "epoch 1  #123456");
    }

    #[test]
    fn plot_svg_has_every_label() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("incentive.svg");
        plot(&sample(), &path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
        for label in [
            "untrained (uid 2)",
            "brief (uid 3)",
            "trained (uid 4)",
            "noise (uid 5)",
        ] {
            assert!(svg.contains(label), "{label} missing");
        }
        assert!(svg.contains("<polyline"));
    }

    #[test]
    fn plot_png_decodes_to_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("incentive.PNG");
        plot(&sample(), &path).unwrap();
        let png = std::fs::read(&path).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&png[12..16], b"IHDR");
        assert_eq!(&png[16..20], &PLOT_WIDTH.to_be_bytes());
        assert_eq!(&png[20..24], &PLOT_HEIGHT.to_be_bytes());

        // Walk the chunks, checking each CRC, and inflate the image data.
        let mut at = 8;
        let mut idat = Vec::new();
        let mut kinds = Vec::new();
        while at < png.len() {
            let length = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
            let kind = &png[at + 4..at + 8];
            let data = &png[at + 8..at + 8 + length];
            let crc =
                u32::from_be_bytes(png[at + 8 + length..at + 12 + length].try_into().unwrap());
            assert_eq!(crc32(kind.iter().chain(data)), crc);
            if kind == b"IDAT" {
                idat.extend_from_slice(data);
            }
            kinds.push(String::from_utf8(kind.to_vec()).unwrap());
            at += 12 + length;
        }
        assert_eq!(kinds, ["IHDR", "IDAT", "IEND"]);
        let raw = miniz_oxide::inflate::decompress_to_vec_zlib(&idat).unwrap();
        let row = PLOT_WIDTH as usize * 3 + 1;
        assert_eq!(raw.len(), row * PLOT_HEIGHT as usize);
        // Not blank: there are dark pixels (axes, text) as well as the white background.
        let pixels = raw.chunks(row).flat_map(|line| line[1..].chunks(3));
        assert!(pixels.clone().any(|p| p == [255, 255, 255]));
        assert!(pixels.clone().any(|p| p.iter().all(|&c| c < 64)));
    }

    #[test]
    fn plot_handles_no_history() {
        let dir = tempfile::tempdir().unwrap();
        let mut summary = sample();
        summary.history.clear();
        plot(&summary, &dir.path().join("empty.svg")).unwrap();
        plot(&summary, &dir.path().join("empty.png")).unwrap();
    }

    #[test]
    fn plot_refuses_other_extensions() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["incentive.jpg", "incentive"] {
            let path = dir.path().join(name);
            let err = plot(&sample(), &path).unwrap_err().to_string();
            assert!(err.contains("use `.svg` or `.png`"), "{err}");
            assert!(err.contains(&path.display().to_string()), "{err}");
            assert!(!path.exists());
        }
        let err = plot(&sample(), &dir.path().join("x.jpg")).unwrap_err();
        assert!(
            err.to_string().contains("unknown extension `.jpg`"),
            "{err}"
        );
    }

    #[test]
    fn crc32_matches_the_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn short_forms() {
        assert_eq!(short_address(ALICE), "5Grw…utQY");
        assert_eq!(short_address("5Grw"), "5Grw");
        assert_eq!(short_hash("abc"), "abc");
    }
}
