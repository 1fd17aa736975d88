//! `splitbrain campaign merge DIR... --out DIR`: the outputs of a campaign's shards (each a
//! store, or a folder of downloaded CI artifacts holding stores) made into one campaign: one
//! `campaign.html`, `junit.xml`, `campaign.json` and `summary.txt`, with every run's folder
//! copied beside them, so the merged folder is a store of its own. A shard that left nothing
//! is reported missing; the runs a shard set out to do and did not are reported as not run.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::outcome::{self, Outcome, Row};
use super::pages::Pages;
use super::shard::{MANIFEST, Manifest, Shard};
use crate::error::Error;
use crate::exit;
use crate::plan::PlanError;

/// One shard's output, as found.
#[derive(Debug)]
struct Found {
    manifest: Manifest,
    /// Its `shard.json`.
    path: PathBuf,
    /// The rows of its `campaign.json` (none when it has none yet).
    rows: Vec<Row>,
}

/// The shards' outputs, read and checked against one another, ready to be written.
#[derive(Debug)]
pub struct Gathered {
    name: String,
    shards: Vec<Found>,
    missing: Vec<Shard>,
    out: PathBuf,
}

/// What a merge made.
#[derive(Debug)]
pub struct Merged {
    /// The campaign's name.
    pub name: String,
    /// A row per run of every shard found, in shard order.
    pub rows: Vec<Row>,
    /// The shards of which nothing was found.
    pub missing_shards: Vec<String>,
    /// The merged folder.
    pub out: PathBuf,
}

impl Merged {
    /// The console summary (as `summary.txt` has it).
    pub fn summary(&self) -> String {
        Pages { name: &self.name, rows: &self.rows, missing_shards: &self.missing_shards }.summary()
    }

    /// The exit code of the worst outcome; a missing shard counts as a harness failure.
    pub fn exit_code(&self) -> u8 {
        if self.missing_shards.is_empty() { outcome::exit_code(&self.rows) } else { exit::HARNESS_FAILED }
    }
}

/// Merges the shard outputs found under `inputs` into `out`. Unreadable, inconsistent or
/// absent inputs, and an `out` that already holds files, are refused before anything is
/// written; writing `out` can then fail only as a file error.
pub fn merge(inputs: &[PathBuf], out: &Path) -> Result<Gathered, PlanError> {
    let bad = |origin: &Path, problem: String| PlanError { origin: origin.display().to_string(), problem };
    if std::fs::read_dir(out).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(bad(out, "--out names a folder that is not empty: give a new or empty folder".into()));
    }
    let mut paths = Vec::new();
    for input in inputs {
        if !input.is_dir() {
            return Err(bad(
                input,
                "no such folder: give the folders the shards' stores were downloaded to".into(),
            ));
        }
        manifests_under(input, &mut paths).map_err(|e| bad(input, format!("cannot read it: {e}")))?;
    }
    paths.sort();
    paths.dedup();
    if paths.is_empty() {
        let names: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
        return Err(PlanError {
            origin: names.join(", "),
            problem: format!(
                "no {MANIFEST} found: give the stores the shards wrote (each campaign leaves \
                 <store>/<campaign>/<timestamp>/{MANIFEST})"
            ),
        });
    }
    let mut shards: Vec<Found> = Vec::new();
    for path in paths {
        let manifest: Manifest = read_json(&path)?;
        let rows_path = path.with_file_name("campaign.json");
        let rows: Vec<Row> = if rows_path.exists() { read_json(&rows_path)? } else { Vec::new() };
        if let Some(first) = shards.first() {
            let (a, b) = (&first.manifest, &manifest);
            if a.campaign != b.campaign || a.shard.n != b.shard.n {
                return Err(bad(
                    &path,
                    format!(
                        "shard {} of campaign {:?} does not belong with shard {} of campaign {:?} ({}): \
                         merge the shards of one campaign, split the same way",
                        b.shard,
                        b.campaign,
                        a.shard,
                        a.campaign,
                        first.path.display()
                    ),
                ));
            }
        }
        if let Some(twin) = shards.iter().find(|s| s.manifest.shard == manifest.shard) {
            return Err(bad(
                &path,
                format!(
                    "shard {} appears twice (also {}): give the output of one run of each shard",
                    manifest.shard,
                    twin.path.display()
                ),
            ));
        }
        shards.push(Found { manifest, path, rows });
    }
    let mut seen: BTreeMap<&str, &Path> = BTreeMap::new();
    for shard in &shards {
        for run in &shard.manifest.runs {
            if let Some(other) = seen.insert(run, &shard.path) {
                return Err(bad(
                    &shard.path,
                    format!(
                        "run {run:?} is in two shards (also {}): were the shards made from different \
                         versions of the campaign file?",
                        other.display()
                    ),
                ));
            }
        }
    }
    shards.sort_by_key(|s| s.manifest.shard);
    let n = shards[0].manifest.shard.n;
    let found: BTreeSet<u32> = shards.iter().map(|s| s.manifest.shard.k).collect();
    let missing = (1..=n).filter(|k| !found.contains(k)).map(|k| Shard { k, n }).collect();
    Ok(Gathered { name: shards[0].manifest.campaign.clone(), shards, missing, out: out.to_path_buf() })
}

