//! The one place where a `--backend` choice becomes a Burn [`Device`]: the backend features,
//! the adapter lists and the rule that picks one (`adapters`), and every line that names a
//! Burn backend. Burn 0.23 drops ndarray; CUDA joins here the day Burn's CUDA crates build
//! offline (in 0.22.1 `cubecl-cuda` needs `cubecl-llvm`, whose build script downloads LLVM).

pub mod adapters;
#[cfg(feature = "wgpu")]
mod gpu;

use burn::tensor::Device;

use crate::error::Error;
pub use adapters::{Adapter, AdapterKind, Api};
use adapters::{Pick, Want};

/// Backends a user may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum BackendChoice {
    /// A real GPU (never a software rasteriser) through wgpu, Vulkan first; else flex.
    #[default]
    Auto,
    /// A GPU through wgpu on Vulkan, with Burn's SPIR-V compiler (build with `--features gpu`).
    Vulkan,
    /// A GPU through wgpu on any graphics API (Vulkan, Metal, DX12, OpenGL). Its shaders are
    /// SPIR-V on Vulkan in a `--features gpu` build, WGSL in a `--features wgpu` one.
    Wgpu,
    /// Burn's pure-Rust CPU backend.
    Flex,
    /// burn-ndarray, the reference CPU backend of the tests.
    Ndarray,
}

/// A chosen device plus a description for logs.
#[derive(Debug, Clone)]
pub struct SelectedDevice {
    /// The device, without autodiff (call `.autodiff()` to train).
    pub device: Device,
    /// The backend actually used (`auto` resolved).
    pub backend: BackendChoice,
    /// Human-readable description: the device, and why it was chosen.
    pub description: String,
    /// Device memory in bytes, where the backend reports it (GPUs); `None` on the CPU.
    pub memory: Option<u64>,
}

impl SelectedDevice {
    /// `true` on the CPU backends (flex, ndarray).
    pub fn is_cpu(&self) -> bool {
        matches!(self.backend, BackendChoice::Flex | BackendChoice::Ndarray)
    }
}

/// Turn `choice` and `--device index` into a device.
pub fn select_device(choice: BackendChoice, index: Option<usize>) -> Result<SelectedDevice, Error> {
    select_device_for(choice, index, 0)
}

/// [`select_device`] for the process of local rank `local_rank` (its rank among a job's
/// processes on this machine): without `--device`, a GPU backend takes GPU `local_rank` modulo
/// the GPUs found, so one machine with G GPUs runs G processes, one per GPU.
pub fn select_device_for(
    choice: BackendChoice,
    index: Option<usize>,
    local_rank: usize,
) -> Result<SelectedDevice, Error> {
    let want = match choice {
        BackendChoice::Flex | BackendChoice::Ndarray if index.unwrap_or(0) != 0 => {
            return Err(no_such_device(
                choice,
                index.unwrap_or(0),
                "a CPU backend has one device, --device 0 (or leave --device out)",
            ));
        }
        BackendChoice::Flex | BackendChoice::Ndarray => return Ok(cpu(choice, None)),
        BackendChoice::Auto => Want::AnyGpu,
        BackendChoice::Wgpu => Want::Wgpu,
        BackendChoice::Vulkan => Want::Vulkan,
    };
    if let Some(missing) = not_compiled(choice) {
        return Err(Error::Backend(missing));
    }
    let listed = list_adapters(want);
    // `auto --device 0` on a machine without a GPU is the CPU's one device.
    let no_gpu = adapters::candidates(&listed, Want::AnyGpu).is_empty();
    let index = index.filter(|&i| !(want == Want::AnyGpu && no_gpu && i == 0));
    match adapters::choose(&listed, want, index, local_rank) {
        Ok(Pick::Cpu { reason }) => {
            let reason = match cfg!(feature = "wgpu") {
                true => reason,
                false => "auto: this build has no GPU backend (build with --features gpu)".into(),
            };
            Ok(cpu(BackendChoice::Flex, Some(reason)))
        }
        Ok(Pick::Adapter { adapter, position, of, reason }) => open(choice, &adapter, position, of, &reason),
        Err(why) => Err(no_adapter(choice, index, &why)),
    }
}

/// Why `choice` cannot run in this build, if it cannot.
fn not_compiled(choice: BackendChoice) -> Option<String> {
    let rebuild = "rebuild with `cargo build --release --features gpu`, or use --backend flex";
    match choice {
        BackendChoice::Vulkan if !cfg!(feature = "vulkan") => Some(format!(
            "--backend vulkan: this mtl was built without the Vulkan (SPIR-V) backend; {rebuild}"
        )),
        BackendChoice::Wgpu if !cfg!(feature = "wgpu") => {
            Some(format!("--backend wgpu: this mtl was built without GPU backends; {rebuild}"))
        }
        _ => None,
    }
}

/// No adapter serves `choice`: say why, what was found, and what to do.
fn no_adapter(choice: BackendChoice, index: Option<usize>, why: &str) -> Error {
    let found: String = list_devices().iter().map(|l| format!("\n  {l}")).collect();
    let fix = if index.is_some() {
        "pick one of the devices below, or leave --device out"
    } else {
        "install the GPU's Vulkan driver (NVIDIA: the driver's Vulkan ICD; AMD/Intel: \
         mesa-vulkan-drivers), or use --backend flex"
    };
    Error::Backend(format!("--backend {}: {why}; {fix}. Devices found:{found}", name(choice)))
}

