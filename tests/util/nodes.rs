//! Several nodes rehearsed on one machine (`tests/nodes/`): network
//! namespaces on a bridge, each with its own address on a private subnet,
//! as separate machines would be. Shared by the MPI and the queue
//! rehearsals. Dropping the nodes removes them and every process inside,
//! also when the test fails.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The nodes of one test.
pub struct Nodes {
    pub prefix: String,
    /// The first three octets of the subnet; the host side is `.1`.
    pub net: String,
    pub count: usize,
}

impl Nodes {
    /// `count` nodes, or `None` (the skip recorded, where a person sees
    /// it) when this machine cannot make them: that needs root with `ip
    /// netns` and `unshare`. Under `CI=true` their absence fails.
    pub fn up_or_skip(count: usize, test: &str) -> Option<Nodes> {
        let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        let nodes = root.then(|| Nodes::up(count)).flatten();
        if nodes.is_none() {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true: network namespaces needed (root, ip, unshare)"
            );
            super::skipped(test, "needs root with ip netns and unshare");
        }
        nodes
    }

    fn up(count: usize) -> Option<Nodes> {
        // Two rehearsals may run at once (two test binaries): their own
        // prefixes and subnets.
        let pid = std::process::id();
        let nodes = Nodes { prefix: format!("stz{}", pid % 100_000), net: format!("10.77.{}", 20 + pid % 200), count };
        let ok = Command::new(script("netns.sh"))
            .args(["up", &nodes.prefix, &count.to_string(), &nodes.net])
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(nodes)
    }

    pub fn address(&self, i: usize) -> String {
        format!("{}.{}", self.net, 10 + i)
    }

    pub fn name(&self, i: usize) -> String {
        format!("{}-{i}", self.prefix)
    }

    /// `program` run inside node `i`, with the node's host name, as ssh
    /// would run it on a real node.
    pub fn command(&self, i: usize, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name(i), "unshare", "--uts", "sh", "-c"])
            .arg(format!("hostname {}; exec \"$0\" \"$@\"", self.name(i)))
            .arg(program);
        cmd
    }

    /// Cut node `i`'s link as a pulled cable does: packets dropped, no
    /// reset; its peers only stop hearing it.
    pub fn cut(&self, i: usize) {
        assert!(Command::new(script("netns.sh"))
            .args(["cut", &self.prefix, &i.to_string()])
            .status()
            .unwrap()
            .success());
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        let _ = Command::new(script("netns.sh")).args(["down", &self.prefix, &self.count.to_string()]).status();
    }
}

/// A script of `tests/nodes/`.
pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/nodes").join(name)
}
