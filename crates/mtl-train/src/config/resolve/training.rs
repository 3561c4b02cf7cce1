//! `[train]` (optimizer, schedule, early stopping, monitor) and `[affinity]`.

use super::{AffinityPlan, Monitor, OptimizerConfig, TaskConfig, TrainConfig};
use crate::config::ConfigError;
use crate::config::check::Check;
use crate::config::schema::{AffinitySection, OptimizerName, ScheduleName, ScheduleSection, TrainSection};
use crate::metrics::MetricKind;
use crate::schedule::ScheduleKind;

/// `[train]`, given the trained tasks (for a `TASK.METRIC` monitor) and whether one task is
/// trained alone (which has no baselines to compare with).
pub(super) fn resolve_train(
    check: Check,
    t: &TrainSection,
    tasks: &[TaskConfig],
    single: bool,
) -> Result<TrainConfig, ConfigError> {
    check.ensure(t.epochs > 0, "train.epochs", || "train for at least 1 epoch".into())?;
    check.ensure(t.batch_size > 0, "train.batch_size", || "use a batch size of at least 1".into())?;
    check.positive("train.lr", t.lr, "learning rate")?;
    if let Some(parts) = t.parts {
        check.ensure(parts >= 1 && parts <= t.batch_size, "train.parts", || {
            format!("use between 1 and train.batch_size ({}) parts, or remove the key", t.batch_size)
        })?;
    }
    let optimizer = resolve_optimizer(check, t)?;
    if let Some(c) = t.clip_grad_norm {
        check.ensure(c > 0.0 && c.is_finite(), "train.clip_grad_norm", || {
            "use a positive norm, or remove the key to disable clipping".into()
        })?;
    }
    let monitor =
        resolve_monitor(&t.monitor, tasks, single).map_err(|m| check.invalid("train.monitor", m))?;
    let schedule = resolve_schedule(check, &t.schedule, t.lr)?;
    let es = &t.early_stopping;
    check.ensure(es.patience != Some(0), "train.early_stopping.patience", || {
        "use at least 1 epoch, or remove the key to turn early stopping off".into()
    })?;
    check.non_negative("train.early_stopping.min_delta", es.min_delta)?;
    let select_last = t.select == super::super::schema::SelectName::Last;
    check.ensure(!(select_last && es.patience.is_some()), "train.select", || {
        "\"last\" reports the last epoch, so early stopping (train.early_stopping.patience) cannot pick one; \
         remove one of the two"
            .into()
    })?;
    Ok(TrainConfig {
        epochs: t.epochs,
        batch_size: t.batch_size,
        drop_last: t.drop_last,
        parts: t.parts,
        device_data: t.device_data,
        device_data_budget: t.device_data_budget_mb.map(|mb| mb.saturating_mul(1 << 20)),
        lr: t.lr,
        optimizer,
        clip_grad_norm: t.clip_grad_norm,
        schedule,
        warmup_epochs: t.schedule.warmup_epochs,
        monitor,
        select_last,
        early_stopping: *es,
    })
}

fn resolve_optimizer(check: Check, t: &TrainSection) -> Result<OptimizerConfig, ConfigError> {
    check.non_negative("train.weight_decay", t.weight_decay)?;
    check.unit("train.momentum", t.momentum)?;
    check.ensure(t.momentum == 0.0 || t.optimizer == OptimizerName::Sgd, "train.momentum", || {
        "momentum applies to `optimizer = \"sgd\"` only; remove it".into()
    })?;
    for (i, b) in t.betas.iter().enumerate() {
        check.unit(&format!("train.betas[{i}]"), *b)?;
    }
    check.ensure(t.eps > 0.0 && t.eps.is_finite(), "train.eps", || {
        "use a small positive value such as 1e-8".into()
    })?;
    let (betas, eps, weight_decay) = (t.betas, t.eps, t.weight_decay);
    Ok(match t.optimizer {
        OptimizerName::Adam => OptimizerConfig::Adam { betas, eps, weight_decay },
        OptimizerName::Adamw => OptimizerConfig::AdamW { betas, eps, weight_decay },
        OptimizerName::Sgd => OptimizerConfig::Sgd { momentum: t.momentum, weight_decay },
    })
}

