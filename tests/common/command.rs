//! The `guichet` binary as a test runs it: one command and what it printed,
//! or a daemon that is killed when the test lets go of it.

use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// The `guichet` binary built for these tests, with nothing set.
pub fn guichet() -> Command {
    Command::new(env!("CARGO_BIN_EXE_guichet"))
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs a command that must succeed; its standard output.
pub fn succeed(command: &mut Command) -> String {
    let output = command.output().expect("guichet runs");
    assert!(output.status.success(), "{command:?}: {}", stderr(&output));
    stdout(&output)
}

/// A `guichet` process left running, killed when dropped.
pub struct Daemon {
    child: Child,
}

impl Daemon {
    /// Starts `command` with its standard output thrown away.
    pub fn spawn(command: &mut Command) -> Self {
        let child = command
            .stdout(Stdio::null())
            .spawn()
            .expect("guichet binary runs");
        Self { child }
    }

    /// The process's id (daemons name themselves `HOST/PID/START`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (`-TERM`, `-KILL`) to the process.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to end; panics after `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "daemon did not stop within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
