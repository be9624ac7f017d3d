//! vCPU counts of common Azure VM sizes, for the `cluster_purpose` check of AKS inference
//! clusters. A size's number is not always its vCPU count (`Standard_D3_v2` has 4), so the
//! table is explicit; sizes outside it are reported as unknown rather than guessed.

use std::collections::BTreeMap;
use std::sync::OnceLock;

/// Sizes whose vCPU count does not follow from a family pattern, lowercase without `standard_`.
const EXPLICIT: &[(&str, u32)] = &[
    ("a1_v2", 1),
    ("a2_v2", 2),
    ("a4_v2", 4),
    ("a8_v2", 8),
    ("a2m_v2", 2),
    ("a4m_v2", 4),
    ("a8m_v2", 8),
    ("d1", 1),
    ("d2", 2),
    ("d3", 4),
    ("d4", 8),
    ("d11", 2),
    ("d12", 4),
    ("d13", 8),
    ("d14", 16),
    ("ds1", 1),
    ("ds2", 2),
    ("ds3", 4),
    ("ds4", 8),
    ("ds11", 2),
    ("ds12", 4),
    ("ds13", 8),
    ("ds14", 16),
    ("d1_v2", 1),
    ("d2_v2", 2),
    ("d3_v2", 4),
    ("d4_v2", 8),
    ("d5_v2", 16),
    ("d11_v2", 2),
    ("d12_v2", 4),
    ("d13_v2", 8),
    ("d14_v2", 16),
    ("d15_v2", 20),
    ("ds1_v2", 1),
    ("ds2_v2", 2),
    ("ds3_v2", 4),
    ("ds4_v2", 8),
    ("ds5_v2", 16),
    ("ds11_v2", 2),
    ("ds12_v2", 4),
    ("ds13_v2", 8),
    ("ds14_v2", 16),
    ("ds15_v2", 20),
    ("nc6", 6),
    ("nc12", 12),
    ("nc24", 24),
    ("nc24r", 24),
    ("nc6s_v2", 6),
    ("nc12s_v2", 12),
    ("nc24s_v2", 24),
    ("nc24rs_v2", 24),
    ("nc6s_v3", 6),
    ("nc12s_v3", 12),
    ("nc24s_v3", 24),
    ("nc24rs_v3", 24),
    ("nc4as_t4_v3", 4),
    ("nc8as_t4_v3", 8),
    ("nc16as_t4_v3", 16),
    ("nc64as_t4_v3", 64),
    ("nc24ads_a100_v4", 24),
    ("nc48ads_a100_v4", 48),
    ("nc96ads_a100_v4", 96),
    ("nc40ads_h100_v5", 40),
    ("nc80adis_h100_v5", 80),
    ("nd6s", 6),
    ("nd12s", 12),
    ("nd24s", 24),
    ("nd24rs", 24),
    ("nd40rs_v2", 40),
    ("nd96asr_v4", 96),
    ("nd96amsr_a100_v4", 96),
    ("nd96isr_h100_v5", 96),
    ("nv6", 6),
    ("nv12", 12),
    ("nv24", 24),
    ("nv12s_v3", 12),
    ("nv24s_v3", 24),
    ("nv48s_v3", 48),
    ("nv6ads_a10_v5", 6),
    ("nv12ads_a10_v5", 12),
    ("nv18ads_a10_v5", 18),
    ("nv36ads_a10_v5", 36),
    ("nv72ads_a10_v5", 72),
    ("b1s", 1),
    ("b1ms", 1),
    ("b2s", 2),
    ("b2ms", 2),
    ("b4ms", 4),
    ("b8ms", 8),
    ("b12ms", 12),
    ("b16ms", 16),
    ("b20ms", 20),
    ("f1", 1),
    ("f2", 2),
    ("f4", 4),
    ("f8", 8),
    ("f16", 16),
    ("f1s", 1),
    ("f2s", 2),
    ("f4s", 4),
    ("f8s", 8),
    ("f16s", 16),
];

