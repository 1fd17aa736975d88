//! `results.json` and `junit.xml` of stored fixture runs, pinned as snapshots: their shape is a
//! contract with CI systems and scripts (see docs/results.md).

use checkers::history::{HistoryWriter, Op, OpType, Process};
use checkers::mastership::{NodeView, Round};

/// A deterministic run: 3 replicas, a partition, a heal, then the stability window. With
/// `split_brain`, n1 and n2 both stay Master through the window.
fn fixture(split_brain: bool) -> tempfile::TempDir {
    fixture_with(split_brain, ("partition", "heal"))
}

/// The fixture run, its fault started and undone by the nemesis operations `fault`.
fn fixture_with(split_brain: bool, fault: (&str, &str)) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let run = root.path().join("fixture").join("run");
    std::fs::create_dir_all(&run).unwrap();
    let mut w = HistoryWriter::create(&run.join("history.jsonl")).unwrap();
    let ms = |t: u64| t * 1_000_000;
    let round = |t: u64, masters: &[u32], registered: &[u32]| {
        let nodes = (0..3u32)
            .map(|i| {
                let master = masters.contains(&i);
                let role = if master { "Master" } else { "Backup" };
                let view = NodeView {
                    id: i,
                    role: role.into(),
                    master: Some(if master { i } else { masters[0] }),
                    applied: 10,
                    election_messages: 2,
                    started_unix_ms: 0,
                    digest: Some(42),
                };
                (format!("n{}", i + 1), Some(view))
            })
            .collect();
        let value = serde_json::to_value(Round { nodes, registrations: Some(registered.to_vec()) }).unwrap();
        Op::new(ms(t), Process::observer(), OpType::Info, "observe").with_value(value)
    };
    let client = |t: u64, kind: OpType, f: &str, value: serde_json::Value| {
        let mut op = Op::new(ms(t), Process::Client(0), kind, f).with_value(value);
        op.key = Some("r0".into());
        op.node = Some("n1".into());
        op
    };
    let nemesis = |t: u64, f: &str| Op::new(ms(t), Process::nemesis(), OpType::Invoke, f);
    let phase = |t: u64, f: &str| Op::new(ms(t), Process::harness(), OpType::Info, f);
    let mut ops = vec![
        round(100, &[0], &[0]),
        client(150, OpType::Invoke, "write", 3.into()),
        client(152, OpType::Ok, "write", 3.into()),
        nemesis(200, fault.0),
        round(300, &[0, 1], &[1]),
        client(350, OpType::Invoke, "read", serde_json::Value::Null),
        client(352, OpType::Ok, "read", 3.into()),
        nemesis(400, fault.1),
        phase(410, "final-phase"),
        phase(420, "stability-start"),
    ];
    let settled: &[u32] = if split_brain { &[0, 1] } else { &[0] };
    ops.extend((0..5).map(|i| round(500 + i * 100, settled, &[0])));
    ops.push(phase(1000, "stability-end"));
    for op in ops {
        w.append(op).unwrap();
    }
    w.flush().unwrap();
    root
}

fn stored(split_brain: bool) -> (u8, String, String) {
    let root = fixture(split_brain);
    let run = root.path().join("fixture").join("run");
    let results = harness::report::reanalyze(&run, &checkers::results::all()).unwrap();
    let json = std::fs::read_to_string(run.join("results.json")).unwrap();
    let junit = std::fs::read_to_string(run.join("junit.xml")).unwrap();
    (harness::exit::of(results.valid), json, junit)
}

#[test]
fn a_valid_run_stores_results_and_junit_of_a_stable_shape() {
    let (code, json, junit) = stored(false);
    assert_eq!(code, 0);
    insta::assert_snapshot!("valid_results_json", json);
    insta::assert_snapshot!("valid_junit_xml", junit);
}

#[test]
fn a_split_brain_run_fails_mastership_in_both_files() {
    let (code, json, junit) = stored(true);
    assert_eq!(code, 1);
    assert!(junit.contains("<failure message=\"no single master"), "{junit}");
    insta::assert_snapshot!("split_brain_results_json", json);
    insta::assert_snapshot!("split_brain_junit_xml", junit);
}

