//! Which GPU adapter a backend choice lands on, decided over a plain list of adapters so that
//! the rule is tested without a GPU (see the tests: a fake list with a software rasteriser).
//!
//! The rule: real GPUs first (discrete, then integrated, virtual, unclassified), in the
//! graphics APIs' order of preference, then software adapters (lavapipe, llvmpipe, WARP).
//! `auto` takes only real GPUs and otherwise falls back to the CPU; `--backend vulkan` or
//! `--backend wgpu` takes a software adapter only when asked for by index or when no GPU
//! exists, and says so.

/// What kind of device an adapter is, as the driver reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AdapterKind {
    /// A card of its own.
    Discrete,
    /// Part of the CPU package, sharing system memory.
    Integrated,
    /// A GPU handed through by a hypervisor.
    Virtual,
    /// A GPU the driver does not classify (some OpenGL drivers).
    Other,
    /// A software rasteriser running on the CPU.
    Software,
}

impl AdapterKind {
    /// `true` for real GPUs.
    pub fn is_gpu(self) -> bool {
        self != AdapterKind::Software
    }

    /// Short name for listings.
    pub fn label(self) -> &'static str {
        match self {
            AdapterKind::Discrete => "discrete GPU",
            AdapterKind::Integrated => "integrated GPU",
            AdapterKind::Virtual => "virtual GPU",
            AdapterKind::Other => "GPU (unclassified)",
            AdapterKind::Software => "software (CPU)",
        }
    }
}

/// A graphics API wgpu reaches adapters through, in the order tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Api {
    /// Vulkan (SPIR-V kernels in a `--features gpu` build).
    Vulkan,
    /// Metal (macOS).
    Metal,
    /// DirectX 12 (Windows).
    Dx12,
    /// OpenGL / GLES.
    Gl,
}

impl Api {
    /// Every API, best first.
    pub const ALL: [Api; 4] = [Api::Vulkan, Api::Metal, Api::Dx12, Api::Gl];

    /// Short name for listings.
    pub fn label(self) -> &'static str {
        match self {
            Api::Vulkan => "Vulkan",
            Api::Metal => "Metal",
            Api::Dx12 => "DX12",
            Api::Gl => "OpenGL",
        }
    }
}

/// One adapter as a graphics API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adapter {
    /// The device's own name ("NVIDIA H200", "llvmpipe (LLVM 15.0.6, 256 bits)").
    pub name: String,
    /// What kind of device it is.
    pub kind: AdapterKind,
    /// The API it was listed by.
    pub api: Api,
    /// Its position among the adapters of the same API and kind, in the API's listing order
    /// (what Burn's `DeviceKind::DiscreteGpu(i)` and friends count).
    pub kind_index: usize,
    /// Driver name and version, as reported ("NVIDIA 550.54.15", "Mesa 22.3.6").
    pub driver: String,
    /// Device memory in bytes, where known.
    pub memory: Option<u64>,
}

impl Adapter {
    /// One line for `mtl devices` and the banner.
    pub fn describe(&self) -> String {
        let memory = match self.memory {
            Some(bytes) => format!(", {:.1} GiB", bytes as f64 / (1u64 << 30) as f64),
            None => String::new(),
        };
        let driver = if self.driver.is_empty() { String::new() } else { format!(", driver {}", self.driver) };
        format!("{} ({}, {}{memory}{driver})", self.name, self.kind.label(), self.api.label())
    }
}

/// Which adapters a backend choice may land on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// `--backend auto`: real GPUs only, any API.
    AnyGpu,
    /// `--backend wgpu`: any adapter of any API.
    Wgpu,
    /// `--backend vulkan`: Vulkan adapters only.
    Vulkan,
}

/// The outcome of a choice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pick {
    /// This adapter, and why.
    Adapter {
        /// The adapter.
        adapter: Adapter,
        /// Its index in the ordered list of [`candidates`] (what `--device` counts).
        position: usize,
        /// The length of that list.
        of: usize,
        /// Why it was chosen, for the banner.
        reason: String,
    },
    /// No acceptable adapter: `auto` falls back to the CPU.
    Cpu {
        /// Why, for the banner.
        reason: String,
    },
}

