//! The `tessera` command line, run as a user would run it.

use std::process::Command;

use tessera_testkit::TestDb;

fn tessera(db: &TestDb) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tessera"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("DATABASE_URL", db.url())
        .env("TESSERA_LOG__LEVEL", "warn");
    cmd
}

#[tokio::test]
async fn serve_refuses_the_built_in_jwt_secret_outside_dev_mode() {
    let db = TestDb::new().await;
    let out = tessera(&db).arg("serve").output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("TESSERA_AUTH__JWT_SECRET"),
        "the refusal says what to set: {stderr}"
    );
}

#[tokio::test]
async fn create_admin_then_projection_status_and_rebuild() {
    let db = TestDb::new().await;
    let out = tessera(&db)
        .args(["users", "create-admin", "--email", "Boss@Example.com"])
        .env("TESSERA_ADMIN_PASSWORD", "a long admin passphrase")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("created with id"));

    // The same address again is refused.
    let again = tessera(&db)
        .args(["users", "create-admin", "--email", "boss@example.com"])
        .env("TESSERA_ADMIN_PASSWORD", "a long admin passphrase")
        .output()
        .unwrap();
    assert!(!again.status.success());

    let rebuilt = tessera(&db)
        .args(["projections", "rebuild", "users"])
        .output()
        .unwrap();
    assert!(
        rebuilt.status.success(),
        "{}",
        String::from_utf8_lossy(&rebuilt.stderr)
    );
    let stdout = String::from_utf8_lossy(&rebuilt.stdout);
    assert!(
        stdout.contains("users:") && stdout.contains("swapped in"),
        "{stdout}"
    );
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM rm_users.users WHERE role = 'admin'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(rows, 1, "the rebuilt read model holds the admin");

    let status = tessera(&db)
        .args(["projections", "status"])
        .output()
        .unwrap();
    assert!(status.status.success());
    let stdout = String::from_utf8_lossy(&status.stdout);
    let users_line = stdout
        .lines()
        .find(|l| l.starts_with("users "))
        .unwrap_or_else(|| panic!("no users line in {stdout}"));
    let fields: Vec<&str> = users_line.split_whitespace().collect();
    assert_eq!(
        fields[1], fields[2],
        "position equals head after a rebuild: {users_line}"
    );

    let unknown = tessera(&db)
        .args(["projections", "rebuild", "nope"])
        .output()
        .unwrap();
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("known: users"));
}

#[test]
fn openapi_prints_the_document() {
    let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .arg("openapi")
        .env("TESSERA_LOG__LEVEL", "warn")
        .output()
        .unwrap();
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(doc["paths"]["/api/me"].is_object());
}

#[actix_web::test]
async fn serve_on_a_fresh_install_prints_a_setup_link_that_creates_the_administrator() {
    let db = TestDb::new().await;
    let server = tessera_testkit::server::ServerProcess::start(
        env!("CARGO_BIN_EXE_tessera"),
        &db.url(),
        &[],
    )
    .await
    .expect("serve");
    let printed = tessera_testkit::eventually("the setup link is printed", || async {
        let p = server.printed.lock().unwrap().clone();
        p.contains("/setup#").then_some(p)
    })
    .await;
    let link = printed
        .split_whitespace()
        .find(|w| w.contains("/setup#"))
        .expect("a link")
        .to_owned();
    assert!(link.starts_with(&server.base), "{link}");
    let token = link.split_once('#').unwrap().1;
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{}/api/auth/setup", server.base))
        .json(
            &serde_json::json!({ "token": token, "email": "root@example.com",
            "password": "quiet harbour lantern umbrella", "display_name": "Root" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["role"], "admin");
}
