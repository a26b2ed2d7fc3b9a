//! Address prefixes and port ranges as NSG rules write them, and how much
//! of a target one covers.
//!
//! NSG rules mix CIDRs with service tags whose addresses the checker cannot
//! look up offline (`BatchNodeManagement.eastus` is a list Azure publishes
//! weekly). So coverage is judged symbolically: a tag covers the same tag,
//! `Internet` covers every public service tag, `VirtualNetwork` covers the
//! compute subnet, and where the answer depends on addresses the checker
//! does not know it says [`Cover::Partial`]. The evaluator then treats a
//! partial allow as not enough and a partial deny as enough to block, so an
//! "ok" verdict is never optimistic.

use std::fmt;

/// How much of a target a rule's prefix covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cover {
    /// Disjoint, as far as can be told.
    None,
    /// Overlaps, or might: some of the target, not provably all.
    Partial,
    /// All of the target.
    Full,
}

/// One address prefix: what a rule names, or what a requirement probes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prefix {
    /// `*`, `Any` or `0.0.0.0/0`.
    Any,
    /// The `Internet` tag: every public address.
    Internet,
    /// The `VirtualNetwork` tag: the vnet, peered vnets, on-premises ranges.
    VirtualNetwork,
    /// The `AzureLoadBalancer` tag (the health probe source).
    AzureLoadBalancer,
    /// Any other service tag, with its optional `.region` suffix.
    Tag {
        /// `Storage`, `BatchNodeManagement`, `AzureCloud`, …
        base: String,
        /// `eastus`, lower-cased, or `None` for the global tag.
        region: Option<String>,
    },
    /// An IPv4 address or CIDR.
    Cidr(Cidr),
    /// The compute subnet when its prefixes are not known (no `--subnet`).
    /// Never parsed from a rule.
    ComputeSubnet,
    /// Anything else (IPv6, an application security group): matches only
    /// itself, so it can neither pass nor block a requirement.
    Other(String),
}