/// The adapters `want` may use, best first (see the module's rule).
pub fn candidates(adapters: &[Adapter], want: Want) -> Vec<Adapter> {
    let mut list: Vec<Adapter> = (adapters.iter())
        .filter(|a| match want {
            Want::AnyGpu => a.kind.is_gpu(),
            Want::Wgpu => true,
            Want::Vulkan => a.api == Api::Vulkan,
        })
        .cloned()
        .collect();
    // Stable: equal keys keep the APIs' own listing order.
    list.sort_by_key(|a| (a.kind, a.api));
    list
}

/// Choose an adapter for `want` among `adapters`; `index` is `--device`, `local_rank` the
/// process's rank on its machine (GPU `local_rank mod GPUs` without `--device`).
pub fn choose(
    adapters: &[Adapter],
    want: Want,
    index: Option<usize>,
    local_rank: usize,
) -> Result<Pick, String> {
    let list = candidates(adapters, want);
    let gpus = list.iter().filter(|a| a.kind.is_gpu()).count();
    let mut software: Vec<&str> =
        adapters.iter().filter(|a| !a.kind.is_gpu()).map(|a| a.name.as_str()).collect();
    software.dedup(); // the same rasteriser listed by Vulkan and OpenGL
    let skipped = if software.is_empty() {
        String::new()
    } else {
        format!("; software adapter(s) left out: {}", software.join(", "))
    };
    let pick = |position: usize, reason: String| Pick::Adapter {
        adapter: list[position].clone(),
        position,
        of: list.len(),
        reason,
    };
    if let Some(i) = index {
        return if i < list.len() {
            Ok(pick(i, format!("--device {i}")))
        } else {
            Err(format!("--device {i} does not exist: {} adapter(s) can serve this backend", list.len()))
        };
    }
    if gpus > 0 {
        let i = local_rank % gpus;
        let reason = match (want, gpus) {
            (Want::AnyGpu, 1) => format!("auto: the only GPU{skipped}"),
            (Want::AnyGpu, _) => format!("auto: GPU {i} of {gpus} (local rank {local_rank}){skipped}"),
            (_, 1) => "the only GPU".to_string(),
            _ => format!("GPU {i} of {gpus} (local rank {local_rank})"),
        };
        return Ok(pick(i, reason));
    }
    match (want, list.is_empty()) {
        (Want::AnyGpu, _) => {
            let why = if software.is_empty() {
                "auto: no GPU adapter found".to_string()
            } else {
                format!(
                    "auto: no GPU adapter found (software adapter {} is slower than the CPU backend)",
                    software.join(", ")
                )
            };
            Ok(Pick::Cpu { reason: why })
        }
        (_, false) => Ok(pick(0, "no GPU found: a software adapter, far slower than --backend flex".into())),
        (_, true) => Err("no adapter found".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adapter(name: &str, kind: AdapterKind, api: Api, kind_index: usize) -> Adapter {
        Adapter { name: name.into(), kind, api, kind_index, driver: String::new(), memory: None }
    }

    fn lavapipe() -> Adapter {
        adapter("llvmpipe (LLVM 15.0.6, 256 bits)", AdapterKind::Software, Api::Vulkan, 0)
    }

    fn chosen(p: Pick) -> String {
        match p {
            Pick::Adapter { adapter, .. } => adapter.name,
            Pick::Cpu { .. } => "cpu".into(),
        }
    }

    #[test]
    fn auto_never_takes_a_software_adapter() {
        // The machine of issue 17: no GPU, Mesa's Vulkan drivers installed.
        let only_software = [lavapipe()];
        let pick = choose(&only_software, Want::AnyGpu, None, 0).unwrap();
        match &pick {
            Pick::Cpu { reason } => assert!(reason.contains("llvmpipe"), "{reason}"),
            other => panic!("auto took {other:?}"),
        }
        // With --device 0, auto still refuses the software adapter.
        assert!(choose(&only_software, Want::AnyGpu, Some(0), 0).is_err());
        // Explicit backends may use it, and say so.
        for want in [Want::Wgpu, Want::Vulkan] {
            let Pick::Adapter { adapter, reason, .. } = choose(&only_software, want, None, 0).unwrap() else {
                panic!("{want:?} found nothing")
            };
            assert_eq!(adapter.kind, AdapterKind::Software);
            assert!(reason.contains("software"), "{reason}");
        }
        assert!(choose(&[], Want::Vulkan, None, 0).is_err());
        assert_eq!(chosen(choose(&[], Want::AnyGpu, None, 0).unwrap()), "cpu");
    }

    #[test]
    fn gpus_come_before_software_and_discrete_before_integrated() {
        // Listed as a driver might: software first, integrated before discrete, and the same
        // discrete card again on OpenGL.
        let list = [
            lavapipe(),
            adapter("Intel UHD 770", AdapterKind::Integrated, Api::Vulkan, 0),
            adapter("NVIDIA H200", AdapterKind::Discrete, Api::Vulkan, 0),
            adapter("NVIDIA H200/PCIe/SSE2", AdapterKind::Discrete, Api::Gl, 0),
        ];
        let names: Vec<String> = candidates(&list, Want::Wgpu).into_iter().map(|a| a.name).collect();
        assert_eq!(names, ["NVIDIA H200", "NVIDIA H200/PCIe/SSE2", "Intel UHD 770", &lavapipe().name]);
        let vulkan: Vec<String> = candidates(&list, Want::Vulkan).into_iter().map(|a| a.name).collect();
        assert_eq!(vulkan, ["NVIDIA H200", "Intel UHD 770", &lavapipe().name]);
        let auto = candidates(&list, Want::AnyGpu);
        assert!(auto.iter().all(|a| a.kind.is_gpu()));
        assert_eq!(chosen(choose(&list, Want::AnyGpu, None, 0).unwrap()), "NVIDIA H200");
        // --device counts in the ordered list.
        assert_eq!(chosen(choose(&list, Want::Vulkan, Some(1), 0).unwrap()), "Intel UHD 770");
        assert_eq!(chosen(choose(&list, Want::Vulkan, Some(2), 0).unwrap()), lavapipe().name);
        assert!(choose(&list, Want::Vulkan, Some(3), 0).is_err());
    }

    #[test]
    fn local_ranks_spread_over_the_gpus_only() {
        let list = [
            adapter("GPU a", AdapterKind::Discrete, Api::Vulkan, 0),
            lavapipe(),
            adapter("GPU b", AdapterKind::Discrete, Api::Vulkan, 1),
        ];
        let names: Vec<String> =
            (0..4).map(|r| chosen(choose(&list, Want::Vulkan, None, r).unwrap())).collect();
        assert_eq!(names, ["GPU a", "GPU b", "GPU a", "GPU b"]);
        let Pick::Adapter { reason, .. } = choose(&list, Want::AnyGpu, None, 3).unwrap() else { panic!() };
        assert!(reason.contains("GPU 1 of 2") && reason.contains("llvmpipe"), "{reason}");
    }

    #[test]
    fn descriptions_name_type_api_memory_and_driver() {
        let mut a = adapter("NVIDIA H200", AdapterKind::Discrete, Api::Vulkan, 0);
        a.memory = Some(143_771_000_832);
        a.driver = "NVIDIA 550.54.15".into();
        assert_eq!(a.describe(), "NVIDIA H200 (discrete GPU, Vulkan, 133.9 GiB, driver NVIDIA 550.54.15)");
        assert_eq!(lavapipe().describe(), "llvmpipe (LLVM 15.0.6, 256 bits) (software (CPU), Vulkan)");
    }
}
