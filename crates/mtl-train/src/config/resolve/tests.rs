//! Validation of configs: defaults, every refused value naming its key, monitors, methods.

use std::path::Path;

use mtl_data::TaskKind;
use mtl_weighting::{WeightingConfig, WeightingInput};

use super::*;
use crate::config::parse_text;

const BASE: &str =
    "[[tasks]]\nname = \"a\"\nkind = \"regression\"\n[[tasks]]\nname = \"b\"\nkind = \"binary\"\n";

fn run(extra: &str, overrides: &[&str]) -> Result<RunConfig, ConfigError> {
    let p = Path::new("c.toml");
    let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    let (f, t) = parse_text(p, &format!("{BASE}{extra}"), &o)?;
    resolve(p, f, t, None)
}

#[test]
fn defaults_resolve() {
    let c = run("", &[]).unwrap();
    assert_eq!(c.train.epochs, 20);
    assert_eq!(c.tasks[1].metrics, vec![MetricKind::Accuracy, MetricKind::Auc, MetricKind::F1]);
    assert_eq!(c.weighting_input, WeightingInput::Losses);
    assert_eq!(c.model.task_outputs, vec![1, 1]);
}

#[test]
fn bad_values_name_their_key() {
    let cases: &[(&[&str], &str)] = &[
        (&["train.epochs=0"], "train.epochs"),
        (&["train.lr=-1"], "train.lr"),
        (&["tasks.0.column=\"y\""], "tasks[0].column"),
        (&["tasks.0.class_weights=[1.0, 2.0]"], "tasks[0].class_weights"),
        (&["tasks.1.class_weights=[1.0, 2.0, 3.0]"], "tasks[1].class_weights"),
        (&["tasks.1.class_weights=\"even\""], "tasks[1].class_weights"),
        (&["tasks.1.pos_weight=-1.0"], "tasks[1].pos_weight"),
        (&["data.sampling=\"uniform\""], "data.sampling"),
        (
            &[
                "data.csv.numeric=[\"a\"]",
                "data.source=\"csv\"",
                "data.csv.train=\"t.csv\"",
                "data.csv.delimiter=\"ab\"",
            ],
            "data.csv.delimiter",
        ),
        (&["data.source=\"csv\""], "data.csv.numeric"),
        (&["run.tasks=[\"zz\"]"], "run.tasks"),
        (&["run.tasks=[\"a\", \"a\"]"], "run.tasks"),
        (&["run.tasks=[\"a\"]", "run.single_task=a"], "run.tasks"),
        (&["affinity.lookahead_lr=-1.0"], "affinity.lookahead_lr"),
        (&["affinity.every=1", "run.single_task=a"], "affinity.every"),
        (&["data.synthetic.task_groups=[0, 2]"], "data.synthetic.task_groups"),
        (&["data.synthetic.correlation=2.0"], "data.synthetic.correlation"),
        (&["data.split.train=0.5"], "data.split"),
        (&["tasks.1.metrics=[\"r2\"]"], "tasks[1].metrics"),
        (&["tasks.0.classes=3"], "tasks[0].classes"),
        (&["tasks.1.name=\"a\""], "tasks[1].name"),
        (&["weighting.method=uw", "weighting.gradients=parameters"], "weighting.gradients"),
        (&["weighting.method=gls", "weighting.gradients=representation"], "weighting.gradients"),
        (&["weighting.method=dwa", "weighting.dwa.temperature=0"], "weighting.dwa.temperature"),
        (&["weighting.method=pcgrad", "weighting.gradients=losses"], "weighting.gradients"),
        (&["weighting.method=cagrad", "weighting.cagrad.rescale=3"], "weighting.cagrad.rescale"),
        (&["weighting.method=nash_mtl", "weighting.nash_mtl.update_weights_every=0"], "weighting.nash_mtl"),
        (&["train.momentum=0.9"], "train.momentum"),
        (&["model.encoder.dropout=1.0"], "model.encoder.dropout"),
        (&["train.monitor=a.accuracy"], "train.monitor"),
        (&["train.monitor=zz"], "train.monitor"),
        (&["run.single_task=c"], "run.single_task"),
        (&["run.single_task=a", "train.monitor=delta_p"], "train.monitor"),
        (&["train.early_stopping.patience=0"], "train.early_stopping.patience"),
        (&["train.schedule.kind=plateau", "train.schedule.factor=1.5"], "train.schedule.factor"),
        (&["train.schedule.kind=step", "train.schedule.step_epochs=0"], "train.schedule.step_epochs"),
        (&["train.schedule.min_lr=1.0"], "train.schedule.min_lr"),
        (&["tasks.0.delta_metrics=[\"auc\"]"], "tasks[0].delta_metrics"),
        (&["tasks.0.metrics=[\"mae\"]", "tasks.0.delta_metrics=[\"mse\"]"], "tasks[0].delta_metrics"),
        (&["tasks.1.delta_metrics=[]"], "tasks[1].delta_metrics"),
        (&["train.select=\"last\"", "train.early_stopping.patience=3"], "train.select"),
    ];
    for (o, key) in cases {
        let e = run("", o).unwrap_err().to_string();
        assert!(e.contains(key), "{o:?}: {e}");
    }
}

