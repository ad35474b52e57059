//! Capacity per operation, read from the metering proxy: what a benchmark prints as
//! "WRU/RRU per …" and in dollars at on-demand prices.

use crate::metering_proxy::MeteringProxy;

/// On-demand prices in us-east-1 (since November 2024), dollars per million units.
pub const DOLLARS_PER_MILLION_WRU: f64 = 0.625;
pub const DOLLARS_PER_MILLION_RRU: f64 = 0.125;

/// WRU and RRU so far, on the table and summed over the indexes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Units {
    pub table_wru: f64,
    pub index_wru: f64,
    pub rru: f64,
    pub requests: f64,
}

impl Units {
    pub fn of(fake: &MeteringProxy) -> Units {
        let capacity = fake.capacity();
        let mut units = Units {
            requests: fake.stats().requests as f64,
            ..Units::default()
        };
        if let Some(per) = capacity["capacity"].as_object() {
            for (name, entry) in per {
                let wru = entry["wru"].as_f64().unwrap_or(0.0);
                if name == "table" {
                    units.table_wru += wru;
                } else {
                    units.index_wru += wru;
                }
                units.rru += entry["rru"].as_f64().unwrap_or(0.0);
            }
        }
        units
    }

    /// What happened between `before` and `self`, per one of `operations`.
    pub fn per(self, before: Units, operations: usize) -> Units {
        let n = operations.max(1) as f64;
        Units {
            table_wru: (self.table_wru - before.table_wru) / n,
            index_wru: (self.index_wru - before.index_wru) / n,
            rru: (self.rru - before.rru) / n,
            requests: (self.requests - before.requests) / n,
        }
    }

    /// One markdown row: the operation, its units and its price per million.
    pub fn row(&self, operation: &str) -> String {
        let dollars = (self.table_wru + self.index_wru) * DOLLARS_PER_MILLION_WRU
            + self.rru * DOLLARS_PER_MILLION_RRU;
        format!(
            "| {operation} | {:.1} | {:.2} | {:.2} | {:.2} | ${dollars:.2} |",
            self.requests, self.table_wru, self.index_wru, self.rru
        )
    }
}

impl Units {
    /// One markdown row of an operation that took `took`: its requests, units and dollars
    /// (under [`TIMED_HEADER`]).
    pub fn timed_row(&self, operation: &str, took: std::time::Duration) -> String {
        let dollars = (self.table_wru + self.index_wru) * DOLLARS_PER_MILLION_WRU / 1e6
            + self.rru * DOLLARS_PER_MILLION_RRU / 1e6;
        format!(
            "| {operation} | {:.2} s | {:.0} | {:.0} | {:.0} | {:.1} | ${dollars:.4} |",
            took.as_secs_f64(),
            self.requests,
            self.table_wru,
            self.index_wru,
            self.rru
        )
    }
}

/// The header of [`Units::timed_row`]'s table.
pub const TIMED_HEADER: &str = "| operation | wall time | DynamoDB requests | WRU table | WRU indexes | RRU | $ |\n|---|---|---|---|---|---|---|";

pub const HEADER: &str = "| operation | requests | WRU table | WRU indexes | RRU | $ per million |\n|---|---|---|---|---|---|";
