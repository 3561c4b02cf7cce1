//! IDX files, the format of MNIST and Fashion-MNIST (<http://yann.lecun.com/exdb/mnist/>):
//! a big-endian header — two zero bytes, a type byte (0x08 = unsigned byte), the number of
//! dimensions — then one u32 per dimension and the values. Raw or gzipped (detected by the gzip
//! magic bytes, whatever the file name).

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::DataError;

/// An unsigned-byte IDX array.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxArray {
    /// Dimensions, outermost first.
    pub dims: Vec<usize>,
    /// Values, row-major.
    pub data: Vec<u8>,
}

fn bad(path: &Path, message: impl Into<String>) -> DataError {
    DataError::Idx { path: path.to_path_buf(), message: message.into() }
}

/// Read `path` (raw or gzipped) as an unsigned-byte IDX array of `rank` dimensions.
pub fn read_idx(path: &Path, rank: usize) -> Result<IdxArray, DataError> {
    let raw = std::fs::read(path).map_err(|e| bad(path, crate::error::cannot_read(&e)))?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| bad(path, format!("corrupt gzip data: {e}")))?;
        out
    } else {
        raw
    };
    parse_idx(path, &bytes, rank)
}

/// Parse IDX `bytes` (read from `path`, for messages).
pub fn parse_idx(path: &Path, bytes: &[u8], rank: usize) -> Result<IdxArray, DataError> {
    let magic = 0x0800 + rank as u32;
    if bytes.len() < 4 {
        return Err(bad(path, "shorter than an IDX header; is it the right file?"));
    }
    let found = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if found != magic {
        return Err(bad(
            path,
            format!("magic number {found:#010x}, expected {magic:#010x} (unsigned bytes, {rank} dimensions)"),
        ));
    }
    let header = 4 + 4 * rank;
    if bytes.len() < header {
        return Err(bad(path, "truncated header"));
    }
    let dims: Vec<usize> = (0..rank)
        .map(|i| u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().expect("4 bytes")) as usize)
        .collect();
    let count: usize = dims.iter().product();
    let body = &bytes[header..];
    if body.len() != count {
        return Err(bad(
            path,
            format!(
                "the header declares {dims:?} = {count} values but the file holds {}; the file is {}",
                body.len(),
                if body.len() < count { "truncated" } else { "longer than declared" }
            ),
        ));
    }
    Ok(IdxArray { dims, data: body.to_vec() })
}

/// Encode an unsigned-byte IDX array (for fixtures and exports): the inverse of [`parse_idx`].
pub fn encode_idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b.extend_from_slice(data);
    b
}

/// Images `[n, height, width]` and their labels, checked against each other.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledImages {
    /// Number of images n.
    pub count: usize,
    /// Image height.
    pub height: usize,
    /// Image width.
    pub width: usize,
    /// Pixels, `n · height · width` bytes, row-major.
    pub pixels: Vec<u8>,
    /// One label per image.
    pub labels: Vec<u8>,
}

impl LabelledImages {
    /// Pixels of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let size = self.height * self.width;
        &self.pixels[i * size..(i + 1) * size]
    }
}

/// Read an images file (`idx3`) and its labels file (`idx1`).
pub fn read_labelled_images(images: &Path, labels: &Path) -> Result<LabelledImages, DataError> {
    let im = read_idx(images, 3)?;
    let lb = read_idx(labels, 1)?;
    if im.dims[0] != lb.dims[0] {
        return Err(bad(
            labels,
            format!(
                "{} labels for the {} images of `{}`; use the matching pair",
                lb.dims[0],
                im.dims[0],
                images.display()
            ),
        ));
    }
    Ok(LabelledImages {
        count: im.dims[0],
        height: im.dims[1],
        width: im.dims[2],
        pixels: im.data,
        labels: lb.data,
    })
}

/// The images and labels files of `split` (`"train"` or `"t10k"`) in `dir`, under any of the
/// usual names: `train-images-idx3-ubyte`, `train-images.idx3-ubyte`, either with `.gz`.
pub fn find_split_files(dir: &Path, split: &str) -> Result<(PathBuf, PathBuf), DataError> {
    let find = |kind: &str, rank: usize| {
        let names = [
            format!("{split}-{kind}-idx{rank}-ubyte"),
            format!("{split}-{kind}.idx{rank}-ubyte"),
            format!("{split}-{kind}-idx{rank}-ubyte.gz"),
            format!("{split}-{kind}.idx{rank}-ubyte.gz"),
        ];
        names.iter().map(|n| dir.join(n)).find(|p| p.is_file()).ok_or_else(|| DataError::MissingFile {
            path: dir.join(&names[0]),
            hint: format!("no {} in `{}` (also tried .idx/.gz variants)", names[0], dir.display()),
        })
    };
    Ok((find("images", 3)?, find("labels", 1)?))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub use super::encode_idx as idx_bytes;

    #[test]
    fn a_valid_file_parses() {
        let a = parse_idx(Path::new("x"), &idx_bytes(&[2, 2, 1], &[1, 2, 3, 4]), 3).unwrap();
        assert_eq!(a, IdxArray { dims: vec![2, 2, 1], data: vec![1, 2, 3, 4] });
    }

    #[test]
    fn wrong_magic_and_truncation_name_the_file() {
        let p = Path::new("f.idx");
        let e = parse_idx(p, &idx_bytes(&[3], &[1, 2, 3]), 3).unwrap_err().to_string();
        assert!(e.contains("f.idx") && e.contains("magic number 0x00000801, expected 0x00000803"), "{e}");
        let e = parse_idx(p, &idx_bytes(&[4], &[1, 2, 3]), 1).unwrap_err().to_string();
        assert!(e.contains("declares [4] = 4 values but the file holds 3") && e.contains("truncated"), "{e}");
        let e = parse_idx(p, &[0, 0], 1).unwrap_err().to_string();
        assert!(e.contains("shorter than an IDX header"), "{e}");
    }

    #[test]
    fn gzip_is_detected_and_counts_are_checked() {
        use std::io::Write;
        let dir = std::env::temp_dir().join(format!("mtl-idx-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let images = dir.join("train-images-idx3-ubyte.gz");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&idx_bytes(&[2, 1, 2], &[0, 255, 7, 8])).unwrap();
        std::fs::write(&images, gz.finish().unwrap()).unwrap();
        let labels = dir.join("train-labels.idx1-ubyte");
        std::fs::write(&labels, idx_bytes(&[3], &[1, 2, 3])).unwrap();
        let (i, l) = find_split_files(&dir, "train").unwrap();
        assert_eq!((i.clone(), l.clone()), (images, labels));
        let e = read_labelled_images(&i, &l).unwrap_err().to_string();
        assert!(e.contains("3 labels for the 2 images"), "{e}");
        std::fs::write(&l, idx_bytes(&[2], &[4, 5])).unwrap();
        let d = read_labelled_images(&i, &l).unwrap();
        assert_eq!((d.count, d.height, d.width, d.image(1)), (2, 1, 2, &[7u8, 8][..]));
        assert!(find_split_files(&dir, "t10k").unwrap_err().to_string().contains("t10k-images-idx3-ubyte"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
