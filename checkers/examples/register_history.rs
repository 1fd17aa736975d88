//! Writes a generated linearizable register history as this project's JSONL, for measuring
//! `check_history` (or `splitbrain check --format jsonl --model register`) on it:
//! `cargo run --release -p checkers --example register_history -- PATH [OPS [KEYS [SEED]]]`
//! (1,000,000 operations over 10 keys by default). Five processes each run one operation at a
//! time; each operation takes effect at a random point inside its interval, so the history is
//! linearizable; a compare-and-set that finds another value fails (and did not happen).

use std::collections::HashMap;
use std::path::PathBuf;

use checkers::history::{HistoryWriter, Op, OpType, Process};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(args.next().expect("usage: register_history PATH [OPS [KEYS [SEED]]]"));
    let mut number = |default: u64| args.next().map_or(default, |a| a.parse().expect("a number"));
    let (n, keys, seed) = (number(1_000_000), number(10), number(7));
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let processes = 5u64;
    let mut clock = vec![0u64; processes as usize];
    // (effect, invoke, complete, process, key, f, argument)
    let mut planned = Vec::with_capacity(n as usize);
    for i in 0..n {
        let p = i % processes;
        let invoke = clock[p as usize] + rng.random_range(0..5);
        let effect = invoke + rng.random_range(1..10);
        let complete = effect + rng.random_range(1..10);
        clock[p as usize] = complete + 1;
        let key = rng.random_range(0..keys);
        let (f, arg) = match rng.random_range(0..3) {
            0 => ("read", serde_json::Value::Null),
            1 => ("write", serde_json::json!(rng.random_range(0..5))),
            _ => ("cas", serde_json::json!([rng.random_range(0..5), rng.random_range(0..5)])),
        };
        planned.push((effect * 8 + p, invoke * 8 + p, complete * 8 + p, p, key, f, arg));
    }
    planned.sort_by_key(|t| t.0);
    let mut state: HashMap<u64, serde_json::Value> = HashMap::new();
    let mut events = Vec::with_capacity(2 * planned.len());
    for (_, invoke, complete, p, key, f, arg) in planned {
        let current = state.entry(key).or_insert(serde_json::Value::Null);
        let (kind, ret) = match f {
            "read" => (OpType::Ok, current.clone()),
            "write" => {
                *current = arg.clone();
                (OpType::Ok, arg.clone())
            }
            _ if *current == arg[0] => {
                *current = arg[1].clone();
                (OpType::Ok, arg.clone())
            }
            _ => (OpType::Fail, arg.clone()),
        };
        let op = |time: u64, kind: OpType, value: serde_json::Value| {
            let mut op = Op::new(time, Process::Client(p), kind, f).with_value(value);
            op.key = Some(format!("k{key}"));
            op
        };
        events.push(op(invoke, OpType::Invoke, arg));
        events.push(op(complete, kind, ret));
    }
    events.sort_by_key(|o| o.time);
    let mut out = HistoryWriter::create(&path).expect("the history file can be created");
    for op in events {
        out.append(op).expect("the history file can be written");
    }
    out.flush().expect("the history file can be written");
    eprintln!("{}: {n} operations over {keys} keys", path.display());
}
