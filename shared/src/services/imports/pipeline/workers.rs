//! Workers: map, validate and upsert one batch of rows.

use super::*;
use crate::domain::address::{admit, new_addresses};
use crate::domain::customer::PortalAccess;
use crate::domain::email::Email;

// ---------------------------------------------------------------------------------------------
// The async side: mapping, validation and upserts of one batch.
pub(super) struct Failure {
    pub(super) row: u64,
    pub(super) email: String,
    pub(super) reason: String,
    pub(super) fields: Vec<String>,
}

impl Failure {
    /// A failed row as the report keeps it (a row cut by the limits shortened).
    pub(super) fn of(row: u64, key: String, reason: String, fields: Vec<String>) -> Self {
        let fields = match super::limits::cut_reason(&fields) {
            Some(_) => truncated_copy(fields),
            None => fields,
        };
        Failure {
            row,
            email: key,
            reason,
            fields,
        }
    }

    /// What it holds in memory until its report part is written.
    pub(super) fn bytes(&self) -> usize {
        self.email.len() + self.reason.len() + self.fields.iter().map(String::len).sum::<usize>()
    }
}

/// The report's copy of a row cut by the size limits: each field's first KiB.
fn truncated_copy(fields: Vec<String>) -> Vec<String> {
    const KEEP: usize = 1024;
    fields
        .into_iter()
        .map(|field| {
            let field = field
                .replace(super::limits::FIELD_CUT, "")
                .replace(super::limits::ROW_CUT, "");
            if field.len() <= KEEP {
                return field;
            }
            let mut end = KEEP;
            while !field.is_char_boundary(end) {
                end -= 1;
            }
            format!("{}…[truncated]", &field[..end])
        })
        .collect()
}

/// A row planned as a write, before its new addresses are admitted.
type Planned = (Candidate, CustomerWrite, RowOutcome);
/// A planned row with the write it may make, or why it may not.
type Admitted = (Candidate, Result<CustomerWrite, String>, RowOutcome);

pub(super) struct BatchDone {
    pub(super) counts: Counts,
    pub(super) failures: Vec<Failure>,
    pub(super) end: Checkpoint,
}

pub(super) struct Worker {
    pub(super) ctx: ImportContext,
    pub(super) job_id: String,
    pub(super) dry_run: bool,
    pub(super) create_missing_companies: bool,
    pub(super) send_welcome: bool,
    pub(super) plan: Arc<ColumnPlan>,
    pub(super) required: Vec<Target>,
    /// The import author's permissions, applied to every row.
    pub(super) access: CustomerAccess,
    /// Lower-cased company name → id (None: no such company).
    pub(super) companies: Mutex<HashMap<String, Option<String>>>,
    /// Email domain → the company owning it.
    pub(super) domains: Mutex<HashMap<String, Option<String>>>,
    /// Company id → the portal access its new members get.
    pub(super) portal_defaults: Mutex<HashMap<String, PortalAccess>>,
}

pub(super) struct Candidate {
    pub(super) raw: RawRow,
    pub(super) values: RowValues,
    pub(super) company_id: Option<String>,
}

pub(super) fn cached<T: Clone>(cache: &Mutex<HashMap<String, T>>, key: &str) -> Option<T> {
    cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(key)
        .cloned()
}

pub(super) fn remember<T>(cache: &Mutex<HashMap<String, T>>, key: String, value: T) {
    let mut map = cache.lock().unwrap_or_else(|p| p.into_inner());
    if map.len() >= CACHE_LIMIT {
        map.clear();
    }
    map.insert(key, value);
}

