//! The content library at the edge: receiving uploads, probing them, storing their bytes,
//! commands on items, downloads, previews and the sweeper.

pub mod claims;
mod commit;
pub mod error;
pub mod filename;
pub mod gc;
pub mod generated;
pub mod lifecycle;
mod notes;
pub mod previews;
pub mod reads;
pub mod receive;
pub mod resumable;
pub mod service;
pub mod settings;
pub mod uploads;
pub mod view;

pub use crate::inference::Metered;
pub use error::ContentFailure;
pub use generated::{GeneratedBody, GeneratedOutput};
pub use lifecycle::Changes;
pub use reads::Viewer;
pub use resumable::UploadView;
pub use service::ContentService;
pub use settings::ContentSettings;
pub use uploads::{id_for_key, Outcome, UploadMeta};
pub use view::{GenerationView, ItemView};

/// The library's long-lived work, for the node's supervisor to host: the preview worker and,
/// unless turned off, the sweeper.
pub fn background_jobs(
    service: &ContentService,
) -> Vec<std::sync::Arc<dyn tessera_actors::HostedJob>> {
    let s = service.settings();
    let mut jobs: Vec<std::sync::Arc<dyn tessera_actors::HostedJob>> = vec![std::sync::Arc::new(
        previews::PreviewWorker::new(service.clone(), std::time::Duration::from_secs(30)),
    )];
    if s.sweep_interval_secs > 0 {
        jobs.push(std::sync::Arc::new(gc::Sweeper::new(
            service.clone(),
            std::time::Duration::from_secs(s.sweep_interval_secs),
        )));
    }
    jobs
}
