//! A long scenario as named steps over one fixture (issue 32: the first
//! failure of a 600-line test hid every later one). A step that only
//! checks records its failure and the scenario goes on; a step that
//! builds what later steps use stops the scenario when it fails, since
//! what follows would fail for its reason. At the end, every failed step
//! is named in one panic, and the steps that never ran are counted.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

pub struct Steps {
    scenario: &'static str,
    failed: Vec<(String, String)>,
    passed: usize,
    finished: bool,
}

fn said(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "(a panic without a message)".into())
}

impl Steps {
    pub fn new(scenario: &'static str) -> Steps {
        Steps {
            scenario,
            failed: Vec::new(),
            passed: 0,
            finished: false,
        }
    }

    /// A step the later ones build on: its failure ends the scenario, and
    /// the report names it with the failed checks before it.
    pub fn setup<T>(&mut self, name: &str, f: impl FnOnce() -> T) -> T {
        eprintln!("{}: step: {name}", self.scenario);
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(v) => {
                self.passed += 1;
                v
            }
            Err(p) => {
                self.failed.push((name.into(), said(&*p)));
                self.finished = true;
                let report = self.report();
                eprintln!("{report}");
                resume_unwind(Box::new(format!(
                    "{report}\n(the steps after {name:?} were not run: they build on it)"
                )))
            }
        }
    }

    /// A step that checks something and leaves the fixture as the later
    /// steps expect it whether or not it passes: its failure is recorded
    /// and the next step runs.
    pub fn check(&mut self, name: &str, f: impl FnOnce()) {
        eprintln!("{}: step: {name}", self.scenario);
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(()) => self.passed += 1,
            Err(p) => self.failed.push((name.into(), said(&*p))),
        }
    }

    fn report(&self) -> String {
        let mut out = format!(
            "{}: {} step(s) failed, {} passed",
            self.scenario,
            self.failed.len(),
            self.passed
        );
        for (name, why) in &self.failed {
            out.push_str(&format!("\n--- {name}:\n{why}"));
        }
        out
    }

    /// Every failed step, or nothing when all passed.
    pub fn done(mut self) {
        self.finished = true;
        if !self.failed.is_empty() {
            panic!("{}", self.report());
        }
    }
}

impl Drop for Steps {
    fn drop(&mut self) {
        // A scenario that forgot done() would pass with failed steps.
        if !self.finished && !std::thread::panicking() {
            panic!("{}: Steps::done was not called", self.scenario);
        }
    }
}
