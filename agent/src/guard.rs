//! The flow guard of an agent that runs engines inside itself. Flows are process groups of their
//! own, so they outlive an agent that is killed or crashes — with nobody left to report for them.
//! The guard is a small helper process (`rigel engine guard`, in its own process group) that the
//! agent tells, over a pipe, which flow process groups are running (`+PGID` / `-PGID` lines).
//! When the pipe closes while groups are still listed — the agent went away without stopping
//! them — it sends them SIGTERM, then SIGKILL after a grace period, and exits. An agent that stops
//! normally has ended its flows first, so the guard finds nothing to do.

use std::collections::HashSet;
use std::io::BufRead;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// How long flows get between SIGTERM and SIGKILL once their agent is gone.
pub const GRACE: Duration = Duration::from_secs(10);

/// The agent's side: tells the guard process which flow groups run. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Guard {
    lines: mpsc::UnboundedSender<String>,
}

impl Guard {
    /// Starts `program engine guard`; the returned child is the guard process, to be waited for
    /// when the agent stops (after every `Guard` handle is dropped, which closes its pipe).
    pub fn start(program: &Path) -> std::io::Result<(Self, Child)> {
        let mut child = Command::new(program)
            .args(["engine", "guard"])
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(false)
            .spawn()?;
        let mut pipe = child
            .stdin
            .take()
            .ok_or_else(|| std::io::Error::other("the guard has no input pipe"))?;
        let (lines, mut queue) = mpsc::unbounded_channel::<String>();
        tokio::spawn(async move {
            while let Some(line) = queue.recv().await {
                if let Err(e) = pipe.write_all(line.as_bytes()).await {
                    tracing::warn!(error = %e, "the flow guard stopped listening; flows of this agent will not be stopped if it dies");
                    return;
                }
            }
        });
        Ok((Self { lines }, child))
    }

    /// Watches the process group led by `pid` until the returned value is dropped.
    pub fn watch(&self, pid: u32) -> Watched {
        let _ = self.lines.send(format!("+{pid}\n"));
        Watched {
            guard: self.clone(),
            pid,
        }
    }
}

/// A flow group the guard watches; dropping it (once the flow's process has been waited for)
/// tells the guard to forget it.
#[derive(Debug)]
pub struct Watched {
    guard: Guard,
    pid: u32,
}

impl Drop for Watched {
    fn drop(&mut self) {
        let _ = self.guard.lines.send(format!("-{}\n", self.pid));
    }
}

/// The guard process (`rigel engine guard`): follows the lines on `input` until it closes, then
/// stops the groups still listed (SIGKILL for what is left after `grace`). Returns how many it
/// had to stop.
pub fn serve(input: impl BufRead, grace: Duration) -> usize {
    let mut groups: HashSet<i32> = HashSet::new();
    for line in input.lines() {
        let Ok(line) = line else { break };
        let (add, pid) = match (line.strip_prefix('+'), line.strip_prefix('-')) {
            (Some(pid), _) => (true, pid),
            (_, Some(pid)) => (false, pid),
            _ => continue,
        };
        let Ok(pid) = pid.trim().parse::<i32>() else {
            continue;
        };
        // never a whole-session or "every process" signal
        if pid <= 1 {
            continue;
        }
        if add {
            groups.insert(pid);
        } else {
            groups.remove(&pid);
        }
    }
    stop_all(&groups, grace)
}

/// SIGTERM to every group, SIGKILL to those still there after `grace`.
fn stop_all(groups: &HashSet<i32>, grace: Duration) -> usize {
    let alive = |pgid: i32| killpg(Pid::from_raw(pgid), None).is_ok();
    let mut left: Vec<i32> = groups.iter().copied().filter(|g| alive(*g)).collect();
    let stopped = left.len();
    if stopped == 0 {
        return 0;
    }
    tracing::warn!(flows = stopped, "the agent went away; stopping its flows");
    for pgid in &left {
        let _ = killpg(Pid::from_raw(*pgid), Signal::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while !left.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        left.retain(|g| alive(*g));
    }
    for pgid in &left {
        let _ = killpg(Pid::from_raw(*pgid), Signal::SIGKILL);
    }
    stopped
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    #[test]
    fn groups_still_listed_when_the_input_closes_are_stopped() {
        // a group of its own: `sh` and its `sleep`
        let mut flow = std::process::Command::new("sh")
            .args(["-c", "sleep 30; true"])
            .process_group(0)
            .spawn()
            .unwrap();
        let pid = flow.id();
        let input = format!("+{pid}\n+4242424\n-4242424\nnonsense\n+1\n");
        // (the test is the flow's parent: its zombie counts as alive until the SIGKILL)
        assert_eq!(serve(input.as_bytes(), Duration::from_millis(300)), 1);
        let status = flow.wait().unwrap();
        assert!(!status.success(), "the flow was stopped");
        // its `sleep` too (whose zombie lasts until init reaps it: only live ones count)
        let pgid = i32::try_from(pid).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !live_members(pgid).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(live_members(pgid), Vec::<i32>::new(), "its group is gone");
    }

    /// The processes of group `pgid` that are not zombies.
    fn live_members(pgid: i32) -> Vec<i32> {
        let mut live = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<i32>().ok())
            else {
                continue;
            };
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // after the command's closing parenthesis: state, parent, group
            let Some((_, rest)) = stat.rsplit_once(')') else {
                continue;
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            if fields.first() != Some(&"Z") && fields.get(2) == Some(&pgid.to_string().as_str()) {
                live.push(pid);
            }
        }
        live
    }

    #[test]
    fn forgotten_groups_are_left_alone() {
        let mut flow = std::process::Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap();
        let pid = flow.id();
        let input = format!("+{pid}\n-{pid}\n");
        assert_eq!(serve(input.as_bytes(), Duration::from_millis(300)), 0);
        assert!(flow.try_wait().unwrap().is_none(), "still running");
        flow.kill().unwrap();
        flow.wait().unwrap();
    }
}
