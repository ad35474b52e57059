//! Companies with their name and domain claims.

use super::*;

#[async_trait]
impl CompanyStore for SqliteStore {
    async fn insert_company(&self, company: &Company) -> Result<(), StoreError> {
        let company = company.clone();
        self.write(move |tx| {
            check_company_claims(tx, &company)?;
            exec(
                tx,
                "INSERT INTO companies (id, name_key, version, doc) VALUES (?1, ?2, ?3, ?4)",
                params![
                    company.id,
                    company.name_key(),
                    company.version,
                    to_doc(&company)?
                ],
            )?;
            for domain in &company.domains {
                exec(
                    tx,
                    "INSERT INTO company_domains (domain, company_id) VALUES (?1, ?2)",
                    params![domain, company.id],
                )?;
            }
            Ok(())
        })
        .await
    }

    async fn get_company(&self, id: &str) -> Result<Option<Company>, StoreError> {
        let id = id.to_string();
        self.with(move |connection| {
            read_doc(connection, "SELECT doc FROM companies WHERE id = ?1", [&id])
        })
        .await
    }

    async fn replace_company(&self, previous: &Company, next: &Company) -> Result<(), StoreError> {
        let (previous, next) = (previous.clone(), next.clone());
        self.write(move |tx| {
            let version: Option<u64> = tx
                .query_row(
                    "SELECT version FROM companies WHERE id = ?1",
                    [&previous.id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(unavailable)?;
            if version != Some(previous.version) {
                return Err(StoreError::VersionMismatch);
            }
            check_company_claims(tx, &next)?;
            exec(
                tx,
                "DELETE FROM company_domains WHERE company_id = ?1",
                [&next.id],
            )?;
            for domain in &next.domains {
                exec(
                    tx,
                    "INSERT INTO company_domains (domain, company_id) VALUES (?1, ?2)",
                    params![domain, next.id],
                )?;
            }
            exec(
                tx,
                "UPDATE companies SET name_key = ?2, version = ?3, doc = ?4 WHERE id = ?1",
                params![next.id, next.name_key(), next.version, to_doc(&next)?],
            )?;
            super::history::record_change(tx, &previous, &next)
        })
        .await
    }

    async fn delete_company(&self, company: &Company) -> Result<(), StoreError> {
        let company = company.clone();
        self.write(move |tx| {
            let deleted = tx
                .execute(
                    "DELETE FROM companies WHERE id = ?1 AND version = ?2",
                    params![company.id, company.version],
                )
                .map_err(unavailable)?;
            if deleted == 0 {
                return Err(StoreError::VersionMismatch);
            }
            exec(
                tx,
                "DELETE FROM company_domains WHERE company_id = ?1",
                [&company.id],
            )?;
            exec(tx, super::history::DELETE_HISTORY, [&company.id])?;
            Ok(())
        })
        .await
    }

    async fn list_companies(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<Company>, StoreError> {
        let after = after.unwrap_or_default().to_string();
        self.with(move |connection| {
            let rows = read_docs(
                connection,
                "SELECT name_key, doc FROM companies WHERE name_key > ?1 ORDER BY name_key LIMIT ?2",
                params![after, (limit + 1) as i64],
            )?;
            Ok(Page::from_rows(rows, limit))
        })
        .await
    }

    async fn find_company_by_name(&self, name: &str) -> Result<Option<Company>, StoreError> {
        let key = crate::domain::company::name_key(name);
        self.with(move |connection| {
            read_doc(
                connection,
                "SELECT doc FROM companies WHERE name_key = ?1",
                [&key],
            )
        })
        .await
    }

    async fn companies_for_domains(
        &self,
        domains: &[String],
    ) -> Result<Vec<Option<String>>, StoreError> {
        let domains = domains.to_vec();
        self.read(move |tx| {
            domains
                .iter()
                .map(|domain| {
                    query_row(
                        tx,
                        "SELECT company_id FROM company_domains WHERE domain = ?1",
                        [domain],
                        |r| r.get(0),
                    )
                })
                .collect()
        })
        .await
    }

    async fn company_for_domain(&self, domain: &str) -> Result<Option<String>, StoreError> {
        let domain = domain.to_string();
        self.with(move |connection| {
            connection
                .query_row(
                    "SELECT company_id FROM company_domains WHERE domain = ?1",
                    [&domain],
                    |r| r.get(0),
                )
                .optional()
                .map_err(unavailable)
        })
        .await
    }
}

/// Refuses a company whose name or domains another company holds.
pub(super) fn check_company_claims(tx: &Connection, company: &Company) -> Result<(), StoreError> {
    let name_owner: Option<String> = tx
        .query_row(
            "SELECT id FROM companies WHERE name_key = ?1",
            [company.name_key()],
            |r| r.get(0),
        )
        .optional()
        .map_err(unavailable)?;
    if name_owner.is_some_and(|owner| owner != company.id) {
        return Err(StoreError::CompanyNameTaken(company.name.clone()));
    }
    for domain in &company.domains {
        let owner: Option<String> = tx
            .query_row(
                "SELECT company_id FROM company_domains WHERE domain = ?1",
                [domain],
                |r| r.get(0),
            )
            .optional()
            .map_err(unavailable)?;
        if owner.is_some_and(|owner| owner != company.id) {
            return Err(StoreError::DomainTaken(domain.clone()));
        }
    }
    Ok(())
}
