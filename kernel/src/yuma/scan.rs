//! A fast reader for well-formed case files.
//!
//! Epoch cases are mostly integers: a 4096-uid case is megabytes of `[uid, weight]` pairs.
//! This reader walks the bytes once and parses those arrays straight into vectors, so that
//! reading a case costs less than running its epoch. It accepts only what it knows to be
//! well formed and gives up (`None`) on anything else: an unexpected key order is fine, but
//! a missing field, an escape in a key, a float, an integer overflow or any syntax error
//! makes the caller fall back to `serde_json`, which either reads the case all the same or
//! says exactly what is wrong and where.

use std::ops::Range;

use super::case::{RawInput, RawRows};

/// What the fast reader found: the input, and where `name` and `expected` are (if present),
/// for the caller to parse with serde_json when it needs them.
pub(super) struct Scanned {
    pub(super) input: RawInput,
    pub(super) name: Option<Range<usize>>,
    pub(super) expected: Option<Range<usize>>,
}

/// Reads a case document, or `None` if it is not plainly well formed.
pub(super) fn case(bytes: &[u8]) -> Option<Scanned> {
    let mut s = Scanner { bytes, pos: 0 };
    let mut input = None;
    let (mut name, mut expected) = (None, None);
    s.object(|s, key| {
        match key {
            b"input" => input = Some(s.input()?),
            b"name" => name = Some(s.skip_value()?),
            b"expected" => expected = Some(s.skip_value()?).filter(|r| !s.is_null(r)),
            _ => {
                s.skip_value()?;
            }
        }
        Some(())
    })?;
    s.ws();
    if s.pos != bytes.len() {
        return None;
    }
    Some(Scanned {
        input: input?,
        name,
        expected,
    })
}

struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
}

/// One field of the input as it is read, before it is known to be complete.
#[derive(Default)]
struct Partial {
    n: Option<u64>,
    current_block: Option<u64>,
    tempo: Option<u64>,
    last_mechanism_step_block: Option<u64>,
    activity_cutoff: Option<u64>,
    stake: Option<Vec<u64>>,
    stake_threshold: Option<u64>,
    owner_uid: Option<Option<u64>>,
    weights: Option<Vec<Vec<(u16, u16)>>>,
    bonds: Option<Vec<Vec<(u16, u16)>>>,
    last_update: Option<Vec<u64>>,
    block_at_registration: Option<Vec<u64>>,
    validator_permit: Option<Vec<bool>>,
    max_allowed_validators: Option<u64>,
    kappa: Option<u64>,
    bonds_penalty: Option<u64>,
    bonds_moving_average: Option<u64>,
    liquid_alpha_enabled: Option<bool>,
    alpha_low: Option<u64>,
    alpha_high: Option<u64>,
    alpha_sigmoid_steepness: Option<i64>,
    yuma3_enabled: Option<bool>,
    rao_emission: Option<u64>,
    earliest_commit_block: Option<Option<Vec<Option<u64>>>>,
}

