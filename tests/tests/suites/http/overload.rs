//! A full password-hashing queue answers 503 `overloaded` at once, and the
//! routes that hash nothing keep answering meanwhile.

use std::{sync::Arc, time::Instant};

use tokio::task::JoinSet;

use crate::support::app::{TestApp, assert_problem, http_tests};

http_tests!(a_full_hashing_queue_answers_overloaded_while_other_routes_keep_answering);

async fn a_full_hashing_queue_answers_overloaded_while_other_routes_keep_answering(app: TestApp) {
    // One hashing thread, one place in the queue, real argon2id costs.
    let app = Arc::new(
        app.another_instance(|s| {
            s.password.concurrency = 1;
            s.password.max_waiting = 1;
            s.password.memory_kib = 19_456;
            s.password.iterations = 2;
        })
        .await,
    );
    let token = app.access_token("reader").await;
    let mut flood = JoinSet::new();
    for i in 0..24 {
        let app = Arc::clone(&app);
        flood.spawn(async move {
            let res = app.register(&format!("flood{i}"), "correct horse battery staple").await;
            (res, Instant::now())
        });
    }
    // While the flood is in flight, the routes that hash nothing answer.
    let live = app.get("/health/live", None).await;
    let protected = app.get("/auth/protected", Some(&token)).await;
    let answered = Instant::now();
    assert_eq!(live.status(), 200);
    assert_eq!(protected.status(), 200);

    let (mut created, mut overloaded, mut last_done) = (0, 0, answered);
    while let Some(done) = flood.join_next().await {
        let (res, at) = done.unwrap();
        last_done = last_done.max(at);
        match res.status().as_u16() {
            201 => created += 1,
            503 => {
                assert_eq!(res.headers()["retry-after"], "1");
                assert_problem(res, 503, "overloaded").await;
                overloaded += 1;
            }
            other => panic!("a registration answered {other}"),
        }
    }
    assert!(overloaded > 0, "24 registrations at once overflowed no queue ({created} created)");
    assert!(created >= 2, "the running and the waiting hash are served ({created} created)");
    assert!(answered < last_done, "the other routes answered before the registrations that queued were done");
    // The queue drains: a later registration goes through.
    assert_eq!(app.register("after", "correct horse battery staple").await.status(), 201);
}
