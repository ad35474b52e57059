//! DynamoDB's capacity units and limits, for the metering proxy (`metering_proxy.rs`).
//!
//! The engine behind the proxy reports what each call consumed; the proxy needs this model to
//! charge a write before it is sent, so that a write over a limit is refused without reaching
//! the table. DynamoDB charges:
//! - a write costs one write request unit (WRU) per started KB of the item (the larger of the
//!   item before and after a put; the deleted item for a delete), twice that in a transaction;
//! - every global secondary index the item is in costs its own writes, sized by the projected
//!   item: one for an entry added, changed or removed, two when the entry's key changes;
//! - a read costs one read request unit (RRU) per started 4 KB (a Query: of all the items it
//!   returns), half for an eventually consistent read.
//!
//! Costs are kept per table and per index, and per partition key value per second, so that the
//! hottest partitions can be reported.
//!
//! With [`Limits`], writes are throttled as DynamoDB throttles them: per table, per index, and
//! per partition key value in the table and in each index (1,000 WRU/s each in DynamoDB), each
//! a token bucket holding one second of its rate. A write whose index entry cannot be absorbed
//! is refused as a whole, as DynamoDB applies GSI back-pressure to the base table; the refusal
//! names its throttling reason (`TableWriteKeyRangeThroughputExceeded`, …).

use std::collections::HashMap;
use std::time::Instant;

use serde_json::value::RawValue;

/// A global secondary index of the table: its key attributes. Every index projects ALL
/// attributes (infra/template.yaml, shared/src/store/dynamodb/schema.rs).
pub struct Index {
    pub name: &'static str,
    pub hash: &'static str,
    pub range: &'static str,
}

/// The table's indexes, as the template defines them.
pub const INDEXES: [Index; 4] = [
    Index {
        name: "listing",
        hash: "list_pk",
        range: "list_sk",
    },
    Index {
        name: "by_first",
        hash: "list_pk",
        range: "first_sk",
    },
    Index {
        name: "by_last",
        hash: "list_pk",
        range: "last_sk",
    },
    Index {
        name: "by_group",
        hash: "group_pk",
        range: "list_sk",
    },
];

/// Where an item stands for capacity: its size, and its key in each index it is in.
#[derive(Clone, Debug, Default)]
pub struct Footprint {
    pub size: usize,
    /// Per index of [`INDEXES`]: the entry's (hash, range) key, if the item is in it.
    pub index_keys: Vec<Option<(String, String)>>,
}

impl Footprint {
    pub fn of(item: &HashMap<&str, &RawValue>) -> Footprint {
        let size = item
            .iter()
            .map(|(name, value)| name.len() + value_size(value.get()))
            .sum();
        let text = |name: &str| item.get(name).and_then(|v| string_value(v.get()));
        let index_keys = INDEXES
            .iter()
            .map(|index| text(index.hash).zip(text(index.range)))
            .collect();
        Footprint { size, index_keys }
    }

    /// [`Footprint::of`] for an item read as JSON (`{"pk": {"S": "…"}, …}`).
    pub fn of_json(item: &serde_json::Map<String, serde_json::Value>) -> Footprint {
        let texts: Vec<(&str, Box<RawValue>)> = item
            .iter()
            .filter_map(|(name, value)| {
                serde_json::value::to_raw_value(value)
                    .ok()
                    .map(|raw| (name.as_str(), raw))
            })
            .collect();
        Footprint::of(&texts.iter().map(|(n, v)| (*n, v.as_ref())).collect())
    }
}

/// The size DynamoDB counts for one attribute value, from its JSON (`{"S":"…"}`, …).
fn value_size(raw: &str) -> usize {
    let Some((kind, body)) = raw
        .strip_prefix("{\"")
        .and_then(|rest| rest.split_once("\":"))
    else {
        return 1;
    };
    let body = body.strip_suffix('}').unwrap_or(body);
    match kind {
        "S" => string_value(raw).map(|s| s.len()).unwrap_or(0),
        // Base64 in the request; stored as bytes.
        "B" => body.trim_matches('"').len() * 3 / 4,
        // About one byte per two significant digits, plus one.
        "N" => body.trim_matches('"').len().div_ceil(2) + 1,
        "BOOL" | "NULL" => 1,
        // Lists, maps and sets: their elements, and 3 bytes of overhead (an estimate; the
        // adapter's items hold none of these on the paths measured).
        _ => body.len() + 3,
    }
}

/// The string inside a raw `{"S":"…"}` attribute value.
fn string_value(raw: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct S {
        #[serde(rename = "S")]
        s: String,
    }
    serde_json::from_str::<S>(raw).ok().map(|v| v.s)
}

