//! `docker tlsctx autorenew status [--format json]`: installed or not, the
//! last run and its result, the next item due.

use serde_json::json;

use crate::args::Format;
use crate::error::Result;
use crate::issuance::renewal::due::Before;
use crate::issuance::{renewal::renew_due, renewal::schedule, Env};
use crate::text::rfc3339;
use crate::ui;

pub fn run(env: &Env, format: Format) -> Result<()> {
    let a = env.state().autorenew()?;
    let files = schedule::files(&env.config_dir)?;
    // The scheduler's answer, not only what install recorded.
    let said = schedule::query(&env.config_dir);
    let installed = match &said {
        schedule::Said::On(_) => files.iter().all(|f| f.exists()),
        schedule::Said::Off(_) => false,
        schedule::Said::Unknown(_) => {
            a.as_ref().is_some_and(|a| a.scheduler.is_some()) && files.iter().all(|f| f.exists())
        }
    };
    let (said_state, said_words) = match &said {
        schedule::Said::On(w) => ("on", w),
        schedule::Said::Off(w) => ("off", w),
        schedule::Said::Unknown(w) => ("unknown", w),
    };
    let items = renew_due::items(env, Before::Rule)?;
    let next = items.iter().find(|i| !renew_due::is_left_alone(env, i));
    match format {
        Format::Json => ui::print_json(&json!({
            "installed": installed,
            "scheduler": a.as_ref().and_then(|a| a.scheduler.clone()),
            "scheduler_says": {"state": said_state, "detail": said_words},
            "files": files,
            "last_attempt": a.as_ref().and_then(|a| a.last_attempt).map(rfc3339),
            "last_error": a.as_ref().and_then(|a| a.last_error.clone()),
            "consecutive_failures": a.as_ref().map_or(0, |a| a.consecutive_failures),
            "failing_since": a.as_ref().and_then(|a| a.failing_since).map(rfc3339),
            "next_due": next.map(|i| json!({"name": i.name, "kind": i.kind.as_str(), "due_at": rfc3339(i.due_at)})),
        })),
        Format::Text => {
            println!(
                "{}",
                renew_due::status_line(a.as_ref(), Some(&said), env.now)
            );
            if let schedule::Said::On(w) = &said {
                println!("the scheduler says: {w}");
            }
            if !installed && matches!(said, schedule::Said::On(_)) {
                println!("its files are missing: run docker tlsctx autorenew install again");
            }
            match next {
                Some(i) => println!(
                    "next due: {} {:?} on {}",
                    i.kind.as_str(),
                    i.name,
                    rfc3339(i.due_at)
                ),
                None => println!("nothing to renew yet"),
            }
        }
    }
    Ok(())
}
