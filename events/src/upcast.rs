//! Upcasting: old events are never rewritten; they are brought to the current schema when read.

use std::collections::HashMap;
use std::sync::Arc;

use crate::error::StoreError;

type UpcastFn = Arc<dyn Fn(serde_json::Value) -> Result<serde_json::Value, String> + Send + Sync>;

/// Functions that take an event type's payload from schema version N to N+1.
#[derive(Default, Clone)]
pub struct Upcasters {
    steps: HashMap<(String, i32), UpcastFn>,
}

impl Upcasters {
    /// Registers the step from `from_version` to `from_version + 1` for `event_type`.
    pub fn register(
        mut self,
        event_type: &str,
        from_version: i32,
        f: impl Fn(serde_json::Value) -> Result<serde_json::Value, String> + Send + Sync + 'static,
    ) -> Self {
        self.steps
            .insert((event_type.to_owned(), from_version), Arc::new(f));
        self
    }

    /// Applies every registered step in turn; returns the final version and payload.
    pub fn upcast(
        &self,
        event_type: &str,
        mut version: i32,
        mut payload: serde_json::Value,
    ) -> Result<(i32, serde_json::Value), StoreError> {
        if self.steps.is_empty() {
            return Ok((version, payload));
        }
        while let Some(step) = self.steps.get(&(event_type.to_owned(), version)) {
            payload = step(payload).map_err(|reason| StoreError::Upcast {
                event_type: event_type.to_owned(),
                from: version,
                reason,
            })?;
            version += 1;
        }
        Ok((version, payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn chains_steps_and_leaves_current_events_alone() {
        let up = Upcasters::default()
            .register("user.registered", 1, |mut p| {
                p["display_name"] = p["name"].take();
                Ok(p)
            })
            .register("user.registered", 2, |mut p| {
                p["role"] = json!("user");
                Ok(p)
            });
        let (v, p) = up
            .upcast("user.registered", 1, json!({"name": "Ada"}))
            .unwrap();
        assert_eq!(v, 3);
        assert_eq!(
            p,
            json!({"name": null, "display_name": "Ada", "role": "user"})
        );
        let (v, p) = up.upcast("user.registered", 3, json!({"x": 1})).unwrap();
        assert_eq!((v, p), (3, json!({"x": 1})));
    }

    #[test]
    fn a_failing_step_is_an_error() {
        let up = Upcasters::default().register("a", 1, |_| Err("nope".into()));
        assert!(matches!(
            up.upcast("a", 1, json!({})),
            Err(StoreError::Upcast { from: 1, .. })
        ));
    }
}
