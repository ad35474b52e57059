//! The OpenAPI 3.1 description, generated from the handlers' `#[utoipa::path]` annotations and
//! the view and input types, so it cannot drift from the code. `GET /openapi.json` serves it.

use std::sync::OnceLock;

use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    Content, ObjectBuilder, PathItem, Ref, RefOr, Required, ResponseBuilder, Type,
};
use utoipa::{Modify, OpenApi};

use super::problem::Problem;
use super::{
    addresses, avatars, changes, companies, customers, export, exports, fields, history, imports,
    inbound, merges, migrations, portal, privacy, tickets, webhooks,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "helpdesk",
        description = "Customer management for support teams: customers, companies, custom fields, CSV imports, tickets from inbound mail, agents' replies. Errors are application/problem+json (RFC 9457) naming the bad fields.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    servers((url = "/")),
    paths(
        super::health,
        super::openapi,
        customers::create_customer,
        customers::list_customers,
        customers::batch_customers,
        customers::get_customer,
        customers::update_customer,
        customers::delete_customer,
        avatars::set_avatar,
        avatars::remove_avatar,
        avatars::avatar_upload_url,
        avatars::avatar_upload_status,
        avatars::serve_avatar,
        customers::add_note,
        customers::list_notes,
        history::customer_history,
        history::company_history,
        privacy::erase_customer,
        privacy::get_erasure,
        export::export_customer,
        merges::merge_customers,
        merges::get_merge,
        merges::undo_merge,
        customers::block_customer,
        customers::unblock_customer,
        customers::clear_undeliverable,
        addresses::get_address,
        addresses::lift_address_mark,
        customers::list_customer_tickets,
        companies::create_company,
        companies::list_companies,
        companies::get_company,
        companies::update_company,
        companies::delete_company,
        companies::add_company_domain,
        fields::list_fields,
        fields::create_field,
        fields::get_field,
        fields::update_field,
        imports::create_import,
        imports::import_template,
        imports::get_import,
        tickets::get_ticket,
        tickets::update_ticket,
        tickets::post_message,
        history::ticket_history,
        tickets::download_attachment,
        inbound::list_inbound,
        inbound::get_inbound,
        exports::start_export,
        exports::get_export,
        migrations::start_migration,
        migrations::get_migration,
        changes::list_changes,
        webhooks::create_webhook,
        webhooks::list_webhooks,
        webhooks::get_webhook,
        webhooks::delete_webhook,
        webhooks::replay_webhook,
        portal::revoke_portal_sessions,
        portal::portal_sign_in,
        portal::open_portal_session,
        portal::close_portal_session,
        portal::portal_me,
        portal::update_portal_me,
        avatars::set_portal_avatar,
        avatars::remove_portal_avatar,
        portal::list_portal_tickets,
        portal::open_portal_ticket,
        portal::get_portal_ticket,
        portal::reply_portal_ticket,
        portal::solve_portal_ticket,
        portal::download_portal_attachment,
    ),
    components(schemas(Problem)),
    modifiers(&Conventions),
)]
pub struct ApiDoc;

/// What holds for every operation, added once rather than on each: bearer authentication
/// (but for the open routes), the problem+json answer for every error, and the routes only
/// `helpdesk serve` has.
struct Conventions;

/// Routes anyone may call.
const OPEN_ROUTES: [&str; 6] = [
    "/health",
    "/avatars/{customer}/{hash}/{file}",
    "/openapi.json",
    "/downloads/{token}",
    "/portal/sign-in",
    "/portal/sessions",
];

