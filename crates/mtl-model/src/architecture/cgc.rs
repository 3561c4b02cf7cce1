//! Customized Gate Control (CGC): experts shared by all tasks plus experts of each task; task
//! t's softmax gate mixes the shared experts and its own.
//!
//! Tang, Liu, Zhao, Gong, "Progressive Layered Extraction (PLE): A Novel Multi-Task Learning
//! (MTL) Model for Personalized Recommendations", RecSys 2020
//! (<https://doi.org/10.1145/3383313.3412236>), §4.2, eq. (2)–(3). CGC is one extraction level
//! of PLE without the shared gate, so it is built as a one-level [`Ple`]: the shared experts
//! (and the stem) are the shared part; a task's own experts and gate are its part.

use crate::architecture::gate::StemConfig;
use crate::architecture::{Ple, PleConfig};
use crate::encoder::EncoderConfig;

/// Configuration of CGC.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CgcConfig {
    /// Each expert's network (the whole encoder).
    pub expert: EncoderConfig,
    /// Experts shared by all tasks.
    pub shared_experts: usize,
    /// Experts of each task.
    pub task_experts: usize,
    /// Number of tasks.
    pub num_tasks: usize,
    /// What the gates read.
    pub stem: StemConfig,
}

impl CgcConfig {
    /// The equivalent one-level PLE.
    pub fn as_ple(&self) -> PleConfig {
        PleConfig {
            expert: self.expert.clone(),
            shared_experts: self.shared_experts,
            task_experts: self.task_experts,
            num_tasks: self.num_tasks,
            levels: 1,
            stem: self.stem.clone(),
        }
    }

    /// Build on `device`.
    pub fn init(&self, device: &burn::tensor::Device) -> Ple {
        self.as_ple().init(device)
    }

    /// Width of each task representation.
    pub fn d_task(&self) -> usize {
        self.expert.d_output()
    }
}
