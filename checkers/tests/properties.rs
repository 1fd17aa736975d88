//! Properties of the history parsers and the linearizability checker, over generated input:
//! no parser panics or recurses without bound on any text; the checker agrees with a brute-force
//! search on thousands of small random histories (2-4 processes, crashed operations, the
//! register, cas-register and kv models).

use checkers::linearizable::{Budget, Call, Format, History, Model, Operation, Ret, Val, check, operations};
use checkers::verdict::Verdict;
use proptest::prelude::*;

/// Text that looks a little like each format, and plain noise.
fn history_text() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("[".to_string()),
        Just("]".to_string()),
        Just("{".to_string()),
        Just("}".to_string()),
        Just("#{".to_string()),
        Just("\"".to_string()),
        Just(":process 0 :type :invoke :f :write :value 1".to_string()),
        Just(":type :ok".to_string()),
        Just("INFO  jepsen.util - 0\t:invoke\t:cas\t[1 2]\n".to_string()),
        Just(
            "{\"index\":0,\"time\":0,\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"key\":\"k\"}\n"
                .to_string()
        ),
        Just("99999999999999999999999".to_string()),
        Just("-1.5e300".to_string()),
        Just("\n".to_string()),
        "[ -~]{0,12}",
    ];
    prop::collection::vec(token, 0..60).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn no_parser_panics_on_any_text(text in history_text(), noise in "\\PC{0,200}") {
        for format in [Format::JepsenLog, Format::Edn, Format::Jsonl] {
            for model in [Model::Register, Model::CasRegister, Model::Kv] {
                for input in [&text, &noise] {
                    if let Ok(ops) = operations(input, format, model) {
                        let budget = Budget { time: std::time::Duration::from_secs(5), bytes: 16 << 20 };
                        let _ = check(&ops, model, budget);
                    }
                }
            }
        }
    }
}

#[test]
fn deeply_nested_input_is_refused_without_overflowing_the_stack() {
    for depth in [1_001, 100_000, 1_000_000] {
        let text = "[".repeat(depth) + &"]".repeat(depth);
        let err = operations(&text, Format::Edn, Model::Register).unwrap_err();
        assert!(err.problem.contains("nested deeper"), "{err}");
    }
}

/// One generated history: operations in event order.
#[derive(Clone, Debug)]
struct Generated {
    model: Model,
    ops: Vec<Operation>,
}

fn generated() -> impl Strategy<Value = Generated> {
    (2usize..=4, prop::collection::vec((0usize..4, 0u8..8, 0i64..3, 0i64..3, 0u8..10), 2..14), 0u8..3)
        .prop_map(|(processes, steps, model)| {
            let model = [Model::Register, Model::CasRegister, Model::Kv][usize::from(model)];
            // The kv model's strings: what is appended or put, and what reads return.
            let text = |i: i64| Val::Str(["a", "b", "ab"][i as usize].to_string());
            let read = |i: i64, j: i64| {
                Val::Str(
                    ["", "a", "b", "ab", "ba", "aab", "abb", "bab", "abab"][(3 * i + j) as usize].to_string(),
                )
            };
            let mut ops: Vec<Operation> = Vec::new();
            let mut open: Vec<Option<usize>> = vec![None; processes];
            let mut position = 0;
            for (p, kind, a, b, outcome) in steps {
                let p = p % processes;
                position += 1;
                match open[p].take() {
                    None => {
                        let call = match (kind % 3, model) {
                            (0, _) => Call::Read,
                            (1, Model::Kv) if b == 0 => Call::Write(text(a)),
                            (_, Model::Kv) => Call::Append(text(a)),
                            (1, _) => Call::Write(Val::Int(a)),
                            _ => Call::Cas(Val::Int(a), Val::Int(b)),
                        };
                        open[p] = Some(ops.len());
                        ops.push(Operation {
                            invoke: position,
                            complete: None,
                            process: p.to_string(),
                            key: None,
                            call,
                            ret: Ret::Unknown,
                            node: None,
                            lines: (position, None),
                        });
                    }
                    Some(i) if outcome < 8 => {
                        let op = &mut ops[i];
                        op.complete = Some(position);
                        op.ret = match op.call {
                            Call::Read if b == 2 && model == Model::Register => Ret::Value(Val::Nil),
                            // A wildcard read (Knossos's nil read): it completed, any value fits.
                            Call::Read if outcome == 7 => Ret::Unknown,
                            Call::Read if model == Model::Kv => Ret::Value(read(a, b)),
                            Call::Read => Ret::Value(Val::Int(a)),
                            Call::Cas(..) => Ret::Swapped(outcome % 2 == 0),
                            _ => Ret::Done,
                        };
                    }
                    // The rest stay pending: crashed, outcome unknown.
                    Some(_) => {}
                }
            }
            Generated { model, ops }
        })
}

