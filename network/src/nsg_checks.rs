//! The NSG requirements of Azure Batch / Azure ML compute, each turned into
//! probes for [`Nsg::evaluate`] and then into one report row with a fix.
//!
//! The requirements (Azure's guidance for a cluster in a virtual network):
//! Batch node management reaches TCP 29876-29877 from its service tag and
//! from nothing wider; SSH (22) only when asked for and never from the
//! internet; no other port is open to the internet either; the nodes reach
//! each other on every port (MPI) in both directions; and when outbound
//! internet is denied, Storage, Container Registry and Azure ML are still
//! reachable. Outbound internet itself is judged in [`crate::nsg_egress`].

use crate::nsg::{Access, Direction, Evaluation, Nsg, Probe, Proto, Rule};
use crate::prefix::{PortRange, Prefix};
use crate::report::{Finding, Verdict};

/// What the NSG checks need besides the NSG.
#[derive(Debug, Clone)]
pub struct Context {
    /// Region for service tags, e.g. `eastus`.
    pub region: Option<String>,
    /// The compute subnet's prefixes, or [`Prefix::ComputeSubnet`] if unknown.
    pub subnet: Vec<Prefix>,
    /// SSH was asked for (`--ssh`).
    pub ssh: bool,
}

impl Context {
    /// `Base.region`, or `Base.<region>` for the fix when no region is known.
    fn regional(&self, base: &str) -> String {
        format!("{base}.{}", self.region.as_deref().unwrap_or("<region>"))
    }
}

const BATCH_PORTS: PortRange = PortRange { lo: 29876, hi: 29877 };
const SSH_PORT: u16 = 22;

/// A rule the fix would create.
pub(crate) struct NewRule<'a> {
    pub name: &'a str,
    pub direction: Direction,
    pub access: Access,
    pub protocol: &'a str,
    pub sources: String,
    pub destinations: String,
    pub ports: String,
}

fn quote(s: &str) -> String {
    if s == "*" {
        "'*'".into()
    } else {
        s.to_owned()
    }
}

/// `az network nsg rule create` for `rule`, at the first free priority
/// before `before`.
pub(crate) fn create_cmd(nsg: &Nsg, rule: &NewRule<'_>, before: u32) -> String {
    let priority =
        nsg.free_priority(rule.direction, before).map_or_else(|| "<free priority>".to_owned(), |p| p.to_string());
    create_at(nsg, rule, &priority)
}

/// `az network nsg rule create` for `rule` at `priority`.
pub(crate) fn create_at(nsg: &Nsg, rule: &NewRule<'_>, priority: &str) -> String {
    format!(
        "az network nsg rule create --nsg-name {} -g {} --name {} --priority {priority} \
         --direction {} --access {} --protocol {} --source-address-prefixes {} \
         --source-port-ranges '*' --destination-address-prefixes {} --destination-port-ranges {}",
        nsg.name,
        nsg.resource_group,
        rule.name,
        rule.direction.as_str(),
        match rule.access {
            Access::Allow => "Allow",
            Access::Deny => "Deny",
        },
        quote(rule.protocol),
        quote(&rule.sources),
        quote(&rule.destinations),
        quote(&rule.ports),
    )
}

/// `az network nsg rule update` of `rule` with `args`.
pub(crate) fn update_cmd(nsg: &Nsg, rule: &str, args: &str) -> String {
    format!("az network nsg rule update --nsg-name {} -g {} --name {rule} {args}", nsg.name, nsg.resource_group)
}

/// Turns an evaluation that must be fully allowed into a row: ok, or
/// shadowed (an allow exists behind a deny), or missing.
fn must_allow(nsg: &Nsg, id: &'static str, requirement: &str, eval: &Evaluation<'_>, fix: &NewRule<'_>) -> Finding {
    let Some(denial) = &eval.denied else {
        return Finding::ok(id, requirement, Some(eval.allow_labels()), "");
    };
    let deny_prio = denial.by.map_or(65500, |r| r.priority);
    if let Some(allow) = denial.shadowed {
        let fix_cmd = match nsg.free_priority(fix.direction, deny_prio) {
            Some(p) => update_cmd(nsg, &allow.name, &format!("--priority {p}")),
            None => format!(
                "{} (no free priority before {}; move it after {} first)",
                update_cmd(nsg, &allow.name, "--priority <free priority>"),
                denial.by_label(),
                allow.name
            ),
        };
        return Finding::fail(
            id,
            requirement,
            Verdict::Shadowed,
            Some(denial.by_label()),
            format!(
                "{} would allow {}, but {} comes first and denies it",
                allow.label(),
                denial.describe(),
                denial.by_label()
            ),
            fix_cmd,
        );
    }
    Finding::fail(
        id,
        requirement,
        Verdict::Missing,
        Some(denial.by_label()),
        format!("no rule allows {}; {} denies it", denial.describe(), denial.by_label()),
        create_cmd(nsg, fix, deny_prio),
    )
}

