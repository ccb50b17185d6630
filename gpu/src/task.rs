//! What the caller asks a model to learn: tensor shapes and the kind of target.

use serde::{Deserialize, Serialize};

/// The largest number of elements an input or output may have (16 Mi values, 64 MiB of
/// `f32`). A task beyond it is refused with [`ShapeError::TooLarge`].
pub const MAX_ELEMENTS: usize = 1 << 24;

/// What the training target of a task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// The model's output is compared to a target tensor of the output's shape (mean squared
    /// error).
    Regression,
    /// The model outputs this many logits and the target is a class index in `0..classes`
    /// (cross-entropy). The output shape must hold exactly `classes` values.
    Classes(usize),
}

/// The shapes of one task: a flat `f32` input of `input`'s shape (row-major) in, a flat `f32`
/// output of `output`'s shape out.
///
/// ```
/// use ganglion_gpu::{TaskShape, Target};
///
/// let task = TaskShape::new(vec![8, 8], vec![10], Target::Classes(10));
/// task.validate()?;
/// assert_eq!((task.input_len(), task.output_len(), task.target_len()), (64, 10, 1));
/// # Ok::<(), ganglion_gpu::ShapeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskShape {
    /// The input tensor's shape (rank 1 to 3).
    pub input: Vec<usize>,
    /// The output tensor's shape (rank 1 to 3).
    pub output: Vec<usize>,
    /// What the output is trained against.
    pub target: Target,
}

/// A task shape or model configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    /// A shape has no dimensions, more than three, or a zero dimension.
    #[error("{what} shape {shape:?} must have 1 to 3 dimensions, none of them zero")]
    BadShape {
        /// `"input"` or `"output"`.
        what: &'static str,
        /// The shape given.
        shape: Vec<usize>,
    },
    /// A shape holds more than [`MAX_ELEMENTS`] values.
    #[error("{what} shape {shape:?} holds more than {MAX_ELEMENTS} values")]
    TooLarge {
        /// `"input"` or `"output"`.
        what: &'static str,
        /// The shape given.
        shape: Vec<usize>,
    },
    /// A classification task whose output does not hold exactly one logit per class, or with
    /// fewer than two classes.
    #[error("{classes} classes (2 or more needed) in an output of shape {output:?}")]
    Classes {
        /// The number of classes.
        classes: usize,
        /// The output shape given.
        output: Vec<usize>,
    },
    /// A model configuration does not fit the task (or is itself inconsistent).
    #[error("model does not fit the task: {0}")]
    Model(String),
}

impl TaskShape {
    /// A task from its parts (not yet validated: see [`TaskShape::validate`]).
    pub fn new(input: Vec<usize>, output: Vec<usize>, target: Target) -> Self {
        Self {
            input,
            output,
            target,
        }
    }

    /// A regression task: the target has the output's shape.
    pub fn regression(input: Vec<usize>, output: Vec<usize>) -> Self {
        Self::new(input, output, Target::Regression)
    }

    /// A classification task of `classes` classes: the output is `[classes]` logits.
    pub fn classes(input: Vec<usize>, classes: usize) -> Self {
        Self::new(input, vec![classes], Target::Classes(classes))
    }

    /// Checks the shapes: ranks 1 to 3, no zero dimension, at most [`MAX_ELEMENTS`] values,
    /// and for classes an output of exactly `classes` (>= 2) values.
    pub fn validate(&self) -> Result<(), ShapeError> {
        check_shape("input", &self.input)?;
        check_shape("output", &self.output)?;
        if let Target::Classes(classes) = self.target
            && (classes < 2 || self.output_len() != classes)
        {
            return Err(ShapeError::Classes {
                classes,
                output: self.output.clone(),
            });
        }
        Ok(())
    }

    /// Values in one input.
    pub fn input_len(&self) -> usize {
        self.input.iter().product()
    }

    /// Values in one output.
    pub fn output_len(&self) -> usize {
        self.output.iter().product()
    }

    /// Values in one training target: the output's length for regression, 1 (the class index)
    /// for classes.
    pub fn target_len(&self) -> usize {
        match self.target {
            Target::Regression => self.output_len(),
            Target::Classes(_) => 1,
        }
    }
}

fn check_shape(what: &'static str, shape: &[usize]) -> Result<(), ShapeError> {
    if shape.is_empty() || shape.len() > 3 || shape.contains(&0) {
        return Err(ShapeError::BadShape {
            what,
            shape: shape.to_vec(),
        });
    }
    let total = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= MAX_ELEMENTS);
    if total.is_none() {
        return Err(ShapeError::TooLarge {
            what,
            shape: shape.to_vec(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths() {
        let t = TaskShape::regression(vec![4, 5], vec![3]);
        assert_eq!((t.input_len(), t.output_len(), t.target_len()), (20, 3, 3));
        let c = TaskShape::classes(vec![7], 4);
        assert_eq!((c.input_len(), c.output_len(), c.target_len()), (7, 4, 1));
    }

    #[test]
    fn validate_rejects_bad_shapes() {
        assert!(TaskShape::regression(vec![], vec![1]).validate().is_err());
        assert!(
            TaskShape::regression(vec![1, 0], vec![1])
                .validate()
                .is_err()
        );
        assert!(
            TaskShape::regression(vec![1, 1, 1, 1], vec![1])
                .validate()
                .is_err()
        );
        assert!(matches!(
            TaskShape::regression(vec![1 << 20, 1 << 20], vec![1]).validate(),
            Err(ShapeError::TooLarge { .. })
        ));
        assert!(matches!(
            TaskShape::new(vec![3], vec![4], Target::Classes(3)).validate(),
            Err(ShapeError::Classes { .. })
        ));
        assert!(TaskShape::classes(vec![3], 1).validate().is_err());
        assert!(TaskShape::classes(vec![3], 2).validate().is_ok());
    }

    #[test]
    fn serde_round_trip() {
        let t = TaskShape::classes(vec![8, 8], 10);
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(serde_json::from_str::<TaskShape>(&json).unwrap(), t);
    }
}
