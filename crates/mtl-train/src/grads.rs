//! Gradient plumbing: flatten selected parameters' gradients into one vector and back, and
//! clip the global gradient norm (Burn's own clipping works per tensor).

use std::collections::HashSet;

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};

use crate::parallel::World;

struct Flatten<'a> {
    grads: &'a GradientsParams,
    ids: &'a HashSet<ParamId>,
    device: &'a Device,
    out: Vec<Tensor<1>>,
}

impl ModuleVisitor for Flatten<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if !self.ids.contains(&param.id) {
            return;
        }
        let n = param.lazy_shape().num_elements();
        self.out.push(
            self.grads
                .get::<D>(param.id)
                .map(|g| g.reshape([n]))
                .unwrap_or_else(|| Tensor::zeros([n], self.device)),
        );
    }
}

/// The gradients of the parameters `ids` of `module`, concatenated in traversal order (a
/// missing gradient counts as zeros). Shape `[P]`.
pub fn flatten<M: Module>(
    module: &M,
    grads: &GradientsParams,
    ids: &HashSet<ParamId>,
    device: &Device,
) -> Tensor<1> {
    let mut v = Flatten { grads, ids, device, out: Vec::new() };
    module.visit(&mut v);
    Tensor::cat(v.out, 0)
}

struct Unflatten<'a> {
    flat: Tensor<1>,
    offset: usize,
    ids: &'a HashSet<ParamId>,
    out: &'a mut GradientsParams,
}

impl ModuleVisitor for Unflatten<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if !self.ids.contains(&param.id) {
            return;
        }
        let dims: [usize; D] = param.lazy_shape().dims::<D>();
        let n: usize = dims.iter().product();
        let g = self.flat.clone().narrow(0, self.offset, n).reshape(dims);
        self.offset += n;
        self.out.register::<D>(param.id, g);
    }
}

/// Write `flat` (laid out as by [`flatten`]) into `out` as the gradients of `ids`.
pub fn unflatten<M: Module>(module: &M, flat: Tensor<1>, ids: &HashSet<ParamId>, out: &mut GradientsParams) {
    let mut v = Unflatten { flat, offset: 0, ids, out };
    module.visit(&mut v);
}

struct Present<'a> {
    grads: &'a GradientsParams,
    ids: HashSet<ParamId>,
}

impl ModuleVisitor for Present<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if self.grads.get::<D>(param.id).is_some() {
            self.ids.insert(param.id);
        }
    }
}

/// The ids of `module`'s parameters that have a gradient in `grads`.
pub fn present_ids<M: Module>(module: &M, grads: &GradientsParams) -> HashSet<ParamId> {
    let mut present = Present { grads, ids: HashSet::new() };
    module.visit(&mut present);
    present.ids
}

/// Sum the gradients of `module`'s parameters in `grads` over the ranks of `world`, in place:
/// one flat buffer, one collective (nothing for one process); `device` is the gradients' (inner)
/// device. Every rank must hold gradients
/// for the same parameters, as ranks that run the same step do. Gradients of parameters
/// outside `module` (the weighting method's, computed from reduced values and so already equal
/// on every rank) are left alone.
pub fn sum_over_ranks<M: Module>(module: &M, grads: &mut GradientsParams, world: &World, device: &Device) {
    if !world.is_parallel() {
        return;
    }
    let ids = present_ids(module, grads);
    if ids.is_empty() {
        return;
    }
    let mut host = host_f32(flatten(module, grads, &ids, device));
    world.sum(&mut host);
    let n = host.len();
    unflatten(module, Tensor::from_data(TensorData::new(host, [n]), device), &ids, grads);
}

/// A tensor's values on the host, as f32.
pub fn host_f32<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    mtl_weighting::host::read_f32(t)
}

struct SquaredNorm<'a> {
    grads: &'a GradientsParams,
    total: Option<Tensor<1>>,
}

impl ModuleVisitor for SquaredNorm<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            let s = g.square().sum();
            self.total = Some(match self.total.take() {
                Some(t) => t + s,
                None => s,
            });
        }
    }
}

struct Scale<'a> {
    grads: &'a mut GradientsParams,
    factor: Tensor<1>,
}

impl ModuleVisitor for Scale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.remove::<D>(param.id) {
            let f = self.factor.clone().reshape([1; D]);
            self.grads.register::<D>(param.id, g * f);
        }
    }
}

/// Global L2 norm of all gradients of `module`'s parameters. Shape `[1]`, on the device.
pub fn global_norm<M: Module>(module: &M, grads: &GradientsParams) -> Option<Tensor<1>> {
    let mut v = SquaredNorm { grads, total: None };
    module.visit(&mut v);
    v.total.map(|t| t.sqrt())
}

/// Scale every gradient by min(1, max_norm / (‖g‖ + 1e-6)), as PyTorch's
/// `clip_grad_norm_`. Stays on the device: no host sync.
pub fn clip_global_norm<M: Module>(module: &M, grads: &mut GradientsParams, max_norm: f64) {
    let Some(norm) = global_norm(module, grads) else { return };
    let factor = norm.add_scalar(1e-6).recip().mul_scalar(max_norm).clamp_max(1.0);
    module.visit(&mut Scale { grads, factor });
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::LinearConfig;
    use burn::tensor::Tolerance;
    use mtl_model::param_ids;

    #[test]
    fn flatten_then_unflatten_round_trips_and_clipping_hits_the_norm() {
        let device = Device::ndarray();
        let layer = LinearConfig::new(2, 3).init(&device); // weight [2, 3], bias [3]
        let ids: Vec<ParamId> = param_ids(&layer);
        let set: HashSet<ParamId> = ids.iter().copied().collect();
        let flat = Tensor::<1>::from_floats([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0], &device);
        let mut grads = GradientsParams::new();
        unflatten(&layer, flat.clone(), &set, &mut grads);
        assert_eq!(grads.get::<2>(layer.weight.id).unwrap().dims(), [2, 3]);
        let back = flatten(&layer, &grads, &set, &device);
        back.into_data().assert_eq(&flat.clone().into_data(), true);

        // ‖(1..9)‖ = √285; clip to 1.
        let norm = global_norm(&layer, &grads).unwrap();
        norm.into_data().assert_approx_eq::<f32>(
            &Tensor::<1>::from_floats([285f32.sqrt()], &device).into_data(),
            Tolerance::default(),
        );
        clip_global_norm(&layer, &mut grads, 1.0);
        let clipped = global_norm(&layer, &grads).unwrap();
        clipped.into_data().assert_approx_eq::<f32>(
            &Tensor::<1>::from_floats([1.0], &device).into_data(),
            Tolerance::default(),
        );
        // Below the threshold nothing changes.
        clip_global_norm(&layer, &mut grads, 10.0);
        let same = flatten(&layer, &grads, &set, &device);
        let want = flat.div_scalar(285f32.sqrt() + 1e-6);
        same.into_data().assert_approx_eq::<f32>(&want.into_data(), Tolerance::default());
    }
}