/// Inbound TCP 29876-29877 from BatchNodeManagement, and from nothing wider.
pub fn batch_inbound(nsg: &Nsg, ctx: &Context) -> Finding {
    const ID: &str = "nsg.batch-inbound";
    let requirement = "inbound TCP 29876-29877 from BatchNodeManagement";
    let tag = ctx.regional("BatchNodeManagement");
    let eval = nsg.evaluate(&Probe {
        direction: Direction::Inbound,
        protocols: vec![Proto::Tcp],
        sources: vec![Prefix::tag("BatchNodeManagement", ctx.region.as_deref())],
        destinations: ctx.subnet.clone(),
        ports: BATCH_PORTS,
    });
    let row = must_allow(
        nsg,
        ID,
        requirement,
        &eval,
        &NewRule {
            name: "AllowBatchNodeManagement",
            direction: Direction::Inbound,
            access: Access::Allow,
            protocol: "Tcp",
            sources: tag.clone(),
            destinations: "*".into(),
            ports: BATCH_PORTS.to_string(),
        },
    );
    if row.verdict != Verdict::Ok {
        return row;
    }
    match open_allow(nsg, ctx, BATCH_PORTS) {
        Some(open) => Finding::fail(
            ID,
            requirement,
            Verdict::TooOpen,
            Some(open.label()),
            format!("{} admits {} on 29876-29877; only BatchNodeManagement needs it", open.label(), open_sources(open)),
            update_cmd(nsg, &open.name, &format!("--source-address-prefixes {tag}")),
        ),
        None => row,
    }
}

/// The first allow rule that lets the internet (any internet-wide prefix,
/// see [`Nsg::exposures`]) reach TCP `ports` on the subnet.
fn open_allow<'a>(nsg: &'a Nsg, ctx: &Context, ports: PortRange) -> Option<&'a Rule> {
    nsg.exposures(Direction::Inbound, ports, &ctx.subnet).into_iter().find(|e| e.proto == Proto::Tcp).map(|e| e.rule)
}

/// `az network nsg rule delete` of `rule`.
pub(crate) fn delete_cmd(nsg: &Nsg, rule: &str) -> String {
    format!("az network nsg rule delete --nsg-name {} -g {} --name {rule}", nsg.name, nsg.resource_group)
}

