//! The store: `<root>/<test>/<timestamp>/` per run; `<root>/latest` and `<root>/<test>/latest`
//! point at the newest run, from the moment it starts.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::error::Error;

/// Creates a fresh run directory for test `name` under `root`; runs made at once (in one
/// second) get `-1`, `-2`, … after the timestamp.
pub fn create_run_dir(root: &Path, name: &str) -> Result<PathBuf, Error> {
    let stamp = humantime::format_rfc3339_seconds(SystemTime::now()).to_string().replace(':', "");
    let base = root.join(name);
    std::fs::create_dir_all(&base).map_err(|e| Error::file(&base, e))?;
    let mut dir = base.join(&stamp);
    let mut n = 1;
    loop {
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            // Another run (of this process or another) took the name first.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                dir = base.join(format!("{stamp}-{n}"));
                n += 1;
            }
            Err(e) => return Err(Error::file(&dir, e)),
        }
    }
}

/// Points `<root>/latest` and `<root>/<test>/latest` at `run` (replacing each link atomically).
/// A run links itself when it starts, so a crashed run is found where users look.
pub fn link_latest(root: &Path, run: &Path) -> Result<(), Error> {
    let test_dir = run.parent().unwrap_or(root);
    for (dir, target) in [(root, run.strip_prefix(root)), (test_dir, run.strip_prefix(test_dir))] {
        let target = target.unwrap_or(run);
        let tmp = dir.join(".latest.tmp");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(target, &tmp).map_err(|e| Error::file(&tmp, e))?;
        let latest = dir.join("latest");
        std::fs::rename(&tmp, &latest).map_err(|e| Error::file(&latest, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_get_their_own_directories_and_latest_follows_the_newest() {
        let root = std::env::temp_dir().join(format!("store-test-{}", std::process::id()));
        let a = create_run_dir(&root, "t").unwrap();
        let b = create_run_dir(&root, "t").unwrap();
        assert_ne!(a, b);
        link_latest(&root, &a).unwrap();
        link_latest(&root, &b).unwrap();
        assert_eq!(std::fs::canonicalize(root.join("latest")).unwrap(), std::fs::canonicalize(&b).unwrap());
        assert_eq!(std::fs::canonicalize(root.join("t/latest")).unwrap(), std::fs::canonicalize(&b).unwrap());
        std::fs::remove_dir_all(root).unwrap();
    }
}