/// Brute force: some order of the operations respects real time (an operation that completed
/// before another was invoked comes first), includes every completed operation and any subset
/// of the pending ones, and is legal for the model.
fn brute_force(g: &Generated) -> bool {
    fn search(model: Model, ops: &[Operation], done: &mut Vec<bool>, state: &Val) -> bool {
        if ops.iter().zip(done.iter()).all(|(o, d)| *d || o.complete.is_none()) {
            return true;
        }
        for i in 0..ops.len() {
            if done[i] {
                continue;
            }
            let blocked = ops
                .iter()
                .zip(done.iter())
                .any(|(p, d)| !*d && p.complete.is_some_and(|c| c < ops[i].invoke));
            if blocked {
                continue;
            }
            if let Some(next) = model.step(state, &ops[i].call, &ops[i].ret) {
                done[i] = true;
                if search(model, ops, done, &next) {
                    return true;
                }
                done[i] = false;
            }
        }
        false
    }
    search(g.model, &g.ops, &mut vec![false; g.ops.len()], &g.model.initial())
}

#[test]
fn the_checker_agrees_with_brute_force_on_small_histories() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, TestRunner};
    let mut runner =
        TestRunner::new(Config { rng_seed: proptest::test_runner::RngSeed::Fixed(7), ..Config::default() });
    let strategy = generated();
    let (mut valid, mut invalid, mut pending) = (0, 0, 0);
    let (mut kv_valid, mut kv_invalid) = (0, 0);
    let runs: usize = std::env::var("ORACLE_RUNS").ok().and_then(|n| n.parse().ok()).unwrap_or(5000);
    for _ in 0..runs {
        let g = strategy.new_tree(&mut runner).expect("a history").current();
        if g.ops.is_empty() {
            continue;
        }
        let expected = if brute_force(&g) { Verdict::Valid } else { Verdict::Invalid };
        let history = History::from_operations(g.ops.clone()).expect("a well-formed history");
        let result = check(&history, g.model, Budget::default());
        assert_eq!(result.valid, expected, "{g:#?}");
        match expected {
            Verdict::Valid => valid += 1,
            _ => invalid += 1,
        }
        if g.model == Model::Kv {
            kv_valid += usize::from(expected == Verdict::Valid);
            kv_invalid += usize::from(expected != Verdict::Valid);
        }
        pending += usize::from(g.ops.iter().any(|o| o.complete.is_none()));
    }
    eprintln!(
        "oracle: {valid} valid, {invalid} invalid ({kv_valid} and {kv_invalid} of the kv model), \
         {pending} with crashed operations"
    );
    // The generator must exercise both verdicts and crashed operations, or the test proves little.
    assert!(
        valid > 500 && invalid > 500 && pending > 500 && kv_valid > 100 && kv_invalid > 100,
        "valid {valid}, invalid {invalid}, with pending {pending}, kv {kv_valid} / {kv_invalid}"
    );
}
