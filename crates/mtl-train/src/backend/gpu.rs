//! wgpu's side of the backend module (`--features wgpu` / `gpu`): the adapters each graphics
//! API lists, and opening one as a Burn device.

use burn::tensor::wgpu::{WgpuBackend, WgpuInitError, wgpu};
use burn::tensor::{Device, DeviceKind};
use burn_dispatch::DispatchDevice;

use super::adapters::{Adapter, AdapterKind, Api, Want};

/// Which APIs `want` looks at, best first.
fn apis(want: Want) -> &'static [Api] {
    match want {
        Want::Vulkan => &[Api::Vulkan],
        Want::AnyGpu | Want::Wgpu => &Api::ALL,
    }
}

fn wgpu_api(api: Api) -> wgpu::Backend {
    match api {
        Api::Vulkan => wgpu::Backend::Vulkan,
        Api::Metal => wgpu::Backend::Metal,
        Api::Dx12 => wgpu::Backend::Dx12,
        Api::Gl => wgpu::Backend::Gl,
    }
}

fn burn_api(api: Api) -> WgpuBackend {
    match api {
        Api::Vulkan => WgpuBackend::Vulkan,
        Api::Metal => WgpuBackend::Metal,
        Api::Dx12 => WgpuBackend::Dx12,
        Api::Gl => WgpuBackend::Gl,
    }
}

/// Every adapter of the APIs `want` looks at. An API is asked only while no earlier one has
/// shown a real GPU, as Burn's own `Auto` does (OpenGL is asked where Vulkan has only a
/// software rasteriser, as in a VM that hands its GPU through OpenGL alone).
pub(super) fn adapters(want: Want) -> Vec<Adapter> {
    let mut all = Vec::new();
    for &api in apis(want) {
        if all.iter().any(|a: &Adapter| a.kind.is_gpu()) {
            break;
        }
        all.extend(probe(api));
    }
    all
}

/// The adapters `api` lists, through an instance limited to it (the same listing, in the same
/// order, that Burn's cubecl-wgpu counts its `DiscreteGpu(i)` and friends in).
fn probe(api: Api) -> Vec<Adapter> {
    let backend = wgpu_api(api);
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends: backend.into(),
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    });
    let infos: Vec<wgpu::AdapterInfo> =
        futures_lite::future::block_on(instance.enumerate_adapters(backend.into()))
            .iter()
            .map(wgpu::Adapter::get_info)
            .collect();
    let mut seen: Vec<AdapterKind> = Vec::new();
    infos
        .into_iter()
        .map(|info| {
            let kind = match info.device_type {
                wgpu::DeviceType::DiscreteGpu => AdapterKind::Discrete,
                wgpu::DeviceType::IntegratedGpu => AdapterKind::Integrated,
                wgpu::DeviceType::VirtualGpu => AdapterKind::Virtual,
                wgpu::DeviceType::Other => AdapterKind::Other,
                wgpu::DeviceType::Cpu => AdapterKind::Software,
            };
            let kind_index = seen.iter().filter(|k| **k == kind).count();
            seen.push(kind);
            let driver = [info.driver.as_str(), info.driver_info.as_str()]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(" ");
            Adapter { name: info.name, kind, api, kind_index, driver, memory: None }
        })
        .collect()
}

fn device_kind(adapter: &Adapter) -> DeviceKind {
    match adapter.kind {
        AdapterKind::Discrete => DeviceKind::DiscreteGpu(adapter.kind_index),
        AdapterKind::Integrated => DeviceKind::IntegratedGpu(adapter.kind_index),
        AdapterKind::Virtual => DeviceKind::VirtualGpu(adapter.kind_index),
        AdapterKind::Software => DeviceKind::Cpu,
        // Burn names no device of this kind: the API's default adapter is the one there is.
        AdapterKind::Other => DeviceKind::DefaultDevice,
    }
}

/// The Burn device of `adapter`, without opening it.
fn lazy_device(adapter: &Adapter) -> Device {
    let kind = match device_kind(adapter) {
        DeviceKind::DiscreteGpu(i) => burn_dispatch::devices::WgpuDeviceKind::DiscreteGpu(i),
        DeviceKind::IntegratedGpu(i) => burn_dispatch::devices::WgpuDeviceKind::IntegratedGpu(i),
        DeviceKind::VirtualGpu(i) => burn_dispatch::devices::WgpuDeviceKind::VirtualGpu(i),
        DeviceKind::Cpu => burn_dispatch::devices::WgpuDeviceKind::Cpu,
        _ => burn_dispatch::devices::WgpuDeviceKind::DefaultDevice,
    };
    Device::new(burn_dispatch::devices::WgpuDevice::new(kind).on(burn_api(adapter.api)))
}

/// Open `adapter`: the device, its runtime's name (`wgpu<spirv>`, `wgpu<wgsl>`) and its memory.
/// Opening returns an error where the driver refuses the device, instead of a panic at the
/// first tensor.
pub(super) fn open(adapter: &Adapter) -> Result<(Device, &'static str, Option<u64>), String> {
    let opened =
        Device::wgpu_options().device_kind(device_kind(adapter)).graphics_api(burn_api(adapter.api)).init();
    let device = match opened {
        Ok(device) => device,
        // Opened before in this process (a test, `mtl devices`): the registered one serves.
        Err(WgpuInitError::Registration { .. }) => lazy_device(adapter),
        Err(e) => return Err(e.to_string()),
    };
    let (runtime, memory) = runtime_of(&device);
    Ok((device, runtime, memory))
}

/// The memory of `adapter`, opening it (for `mtl devices`).
pub(super) fn memory_of(adapter: &Adapter) -> Option<u64> {
    open(adapter).ok().and_then(|(_, _, memory)| memory)
}

fn runtime_of(device: &Device) -> (&'static str, Option<u64>) {
    match device.as_dispatch() {
        DispatchDevice::Cube(cube) => {
            let client = cube.client();
            (client.name(), client.properties().memory.max_memory())
        }
        _ => ("wgpu", None),
    }
}
