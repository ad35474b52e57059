//! DynamoDB's capacity units, counted as DynamoDB charges them, for the fake endpoint:
//! - a write costs one write request unit (WRU) per started KB of the item (the larger of the
//!   item before and after a put; the deleted item for a delete), twice that in a transaction;
//! - every global secondary index the item is in costs its own writes, sized by the projected
//!   item: one for an entry added, changed or removed, two when the entry's key changes;
//! - a read costs one read request unit (RRU) per started 4 KB (a Query: of all the items it
//!   returns), half for an eventually consistent read.
//!
//! Costs are kept per table and per index, and per partition key value per second, so that the
//! hottest partitions (DynamoDB's limit is 1,000 WRU/s each) can be reported.

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

pub fn read_units(size: usize, consistent: bool) -> f64 {
    let units = size.div_ceil(4096).max(1) as f64;
    if consistent { units } else { units / 2.0 }
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
}

/// One partition's highest WRU in a second.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Hot {
    pub index: &'static str,
    pub key: String,
    pub wru_per_second: f64,
}

impl Default for Meter {
    fn default() -> Self {
        Meter {
            started: Instant::now(),
            totals: HashMap::new(),
            second: 0,
            this_second: HashMap::new(),
            peaks: HashMap::new(),
        }
    }
}

impl Meter {
    /// Charges one write of the item at `key` from `before` to `after` (either may be absent).
    pub fn write(
        &mut self,
        partition: &str,
        before: Option<&Footprint>,
        after: Option<&Footprint>,
        transactional: bool,
    ) {
        let size = before
            .map_or(0, |f| f.size)
            .max(after.map_or(0, |f| f.size));
        let factor = if transactional { 2.0 } else { 1.0 };
        self.charge_write("table", partition, write_units(size) * factor);
        for (i, index) in INDEXES.iter().enumerate() {
            let old = before.and_then(|f| f.index_keys[i].as_ref());
            let new = after.and_then(|f| f.index_keys[i].as_ref());
            match (old, new) {
                (None, None) => {}
                (Some(old_key), Some(new_key)) if old_key == new_key => {
                    let size = after.map_or(0, |f| f.size);
                    self.charge_write(index.name, &new_key.0, write_units(size));
                }
                (old_key, new_key) => {
                    if let Some(old_key) = old_key {
                        let size = before.map_or(0, |f| f.size);
                        self.charge_write(index.name, &old_key.0, write_units(size));
                    }
                    if let Some(new_key) = new_key {
                        let size = after.map_or(0, |f| f.size);
                        self.charge_write(index.name, &new_key.0, write_units(size));
                    }
                }
            }
        }
    }

    /// Charges a read of `size` bytes from the table or an index.
    pub fn read(&mut self, index: Option<&str>, size: usize, consistent: bool) {
        let name = index
            .and_then(|name| INDEXES.iter().find(|i| i.name == name))
            .map_or("table", |i| i.name);
        self.totals.entry(name).or_default().1 += read_units(size, consistent);
    }

    fn charge_write(&mut self, index: &'static str, partition: &str, units: f64) {
        self.totals.entry(index).or_default().0 += units;
        let second = self.started.elapsed().as_secs();
        if second != self.second {
            self.second = second;
            self.this_second.clear();
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
        serde_json::json!({ "capacity": per_index, "hottest": self.hottest(10) })
    }
}
