//! What people look at: SVG plots, progress bars and the observers that draw them during a
//! run.

pub mod observers;
pub mod plots;
pub mod progress;
