//! The examples `--help` shows after the options, and the manual pages
//! show as their EXAMPLES section (`stylize man`).

/// Examples shown by `stylize --help` and in stylize(1).
pub const TOP_EXAMPLES: &str = "\
Examples:
  stylize submit clip.mp4                      stylize-out/clip.fauve.<tag>.mp4
  stylize submit clip.mp4 --style starry -o out.mp4
  mpirun -n 2 stylize submit clip.mp4          the same job over MPI ranks
  stylize styles list                          the built-in styles
  stylize man submit | man -l -                a command's manual page";

/// Examples shown by `stylize submit --help` and in stylize-submit(1).
pub const SUBMIT_EXAMPLES: &str = "\
Examples:
  stylize submit clip.mp4                               the default style, into stylize-out/
  stylize submit clip.mp4 --style mosaic -o result.mp4  exactly that file (-y to overwrite)
  stylize submit clip.mp4 --style starry:0.7,mosaic     a blend, 70/30
  stylize submit clip.mp4 --style-image painting.jpg    any painting as the style
  stylize submit clip.mp4 --model mine.pt --range 0-255 your TorchScript module
  stylize submit https://acct.blob.core.windows.net/in/clip.mp4?<sas> -o https://acct.blob.core.windows.net/out?<sas>
  stylize submit clip.mp4 --queue @queue-url.txt -o @outputs-url.txt   shards on `stylize worker` nodes";

/// Examples shown by `stylize watch --help` and in stylize-watch(1).
pub const WATCH_EXAMPLES: &str = "\
Examples:
  stylize watch --queue @queue-url.txt --inputs @uploads-url.txt -o @outputs-url.txt
  stylize watch ... --until-empty --json       a batch run: stop when the queue is empty
  scripts/try-watch.sh                         the whole loop on a local Azurite";

/// Examples shown by `stylize man --help`.
pub const MAN_EXAMPLES: &str = "\
Examples:
  stylize man | man -l -                       the top-level page
  stylize man jobs list | man -l -             one command's page
  stylize man --dir ~/.local/share/man/man1    every page, for `man stylize-submit`";
