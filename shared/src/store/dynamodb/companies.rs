//! Companies with their name and domain claims.

use super::*;

#[async_trait]
impl CompanyStore for DynamoStore {
    async fn insert_company(&self, company: &Company) -> Result<(), StoreError> {
        let table = self.table.as_str();
        let mut ops = vec![
            put(
                table,
                company_item(company)?,
                NOT_EXISTS,
                &[],
                StoreError::VersionMismatch,
            )?,
            put(
                table,
                claim_item(company_name_pk(&company.name_key()), &company.id),
                NOT_EXISTS,
                &[],
                StoreError::CompanyNameTaken(company.name.clone()),
            )?,
        ];
        for domain in &company.domains {
            ops.push(put(
                table,
                claim_item(domain_pk(domain), &company.id),
                NOT_EXISTS,
                &[],
                StoreError::DomainTaken(domain.clone()),
            )?);
        }
        self.transact(ops).await
    }

    async fn get_company(&self, id: &str) -> Result<Option<Company>, StoreError> {
        self.get_doc(company_pk(id)).await
    }

    async fn replace_company(&self, previous: &Company, next: &Company) -> Result<(), StoreError> {
        let table = self.table.as_str();
        let id = [(":id", s(&next.id))];
        let mut ops = vec![put(
            table,
            company_item(next)?,
            AT_VERSION,
            &[(":version", n(previous.version))],
            StoreError::VersionMismatch,
        )?];
        if previous.name_key() != next.name_key() {
            ops.push(put(
                table,
                claim_item(company_name_pk(&next.name_key()), &next.id),
                NOT_EXISTS,
                &[],
                StoreError::CompanyNameTaken(next.name.clone()),
            )?);
            ops.push(delete(
                table,
                company_name_pk(&previous.name_key()),
                SINGLE,
                OF_COMPANY,
                &id,
                StoreError::VersionMismatch,
            )?);
        }
        for domain in next
            .domains
            .iter()
            .filter(|d| !previous.domains.contains(d))
        {
            ops.push(put(
                table,
                claim_item(domain_pk(domain), &next.id),
                NOT_EXISTS,
                &[],
                StoreError::DomainTaken(domain.clone()),
            )?);
        }
        for domain in previous
            .domains
            .iter()
            .filter(|d| !next.domains.contains(d))
        {
            ops.push(delete(
                table,
                domain_pk(domain),
                SINGLE,
                OF_COMPANY,
                &id,
                StoreError::VersionMismatch,
            )?);
        }
        ops.extend(super::history::history_op(table, previous, next)?);
        self.transact(ops).await
    }

    async fn delete_company(&self, company: &Company) -> Result<(), StoreError> {
        let table = self.table.as_str();
        let id = [(":id", s(&company.id))];
        let mut ops = vec![
            delete(
                table,
                company_pk(&company.id),
                SINGLE,
                AT_VERSION,
                &[(":version", n(company.version))],
                StoreError::VersionMismatch,
            )?,
            delete(
                table,
                company_name_pk(&company.name_key()),
                SINGLE,
                OF_COMPANY,
                &id,
                StoreError::VersionMismatch,
            )?,
        ];
        for domain in &company.domains {
            ops.push(delete(
                table,
                domain_pk(domain),
                SINGLE,
                OF_COMPANY,
                &id,
                StoreError::VersionMismatch,
            )?);
        }
        self.transact(ops).await?;
        self.delete_partition(history_pk(&company.id)).await
    }

    async fn list_companies(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<Company>, StoreError> {
        let (items, _) = self
            .query_page(
                Some(INDEX_LISTING),
                ("list_pk", COMPANIES_LIST.into()),
                "list_sk",
                after,
                None,
                limit + 1,
                true,
            )
            .await?;
        let rows = keyed_rows(&items, "list_sk")?;
        Ok(Page::from_rows(rows, limit))
    }

    async fn find_company_by_name(&self, name: &str) -> Result<Option<Company>, StoreError> {
        let claim = self
            .get(
                company_name_pk(&crate::domain::company::name_key(name)),
                SINGLE,
            )
            .await?;
        match claim.as_ref().and_then(|item| get_s(item, "company_id")) {
            Some(id) => self.get_company(id).await,
            None => Ok(None),
        }
    }

    async fn companies_for_domains(
        &self,
        domains: &[String],
    ) -> Result<Vec<Option<String>>, StoreError> {
        let pks: Vec<String> = domains.iter().map(|d| domain_pk(d)).collect();
        self.batch_get_attribute(&pks, "company_id").await
    }

    async fn company_for_domain(&self, domain: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .get(domain_pk(domain), SINGLE)
            .await?
            .and_then(|item| get_s(&item, "company_id").map(str::to_string)))
    }
}
