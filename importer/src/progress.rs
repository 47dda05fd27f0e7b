//! Progress while migrating: an indicatif bar per entity (count, rate, ETA) on a terminal, and
//! a plain log line every few seconds otherwise.

use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

const LOG_EVERY: Duration = Duration::from_secs(5);

/// How to show progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// Bars on stderr.
    Bars,
    /// `tracing` lines every 5 s.
    Log,
    /// Nothing (tests).
    Quiet,
}

impl ProgressMode {
    /// Bars when stderr is a terminal, log lines otherwise.
    pub fn detect() -> Self {
        use std::io::IsTerminal;
        if std::io::stderr().is_terminal() {
            Self::Bars
        } else {
            Self::Log
        }
    }
}

pub struct Progress {
    mode: ProgressMode,
    bars: MultiProgress,
}

impl Progress {
    pub fn new(mode: ProgressMode) -> Self {
        let bars = MultiProgress::with_draw_target(if mode == ProgressMode::Bars {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        Self { mode, bars }
    }

    /// Start counting one entity, of which there are about `approx` rows.
    pub fn entity(&self, name: &'static str, approx: u64) -> EntityProgress {
        let bar = if self.mode == ProgressMode::Bars {
            let bar = self.bars.add(ProgressBar::new(approx.max(1)));
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix:>14} [{bar:30}] {human_pos}/~{human_len} ({per_sec}, ETA {eta}) {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_prefix(name);
            Some(bar)
        } else {
            None
        };
        EntityProgress {
            name,
            approx,
            mode: self.mode,
            bar,
            started: Instant::now(),
            last_log: Instant::now(),
            done: 0,
            skipped: 0,
        }
    }
}

pub struct EntityProgress {
    name: &'static str,
    approx: u64,
    mode: ProgressMode,
    bar: Option<ProgressBar>,
    started: Instant,
    last_log: Instant,
    done: u64,
    skipped: u64,
}

impl EntityProgress {
    /// One row handled.
    pub fn tick(&mut self, skipped: bool) {
        self.done += 1;
        if skipped {
            self.skipped += 1;
        }
        if !self.done.is_multiple_of(1024) {
            return;
        }
        self.refresh();
    }

    fn refresh(&mut self) {
        match &self.bar {
            Some(bar) => {
                if self.done > bar.length().unwrap_or(0) {
                    bar.set_length(self.done);
                }
                bar.set_position(self.done);
                bar.set_message(format!("{} skipped", self.skipped));
            }
            None if self.mode == ProgressMode::Log && self.last_log.elapsed() >= LOG_EVERY => {
                self.last_log = Instant::now();
                let percent = (self.done * 100)
                    .checked_div(self.approx)
                    .map(|p| format!(" (~{}%)", p.min(100)))
                    .unwrap_or_default();
                tracing::info!(
                    "migrating {}: {} ({} skipped) / ~{}{percent}",
                    self.name,
                    self.done,
                    self.skipped,
                    self.approx
                );
            }
            None => {}
        }
    }

    pub fn finish(self) {
        if let Some(bar) = &self.bar {
            bar.set_length(self.done);
            bar.set_position(self.done);
            bar.finish_with_message(format!("{} skipped", self.skipped));
        } else if self.mode == ProgressMode::Log {
            tracing::info!(
                "{}: {} read, {} skipped in {:.2} s",
                self.name,
                self.done,
                self.skipped,
                self.started.elapsed().as_secs_f64()
            );
        }
    }
}