pub fn write_units(size: usize) -> f64 {
    size.div_ceil(1024).max(1) as f64
}

/// Write limits in WRU per second; 0 is unlimited.
#[derive(Clone, Copy, Debug, Default)]
pub struct Limits {
    pub table: f64,
    pub index: f64,
    pub partition: f64,
}

impl Limits {
    /// DynamoDB's defaults for an on-demand table: 40,000 WRU/s per table and per index,
    /// 1,000 WRU/s per partition key value.
    pub const DYNAMODB: Limits = Limits {
        table: 40_000.0,
        index: 40_000.0,
        partition: 1_000.0,
    };
}

/// One write's cost in one place: the table or an index, and a partition key value there.
#[derive(Clone, Debug)]
pub struct Charge {
    pub resource: &'static str,
    pub partition: String,
    pub units: f64,
}

/// Why a write was refused, in DynamoDB's terms.
#[derive(Clone, Debug)]
pub struct Throttled {
    /// `TableWriteKeyRangeThroughputExceeded`, `IndexWriteAccountLimitExceeded`, …
    pub reason: String,
    /// "table" or the index's name.
    pub resource: &'static str,
}

/// What one write costs, from the item before to the item after.
pub fn write_charges(
    partition: &str,
    before: Option<&Footprint>,
    after: Option<&Footprint>,
    transactional: bool,
) -> Vec<Charge> {
    let charge = |resource, partition: &str, size| Charge {
        resource,
        partition: partition.to_string(),
        units: write_units(size),
    };
    let size = before
        .map_or(0, |f| f.size)
        .max(after.map_or(0, |f| f.size));
    let mut base = charge("table", partition, size);
    if transactional {
        base.units *= 2.0;
    }
    let mut charges = vec![base];
    for (i, index) in INDEXES.iter().enumerate() {
        let old = before.and_then(|f| f.index_keys[i].as_ref());
        let new = after.and_then(|f| f.index_keys[i].as_ref());
        let (old_size, new_size) = (before.map_or(0, |f| f.size), after.map_or(0, |f| f.size));
        match (old, new) {
            (None, None) => {}
            (Some(old_key), Some(new_key)) if old_key == new_key => {
                charges.push(charge(index.name, &new_key.0, new_size));
            }
            (old_key, new_key) => {
                if let Some(old_key) = old_key {
                    charges.push(charge(index.name, &old_key.0, old_size));
                }
                if let Some(new_key) = new_key {
                    charges.push(charge(index.name, &new_key.0, new_size));
                }
            }
        }
    }
    charges
}

/// What one write takes from one bucket.
struct Need {
    key: (&'static str, String),
    units: f64,
    rate: f64,
    reason: &'static str,
}

/// A token bucket of one second of `rate`.
#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn level(&self, rate: f64, now: Instant) -> f64 {
        (self.tokens + now.duration_since(self.at).as_secs_f64() * rate).min(rate)
    }
}

