//! Every public history in `../shared/testdata/linearizability/` is checked under its source's
//! semantics, and every verdict must agree with the one MANIFEST.md gives.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use checkers::linearizable::{Budget, Format, Model, check, operations};
use checkers::verdict::Verdict;

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/linearizability")
}

/// (path, format, model, expected) for every row of MANIFEST.md's tables.
fn manifest() -> Vec<(PathBuf, Format, Model, Verdict)> {
    let root = testdata();
    let text = std::fs::read_to_string(root.join("MANIFEST.md"))
        .expect("the shared test data is beside the repository");
    let mut section = "";
    let mut rows = Vec::new();
    for line in text.lines() {
        if line.starts_with("## ") {
            section = if line.contains("porcupine-etcd") {
                "etcd"
            } else if line.contains("porcupine-kv") {
                "kv"
            } else if line.contains("knossos") {
                "knossos"
            } else {
                ""
            };
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 8
            || !(cells[1].ends_with(".log") || cells[1].ends_with(".txt") || cells[1].ends_with(".edn"))
        {
            continue;
        }
        let expected = match cells[7] {
            // A history with no client operation (MANIFEST's op count 0) is vacuously
            // linearizable to knossos; this project says unknown: nothing was checked.
            "LIN" if cells[4] == "0" => Verdict::Unknown,
            "LIN" => Verdict::Valid,
            "NONLIN" => Verdict::Invalid,
            other => panic!("unknown verdict {other:?} in MANIFEST.md"),
        };
        let (dir, format, model) = match section {
            "etcd" => ("porcupine-etcd", Format::JepsenLog, Model::Register),
            "kv" => ("porcupine-kv", Format::Edn, Model::Kv),
            "knossos" => ("knossos", Format::Edn, Model::CasRegister),
            other => panic!("a table row outside a known section: {other:?}"),
        };
        rows.push((root.join(dir).join(cells[1]), format, model, expected));
    }
    rows
}

#[test]
fn every_shared_history_gets_its_known_verdict() {
    let rows = manifest();
    assert_eq!(rows.len(), 70 + 4 + 81, "every row of MANIFEST.md is read");
    let started = Instant::now();
    let mut wrong = Vec::new();
    for (path, format, model, expected) in &rows {
        let text = std::fs::read_to_string(path).unwrap();
        let ops = operations(&text, *format, *model).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let result = check(&ops, *model, Budget { time: Duration::from_secs(30), ..Budget::default() });
        if result.valid != *expected {
            wrong.push(format!(
                "{}: got {:?}, expected {expected:?} ({:?})",
                path.display(),
                result.valid,
                result.reason
            ));
        }
    }
    println!("{} histories checked in {:?}", rows.len(), started.elapsed());
    assert!(wrong.is_empty(), "{} verdicts disagree:\n{}", wrong.len(), wrong.join("\n"));
}