fn resolve_schedule(check: Check, sc: &ScheduleSection, lr: f64) -> Result<ScheduleKind, ConfigError> {
    check.ensure(
        sc.warmup_epochs >= 0.0 && sc.warmup_epochs.is_finite(),
        "train.schedule.warmup_epochs",
        || "use a number of epochs ≥ 0".into(),
    )?;
    check.ensure(sc.min_lr >= 0.0 && sc.min_lr <= lr, "train.schedule.min_lr", || {
        format!("{} must lie in [0, train.lr = {lr}]", sc.min_lr)
    })?;
    Ok(match sc.kind {
        ScheduleName::Constant => ScheduleKind::Constant,
        ScheduleName::Step => {
            check
                .ensure(sc.step_epochs > 0, "train.schedule.step_epochs", || "use at least 1 epoch".into())?;
            check.positive("train.schedule.gamma", sc.gamma, "factor")?;
            ScheduleKind::Step { every: sc.step_epochs, gamma: sc.gamma }
        }
        ScheduleName::Cosine => ScheduleKind::Cosine { min_lr: sc.min_lr },
        ScheduleName::Plateau => {
            check.ensure(sc.factor > 0.0 && sc.factor < 1.0, "train.schedule.factor", || {
                format!("{} is not in (0, 1)", sc.factor)
            })?;
            check.non_negative("train.schedule.threshold", sc.threshold)?;
            ScheduleKind::Plateau {
                factor: sc.factor,
                patience: sc.patience,
                threshold: sc.threshold,
                min_lr: sc.min_lr,
            }
        }
    })
}

/// `train.monitor`: `auto`, `loss`, `delta_p`, `delta_m` or `TASK.METRIC`.
pub(super) fn resolve_monitor(text: &str, tasks: &[TaskConfig], single: bool) -> Result<Monitor, String> {
    let relative = |m: Monitor| {
        if single {
            Err(format!(
                "`{text}` compares with single-task baselines, which a single-task run cannot; use \"loss\" or \"TASK.METRIC\""
            ))
        } else {
            Ok(m)
        }
    };
    match text {
        "auto" => Ok(Monitor::Auto),
        "loss" => Ok(Monitor::Loss),
        "delta_p" => relative(Monitor::DeltaP),
        "delta_m" => relative(Monitor::DeltaM),
        _ => {
            let allowed = || {
                let mut names = vec!["auto".to_string(), "loss".into(), "delta_p".into(), "delta_m".into()];
                for t in tasks {
                    names.extend(t.metrics.iter().map(|m| format!("{}.{}", t.spec.name, m.name())));
                }
                names.join(", ")
            };
            let Some((task, metric)) = text.rsplit_once('.') else {
                return Err(format!("`{text}` is not a monitor; use one of {}", allowed()));
            };
            let Some(t) = tasks.iter().position(|t| t.spec.name == task) else {
                return Err(format!("no trained task is named `{task}`; use one of {}", allowed()));
            };
            match MetricKind::from_name(metric) {
                Some(m) if tasks[t].metrics.contains(&m) => Ok(Monitor::Metric { task: t, metric: m }),
                _ => Err(format!("task `{task}` reports no metric `{metric}`; use one of {}", allowed())),
            }
        }
    }
}

/// `[affinity]`: measure every `every` steps (the first `steps` only, when given) with
/// look-ahead rate `lookahead_lr` (default `train.lr`); `None` when off.
pub(super) fn resolve_affinity(
    check: Check,
    a: &AffinitySection,
    lr: f64,
    trained_tasks: usize,
) -> Result<Option<AffinityPlan>, ConfigError> {
    let lookahead_lr = a.lookahead_lr.unwrap_or(lr);
    check.ensure(lookahead_lr > 0.0 && lookahead_lr.is_finite(), "affinity.lookahead_lr", || {
        format!("{lookahead_lr}; use a rate above 0")
    })?;
    check.ensure(a.every == 0 || trained_tasks >= 2, "affinity.every", || {
        "task affinity needs at least two trained tasks".into()
    })?;
    check.ensure(a.steps != Some(0), "affinity.steps", || {
        "0 would measure nothing; use at least 1, or leave it out to measure the whole run".into()
    })?;
    Ok((a.every > 0).then_some(AffinityPlan { every: a.every, lookahead_lr, until: a.steps }))
}
