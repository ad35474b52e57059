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
        let request = self
            .client()
            .await
            .query()
            .table_name(&self.table)
            .set_index_name(index.map(str::to_string))
            .key_condition_expression(condition)
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

    /// Customers of one company (or all companies-less customers of a domain) in email order,
    /// optionally filtered by prefix.
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
        let mut after = query.after.clone();
        let mut found: Vec<(String, Customer)> = Vec::new();
        for _ in 0..MAX_LIST_ROUNDS {
            let want = query.limit + 1 - found.len();
            // Each shard holds about 1/LIST_SHARDS of the page: read a fair share with headroom
            // rather than a whole page from every shard; the boundary below keeps order exact.
            let per_shard = want.div_ceil(LIST_SHARDS as usize) * 2 + 2;
            let reads = streams.iter().flat_map(|(index, sort)| {
                (0..LIST_SHARDS).map(move |shard| (*index, *sort, shard))
            });
            let pages = futures::future::try_join_all(reads.map(|(index, sort, shard)| {
                let after = after.clone();
                async move {
                    let partition = ("list_pk", customers_list_pk(shard));
                    self.query_page(
                        index,
                        partition,
                        sort,
                        after.as_deref(),
                        query.prefix.as_deref(),
                        per_shard,
                        true,
                    )
                    .await
                }
            }))
            .await?;
            // Items are only safe to emit up to the smallest position where a shard stopped early.
            let boundary = pages
                .iter()
                .filter_map(|(_, stopped)| stopped.clone())
                .min();
            let mut round: Vec<(String, Customer)> = Vec::new();
            for (items, _) in &pages {
                for item in items {
                    let customer: Customer = from_item(item)?;
                    // list_key decides under which stream a customer is listed (once).
                    let Some(key) = crate::ports::store::list_key(&customer, query) else {
                        continue;
                    };
                    let in_range = after.as_ref().is_none_or(|a| &key > a)
                        && boundary.as_ref().is_none_or(|b| &key <= b);
                    if in_range {
                        round.push((key, customer));
                    }
                }
            }
            round.sort_by(|a, b| a.0.cmp(&b.0));
            round.dedup_by(|a, b| a.0 == b.0);
            round.truncate(want);
            found.extend(round);
            if found.len() > query.limit {
                return Ok(Page::from_rows(found, query.limit));
            }
            match boundary {
                Some(position) => after = Some(position),
                None => return Ok(Page::from_rows(found, query.limit)),
            }
        }
        Ok(Page {
            next: found.last().map(|(k, _)| k.clone()).or(after),
            items: found.into_iter().map(|(_, c)| c).collect(),
        })
    }
}
