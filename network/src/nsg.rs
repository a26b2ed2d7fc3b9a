//! NSG rules, and evaluating traffic against them the way Azure does.
//!
//! Azure sorts one direction's rules by priority (lower number first) and
//! the first rule that matches a flow decides it; the built-in rules sit at
//! 65000 and above, so a user rule always comes first. A requirement such as
//! "BatchNodeManagement reaches TCP 29876-29877" is a set of flows, so it is
//! evaluated on every distinct stretch of ports (the stretches between the
//! rules' own port boundaries), every protocol and every prefix of the
//! subnet: one denied flow is enough to fail it, because Batch then loses
//! some nodes.

use std::path::Path;

use crate::error::NetworkError;
use crate::input::{resource_group, resource_name, NsgDoc, RuleDoc};
use crate::prefix::{union_covers, Cover, PortRange, Prefix};

/// Which way traffic flows through the NSG.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Towards the compute nodes.
    Inbound,
    /// Away from the compute nodes.
    Outbound,
}

impl Direction {
    /// As `az` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "Inbound",
            Direction::Outbound => "Outbound",
        }
    }
}

/// What a rule does to matching traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Let it through.
    Allow,
    /// Drop it.
    Deny,
}

/// A probe's protocol; rules may also say `*`, `Icmp`, `Esp`, `Ah`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Proto {
    /// As `az` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "Tcp",
            Proto::Udp => "Udp",
        }
    }
}

/// One NSG rule, parsed.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Rule name, as the report and the fixes name it.
    pub name: String,
    /// 100–4096 for user rules, 65000+ for Azure's.
    pub priority: u32,
    /// Inbound or outbound.
    pub direction: Direction,
    /// Allow or deny.
    pub access: Access,
    /// `*`, `tcp`, `udp`, … lower-cased.
    pub protocol: String,
    /// Source prefixes (singular and plural fields together).
    pub sources: Vec<Prefix>,
    /// Destination prefixes.
    pub destinations: Vec<Prefix>,
    /// Source port ranges.
    pub source_ports: Vec<PortRange>,
    /// Destination port ranges.
    pub destination_ports: Vec<PortRange>,
    /// One of Azure's built-in rules.
    pub is_default: bool,
}

impl Rule {
    /// `Name (priority)`, how the report names the rule that decided.
    pub fn label(&self) -> String {
        format!("{} ({})", self.name, self.priority)
    }

    fn matches_proto(&self, p: Proto) -> bool {
        self.protocol == "*" || self.protocol == p.as_str().to_ascii_lowercase()
    }

    /// True when the rule allows every flow of this one point in full:
    /// all of the source and destination, from any source port.
    fn fully_allows(&self, p: Proto, port: u16, src: &Prefix, dst: &Prefix) -> bool {
        self.access == Access::Allow && self.covers_all(p, port, src, dst)
    }

    /// True when the rule is a deny that blocks every flow of this point.
    fn fully_denies(&self, p: Proto, port: u16, src: &Prefix, dst: &Prefix) -> bool {
        self.access == Access::Deny && self.covers_all(p, port, src, dst)
    }

    fn covers_all(&self, p: Proto, port: u16, src: &Prefix, dst: &Prefix) -> bool {
        self.matches_proto(p)
            && self.destination_ports.iter().any(|r| r.contains(port))
            && self.source_ports.iter().any(PortRange::is_all)
            && union_covers(&self.sources, src) == Cover::Full
            && union_covers(&self.destinations, dst) == Cover::Full
    }

    /// The prefixes on the far side of the subnet: sources inbound,
    /// destinations outbound.
    fn remote(&self) -> &[Prefix] {
        match self.direction {
            Direction::Inbound => &self.sources,
            Direction::Outbound => &self.destinations,
        }
    }

    /// True when the rule applies to at least some of the flows of this point.
    fn touches(&self, p: Proto, port: u16, src: &Prefix, dst: &Prefix) -> bool {
        self.matches_proto(p)
            && self.destination_ports.iter().any(|r| r.contains(port))
            && union_covers(&self.sources, src) != Cover::None
            && union_covers(&self.destinations, dst) != Cover::None
    }
}

/// An NSG: its identity (for fixes) and its rules in evaluation order.
#[derive(Debug, Clone)]
pub struct Nsg {
    /// NSG name.
    pub name: String,
    /// Resource group, parsed from the id.
    pub resource_group: String,
    /// ARM id, to compare with the subnet's `networkSecurityGroup`.
    pub id: Option<String>,
    /// Region from `location`.
    pub location: Option<String>,
    /// User and default rules, sorted by priority.
    pub rules: Vec<Rule>,
}

