//! `splitbrain check` on hostile and unusual histories, one test per class of input: each gets
//! the right verdict (or is refused naming the file and line), never a false "valid", never a
//! crash.

use std::process::Command;

/// Writes `text` to a fresh file and runs `splitbrain check --model MODEL --format FORMAT` on it.
fn check(name: &str, format: &str, model: &str, text: &str, extra: &[&str]) -> (Option<i32>, String) {
    let file = std::env::temp_dir().join(format!("hostile-{}-{name}", std::process::id()));
    std::fs::write(&file, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_splitbrain"))
        .args(["check", "--model", model, "--format", format])
        .args(extra)
        .arg(&file)
        .output()
        .unwrap();
    std::fs::remove_file(&file).unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code(), text)
}

/// A JSONL history of `(process, type, f, value)` client events on key `k`.
fn jsonl(events: &[(u64, &str, &str, &str)]) -> String {
    events
        .iter()
        .enumerate()
        .map(|(i, (p, t, f, v))| {
            format!(
                r#"{{"index":{i},"time":{i},"process":{p},"type":"{t}","f":"{f}","key":"k","value":{v}}}"#
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// Write `w`, then read back `r`, one after the other.
fn write_then_read(w: &str, r: &str) -> String {
    jsonl(&[
        (0, "invoke", "write", w),
        (0, "ok", "write", w),
        (1, "invoke", "read", "null"),
        (1, "ok", "read", r),
    ])
}

#[test]
fn values_are_compared_exactly_and_structurally() {
    let cases = [
        ("bigint", "9223372036854775808", "9223372036854775809"),
        ("string-vs-float", r#""1""#, "1.0"),
        ("int-vs-float", "1", "1.0"),
        ("string-vs-bool", r#""true""#, "true"),
        ("list-vs-string", "[1,2]", r#""[1 2]""#),
    ];
    for (name, written, read) in cases {
        let (code, out) = check(name, "jsonl", "register", &write_then_read(written, read), &[]);
        assert_eq!(code, Some(1), "{name}: wrote {written}, read {read}: {out}");
    }
    for (name, same) in
        [("bigint-same", "9223372036854775808"), ("list-same", "[1,[2,\"x\"]]"), ("float-same", "0.5")]
    {
        let (code, out) = check(name, "jsonl", "register", &write_then_read(same, same), &[]);
        assert_eq!(code, Some(0), "{name}: the same value read back is valid: {out}");
    }
    let (code, out) = check(
        "beyond-u64",
        "jsonl",
        "register",
        &write_then_read("18446744073709551617", "18446744073709551617"),
        &[],
    );
    assert_eq!(code, Some(254), "a number only a float could hold is refused: {out}");
    assert!(out.contains(":1:") && out.contains("too large to compare exactly"), "{out}");
    let edn = "[{:process 0 :type :invoke :f :write :value 9223372036854775808}\n\
               {:process 0 :type :ok :f :write :value 9223372036854775808}\n\
               {:process 1 :type :invoke :f :read :value nil}\n{:process 1 :type :ok :f :read :value 9223372036854775809N}]";
    let (code, out) = check("edn-bigint", "edn", "register", edn, &[]);
    assert_eq!(code, Some(1), "EDN big integers keep their digits: {out}");
}

#[test]
fn a_failed_write_in_a_jepsen_log_did_not_happen() {
    let log = "INFO  jepsen.util - 0\t:invoke\t:write\t3\nINFO  jepsen.util - 0\t:fail\t:write\t3\n\
               INFO  jepsen.util - 1\t:invoke\t:read\tnil\nINFO  jepsen.util - 1\t:ok\t:read\tnil\n";
    let (code, out) = check("fail-write", "jepsen-log", "register", log, &[]);
    assert_eq!(code, Some(0), "reading nil after a write that failed is linearizable: {out}");
    let log = log.replace(":ok\t:read\tnil", ":ok\t:read\t3");
    let (code, out) = check("fail-write-seen", "jepsen-log", "register", &log, &[]);
    assert_eq!(code, Some(1), "a failed write's value cannot be read: {out}");
}

#[test]
fn histories_with_nothing_to_check_are_unknown_never_valid() {
    for (name, format, text) in [
        ("empty", "jsonl", ""),
        ("empty-edn", "edn", "[]"),
        ("garbage", "jepsen-log", "hello world\nthis is not a history\n12345\n"),
        ("only-nemesis", "edn", "[{:process :nemesis :type :info :f :kill :value nil}]"),
    ] {
        let (code, out) = check(name, format, "register", text, &[]);
        assert_eq!(code, Some(2), "{name}: {out}");
        assert!(out.contains("no client operation"), "{name}: {out}");
    }
}

#[test]
fn malformed_pairings_and_processes_are_refused_naming_the_line() {
    let orphan = jsonl(&[(0, "ok", "write", "1")]);
    let other_f = jsonl(&[(0, "invoke", "write", "1"), (0, "ok", "read", "1")]);
    let mut other_key: Vec<String> = write_then_read("1", "1").lines().map(String::from).collect();
    other_key[1] = other_key[1].replace(r#""key":"k""#, r#""key":"j""#);
    let other_key = other_key.join("\n");
    let string_process = write_then_read("1", "1").replace(r#""process":1"#, r#""process":"1""#);
    let edn_string_process = "[{:process \"a\" :type :invoke :f :read :value nil}]";
    for (name, format, text, line, says) in [
        ("orphan", "jsonl", orphan.as_str(), ":1:", "without an invocation"),
        ("other-f", "jsonl", other_f.as_str(), ":2:", "its invocation (line 1)"),
        ("other-key", "jsonl", other_key.as_str(), ":2:", "on key"),
        ("string-process", "jsonl", string_process.as_str(), ":3:", "neither a client number"),
        ("edn-string-process", "edn", edn_string_process, ":1:", "neither an integer nor a keyword"),
    ] {
        let (code, out) = check(name, format, "register", text, &[]);
        assert_eq!(code, Some(254), "{name}: {out}");
        assert!(out.contains(line) && out.contains(says), "{name}: {out}");
    }
}

#[test]
fn deep_nesting_and_huge_searches_end_in_a_verdict_not_a_crash() {
    let deep = "[".repeat(100_000) + &"]".repeat(100_000);
    let (code, out) = check("deep", "edn", "register", &deep, &[]);
    assert_eq!(code, Some(254), "{out}");
    assert!(out.contains("nested deeper than"), "{out}");
    // Many concurrent writes with unknown outcomes and a read no order explains: the search must
    // try a great many states; a 1 MiB budget ends it in unknown.
    let mut events: Vec<(u64, &str, &str, String)> = Vec::new();
    for p in 0..40 {
        events.push((p, "invoke", "write", p.to_string()));
    }
    events.push((100, "invoke", "read", "null".into()));
    events.push((100, "ok", "read", "999".into()));
    let text: String = events
        .iter()
        .enumerate()
        .map(|(i, (p, t, f, v))| {
            format!(
                "{{\"index\":{i},\"time\":{i},\"process\":{p},\"type\":\"{t}\",\"f\":\"{f}\",\"key\":\"k\",\"value\":{v}}}\n"
            )
        })
        .collect();
    let (code, out) = check("huge", "jsonl", "register", &text, &["--memory-mb", "1"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("memory budget"), "{out}");
}