impl Prefix {
    /// Parses a rule's prefix string.
    pub fn parse(s: &str) -> Prefix {
        let t = s.trim();
        let lower = t.to_ascii_lowercase();
        match lower.as_str() {
            "*" | "any" | "0.0.0.0/0" => return Prefix::Any,
            "internet" => return Prefix::Internet,
            "virtualnetwork" => return Prefix::VirtualNetwork,
            "azureloadbalancer" => return Prefix::AzureLoadBalancer,
            _ => {}
        }
        if let Some(c) = Cidr::parse(t) {
            return Prefix::Cidr(c);
        }
        if !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '.') {
            return match t.split_once('.') {
                Some((base, region)) => {
                    Prefix::Tag { base: base.to_owned(), region: Some(region.to_ascii_lowercase()) }
                }
                None => Prefix::Tag { base: t.to_owned(), region: None },
            };
        }
        Prefix::Other(t.to_owned())
    }

    /// A service tag as a probe target.
    pub fn tag(base: &str, region: Option<&str>) -> Prefix {
        Prefix::Tag { base: base.to_owned(), region: region.map(str::to_ascii_lowercase) }
    }

    /// True for a prefix that stands for the internet at large rather than
    /// for a network someone owns: `*`, `Internet`, `AzureCloud` (every
    /// Azure public address, other tenants' VMs included) and public CIDRs
    /// of [`WIDE_LEN`] or wider, so that `0.0.0.0/1` + `128.0.0.0/1` does
    /// not slip past a check that only knows `0.0.0.0/0`.
    pub fn is_internet_wide(&self) -> bool {
        match self {
            Prefix::Any | Prefix::Internet => true,
            Prefix::Tag { base, .. } => base.eq_ignore_ascii_case("AzureCloud"),
            Prefix::Cidr(c) => c.len <= WIDE_LEN && c.privacy() != Privacy::Private,
            _ => false,
        }
    }

    /// The internet side of the traffic an internet-wide prefix admits:
    /// `*` is judged as `Internet`, because the virtual-network part of `*`
    /// is not what an exposure check is about (and a deny of `Internet`
    /// does block all of the rest).
    pub fn internet_side(&self) -> Prefix {
        match self {
            Prefix::Any => Prefix::Internet,
            other => other.clone(),
        }
    }

    /// How much of `target` this prefix (from a rule) covers.
    pub fn covers(&self, target: &Prefix) -> Cover {
        use Prefix::*;
        match (self, target) {
            (Any, _) => Cover::Full,
            (_, Any) => Cover::Partial,
            (Other(a), Other(b)) if a.eq_ignore_ascii_case(b) => Cover::Full,
            (Other(_), _) | (_, Other(_)) => Cover::None,

            (Internet, Internet) => Cover::Full,
            // Service tags name Azure's public addresses.
            (Internet, Tag { .. }) => Cover::Full,
            (Internet, Cidr(c)) => match c.privacy() {
                Privacy::Public => Cover::Full,
                Privacy::Mixed => Cover::Partial,
                Privacy::Private => Cover::None,
            },
            (Internet, _) => Cover::None,

            (VirtualNetwork, VirtualNetwork | ComputeSubnet) => Cover::Full,
            (VirtualNetwork, Cidr(c)) => match c.privacy() {
                Privacy::Private => Cover::Full,
                Privacy::Mixed => Cover::Partial,
                Privacy::Public => Cover::None,
            },
            (VirtualNetwork, _) => Cover::None,

            (AzureLoadBalancer, AzureLoadBalancer) => Cover::Full,
            (AzureLoadBalancer, _) => Cover::None,

            (Tag { base, region }, Tag { base: b2, region: r2 }) => {
                let same = base.eq_ignore_ascii_case(b2);
                let cloud = base.eq_ignore_ascii_case("AzureCloud");
                if !same && !cloud {
                    return Cover::None;
                }
                match (region, r2) {
                    (None, _) => Cover::Full,
                    (Some(a), Some(b)) if a == b => Cover::Full,
                    // A regional tag is part of the global one.
                    (Some(_), None) => Cover::Partial,
                    (Some(_), Some(_)) => Cover::None,
                }
            }
            (Tag { .. }, Internet) => Cover::Partial,
            (Tag { .. }, Cidr(c)) if c.privacy() != Privacy::Private => Cover::Partial,
            (Tag { .. }, _) => Cover::None,

            (Cidr(a), Cidr(b)) => a.covers(b),
            // Without --subnet, a private CIDR is taken to be aimed at the
            // compute subnet; a public one cannot be.
            (Cidr(c), ComputeSubnet) => match c.privacy() {
                Privacy::Public => Cover::None,
                _ => Cover::Full,
            },
            (Cidr(c), VirtualNetwork) => match c.privacy() {
                Privacy::Public => Cover::None,
                _ => Cover::Partial,
            },
            (Cidr(c), Internet | Tag { .. }) => match c.privacy() {
                Privacy::Private => Cover::None,
                _ => Cover::Partial,
            },
            (Cidr(_), AzureLoadBalancer) => Cover::None,

            (ComputeSubnet, ComputeSubnet) => Cover::Full,
            (ComputeSubnet, _) => Cover::None,
        }
    }
}

/// The prefix length from which a public CIDR counts as the internet: a
/// /8 is 16.7 million addresses, a cloud provider's or a national ISP's
/// block; the admin and office ranges a rule or firewall should name are
/// /16 and narrower.
pub const WIDE_LEN: u8 = 8;

/// How many distinct addresses `cidrs` cover together (overlaps counted
/// once), to judge a firewall's IP rules as a whole: two /1 halves are the
/// whole internet although neither is `0.0.0.0/0`.
pub fn span(cidrs: &[Cidr]) -> u64 {
    let mut ranges: Vec<(u64, u64)> = cidrs.iter().map(|c| (u64::from(c.addr), u64::from(c.last()))).collect();
    ranges.sort_unstable();
    let mut total = 0;
    let mut current: Option<(u64, u64)> = None;
    for (lo, hi) in ranges {
        current = match current {
            Some((a, b)) if lo <= b + 1 => Some((a, b.max(hi))),
            Some((a, b)) => {
                total += b - a + 1;
                Some((lo, hi))
            }
            None => Some((lo, hi)),
        };
    }
    total + current.map_or(0, |(a, b)| b - a + 1)
}