/// Azure's built-in rules, for NSG JSON that does not list them (ARM
/// templates, hand-written files).
const DEFAULTS: [(&str, u32, Direction, Access, &str, &str); 6] = [
    ("AllowVnetInBound", 65000, Direction::Inbound, Access::Allow, "VirtualNetwork", "VirtualNetwork"),
    ("AllowAzureLoadBalancerInBound", 65001, Direction::Inbound, Access::Allow, "AzureLoadBalancer", "*"),
    ("DenyAllInBound", 65500, Direction::Inbound, Access::Deny, "*", "*"),
    ("AllowVnetOutBound", 65000, Direction::Outbound, Access::Allow, "VirtualNetwork", "VirtualNetwork"),
    ("AllowInternetOutBound", 65001, Direction::Outbound, Access::Allow, "*", "Internet"),
    ("DenyAllOutBound", 65500, Direction::Outbound, Access::Deny, "*", "*"),
];

fn default_rules() -> Vec<Rule> {
    DEFAULTS
        .iter()
        .map(|&(name, priority, direction, access, src, dst)| Rule {
            name: name.to_owned(),
            priority,
            direction,
            access,
            protocol: "*".to_owned(),
            sources: vec![Prefix::parse(src)],
            destinations: vec![Prefix::parse(dst)],
            source_ports: vec![PortRange::ALL],
            destination_ports: vec![PortRange::ALL],
            is_default: true,
        })
        .collect()
}

/// The singular field and the plural one together: `az` prints the
/// singular with an empty plural, or the plural with a null singular.
fn both(one: &Option<String>, many: &Option<Vec<String>>) -> Vec<String> {
    one.iter().filter(|s| !s.is_empty()).cloned().chain(many.iter().flatten().cloned()).collect()
}

fn parse_rule(doc: &RuleDoc, is_default: bool, path: &Path) -> Result<Rule, NetworkError> {
    let bad =
        |what: String| NetworkError::Invalid { path: path.to_owned(), cause: format!("rule {}: {what}", doc.name) };
    let direction = match doc.direction.to_ascii_lowercase().as_str() {
        "inbound" => Direction::Inbound,
        "outbound" => Direction::Outbound,
        other => return Err(bad(format!("direction {other:?} is not Inbound or Outbound"))),
    };
    let access = match doc.access.to_ascii_lowercase().as_str() {
        "allow" => Access::Allow,
        "deny" => Access::Deny,
        other => return Err(bad(format!("access {other:?} is not Allow or Deny"))),
    };
    let ports = |one: &Option<String>, many: &Option<Vec<String>>, field: &str| {
        let all = both(one, many);
        if all.is_empty() {
            return Err(bad(format!("no {field}")));
        }
        all.iter()
            .map(|s| PortRange::parse(s).ok_or_else(|| bad(format!("{field} {s:?} is not a port or range"))))
            .collect::<Result<Vec<_>, _>>()
    };
    let prefixes = |one: &Option<String>, many: &Option<Vec<String>>| {
        let all = both(one, many);
        if all.is_empty() {
            // Application security groups: an opaque set of NICs.
            vec![Prefix::Other("(application security group)".into())]
        } else {
            all.iter().map(|s| Prefix::parse(s)).collect()
        }
    };
    Ok(Rule {
        name: doc.name.clone(),
        priority: doc.priority,
        direction,
        access,
        protocol: doc.protocol.to_ascii_lowercase(),
        sources: prefixes(&doc.source_address_prefix, &doc.source_address_prefixes),
        destinations: prefixes(&doc.destination_address_prefix, &doc.destination_address_prefixes),
        source_ports: ports(&doc.source_port_range, &doc.source_port_ranges, "sourcePortRange")?,
        destination_ports: ports(&doc.destination_port_range, &doc.destination_port_ranges, "destinationPortRange")?,
        is_default,
    })
}

