//! The error report: parts written as the run goes, combined into one CSV at the end.

use super::*;

impl Run<'_> {
    /// Joins the report parts into `import-reports/{id}.errors.csv` (streamed through a temp file).
    pub(super) async fn combine_report(
        &self,
        parts: u32,
        headers: &[String],
    ) -> Result<Option<String>, HelpdeskError> {
        if parts == 0 {
            return Ok(None);
        }
        let unavailable =
            |e: &dyn std::fmt::Display| HelpdeskError::Unavailable(format!("report: {e}"));
        let path = std::env::temp_dir().join(format!(
            "helpdesk-report-{}-{}.csv",
            self.job.id,
            crate::domain::clock::new_id()
        ));
        {
            use std::io::Write;
            let mut file =
                std::io::BufWriter::new(std::fs::File::create(&path).map_err(|e| unavailable(&e))?);
            let mut header = csv::Writer::from_writer(Vec::new());
            // The second column names the row's key: the customer's email, or the ticket's id.
            let key = match self.job.options.kind {
                crate::domain::import_job::ImportKind::Tickets => "external_id",
                crate::domain::import_job::ImportKind::Customers => "email",
            };
            let mut names = vec!["row".to_string(), key.to_string(), "reason".to_string()];
            names.extend(headers.iter().cloned());
            header.write_record(&names).map_err(|e| unavailable(&e))?;
            file.write_all(&header.into_inner().map_err(|e| unavailable(&e))?)
                .map_err(|e| unavailable(&e))?;
            for part in 0..parts {
                let bytes = self
                    .ctx
                    .reports
                    .get(&part_key(&self.job.id, part))
                    .await
                    .map_err(|e| unavailable(&e))?;
                file.write_all(&bytes).map_err(|e| unavailable(&e))?;
            }
            file.flush().map_err(|e| unavailable(&e))?;
        }
        let key = report_key(&self.job.id);
        let uploaded = self.ctx.reports.put_file(&key, &path, "text/csv").await;
        let _ = std::fs::remove_file(&path);
        uploaded.map_err(|e| unavailable(&e))?;
        for part in 0..parts {
            // Leftover parts are harmless; the lifecycle rule on the prefix removes them.
            let _ = self.ctx.reports.delete(&part_key(&self.job.id, part)).await;
        }
        Ok(Some(key))
    }
}

pub(super) fn part_key(job_id: &str, part: u32) -> String {
    format!("{}{job_id}.errors.part-{part:05}.csv", REPORT_PREFIX)
}