/// The best cover any of a rule's prefixes gives (a rule lists several
/// prefixes as a union; two halves adding up to the whole are not noticed,
/// which can only make the checker stricter).
pub fn union_covers(prefixes: &[Prefix], target: &Prefix) -> Cover {
    prefixes.iter().map(|p| p.covers(target)).max().unwrap_or(Cover::None)
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Prefix::Any => f.write_str("*"),
            Prefix::Internet => f.write_str("Internet"),
            Prefix::VirtualNetwork => f.write_str("VirtualNetwork"),
            Prefix::AzureLoadBalancer => f.write_str("AzureLoadBalancer"),
            Prefix::Tag { base, region: None } => f.write_str(base),
            Prefix::Tag { base, region: Some(r) } => write!(f, "{base}.{r}"),
            Prefix::Cidr(c) => write!(f, "{c}"),
            Prefix::ComputeSubnet => f.write_str("the compute subnet"),
            Prefix::Other(s) => f.write_str(s),
        }
    }
}

/// An IPv4 CIDR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// Network address (host bits cleared).
    pub addr: u32,
    /// Prefix length, 0–32.
    pub len: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Privacy {
    Private,
    Public,
    Mixed,
}

/// RFC 1918 and the shared range, which Azure counts as `VirtualNetwork`
/// space rather than `Internet`.
const PRIVATE: [(u32, u8); 4] = [
    (0x0A00_0000, 8),  // 10.0.0.0/8
    (0xAC10_0000, 12), // 172.16.0.0/12
    (0xC0A8_0000, 16), // 192.168.0.0/16
    (0x6440_0000, 10), // 100.64.0.0/10
];

impl Cidr {
    /// Parses `a.b.c.d` or `a.b.c.d/n`; `None` for anything else.
    pub fn parse(s: &str) -> Option<Cidr> {
        let (ip, len) = match s.split_once('/') {
            Some((ip, len)) => (ip, len.parse::<u8>().ok().filter(|l| *l <= 32)?),
            None => (s, 32),
        };
        let ip: std::net::Ipv4Addr = ip.parse().ok()?;
        Some(Cidr { addr: u32::from(ip) & mask(len), len })
    }

    /// Number of addresses.
    pub fn size(&self) -> u64 {
        1u64 << (32 - u32::from(self.len))
    }

    /// The same network address with another prefix length.
    pub fn with_len(&self, len: u8) -> Cidr {
        Cidr { addr: self.addr & mask(len), len }
    }

    fn last(&self) -> u32 {
        self.addr | !mask(self.len)
    }

    fn covers(&self, other: &Cidr) -> Cover {
        if self.len <= other.len && other.addr & mask(self.len) == self.addr {
            Cover::Full
        } else if self.addr <= other.last() && other.addr <= self.last() {
            Cover::Partial
        } else {
            Cover::None
        }
    }

    fn privacy(&self) -> Privacy {
        let mut any = false;
        for (a, l) in PRIVATE {
            match (Cidr { addr: a, len: l }).covers(self) {
                Cover::Full => return Privacy::Private,
                Cover::Partial => any = true,
                Cover::None => {}
            }
        }
        if any {
            Privacy::Mixed
        } else {
            Privacy::Public
        }
    }
}

fn mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", std::net::Ipv4Addr::from(self.addr), self.len)
    }
}

/// An inclusive port range; `*` is 0–65535.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    /// First port.
    pub lo: u16,
    /// Last port, inclusive.
    pub hi: u16,
}

impl PortRange {
    /// Every port.
    pub const ALL: PortRange = PortRange { lo: 0, hi: 65535 };

    /// One port.
    pub fn one(p: u16) -> PortRange {
        PortRange { lo: p, hi: p }
    }

    /// Parses `*`, `22` or `29876-29877`.
    pub fn parse(s: &str) -> Option<PortRange> {
        let s = s.trim();
        if s == "*" {
            return Some(PortRange::ALL);
        }
        let (lo, hi) = match s.split_once('-') {
            Some((a, b)) => (a.trim().parse().ok()?, b.trim().parse().ok()?),
            None => {
                let p = s.parse().ok()?;
                (p, p)
            }
        };
        (lo <= hi).then_some(PortRange { lo, hi })
    }

