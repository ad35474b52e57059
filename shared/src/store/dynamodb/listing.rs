//! Reads: single items, query pages and the sharded, merged customer listings.

use super::*;

/// Index pages one listing call reads at most before answering a short page with a cursor.
pub(super) const MAX_LIST_ROUNDS: usize = 8;

impl DynamoStore {
    /// The document of the single item at `pk`, if any.
    pub(super) async fn get_doc<T: DeserializeOwned>(
        &self,
        pk: String,
    ) -> Result<Option<T>, StoreError> {
        self.get(pk, SINGLE)
            .await?
            .map(|item| from_item(&item))
            .transpose()
    }

    pub(super) async fn get(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        let request = self
            .client()
            .await
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true);
        let output = send_retrying(|| request.clone().send())
            .await
            .0
            .map_err(unavailable)?;
        Ok(output.item)
    }

    /// One page of an index (or the table when `index` is None): items with `sort` key above
    /// `after` (and, with `prefix`, starting with it). Returns the items and, when DynamoDB
    /// stopped early, the sort key it stopped at.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn query_page(
        &self,
        index: Option<&str>,
        partition: (&str, String),
        sort: &str,
        after: Option<&str>,
        prefix: Option<&str>,
        limit: usize,
        forward: bool,
    ) -> Result<(Vec<Item>, Option<String>), StoreError> {
        let page = Range {
            after,
            prefix,
            limit,
            forward,
        };
        self.query_filtered(index, partition, sort, page, None)
            .await
    }

    /// As [`DynamoStore::query_page`], with a filter DynamoDB applies after reading: `limit`
    /// counts the items read (and charged), so a page may hold fewer than it, or none, and
    /// still stop early.
    pub(super) async fn query_filtered(
        &self,
        index: Option<&str>,
        partition: (&str, String),
        sort: &str,
        page: Range<'_>,
        filter: Option<&ReadFilter>,
    ) -> Result<(Vec<Item>, Option<String>), StoreError> {
        let Range {
            after,
            prefix,
            limit,
            forward,
        } = page;
        let mut condition = format!("{} = :p", partition.0);
        let mut values = HashMap::from([(":p".to_string(), s(partition.1))]);
        match (after, prefix, forward) {
            (None, None, _) => {}
            (None, Some(p), _) => {
                condition.push_str(&format!(" AND begins_with({sort}, :prefix)"));
                values.insert(":prefix".into(), s(p));
            }
            (Some(a), None, true) => {
                condition.push_str(&format!(" AND {sort} > :after"));
                values.insert(":after".into(), s(a));
            }
            (Some(a), None, false) => {
                condition.push_str(&format!(" AND {sort} < :after"));
                values.insert(":after".into(), s(a));
            }
            (Some(a), Some(p), _) => {
                // One sort-key condition only: take the range from `after` (inclusive, dropped
                // below) to the end of the prefix.
                condition.push_str(&format!(" AND {sort} BETWEEN :after AND :end"));
                values.insert(":after".into(), s(a.max(p)));
                values.insert(":end".into(), s(format!("{p}{PREFIX_END}")));
            }
        }
        if let Some(filter) = filter {
            values.extend(filter.values.iter().cloned());
        }
        let request = self
            .client()
            .await
            .query()
            .table_name(&self.table)
            .set_index_name(index.map(str::to_string))
            .key_condition_expression(condition)
            .set_filter_expression(filter.map(|f| f.expression.clone()))
            .set_expression_attribute_values(Some(values))
            .scan_index_forward(forward)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX));
        let output = send_retrying(|| request.clone().send())
            .await
            .0
            .map_err(unavailable)?;
        let stopped_at = output
            .last_evaluated_key()
            .and_then(|k| get_s(k, sort))
            .map(str::to_string);
        let items = output
            .items
            .unwrap_or_default()
            .into_iter()
            .filter(|item| after.is_none_or(|a| get_s(item, sort).is_some_and(|k| k != a)))
            .collect();
        Ok((items, stopped_at))
    }

    /// Customers of one company in email order, optionally filtered by prefix.
    pub(super) async fn list_group(
        &self,
        group: String,
        query: &CustomerQuery,
    ) -> Result<Page<Customer>, StoreError> {
        let mut after = query.after.clone();
        let mut found: Vec<(String, Customer)> = Vec::new();
        for _ in 0..MAX_LIST_ROUNDS {
            let (items, stopped_at) = self
                .query_page(
                    Some(INDEX_GROUP),
                    ("group_pk", group.clone()),
                    "list_sk",
                    after.as_deref(),
                    None,
                    query.limit + 1,
                    true,
                )
                .await?;
            for item in &items {
                let customer: Customer = from_item(item)?;
                if let Some(key) = crate::ports::store::list_key(&customer, query) {
                    found.push((key, customer));
                }
            }
            if found.len() > query.limit {
                return Ok(Page::from_rows(found, query.limit));
            }
            match stopped_at {
                Some(position) => after = Some(position),
                None => return Ok(Page::from_rows(found, query.limit)),
            }
        }
        // Many non-matching members: answer what was found, and where to go on from.
        Ok(Page {
            items: found.into_iter().map(|(_, c)| c).collect(),
            next: after,
        })
    }

    /// All customers, merged from the shards of one (no prefix) or three (prefix) indexes.
    pub(super) async fn list_merged(
        &self,
        query: &CustomerQuery,
    ) -> Result<Page<Customer>, StoreError> {
        let streams: &[(Option<&str>, &str)] = if query.prefix.is_some() {
            &[
                (Some(INDEX_LISTING), "list_sk"),
                (Some(INDEX_FIRST), "first_sk"),
                (Some(INDEX_LAST), "last_sk"),
            ]
        } else {
            &[(Some(INDEX_LISTING), "list_sk")]
        };
        let listing = ShardedListing {
            streams,
            prefix: query.prefix.as_deref(),
            after: query.after.clone(),
            limit: query.limit,
            // Each shard holds about 1/LIST_SHARDS of the page: a fair share with headroom.
            per_shard: fair_share(query.limit),
            max_per_shard: fair_share(query.limit),
            filter: None,
        };
        self.merge_shards(listing, |customer| {
            crate::ports::store::list_key(customer, query)
        })
        .await
    }

    /// Every customer once, shard after shard of the listing index, each read to its end in
    /// pages as large as asked: a handful of queries per page instead of one per shard. The
    /// cursor is `<shard>|<position in it>`.
    pub(super) async fn walk_listing(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<Customer>, StoreError> {
        let (mut shard, mut after) = match cursor.and_then(|c| c.split_once('|')) {
            Some((shard, position)) => (
                shard
                    .parse::<u32>()
                    .map_err(|_| StoreError::Unavailable(format!("walk cursor {shard}")))?,
                Some(position.to_string()).filter(|p| !p.is_empty()),
            ),
            None => (0, None),
        };
        let mut found = Vec::new();
        while shard < LIST_SHARDS && found.len() < limit {
            let partition = ("list_pk", customers_list_pk(shard));
            let want = limit - found.len();
            let (items, stopped) = self
                .query_page(
                    Some(INDEX_LISTING),
                    partition,
                    "list_sk",
                    after.as_deref(),
                    None,
                    want,
                    true,
                )
                .await?;
            for item in &items {
                found.push(from_item::<Customer>(item)?);
            }
            match stopped {
                Some(position) => after = Some(position),
                None => {
                    shard += 1;
                    after = None;
                }
            }
        }
        let next = (shard < LIST_SHARDS).then(|| format!("{shard}|{}", after.unwrap_or_default()));
        Ok(Page { items: found, next })
    }

    /// The customers of one email domain that have no company, in email order: the customer
    /// listing read with a filter, so that no index entry is written for them (a new customer
    /// costs one index write less; adding a domain to a company is rare, imports are not).
    pub(super) async fn list_domain_without_company(
        &self,
        domain: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<Customer>, StoreError> {
        // On the table's key, which every index entry carries: DynamoDB refuses a filter on
        // the queried index's own keys (`list_sk`), which moto let through.
        let filter = ReadFilter {
            expression: "contains(pk, :domain)".into(),
            values: vec![(":domain".into(), s(format!("@{domain}")))],
        };
        let listing = ShardedListing {
            streams: &[(Some(INDEX_LISTING), "list_sk")],
            prefix: None,
            after: after.map(str::to_string),
            limit,
            // How much of a shard is the domain's is unknown: a fair share first, then four
            // times more each round. What a call reads beyond the page it answers is read
            // again by the next call, so that overshoot stays near what the page needed.
            per_shard: fair_share(limit),
            max_per_shard: FILTERED_PER_SHARD,
            filter: Some(&filter),
        };
        self.merge_shards(listing, |customer| {
            let email = customer.email();
            (customer.company_id.is_none() && email_domain(email) == domain)
                .then(|| email.to_string())
        })
        .await
    }

    /// Merges the shards of a listing in key order. `accept` gives a customer's position in
    /// the listing, or `None` when it does not belong there.
    ///
    /// Every shard is read once for a fair share of the page; after that only the shards that
    /// hold the merge back (those that stopped below the page's last needed key) are read
    /// again, and what a shard returned beyond the safe boundary waits in its buffer. Each
    /// query costs at least half a read unit, so reading only where needed is what keeps a
    /// page cheap over many shards.
    async fn merge_shards(
        &self,
        listing: ShardedListing<'_>,
        accept: impl Fn(&Customer) -> Option<String>,
    ) -> Result<Page<Customer>, StoreError> {
        let ShardedListing {
            streams,
            prefix,
            after: start,
            limit,
            per_shard,
            max_per_shard,
            filter,
        } = listing;
        let mut shards: Vec<ShardCursor<'_>> = streams
            .iter()
            .flat_map(|&(index, sort)| {
                let start = &start;
                (0..LIST_SHARDS).map(move |shard| ShardCursor {
                    index,
                    sort,
                    shard,
                    position: start.clone(),
                    buffer: Vec::new(),
                    more: true,
                })
            })
            .collect();
        let mut after = start.clone();
        let mut found: Vec<(String, Customer)> = Vec::new();
        let mut read = per_shard;
        for round in 0..MAX_LIST_ROUNDS {
            let want = limit + 1 - found.len();
            // The key of the `want`th buffered customer: shards stopped below it hold the
            // page back. With fewer buffered, every shard that has more is read.
            let mut buffered: Vec<&String> = shards
                .iter()
                .flat_map(|c| c.buffer.iter().map(|(k, _)| k))
                .collect();
            buffered.sort();
            buffered.dedup();
            let target = buffered.get(want.saturating_sub(1)).map(|k| (*k).clone());
            let reads: Vec<usize> = shards
                .iter()
                .enumerate()
                .filter(|(_, c)| {
                    c.more
                        && (round == 0
                            || target
                                .as_ref()
                                .is_none_or(|t| c.position.as_ref().is_none_or(|p| p < t)))
                })
                .map(|(i, _)| i)
                .collect();
            let pages = futures::future::try_join_all(reads.iter().map(|&i| {
                let cursor = &shards[i];
                let range = Range {
                    after: cursor.position.as_deref(),
                    prefix,
                    limit: read,
                    forward: true,
                };
                self.query_filtered(
                    cursor.index,
                    ("list_pk", customers_list_pk(cursor.shard)),
                    cursor.sort,
                    range,
                    filter,
                )
            }))
            .await?;
            for (&i, (items, stopped)) in reads.iter().zip(pages) {
                let cursor = &mut shards[i];
                for item in &items {
                    let customer: Customer = from_item(item)?;
                    // list_key decides under which stream a customer is listed (once).
                    if let Some(key) = accept(&customer)
                        && after.as_ref().is_none_or(|a| &key > a)
                    {
                        cursor.buffer.push((key, customer));
                    }
                }
                cursor.more = stopped.is_some();
                cursor.position = stopped;
            }
            // Customers are only safe to emit up to the smallest position where a shard that
            // has more stopped.
            let boundary = shards
                .iter()
                .filter(|c| c.more)
                .filter_map(|c| c.position.clone())
                .min();
            let mut round_rows: Vec<(String, Customer)> = Vec::new();
            for cursor in &mut shards {
                let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut cursor.buffer)
                    .into_iter()
                    .partition(|(key, _)| boundary.as_ref().is_none_or(|b| key <= b));
                cursor.buffer = waiting;
                round_rows.extend(ready);
            }
            round_rows.sort_by(|a, b| a.0.cmp(&b.0));
            round_rows.dedup_by(|a, b| a.0 == b.0);
            round_rows.truncate(want);
            found.extend(round_rows);
            if found.len() > limit || boundary.is_none() {
                return Ok(Page::from_rows(found, limit));
            }
            // Everything up to the boundary has been read from every shard and emitted; what
            // waits in the buffers lies beyond it.
            after = boundary;
            read = (read * 4).min(max_per_shard);
        }
        Ok(Page {
            next: found.last().map(|(k, _)| k.clone()).or(after),
            items: found.into_iter().map(|(_, c)| c).collect(),
        })
    }
}

