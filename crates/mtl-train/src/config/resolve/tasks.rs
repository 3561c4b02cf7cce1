//! `[[tasks]]`: each task's kind, metrics and class weights; `run.single_task` and `run.tasks`
//! pick the trained ones.

use std::collections::HashSet;

use mtl_data::table::{Preprocessing, TableConfig};
use mtl_data::{TaskKind, TaskSpec};

use super::{ClassWeights, TaskConfig};
use crate::config::ConfigError;
use crate::config::check::Check;
use crate::config::schema::{ClassWeightsValue, FileConfig, TaskKindName, TaskSection};
use crate::metrics::MetricKind;

/// Every task of the config, in order.
pub(super) fn resolve_tasks(
    check: Check,
    file: &FileConfig,
    table: Option<&(TableConfig, Preprocessing)>,
) -> Result<Vec<TaskConfig>, ConfigError> {
    check.ensure(!file.tasks.is_empty(), "tasks", || "add at least one [[tasks]] table".into())?;
    let mut seen = HashSet::new();
    let mut tasks = Vec::with_capacity(file.tasks.len());
    for (i, t) in file.tasks.iter().enumerate() {
        let key = |k: &str| format!("tasks[{i}].{k}");
        check.ensure(!t.name.trim().is_empty(), &key("name"), || "give the task a name".into())?;
        // A task's name names its single-task baseline's folder.
        check.file_name(&key("name"), &t.name, "task name")?;
        check.ensure(seen.insert(t.name.clone()), &key("name"), || {
            format!("`{}` is used twice; task names must be unique", t.name)
        })?;
        let inferred = || table.map(|(_, prep)| prep.labels[i].kind());
        let kind = task_kind(check, t, &key, inferred)?;
        let metrics = task_metrics(check, t, kind, &key)?;
        let delta_metrics = delta_metrics(check, t, kind, &metrics, &key)?;
        let class_weights = class_weights(check, t, kind, &key)?;
        let regression = kind == TaskKind::Regression;
        check.ensure(regression || t.standardize != Some(true), &key("standardize"), || {
            format!(
                "standardises a regression target; a {} task's labels are classes, remove it",
                kind.name()
            )
        })?;
        let standardize = regression && t.standardize.unwrap_or(file.data.standardize_targets);
        tasks.push(TaskConfig {
            spec: TaskSpec { name: t.name.clone(), kind },
            metrics,
            delta_metrics,
            standardize,
            class_weights,
        });
    }
    Ok(tasks)
}

/// The task's kind; `inferred` gives the kind a table source found for a `labels` list.
fn task_kind(
    check: Check,
    t: &TaskSection,
    key: &dyn Fn(&str) -> String,
    inferred: impl FnOnce() -> Option<TaskKind>,
) -> Result<TaskKind, ConfigError> {
    let refuse = |message: String| Err(check.invalid(&key("classes"), message));
    match (t.kind, t.classes) {
        (TaskKindName::Multiclass, classes) if t.labels.is_some() => {
            let kind = inferred().expect("`labels` is refused for other sources");
            match classes.filter(|&c| kind.output_dim() != c) {
                Some(c) => refuse(format!(
                    "{c} classes, but the training split has {}; remove `classes` or list the names in `labels`",
                    kind.output_dim()
                )),
                None => Ok(kind),
            }
        }
        (TaskKindName::Multiclass, Some(c)) if c >= 2 => Ok(TaskKind::Multiclass { classes: c }),
        (TaskKindName::Multiclass, Some(c)) => refuse(format!("{c} classes; use at least 2")),
        (TaskKindName::Multiclass, None) => refuse("multiclass tasks need `classes = N`".into()),
        (TaskKindName::Multilabel, classes) => {
            let n = match (&t.columns, classes) {
                (Some(cols), Some(c)) if c != cols.len() => {
                    return refuse(format!(
                        "{c} labels but `columns` lists {}; remove `classes`",
                        cols.len()
                    ));
                }
                (Some(cols), _) => cols.len(),
                (None, Some(c)) => c,
                (None, None) => {
                    return refuse(
                        "multilabel tasks need `classes = N` labels (csv: the label `columns`)".into(),
                    );
                }
            };
            if !(1..=mtl_data::MAX_LABELS).contains(&n) {
                return refuse(format!(
                    "{n} labels; a multilabel task has 1 to {} labels",
                    mtl_data::MAX_LABELS
                ));
            }
            Ok(TaskKind::Multilabel { labels: n })
        }
        (_, Some(_)) => refuse("only multiclass and multilabel tasks take `classes`; remove it".into()),
        (TaskKindName::Regression, None) => Ok(TaskKind::Regression),
        (TaskKindName::Binary, None) => Ok(TaskKind::Binary),
    }
}

/// The metrics reported for the task: its kind's, or the listed subset of them.
fn task_metrics(
    check: Check,
    t: &TaskSection,
    kind: TaskKind,
    key: &dyn Fn(&str) -> String,
) -> Result<Vec<MetricKind>, ConfigError> {
    let allowed = MetricKind::for_task(kind);
    let Some(names) = &t.metrics else { return Ok(allowed.to_vec()) };
    metric_subset(check, names, allowed, &key("metrics"), &|n| {
        format!("`{n}` is not a {} metric", kind.name())
    })
}