impl Nsg {
    /// Parses `az network nsg show` output; adds Azure's default rules when
    /// the document has none.
    pub fn from_doc(doc: &NsgDoc, path: &Path) -> Result<Nsg, NetworkError> {
        let mut rules = Vec::new();
        for r in doc.security_rules.iter().flatten() {
            rules.push(parse_rule(r, false, path)?);
        }
        match doc.default_security_rules.as_deref() {
            Some(defaults) if !defaults.is_empty() => {
                for r in defaults {
                    rules.push(parse_rule(r, true, path)?);
                }
            }
            _ => rules.extend(default_rules()),
        }
        rules.sort_by_key(|r| (r.direction == Direction::Outbound, r.priority));
        Ok(Nsg {
            name: resource_name(doc.name.as_deref(), doc.id.as_deref(), "<nsg name>"),
            resource_group: resource_group(doc.id.as_deref(), doc.resource_group.as_deref()),
            id: doc.id.clone(),
            location: doc.location.clone(),
            rules,
        })
    }

    fn rules_in(&self, d: Direction) -> impl Iterator<Item = &Rule> {
        self.rules.iter().filter(move |r| r.direction == d)
    }

    /// Looks up a rule by name.
    pub fn rule(&self, name: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.name == name)
    }

    /// The rule that decides one flow: the first, by priority, that matches.
    /// A deny decides as soon as it touches part of the flow; an allow only
    /// when it covers all of it (see the module docs of [`crate::prefix`]).
    fn decide(&self, d: Direction, p: Proto, port: u16, src: &Prefix, dst: &Prefix) -> Option<&Rule> {
        self.rules_in(d).find(|r| match r.access {
            Access::Deny => r.touches(p, port, src, dst),
            Access::Allow => r.fully_allows(p, port, src, dst),
        })
    }

    /// Evaluates every flow of `probe`.
    pub fn evaluate(&self, probe: &Probe) -> Evaluation<'_> {
        let mut eval = Evaluation::default();
        for port in self.segments(probe.direction, probe.ports) {
            for &p in &probe.protocols {
                for src in &probe.sources {
                    for dst in &probe.destinations {
                        match self.decide(probe.direction, p, port.lo, src, dst) {
                            Some(r) if r.access == Access::Allow => {
                                if !eval.allowed.iter().any(|(a, _)| a.name == r.name) {
                                    eval.allowed.push((r, port));
                                }
                            }
                            decided => {
                                if eval.denied.is_none() {
                                    let shadowed = decided.and_then(|deny| {
                                        self.rules_in(probe.direction).find(|a| {
                                            !a.is_default
                                                && a.priority > deny.priority
                                                && a.fully_allows(p, port.lo, src, dst)
                                        })
                                    });
                                    eval.denied = Some(Denial {
                                        by: decided,
                                        shadowed,
                                        proto: p,
                                        ports: port,
                                        source: src.clone(),
                                        destination: dst.clone(),
                                    });
                                }
                            }
                        }
                    }
                }
            }
        }
        eval
    }

    /// Every allow that lets an internet-wide prefix (see
    /// [`Prefix::is_internet_wide`]) reach the subnet (inbound) or be
    /// reached from it (outbound) on some of `ports`, TCP or UDP, unless a
    /// deny with a lower priority number blocks all of that traffic.
    ///
    /// The dual of [`Nsg::evaluate`]: there an allow must cover a whole
    /// flow and any deny that touches it blocks, so that "allowed" is never
    /// optimistic; here any allow that touches the flow counts and only a
    /// deny that covers it all blocks, so that "not exposed" is never
    /// optimistic either. Each rule is listed once per protocol and port
    /// stretch it exposes, in port order, so a caller can leave out the
    /// ports another check judges.
    pub fn exposures(&self, d: Direction, ports: PortRange, subnet: &[Prefix]) -> Vec<Exposure<'_>> {
        let mut out: Vec<Exposure<'_>> = Vec::new();
        for seg in self.segments(d, ports) {
            for proto in [Proto::Tcp, Proto::Udp] {
                for local in subnet {
                    for (i, rule) in self.rules_in(d).enumerate() {
                        if rule.access != Access::Allow {
                            continue;
                        }
                        let Some(peer) = rule.remote().iter().find(|wide| {
                            if !wide.is_internet_wide() {
                                return false;
                            }
                            let far = wide.internet_side();
                            let (src, dst) = match d {
                                Direction::Inbound => (&far, local),
                                Direction::Outbound => (local, &far),
                            };
                            rule.touches(proto, seg.lo, src, dst)
                                && !self.rules_in(d).take(i).any(|r| r.fully_denies(proto, seg.lo, src, dst))
                        }) else {
                            continue;
                        };
                        let seen = out.iter().any(|e| e.rule.name == rule.name && e.proto == proto && e.ports == seg);
                        if !seen {
                            out.push(Exposure { rule, proto, ports: seg, peer: peer.clone() });
                        }
                    }
                }
            }
        }
        out
    }

    /// Cuts `range` at every rule's port boundary: inside one piece every
    /// port meets the same rules, so one port stands for the piece.
    fn segments(&self, d: Direction, range: PortRange) -> Vec<PortRange> {
        let mut cuts: Vec<u32> = vec![u32::from(range.lo), u32::from(range.hi) + 1];
        for r in self.rules_in(d) {
            for pr in &r.destination_ports {
                for c in [u32::from(pr.lo), u32::from(pr.hi) + 1] {
                    if c > u32::from(range.lo) && c <= u32::from(range.hi) {
                        cuts.push(c);
                    }
                }
            }
        }
        cuts.sort_unstable();
        cuts.dedup();
        cuts.windows(2).map(|w| PortRange { lo: w[0] as u16, hi: (w[1] - 1) as u16 }).collect()
    }

    /// A priority for a new rule in direction `d` that is free and comes
    /// before `before`: the lowest free multiple of ten from 100, else any
    /// free number. `None` when nothing fits.
    pub fn free_priority(&self, d: Direction, before: u32) -> Option<u32> {
        let used = |p: u32| self.rules_in(d).any(|r| r.priority == p);
        let limit = before.min(4097);
        (100..limit).step_by(10).chain(100..limit).find(|&p| !used(p))
    }
}