fn open_sources(rule: &Rule) -> String {
    rule.sources.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// The fix for an allow that reaches 22 and should not: delete it when it
/// is only about 22, else take 22 out of its ports.
fn drop_ssh(nsg: &Nsg, rule: &Rule) -> String {
    let mut rest = Vec::new();
    for r in &rule.destination_ports {
        if !r.contains(SSH_PORT) {
            rest.push(*r);
            continue;
        }
        if r.lo < SSH_PORT {
            rest.push(PortRange { lo: r.lo, hi: SSH_PORT - 1 });
        }
        if r.hi > SSH_PORT {
            rest.push(PortRange { lo: SSH_PORT + 1, hi: r.hi });
        }
    }
    if rest.is_empty() {
        delete_cmd(nsg, &rule.name)
    } else {
        let ports: Vec<String> = rest.iter().map(ToString::to_string).collect();
        update_cmd(nsg, &rule.name, &format!("--destination-port-ranges {}", ports.join(" ")))
    }
}

/// Inbound 22: closed unless `--ssh`; with `--ssh`, open to a named source
/// but never to the internet.
pub fn ssh(nsg: &Nsg, ctx: &Context) -> Finding {
    const ID: &str = "nsg.ssh";
    let port = PortRange::one(SSH_PORT);
    let requirement = if ctx.ssh {
        "inbound TCP 22 (SSH) from a named source, not the internet"
    } else {
        "inbound TCP 22 (SSH) closed (no --ssh)"
    };
    if let Some(open) = open_allow(nsg, ctx, port) {
        let fix = if ctx.ssh {
            update_cmd(nsg, &open.name, "--source-address-prefixes <your admin CIDR>")
        } else {
            drop_ssh(nsg, open)
        };
        return Finding::fail(
            ID,
            requirement,
            Verdict::TooOpen,
            Some(open.label()),
            format!("{} admits {} on TCP 22", open.label(), open_sources(open)),
            fix,
        );
    }
    // Each source some user allow names for 22, evaluated as a whole: an
    // allow that a deny before it fully blocks does not open anything.
    let named: Vec<Prefix> = nsg
        .rules
        .iter()
        .filter(|r| {
            !r.is_default
                && r.direction == Direction::Inbound
                && r.access == Access::Allow
                && (r.protocol == "*" || r.protocol == "tcp")
                && r.destination_ports.iter().any(|p| p.contains(SSH_PORT))
        })
        .flat_map(|r| r.sources.iter().cloned())
        .filter(|p| !p.is_internet_wide() && !matches!(p, Prefix::VirtualNetwork | Prefix::AzureLoadBalancer))
        .collect();
    let probe = |src: Prefix| Probe {
        direction: Direction::Inbound,
        protocols: vec![Proto::Tcp],
        sources: vec![src],
        destinations: ctx.subnet.clone(),
        ports: port,
    };
    let evals: Vec<Evaluation<'_>> = named.iter().map(|p| nsg.evaluate(&probe(p.clone()))).collect();
    let reaching = evals.iter().flat_map(|e| e.allowed.iter()).map(|(r, _)| *r).find(|r| !r.is_default);
    match (ctx.ssh, reaching) {
        (false, Some(r)) => Finding::fail(
            ID,
            requirement,
            Verdict::TooOpen,
            Some(r.label()),
            format!("SSH was not asked for (--ssh), but {} admits {} on TCP 22", r.label(), open_sources(r)),
            drop_ssh(nsg, r),
        ),
        (false, None) => Finding::ok(ID, requirement, None, "no user rule admits TCP 22"),
        (true, Some(r)) => Finding::ok(ID, requirement, Some(r.label()), ""),
        (true, None) => {
            let shadow = evals.iter().find_map(|e| e.denied.as_ref().filter(|d| d.shadowed.is_some()));
            match shadow {
                Some(d) => {
                    let allow = d.shadowed.expect("filtered on shadowed");
                    let prio = nsg
                        .free_priority(Direction::Inbound, d.by.map_or(65500, |r| r.priority))
                        .map_or_else(|| "<free priority>".to_owned(), |p| p.to_string());
                    Finding::fail(
                        ID,
                        requirement,
                        Verdict::Shadowed,
                        Some(d.by_label()),
                        format!("{} would allow {}, but {} comes first", allow.label(), d.describe(), d.by_label()),
                        update_cmd(nsg, &allow.name, &format!("--priority {prio}")),
                    )
                }
                None => {
                    let deny = nsg.rules.iter().find(|r| {
                        r.direction == Direction::Inbound
                            && r.access == Access::Deny
                            && r.destination_ports.iter().any(|p| p.contains(SSH_PORT))
                    });
                    Finding::fail(
                        ID,
                        requirement,
                        Verdict::Missing,
                        deny.map(Rule::label),
                        "--ssh was given but no rule admits TCP 22 from a named source",
                        create_cmd(
                            nsg,
                            &NewRule {
                                name: "AllowSSH",
                                direction: Direction::Inbound,
                                access: Access::Allow,
                                protocol: "Tcp",
                                sources: "<your admin CIDR>".into(),
                                destinations: "*".into(),
                                ports: "22".into(),
                            },
                            deny.map_or(65500, |r| r.priority),
                        ),
                    )
                }
            }
        }
    }
}

/// Ports whose internet exposure another row judges, with its own fix:
/// TCP 22 (`nsg.ssh`) and TCP 29876-29877 (`nsg.batch-inbound`).
const JUDGED_ELSEWHERE: [PortRange; 2] = [PortRange { lo: SSH_PORT, hi: SSH_PORT }, BATCH_PORTS];

/// No port at all is open to the internet: RDP, a web port, anything. A
/// compute node needs no inbound from the internet; Batch and Azure ML
/// reach it from their service tags, which are not internet-wide. Only the
/// TCP ports `nsg.ssh` and `nsg.batch-inbound` judge are left to them, so
/// that one open port fails one row; a stretch of ports that holds one of
/// them and more fails both.
pub fn internet_inbound(nsg: &Nsg, ctx: &Context) -> Finding {
    const ID: &str = "nsg.internet-inbound";
    let requirement = "no inbound allow from the internet, on any port";
    let open = nsg.exposures(Direction::Inbound, PortRange::ALL, &ctx.subnet).into_iter().find(|e| {
        !(e.proto == Proto::Tcp && JUDGED_ELSEWHERE.iter().any(|j| j.lo <= e.ports.lo && e.ports.hi <= j.hi))
    });
    match open {
        Some(e) => Finding::fail(
            ID,
            requirement,
            Verdict::TooOpen,
            Some(e.rule.label()),
            format!(
                "{} admits {}; the nodes need no inbound from the internet (Batch and Azure ML come from their service tags)",
                e.rule.label(),
                e.describe()
            ),
            delete_cmd(nsg, &e.rule.name),
        ),
        None => Finding::ok(ID, requirement, None, ""),
    }
}

/// The nodes reach each other on every port, in direction `d` (MPI).
pub fn vnet(nsg: &Nsg, ctx: &Context, d: Direction) -> Finding {
    let (id, requirement, name) = match d {
        Direction::Inbound => {
            ("nsg.vnet-inbound", "inbound from the virtual network, all ports (MPI)", "AllowVnetInBoundAll")
        }
        Direction::Outbound => {
            ("nsg.vnet-outbound", "outbound to the virtual network, all ports (MPI)", "AllowVnetOutBoundAll")
        }
    };
    let eval = nsg.evaluate(&Probe {
        direction: d,
        protocols: vec![Proto::Tcp, Proto::Udp],
        sources: ctx.subnet.clone(),
        destinations: ctx.subnet.clone(),
        ports: PortRange::ALL,
    });
    must_allow(
        nsg,
        id,
        requirement,
        &eval,
        &NewRule {
            name,
            direction: d,
            access: Access::Allow,
            protocol: "*",
            sources: "VirtualNetwork".into(),
            destinations: "VirtualNetwork".into(),
            ports: "*".into(),
        },
    )
}

/// When outbound internet is denied: Storage, Container Registry and Azure
/// ML over 443. When it is open these are reachable anyway.
pub fn outbound_services(nsg: &Nsg, ctx: &Context) -> Vec<Finding> {
    let services: [(&'static str, &str, bool, &str); 3] = [
        ("nsg.outbound-storage", "Storage", true, "AllowStorageOutbound"),
        ("nsg.outbound-acr", "AzureContainerRegistry", true, "AllowContainerRegistryOutbound"),
        ("nsg.outbound-aml", "AzureMachineLearning", false, "AllowAzureMachineLearningOutbound"),
    ];
    let outbound = |dst: Prefix| Probe {
        direction: Direction::Outbound,
        protocols: vec![Proto::Tcp],
        sources: ctx.subnet.clone(),
        destinations: vec![dst],
        ports: PortRange::one(443),
    };
    let internet = nsg.evaluate(&outbound(Prefix::Internet));
    services
        .iter()
        .map(|&(id, base, regional, name)| {
            let tag = if regional { ctx.regional(base) } else { base.to_owned() };
            let requirement = format!("outbound TCP 443 to {tag}");
            if internet.all_allowed() {
                return Finding::ok(id, requirement, Some(internet.allow_labels()), "outbound internet open");
            }
            let region = if regional { ctx.region.as_deref() } else { None };
            let eval = nsg.evaluate(&outbound(Prefix::tag(base, region)));
            let mut row = must_allow(
                nsg,
                id,
                &requirement,
                &eval,
                &NewRule {
                    name,
                    direction: Direction::Outbound,
                    access: Access::Allow,
                    protocol: "Tcp",
                    sources: "VirtualNetwork".into(),
                    destinations: tag.clone(),
                    ports: "443".into(),
                },
            );
            if row.verdict == Verdict::Ok {
                row.note = "outbound internet denied; allowed by service tag".into();
            }
            row
        })
        .collect()
}
