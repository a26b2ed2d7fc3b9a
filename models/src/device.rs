//! device: where a model runs, chosen once (auto, CPU, a CUDA ordinal,
//! spread over a node's GPUs by local rank).

use tch::Device;

use crate::error::ModelError;

/// Where to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// CUDA when a GPU is present, else CPU.
    #[default]
    Auto,
    /// The CPU.
    Cpu,
    /// The first CUDA device (or the given ordinal).
    Cuda(usize),
}

impl DeviceChoice {
    /// The device this choice means on this machine.
    pub fn resolve(self) -> Result<Device, ModelError> {
        match self {
            DeviceChoice::Cpu => Ok(Device::Cpu),
            DeviceChoice::Auto => Ok(Device::cuda_if_available()),
            DeviceChoice::Cuda(i) => {
                if tch::Cuda::is_available() && (i as i64) < tch::Cuda::device_count() {
                    Ok(Device::Cuda(i))
                } else {
                    Err(ModelError::Device {
                        device: format!("cuda:{i}"),
                        reason: "no CUDA device is available on this machine".into(),
                    })
                }
            }
        }
    }
}

impl DeviceChoice {
    /// The choice for one of several ranks on a node: ranks spread over
    /// the node's GPUs by their local rank; CPU stays CPU.
    pub fn for_local_rank(self, local_rank: usize) -> Self {
        let gpus = if tch::Cuda::is_available() { tch::Cuda::device_count().max(0) as usize } else { 0 };
        match self {
            DeviceChoice::Cuda(_) if gpus > 0 => DeviceChoice::Cuda(local_rank % gpus),
            DeviceChoice::Auto if gpus > 0 => DeviceChoice::Cuda(local_rank % gpus),
            other => other,
        }
    }
}