/// `--device index` names no device of `choice`: say why, and list the devices found.
fn no_such_device(choice: BackendChoice, index: usize, why: &str) -> Error {
    let found: String = list_devices().iter().map(|l| format!("\n  {l}")).collect();
    Error::Backend(format!(
        "--device {index} does not exist for --backend {}: {why}. Devices found:{found}",
        name(choice)
    ))
}

fn name(choice: BackendChoice) -> &'static str {
    match choice {
        BackendChoice::Auto => "auto",
        BackendChoice::Vulkan => "vulkan",
        BackendChoice::Wgpu => "wgpu",
        BackendChoice::Flex => "flex",
        BackendChoice::Ndarray => "ndarray",
    }
}

#[allow(deprecated)] // burn-ndarray is deprecated upstream; it stays our reference backend.
fn cpu(backend: BackendChoice, reason: Option<String>) -> SelectedDevice {
    let (device, what) = match backend {
        BackendChoice::Ndarray => (Device::ndarray(), "ndarray (CPU)"),
        _ => (Device::flex(), "flex (CPU)"),
    };
    let description = match reason {
        Some(reason) => format!("{what} — {reason}"),
        None => what.to_string(),
    };
    SelectedDevice { device, backend, description, memory: None }
}

/// `true` when `device` (with or without autodiff) is one of the CPU backends' devices.
#[allow(deprecated)] // burn-ndarray is deprecated upstream; it stays our reference backend.
pub fn is_cpu_device(device: &Device) -> bool {
    let inner = device.clone().inner();
    inner == Device::flex() || inner == Device::ndarray()
}

/// The device of a generator that does not depend on the training backend: initial parameters
/// are drawn here (seeded) and then moved to the training device, so every backend starts from
/// the same numbers.
pub fn host_generator() -> Device {
    Device::flex()
}

/// The adapters `--backend choice` can use on this machine, in the order `--device N` counts
/// them (none for the CPU backends, and in a build without GPU backends).
pub fn adapters_for(choice: BackendChoice) -> Vec<Adapter> {
    let want = match choice {
        BackendChoice::Auto => Want::AnyGpu,
        BackendChoice::Wgpu => Want::Wgpu,
        BackendChoice::Vulkan => Want::Vulkan,
        BackendChoice::Flex | BackendChoice::Ndarray => return Vec::new(),
    };
    adapters::candidates(&list_adapters(want), want)
}

/// The adapters `want` could use on this machine (none in a build without GPU backends).
fn list_adapters(want: Want) -> Vec<Adapter> {
    #[cfg(feature = "wgpu")]
    {
        gpu::adapters(want)
    }
    #[cfg(not(feature = "wgpu"))]
    {
        let _ = want;
        Vec::new()
    }
}

/// Open `adapter` for `choice`.
#[cfg(feature = "wgpu")]
fn open(
    choice: BackendChoice,
    adapter: &Adapter,
    position: usize,
    of: usize,
    reason: &str,
) -> Result<SelectedDevice, Error> {
    let (device, runtime, memory) = gpu::open(adapter).map_err(|e| {
        Error::Backend(format!("--backend {}: could not open {}: {e}", name(choice), adapter.name))
    })?;
    let backend = if adapter.api == Api::Vulkan { BackendChoice::Vulkan } else { BackendChoice::Wgpu };
    let adapter = Adapter { memory, ..adapter.clone() };
    Ok(SelectedDevice {
        description: format!("{runtime} device {position} of {of}: {} — {reason}", adapter.describe()),
        device,
        backend,
        memory,
    })
}

#[cfg(not(feature = "wgpu"))]
fn open(choice: BackendChoice, _: &Adapter, _: usize, _: usize, _: &str) -> Result<SelectedDevice, Error> {
    Err(Error::Backend(not_compiled(choice).unwrap_or_else(|| "no GPU backend in this build".into())))
}

/// Lines describing every backend and device this build can use.
pub fn list_devices() -> Vec<String> {
    let mut lines = Vec::new();
    #[cfg(feature = "wgpu")]
    {
        let compiler = if cfg!(feature = "vulkan") { "SPIR-V on Vulkan, WGSL elsewhere" } else { "WGSL" };
        let all = adapters_for(BackendChoice::Wgpu);
        if all.is_empty() {
            lines.push(format!(
                "wgpu     ({compiler}) no adapter found: no Vulkan/OpenGL driver is installed"
            ));
        } else {
            lines.push(format!("wgpu     ({compiler}) --device counts in this order:"));
        }
        let vulkan = adapters::candidates(&all, Want::Vulkan);
        for (i, a) in all.iter().enumerate() {
            let v = vulkan
                .iter()
                .position(|b| b == a)
                .map(|j| format!(" (vulkan --device {j})"))
                .unwrap_or_default();
            let memory = match a.memory {
                Some(_) => a.clone(),
                None => Adapter { memory: gpu::memory_of(a), ..a.clone() },
            };
            lines.push(format!("  --device {i}{v}  {}", memory.describe()));
        }
    }
    #[cfg(not(feature = "wgpu"))]
    lines.push("wgpu     not compiled in (build with --features gpu)".into());
    lines.push("flex     CPU (pure Rust, multi-threaded)".into());
    lines.push("ndarray  CPU (reference backend of the tests)".into());
    let auto =
        select_device(BackendChoice::Auto, None).map(|d| d.description).unwrap_or_else(|e| e.to_string());
    lines.push(format!("auto     → {auto}"));
    lines
}
