//! IPv4 address and CIDR arithmetic for the offline network checks: parsing, containment,
//! overlap, sizes. IPv4 only: every range moat checks (VNets, subnets, AKS service ranges) is.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// An IPv4 network `addr/len`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    addr: u32,
    len: u8,
}

/// Why a string is not a CIDR.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// No `/len`.
    #[error("`{0}` has no prefix length (e.g. `/24`)")]
    NoPrefix(String),
    /// The address part is not an IPv4 address.
    #[error("`{0}` is not an IPv4 address")]
    BadAddress(String),
    /// The length is not 0–32.
    #[error("prefix length `{0}` is not between 0 and 32")]
    BadLength(String),
    /// Bits set after the prefix (`10.0.0.1/16`).
    #[error("`{given}` has host bits set; the network is `{canonical}`")]
    HostBits {
        /// What was written.
        given: String,
        /// What was probably meant.
        canonical: Cidr,
    },
}

impl Cidr {
    /// Builds a network, clearing host bits.
    pub fn new(addr: Ipv4Addr, len: u8) -> Cidr {
        let len = len.min(32);
        Cidr {
            addr: u32::from(addr) & mask(len),
            len,
        }
    }

    /// Parses `a.b.c.d/len`, refusing host bits.
    pub fn parse_strict(s: &str) -> Result<Cidr, CidrError> {
        let (a, l) = s
            .split_once('/')
            .ok_or_else(|| CidrError::NoPrefix(s.to_string()))?;
        let addr = Ipv4Addr::from_str(a).map_err(|_| CidrError::BadAddress(a.to_string()))?;
        let len: u8 = l
            .parse()
            .ok()
            .filter(|&l| l <= 32)
            .ok_or_else(|| CidrError::BadLength(l.to_string()))?;
        let c = Cidr::new(addr, len);
        if u32::from(addr) != c.addr {
            return Err(CidrError::HostBits {
                given: s.to_string(),
                canonical: c,
            });
        }
        Ok(c)
    }

    /// Parses a CIDR, or a bare address as `/32`.
    pub fn parse_ip_or_cidr(s: &str) -> Result<Cidr, CidrError> {
        if s.contains('/') {
            Cidr::parse_strict(s)
        } else {
            Ipv4Addr::from_str(s)
                .map(|a| Cidr::new(a, 32))
                .map_err(|_| CidrError::BadAddress(s.to_string()))
        }
    }

    /// First address.
    pub fn network(self) -> Ipv4Addr {
        Ipv4Addr::from(self.addr)
    }

    /// Prefix length.
    pub fn len(self) -> u8 {
        self.len
    }

    /// Always false: a network holds at least one address.
    pub fn is_empty(self) -> bool {
        false
    }

    /// Number of addresses.
    pub fn size(self) -> u64 {
        1u64 << (32 - u32::from(self.len))
    }

    fn last(self) -> u32 {
        self.addr | !mask(self.len)
    }

    /// True when `other` lies entirely inside `self`.
    pub fn contains(self, other: Cidr) -> bool {
        self.len <= other.len && (other.addr & mask(self.len)) == self.addr
    }

    /// True when the address lies inside.
    pub fn contains_ip(self, ip: Ipv4Addr) -> bool {
        (u32::from(ip) & mask(self.len)) == self.addr
    }

    /// True when the two ranges share an address.
    pub fn overlaps(self, other: Cidr) -> bool {
        self.addr <= other.last() && other.addr <= self.last()
    }

    /// True for RFC 1918 private ranges.
    pub fn is_private(self) -> bool {
        ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
            .iter()
            .filter_map(|p| Cidr::parse_strict(p).ok())
            .any(|p| p.overlaps(self))
    }
}

/// Ranges Azure refuses in a virtual network's address space and in its subnets, with why
/// (Azure's VNet FAQ lists them: multicast, broadcast, loopback, link-local, and the one
/// address every VNet uses to reach the platform's DNS, DHCP and health probes).
const AZURE_RESERVED: &[(&str, &str)] = &[
    (
        "224.0.0.0/4",
        "it is multicast space, which Azure does not route",
    ),
    ("255.255.255.255/32", "it is the broadcast address"),
    (
        "127.0.0.0/8",
        "it is loopback space: addresses that never leave a machine",
    ),
    (
        "169.254.0.0/16",
        "it is link-local space, which Azure uses for its own host traffic",
    ),
    (
        "168.63.129.16/32",
        "it holds 168.63.129.16, the address through which every VNet reaches Azure's DNS, DHCP and health probes",
    ),
];

