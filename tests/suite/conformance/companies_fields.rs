//! Companies (unique names and domains) and custom field definitions.

use super::*;

async fn company_names_and_domains_are_unique(store: Arc<dyn Store>) {
    let acme = company("Acme", &["acme.com", "acme.io"]);
    store.insert_company(&acme).await.unwrap();
    assert_eq!(
        store.insert_company(&company("ACME", &[])).await,
        Err(StoreError::CompanyNameTaken("ACME".into()))
    );
    assert_eq!(
        store.insert_company(&company("Other", &["acme.io"])).await,
        Err(StoreError::DomainTaken("acme.io".into()))
    );
    assert_eq!(
        store.company_for_domain("acme.io").await.unwrap(),
        Some(acme.id.clone())
    );
    // Renaming and moving domains releases the old claims in the same write.
    let mut renamed = acme.clone();
    renamed.name = "Acme Corp".into();
    renamed.domains = vec!["acme.com".into(), "acme.dev".into()];
    renamed.version = 2;
    renamed.changed_by = Some(helpdesk_shared::domain::history::Actor::caller(
        "conformance",
    ));
    store.replace_company(&acme, &renamed).await.unwrap();
    assert_eq!(
        store.replace_company(&acme, &renamed).await,
        Err(StoreError::VersionMismatch)
    );
    // The change's history entry was written with it, once.
    let history = store.list_history(&acme.id, None, 10).await.unwrap();
    assert_eq!(history.items.len(), 1);
    let fields: Vec<&str> = history.items[0]
        .changes
        .iter()
        .map(|c| c.field.as_str())
        .collect();
    assert_eq!(fields, ["domains", "name"]);
    assert_eq!(history.items[0].changes[1].from, "Acme");
    assert_eq!(history.items[0].by, renamed.changed_by);
    assert_eq!(store.company_for_domain("acme.io").await.unwrap(), None);
    assert_eq!(
        store.company_for_domain("acme.dev").await.unwrap(),
        Some(acme.id.clone())
    );
    store
        .insert_company(&company("Acme", &["acme.io"]))
        .await
        .unwrap();
    let page = store.list_companies(None, 1).await.unwrap();
    assert_eq!(page.items[0].name, "Acme");
    let rest = store
        .list_companies(page.next.as_deref(), 10)
        .await
        .unwrap();
    assert_eq!(
        rest.items
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        vec!["Acme Corp"]
    );
    store.delete_company(&renamed).await.unwrap();
    assert_eq!(store.get_company(&acme.id).await.unwrap(), None);
    let history = store.list_history(&acme.id, None, 10).await.unwrap();
    assert!(
        history.items.is_empty(),
        "a deleted company's history goes with it"
    );
    assert_eq!(store.company_for_domain("acme.com").await.unwrap(), None);
    store
        .insert_company(&company("acme corp", &["acme.com"]))
        .await
        .unwrap();
}

async fn field_definitions_are_versioned(store: Arc<dyn Store>) {
    let field = FieldDefinition {
        key: "plan".into(),
        label: "Plan".into(),
        field_type: FieldType::Select,
        options: vec!["free".into(), "pro".into()],
        required: false,
        view_roles: vec![],
        edit_roles: vec![],
        created_at: helpdesk_shared::now(),
        updated_at: helpdesk_shared::now(),
        version: 1,
    };
    store.insert_field(&field).await.unwrap();
    assert_eq!(
        store.insert_field(&field).await,
        Err(StoreError::FieldKeyTaken("plan".into()))
    );
    let mut changed = field.clone();
    changed.label = "Plan tier".into();
    changed.version = 2;
    store.replace_field(&field, &changed).await.unwrap();
    assert_eq!(
        store.replace_field(&field, &changed).await,
        Err(StoreError::VersionMismatch)
    );
    assert_eq!(store.list_fields().await.unwrap(), vec![changed]);
}

conformance!(
    company_names_and_domains_are_unique,
    field_definitions_are_versioned,
);
