//! The payload format: a self-describing list of tensors.
//!
//! A payload is what a plugin's `task` sends to miners, what miners answer, and what the
//! validator keeps. Every integer is little-endian:
//!
//! ```text
//! payload := count:u32 tensor*count
//! tensor  := dtype:u8 rank:u8 dim:u32*rank data
//! data    := product(dims) elements of the dtype's size, little-endian
//! ```
//!
//! dtype codes: 0 = f32, 1 = f64, 2 = i32, 3 = i64, 4 = u8. A rank-0 tensor is a scalar (one
//! element). [`decode`] checks everything (known dtype, rank at most [`MAX_RANK`], sizes that
//! add up exactly to the bytes given) and never panics, whatever the bytes.

/// The largest rank a tensor may have.
pub const MAX_RANK: u8 = 8;

/// The element type of a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DType {
    /// 32-bit IEEE float (code 0).
    F32,
    /// 64-bit IEEE float (code 1).
    F64,
    /// 32-bit signed integer (code 2).
    I32,
    /// 64-bit signed integer (code 3).
    I64,
    /// Byte (code 4).
    U8,
}

impl DType {
    /// Every dtype, by code.
    pub const ALL: [DType; 5] = [DType::F32, DType::F64, DType::I32, DType::I64, DType::U8];

    /// The wire code.
    pub fn code(self) -> u8 {
        match self {
            DType::F32 => 0,
            DType::F64 => 1,
            DType::I32 => 2,
            DType::I64 => 3,
            DType::U8 => 4,
        }
    }

    /// The dtype of a wire code.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.get(usize::from(code)).copied()
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::U8 => 1,
            DType::F32 | DType::I32 => 4,
            DType::F64 | DType::I64 => 8,
        }
    }

    /// Its name: `f32`, `f64`, `i32`, `i64`, `u8`.
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::I32 => "i32",
            DType::I64 => "i64",
            DType::U8 => "u8",
        }
    }

    /// The dtype of a name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == name)
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One tensor: a dtype, dimensions, and its elements as little-endian bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tensor {
    dtype: DType,
    dims: Vec<u32>,
    data: Vec<u8>,
}

/// Why bytes are not a payload, or a tensor cannot be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// The bytes end before the structure does.
    #[error("payload ends early: {needed} more bytes needed at offset {offset}")]
    Truncated {
        /// Where the missing bytes start.
        offset: usize,
        /// How many are missing.
        needed: usize,
    },
    /// Bytes left over after the last tensor.
    #[error("{extra} bytes after the last tensor (at offset {offset})")]
    TrailingBytes {
        /// Where they start.
        offset: usize,
        /// How many.
        extra: usize,
    },
    /// An unknown dtype code.
    #[error("tensor {index}: unknown dtype code {code} (0 f32, 1 f64, 2 i32, 3 i64, 4 u8)")]
    UnknownDType {
        /// Which tensor.
        index: usize,
        /// The code found.
        code: u8,
    },
    /// A rank above [`MAX_RANK`].
    #[error("tensor {index}: rank {rank} is above the maximum of {MAX_RANK}")]
    RankTooLarge {
        /// Which tensor.
        index: usize,
        /// The rank found.
        rank: u8,
    },
    /// Dimensions whose element count overflows.
    #[error("tensor {index}: dimensions {dims:?} hold more elements than can be addressed")]
    TooLarge {
        /// Which tensor.
        index: usize,
        /// The dimensions.
        dims: Vec<u32>,
    },
    /// Data whose length does not match the dimensions.
    #[error("tensor data has {len} bytes, but {dtype}{dims:?} needs {expected}")]
    DataLength {
        /// The dtype.
        dtype: DType,
        /// The dimensions.
        dims: Vec<u32>,
        /// Bytes given.
        len: usize,
        /// Bytes needed.
        expected: usize,
    },
}

fn element_count(dims: &[u32]) -> Option<usize> {
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(usize::try_from(d).ok()?))
}

impl Tensor {
    /// A tensor from raw little-endian bytes, checked against the dimensions.
    pub fn from_bytes(dtype: DType, dims: Vec<u32>, data: Vec<u8>) -> Result<Self, PayloadError> {
        let expected = element_count(&dims)
            .and_then(|count| count.checked_mul(dtype.size()))
            .ok_or_else(|| PayloadError::TooLarge {
                index: 0,
                dims: dims.clone(),
            })?;
        if data.len() != expected {
            return Err(PayloadError::DataLength {
                dtype,
                dims,
                len: data.len(),
                expected,
            });
        }
        if dims.len() > usize::from(MAX_RANK) {
            return Err(PayloadError::RankTooLarge {
                index: 0,
                rank: u8::try_from(dims.len()).unwrap_or(u8::MAX),
            });
        }
        Ok(Self { dtype, dims, data })
    }