/// The report's structure: its sections, its SVG shapes by class, and what it links to.
fn structure(html: &str) -> String {
    let mut out = String::new();
    for marker in ["<section id=\"", "<svg id=\""] {
        for part in html.split(marker).skip(1) {
            out.push_str(&format!("{marker}{}\n", part.split('"').next().unwrap_or_default()));
        }
    }
    for class in ["Master", "Backup", "WaitElection", "down", "fault", "split", "ok", "fail", "info"] {
        out.push_str(&format!("class {class}: {}\n", html.matches(&format!("class=\"{class}\"")).count()));
    }
    for link in html.split("href=\"").skip(1) {
        out.push_str(&format!("link {}\n", link.split('"').next().unwrap_or_default()));
    }
    out
}

#[test]
fn the_report_is_self_contained_and_shows_lanes_faults_and_the_split_brain() {
    let root = fixture(true);
    let run = root.path().join("fixture").join("run");
    harness::report::reanalyze(&run, &checkers::results::all()).unwrap();
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(
        !html.contains("<script") && !html.contains("<link") && !html.contains("src="),
        "nothing is fetched"
    );
    assert!(html.contains("<h1>INVALID</h1>"));
    insta::assert_snapshot!("split_brain_report_structure", structure(&html));
}

/// The `<svg id="id">` of the page `html`, and the rest of its section.
fn svg_of<'a>(html: &'a str, id: &str) -> &'a str {
    let svg = html.split(&format!("<svg id=\"{id}\"")).nth(1).and_then(|s| s.split("</section>").next());
    svg.unwrap_or_else(|| panic!("no <svg id=\"{id}\"> in the page"))
}

/// The number of the attribute `name` of the first element of `element`.
fn attr(element: &str, name: &str) -> f64 {
    let value = element.split(&format!(" {name}=\"")).nth(1).and_then(|v| v.split('"').next());
    value.and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("no number {name} in {element}"))
}

/// The `<text>` elements of `svg`: each one's x and its words.
fn texts(svg: &str) -> Vec<(f64, String)> {
    svg.split("<text ")
        .skip(1)
        .map(|t| {
            let words = t.split_once('>').and_then(|(_, w)| w.split("</text>").next()).unwrap_or_default();
            (attr(&format!(" {t}"), "x"), words.trim().to_string())
        })
        .collect()
}