/// Items each shard is asked to read per round of a filtered listing (a query page stops at
/// 1 MB anyway: about a thousand customers).
const FILTERED_PER_SHARD: usize = 1000;

/// A listing merged from the [`LIST_SHARDS`] partitions of one or more indexes.
struct ShardedListing<'a> {
    /// (index, sort attribute) pairs, each read over every shard.
    streams: &'a [(Option<&'a str>, &'a str)],
    prefix: Option<&'a str>,
    after: Option<String>,
    limit: usize,
    /// Items read from one shard per query in the first round.
    per_shard: usize,
    /// Each round reads four times more than the one before, up to this.
    max_per_shard: usize,
    filter: Option<&'a ReadFilter>,
}

/// What one shard contributes to a page of `limit`, with headroom.
fn fair_share(limit: usize) -> usize {
    (limit + 1).div_ceil(LIST_SHARDS as usize) * 2 + 2
}

/// Which part of a partition a query reads.
#[derive(Clone, Copy)]
pub(super) struct Range<'a> {
    /// Sort keys above (forward) or below this one.
    pub after: Option<&'a str>,
    /// Only sort keys starting with this.
    pub prefix: Option<&'a str>,
    /// Items read at most.
    pub limit: usize,
    pub forward: bool,
}

/// A filter DynamoDB applies to what a query read (and charged for).
pub(super) struct ReadFilter {
    pub expression: String,
    pub values: Vec<(String, AttributeValue)>,
}

/// Where the merge of a listing stands in one shard of one index.
struct ShardCursor<'a> {
    index: Option<&'a str>,
    sort: &'a str,
    shard: u32,
    /// Where the next read of this shard starts (exclusive).
    position: Option<String>,
    /// Customers read beyond the last safe boundary, waiting their turn.
    buffer: Vec<(String, Customer)>,
    /// Whether the shard stopped early (may hold more beyond `position`).
    more: bool,
}