/// Families whose number is the vCPU count: `(pattern with {n}, sizes)`.
const FAMILIES: &[(&str, &[u32])] = &[
    ("d{n}_v3", &[2, 4, 8, 16, 32, 48, 64]),
    ("d{n}s_v3", &[2, 4, 8, 16, 32, 48, 64]),
    ("d{n}_v4", &[2, 4, 8, 16, 32, 48, 64]),
    ("d{n}s_v4", &[2, 4, 8, 16, 32, 48, 64]),
    ("d{n}d_v4", &[2, 4, 8, 16, 32, 48, 64]),
    ("d{n}ds_v4", &[2, 4, 8, 16, 32, 48, 64]),
    ("d{n}a_v4", &[2, 4, 8, 16, 32, 48, 64, 96]),
    ("d{n}as_v4", &[2, 4, 8, 16, 32, 48, 64, 96]),
    ("d{n}_v5", &[2, 4, 8, 16, 32, 48, 64, 96]),
    ("d{n}s_v5", &[2, 4, 8, 16, 32, 48, 64, 96]),
    ("d{n}d_v5", &[2, 4, 8, 16, 32, 48, 64, 96]),
    ("d{n}ds_v5", &[2, 4, 8, 16, 32, 48, 64, 96]),
    ("d{n}ls_v5", &[2, 4, 8, 16, 32, 48, 64, 96]),
    ("d{n}lds_v5", &[2, 4, 8, 16, 32, 48, 64, 96]),
    ("d{n}as_v5", &[2, 4, 8, 16, 32, 48, 64, 96]),
    ("d{n}ads_v5", &[2, 4, 8, 16, 32, 48, 64, 96]),
    ("e{n}_v3", &[2, 4, 8, 16, 20, 32, 48, 64]),
    ("e{n}s_v3", &[2, 4, 8, 16, 20, 32, 48, 64]),
    ("e{n}_v4", &[2, 4, 8, 16, 20, 32, 48, 64]),
    ("e{n}s_v4", &[2, 4, 8, 16, 20, 32, 48, 64]),
    ("e{n}ds_v4", &[2, 4, 8, 16, 20, 32, 48, 64, 80]),
    ("e{n}as_v4", &[2, 4, 8, 16, 20, 32, 48, 64, 96]),
    ("e{n}_v5", &[2, 4, 8, 16, 20, 32, 48, 64, 96, 104]),
    ("e{n}s_v5", &[2, 4, 8, 16, 20, 32, 48, 64, 96, 104]),
    ("e{n}ds_v5", &[2, 4, 8, 16, 20, 32, 48, 64, 96, 104]),
    ("e{n}as_v5", &[2, 4, 8, 16, 20, 32, 48, 64, 96]),
    ("e{n}ads_v5", &[2, 4, 8, 16, 20, 32, 48, 64, 96]),
    ("f{n}s_v2", &[2, 4, 8, 16, 32, 48, 64, 72]),
];

fn table() -> &'static BTreeMap<String, u32> {
    static TABLE: OnceLock<BTreeMap<String, u32>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t: BTreeMap<String, u32> = EXPLICIT
            .iter()
            .map(|(k, v)| ((*k).to_string(), *v))
            .collect();
        for (pattern, sizes) in FAMILIES {
            for n in *sizes {
                t.insert(pattern.replace("{n}", &n.to_string()), *n);
            }
        }
        t
    })
}

/// vCPUs of a VM size such as `Standard_D3_v2` (any case), when moat knows it.
pub fn vcpus(size: &str) -> Option<u32> {
    let lower = size.trim().to_ascii_lowercase();
    let short = lower.strip_prefix("standard_").unwrap_or(&lower);
    table().get(short).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looks_up_sizes_in_any_case() {
        assert_eq!(vcpus("Standard_D2_v2"), Some(2));
        assert_eq!(vcpus("STANDARD_D3_V2"), Some(4));
        assert_eq!(vcpus("Standard_D4_v2"), Some(8));
        assert_eq!(vcpus("Standard_D2s_v3"), Some(2));
        assert_eq!(vcpus("standard_d4s_v3"), Some(4));
        assert_eq!(vcpus("Standard_D8s_v3"), Some(8));
        assert_eq!(vcpus("Standard_DS2_v2"), Some(2));
        assert_eq!(vcpus("Standard_DS3_v2"), Some(4));
        assert_eq!(vcpus("Standard_NC6s_v3"), Some(6));
        assert_eq!(vcpus("Standard_F16s_v2"), Some(16));
        assert_eq!(vcpus("Standard_Q9000"), None);
    }
}
