//! User-defined routes under forced tunnelling.
//!
//! When the subnet's default route (`0.0.0.0/0`) goes to a firewall
//! appliance or a VPN/ExpressRoute gateway, Batch's replies to its node
//! agents leave from the wrong public address and Azure drops them: the
//! nodes sit "unusable". Azure's fix is a route for the
//! `BatchNodeManagement.<region>` service tag with next hop `Internet`, so
//! that traffic keeps its symmetric path.

use crate::input::{resource_group, resource_name, RouteTableDoc};
use crate::prefix::Prefix;
use crate::report::{Finding, Verdict};

/// The Batch route requirement, judged on one route table.
pub fn check(doc: &RouteTableDoc, region: Option<&str>) -> Finding {
    const ID: &str = "routes.batch";
    let name = resource_name(doc.name.as_deref(), doc.id.as_deref(), "<route table name>");
    let rg = resource_group(doc.id.as_deref(), doc.resource_group.as_deref());
    let tag = format!("BatchNodeManagement.{}", region.unwrap_or("<region>"));
    let requirement = format!("route {tag} -> Internet under forced tunnelling");

    let tunnel = doc.routes.iter().find(|r| {
        Prefix::parse(&r.address_prefix) == Prefix::Any
            && (r.next_hop_type.eq_ignore_ascii_case("VirtualAppliance")
                || r.next_hop_type.eq_ignore_ascii_case("VirtualNetworkGateway"))
    });
    let Some(tunnel) = tunnel else {
        return Finding::ok(
            ID,
            requirement,
            None,
            "no forced tunnelling: no 0.0.0.0/0 route to an appliance or gateway",
        );
    };
    let target = Prefix::tag("BatchNodeManagement", region);
    let batch = doc.routes.iter().find(|r| {
        // A route for the global tag covers the region too.
        matches!(Prefix::parse(&r.address_prefix), p @ Prefix::Tag { .. } if p.covers(&target) == crate::prefix::Cover::Full)
    });
    let tunnel_label = format!("{} ({} -> {})", tunnel.name, tunnel.address_prefix, tunnel.next_hop_type);
    match batch {
        Some(r) if r.next_hop_type.eq_ignore_ascii_case("Internet") => Finding::ok(
            ID,
            requirement,
            Some(format!("{} ({} -> Internet)", r.name, r.address_prefix)),
            format!("forced tunnelling via {tunnel_label}"),
        ),
        Some(r) => Finding::fail(
            ID,
            requirement,
            Verdict::Missing,
            Some(format!("{} ({} -> {})", r.name, r.address_prefix, r.next_hop_type)),
            format!("route {} sends Batch traffic to {}, not to Internet", r.name, r.next_hop_type),
            format!(
                "az network route-table route update -g {rg} --route-table-name {name} --name {} --next-hop-type Internet",
                r.name
            ),
        ),
        None => Finding::fail(
            ID,
            requirement,
            Verdict::Missing,
            Some(tunnel_label.clone()),
            format!("{tunnel_label} tunnels everything, Batch management traffic included"),
            format!(
                "az network route-table route create -g {rg} --route-table-name {name} --name BatchNodeManagement --address-prefix {tag} --next-hop-type Internet"
            ),
        ),
    }
}
