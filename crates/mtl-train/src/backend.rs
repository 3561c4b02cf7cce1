//! The one place where a `--backend` choice becomes a Burn [`Device`].

use burn::tensor::Device;

use crate::error::Error;

/// Backends a user may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum BackendChoice {
    /// A real GPU through wgpu if one is found, else flex.
    #[default]
    Auto,
    /// GPU through wgpu (Vulkan, Metal, DX12). Without a GPU adapter, wgpu's default adapter
    /// (such as Mesa's software Vulkan driver) is used.
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
    /// Human-readable description.
    pub description: String,
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
    match choice {
        BackendChoice::Flex | BackendChoice::Ndarray if index.unwrap_or(0) != 0 => Err(no_such_device(
            choice,
            index.unwrap_or(0),
            "a CPU backend has one device, --device 0 (or leave --device out)",
        )),
        BackendChoice::Flex => Ok(cpu(BackendChoice::Flex)),
        BackendChoice::Ndarray => Ok(cpu(BackendChoice::Ndarray)),
        BackendChoice::Wgpu => wgpu(index, true, local_rank),
        BackendChoice::Auto => match wgpu(index, false, local_rank) {
            Ok(d) => Ok(d),
            Err(e) if index.is_some() => Err(e),
            Err(_) => Ok(cpu(BackendChoice::Flex)),
        },
    }
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
        BackendChoice::Wgpu => "wgpu",
        BackendChoice::Flex => "flex",
        BackendChoice::Ndarray => "ndarray",
    }
}

#[allow(deprecated)] // burn-ndarray is deprecated upstream; it stays our reference backend.
fn cpu(backend: BackendChoice) -> SelectedDevice {
    let (device, description) = match backend {
        BackendChoice::Ndarray => (Device::ndarray(), "ndarray (CPU)".to_string()),
        _ => (Device::flex(), "flex (CPU)".to_string()),
    };
    SelectedDevice { device, backend, description }
}

#[cfg(feature = "wgpu")]
fn wgpu(index: Option<usize>, fallback_to_default: bool, local_rank: usize) -> Result<SelectedDevice, Error> {
    use burn::tensor::{DeviceKind, DeviceType};
    // `enumerate` lists real adapters only: software rasterisers are left out on purpose.
    let gpus = Device::enumerate(DeviceType::Wgpu).into_vec();
    let i = index.unwrap_or(if gpus.is_empty() { 0 } else { local_rank % gpus.len() });
    if let Some(device) = gpus.get(i) {
        return Ok(SelectedDevice {
            description: format!("wgpu GPU {i} of {} ({device:?})", gpus.len()),
            device: device.clone(),
            backend: BackendChoice::Wgpu,
        });
    }
    if gpus.is_empty() && index.is_none() && fallback_to_default {
        return Ok(SelectedDevice {
            device: Device::wgpu(DeviceKind::DefaultDevice),
            backend: BackendChoice::Wgpu,
            description: "wgpu default adapter (no GPU found: may be a software driver)".into(),
        });
    }
    let choice = if fallback_to_default { BackendChoice::Wgpu } else { BackendChoice::Auto };
    Err(no_such_device(choice, i, &format!("wgpu found {} GPU adapter(s)", gpus.len())))
}

#[cfg(not(feature = "wgpu"))]
fn wgpu(index: Option<usize>, fallback: bool, _local_rank: usize) -> Result<SelectedDevice, Error> {
    match index {
        // `auto` with a device index looks for that GPU, and this build has none.
        Some(i) if !fallback && i != 0 => Err(no_such_device(
            BackendChoice::Auto,
            i,
            "this mtl was built without GPU backends, so only the CPU's --device 0 exists",
        )),
        Some(0) if !fallback => Ok(cpu(BackendChoice::Flex)),
        _ => Err(Error::Backend(
            "this mtl was built without the wgpu backend; rebuild with `--features wgpu` or use --backend flex"
                .into(),
        )),
    }
}

/// Lines describing every backend and device this build can use.
pub fn list_devices() -> Vec<String> {
    let mut lines = Vec::new();
    #[cfg(feature = "wgpu")]
    {
        let gpus = Device::enumerate(burn::tensor::DeviceType::Wgpu).into_vec();
        if gpus.is_empty() {
            lines.push("wgpu     no GPU adapter found (--backend wgpu would use a software driver if one is installed)".into());
        }
        for (i, d) in gpus.iter().enumerate() {
            lines.push(format!("wgpu     --device {i}   {d:?}"));
        }
    }
    #[cfg(not(feature = "wgpu"))]
    lines.push("wgpu     not compiled in (build with --features wgpu)".into());
    lines.push("flex     CPU (pure Rust, multi-threaded)".into());
    lines.push("ndarray  CPU (reference backend of the tests)".into());
    let auto =
        select_device(BackendChoice::Auto, None).map(|d| d.description).unwrap_or_else(|e| e.to_string());
    lines.push(format!("auto     → {auto}"));
    lines
}
