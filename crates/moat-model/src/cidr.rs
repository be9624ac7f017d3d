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
}