/// The metrics that enter Δm: the listed subset of the reported ones, else the kind's primary
/// metric if it is reported, else the first reported one.
fn delta_metrics(
    check: Check,
    t: &TaskSection,
    kind: TaskKind,
    reported: &[MetricKind],
    key: &dyn Fn(&str) -> String,
) -> Result<Vec<MetricKind>, ConfigError> {
    let Some(names) = &t.delta_metrics else {
        let primary = MetricKind::primary(kind);
        return Ok(vec![if reported.contains(&primary) { primary } else { reported[0] }]);
    };
    metric_subset(check, names, reported, &key("delta_metrics"), &|n| {
        format!("`{n}` is not among the task's reported metrics")
    })
}

/// `names` as metrics of `allowed` (at least one), or an error at `key` saying `why` a name
/// does not fit and listing the allowed ones.
fn metric_subset(
    check: Check,
    names: &[String],
    allowed: &[MetricKind],
    key: &str,
    why: &dyn Fn(&str) -> String,
) -> Result<Vec<MetricKind>, ConfigError> {
    let mut out = Vec::new();
    for n in names {
        match MetricKind::from_name(n) {
            Some(m) if allowed.contains(&m) => out.push(m),
            _ => {
                let listed: Vec<&str> = allowed.iter().map(|m| m.name()).collect();
                return Err(check.invalid(key, format!("{}; use any of {}", why(n), listed.join(", "))));
            }
        }
    }
    check.ensure(!out.is_empty(), key, || "list at least one metric or remove the key".into())?;
    Ok(out)
}

/// `class_weights` / `pos_weight` of a classification task.
fn class_weights(
    check: Check,
    t: &TaskSection,
    kind: TaskKind,
    key: &dyn Fn(&str) -> String,
) -> Result<Option<ClassWeights>, ConfigError> {
    let refuse = |k: &str, message: String| Err(check.invalid(&key(k), message));
    match (&t.class_weights, t.pos_weight, kind) {
        (None, None, _) => Ok(None),
        (_, _, TaskKind::Regression) => {
            refuse("class_weights", "regression tasks have no classes; remove it".into())
        }
        (_, _, TaskKind::Multilabel { .. }) => refuse(
            "class_weights",
            "class weights of multilabel tasks are not supported yet; remove it".into(),
        ),
        (Some(_), Some(_), _) => refuse("pos_weight", "give class_weights or pos_weight, not both".into()),
        (None, Some(_), TaskKind::Multiclass { .. }) => {
            refuse("pos_weight", "applies to binary tasks; use class_weights".into())
        }
        (None, Some(w), _) if w > 0.0 && w.is_finite() => Ok(Some(ClassWeights::Fixed(vec![1.0, w]))),
        (None, Some(w), _) => refuse("pos_weight", format!("{w}; use a positive weight")),
        (Some(ClassWeightsValue::Named(n)), _, _) if n == "balanced" => Ok(Some(ClassWeights::Balanced)),
        (Some(ClassWeightsValue::Named(n)), _, _) => {
            refuse("class_weights", format!("`{n}`: write \"balanced\" or one weight per class"))
        }
        (Some(ClassWeightsValue::List(w)), _, kind) => {
            let classes = kind.output_dim().max(2);
            if w.len() != classes {
                return refuse(
                    "class_weights",
                    format!("{} weights for {classes} classes; give one per class", w.len()),
                );
            }
            if w.iter().any(|v| !(v.is_finite() && *v >= 0.0)) || w.iter().all(|v| *v == 0.0) {
                return refuse("class_weights", "weights must be ≥ 0 and not all 0".into());
            }
            Ok(Some(ClassWeights::Fixed(w.clone())))
        }
    }
}

/// The tasks a run trains, out of the config's.
pub(super) struct Selected {
    /// The trained tasks, in order.
    pub tasks: Vec<TaskConfig>,
    /// Index into the config's tasks of `run.single_task`.
    pub single_task: Option<usize>,
    /// Indices into the config's tasks of the group of `run.tasks`.
    pub subset: Option<Vec<usize>>,
}

/// The tasks trained: all, the one of `run.single_task`, or the group of `run.tasks`.
pub(super) fn select_tasks(
    check: Check,
    file: &FileConfig,
    data_tasks: &[TaskConfig],
) -> Result<Selected, ConfigError> {
    let names: Vec<&str> = data_tasks.iter().map(|t| t.spec.name.as_str()).collect();
    let find = |key: &str, name: &str, lead: &str| {
        let i = data_tasks.iter().position(|t| t.spec.name == name);
        i.ok_or_else(|| check.invalid(key, format!("no task is named `{name}`; {lead} {}", names.join(", "))))
    };
    match (&file.run.single_task, &file.run.tasks) {
        (None, None) => Ok(Selected { tasks: data_tasks.to_vec(), single_task: None, subset: None }),
        (Some(_), Some(_)) => Err(check.invalid("run.tasks", "give run.single_task or run.tasks, not both")),
        (Some(name), None) => {
            let i = find("run.single_task", name, "use one of")?;
            Ok(Selected { tasks: vec![data_tasks[i].clone()], single_task: Some(i), subset: None })
        }
        (None, Some(group)) => {
            let mut picked = Vec::with_capacity(group.len());
            for name in group {
                let i = find("run.tasks", name, "use names from")?;
                check.ensure(!picked.contains(&i), "run.tasks", || format!("`{name}` is listed twice"))?;
                picked.push(i);
            }
            check.ensure(!picked.is_empty(), "run.tasks", || {
                "list at least one task, or remove the key".into()
            })?;
            picked.sort_unstable();
            let tasks = picked.iter().map(|&i| data_tasks[i].clone()).collect();
            Ok(Selected { tasks, single_task: None, subset: Some(picked) })
        }
    }
}