    /// True when `p` is in the range.
    pub fn contains(&self, p: u16) -> bool {
        self.lo <= p && p <= self.hi
    }

    /// True when the range is every port.
    pub fn is_all(&self) -> bool {
        *self == PortRange::ALL
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_all() {
            f.write_str("*")
        } else if self.lo == self.hi {
            write!(f, "{}", self.lo)
        } else {
            write!(f, "{}-{}", self.lo, self.hi)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_shapes_az_prints() {
        assert_eq!(Prefix::parse("*"), Prefix::Any);
        assert_eq!(Prefix::parse("0.0.0.0/0"), Prefix::Any);
        assert_eq!(Prefix::parse("internet"), Prefix::Internet);
        assert_eq!(Prefix::parse("Storage.EastUS"), Prefix::tag("Storage", Some("eastus")));
        assert_eq!(Prefix::parse("10.0.1.7"), Prefix::Cidr(Cidr::parse("10.0.1.7/32").unwrap()));
        assert!(matches!(Prefix::parse("2001:db8::/32"), Prefix::Other(_)));
        assert_eq!(PortRange::parse("29876-29877"), Some(PortRange { lo: 29876, hi: 29877 }));
        assert_eq!(PortRange::parse("*"), Some(PortRange::ALL));
        assert_eq!(PortRange::parse("30-20"), None);
    }

    #[test]
    fn tag_cover_respects_regions() {
        let batch_east = Prefix::tag("BatchNodeManagement", Some("eastus"));
        assert_eq!(Prefix::parse("BatchNodeManagement").covers(&batch_east), Cover::Full);
        assert_eq!(Prefix::parse("BatchNodeManagement.eastus").covers(&batch_east), Cover::Full);
        assert_eq!(Prefix::parse("BatchNodeManagement.westus").covers(&batch_east), Cover::None);
        assert_eq!(Prefix::parse("Storage.eastus").covers(&batch_east), Cover::None);
        assert_eq!(Prefix::parse("AzureCloud").covers(&batch_east), Cover::Full);
        assert_eq!(Prefix::parse("Internet").covers(&batch_east), Cover::Full);
        assert_eq!(batch_east.covers(&Prefix::Internet), Cover::Partial);
        assert_eq!(Prefix::parse("VirtualNetwork").covers(&batch_east), Cover::None);
    }

    #[test]
    fn cidr_cover_and_privacy() {
        let subnet = Prefix::parse("10.0.0.0/24");
        assert_eq!(Prefix::parse("10.0.0.0/16").covers(&subnet), Cover::Full);
        assert_eq!(Prefix::parse("10.0.0.128/25").covers(&subnet), Cover::Partial);
        assert_eq!(Prefix::parse("10.1.0.0/16").covers(&subnet), Cover::None);
        assert_eq!(Prefix::parse("VirtualNetwork").covers(&subnet), Cover::Full);
        assert_eq!(Prefix::parse("Internet").covers(&subnet), Cover::None);
        assert_eq!(Prefix::parse("52.0.0.0/8").covers(&Prefix::Internet), Cover::Partial);
        assert_eq!(Prefix::parse("Internet").covers(&Prefix::parse("52.1.2.3")), Cover::Full);
        assert_eq!(Cidr::parse("10.0.0.0/24").unwrap().size(), 256);
    }

    #[test]
    fn internet_wide_prefixes_and_spans() {
        for wide in ["*", "Internet", "0.0.0.0/0", "0.0.0.0/1", "52.0.0.0/8", "AzureCloud", "AzureCloud.eastus"] {
            assert!(Prefix::parse(wide).is_internet_wide(), "{wide}");
        }
        for narrow in ["10.0.0.0/8", "52.0.0.0/9", "203.0.113.0/24", "Storage.eastus", "VirtualNetwork"] {
            assert!(!Prefix::parse(narrow).is_internet_wide(), "{narrow}");
        }
        let c = |s: &str| Cidr::parse(s).unwrap();
        assert_eq!(span(&[c("0.0.0.0/1"), c("128.0.0.0/1")]), 1 << 32);
        assert_eq!(span(&[c("10.0.0.0/24"), c("10.0.0.128/25"), c("10.0.1.0/24")]), 512);
        assert_eq!(span(&[]), 0);
    }
}
