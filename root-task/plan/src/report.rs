//! The boot-time summary of a plan: a frame table and the reserve, unusable
//! and overhead lines, at most 10 lines so it does not drown the console.

use core::fmt;

use crate::model::{PageSize, Plan, Step};

const MIB: u64 = 1 << 20;

/// Bytes as MiB with one decimal, rounded to nearest.
struct Mib(u64);

impl fmt::Display for Mib {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tenths = (u128::from(self.0) * 10 + u128::from(MIB / 2)) / u128::from(MIB);
        write!(f, "{}.{} MiB", tenths / 10, tenths % 10)
    }
}

/// `n thing` or `n things`.
struct Count(u64, &'static str);

impl fmt::Display for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = if self.0 == 1 { "" } else { "s" };
        write!(f, "{} {}{plural}", self.0, self.1)
    }
}

/// Hundredths of a percent as `x.yy%`.
struct Percent(u32);

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}%", self.0 / 100, self.0 % 100)
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.totals;
        writeln!(
            f,
            "carve plan: {} RAM in {} (+{}: MMIO, never pool)",
            Mib(t.ram_bytes),
            Count(t.ram_untypeds as u64, "untyped"),
            Count(t.device_untypeds as u64, "device untyped")
        )?;
        writeln!(f, "  page {:>7} {:>14} {:>8}", "count", "bytes", "MiB")?;
        for page in [PageSize::Huge1G, PageSize::Large2M] {
            let p = t.page(page);
            writeln!(
                f,
                "  {:<4} {:>7} {:>14} {:>8}",
                page.label(),
                p.count,
                p.bytes,
                p.bytes / MIB
            )?;
        }
        let pool = t.pool_bytes();
        writeln!(
            f,
            "  pool {:>7} {:>14} {:>8}",
            t.huge.count + t.large.count,
            pool,
            pool / MIB
        )?;
        writeln!(
            f,
            "reserve:  {} in {} (wanted {})",
            Mib(t.reserve_bytes),
            Count(self.reserve.len() as u64, "untyped"),
            Mib(t.reserve_wanted)
        )?;
        write!(
            f,
            "unusable: {} (below 2 MiB: {} in {}",
            Mib(t.unusable.total()),
            Mib(t.unusable.below_large_page),
            Count(self.unusable.len() as u64, "untyped")
        )?;
        if t.unusable.outside_untypeds != 0 {
            write!(
                f,
                "; outside untypeds: {}",
                Mib(t.unusable.outside_untypeds)
            )?;
        }
        writeln!(f, ")")?;
        writeln!(
            f,
            "overhead: {} of {} (budget {}): {}",
            Percent(t.overhead_x100),
            Mib(t.counted_ram_bytes),
            Percent(t.budget_x100),
            if t.within_budget() {
                "ok"
            } else {
                "OVER BUDGET"
            }
        )?;
        let splits = self
            .steps
            .iter()
            .filter(|s| matches!(s, Step::Split { .. }))
            .count();
        writeln!(
            f,
            "steps: {} ({}), {}",
            Count(self.steps.len() as u64, "retype"),
            Count(splits as u64, "split"),
            Count(t.new_caps, "new cap")
        )
    }
}
