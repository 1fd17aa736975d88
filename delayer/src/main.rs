//! `delayer --queue N --delay-ms D --jitter-ms J --duplicate-pct P --reorder-pct R --seed S
//! --mark M --ready FILE`: binds NFQUEUE N, creates FILE, and delays, reorders and duplicates
//! the packets queued to it until SIGTERM or SIGINT (then lets every held packet go). Exit codes:
//! 0 after a signal, 254 bad arguments, 255 another failure.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use delayer::hold::Behaviour;
use delayer::netlink::Copy;
use delayer::queue::{self, Config, Queue};
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};

/// Holds the packets of an NFQUEUE for a seeded delay, reorders and duplicates some.
#[derive(Parser, Debug)]
struct Args {
    /// The NFQUEUE number to bind.
    #[arg(long)]
    queue: u16,
    /// The median of the added delay, in ms.
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
    /// The delay is drawn uniformly within this many ms of the median.
    #[arg(long, default_value_t = 0)]
    jitter_ms: u64,
    /// Percent of packets sent twice.
    #[arg(long, default_value_t = 0.0)]
    duplicate_pct: f64,
    /// Percent of packets let go at once, ahead of delayed ones.
    #[arg(long, default_value_t = 0.0)]
    reorder_pct: f64,
    /// The seed of every draw.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The firewall mark of the duplicates.
    #[arg(long, default_value_t = 0)]
    mark: u32,
    /// A file to create once the queue is bound.
    #[arg(long)]
    ready: Option<PathBuf>,
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: nix::libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) if e.use_stderr() => {
            eprintln!("{e}");
            return ExitCode::from(254);
        }
        Err(e) => {
            print!("{e}");
            return ExitCode::SUCCESS;
        }
    };
    let percent = |name: &str, v: f64| {
        (0.0..=100.0).contains(&v).then_some(v / 100.0).ok_or_else(|| format!("--{name} {v}: use 0 to 100"))
    };
    let behaviour =
        match (percent("duplicate-pct", args.duplicate_pct), percent("reorder-pct", args.reorder_pct)) {
            (Ok(duplicate), Ok(reorder)) if args.jitter_ms <= args.delay_ms => Behaviour {
                delay: Duration::from_millis(args.delay_ms),
                jitter: Duration::from_millis(args.jitter_ms),
                duplicate,
                reorder,
            },
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("error: {e}");
                return ExitCode::from(254);
            }
            _ => {
                eprintln!("error: --jitter-ms {} exceeds --delay-ms {}", args.jitter_ms, args.delay_ms);
                return ExitCode::from(254);
            }
        };
    let config = Config { queue: args.queue, behaviour, seed: args.seed, mark: args.mark };
    match serve(&config, args.ready.as_deref()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(255)
        }
    }
}

fn serve(config: &Config, ready: Option<&std::path::Path>) -> anyhow::Result<()> {
    let action = SigAction::new(SigHandler::Handler(on_signal), SaFlags::empty(), SigSet::empty());
    for signal in [Signal::SIGTERM, Signal::SIGINT] {
        // SAFETY: the handler only stores to an atomic.
        unsafe { sigaction(signal, &action) }.context("install the signal handlers")?;
    }
    let copy = if config.behaviour.duplicate > 0.0 { Copy::Packet(u16::MAX) } else { Copy::Meta };
    let queue = Queue::bind(config.queue, copy).with_context(|| format!("bind NFQUEUE {}", config.queue))?;
    if let Some(path) = ready {
        std::fs::write(path, b"").with_context(|| format!("create {}", path.display()))?;
    }
    eprintln!(
        "delayer: queue {} bound: delay {:?} ± {:?}, duplicate {} %, reorder {} %, seed {}",
        config.queue,
        config.behaviour.delay,
        config.behaviour.jitter,
        config.behaviour.duplicate * 100.0,
        config.behaviour.reorder * 100.0,
        config.seed
    );
    queue::run(config, queue, &STOP).context("delay packets")?;
    eprintln!("delayer: stopped, every held packet let go");
    Ok(())
}
