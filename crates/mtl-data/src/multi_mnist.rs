//! MultiMNIST, MultiFashion and Multi-(Fashion+MNIST), built in memory from IDX files.
//!
//! Sener & Koltun, "Multi-Task Learning as Multi-Objective Optimization", NeurIPS 2018, §6.1,
//! following their loader (`multi_task/loaders/multi_mnist_loader.py`): every image of the left
//! set gets one random partner from the right set; on a 36×36 canvas the left image sits at the
//! top-left (rows and columns 0..28) and the partner 6 pixels down and right (6..34); where they
//! overlap the brighter pixel wins (pixel-wise max); the canvas is resized back to 28×28 by
//! nearest neighbour (PIL's pixel-centre rule: source = ⌊(dst + ½)·36/28⌋). Task 1 is the left
//! digit (or item), task 2 the right one. Pixels are scaled to [0, 1].
//!
//! The partner is any image of the right set (the same set for MultiMNIST and MultiFashion,
//! so a digit may meet another copy of its class, as in the reference); partners are drawn from
//! a ChaCha8 stream seeded by the config, so a seed fixes the data set.

use std::path::PathBuf;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::dataset::MultiTaskDataset;
use crate::error::DataError;
use crate::idx::{LabelledImages, find_split_files, read_labelled_images};
use crate::task::{TaskKind, TaskSpec};

const SIDE: usize = 28;
const CANVAS: usize = 36;
const SHIFT: usize = 6;

/// Where the two image sets are and how partners are drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct MultiMnistConfig {
    /// Folder of the left images' IDX files (e.g. `…/mnist`).
    pub left_dir: PathBuf,
    /// Folder of the partners' IDX files (the same folder for MultiMNIST).
    pub right_dir: PathBuf,
    /// Seed of the partner draws.
    pub seed: u64,
}

/// Overlay two 28×28 images as described in the module docs.
pub fn overlay(left: &[u8], right: &[u8]) -> Vec<u8> {
    let mut canvas = [0u8; CANVAS * CANVAS];
    for r in 0..SIDE {
        for c in 0..SIDE {
            canvas[r * CANVAS + c] = left[r * SIDE + c];
        }
    }
    for r in 0..SIDE {
        for c in 0..SIDE {
            let at = &mut canvas[(r + SHIFT) * CANVAS + c + SHIFT];
            *at = (*at).max(right[r * SIDE + c]);
        }
    }
    let src = |d: usize| ((2 * d + 1) * CANVAS) / (2 * SIDE);
    (0..SIDE * SIDE).map(|i| canvas[src(i / SIDE) * CANVAS + src(i % SIDE)]).collect()
}

/// The images (file `images`) are 28×28 and their labels (file `labels`) fit `classes`.
fn check_images(
    set: &LabelledImages,
    (images, labels): (&std::path::Path, &std::path::Path),
    classes: usize,
) -> Result<(), DataError> {
    if (set.height, set.width) != (SIDE, SIDE) {
        return Err(DataError::Idx {
            path: images.to_path_buf(),
            message: format!("images are {}×{}; the MultiMNIST builder takes 28×28", set.height, set.width),
        });
    }
    if let Some((i, &l)) = set.labels.iter().enumerate().find(|(_, l)| usize::from(**l) >= classes) {
        return Err(DataError::Idx {
            path: labels.to_path_buf(),
            message: format!(
                "label {l} of image {i} is outside the task's {classes} classes; declare more classes"
            ),
        });
    }
    Ok(())
}

/// Build the overlaid set from `left` and partners drawn from `right` with `rng`.
pub fn build(
    left: &LabelledImages,
    right: &LabelledImages,
    tasks: &[TaskSpec],
    rng: &mut impl Rng,
) -> MultiTaskDataset {
    let n = left.count;
    let mut features = Vec::with_capacity(n * SIDE * SIDE);
    let mut targets = vec![Vec::with_capacity(n), Vec::with_capacity(n)];
    for i in 0..n {
        let j = rng.random_range(0..right.count);
        features.extend(overlay(left.image(i), right.image(j)).into_iter().map(|p| f32::from(p) / 255.0));
        targets[0].push(f32::from(left.labels[i]));
        targets[1].push(f32::from(right.labels[j]));
    }
    MultiTaskDataset {
        features,
        num_features: SIDE * SIDE,
        ids: Vec::new(),
        num_ids: 0,
        tasks: tasks.to_vec(),
        targets,
        masks: vec![vec![1.0; n]; 2],
        groups: None,
        target_scales: Vec::new(),
        truth: Vec::new(),
    }
}