/// A set of flows a requirement needs (or must not have).
#[derive(Debug, Clone)]
pub struct Probe {
    /// Inbound or outbound.
    pub direction: Direction,
    /// TCP, UDP or both.
    pub protocols: Vec<Proto>,
    /// Where the traffic comes from (each evaluated).
    pub sources: Vec<Prefix>,
    /// Where it goes (each evaluated).
    pub destinations: Vec<Prefix>,
    /// Destination ports.
    pub ports: PortRange,
}

/// Traffic between the subnet and the internet at large that a rule lets
/// through (see [`Nsg::exposures`]).
#[derive(Debug, Clone)]
pub struct Exposure<'a> {
    /// The allow rule that lets it through.
    pub rule: &'a Rule,
    /// Protocol of the traffic.
    pub proto: Proto,
    /// Ports it reaches: one stretch between rule port boundaries.
    pub ports: PortRange,
    /// The rule's internet-wide prefix that admits it.
    pub peer: Prefix,
}

impl Exposure<'_> {
    /// `Tcp 3389 from Internet`, for the report's notes.
    pub fn describe(&self) -> String {
        let way = match self.rule.direction {
            Direction::Inbound => "from",
            Direction::Outbound => "to",
        };
        format!("{} {} {way} {}", self.proto.as_str(), self.ports, self.peer)
    }
}

/// The first flow of a probe that was not allowed.
#[derive(Debug, Clone)]
pub struct Denial<'a> {
    /// The rule that denied it; `None` only if no rule matched at all.
    pub by: Option<&'a Rule>,
    /// A user allow, later in priority, that would have let it through.
    pub shadowed: Option<&'a Rule>,
    /// Protocol of the flow.
    pub proto: Proto,
    /// Ports of the flow.
    pub ports: PortRange,
    /// Source of the flow.
    pub source: Prefix,
    /// Destination of the flow.
    pub destination: Prefix,
}

impl Denial<'_> {
    /// `Tcp 29877 from X to Y`, for the report's notes.
    pub fn describe(&self) -> String {
        format!("{} {} from {} to {}", self.proto.as_str(), self.ports, self.source, self.destination)
    }

    /// The deciding rule's label, or a placeholder.
    pub fn by_label(&self) -> String {
        self.by.map_or_else(|| "(no rule matched)".to_owned(), Rule::label)
    }
}

/// What [`Nsg::evaluate`] found.
#[derive(Debug, Clone, Default)]
pub struct Evaluation<'a> {
    /// Each allow rule that decided some flow, with the first ports it decided.
    pub allowed: Vec<(&'a Rule, PortRange)>,
    /// The first flow not allowed, if any.
    pub denied: Option<Denial<'a>>,
}

