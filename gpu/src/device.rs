//! Where models run: Burn's `flex` CPU backend always, GPUs by Cargo feature.
//!
//! Burn 0.22 puts the backend in a runtime [`Device`] rather than in a type parameter, so
//! models and training code are the same for every backend; this module only picks the device.

use std::fmt;
use std::str::FromStr;

pub use burn::tensor::Device;

/// A compute backend this crate can be built with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// Burn's `flex` backend: pure Rust, one thread, always built.
    Cpu,
    /// Burn's wgpu backend (the `wgpu` feature): Vulkan, Metal, DirectX or WebGPU.
    Wgpu,
    /// Burn's CUDA backend (the `cuda` feature), device 0.
    Cuda,
}

/// A backend this build cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    /// The name is not a backend.
    #[error("unknown backend {0:?} (expected cpu, wgpu or cuda)")]
    Unknown(String),
    /// The backend's Cargo feature is off in this build.
    #[error("this build has no {0} backend: rebuild ganglion-gpu with the `{0}` feature")]
    NotBuilt(Backend),
}

impl Backend {
    /// All backends, in order of preference (fastest first).
    pub const ALL: [Backend; 3] = [Backend::Cuda, Backend::Wgpu, Backend::Cpu];

    /// Whether this build includes the backend.
    pub fn is_built(self) -> bool {
        match self {
            Backend::Cpu => true,
            Backend::Wgpu => cfg!(feature = "wgpu"),
            Backend::Cuda => cfg!(feature = "cuda"),
        }
    }

    /// The backends this build includes, fastest first.
    pub fn built() -> Vec<Backend> {
        Backend::ALL.into_iter().filter(|b| b.is_built()).collect()
    }

    /// The fastest backend this build includes (whether the machine has the hardware is known
    /// only once a tensor is made on it).
    pub fn best() -> Backend {
        Backend::ALL
            .into_iter()
            .find(|b| b.is_built())
            .unwrap_or(Backend::Cpu)
    }

    /// The backend's default device.
    ///
    /// ```
    /// use ganglion_gpu::Backend;
    ///
    /// let device = Backend::Cpu.device()?;
    /// assert!(!device.is_autodiff());
    /// # Ok::<(), ganglion_gpu::DeviceError>(())
    /// ```
    pub fn device(self) -> Result<Device, DeviceError> {
        match self {
            Backend::Cpu => Ok(Device::flex()),
            #[cfg(feature = "wgpu")]
            Backend::Wgpu => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
            #[cfg(feature = "cuda")]
            Backend::Cuda => Ok(Device::cuda(0)),
            #[allow(unreachable_patterns, reason = "reached only without the GPU features")]
            other => Err(DeviceError::NotBuilt(other)),
        }
    }

    /// The name `FromStr` reads: `cpu`, `wgpu` or `cuda`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Cpu => "cpu",
            Backend::Wgpu => "wgpu",
            Backend::Cuda => "cuda",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Backend {
    type Err = DeviceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Backend::ALL
            .into_iter()
            .find(|b| b.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| DeviceError::Unknown(s.to_string()))
    }
}

/// The CPU device (Burn's `flex` backend).
pub fn cpu() -> Device {
    Device::flex()
}

/// The GPU device of this build: CUDA device 0 with the `cuda` feature, else wgpu's default
/// adapter.
#[cfg(any(feature = "wgpu", feature = "cuda"))]
pub fn gpu() -> Device {
    #[cfg(feature = "cuda")]
    {
        Device::cuda(0)
    }
    #[cfg(not(feature = "cuda"))]
    {
        Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_availability() {
        for b in Backend::ALL {
            assert_eq!(b.to_string().parse::<Backend>().unwrap(), b);
        }
        assert!(Backend::Cpu.is_built());
        assert!(Backend::built().contains(&Backend::Cpu));
        assert!("tpu".parse::<Backend>().is_err());
        assert!(Backend::Cpu.device().is_ok());
        if !cfg!(feature = "cuda") {
            assert_eq!(
                Backend::Cuda.device().unwrap_err(),
                DeviceError::NotBuilt(Backend::Cuda)
            );
        }
    }
}
