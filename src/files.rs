//! Which files a command works on: files given by name, and the invoice files
//! found (recursively, in name order) in directories given.

use std::path::{Path, PathBuf};

use ingest::Format;

/// One input: a file with its format, or a path that cannot be used and why.
pub enum Input {
    File(PathBuf, Format),
    Unusable(PathBuf, String),
}

/// Expands the paths given on the command line. A file named explicitly must
/// have a known extension; in directories, other files are passed over (and
/// said so on stderr), as are hidden ones (`.invoices/`, `.git/`).
pub fn expand_inputs(paths: &[PathBuf]) -> Vec<Input> {
    let mut inputs = Vec::new();
    for path in paths {
        if path.is_dir() {
            walk(path, &mut inputs);
        } else if !path.exists() {
            inputs.push(Input::Unusable(path.clone(), "no such file or directory".into()));
        } else {
            match Format::from_path(path) {
                Some(format) => inputs.push(Input::File(path.clone(), format)),
                None => inputs.push(Input::Unusable(
                    path.clone(),
                    format!("unknown file type (expected {})", Format::EXTENSIONS),
                )),
            }
        }
    }
    inputs
}

fn walk(dir: &Path, inputs: &mut Vec<Input>) {
    let mut entries: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) => {
            inputs.push(Input::Unusable(dir.to_path_buf(), format!("cannot list directory: {e}")));
            return;
        }
    };
    entries.sort();
    for path in entries {
        let hidden = path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            walk(&path, inputs);
        } else if let Some(format) = Format::from_path(&path) {
            inputs.push(Input::File(path, format));
        } else {
            eprintln!("note: passing over {} (not {})", path.display(), Format::EXTENSIONS);
        }
    }
}
