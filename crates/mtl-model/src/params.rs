//! Parameter bookkeeping: which parameters a module holds and how many values they have.

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::tensor::Tensor;

struct Collect<'a> {
    only: Option<&'a [ParamId]>,
    ids: Vec<ParamId>,
    count: usize,
}

impl ModuleVisitor for Collect<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if self.only.is_some_and(|only| !only.contains(&param.id)) {
            return;
        }
        self.ids.push(param.id);
        self.count += param.lazy_shape().num_elements();
    }
}

fn collect<'a, M: Module>(module: &M, only: Option<&'a [ParamId]>) -> Collect<'a> {
    let mut c = Collect { only, ids: Vec::new(), count: 0 };
    module.visit(&mut c);
    c
}

/// Ids of the float parameters of `module`, in traversal order (field order, then index).
pub fn param_ids<M: Module>(module: &M) -> Vec<ParamId> {
    collect(module, None).ids
}

/// Number of float parameter values in `module`.
pub fn parameter_count<M: Module>(module: &M) -> usize {
    collect(module, None).count
}

/// Number of float parameter values of `module` among the parameters `ids`.
pub fn parameter_count_of<M: Module>(module: &M, ids: &[ParamId]) -> usize {
    collect(module, Some(ids)).count
}
