//! The layer against the real axum router, in process: the fuzzer's bytes decode into a
//! route set whose routes carry the level their author meant (fastauth-testkit), the
//! patterns are derived from the routes, and hostile spellings of paths to every route
//! are sent through `router.layer(auth.layer())` with no credential, an access token and
//! the master token. A handler tagged protected that runs without its credential is a
//! bypass: the target fails. The same generator drives tests/router_differential.rs.
#![no_main]

use std::sync::OnceLock;

use axum::body::Body;
use fastauth::FastAuth;
use fastauth_testkit::router::{HitLog, Input, RouteSet};
use libfuzzer_sys::fuzz_target;
use tokio::runtime::Runtime;
use tower::ServiceExt;

const KEY: &str = "fuzz-key-0123456789-0123456789-0123456789";
const MASTER: &str = "fuzz-master-token";

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let set = RouteSet::decode(&mut input);
    let (master, access) = set.patterns();
    let auth = FastAuth::builder()
        .ignore_environment()
        .cryptography_key(KEY)
        .master_token(MASTER)
        // Routing, not the failure limit, is under test (and a oneshot request carries
        // no client address, which the limit would refuse).
        .failure_limit(None)
        .stateless()
        .master_paths(&master)
        .access_paths(&access)
        .build()
        .expect("derived patterns compile");
    let access_token = fastauth::hooks::codec(&auth)
        .issue_pair("fuzz")
        .expect("a fixed client id")
        .access_token;
    let log = HitLog::new(MASTER, &access_token);
    // axum refuses overlapping routes by panicking; libFuzzer's hook would abort on it.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let router = set.router(&log);
    std::panic::set_hook(hook);
    let Some(router) = router else {
        return;
    };
    let app = router.layer(auth.layer());
    let bearer = format!("Bearer {access_token}");
    let credentials: [&[(&str, &str)]; 3] = [&[], &[("authorization", &bearer)], &[("master-token", MASTER)]];
    for path in set.paths(&mut input) {
        let Ok(uri) = http::Uri::try_from(path.clone()) else {
            continue;
        };
        for headers in credentials {
            let mut request = http::Request::builder().uri(uri.clone());
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            let request = request.body(Body::empty()).expect("a valid request");
            let response = runtime()
                .block_on(app.clone().oneshot(request))
                .expect("infallible");
            assert!(
                response.status().as_u16() < 500,
                "{}: {}",
                String::from_utf8_lossy(&path),
                response.status()
            );
        }
    }
    let bypasses = log.bypasses();
    assert!(
        bypasses.is_empty(),
        "bypass: {bypasses:#?}\nroutes: {set:#?}\nmaster: {master:?}\naccess: {access:?}"
    );
});
