//! The content library at the edge: receiving uploads, probing them, storing their bytes,
//! commands on items, downloads, previews and the sweeper.

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

pub use error::ContentFailure;
pub use generated::{GeneratedBody, GeneratedOutput};
pub use crate::inference::Metered;
pub use lifecycle::Changes;
pub use reads::Viewer;
pub use resumable::UploadView;
pub use service::ContentService;
pub use uploads::{id_for_key, Outcome, UploadMeta};
pub use settings::ContentSettings;
pub use view::{GenerationView, ItemView};

/// Background work of the library, aborted when dropped.
pub struct Background(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Background {
    fn drop(&mut self) {
        for h in &self.0 {
            h.abort();
        }
    }
}

/// Starts the preview worker and, unless turned off, the sweeper.
pub fn start_background(service: &ContentService) -> Background {
    let s = service.settings();
    let mut tasks = vec![previews::start(
        service.clone(),
        std::time::Duration::from_secs(30),
    )];
    if s.sweep_interval_secs > 0 {
        tasks.push(gc::start(
            service.clone(),
            std::time::Duration::from_secs(s.sweep_interval_secs),
        ));
    }
    Background(tasks)
}
