//! Small helpers shared by the kinds: clocks, ids, CIDR arithmetic and JSON access.

use serde_json::{Map, Value};
use std::net::Ipv4Addr;

/// Wall-clock seconds since the Unix epoch. Time is read, never driven by background tasks.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// ARM's timestamp format with seven fractional digits (`2024-10-01T10:00:00.1234567Z`).
pub fn timestamp(secs: f64) -> String {
    let nanos = (secs * 1e9) as i128;
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:07}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond() / 100
    )
}

/// A fresh random GUID.
pub fn guid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A network-style weak etag.
pub fn weak_etag() -> String {
    format!("W/\"{}\"", guid())
}

/// Whether `s` looks like a GUID (8-4-4-4-12 hex digits).
pub fn is_guid(s: &str) -> bool {
    uuid::Uuid::try_parse(s).is_ok() && s.len() == 36
}

/// ARM location normalisation: lower case, spaces removed.
pub fn normalize_location(loc: &str) -> String {
    loc.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(|c| c.to_lowercase())
        .collect()
}

/// A deterministic 64-bit hash (FNV-1a) for derived values such as fake FQDN suffixes.
pub fn stable_hash(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// An IPv4 network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// First address as an integer.
    pub base: u32,
    /// Prefix length.
    pub len: u8,
}

/// Why a prefix is not a usable CIDR.
#[derive(Debug, PartialEq, Eq)]
pub enum CidrError {
    /// Not `a.b.c.d/n` at all.
    Syntax,
    /// Host bits are set; carries the prefix it should have been.
    NotAligned(String),
}

impl Cidr {
    /// Parses `a.b.c.d/n`; a bare address is not accepted.
    pub fn parse(s: &str) -> Result<Cidr, CidrError> {
        let (addr, len) = s.trim().split_once('/').ok_or(CidrError::Syntax)?;
        let ip: Ipv4Addr = addr.parse().map_err(|_| CidrError::Syntax)?;
        let len: u8 = len.parse().map_err(|_| CidrError::Syntax)?;
        if len > 32 {
            return Err(CidrError::Syntax);
        }
        let ip = u32::from(ip);
        let c = Cidr {
            base: ip & mask(len),
            len,
        };
        if c.base != ip {
            return Err(CidrError::NotAligned(c.to_string()));
        }
        Ok(c)
    }

    /// Last address as an integer.
    pub fn last(&self) -> u32 {
        self.base | !mask(self.len)
    }

    /// Whether `other` lies fully inside `self`.
    pub fn contains(&self, other: &Cidr) -> bool {
        other.len >= self.len && (other.base & mask(self.len)) == self.base
    }

    /// Whether the two ranges share an address.
    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.base <= other.last() && other.base <= self.last()
    }

    /// Whether the address is inside.
    pub fn contains_ip(&self, ip: Ipv4Addr) -> bool {
        (u32::from(ip) & mask(self.len)) == self.base
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.base), self.len)
    }
}

fn mask(len: u8) -> u32 {
    if len == 0 { 0 } else { u32::MAX << (32 - len) }
}

/// Reads a string at a JSON pointer.
pub fn str_at<'a>(v: &'a Value, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr).and_then(Value::as_str)
}

/// The object at a pointer, created (with parents) when missing or not an object.
pub fn obj_at<'a>(v: &'a mut Value, ptr: &str) -> &'a mut Map<String, Value> {
    let mut cur = v;
    for part in ptr.split('/').filter(|p| !p.is_empty()) {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let map = match cur {
            Value::Object(m) => m,
            _ => unreachable_obj(),
        };
        cur = map
            .entry(part.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if !cur.is_object() {
        *cur = Value::Object(Map::new());
    }
    match cur {
        Value::Object(m) => m,
        _ => unreachable_obj(),
    }
}

// `obj_at` makes the value an object right before matching on it.
fn unreachable_obj() -> ! {
    panic!("value was just made an object")
}

/// Sets `key` to `val` in the object at `ptr`, replacing what was there.
pub fn set_at(v: &mut Value, ptr: &str, key: &str, val: Value) {
    obj_at(v, ptr).insert(key.to_string(), val);
}

/// A list response, `{"value": [...]}` with `nextLink` when given, that takes the items
/// over (`json!` would copy every item once more, under the state lock).
pub fn list_body(value: Vec<Value>, next_link: Option<Value>) -> Value {
    let mut body = Map::new();
    body.insert("value".into(), Value::Array(value));
    if let Some(next) = next_link {
        body.insert("nextLink".into(), next);
    }
    Value::Object(body)
}

/// Case-insensitive equality for ARM ids and names.
pub fn eq_ci(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Turns an ISO-8601 duration of hours, minutes and seconds into seconds.
pub fn parse_iso_duration(s: &str) -> Option<u64> {
    let rest = s.strip_prefix("PT")?;
    let mut total = 0u64;
    let mut num = String::new();
    for c in rest.chars() {
        if c.is_ascii_digit() {
            num.push(c);
        } else {
            let n: u64 = num.parse().ok()?;
            num.clear();
            total += match c {
                'H' => n * 3600,
                'M' => n * 60,
                'S' => n,
                _ => return None,
            };
        }
    }
    if !num.is_empty() {
        return None;
    }
    Some(total)
}

/// Formats seconds the way the ML service writes durations (`PT1M40S`, `PT2M`).
pub fn format_iso_duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let mut out = String::from("PT");
    if h > 0 {
        out.push_str(&format!("{h}H"));
    }
    if m > 0 {
        out.push_str(&format!("{m}M"));
    }
    if s > 0 || out == "PT" {
        out.push_str(&format!("{s}S"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_rules() {
        let vnet = Cidr::parse("10.0.0.0/16").unwrap();
        let a = Cidr::parse("10.0.1.0/24").unwrap();
        assert!(vnet.contains(&a));
        assert!(!a.contains(&vnet));
        assert!(!Cidr::parse("10.1.0.0/24").unwrap().overlaps(&vnet));
        assert_eq!(
            Cidr::parse("10.0.1.5/24"),
            Err(CidrError::NotAligned("10.0.1.0/24".into()))
        );
        assert_eq!(Cidr::parse("10.0.1.0"), Err(CidrError::Syntax));
    }

    #[test]
    fn durations_and_locations() {
        assert_eq!(parse_iso_duration("PT120S"), Some(120));
        assert_eq!(format_iso_duration(120), "PT2M");
        assert_eq!(format_iso_duration(100), "PT1M40S");
        assert_eq!(normalize_location("West Central US"), "westcentralus");
        assert!(timestamp(0.5).starts_with("1970-01-01T00:00:00.5000000Z"));
    }
}