    /// An f32 tensor. Panics if `values` does not have `product(dims)` elements.
    pub fn f32(dims: Vec<u32>, values: &[f32]) -> Self {
        Self::build(
            DType::F32,
            dims,
            values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        )
    }

    /// An f64 tensor. Panics if `values` does not have `product(dims)` elements.
    pub fn f64(dims: Vec<u32>, values: &[f64]) -> Self {
        Self::build(
            DType::F64,
            dims,
            values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        )
    }

    /// An i32 tensor. Panics if `values` does not have `product(dims)` elements.
    pub fn i32(dims: Vec<u32>, values: &[i32]) -> Self {
        Self::build(
            DType::I32,
            dims,
            values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        )
    }

    /// An i64 tensor. Panics if `values` does not have `product(dims)` elements.
    pub fn i64(dims: Vec<u32>, values: &[i64]) -> Self {
        Self::build(
            DType::I64,
            dims,
            values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        )
    }

    /// A u8 tensor. Panics if `values` does not have `product(dims)` elements.
    pub fn u8(dims: Vec<u32>, values: &[u8]) -> Self {
        Self::build(DType::U8, dims, values.to_vec())
    }

    /// A tensor of `dtype` from f64 values, each converted as Rust's `as` casts do: f32
    /// rounds to nearest, integer dtypes truncate toward zero and saturate (NaN gives 0).
    /// The inverse of [`Tensor::to_f64s`] wherever that is exact. Panics if `values` does not
    /// have `product(dims)` elements.
    pub fn from_f64s(dtype: DType, dims: Vec<u32>, values: &[f64]) -> Self {
        let data: Vec<u8> = match dtype {
            DType::F32 => values
                .iter()
                .flat_map(|&v| (v as f32).to_le_bytes())
                .collect(),
            DType::F64 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            DType::I32 => values
                .iter()
                .flat_map(|&v| (v as i32).to_le_bytes())
                .collect(),
            DType::I64 => values
                .iter()
                .flat_map(|&v| (v as i64).to_le_bytes())
                .collect(),
            DType::U8 => values.iter().map(|&v| v as u8).collect(),
        };
        Self::build(dtype, dims, data)
    }

    #[track_caller]
    fn build(dtype: DType, dims: Vec<u32>, data: Vec<u8>) -> Self {
        match Self::from_bytes(dtype, dims, data) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        }
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The dimensions.
    pub fn dims(&self) -> &[u32] {
        &self.dims
    }

    /// The elements as little-endian bytes.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len() / self.dtype.size()
    }

    /// Whether it has no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Every element as f64 (exact for f32, i32 and u8; i64 beyond 2^53 rounds).
    pub fn to_f64s(&self) -> Vec<f64> {
        let chunks = self.data.chunks_exact(self.dtype.size());
        match self.dtype {
            DType::F32 => chunks
                .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
            DType::F64 => chunks
                .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect(),
            DType::I32 => chunks
                .map(|c| f64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
            #[allow(
                clippy::cast_precision_loss,
                reason = "documented: i64 beyond 2^53 rounds"
            )]
            DType::I64 => chunks
                .map(|c| {
                    i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f64
                })
                .collect(),
            DType::U8 => self.data.iter().map(|&b| f64::from(b)).collect(),
        }
    }
}

/// Encodes tensors as one payload.
pub fn encode(tensors: &[Tensor]) -> Vec<u8> {
    let size: usize = tensors
        .iter()
        .map(|t| 2 + 4 * t.dims.len() + t.data.len())
        .sum::<usize>()
        + 4;
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(
        &u32::try_from(tensors.len())
            .unwrap_or(u32::MAX)
            .to_le_bytes(),
    );
    for t in tensors {
        out.push(t.dtype.code());
        out.push(u8::try_from(t.dims.len()).unwrap_or(u8::MAX));
        for d in &t.dims {
            out.extend_from_slice(&d.to_le_bytes());
        }
        out.extend_from_slice(&t.data);
    }
    out
}

struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], PayloadError> {
        let end = self.offset.checked_add(n);
        match end.and_then(|end| self.bytes.get(self.offset..end)) {
            Some(slice) => {
                self.offset += n;
                Ok(slice)
            }
            None => Err(PayloadError::Truncated {
                offset: self.offset,
                needed: n.saturating_sub(self.bytes.len().saturating_sub(self.offset)),
            }),
        }
    }

    fn u8(&mut self) -> Result<u8, PayloadError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, PayloadError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// Decodes a payload, checking every field; never panics.
