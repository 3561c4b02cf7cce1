//! Progress display: an indicatif bar with per-task loss and ETA on a terminal; plain epoch
//! lines on stderr otherwise; nothing with `--quiet`.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How a run reports progress.
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
    lines: bool,
}

impl Progress {
    /// A bar over `total_steps` training steps, shown when stderr is a terminal and `quiet`
    /// is off.
    pub fn new(total_steps: u64, quiet: bool) -> Self {
        Self::counting(total_steps, "steps", quiet)
    }

    /// A bar over `total` things called `unit` (e.g. "runs").
    pub fn counting(total: u64, unit: &str, quiet: bool) -> Self {
        let total_steps = total;
        let terminal = std::io::stderr().is_terminal();
        let bar = if quiet || !terminal {
            ProgressBar::with_draw_target(Some(total_steps), ProgressDrawTarget::hidden())
        } else {
            let bar = ProgressBar::new(total_steps);
            bar.set_style(
                ProgressStyle::with_template(&format!(
                    "{{prefix}} [{{bar:30}}] {{pos}}/{{len}} {unit} ({{elapsed}}, ETA {{eta}}) {{msg}}"
                ))
                .expect("static template")
                .progress_chars("=> "),
            );
            bar
        };
        Self { bar, lines: !quiet && !terminal }
    }

    /// Show which epoch is running.
    pub fn set_epoch(&self, epoch: usize, epochs: usize) {
        self.bar.set_prefix(format!("epoch {epoch}/{epochs}"));
    }

    /// Text before the bar.
    pub fn set_prefix(&self, prefix: &str) {
        self.bar.set_prefix(prefix.to_string());
    }

    /// Count steps as done.
    pub fn advance(&self, steps: u64) {
        self.bar.inc(steps);
    }

    /// Move the bar to `pos` steps (after a resume).
    pub fn set_position(&self, pos: u64) {
        self.bar.set_position(pos);
    }

    /// Replace the message after the bar (running losses).
    pub fn set_message(&self, message: String) {
        self.bar.set_message(message);
    }

    /// Print a line above the bar (or alone on stderr without a terminal).
    pub fn line(&self, text: &str) {
        if self.lines {
            eprintln!("{text}");
        } else {
            self.bar.println(text);
        }
    }

    /// Remove the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
