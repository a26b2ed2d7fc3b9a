//! Outbound traffic to the internet: denied, and allowed only by service tag.
//!
//! A node that reaches any address can send what it reads anywhere and
//! fetch whatever it is told to run; Azure's default rule
//! `AllowInternetOutBound` (65001) allows exactly that. The cluster needs
//! only Azure's own services, which NSG rules name by service tag
//! (`Storage.<region>`, `AzureActiveDirectory`, `AzureMachineLearning`,
//! `BatchNodeManagement.<region>`, `AzureResourceManager`,
//! `AzureContainerRegistry.<region>`, `AzureMonitor`). Hence two rows that
//! fail apart: a deny must come before the default allow
//! (`nsg.internet-outbound`), and no user allow may name the internet, 443
//! included (`nsg.outbound-tags-only`). Both use [`Nsg::exposures`], which
//! counts `*`, `Internet`, `AzureCloud` and public /8-or-wider CIDRs as the
//! internet.

use crate::nsg::{Access, Direction, Exposure, Nsg};
use crate::nsg_checks::{create_at, delete_cmd, update_cmd, Context, NewRule};
use crate::prefix::{PortRange, Prefix};
use crate::report::{Finding, Verdict};

/// The service tags a compute subnet's outbound allows may name, for notes.
const TAGS: &str = "Storage, AzureActiveDirectory, AzureMachineLearning, BatchNodeManagement, \
                    AzureResourceManager, AzureContainerRegistry, AzureMonitor";

/// The priority Azure's samples and the deployment template use for the
/// catch-all deny: after any service-tag allow, before the 4096 limit.
const DENY_PRIORITY: u32 = 4000;

/// A free priority for the catch-all deny that comes after every user
/// outbound allow, so that the service tags they open stay open.
fn deny_priority(nsg: &Nsg) -> Option<u32> {
    let user: Vec<_> = nsg.rules.iter().filter(|r| r.direction == Direction::Outbound && !r.is_default).collect();
    let after = user.iter().filter(|r| r.access == Access::Allow).map(|r| r.priority + 1).max().unwrap_or(100);
    (DENY_PRIORITY..=4096).chain(after..DENY_PRIORITY).find(|&p| p >= after && !user.iter().any(|r| r.priority == p))
}

fn exposures<'a>(nsg: &'a Nsg, ctx: &Context) -> Vec<Exposure<'a>> {
    nsg.exposures(Direction::Outbound, PortRange::ALL, &ctx.subnet)
}

/// A deny, evaluated before Azure's `AllowInternetOutBound`, takes every
/// port and protocol to the internet away from the nodes.
pub fn internet_outbound(nsg: &Nsg, ctx: &Context) -> Finding {
    const ID: &str = "nsg.internet-outbound";
    let requirement = "outbound to the internet denied (before Azure's AllowInternetOutBound)";
    let all = exposures(nsg, ctx);
    let Some(open) = all.iter().find(|e| e.rule.is_default) else {
        // Name the deny that does it, for the report.
        let deny = nsg.rules.iter().find(|r| {
            r.direction == Direction::Outbound
                && r.access == Access::Deny
                && r.destinations.iter().any(|p| matches!(p, Prefix::Any | Prefix::Internet))
        });
        return Finding::ok(ID, requirement, deny.map(|r| r.label()), "");
    };
    let priority = deny_priority(nsg).map_or_else(|| "<free priority>".to_owned(), |p| p.to_string());
    Finding::fail(
        ID,
        requirement,
        Verdict::TooOpen,
        Some(open.rule.label()),
        format!(
            "no rule denies outbound internet, so {} lets the nodes reach any address (first: {}); \
             only service tags ({TAGS}) should be reachable",
            open.rule.label(),
            open.describe()
        ),
        create_at(
            nsg,
            &NewRule {
                name: "DenyInternetOutbound",
                direction: Direction::Outbound,
                access: Access::Deny,
                protocol: "*",
                sources: "*".into(),
                destinations: "Internet".into(),
                ports: "*".into(),
            },
            &priority,
        ),
    )
}

/// No user allow lets the nodes reach the internet, on any port: HTTPS to
/// "the internet" is how data leaves as easily as any other port.
pub fn outbound_tags_only(nsg: &Nsg, ctx: &Context) -> Finding {
    const ID: &str = "nsg.outbound-tags-only";
    let requirement = "outbound allows name service tags, not the internet (443 included)";
    let all = exposures(nsg, ctx);
    let Some(open) = all.iter().find(|e| !e.rule.is_default) else {
        return Finding::ok(ID, requirement, None, "");
    };
    let fix = if open.rule.destination_ports.iter().any(PortRange::is_all) {
        delete_cmd(nsg, &open.rule.name)
    } else {
        update_cmd(nsg, &open.rule.name, "--destination-address-prefixes <service tag>")
    };
    Finding::fail(
        ID,
        requirement,
        Verdict::TooOpen,
        Some(open.rule.label()),
        format!(
            "{} allows {} from the nodes; name the service tag the traffic is for ({TAGS}) instead",
            open.rule.label(),
            open.describe()
        ),
        fix,
    )
}