#[test]
fn delta_metrics_default_to_the_primary_metric_of_each_kind() {
    let c = run("[[tasks]]\nname = \"m\"\nkind = \"multiclass\"\nclasses = 3\n", &[]).unwrap();
    let chosen: Vec<Vec<MetricKind>> = c.tasks.iter().map(|t| t.delta_metrics.clone()).collect();
    assert_eq!(chosen, [vec![MetricKind::Mse], vec![MetricKind::Auc], vec![MetricKind::Accuracy]]);
    // Without the primary among the reported metrics, the first reported one; or the listed ones.
    let c =
        run("", &["tasks.0.metrics=[\"r2\", \"mae\"]", "tasks.1.delta_metrics=[\"f1\", \"auc\"]"]).unwrap();
    assert_eq!(c.tasks[0].delta_metrics, [MetricKind::R2]);
    assert_eq!(c.tasks[1].delta_metrics, [MetricKind::F1, MetricKind::Auc]);
    assert!(!c.train.select_last);
    assert!(run("", &["train.select=\"last\""]).unwrap().train.select_last);
}

#[test]
fn multiclass_needs_classes() {
    let e = run("[[tasks]]\nname = \"m\"\nkind = \"multiclass\"\n", &[]).unwrap_err().to_string();
    assert!(e.contains("tasks[2].classes"), "{e}");
    let c = run("[[tasks]]\nname = \"m\"\nkind = \"multiclass\"\nclasses = 4\n", &[]).unwrap();
    assert_eq!(c.tasks[2].spec.kind, TaskKind::Multiclass { classes: 4 });
    assert_eq!(c.model.task_outputs, vec![1, 1, 4]);
}

#[test]
fn a_task_group_trains_its_tasks_on_all_tasks_data() {
    let c = run("", &["run.tasks=[\"b\"]", "affinity.every=0"]).unwrap();
    assert_eq!(c.tasks.len(), 1);
    assert_eq!(c.tasks[0].spec.name, "b");
    assert_eq!((c.data_tasks.len(), c.subset.clone()), (2, Some(vec![1])));
    let c = run("", &["affinity.every=3"]).unwrap();
    let plan = AffinityPlan { every: 3, lookahead_lr: 1e-3, until: None };
    assert_eq!(c.affinity, Some(plan), "look-ahead rate defaults to train.lr");
    let c = run("", &["affinity.every=3", "affinity.steps=20"]).unwrap();
    assert_eq!(c.affinity.map(|a| a.until), Some(Some(20)));
    let e = run("", &["affinity.every=1", "affinity.steps=0"]).unwrap_err().to_string();
    assert!(e.contains("affinity.steps") && e.contains("at least 1"), "{e}");
}

#[test]
fn monitors_and_single_task_resolve() {
    let c = run("", &["train.monitor=b.auc"]).unwrap();
    assert_eq!(c.train.monitor, Monitor::Metric { task: 1, metric: MetricKind::Auc });
    let c = run("", &["run.single_task=b", "train.monitor=b.auc"]).unwrap();
    assert_eq!(c.tasks.len(), 1);
    assert_eq!(c.data_tasks.len(), 2);
    assert_eq!(c.single_task, Some(1));
    assert_eq!(c.train.monitor, Monitor::Metric { task: 0, metric: MetricKind::Auc });
    assert_eq!(c.model.task_outputs, vec![1]);
}

#[test]
fn every_listed_method_resolves_and_the_readme_documents_it() {
    let readme = include_str!("../../../../../README.md");
    for name in WeightingConfig::NAMES {
        let c = run("", &[&format!("weighting.method={name}")]).unwrap();
        assert_eq!(c.weighting.name(), *name);
        assert!(readme.contains(&format!("| `{name}` |")), "README's weighting table lacks `{name}`");
        // The table's inputs cell starts with the method's default route, the one a config
        // without `weighting.gradients` gets.
        let row = readme.lines().find(|l| l.contains(&format!("| `{name}` |"))).unwrap();
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let at = cells.iter().position(|c| *c == format!("`{name}`")).unwrap();
        let default = c.weighting.inputs()[0];
        assert_eq!(c.weighting_input, default, "{name}");
        assert!(
            cells[at + 1].starts_with(default.name()),
            "README's inputs of `{name}` start with its default {}: {row}",
            default.name()
        );
    }
    // The schema's names are exactly the listed ones: an unknown name's error lists them all.
    let e = run("", &["weighting.method=nope"]).unwrap_err().to_string();
    let listed = e.matches('`').count() / 2;
    assert!(listed >= WeightingConfig::NAMES.len(), "{e}");
    for name in WeightingConfig::NAMES {
        assert!(e.contains(&format!("`{name}`")), "{name} missing from: {e}");
    }
}

#[test]
fn ew_accepts_every_input() {
    let c = run("", &["weighting.gradients=representation"]).unwrap();
    assert_eq!(c.weighting_input, WeightingInput::RepresentationGradients);
}

#[test]
fn every_registered_architecture_resolves_and_the_readme_documents_it() {
    let readme = include_str!("../../../../../README.md");
    for name in mtl_model::ArchitectureConfig::NAMES {
        let c = run("[model.experts]\ncount = 2\n", &[&format!("model.architecture={name}")]).unwrap();
        assert_eq!(c.model.architecture.name(), *name);
        assert!(readme.contains(&format!("| `{name}` |")), "README's architecture table lacks `{name}`");
    }
    let e = run("", &["model.architecture=nope"]).unwrap_err().to_string();
    assert!(mtl_model::ArchitectureConfig::NAMES.iter().all(|n| e.contains(&format!("`{n}`"))), "{e}");
}
