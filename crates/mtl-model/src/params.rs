//! Parameter bookkeeping: which parameters a module holds and how many values they have.

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::tensor::Tensor;

struct Collect {
    ids: Vec<ParamId>,
    count: usize,
}

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.ids.push(param.id);
        self.count += param.lazy_shape().num_elements();
    }
}

fn collect<M: Module>(module: &M) -> Collect {
    let mut c = Collect { ids: Vec::new(), count: 0 };
    module.visit(&mut c);
    c
}

/// Ids of the float parameters of `module`, in traversal order (field order, then index).
pub fn param_ids<M: Module>(module: &M) -> Vec<ParamId> {
    collect(module).ids
}

/// Number of float parameter values in `module`.
pub fn parameter_count<M: Module>(module: &M) -> usize {
    collect(module).count
}
