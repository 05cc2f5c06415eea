//! The CORS example in a real browser: a page on one origin calls the API on another with
//! a bearer token. The browser sends the preflight, tower-http's `CorsLayer` (outside the
//! auth layer) answers it, and the page shows what the API said, refusals included.

use fastauth_testkit::{
    browser::Browser,
    client::new_pair,
    example::{MASTER, Program},
};
use reqwest::header::{ACCESS_CONTROL_ALLOW_ORIGIN, ORIGIN};

const PROGRAM: &str = env!("CARGO_BIN_EXE_example-cors");

/// The program, its page origin and its API origin.
fn start() -> (Program, String, String) {
    let program = Program::start_with_secrets(
        PROGRAM,
        &[("PAGE_ADDR", "127.0.0.1:0"), ("API_ADDR", "127.0.0.1:0")],
    );
    let urls = program.urls();
    let (page, api) = (urls[0].to_owned(), urls[1].to_owned());
    (program, page, api)
}

/// The text the page's script left in `<pre id="result">`.
fn result(dom: &str) -> &str {
    let start = dom
        .find(r#"<pre id="result">"#)
        .expect("the page's result element")
        + r#"<pre id="result">"#.len();
    let end = dom[start..].find("</pre>").expect("a closed element") + start;
    &dom[start..end]
}

#[tokio::test]
async fn a_page_on_another_origin_calls_the_api() {
    let Some(browser) = Browser::find("a_page_on_another_origin_calls_the_api") else {
        return;
    };
    let (_program, page, api) = start();
    let (token, _) = new_pair(&api, MASTER, "alice").await;

    let dom = browser.dom_after_scripts(&format!("{page}/#token={token}"));
    assert_eq!(result(&dom), "200 hello, alice", "{dom}");
    // The auth layer's refusal reaches the page: it carries the CORS headers too.
    let dom = browser.dom_after_scripts(&format!("{page}/#token=not-a-token"));
    let shown = result(&dom);
    assert!(shown.starts_with("401 "), "{dom}");
    assert!(shown.contains("Unauthorized Access Token"), "{shown}");
}

/// The preflight as the browser sends it: answered by the CORS layer, naming the page's
/// origin whoever asks (an exact origin is sent as configured), so a page elsewhere is
/// not allowed.
#[tokio::test]
async fn preflights_are_answered_for_the_page_origin_only() {
    let (_program, page, api) = start();
    let preflight = |origin: String| {
        reqwest::Client::new()
            .request(reqwest::Method::OPTIONS, format!("{api}/api/me"))
            .header(ORIGIN, origin)
            .header("Access-Control-Request-Method", "GET")
            .header("Access-Control-Request-Headers", "authorization")
            .send()
    };
    let response = preflight(page.clone()).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], page.as_str());
    let response = preflight("http://elsewhere.example".into()).await.unwrap();
    let allowed = response.headers().get(ACCESS_CONTROL_ALLOW_ORIGIN);
    assert!(
        allowed.is_none_or(|origin| origin == page.as_str()),
        "{allowed:?}"
    );
}
