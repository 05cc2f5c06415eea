//! Key rotation: tokens name their key with `kid`; older keys verify until retired.

mod common;

use fastauth::AuthError;

use common::{
    auth::builder_with_key,
    config_file::ConfigFile,
    jwt::header_of,
    keys::{K1, K2, K3},
};

fn stateless(key: &str) -> fastauth::FastAuthBuilder {
    builder_with_key(key).stateless()
}

#[test]
fn a_full_rotation_from_a_key_without_kid() {
    // Step 0: the deployment as fastauth-api had it, no key id.
    let v1 = stateless(K1).build().unwrap();
    let t1 = fastauth::hooks::codec(&v1).issue_pair("c").unwrap().access_token;
    assert_eq!(header_of(&t1), r#"{"alg":"HS256","typ":"JWT"}"#);

    // Step 1: a new current key with an id; the old one verifies what it signed.
    let v2 = stateless(K2)
        .key_id("k2")
        .previous_key_without_kid(K1)
        .build()
        .unwrap();
    let t2 = fastauth::hooks::codec(&v2).issue_pair("c").unwrap().access_token;
    assert_eq!(header_of(&t2), r#"{"alg":"HS256","typ":"JWT","kid":"k2"}"#);
    assert!(
        fastauth::hooks::verify_access_token(&v2, &t1).is_ok(),
        "old tokens keep working"
    );
    assert!(fastauth::hooks::verify_access_token(&v2, &t2).is_ok());
    // The old deployment does not know k2.
    assert_eq!(
        fastauth::hooks::verify_access_token(&v1, &t2).unwrap_err(),
        AuthError::InvalidAccessToken
    );

    // Step 2: the next key; K1 retired, K2 still verifying.
    let v3 = stateless(K3).key_id("k3").previous_key("k2", K2).build().unwrap();
    let t3 = fastauth::hooks::codec(&v3).issue_pair("c").unwrap().access_token;
    assert!(fastauth::hooks::verify_access_token(&v3, &t3).is_ok());
    assert!(fastauth::hooks::verify_access_token(&v3, &t2).is_ok());
    assert_eq!(
        fastauth::hooks::verify_access_token(&v3, &t1).unwrap_err(),
        AuthError::InvalidAccessToken,
        "K1 is retired"
    );

    // Refresh tokens signed by an older key are exchanged for a pair signed by the current one.
    let refresh2 = fastauth::hooks::codec(&v2).issue_pair("c").unwrap().refresh_token;
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let pair = rt.block_on(v3.refresh(&refresh2)).unwrap();
    assert_eq!(
        header_of(&pair.access_token),
        r#"{"alg":"HS256","typ":"JWT","kid":"k3"}"#
    );
}

#[test]
fn a_kid_that_names_no_key_is_refused() {
    let v2 = stateless(K2).key_id("k2").build().unwrap();
    let token = fastauth::hooks::codec(&v2).issue_pair("c").unwrap().access_token;
    let v_other = stateless(K2).key_id("other").build().unwrap();
    assert_eq!(
        fastauth::hooks::verify_access_token(&v_other, &token).unwrap_err(),
        AuthError::InvalidAccessToken
    );
    // Same key, but this deployment expects every token to name its key.
    let v1_token = fastauth::hooks::codec(&stateless(K2).build().unwrap())
        .issue_pair("c")
        .unwrap()
        .access_token;
    assert_eq!(
        fastauth::hooks::verify_access_token(&v2, &v1_token).unwrap_err(),
        AuthError::InvalidAccessToken
    );
}

#[test]
fn key_sets_are_checked_at_build_time() {
    let err = stateless(K1).key_id("bad id").build().unwrap_err();
    assert!(err.to_string().contains("bad id"), "{err}");
    let err = stateless(K1)
        .key_id("k")
        .previous_key("k", K2)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("used twice"), "{err}");
    let err = stateless(K1).previous_key_without_kid(K2).build().unwrap_err();
    assert!(err.to_string().contains("no key id"), "{err}");
    let err = stateless(K1)
        .key_id("k2")
        .previous_key("k1", "short")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("5 bytes"), "{err}");
}

#[test]
fn previous_keys_from_the_config_file() {
    let file = ConfigFile::new(&format!(
        r#"{{"cryptography_key":"{K3}","key_id":"k3","previous_keys":[{{"kid":"k2","key":"{K2}"}},{{"key":"{K1}"}}],"token_mode":"stateless"}}"#
    ));
    let auth = file.builder().ignore_environment().build().unwrap();
    let t1 = fastauth::hooks::codec(&stateless(K1).build().unwrap())
        .issue_pair("c")
        .unwrap()
        .access_token;
    let t2 = fastauth::hooks::codec(&stateless(K2).key_id("k2").build().unwrap())
        .issue_pair("c")
        .unwrap()
        .access_token;
    assert!(fastauth::hooks::verify_access_token(&auth, &t1).is_ok());
    assert!(fastauth::hooks::verify_access_token(&auth, &t2).is_ok());
}
