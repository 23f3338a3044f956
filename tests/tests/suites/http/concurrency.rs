//! Races clients really produce.

use crate::support::app::{TestApp, http_tests};

http_tests!(twenty_concurrent_registrations_of_one_name_create_exactly_one_account);

async fn twenty_concurrent_registrations_of_one_name_create_exactly_one_account(app: TestApp) {
    let app = std::sync::Arc::new(app);
    let attempts = (0..20).map(|i| {
        let app = std::sync::Arc::clone(&app);
        tokio::spawn(async move {
            app.register(if i % 2 == 0 { "racer" } else { "RACER" }, "correct horse battery staple")
                .await
                .status()
                .as_u16()
        })
    });
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 19, "{statuses:?}");
}