/// Running totals per table and index, and per partition key value per second.
pub struct Meter {
    started: Instant,
    /// "table" or an index name → (WRU, RRU).
    totals: HashMap<&'static str, (f64, f64)>,
    second: u64,
    /// WRU in the current second per (table or index, partition key value).
    this_second: HashMap<(&'static str, String), f64>,
    /// The highest WRU any partition key value took in one second, per (table or index, key).
    peaks: HashMap<(&'static str, String), f64>,
    limits: Limits,
    /// Buckets of the table and each index (key ""), and of partition key values; a bucket
    /// that has refilled is dropped, so keys written once do not pile up.
    buckets: HashMap<(&'static str, String), Bucket>,
    throttled: HashMap<String, u64>,
}

/// One partition's highest WRU in a second.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Hot {
    pub index: &'static str,
    pub key: String,
    pub wru_per_second: f64,
}

impl Meter {
    pub fn new(limits: Limits) -> Meter {
        Meter {
            started: Instant::now(),
            totals: HashMap::new(),
            second: 0,
            this_second: HashMap::new(),
            peaks: HashMap::new(),
            limits,
            buckets: HashMap::new(),
            throttled: HashMap::new(),
        }
    }

    /// Admits one write's `charges` (of [`write_charges`]) and counts them per partition, or
    /// refuses the whole write at the first limit it would exceed. Totals come from what the
    /// engine reports ([`Meter::consumed`]).
    pub fn admit(&mut self, charges: &[Charge]) -> Result<(), Throttled> {
        let now = Instant::now();
        // What the write takes from each bucket: the table's or an index's, and each
        // partition key value's there.
        let mut needs: Vec<Need> = Vec::new();
        for charge in charges {
            let table = charge.resource == "table";
            let total = if table {
                self.limits.table
            } else {
                self.limits.index
            };
            for (partition, rate, reason) in [
                (
                    String::new(),
                    total,
                    if table {
                        "TableWriteAccountLimitExceeded"
                    } else {
                        "IndexWriteAccountLimitExceeded"
                    },
                ),
                (
                    charge.partition.clone(),
                    self.limits.partition,
                    if table {
                        "TableWriteKeyRangeThroughputExceeded"
                    } else {
                        "IndexWriteKeyRangeThroughputExceeded"
                    },
                ),
            ] {
                if rate <= 0.0 {
                    continue;
                }
                let key = (charge.resource, partition);
                match needs.iter_mut().find(|need| need.key == key) {
                    Some(need) => need.units += charge.units,
                    None => needs.push(Need {
                        key,
                        units: charge.units,
                        rate,
                        reason,
                    }),
                }
            }
        }
        let level = |buckets: &HashMap<(&'static str, String), Bucket>, need: &Need| {
            buckets
                .get(&need.key)
                .map_or(need.rate, |bucket| bucket.level(need.rate, now))
        };
        if let Some(short) = needs
            .iter()
            .find(|need| level(&self.buckets, need) < need.units)
        {
            *self.throttled.entry(short.reason.to_string()).or_default() += 1;
            return Err(Throttled {
                reason: short.reason.to_string(),
                resource: short.key.0,
            });
        }
        for need in needs {
            let tokens = level(&self.buckets, &need) - need.units;
            self.buckets.insert(need.key, Bucket { tokens, at: now });
        }
        for charge in charges {
            self.charge_write(charge.resource, &charge.partition, charge.units);
        }
        Ok(())
    }

    /// Counts `units` the engine reported for the table or an index (by name).
    pub fn consumed(&mut self, resource: &str, units: f64, read: bool) {
        let Some(name) = std::iter::once("table")
            .chain(INDEXES.iter().map(|i| i.name))
            .find(|name| *name == resource)
        else {
            return;
        };
        let totals = self.totals.entry(name).or_default();
        if read {
            totals.1 += units;
        } else {
            totals.0 += units;
        }
    }

    fn charge_write(&mut self, index: &'static str, partition: &str, units: f64) {
        let second = self.started.elapsed().as_secs();
        if second != self.second {
            self.second = second;
            self.this_second.clear();
            // Full buckets are as good as none.
            let (now, limits) = (Instant::now(), self.limits);
            self.buckets.retain(|(resource, partition), bucket| {
                let rate = match (partition.is_empty(), *resource == "table") {
                    (false, _) => limits.partition,
                    (true, true) => limits.table,
                    (true, false) => limits.index,
                };
                bucket.level(rate, now) < rate
            });
        }
        let key = (index, partition.to_string());
        let now = self.this_second.entry(key.clone()).or_default();
        *now += units;
        let now = *now;
        // Only partitions that took a noticeable share are remembered, so that a million
        // keys written once each do not fill the map.
        if now >= 10.0 {
            let peak = self.peaks.entry(key).or_default();
            *peak = peak.max(now);
        }
    }

    /// (WRU, RRU) of the table or an index.
    pub fn totals(&self, index: &str) -> (f64, f64) {
        self.totals.get(index).copied().unwrap_or_default()
    }

    /// The `count` partitions with the highest WRU in one second.
    pub fn hottest(&self, count: usize) -> Vec<Hot> {
        let mut hot: Vec<Hot> = self
            .peaks
            .iter()
            .map(|((index, key), peak)| Hot {
                index,
                key: key.clone(),
                wru_per_second: *peak,
            })
            .collect();
        hot.sort_by(|a, b| b.wru_per_second.total_cmp(&a.wru_per_second));
        hot.truncate(count);
        hot
    }

    /// Everything, as `/stats` shows it.
    pub fn report(&self) -> serde_json::Value {
        let mut per_index = serde_json::Map::new();
        for name in std::iter::once("table").chain(INDEXES.iter().map(|i| i.name)) {
            let (wru, rru) = self.totals(name);
            per_index.insert(name.into(), serde_json::json!({ "wru": wru, "rru": rru }));
        }
        serde_json::json!({
            "capacity": per_index,
            "hottest": self.hottest(10),
            "throttled_by_reason": self.throttled,
        })
    }
}