#[test]
fn every_plot_has_a_time_axis_in_seconds_a_named_value_axis_a_legend_and_the_fault_windows() {
    let report = |fault| {
        let root = fixture_with(true, fault);
        let run = root.path().join("fixture").join("run");
        harness::report::reanalyze(&run, &checkers::results::all()).unwrap();
        std::fs::read_to_string(run.join("report.html")).unwrap()
    };
    let (split, packet) = (report(("partition", "heal")), report(("packet", "heal-packet")));
    let outcomes = ["ok", "fail", "unknown (info)"];
    for (id, axis, keys) in [
        ("mastership", "node", &["Master", "Backup", "WaitElection", "down"][..]),
        ("latencies", "latency (ms)", &outcomes[..]),
        ("rates", "operations/s", &outcomes[..]),
        ("operations-timeline", "client process", &outcomes[..]),
    ] {
        let svg = svg_of(&split, id);
        let texts = texts(svg);
        let words: Vec<&str> = texts.iter().map(|t| t.1.as_str()).collect();
        assert!(words.contains(&"time since the test started"), "{id}: the time axis is named: {words:?}");
        assert!(words.contains(&axis), "{id}: the value axis is named {axis:?}: {words:?}");
        for key in keys.iter().chain(&["fault: partition", "split brain"]) {
            assert!(words.contains(key), "{id}: the legend explains {key:?}: {words:?}");
        }
        let packet_words: Vec<String> = self::texts(svg_of(&packet, id)).into_iter().map(|t| t.1).collect();
        assert!(
            packet_words.iter().any(|w| w == "fault: packet")
                && !packet_words.iter().any(|w| w == "fault: partition"),
            "{id}: the legend names the faults the run had, and only those: {packet_words:?}"
        );
        // Tick labels in seconds since the test started, left to right.
        let ticks: Vec<(f64, f64)> = texts
            .iter()
            .filter_map(|(x, w)| Some((*x, w.strip_suffix(" s")?.parse::<f64>().ok()?)))
            .collect();
        assert!(ticks.len() >= 3, "{id}: time ticks: {words:?}");
        assert!(ticks.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1), "{id}: {ticks:?}");
        // The partition's window, from 200 to 400 ms, lies where the time axis says those are.
        let window = svg.split("<rect class=\"fault\"").nth(1).expect("a fault window");
        assert!(window.contains("<title>partition 200-400 ms</title>"), "{id}: {window}");
        let ((x0, s0), (x1, s1)) = (ticks[0], ticks[ticks.len() - 1]);
        let at = |s: f64| x0 + (s - s0) / (s1 - s0) * (x1 - x0);
        let (x, width) = (attr(window, "x"), attr(window, "width"));
        assert!((x - at(0.2)).abs() <= 1.5 && (x + width - at(0.4)).abs() <= 1.5, "{id}: {x} + {width}");
    }
    // The legend's glyphs are the colours the page paints the lanes with.
    let mastership = svg_of(&split, "mastership");
    for class in ["Master", "Backup", "WaitElection", "down"] {
        let css = split.split(&format!(".{class}{{fill:#")).nth(1).expect("a CSS rule per lane class");
        let colour = css[..6].to_uppercase();
        assert!(mastership.contains(&format!("fill=\"#{colour}\"")), "the legend shows {class} in #{colour}");
    }
}

#[test]
fn headless_chromium_renders_the_report_with_its_timeline_and_no_errors() {
    let root = fixture(true);
    let run = root.path().join("fixture").join("run");
    harness::report::reanalyze(&run, &checkers::results::all()).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"])
        .args(["--disable-background-networking", "--disable-component-update", "--disable-sync"])
        .args(["--enable-logging=stderr", "--v=0", "--dump-dom"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("file://{}", run.join("report.html").display()))
        .output()
        .expect("chromium is installed (scripts/setup.sh chromium)");
    let dom = String::from_utf8_lossy(&out.stdout);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "chromium failed: {log}");
    assert!(dom.contains("<svg id=\"mastership\""), "the timeline is in the rendered page");
    assert!(dom.matches("class=\"Master\"").count() >= 2, "the lanes are drawn");
    assert!(!log.contains("CONSOLE") && !log.contains("Uncaught"), "the page logged errors: {log}");
}

#[test]
fn only_the_chosen_checkers_run_and_the_verdict_is_theirs() {
    let root = fixture(true);
    let run = root.path().join("fixture").join("run");
    let chosen = [checkers::results::Checker::Stats, checkers::results::Checker::Linearizable].into();
    let results = harness::report::reanalyze(&run, &chosen).unwrap();
    let ran: Vec<String> = results.checkers.each().iter().map(|(c, _)| c.to_string()).collect();
    assert_eq!(ran, ["linearizable", "stats"]);
    assert_eq!(results.valid, checkers::verdict::Verdict::Valid, "the split brain is mastership's to find");
    let junit = std::fs::read_to_string(run.join("junit.xml")).unwrap();
    assert!(junit.contains("tests=\"2\"") && !junit.contains("mastership"), "{junit}");
}

#[test]
fn analyze_with_an_unknown_checker_names_the_flag_and_exits_254() {
    let root = fixture(true);
    let run = root.path().join("fixture").join("run");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_splitbrain"))
        .args(["analyze", "--checkers", "mastership,linearizability"])
        .arg(&run)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(254), "{stderr}");
    assert!(stderr.contains("--checkers") && stderr.contains("\"linearizability\""), "{stderr}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_splitbrain"))
        .args(["analyze", "--checkers", "mastership"])
        .arg(&run)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
}