pub(super) fn reasons(error: &HelpdeskError) -> String {
    let errors = error.field_errors();
    if errors.is_empty() {
        error.to_string()
    } else {
        errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl Worker {
    pub(super) async fn process(&self, batch: Batch) -> Result<BatchDone, HelpdeskError> {
        let mut counts = Counts {
            rows: batch.duplicates,
            duplicates: batch.duplicates,
            ..Counts::default()
        };
        let mut failures = Vec::new();
        let fail =
            |failures: &mut Vec<Failure>, counts: &mut Counts, raw: RawRow, reason: String| {
                counts.rows += 1;
                counts.failed += 1;
                let email = raw
                    .fields
                    .get(self.plan.email_column())
                    .cloned()
                    .unwrap_or_default();
                failures.push(Failure {
                    row: raw.row,
                    email,
                    reason,
                    fields: raw.fields,
                });
            };

        let mut candidates = Vec::with_capacity(batch.rows.len());
        for mut raw in batch.rows {
            if let Some(reason) = super::limits::cut_reason(&raw.fields) {
                raw.fields = truncated_copy(raw.fields);
                fail(&mut failures, &mut counts, raw, reason);
                continue;
            }
            if raw.fields.len() != self.plan.headers.len() {
                let reason = format!(
                    "the row has {} fields; the header has {}",
                    raw.fields.len(),
                    self.plan.headers.len()
                );
                fail(&mut failures, &mut counts, raw, reason);
                continue;
            }
            let email = match raw
                .email
                .clone()
                .unwrap_or_else(|| Err("is missing".into()))
            {
                Ok(email) => email,
                Err(message) => {
                    fail(&mut failures, &mut counts, raw, format!("email: {message}"));
                    continue;
                }
            };
            let values = RowValues::read(&self.plan, &raw.fields, email);
            let company_id = match &values.company {
                None => None,
                Some(name) => match self.company(name, raw.row).await? {
                    Ok(id) => id,
                    Err(reason) => {
                        fail(&mut failures, &mut counts, raw, reason);
                        continue;
                    }
                },
            };
            candidates.push(Candidate {
                raw,
                values,
                company_id,
            });
        }

        for attempt in 0..WRITE_ATTEMPTS {
            if candidates.is_empty() {
                break;
            }
            let emails: Vec<Email> = candidates.iter().map(|c| c.values.email.clone()).collect();
            let existing = self.ctx.customers.store().find_customers(&emails).await?;
            self.prefetch_domains(&candidates, &existing).await?;
            let mut planned = Vec::new();
            for (candidate, current) in candidates.drain(..).zip(existing) {
                match self.plan_row(&candidate, current).await? {
                    Err(reason) => fail(&mut failures, &mut counts, candidate.raw, reason),
                    Ok(Plan::Counted(outcome)) => counts.count(outcome),
                    Ok(Plan::Write(write, outcome)) => planned.push((candidate, write, outcome)),
                }
            }
            let mut writes = Vec::new();
            let mut written = Vec::new();
            for (candidate, admitted, outcome) in self.admit_new(planned).await? {
                match admitted {
                    Err(reason) => fail(&mut failures, &mut counts, candidate.raw, reason),
                    Ok(_) if self.dry_run => counts.count(outcome),
                    Ok(write) => {
                        writes.push(write);
                        written.push((candidate, outcome));
                    }
                }
            }
            if writes.is_empty() {
                break;
            }
            let results = self.ctx.customers.store().write_customers(&writes).await?;
            for (((candidate, outcome), write), result) in
                written.into_iter().zip(&writes).zip(results)
            {
                match result {
                    Ok(()) => {
                        if let CustomerWrite::Replace { previous, next } = write {
                            self.ctx
                                .customers
                                .addresses()
                                .keep_block(previous, next)
                                .await?;
                        }
                        counts.count(outcome)
                    }
                    // Changed or created by someone else since it was read: read it again.
                    Err(StoreError::VersionMismatch) if attempt + 1 < WRITE_ATTEMPTS => {
                        candidates.push(candidate)
                    }
                    Err(StoreError::EmailTaken(email))
                        if candidate.values.email == email && attempt + 1 < WRITE_ATTEMPTS =>
                    {
                        candidates.push(candidate)
                    }
                    Err(StoreError::EmailTaken(email)) => fail(
                        &mut failures,
                        &mut counts,
                        candidate.raw,
                        format!("{email} already belongs to another customer"),
                    ),
                    Err(StoreError::VersionMismatch) => fail(
                        &mut failures,
                        &mut counts,
                        candidate.raw,
                        "the customer kept changing during the import; import this row again"
                            .into(),
                    ),
                    Err(StoreError::UnderErasure(email)) => fail(
                        &mut failures,
                        &mut counts,
                        candidate.raw,
                        format!("{email} is being erased: the row changes nothing"),
                    ),
                    Err(other) => return Err(other.into()),
                }
            }
        }
        Ok(BatchDone {
            counts,
            failures,
            end: batch.end,
        })
    }

    /// The addresses the batch's new customers bring, against the address registry in one
    /// lookup: a suppressed address fails its row, a blocked one makes the customer blocked
    /// (`domain::address::admit`). Changed customers were admitted as they were patched.
    async fn admit_new(&self, planned: Vec<Planned>) -> Result<Vec<Admitted>, HelpdeskError> {
        let brought: Vec<Vec<String>> = planned
            .iter()
            .map(|(_, write, _)| match write {
                CustomerWrite::Insert(customer) => new_addresses(customer, None)
                    .into_iter()
                    .map(|(_, email)| email)
                    .collect(),
                CustomerWrite::Replace { .. } => Vec::new(),
            })
            .collect();
        let all: Vec<&str> = brought.iter().flatten().map(String::as_str).collect();
        let addresses = self.ctx.customers.addresses();
        let mut marks = addresses.marks_of(&all).await?.into_iter();
        let admitted = planned.into_iter().zip(brought).map(|(planned, brought)| {
            let (candidate, mut write, outcome) = planned;
            let marks: Vec<_> = marks.by_ref().take(brought.len()).collect();
            let verdict = match &mut write {
                CustomerWrite::Insert(customer) => admit(customer, None, &marks),
                CustomerWrite::Replace { .. } => Ok(()),
            };
            let verdict = crate::services::addresses::admitted(verdict)
                .map(|()| write)
                .map_err(|error| reasons(&error));
            (candidate, verdict, outcome)
        });
        Ok(admitted.collect())
    }

    /// What to do with one row given the customer it names (if any).
    pub(super) async fn plan_row(
        &self,
        candidate: &Candidate,
        current: Option<Customer>,
    ) -> Result<Result<Plan, String>, HelpdeskError> {
        let mark = |outcome| ImportMark {
            job: self.job_id.clone(),
            row: candidate.raw.row,
            outcome,
        };
        let by = || crate::domain::history::Actor::Import {
            job: self.job_id.clone(),
            row: candidate.raw.row,
        };
        let company = candidate.company_id.as_deref();
        let named_access = candidate.values.portal_access();
        if named_access.is_some_and(PortalAccess::is_company_wide)
            && !self.access.caller().can_manage_companies()
        {
            return Ok(Err(
                "portal_access: company access is granted by admins and agents \
                           who may manage companies"
                    .into(),
            ));
        }
        let Some(existing) = current else {
            // Required properties keep new records complete; a row that updates keeps the
            // record's values for its empty cells, so nothing can go missing there (and an
            // export imports back unchanged, whatever its customers lack).
            let missing: Vec<String> = self
                .required
                .iter()
                .filter(|t| !candidate.values.has(t))
                .map(|t| format!("{}: is required", t.name()))
                .collect();
            if !missing.is_empty() {
                return Ok(Err(missing.join("; ")));
            }
            // A new customer: typed straight from the row when possible.
            let input = match candidate
                .values
                .new_customer_input(self.access.editable_fields(), company)
            {
                Some(input) => Ok(input),
                None => parse_input::<CustomerInput>(candidate.values.patch(
                    None,
                    self.access.editable_fields(),
                    company,
                )),
            };
            let mut profile = match input.and_then(|input| {
                input
                    .into_profile(self.access.editable_fields())
                    .map_err(HelpdeskError::Validation)
            }) {
                Ok(profile) => self.access.confine(None, profile),
                Err(error) => return Ok(Err(reasons(&error))),
            };
            if profile.company_id.is_none() {
                profile.company_id = self.domain_company(email_domain(&profile.email)).await?;
            }
            let mut customer =
                crate::services::customers::customer_record(profile, self.send_welcome, by());
            customer.portal.access_set = named_access.is_some();
            if let (false, Some(company)) = (named_access.is_some(), &customer.profile.company_id) {
                customer.profile.portal_access = self.portal_default(company).await?;
            }
            customer.import_mark = Some(mark(RowOutcome::Created));
            // The mark names the job and row: `Customer::creator` reads it from there.
            customer.created_by = None;
            return Ok(Ok(Plan::Write(
                CustomerWrite::Insert(customer),
                RowOutcome::Created,
            )));
        };
        if let Some(done) = existing
            .import_mark
            .as_ref()
            .filter(|m| m.job == self.job_id && m.row == candidate.raw.row)
        {
            // Written by this very row before the run was interrupted.
            return Ok(Ok(Plan::Counted(done.outcome)));
        }
        let patch = candidate
            .values
            .patch(Some(&existing), self.access.editable_fields(), company);
        match self
            .ctx
            .customers
            .patched(&existing, &self.access, patch, by())
            .await
        {
            Err(HelpdeskError::Unavailable(message)) => Err(HelpdeskError::Unavailable(message)),
            Err(error) => Ok(Err(reasons(&error))),
            Ok(next) if next.profile == existing.profile => {
                Ok(Ok(Plan::Counted(RowOutcome::Unchanged)))
            }
            Ok(mut next) => {
                next.import_mark = Some(mark(RowOutcome::Updated));
                Ok(Ok(Plan::Write(
                    CustomerWrite::Replace {
                        previous: existing,
                        next,
                    },
                    RowOutcome::Updated,
                )))
            }
        }
    }

    /// The portal access new members of a company get (read once per run).
    async fn portal_default(&self, company_id: &str) -> Result<PortalAccess, HelpdeskError> {
        if let Some(found) = cached(&self.portal_defaults, company_id) {
            return Ok(found);
        }
        let store = self.ctx.customers.companies();
        let access = store
            .get_company(company_id)
            .await?
            .map(|c| c.portal_default_access)
            .unwrap_or_default();
        remember(&self.portal_defaults, company_id.to_string(), access);
        Ok(access)
    }

    /// The id of the company row `row` names; creates it when allowed. `Err` is the row's
    /// failure.
    pub(super) async fn company(
        &self,
        name: &str,
        row: u64,
    ) -> Result<Result<Option<String>, String>, HelpdeskError> {
        let key = name_key(name);
        if let Some(found) = cached(&self.companies, &key) {
            return Ok(found
                .map(Some)
                .ok_or_else(|| format!("company: no company is named (or has the id) '{name}'")));
        }
        let store = self.ctx.customers.companies();
        if uuid::Uuid::parse_str(name.trim()).is_ok() {
            // A company by its id, as the export writes it (stable across renames).
            let found = store.get_company(name.trim()).await?.map(|c| c.id);
            remember(&self.companies, key, found.clone());
            return Ok(found
                .map(Some)
                .ok_or_else(|| format!("company: no company has the id '{name}'")));
        }
        let found = store.find_company_by_name(name).await?.map(|c| c.id);
        let id = match found {
            Some(id) => Some(id),
            None if self.create_missing_companies && !self.dry_run => {
                let now = crate::domain::clock::now();
                let company = Company {
                    id: crate::domain::clock::new_id(),
                    name: name.trim().to_string(),
                    domains: Vec::new(),
                    notes: None,
                    portal_default_access: Default::default(),
                    created_by: Some(crate::domain::history::Actor::Import {
                        job: self.job_id.clone(),
                        row,
                    }),
                    changed_by: None,
                    created_at: now.clone(),
                    updated_at: now,
                    version: 1,
                };
                match store.insert_company(&company).await {
                    Ok(()) => Some(company.id),
                    // Another batch created it a moment ago.
                    Err(StoreError::CompanyNameTaken(_)) => {
                        store.find_company_by_name(name).await?.map(|c| c.id)
                    }
                    Err(other) => return Err(other.into()),
                }
            }
            // A dry run counts the row as it would go: the company would be created.
            None if self.create_missing_companies => return Ok(Ok(None)),
            None => None,
        };
        remember(&self.companies, key, id.clone());
        Ok(id
            .map(Some)
            .ok_or_else(|| format!("company: no company is named '{name}'")))
    }

    /// Looks up, in one store call, the domains of the batch's new customers that the cache
    /// does not know yet (domain matching would otherwise cost a round trip per row).
    pub(super) async fn prefetch_domains(
        &self,
        candidates: &[Candidate],
        existing: &[Option<Customer>],
    ) -> Result<(), HelpdeskError> {
        let mut domains: Vec<String> = candidates
            .iter()
            .zip(existing)
            .filter(|(candidate, current)| current.is_none() && candidate.company_id.is_none())
            .map(|(candidate, _)| email_domain(&candidate.values.email).to_string())
            .filter(|domain| cached(&self.domains, domain).is_none())
            .collect();
        domains.sort();
        domains.dedup();
        if domains.is_empty() {
            return Ok(());
        }
        let owners = self
            .ctx
            .customers
            .companies()
            .companies_for_domains(&domains)
            .await?;
        for (domain, owner) in domains.into_iter().zip(owners) {
            remember(&self.domains, domain, owner);
        }
        Ok(())
    }

    pub(super) async fn domain_company(
        &self,
        domain: &str,
    ) -> Result<Option<String>, HelpdeskError> {
        if let Some(found) = cached(&self.domains, domain) {
            return Ok(found);
        }
        let found = self
            .ctx
            .customers
            .companies()
            .company_for_domain(domain)
            .await?;
        remember(&self.domains, domain.to_string(), found.clone());
        Ok(found)
    }
}
