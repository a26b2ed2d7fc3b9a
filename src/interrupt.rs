//! Ctrl-C and SIGTERM for the commands that run long (`submit`, `watch`,
//! `styles learn`): one line saying what is kept and how to go on, this
//! run's scratch removed, exit 130. (`worker` has its own: it hands its
//! tasks back first.)

use std::sync::atomic::{AtomicBool, Ordering};

/// Set once the job's end is decided and said (a lost rank): a SIGTERM
/// from mpirun then ends the process without another line.
pub static ENDING: AtomicBool = AtomicBool::new(false);

/// On Ctrl-C or SIGTERM: `say` (the line), remove the scratch, exit 130.
pub fn on_interrupt(say: impl Fn() + Send + 'static) {
    let installed = ctrlc::set_handler(move || {
        if ENDING.load(Ordering::SeqCst) {
            // SAFETY: _exit only ends the process.
            unsafe { libc::_exit(1) };
        }
        say();
        stylize_pipelines::remove_scratch();
        // _exit, not exit: the C++ runtime's static destructors (libtorch)
        // must not run under threads still using them (a segfault).
        // SAFETY: _exit only ends the process.
        unsafe { libc::_exit(130) };
    });
    if let Err(e) = installed {
        tracing::debug!(error = %e, "no interrupt handler");
    }
}