impl MultiMnistConfig {
    /// The training set (built from the `train` files) and the test set (from `t10k`), for two
    /// multiclass tasks: the left and the right image's label.
    pub fn load(&self, tasks: &[TaskSpec]) -> Result<(MultiTaskDataset, MultiTaskDataset), DataError> {
        let classes: Vec<usize> = tasks
            .iter()
            .map(|t| match t.kind {
                TaskKind::Multiclass { classes } => Ok(classes),
                _ => Err(()),
            })
            .collect::<Result<_, _>>()
            .ok()
            .filter(|c: &Vec<usize>| c.len() == 2)
            .ok_or_else(|| DataError::InvalidSetting {
                key: "tasks".into(),
                message: "multi_mnist data has two multiclass tasks (left, right) with 10 classes each"
                    .into(),
            })?;
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let mut split = |name: &str| -> Result<MultiTaskDataset, DataError> {
            let read = |dir: &std::path::Path, classes: usize| {
                let (images, labels) = find_split_files(dir, name)?;
                let set = read_labelled_images(&images, &labels)?;
                check_images(&set, (&images, &labels), classes)?;
                Ok::<_, DataError>(set)
            };
            let left = read(&self.left_dir, classes[0])?;
            let right = if self.right_dir == self.left_dir && classes[0] == classes[1] {
                left.clone()
            } else {
                read(&self.right_dir, classes[1])?
            };
            Ok(build(&left, &right, tasks, &mut rng))
        };
        Ok((split("train")?, split("t10k")?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idx::tests::idx_bytes;

    #[test]
    fn overlay_places_left_top_left_and_partner_shifted_then_resizes() {
        // Output (r, c) reads canvas (s(r), s(c)) with s(d) = ⌊(2d + 1)·36 / 56⌋:
        // s(0) = 0, s(5) = 7, s(21) = 27, s(25) = 32.
        let mut left = vec![0u8; 784];
        let mut right = vec![0u8; 784];
        left[0] = 200; // canvas (0, 0) → output (0, 0)
        left[27 * 28 + 27] = 150; // canvas (27, 27) → output (21, 21)
        right[28 + 1] = 50; // canvas (7, 7) → output (5, 5)
        right[26 * 28 + 26] = 100; // canvas (32, 32) → output (25, 25)
        let out = overlay(&left, &right);
        assert_eq!((out[0], out[21 * 28 + 21], out[5 * 28 + 5], out[25 * 28 + 25]), (200, 150, 50, 100));
        assert_eq!(out.iter().filter(|&&p| p > 0).count(), 4);
        // Where the images overlap the brighter pixel wins; elsewhere each keeps its own, and
        // the canvas corner that neither covers (output (27, 27) ← canvas (35, 35)) stays 0.
        let both = overlay(&[7u8; 784], &[9u8; 784]);
        let at = |r: usize, c: usize| both[r * 28 + c];
        assert_eq!((at(0, 0), at(21, 21), at(25, 25), at(27, 27), at(21, 0)), (7, 9, 9, 0, 7));
    }

    fn fixture(dir: &std::path::Path, n: u32, labels: &[u8]) {
        let pixels: Vec<u8> = (0..n as usize * 784).map(|i| (i % 251) as u8).collect();
        std::fs::create_dir_all(dir).unwrap();
        for split in ["train", "t10k"] {
            std::fs::write(dir.join(format!("{split}-images-idx3-ubyte")), idx_bytes(&[n, 28, 28], &pixels))
                .unwrap();
            std::fs::write(dir.join(format!("{split}-labels-idx1-ubyte")), idx_bytes(&[n], labels)).unwrap();
        }
    }

    fn tasks(classes: usize) -> Vec<TaskSpec> {
        ["left", "right"]
            .map(|n| TaskSpec { name: n.into(), kind: TaskKind::Multiclass { classes } })
            .to_vec()
    }

    #[test]
    fn builder_shapes_label_pairs_and_determinism() {
        let dir = std::env::temp_dir().join(format!("mtl-mm-{}", std::process::id()));
        fixture(&dir, 5, &[0, 1, 2, 3, 4]);
        let cfg = MultiMnistConfig { left_dir: dir.clone(), right_dir: dir.clone(), seed: 3 };
        let (train, test) = cfg.load(&tasks(10)).unwrap();
        assert_eq!((train.len(), train.num_features, test.len()), (5, 784, 5));
        // The left labels keep the file order; every right label is some image's label, and
        // the pixels are the overlay of that pair.
        assert_eq!(train.targets[0], vec![0.0, 1.0, 2.0, 3.0, 4.0]);
        let set =
            read_labelled_images(&dir.join("train-images-idx3-ubyte"), &dir.join("train-labels-idx1-ubyte"))
                .unwrap();
        for i in 0..5 {
            let j = train.targets[1][i] as usize;
            let want: Vec<f32> =
                overlay(set.image(i), set.image(j)).iter().map(|&p| f32::from(p) / 255.0).collect();
            assert_eq!(train.row(i), &want[..]);
        }
        assert_eq!(cfg.load(&tasks(10)).unwrap().0, train, "same seed, same data");
        let other = MultiMnistConfig { seed: 4, ..cfg.clone() }.load(&tasks(10)).unwrap().0;
        assert_ne!(other.targets[1], train.targets[1]);
        // A label beyond the declared classes is refused.
        let e = cfg.load(&tasks(3)).unwrap_err().to_string();
        assert!(
            e.contains("train-labels-idx1-ubyte: label 3 of image 3 is outside the task's 3 classes"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn every_idx_error_names_the_exact_file() {
        let dir = std::env::temp_dir().join(format!("mtl-mm-files-{}", std::process::id()));
        let cfg = MultiMnistConfig { left_dir: dir.clone(), right_dir: dir.clone(), seed: 3 };
        let truncate = |name: &str| {
            let p = dir.join(name);
            let bytes = std::fs::read(&p).unwrap();
            std::fs::write(&p, &bytes[..bytes.len() - 1]).unwrap();
        };
        for file in [
            "train-images-idx3-ubyte",
            "train-labels-idx1-ubyte",
            "t10k-images-idx3-ubyte",
            "t10k-labels-idx1-ubyte",
        ] {
            fixture(&dir, 3, &[0, 1, 2]);
            truncate(file);
            let e = cfg.load(&tasks(10)).unwrap_err().to_string();
            assert!(
                e.contains(&format!("{file}: the header declares")) && e.contains("truncated"),
                "{file}: {e}"
            );
            std::fs::remove_file(dir.join(file)).unwrap();
            let e = cfg.load(&tasks(10)).unwrap_err().to_string();
            assert!(e.contains(&format!("no {file} in")), "{file}: {e}");
        }
        // Labels that do not pair with their images name the labels file of that split.
        fixture(&dir, 3, &[0, 1, 2]);
        std::fs::write(dir.join("t10k-labels-idx1-ubyte"), idx_bytes(&[2], &[0, 1])).unwrap();
        let e = cfg.load(&tasks(10)).unwrap_err().to_string();
        assert!(e.contains("t10k-labels-idx1-ubyte: 2 labels for the 3 images of"), "{e}");
        // Images of another size name the images file.
        std::fs::write(dir.join("t10k-images-idx3-ubyte"), idx_bytes(&[3, 2, 2], &[0; 12])).unwrap();
        std::fs::write(dir.join("t10k-labels-idx1-ubyte"), idx_bytes(&[3], &[0, 1, 2])).unwrap();
        let e = cfg.load(&tasks(10)).unwrap_err().to_string();
        assert!(e.contains("t10k-images-idx3-ubyte: images are 2×2"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