impl Modify for Conventions {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A JWT from the stack's identity provider (cloud) or an API key (local)",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "portalSession",
            SecurityScheme::ApiKey(utoipa::openapi::security::ApiKey::Cookie(
                utoipa::openapi::security::ApiKeyValue::with_description(
                    "hd_portal",
                    "The customer portal's session cookie (writes need a same-origin Origin)",
                ),
            )),
        );
        doc.security = Some(vec![SecurityRequirement::new::<_, _, &str>("bearer", [])]);
        add_local_routes(doc);
        let problem = ResponseBuilder::new()
            .description("An RFC 9457 problem naming the bad fields")
            .content(
                "application/problem+json",
                Content::new(Some(Ref::from_schema_name("Problem"))),
            )
            .build();
        for (path, item) in doc.paths.paths.iter_mut() {
            let open = OPEN_ROUTES.contains(&path.as_str());
            for operation in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                operation
                    .responses
                    .responses
                    .insert("default".into(), RefOr::T(problem.clone()));
                if open {
                    operation.security = Some(vec![SecurityRequirement::default()]);
                } else if path.starts_with("/portal/") {
                    // A portal session: its cookie, or its token (`hdp_…`) as a Bearer token.
                    operation.security = Some(vec![
                        SecurityRequirement::new::<_, _, &str>("portalSession", []),
                        SecurityRequirement::new::<_, _, &str>("bearer", []),
                    ]);
                }
            }
        }
    }
}

fn path_parameter(name: &str, description: &str) -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(description))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .build()
}

/// Uploads and downloads go through the API only in local mode; the cloud presigns S3 URLs.
/// They are described here, marked `x-local-only`, because `upload_url` and download links
/// point at them; so is the local mail connections' status.
fn add_local_routes(doc: &mut utoipa::openapi::OpenApi) {
    let local_only = || ExtensionsBuilder::new().add("x-local-only", true).build();
    let upload = OperationBuilder::new()
        .summary(Some(
            "Upload the job's CSV (local mode; the cloud uses the presigned upload_url)",
        ))
        .tag("imports")
        .parameter(path_parameter("id", "Import job id"))
        .request_body(Some(
            RequestBodyBuilder::new()
                .content(
                    "text/csv",
                    Content::new(Some(ObjectBuilder::new().schema_type(Type::String))),
                )
                .required(Some(Required::True))
                .build(),
        ))
        .response(
            "202",
            ResponseBuilder::new()
                .description("The job, its file in place")
                .content(
                    "application/json",
                    Content::new(Some(Ref::from_schema_name("ImportJob"))),
                ),
        )
        .extensions(Some(local_only()));
    doc.paths.paths.insert(
        "/imports/{id}/file".into(),
        PathItem::new(HttpMethod::Put, upload),
    );
    let download = OperationBuilder::new()
        .summary(Some(
            "A file behind a download URL (local mode; the cloud presigns S3)",
        ))
        .tag("tickets")
        .parameter(path_parameter("token", "From a download URL"))
        .response(
            "200",
            ResponseBuilder::new().description("The file").content(
                "application/octet-stream",
                Content::new(Some(ObjectBuilder::new().schema_type(Type::String).format(
                    Some(utoipa::openapi::SchemaFormat::Custom("binary".into())),
                ))),
            ),
        )
        .extensions(Some(local_only()));
    doc.paths.paths.insert(
        "/downloads/{token}".into(),
        PathItem::new(HttpMethod::Get, download),
    );
    let status = OperationBuilder::new()
        .summary(Some(
            "The mail connections' state (local mode, admins): IMAP and SMTP, counts, last error",
        ))
        .tag("meta")
        .response(
            "200",
            ResponseBuilder::new()
                .description("`{status, mail: {imap, smtp}}` (docs/mail.md)")
                .content(
                    "application/json",
                    Content::new(Some(ObjectBuilder::new().schema_type(Type::Object))),
                ),
        )
        .extensions(Some(local_only()));
    doc.paths
        .paths
        .insert("/status".into(), PathItem::new(HttpMethod::Get, status));
    // Webhooks are local mode's; the cloud delivers events through EventBridge.
    for (_, item) in doc
        .paths
        .paths
        .iter_mut()
        .filter(|(path, _)| path.starts_with("/webhooks"))
    {
        for operation in [&mut item.get, &mut item.post, &mut item.delete]
            .into_iter()
            .flatten()
        {
            operation.extensions = Some(local_only());
        }
    }
}

/// The description as JSON, generated once per process.
pub fn openapi_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| ApiDoc::openapi().to_json().unwrap_or_default())
}