impl Gathered {
    /// Writes the merged campaign: each run's folder copied into `out/<test>/<timestamp>/`,
    /// then the pages.
    pub fn write(self) -> Result<Merged, Error> {
        let out = self.out;
        std::fs::create_dir_all(&out).map_err(|e| Error::file(&out, e))?;
        let mut rows = Vec::new();
        for shard in self.shards {
            let root = store_root(&shard.path);
            let mut done: BTreeMap<String, Row> = shard.rows.into_iter().map(|r| (r.identity(), r)).collect();
            let expected = shard.manifest.runs.len();
            let ran = shard.manifest.runs.iter().filter(|id| done.contains_key(*id)).count();
            let mut shard_rows = Vec::new();
            for run in &shard.manifest.runs {
                let row = match done.remove(run) {
                    Some(row) => row,
                    None => Row {
                        name: run.rsplit_once(" seed ").map_or(run.as_str(), |(name, _)| name).to_string(),
                        seed: run.rsplit_once(" seed ").and_then(|(_, s)| s.parse().ok()).unwrap_or_default(),
                        outcome: Outcome::NotRun(format!(
                            "shard {} stopped after {ran} of its {expected} runs ({})",
                            shard.manifest.shard,
                            shard.path.display()
                        )),
                        dir: None,
                        seconds: None,
                    },
                };
                shard_rows.push(row);
            }
            // Rows its manifest did not list (a campaign.json edited by hand) are kept too.
            shard_rows.extend(done.into_values());
            for row in &mut shard_rows {
                let source = row.dir.as_deref().and_then(|dir| locate(&root, dir));
                row.dir = match source {
                    Some(source) => Some(copy_run(&source, &out, shard.manifest.shard)?),
                    None => None,
                };
            }
            rows.extend(shard_rows);
        }
        let missing_shards: Vec<String> = self.missing.iter().map(Shard::to_string).collect();
        Pages { name: &self.name, rows: &rows, missing_shards: &missing_shards }.write(&out)?;
        Ok(Merged { name: self.name, rows, missing_shards, out })
    }
}

/// Adds every `shard.json` under `dir` to `found`, not following symbolic links (the store's
/// `latest` links would find runs twice, or loop).
fn manifests_under(dir: &Path, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            manifests_under(&entry.path(), found)?;
        } else if kind.is_file() && entry.file_name() == MANIFEST {
            found.push(entry.path());
        }
    }
    Ok(())
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, PlanError> {
    let bad = |problem: String| PlanError { origin: path.display().to_string(), problem };
    let file = std::fs::File::open(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    serde_json::from_reader(std::io::BufReader::new(file)).map_err(|e| {
        bad(format!(
            "not a campaign's output: {e}; it is written by `splitbrain campaign` and not meant to be edited"
        ))
    })
}

/// The store a campaign's `shard.json` is in: `<root>/<campaign>/<timestamp>/shard.json`.
fn store_root(manifest: &Path) -> PathBuf {
    manifest.ancestors().nth(3).unwrap_or(Path::new(".")).to_path_buf()
}

/// Where the run recorded as `dir` (on the machine that ran it) is now: `<test>/<timestamp>`
/// under the same store, or `dir` itself when the store was not moved.
fn locate(root: &Path, dir: &Path) -> Option<PathBuf> {
    let mut tail: Vec<_> = dir.components().rev().take(2).collect();
    tail.reverse();
    let moved: PathBuf = root.iter().chain(tail.iter().map(|c| c.as_os_str())).collect();
    [moved, dir.to_path_buf()].into_iter().find(|p| p.is_dir())
}

/// Copies the run folder `source` to `out/<test>/<timestamp>/` (a `-shard-K` suffix when two
/// shards' runs have the same folder name), hard-linking files where it can.
fn copy_run(source: &Path, out: &Path, shard: Shard) -> Result<PathBuf, Error> {
    let (Some(stamp), Some(test)) = (source.file_name(), source.parent().and_then(Path::file_name)) else {
        return Err(Error::file(source, "not a run folder <test>/<timestamp>"));
    };
    let mut dest = out.join(test).join(stamp);
    if dest.exists() {
        dest = out.join(test).join(format!("{}-shard-{}", stamp.to_string_lossy(), shard.k));
    }
    copy_tree(source, &dest)?;
    Ok(dest)
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(to).map_err(|e| Error::file(to, e))?;
    for entry in std::fs::read_dir(from).map_err(|e| Error::file(from, e))? {
        let entry = entry.map_err(|e| Error::file(from, e))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type().map_err(|e| Error::file(&src, e))?;
        if kind.is_dir() {
            copy_tree(&src, &dst)?;
        } else if kind.is_symlink() {
            let target = std::fs::read_link(&src).map_err(|e| Error::file(&src, e))?;
            std::os::unix::fs::symlink(target, &dst).map_err(|e| Error::file(&dst, e))?;
        } else if std::fs::hard_link(&src, &dst).is_err() {
            std::fs::copy(&src, &dst).map_err(|e| Error::file(&dst, e))?;
        }
    }
    Ok(())
}