impl Evaluation<'_> {
    /// True when every flow was allowed.
    pub fn all_allowed(&self) -> bool {
        self.denied.is_none()
    }

    /// Names the allow rules that decided, for the report.
    pub fn allow_labels(&self) -> String {
        self.allowed.iter().map(|(r, _)| r.label()).collect::<Vec<_>>().join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nsg(rules: serde_json::Value) -> Nsg {
        let doc: NsgDoc = serde_json::from_value(serde_json::json!({
            "name": "n",
            "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/n",
            "securityRules": rules,
        }))
        .unwrap();
        Nsg::from_doc(&doc, Path::new("nsg.json")).unwrap()
    }

    fn rule(name: &str, prio: u32, access: &str, src: &str, ports: &str) -> serde_json::Value {
        serde_json::json!({
            "name": name, "priority": prio, "direction": "Inbound", "access": access,
            "protocol": "Tcp", "sourceAddressPrefix": src, "sourcePortRange": "*",
            "destinationAddressPrefix": "*", "destinationPortRange": ports,
        })
    }

    fn batch_probe() -> Probe {
        Probe {
            direction: Direction::Inbound,
            protocols: vec![Proto::Tcp],
            sources: vec![Prefix::tag("BatchNodeManagement", Some("eastus"))],
            destinations: vec![Prefix::ComputeSubnet],
            ports: PortRange { lo: 29876, hi: 29877 },
        }
    }

    #[test]
    fn first_match_wins_and_defaults_are_added() {
        let n = nsg(serde_json::json!([rule("A", 100, "Allow", "BatchNodeManagement", "29876-29877")]));
        assert_eq!(n.rules.len(), 7);
        let e = n.evaluate(&batch_probe());
        assert!(e.all_allowed());
        assert_eq!(e.allow_labels(), "A (100)");
    }

    #[test]
    fn a_port_left_out_is_denied_by_the_default() {
        let n = nsg(serde_json::json!([rule("A", 100, "Allow", "BatchNodeManagement", "29876")]));
        let d = n.evaluate(&batch_probe()).denied.unwrap();
        assert_eq!(d.by.unwrap().name, "DenyAllInBound");
        assert_eq!(d.ports, PortRange::one(29877));
        assert!(d.shadowed.is_none());
    }

    #[test]
    fn an_earlier_deny_shadows_an_allow() {
        let n = nsg(serde_json::json!([
            rule("A", 200, "Allow", "BatchNodeManagement", "29876-29877"),
            rule("D", 150, "Deny", "Internet", "*"),
        ]));
        let d = n.evaluate(&batch_probe()).denied.unwrap();
        assert_eq!(d.by.unwrap().name, "D");
        assert_eq!(d.shadowed.unwrap().name, "A");
        assert_eq!(n.free_priority(Direction::Inbound, 150), Some(100));
    }

    #[test]
    fn exposures_count_any_touching_allow_and_only_full_denies() {
        let n = nsg(serde_json::json!([
            rule("Rdp", 300, "Allow", "*", "3389"),
            rule("DenySome", 200, "Deny", "52.0.0.0/8", "*"),
            rule("Named", 310, "Allow", "203.0.113.0/24", "8080"),
            rule("Halves", 320, "Allow", "0.0.0.0/1", "9000"),
        ]));
        let ex = n.exposures(Direction::Inbound, PortRange::ALL, &[Prefix::ComputeSubnet]);
        let names: Vec<_> = ex.iter().map(|e| (e.rule.name.as_str(), e.proto, e.ports.to_string())).collect();
        // A deny of part of the internet leaves the rest of it in; a named
        // /24 is not the internet; rules are Tcp, so Udp is not exposed.
        assert_eq!(names, [("Rdp", Proto::Tcp, "3389".to_owned()), ("Halves", Proto::Tcp, "9000".to_owned())]);
        assert_eq!(ex[0].describe(), "Tcp 3389 from *");

        let n = nsg(serde_json::json!([
            rule("Rdp", 300, "Allow", "*", "3389"),
            rule("DenyInternet", 200, "Deny", "Internet", "*"),
        ]));
        assert!(n.exposures(Direction::Inbound, PortRange::ALL, &[Prefix::ComputeSubnet]).is_empty());
    }

    #[test]
    fn split_allows_still_cover_the_range() {
        let n = nsg(serde_json::json!([
            rule("A", 100, "Allow", "BatchNodeManagement", "29876"),
            rule("B", 110, "Allow", "BatchNodeManagement", "29877"),
        ]));
        assert!(n.evaluate(&batch_probe()).all_allowed());
    }
}