pub fn decode(bytes: &[u8]) -> Result<Vec<Tensor>, PayloadError> {
    let mut r = Reader { bytes, offset: 0 };
    let count = r.u32()?;
    // Each tensor takes at least 2 bytes: do not trust `count` for the allocation.
    let mut tensors = Vec::with_capacity((count as usize).min(bytes.len() / 2));
    for index in 0..count as usize {
        let code = r.u8()?;
        let dtype = DType::from_code(code).ok_or(PayloadError::UnknownDType { index, code })?;
        let rank = r.u8()?;
        if rank > MAX_RANK {
            return Err(PayloadError::RankTooLarge { index, rank });
        }
        let dims = (0..rank)
            .map(|_| r.u32())
            .collect::<Result<Vec<u32>, _>>()?;
        let len = element_count(&dims)
            .and_then(|count| count.checked_mul(dtype.size()))
            .ok_or_else(|| PayloadError::TooLarge {
                index,
                dims: dims.clone(),
            })?;
        let data = r.take(len)?.to_vec();
        tensors.push(Tensor { dtype, dims, data });
    }
    if r.offset != bytes.len() {
        return Err(PayloadError::TrailingBytes {
            offset: r.offset,
            extra: bytes.len() - r.offset,
        });
    }
    Ok(tensors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tensor() -> impl Strategy<Value = Tensor> {
        (0usize..5, proptest::collection::vec(0u32..4, 0..4)).prop_flat_map(|(code, dims)| {
            let dtype = DType::ALL[code];
            let len = element_count(&dims).unwrap() * dtype.size();
            proptest::collection::vec(any::<u8>(), len)
                .prop_map(move |data| Tensor::from_bytes(dtype, dims.clone(), data).unwrap())
        })
    }

    #[test]
    fn from_f64s_casts_like_as_and_inverts_to_f64s() {
        let values = [1.5, -2.7, f64::NAN, 1e12, -1e12, 300.0];
        let dims = vec![6];
        assert_eq!(
            Tensor::from_f64s(DType::I32, dims.clone(), &values).to_f64s(),
            [
                1.0,
                -2.0,
                0.0,
                f64::from(i32::MAX),
                f64::from(i32::MIN),
                300.0
            ]
        );
        assert_eq!(
            Tensor::from_f64s(DType::U8, dims.clone(), &values).to_f64s(),
            [1.0, 0.0, 0.0, 255.0, 0.0, 255.0]
        );
        let exact = [0.25, -3.0, 7.5];
        for dtype in [DType::F32, DType::F64, DType::I64] {
            let t = Tensor::from_f64s(dtype, vec![3], &exact);
            assert_eq!(t.dtype(), dtype);
            let back = t.to_f64s();
            if dtype == DType::I64 {
                assert_eq!(back, [0.0, -3.0, 7.0]);
            } else {
                assert_eq!(back, exact);
            }
        }
    }

    proptest! {
        #[test]
        fn round_trips(tensors in proptest::collection::vec(tensor(), 0..5)) {
            let bytes = encode(&tensors);
            prop_assert_eq!(decode(&bytes).unwrap(), tensors);
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn any_truncation_is_an_error(tensors in proptest::collection::vec(tensor(), 1..4), cut in 1usize..64) {
            let bytes = encode(&tensors);
            let cut = cut.min(bytes.len());
            prop_assert!(decode(&bytes[..bytes.len() - cut]).is_err());
        }
    }

    #[test]
    fn errors_name_the_problem() {
        assert_eq!(
            decode(&[1, 0, 0, 0, 9, 0]).unwrap_err(),
            PayloadError::UnknownDType { index: 0, code: 9 }
        );
        assert_eq!(
            decode(&[1, 0, 0, 0, 0, 9]).unwrap_err(),
            PayloadError::RankTooLarge { index: 0, rank: 9 }
        );
        let mut huge = vec![1, 0, 0, 0, 1, 8];
        for _ in 0..8 {
            huge.extend_from_slice(&u32::MAX.to_le_bytes());
        }
        assert!(matches!(
            decode(&huge).unwrap_err(),
            PayloadError::TooLarge { .. }
        ));
        let mut extra = encode(&[Tensor::u8(vec![2], &[1, 2])]);
        extra.push(0);
        assert!(matches!(
            decode(&extra).unwrap_err(),
            PayloadError::TrailingBytes { extra: 1, .. }
        ));
        // A count far beyond the bytes is a truncation, not an allocation.
        assert!(matches!(
            decode(&u32::MAX.to_le_bytes()).unwrap_err(),
            PayloadError::Truncated { .. }
        ));
    }

    #[test]
    fn scalars_and_values() {
        let t = Tensor::f64(vec![], &[2.5]);
        assert_eq!(t.len(), 1);
        assert_eq!(t.to_f64s(), vec![2.5]);
        assert_eq!(Tensor::i32(vec![2], &[-1, 7]).to_f64s(), vec![-1.0, 7.0]);
        assert_eq!(encode(&[]), vec![0, 0, 0, 0]);
    }
}