impl Cidr {
    /// Why Azure refuses this range as a VNet address space or subnet, if it does: the
    /// catch-all `/0`, or an overlap with a range Azure reserves (returned with it).
    pub fn azure_refuses(self) -> Option<(Option<Cidr>, &'static str)> {
        if self.len == 0 {
            return Some((
                None,
                "it is every IPv4 address: a network's range must leave room for the internet and its peers",
            ));
        }
        AZURE_RESERVED
            .iter()
            .filter_map(|(r, why)| Cidr::parse_strict(r).ok().map(|c| (c, *why)))
            .find(|(r, _)| r.overlaps(self))
            .map(|(r, why)| (Some(r), why))
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
        write!(f, "{}/{}", self.network(), self.len)
    }
}

/// Parses an IPv4 address.
pub fn parse_ip(s: &str) -> Option<Ipv4Addr> {
    Ipv4Addr::from_str(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cidr {
        Cidr::parse_strict(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn parses_and_refuses() {
        assert_eq!(c("10.0.1.0/24").to_string(), "10.0.1.0/24");
        assert_eq!(c("0.0.0.0/0").size(), 1 << 32);
        assert!(matches!(
            Cidr::parse_strict("10.0.1.5/24"),
            Err(CidrError::HostBits { .. })
        ));
        assert!(matches!(
            Cidr::parse_strict("10.0.1.0"),
            Err(CidrError::NoPrefix(_))
        ));
        assert!(matches!(
            Cidr::parse_strict("10.0.1.0/33"),
            Err(CidrError::BadLength(_))
        ));
        assert!(matches!(
            Cidr::parse_strict("10.0.300.0/24"),
            Err(CidrError::BadAddress(_))
        ));
        assert_eq!(Cidr::parse_ip_or_cidr("1.2.3.4").map(Cidr::len), Ok(32));
    }

    #[test]
    fn containment_and_overlap() {
        let vnet = c("10.0.0.0/16");
        assert!(vnet.contains(c("10.0.1.0/24")));
        assert!(!vnet.contains(c("10.1.0.0/24")));
        assert!(!c("10.0.1.0/24").contains(vnet));
        assert!(c("10.0.1.0/24").overlaps(c("10.0.1.128/25")));
        assert!(!c("10.0.1.0/24").overlaps(c("10.0.2.0/24")));
        assert!(c("10.1.0.0/16").contains_ip(Ipv4Addr::new(10, 1, 0, 10)));
        assert_eq!(c("10.0.16.0/20").size(), 4096);
        assert!(c("10.0.0.0/16").is_private());
        assert!(!c("203.0.113.0/28").is_private());
        assert!(c("172.17.0.0/16").is_private());
    }

    #[test]
    fn ranges_azure_refuses() {
        assert_eq!(c("0.0.0.0/0").azure_refuses().map(|(r, _)| r), Some(None));
        for (given, reserved) in [
            ("224.0.0.0/4", "224.0.0.0/4"),
            ("239.1.0.0/16", "224.0.0.0/4"),
            ("255.255.255.255/32", "255.255.255.255/32"),
            ("240.0.0.0/4", "255.255.255.255/32"),
            ("127.0.0.0/8", "127.0.0.0/8"),
            ("169.254.0.0/16", "169.254.0.0/16"),
            ("168.63.129.16/32", "168.63.129.16/32"),
            ("168.63.0.0/16", "168.63.129.16/32"),
            ("128.0.0.0/1", "224.0.0.0/4"),
        ] {
            assert_eq!(
                c(given).azure_refuses().and_then(|(r, _)| r),
                Some(c(reserved)),
                "{given}"
            );
        }
        for fine in [
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "168.63.128.0/24",
            "100.64.0.0/10",
        ] {
            assert_eq!(c(fine).azure_refuses(), None, "{fine}");
        }
    }
}