/// Validates `xml` with xmllint (Debian's libxml2-utils) against the Jenkins JUnit schema
/// (dtkit's junit-4.xsd, as the junit-report crate ships it), which `./scripts/test.sh` puts in
/// `target/junit-schema/`; the validator's complaint when it refuses.
fn junit_schema_check(xml: &str) -> Result<(), String> {
    let schema = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/junit-schema/junit-4.xsd");
    assert!(
        schema.is_file(),
        "{} is missing: run ./scripts/test.sh, which fetches it (and installs xmllint)",
        schema.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("junit.xml");
    std::fs::write(&file, xml).unwrap();
    let out = std::process::Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&schema)
        .arg(&file)
        .output()
        .expect("xmllint (Debian's libxml2-utils; ./scripts/test.sh installs it)");
    if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).into_owned()) }
}

#[test]
fn every_junit_xml_we_write_is_valid_against_the_jenkins_junit_schema() {
    use checkers::verdict::Verdict;
    use harness::campaign::{Outcome, Pages, Row};
    for split_brain in [false, true] {
        let (_, _, junit) = stored(split_brain);
        junit_schema_check(&junit).unwrap_or_else(|e| panic!("a run's junit.xml: {e}\n{junit}"));
    }
    // A campaign's: every outcome, and a missing shard.
    let root = fixture(true);
    let run = root.path().join("fixture").join("run");
    harness::report::reanalyze(&run, &checkers::results::all()).unwrap();
    let row = |seed, outcome, dir: Option<&std::path::Path>| Row {
        name: "c-partition <&>".into(),
        seed,
        outcome,
        dir: dir.map(|d| d.to_path_buf()),
        seconds: Some(61.25),
    };
    let rows = [
        row(1, Outcome::Verdict(Verdict::Valid), None),
        row(2, Outcome::Verdict(Verdict::Invalid), Some(&run)),
        row(3, Outcome::Verdict(Verdict::Unknown), None),
        row(4, Outcome::HarnessFailed("ssh n1: \"refused\"".into()), None),
        row(5, Outcome::Interrupted, None),
        row(6, Outcome::NotRun("shard 2/3 stopped".into()), None),
    ];
    let out = tempfile::tempdir().unwrap();
    Pages { name: "c", rows: &rows, missing_shards: &["3/3".into()] }.write(out.path()).unwrap();
    let junit = std::fs::read_to_string(out.path().join("junit.xml")).unwrap();
    junit_schema_check(&junit).unwrap_or_else(|e| panic!("a campaign's junit.xml: {e}\n{junit}"));
    assert!(
        junit.contains("no single master"),
        "an invalid run's failure says what its checkers found: {junit}"
    );
    // The control: the schema refuses what CI systems would misread.
    let broken = junit.replacen("<testcase name=\"seed 1\"", "<testcase nom=\"seed 1\"", 1);
    assert_ne!(broken, junit);
    assert!(junit_schema_check(&broken).is_err(), "a test case without a name is refused");
    let uncounted = junit.replacen("tests=\"7\" disabled", "disabled", 1);
    assert_ne!(uncounted, junit);
    assert!(junit_schema_check(&uncounted).is_err(), "a suite without its count is refused");
}

#[test]
fn the_report_shades_packet_fault_windows_apart_from_other_faults() {
    let report = |fault| {
        let root = fixture_with(false, fault);
        let run = root.path().join("fixture").join("run");
        harness::report::reanalyze(&run, &checkers::results::all()).unwrap();
        std::fs::read_to_string(run.join("report.html")).unwrap()
    };
    let packet = report(("packet", "heal-packet"));
    assert!(packet.contains("<title>packet 200-400 ms</title>"), "the window and its span");
    assert!(packet.matches("class=\"packet\"").count() >= 2 && !packet.contains("class=\"fault\""));
    let partition = report(("partition", "heal"));
    assert!(!partition.contains("class=\"packet\"") && partition.contains("class=\"fault\""), "the control");
}