impl<'a> Scanner<'a> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.pos = self.pos.saturating_add(1);
        }
    }

    #[inline]
    fn eat(&mut self, byte: u8) -> Option<()> {
        self.ws();
        (self.peek()? == byte).then(|| self.pos = self.pos.saturating_add(1))
    }

    fn is_null(&self, range: &Range<usize>) -> bool {
        self.bytes.get(range.clone()) == Some(b"null")
    }

    /// `{ "key": value, ... }`, calling `field` with the scanner just before each value.
    fn object(&mut self, mut field: impl FnMut(&mut Self, &'a [u8]) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            let key = self.plain_string()?;
            self.eat(b':')?;
            field(self, key)?;
            self.ws();
            match self.peek()? {
                b',' => self.pos = self.pos.saturating_add(1),
                b'}' => {
                    self.pos = self.pos.saturating_add(1);
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// A string without escapes (keys): its bytes.
    fn plain_string(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let bytes: &'a [u8] = self.bytes;
        let start = self.pos;
        let len = bytes
            .get(start..)?
            .iter()
            .position(|&b| b == b'"' || b == b'\\')?;
        let end = start.saturating_add(len);
        if bytes.get(end) != Some(&b'"') {
            return None;
        }
        self.pos = end.saturating_add(1);
        bytes.get(start..end)
    }

    /// `[ item, ... ]`.
    fn array<T>(&mut self, mut item: impl FnMut(&mut Self) -> Option<T>) -> Option<Vec<T>> {
        self.eat(b'[')?;
        let mut out = Vec::new();
        if self.eat(b']').is_some() {
            return Some(out);
        }
        loop {
            out.push(item(self)?);
            self.ws();
            match self.peek()? {
                b',' => self.pos = self.pos.saturating_add(1),
                b']' => {
                    self.pos = self.pos.saturating_add(1);
                    return Some(out);
                }
                _ => return None,
            }
        }
    }

    /// A non-negative integer that fits a u64 (no sign, fraction or exponent).
    #[inline]
    fn u64(&mut self) -> Option<u64> {
        self.ws();
        let mut value: u64 = 0;
        let start = self.pos;
        while let Some(d @ b'0'..=b'9') = self.peek() {
            value = value
                .checked_mul(10)?
                .checked_add(u64::from(d.wrapping_sub(b'0')))?;
            self.pos = self.pos.saturating_add(1);
        }
        let digits = self.pos.saturating_sub(start);
        // JSON forbids leading zeros; a fraction or exponent is not an integer.
        let leading_zero = digits > 1 && self.bytes.get(start) == Some(&b'0');
        if digits == 0 || leading_zero || matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        Some(value)
    }

    fn i64(&mut self) -> Option<i64> {
        self.ws();
        if self.peek()? == b'-' {
            self.pos = self.pos.saturating_add(1);
            let magnitude = self.u64()?;
            return 0i64.checked_sub_unsigned(magnitude);
        }
        i64::try_from(self.u64()?).ok()
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.ws();
        let end = self.pos.checked_add(word.len())?;
        (self.bytes.get(self.pos..end)? == word).then(|| self.pos = end)
    }

    fn bool(&mut self) -> Option<bool> {
        self.ws();
        match self.peek()? {
            b't' => self.literal(b"true").map(|()| true),
            b'f' => self.literal(b"false").map(|()| false),
            _ => None,
        }
    }

    /// `null` or a value.
    fn nullable<T>(&mut self, value: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        self.ws();
        if self.peek()? == b'n' {
            self.literal(b"null")?;
            return Some(None);
        }
        value(self).map(Some)
    }

    /// A u16 written as a plain integer.
    #[inline]
    fn u16(&mut self) -> Option<u16> {
        self.ws();
        let (value, end) = plain_u16(self.bytes, self.pos)?;
        self.pos = end;
        Some(value)
    }

    /// `[[uid, value], ...]` rows of u16 pairs (a value out of range gives up, so that
    /// serde_json's path reports it with its place).
    fn rows(&mut self) -> Option<Vec<Vec<(u16, u16)>>> {
        let mut hint = 0usize;
        self.array(|s| {
            s.eat(b'[')?;
            if s.eat(b']').is_some() {
                return Some(Vec::new());
            }
            // Rows tend to be alike: size this one like the last non-empty one.
            let mut row = Vec::with_capacity(hint);
            loop {
                let pair = match s.compact_pair() {
                    Some(pair) => pair,
                    None => {
                        s.eat(b'[')?;
                        let uid = s.u16()?;
                        s.eat(b',')?;
                        let value = s.u16()?;
                        s.eat(b']')?;
                        (uid, value)
                    }
                };
                row.push(pair);
                s.ws();
                match s.peek()? {
                    b',' => s.pos = s.pos.saturating_add(1),
                    b']' => {
                        s.pos = s.pos.saturating_add(1);
                        hint = row.len();
                        return Some(row);
                    }
                    _ => return None,
                }
            }
        })
    }

    /// `[uid,value]` with no whitespace and canonical integers, or `None` (nothing consumed)
    /// for the general path to handle.
    #[inline]
    fn compact_pair(&mut self) -> Option<(u16, u16)> {
        let bytes = self.bytes;
        let at = |i: usize, byte: u8| (bytes.get(i) == Some(&byte)).then_some(());
        at(self.pos, b'[')?;
        let (uid, i) = plain_u16(bytes, self.pos.saturating_add(1))?;
        at(i, b',')?;
        let (value, i) = plain_u16(bytes, i.saturating_add(1))?;
        at(i, b']')?;
        self.pos = i.saturating_add(1);
        Some((uid, value))
    }

    /// Skips a string, escapes included.
    fn skip_string(&mut self) -> Option<()> {
        self.eat(b'"')?;
        loop {
            let rest = self.bytes.get(self.pos..)?;
            let i = rest.iter().position(|&b| b == b'"' || b == b'\\')?;
            self.pos = self.pos.saturating_add(i);
            if self.peek()? == b'\\' {
                self.pos = self.pos.saturating_add(2);
            } else {
                self.pos = self.pos.saturating_add(1);
                return Some(());
            }
        }
    }

    /// Skips any JSON value, returning its byte range. Containers are checked for balanced
    /// brackets and terminated strings only; values the caller needs are parsed again.
    fn skip_value(&mut self) -> Option<Range<usize>> {
        self.ws();
        let start = self.pos;
        match self.peek()? {
            b'"' => self.skip_string()?,
            b'[' | b'{' => {
                let mut closers: Vec<u8> = Vec::new();
                loop {
                    match self.peek()? {
                        b'"' => {
                            self.skip_string()?;
                            continue;
                        }
                        b'[' => closers.push(b']'),
                        b'{' => closers.push(b'}'),
                        close @ (b']' | b'}') => {
                            if closers.pop()? != close {
                                return None;
                            }
                            if closers.is_empty() {
                                self.pos = self.pos.saturating_add(1);
                                break;
                            }
                        }
                        _ => {}
                    }
                    self.pos = self.pos.saturating_add(1);
                }
            }
            _ => {
                while let Some(b'-' | b'+' | b'.' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z') =
                    self.peek()
                {
                    self.pos = self.pos.saturating_add(1);
                }
                if self.pos == start {
                    return None;
                }
            }
        }
        Some(start..self.pos)
    }

    fn input(&mut self) -> Option<RawInput> {
        let mut p = Partial::default();
        self.object(|s, key| {
            match key {
                b"n" => p.n = Some(s.u64()?),
                b"current_block" => p.current_block = Some(s.u64()?),
                b"tempo" => p.tempo = Some(s.u64()?),
                b"last_mechanism_step_block" => p.last_mechanism_step_block = Some(s.u64()?),
                b"activity_cutoff" => p.activity_cutoff = Some(s.u64()?),
                b"stake" => p.stake = Some(s.array(Self::u64)?),
                b"stake_threshold" => p.stake_threshold = Some(s.u64()?),
                b"owner_uid" => p.owner_uid = Some(s.nullable(Self::u64)?),
                b"weights" => p.weights = Some(s.rows()?),
                b"bonds" => p.bonds = Some(s.rows()?),
                b"last_update" => p.last_update = Some(s.array(Self::u64)?),
                b"block_at_registration" => p.block_at_registration = Some(s.array(Self::u64)?),
                b"validator_permit" => p.validator_permit = Some(s.array(Self::bool)?),
                b"max_allowed_validators" => p.max_allowed_validators = Some(s.u64()?),
                b"kappa" => p.kappa = Some(s.u64()?),
                b"bonds_penalty" => p.bonds_penalty = Some(s.u64()?),
                b"bonds_moving_average" => p.bonds_moving_average = Some(s.u64()?),
                b"liquid_alpha_enabled" => p.liquid_alpha_enabled = Some(s.bool()?),
                b"alpha_low" => p.alpha_low = Some(s.u64()?),
                b"alpha_high" => p.alpha_high = Some(s.u64()?),
                b"alpha_sigmoid_steepness" => p.alpha_sigmoid_steepness = Some(s.i64()?),
                b"yuma3_enabled" => p.yuma3_enabled = Some(s.bool()?),
                b"rao_emission" => p.rao_emission = Some(s.u64()?),
                b"earliest_commit_block" => {
                    p.earliest_commit_block =
                        Some(s.nullable(|s| s.array(|s| s.nullable(Self::u64)))?);
                }
                _ => {
                    s.skip_value()?;
                }
            }
            Some(())
        })?;
        Some(RawInput {
            n: p.n?,
            current_block: p.current_block?,
            tempo: p.tempo?,
            last_mechanism_step_block: p.last_mechanism_step_block?,
            activity_cutoff: p.activity_cutoff?,
            stake: p.stake?,
            stake_threshold: p.stake_threshold?,
            owner_uid: p.owner_uid.flatten(),
            weights: RawRows::Narrow(p.weights?),
            bonds: RawRows::Narrow(p.bonds?),
            last_update: p.last_update?,
            block_at_registration: p.block_at_registration?,
            validator_permit: p.validator_permit?,
            max_allowed_validators: p.max_allowed_validators?,
            kappa: p.kappa?,
            bonds_penalty: p.bonds_penalty?,
            bonds_moving_average: p.bonds_moving_average?,
            liquid_alpha_enabled: p.liquid_alpha_enabled?,
            alpha_low: p.alpha_low?,
            alpha_high: p.alpha_high?,
            alpha_sigmoid_steepness: p.alpha_sigmoid_steepness?,
            yuma3_enabled: p.yuma3_enabled?,
            rao_emission: p.rao_emission?,
            earliest_commit_block: p.earliest_commit_block.flatten(),
        })
    }
}

/// A u16 written as a plain JSON integer at `start` (no sign, no leading zero, no fraction or
/// exponent): its value and the position after it.
#[inline]
fn plain_u16(bytes: &[u8], start: usize) -> Option<(u16, usize)> {
    let mut value: u32 = 0;
    let mut end = start;
    while let Some(&d) = bytes.get(end) {
        // Six digits are more than a u16 holds: stop before the value can overflow.
        if !d.is_ascii_digit() || end.saturating_sub(start) > 5 {
            break;
        }
        value = value
            .saturating_mul(10)
            .saturating_add(u32::from(d.wrapping_sub(b'0')));
        end = end.saturating_add(1);
    }
    let digits = end.saturating_sub(start);
    let leading_zero = digits > 1 && bytes.get(start) == Some(&b'0');
    if digits == 0
        || digits > 5
        || leading_zero
        || matches!(bytes.get(end), Some(b'.' | b'e' | b'E'))
    {
        return None;
    }
    Some((u16::try_from(value).ok()?, end))
}
