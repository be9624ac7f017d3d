//! ML5xx: online endpoints and their traffic — what Azure refuses only after the deployments
//! have been built (minutes in), known from the spec alone.

use crate::catalogue::ids;
use crate::cx::Cx;
use moat_model::Kind;
use moat_spec::ast::KindSpec;

pub fn check(cx: &mut Cx<'_>) {
    let mut found = Vec::new();
    for (res, spec) in cx.specs(Kind::OnlineEndpoint) {
        let KindSpec::OnlineEndpoint(e) = spec else {
            continue;
        };
        if let Some(t) = &e.traffic {
            let sum: u64 = t.value.iter().map(|(_, p)| u64::from(p.value)).sum();
            if sum != 0 && sum != 100 {
                found.push(
                    Cx::diag(
                        ids::ML501,
                        format!("the traffic of `{}` sums to {sum}, not 100", res.key),
                        t.span,
                    )
                    .label(format!("{sum} in total"))
                    .hint("make the shares add up to 100, or set them all to 0"),
                );
            }
        }
        if let Some(m) = &e.mirror_traffic {
            let sum: u64 = m.value.iter().map(|(_, p)| u64::from(p.value)).sum();
            if sum > 50 {
                found.push(
                    Cx::diag(
                        ids::ML502,
                        format!("the mirror traffic of `{}` is {sum}, more than 50", res.key),
                        m.span,
                    )
                    .label(format!("{sum} in total"))
                    .hint("mirror at most 50 percent in total"),
                );
            }
            for (name, _) in m.value.iter() {
                let live = e
                    .traffic
                    .as_ref()
                    .and_then(|t| t.value.get(&name.value))
                    .is_some_and(|p| p.value > 0);
                if live {
                    found.push(
                        Cx::diag(
                            ids::ML502,
                            format!("`{}` gets live traffic and mirrored traffic", name.value),
                            name.span,
                        )
                        .label("also in `traffic`")
                        .hint("mirror onto a deployment that gets no live traffic"),
                    );
                }
            }
        }
    }
    for d in found {
        cx.push(d);
    }
}
