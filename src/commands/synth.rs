//! `mtl synth CONFIG --rows N --out FILE`: the embedded generator's samples (the config's
//! `[data.synthetic]` and tasks, with its categorical, id and multi-hot columns) written to a
//! CSV or Parquet file, so the file paths can be tried at any size without a download.

use std::path::Path;
use std::time::Instant;

use mtl_data::table::{TableFormat, write_table};
use mtl_train::Error;
use mtl_train::config::RunConfig;
use mtl_train::config::data::DataSource;

/// Rows per Parquet row group (pyarrow's default is 1M; smaller groups stream better).
const ROWS_PER_GROUP: usize = 128 * 1024;

/// Run `mtl synth`.
pub fn run(config: &Path, set: &[String], rows: Option<usize>, out: &Path) -> Result<(), Error> {
    let Some(format) = TableFormat::of(out) else {
        return Err(Error::Usage(format!(
            "{}: name the output `….csv`, `….csv.gz` or `….parquet`; the name chooses the format",
            out.display()
        )));
    };
    let config = RunConfig::from_file(config, set)?;
    let DataSource::Synthetic(mut synthetic) = config.data.clone() else {
        return Err(Error::Usage(format!(
            "{}: `mtl synth` writes the embedded generator's samples; this config's data.source is not \
             \"synthetic\" (use a config with a [data.synthetic] section, e.g. configs/quickstart.toml)",
            config.source.display()
        )));
    };
    if let Some(n) = rows {
        synthetic.samples = n;
    }
    let tasks: Vec<_> = config.tasks.iter().map(|t| t.spec.clone()).collect();
    let started = Instant::now();
    eprintln!("generating {} rows …", synthetic.samples);
    let (names, columns) = synthetic.generate_table(&tasks)?;
    eprintln!("writing {} …", out.display());
    write_table(out, format, &names, &columns, ROWS_PER_GROUP)
        .map_err(|e| Error::Usage(format!("{}: cannot write it: {e}", out.display())))?;
    let bytes = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    println!(
        "wrote {} rows × {} columns to {} ({:.1} MiB, {:.1} s)",
        synthetic.samples,
        names.len(),
        out.display(),
        bytes as f64 / (1u64 << 20) as f64,
        started.elapsed().as_secs_f64()
    );
    println!("\nTrain on it with these sections in place of [data.synthetic]:\n");
    println!("{}", data_section(&synthetic, out));
    Ok(())
}

/// A `[data]` / `[data.csv]` / `[model.encoder]` snippet that reads the written file.
fn data_section(s: &mtl_data::SyntheticConfig, out: &Path) -> String {
    let mut numeric = Vec::new();
    let mut categorical = Vec::new();
    if s.features > s.categorical_features {
        numeric.push("\"x*\"".to_string());
    }
    if s.categorical_features > 0 {
        categorical.push("\"c*\"".to_string());
    }
    if s.id_features > 0 {
        categorical.push("\"id*\"".to_string());
    }
    let mut text = format!(
        "[data]\nsource = \"csv\"\n\n[data.csv]\ntrain = {:?}\nnumeric = [{}]\ncategorical = [{}]\n",
        out.display().to_string(),
        numeric.join(", "),
        categorical.join(", ")
    );
    if s.multi_hot_features > 0 {
        let bags: Vec<String> = (0..s.multi_hot_features).map(|k| format!("\"hist{k}\"")).collect();
        text += &format!("multi_hot = [{}]\n", bags.join(", "));
    }
    for k in 0..s.id_features {
        text += &format!("\n[data.csv.embedding.id{k}]\nhash_buckets = {}\n", s.id_cardinality.min(1 << 20));
    }
    for k in 0..s.multi_hot_features {
        text += &format!("\n[data.csv.embedding.hist{k}]\nmax_len = {}\n", s.multi_hot_max_len);
    }
    if !categorical.is_empty() || s.multi_hot_features > 0 {
        text += "\n[model.encoder]\nkind = \"tabular\"\n";
    }
    if s.funnel.is_some() {
        text += "\n# The funnel's truth on every impression (the conversion column is empty where the impression\n\
                 # was not clicked): `<conversion>_true`, `p_<click>`, `p_<conversion>`; not features.\n";
    }
    text
}
